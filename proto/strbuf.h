/*
 * A growable byte buffer used to encode frames. Not thread-safe: one owner.
 * The buffer is always NUL-terminated after len (the NUL is not counted).
 */
#ifndef OH_STRBUF_H
#define OH_STRBUF_H

#include <stddef.h>
#include <stdint.h>

struct strbuf {
    char *buf;  /* owned; NULL until the first append */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};

void sb_reset(struct strbuf *sb);                           /* len = 0, keeps memory */
void sb_free(struct strbuf *sb);                            /* frees, leaves sb empty */
void sb_reserve(struct strbuf *sb, size_t extra);           /* room for extra more bytes */
void sb_append(struct strbuf *sb, const void *p, size_t n); /* raw bytes */
void sb_appends(struct strbuf *sb, const char *s);          /* NUL-terminated string */
void sb_append_u64(struct strbuf *sb, uint64_t v);          /* decimal */
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259 requires. */
void sb_append_json_string(struct strbuf *sb, const char *s, size_t n);

#endif
