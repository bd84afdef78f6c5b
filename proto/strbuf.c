/*
 * Growable byte buffer for encoding frames.
 */
#include "strbuf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void
sb_reset(struct strbuf *sb)
{
    sb->len = 0;
    if (sb->buf != NULL) {
        sb->buf[0] = '\0';
    }
}

void
sb_free(struct strbuf *sb)
{
    free(sb->buf);
    sb->buf = NULL;
    sb->len = 0;
    sb->cap = 0;
}

void
sb_reserve(struct strbuf *sb, size_t extra)
{
    size_t need, cap;

    /* One byte more than asked for: the buffer is always NUL-terminated. */
    if (extra > SIZE_MAX - sb->len - 1) {
        fprintf(stderr, "omnihub: strbuf size overflow, aborting\n");
        abort();
    }
    need = sb->len + extra + 1;
    if (need <= sb->cap) {
        return;
    }
    cap = sb->cap ? sb->cap : 64;
    while (cap < need) {
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    }
    sb->buf = xrealloc(sb->buf, cap);
    sb->cap = cap;
}

void
sb_append(struct strbuf *sb, const void *p, size_t n)
{
    sb_reserve(sb, n);
    if (n > 0) {
        memcpy(sb->buf + sb->len, p, n);
    }
    sb->len += n;
    sb->buf[sb->len] = '\0';
}

void
sb_appends(struct strbuf *sb, const char *s)
{
    sb_append(sb, s, strlen(s));
}

void
sb_append_u64(struct strbuf *sb, uint64_t v)
{
    char tmp[20]; /* UINT64_MAX has 20 digits */
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    sb_append(sb, tmp + i, sizeof(tmp) - i);
}

/* The two-character escape for c, or 0 when c needs none or the \u form. */
static char
short_escape(unsigned char c)
{
    switch (c) {
    case '"':
        return '"';
    case '\\':
        return '\\';
    case '\b':
        return 'b';
    case '\f':
        return 'f';
    case '\n':
        return 'n';
    case '\r':
        return 'r';
    case '\t':
        return 't';
    default:
        return 0;
    }
}

void
sb_append_json_string(struct strbuf *sb, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    /* Worst case every byte becomes \u00XX: reserve once for the common case. */
    sb_reserve(sb, n + 2);
    sb_append(sb, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc = short_escape(c);

        if (esc == 0 && c >= 0x20) {
            continue;
        }
        /* RFC 8259 section 7: quote, backslash and U+0000..U+001F must be escaped. */
        sb_append(sb, s + run, i - run);
        run = i + 1;
        if (esc != 0) {
            char two[2] = {'\\', esc};
            sb_append(sb, two, 2);
        } else {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
            sb_append(sb, u, sizeof(u));
        }
    }
    sb_append(sb, s + run, n - run);
    sb_append(sb, "\"", 1);
    assert(sb->buf[sb->len] == '\0');
}
