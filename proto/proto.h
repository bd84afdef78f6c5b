/*
 * The native client protocol (proto/PROTOCOL.md): JSON frames <-> structs.
 * Pure code: no sockets, no threads, no global state. Every function is
 * thread-safe and may be called from any thread.
 */
#ifndef OH_PROTO_H
#define OH_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "oh_error.h"
#include "strbuf.h"

#define PROTO_CHANNEL_MAX     200 /* hard upper bound of max_channel_length */
#define PROTO_EPOCH_MAX       32  /* longest epoch string accepted */
#define PROTO_HISTORY_DEFAULT 100
#define PROTO_HISTORY_MAX     1000

struct proto_limits {
    size_t max_message_size; /* bytes of one client message (default 64 KiB) */
    size_t max_channel_len;  /* 1..PROTO_CHANNEL_MAX (default 200) */
    int max_depth;           /* JSON nesting depth (default 32) */
};

/* Fills lim with the documented defaults. */
void proto_limits_default(struct proto_limits *lim);

enum proto_cmd_type {
    PROTO_SUBSCRIBE = 1,
    PROTO_UNSUBSCRIBE,
    PROTO_PUBLISH,
    PROTO_HISTORY,
    PROTO_PING,
};

/* A position in a channel: publications after (epoch, offset). */
struct proto_pos {
    bool set;                        /* false when the command had no "since" */
    char epoch[PROTO_EPOCH_MAX + 1]; /* NUL-terminated, [A-Za-z0-9_-]+ */
    uint64_t offset;
};

struct proto_cmd {
    enum proto_cmd_type type;
    uint64_t id;                         /* 0 when absent or invalid */
    char channel[PROTO_CHANNEL_MAX + 1]; /* NUL-terminated */
    size_t channel_len;
    struct proto_pos since; /* subscribe, history */
    const char *data;       /* publish: points INTO the parsed buffer */
    size_t data_len;        /* byte range of "data", exactly as sent */
    bool durable;           /* publish */
    unsigned limit;         /* history: 1..PROTO_HISTORY_MAX, default 100 */
    char errmsg[160];       /* on failure: why, for the error reply */
};

/*
 * Parses one client frame (buf, len: not NUL-terminated) into cmd.
 * Returns 0, or a negative oh_error (OH_EBADREQ, OH_EINVCHAN, OH_ETOOBIG) with
 * cmd->errmsg set. On failure cmd->id still holds the id when one valid id was
 * read, so the error reply can echo it; otherwise 0 ("id":null).
 * Checks, in order: size, nesting depth (before cJSON sees it), JSON syntax,
 * exactly one object with a positive integer "id" and exactly one command key.
 * cmd->data points into buf: buf must outlive its use.
 */
int proto_parse_command(const char *buf, size_t len, const struct proto_limits *lim,
                        struct proto_cmd *cmd);

/*
 * Parses the body of POST /api/publish: {"channel":..,"data":..,"durable":..}.
 * Same contract as proto_parse_command; cmd->type is PROTO_PUBLISH, id 0.
 */
int proto_parse_http_publish(const char *buf, size_t len, const struct proto_limits *lim,
                             struct proto_cmd *cmd);

/* true when buf[0..len) is valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). proto/utf8.c. */
bool utf8_valid(const char *buf, size_t len);

/* 0 when s[0..len) is a valid channel name under lim, else OH_EINVCHAN. */
int proto_channel_check(const char *s, size_t len, const struct proto_limits *lim);

/* 0 when s is a valid epoch string ([A-Za-z0-9_-], 1..PROTO_EPOCH_MAX), else OH_EBADREQ. */
int proto_epoch_check(const char *s, size_t len);

/*
 * Encoders. Each appends exactly one JSON object (no frame header) to sb.
 * Numbers are decimal, strings escaped; data is copied byte for byte.
 */

/* {"push":{"channel":C,"epoch":E,"offset":O,"data":D}} */
void proto_encode_push(struct strbuf *sb, const char *channel, size_t channel_len,
                       const char *epoch, uint64_t offset, const char *data, size_t data_len);

/* {"id":N,"result":{}} */
void proto_encode_result_empty(struct strbuf *sb, uint64_t id);

/* {"id":N,"result":{"epoch":E,"offset":O}} ; with recovered >= 0 also "recovered":true|false */
void proto_encode_result_pos(struct strbuf *sb, uint64_t id, const char *epoch, uint64_t offset,
                             int recovered);

/* {"id":N|null,"error":{"code":C,"message":M,"temporary":T}} from a negative oh_error */
void proto_encode_error(struct strbuf *sb, uint64_t id, int err, const char *message);

/*
 * History reply, built in three steps:
 *   {"id":N,"result":{"epoch":E,"offset":O,"publications":[   (begin)
 *   {"epoch":E,"offset":O,"data":D}                            (item, comma added when !first)
 *   ],"more":true|false}}                                      (end)
 */
void proto_encode_history_begin(struct strbuf *sb, uint64_t id, const char *epoch, uint64_t offset);
void proto_encode_history_item(struct strbuf *sb, bool first, const char *epoch, uint64_t offset,
                               const char *data, size_t data_len);
void proto_encode_history_end(struct strbuf *sb, bool more);

/* HTTP bodies: {"result":{"epoch":E,"offset":O}} and {"error":{...}} */
void proto_encode_http_result(struct strbuf *sb, const char *epoch, uint64_t offset);
void proto_encode_http_error(struct strbuf *sb, int err, const char *message);

/*
 * JSON scanning without a tree (proto/jsonscan.c). The input must already be
 * valid JSON for the span functions; the depth check works on any bytes.
 */

/* Returns the maximum nesting depth of arrays/objects in buf, stopping early
 * (and returning a value > limit) as soon as limit is exceeded. Strings are skipped. */
int json_depth(const char *buf, size_t len, int limit);

/*
 * Finds the value of member key inside the object that starts at buf[0]
 * (leading whitespace allowed), at the top level of that object only.
 * On success stores the value's byte range (no surrounding whitespace) and
 * returns 0; returns -1 when absent or when buf is not an object.
 */
int json_member_span(const char *buf, size_t len, const char *key, const char **val,
                     size_t *val_len);

/*
 * Returns 0 when buf[0..len) keeps RFC 8259's lexical rules, -1 otherwise:
 * only space, tab, LF and CR between tokens; numbers without a sign "+",
 * leading zeros or bare dots; strings without raw control bytes and with
 * valid escapes; no literal but true, false and null. It checks tokens, not
 * grammar: a parser must still check brackets, commas and colons. Works on
 * any bytes. (cJSON accepts all of these deviations; see jsonscan.c.)
 */
int json_lex_check(const char *buf, size_t len);

/*
 * Decodes the JSON string token tok[0..tok_len) (quotes included) into out
 * (cap bytes; no NUL is added) and stores the decoded length in *out_len.
 * Returns 0, -1 when tok is not a well-formed string token, or -2 when the
 * decoded text does not fit in cap bytes. Works on any bytes.
 */
int json_string_decode(const char *tok, size_t tok_len, char *out, size_t cap, size_t *out_len);

#endif
