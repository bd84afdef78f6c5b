/*
 * The native client protocol: parsing commands and encoding replies and
 * pushes (proto/PROTOCOL.md).
 *
 * A command is checked in four passes over the same bytes: its size; its
 * nesting depth (json_depth, so a deep input never reaches cJSON's recursive
 * parser); its tokens (json_lex_check, holding cJSON to RFC 8259); then its
 * grammar and shape through the cJSON tree. Values whose exact bytes matter
 * (ids and other integers, channel and epoch strings, "data") are read from
 * the original bytes with json_member_span, never from cJSON's doubles.
 */
#include "proto.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

/* 2^53: the largest integer that every JSON client (JavaScript's double) holds exactly. */
#define SAFE_INT_MAX 9007199254740992ULL

#define COMMAND_NAMES "subscribe, unsubscribe, publish, history, ping"

struct span {
    const char *p;
    size_t n;
};

/* Every member name the protocol knows below the top level. */
enum field { F_CHANNEL, F_SINCE, F_DATA, F_DURABLE, F_LIMIT, F_EPOCH, F_OFFSET, F_COUNT };

static const char *const field_names[F_COUNT] = {
    "channel", "since", "data", "durable", "limit", "epoch", "offset",
};

#define BIT(f) (1u << (f))

/* One object the protocol defines: which members it may and must have. */
struct spec {
    const char *name; /* for error messages */
    enum proto_cmd_type type;
    unsigned allowed;
    unsigned required;
};

static const struct spec command_specs[] = {
    {"subscribe", PROTO_SUBSCRIBE, BIT(F_CHANNEL) | BIT(F_SINCE), BIT(F_CHANNEL)},
    {"unsubscribe", PROTO_UNSUBSCRIBE, BIT(F_CHANNEL), BIT(F_CHANNEL)},
    {"publish", PROTO_PUBLISH, BIT(F_CHANNEL) | BIT(F_DATA) | BIT(F_DURABLE),
     BIT(F_CHANNEL) | BIT(F_DATA)},
    {"history", PROTO_HISTORY, BIT(F_CHANNEL) | BIT(F_SINCE) | BIT(F_LIMIT), BIT(F_CHANNEL)},
    {"ping", PROTO_PING, 0, 0},
};

static const struct spec http_publish_spec = {"body", PROTO_PUBLISH,
                                              BIT(F_CHANNEL) | BIT(F_DATA) | BIT(F_DURABLE),
                                              BIT(F_CHANNEL) | BIT(F_DATA)};

static const struct spec since_spec = {"since", 0, BIT(F_EPOCH) | BIT(F_OFFSET),
                                       BIT(F_EPOCH) | BIT(F_OFFSET)};

/* State of one parse. */
struct parse {
    const struct proto_limits *lim;
    struct proto_cmd *cmd;
    const struct spec *spec; /* the command being parsed */
    struct span raw;         /* the command object's original bytes */
};

__attribute__((format(printf, 3, 4))) static int
fail(struct proto_cmd *cmd, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd->errmsg, sizeof(cmd->errmsg), fmt, ap);
    va_end(ap);
    return err;
}

static size_t
channel_max(const struct proto_limits *lim)
{
    if (lim->max_channel_len == 0 || lim->max_channel_len > PROTO_CHANNEL_MAX) {
        return PROTO_CHANNEL_MAX;
    }
    return lim->max_channel_len;
}

static int
is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
is_channel_char(unsigned char c)
{
    return is_alnum(c) || (c != '\0' && strchr("_:.@/-", c) != NULL);
}

void
proto_limits_default(struct proto_limits *lim)
{
    lim->max_message_size = 64 * 1024;
    lim->max_channel_len = PROTO_CHANNEL_MAX;
    lim->max_depth = 32;
}

int
proto_channel_check(const char *s, size_t len, const struct proto_limits *lim)
{
    size_t i;

    if (len == 0 || len > channel_max(lim)) {
        return OH_EINVCHAN;
    }
    for (i = 0; i < len; i++) {
        if (!is_channel_char((unsigned char)s[i])) {
            return OH_EINVCHAN;
        }
    }
    return 0;
}

int
proto_epoch_check(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > PROTO_EPOCH_MAX) {
        return OH_EBADREQ;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!is_alnum(c) && c != '_' && c != '-') {
            return OH_EBADREQ;
        }
    }
    return 0;
}

/* Reads a JSON integer token of plain digits, 0..max, into *out; -1 for anything else. */
static int
read_uint(struct span s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (s.n == 0 || (s.n > 1 && s.p[0] == '0')) {
        return -1;
    }
    for (i = 0; i < s.n; i++) {
        unsigned d = (unsigned)(unsigned char)s.p[i] - '0';

        if (d > 9 || v > (max - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int
member(struct span obj, const char *key, struct span *out)
{
    return json_member_span(obj.p, obj.n, key, &out->p, &out->n);
}

/*
 * Size, depth, tokens and grammar. On success *root is a cJSON tree the
 * caller deletes. The trailing-garbage check is cJSON's require_null_terminated
 * done by hand on the parse end, so buf needs no NUL-terminated copy.
 */
static int
parse_root(const char *buf, size_t len, const struct proto_limits *lim, struct proto_cmd *cmd,
           cJSON **root)
{
    const char *end = NULL;

    if (len > lim->max_message_size) {
        return fail(cmd, OH_ETOOBIG, "message larger than %zu bytes", lim->max_message_size);
    }
    if (json_depth(buf, len, lim->max_depth) > lim->max_depth) {
        return fail(cmd, OH_EBADREQ, "JSON nesting deeper than %d levels", lim->max_depth);
    }
    if (len == 0 || json_lex_check(buf, len) < 0) {
        return fail(cmd, OH_EBADREQ, "invalid JSON");
    }
    *root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (*root == NULL) {
        return fail(cmd, OH_EBADREQ, "invalid JSON");
    }
    /* json_lex_check allowed only RFC whitespace, so anything else is garbage. */
    while (end < buf + len && *end != '\0' && strchr(" \t\r\n", *end) != NULL) {
        end++;
    }
    if (end != buf + len) {
        cJSON_Delete(*root);
        *root = NULL;
        return fail(cmd, OH_EBADREQ, "invalid JSON: more than one value");
    }
    return 0;
}

static enum field
field_lookup(const char *name)
{
    int f;

    for (f = 0; f < F_COUNT; f++) {
        if (strcmp(name, field_names[f]) == 0) {
            return (enum field)f;
        }
    }
    return F_COUNT;
}

/* Checks obj's members against spec: no unknown, no duplicate, none missing. */
static int
check_members(const cJSON *obj, const struct spec *spec, struct proto_cmd *cmd, unsigned *present)
{
    const cJSON *m;
    unsigned seen = 0, missing;
    int f;

    cJSON_ArrayForEach(m, obj)
    {
        f = (int)field_lookup(m->string);
        if (f == F_COUNT || !(spec->allowed & BIT(f))) {
            return fail(cmd, OH_EBADREQ, "%s: unknown field", spec->name);
        }
        if (seen & BIT(f)) {
            return fail(cmd, OH_EBADREQ, "%s: duplicate field \"%s\"", spec->name, field_names[f]);
        }
        seen |= BIT(f);
    }
    missing = spec->required & ~seen;
    for (f = 0; f < F_COUNT; f++) {
        if (missing & BIT(f)) {
            return fail(cmd, OH_EBADREQ, "%s: missing \"%s\"", spec->name, field_names[f]);
        }
    }
    *present = seen;
    return 0;
}

/*
 * The original bytes of member f of obj. cJSON compares member names with
 * strcmp, so a name with an escaped U+0000 ("data\u0000x") looks like "data"
 * to it but not to json_member_span: such a command is refused here.
 */
static int
raw_member(struct parse *p, struct span obj, const char *ctx, const char *key, struct span *out)
{
    if (member(obj, key, out) < 0) {
        return fail(p->cmd, OH_EBADREQ, "%s: malformed member name", ctx);
    }
    return 0;
}

static int
read_channel(struct parse *p, const cJSON *item)
{
    char tmp[PROTO_CHANNEL_MAX];
    size_t n = 0, max = channel_max(p->lim), i;
    struct span raw;
    int rc;

    if (!cJSON_IsString(item)) {
        return fail(p->cmd, OH_EBADREQ, "%s: channel must be a string", p->spec->name);
    }
    rc = raw_member(p, p->raw, p->spec->name, field_names[F_CHANNEL], &raw);
    if (rc < 0) {
        return rc;
    }
    rc = json_string_decode(raw.p, raw.n, tmp, sizeof(tmp), &n);
    if (rc == -2 || (rc == 0 && n > max)) {
        return fail(p->cmd, OH_EINVCHAN, "channel name longer than %zu bytes", max);
    }
    if (rc < 0) {
        return fail(p->cmd, OH_EBADREQ, "invalid JSON string");
    }
    if (n == 0) {
        return fail(p->cmd, OH_EINVCHAN, "channel name is empty");
    }
    for (i = 0; i < n; i++) {
        if (!is_channel_char((unsigned char)tmp[i])) {
            return fail(p->cmd, OH_EINVCHAN,
                        "channel name may only contain A-Z a-z 0-9 and _ : . @ / -");
        }
    }
    memcpy(p->cmd->channel, tmp, n);
    p->cmd->channel[n] = '\0';
    p->cmd->channel_len = n;
    return 0;
}

static int
read_epoch(struct parse *p, const cJSON *item, struct span since)
{
    struct proto_pos *pos = &p->cmd->since;
    size_t n = 0;
    struct span raw;
    int rc;

    if (!cJSON_IsString(item)) {
        return fail(p->cmd, OH_EBADREQ, "since.epoch must be a string");
    }
    rc = raw_member(p, since, "since", field_names[F_EPOCH], &raw);
    if (rc < 0) {
        return rc;
    }
    rc = json_string_decode(raw.p, raw.n, pos->epoch, PROTO_EPOCH_MAX, &n);
    if (rc < 0 || proto_epoch_check(pos->epoch, n) < 0) {
        return fail(p->cmd, OH_EBADREQ, "since.epoch must be 1 to %d characters of A-Z a-z 0-9 _ -",
                    PROTO_EPOCH_MAX);
    }
    pos->epoch[n] = '\0';
    return 0;
}

static int
read_since(struct parse *p, const cJSON *item)
{
    const char *msg = "since must be an object with \"epoch\" and \"offset\"";
    struct span since, raw;
    unsigned present;
    int rc;

    if (!cJSON_IsObject(item)) {
        return fail(p->cmd, OH_EBADREQ, "%s", msg);
    }
    rc = check_members(item, &since_spec, p->cmd, &present);
    if (rc < 0) {
        return rc;
    }
    rc = raw_member(p, p->raw, p->spec->name, field_names[F_SINCE], &since);
    if (rc < 0) {
        return rc;
    }
    rc = read_epoch(p, cJSON_GetObjectItemCaseSensitive(item, "epoch"), since);
    if (rc < 0) {
        return rc;
    }
    rc = raw_member(p, since, "since", field_names[F_OFFSET], &raw);
    if (rc < 0) {
        return rc;
    }
    if (read_uint(raw, SAFE_INT_MAX, &p->cmd->since.offset) < 0) {
        return fail(p->cmd, OH_EBADREQ, "since.offset must be an integer from 0 to 2^53");
    }
    p->cmd->since.set = true;
    return 0;
}

static int
read_limit(struct parse *p)
{
    struct span raw;
    uint64_t v = 0;
    int rc;

    rc = raw_member(p, p->raw, p->spec->name, field_names[F_LIMIT], &raw);
    if (rc < 0) {
        return rc;
    }
    if (read_uint(raw, PROTO_HISTORY_MAX, &v) < 0 || v == 0) {
        return fail(p->cmd, OH_EBADREQ, "history: limit must be an integer from 1 to %d",
                    PROTO_HISTORY_MAX);
    }
    p->cmd->limit = (unsigned)v;
    return 0;
}

static int
read_publish(struct parse *p, const cJSON *obj, unsigned present)
{
    const cJSON *durable = cJSON_GetObjectItemCaseSensitive(obj, "durable");
    struct span raw;
    int rc;

    rc = raw_member(p, p->raw, p->spec->name, field_names[F_DATA], &raw);
    if (rc < 0) {
        return rc;
    }
    p->cmd->data = raw.p;
    p->cmd->data_len = raw.n;
    if (present & BIT(F_DURABLE)) {
        if (!cJSON_IsBool(durable)) {
            return fail(p->cmd, OH_EBADREQ, "%s: durable must be true or false", p->spec->name);
        }
        p->cmd->durable = cJSON_IsTrue(durable);
    }
    return 0;
}

/* Checks and reads the members of the command object obj (raw bytes in p->raw). */
static int
parse_body(struct parse *p, const cJSON *obj)
{
    unsigned present = 0;
    int rc;

    p->cmd->type = p->spec->type;
    if (p->spec->type == PROTO_HISTORY) {
        p->cmd->limit = PROTO_HISTORY_DEFAULT;
    }
    rc = check_members(obj, p->spec, p->cmd, &present);
    if (rc == 0 && (present & BIT(F_CHANNEL))) {
        rc = read_channel(p, cJSON_GetObjectItemCaseSensitive(obj, "channel"));
    }
    if (rc == 0 && (present & BIT(F_DATA))) {
        rc = read_publish(p, obj, present);
    }
    if (rc == 0 && (present & BIT(F_SINCE))) {
        rc = read_since(p, cJSON_GetObjectItemCaseSensitive(obj, "since"));
    }
    if (rc == 0 && (present & BIT(F_LIMIT))) {
        rc = read_limit(p);
    }
    return rc;
}

/* Reads the top-level "id" into cmd->id; it must be there exactly once. */
static int
read_id(const cJSON *root, struct span top, struct proto_cmd *cmd)
{
    const char *msg = "id must be an integer from 1 to 2^53";
    const cJSON *m;
    struct span raw;
    uint64_t id = 0;
    int count = 0;

    cJSON_ArrayForEach(m, root)
    {
        count += strcmp(m->string, "id") == 0;
    }
    if (count == 0) {
        return fail(cmd, OH_EBADREQ, "missing id");
    }
    if (count > 1) {
        return fail(cmd, OH_EBADREQ, "duplicate id");
    }
    if (member(top, "id", &raw) < 0 || read_uint(raw, SAFE_INT_MAX, &id) < 0 || id == 0) {
        return fail(cmd, OH_EBADREQ, "%s", msg);
    }
    cmd->id = id;
    return 0;
}

static const struct spec *
command_lookup(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(command_specs) / sizeof(command_specs[0]); i++) {
        if (strcmp(name, command_specs[i].name) == 0) {
            return &command_specs[i];
        }
    }
    return NULL;
}

/* Finds the one command key of root besides "id"; stores its spec and value. */
static int
find_command(const cJSON *root, struct proto_cmd *cmd, const struct spec **spec,
             const cJSON **value)
{
    const cJSON *m;
    int count = 0;

    cJSON_ArrayForEach(m, root)
    {
        const struct spec *s = command_lookup(m->string);

        if (s != NULL) {
            *spec = s;
            *value = m;
            count++;
        } else if (strcmp(m->string, "id") != 0) {
            return fail(cmd, OH_EBADREQ, "unknown command (expected one of " COMMAND_NAMES ")");
        }
    }
    if (count == 0) {
        return fail(cmd, OH_EBADREQ, "missing command (one of " COMMAND_NAMES ")");
    }
    if (count > 1) {
        return fail(cmd, OH_EBADREQ, "more than one command in one message");
    }
    if (!cJSON_IsObject(*value)) {
        return fail(cmd, OH_EBADREQ, "%s: value must be an object", (*spec)->name);
    }
    return 0;
}

int
proto_parse_command(const char *buf, size_t len, const struct proto_limits *lim,
                    struct proto_cmd *cmd)
{
    struct parse p = {.lim = lim, .cmd = cmd};
    struct span top = {buf, len};
    const cJSON *value = NULL;
    cJSON *root = NULL;
    int rc;

    assert(lim != NULL && cmd != NULL);
    memset(cmd, 0, sizeof(*cmd));

    rc = parse_root(buf, len, lim, cmd, &root);
    if (rc < 0) {
        return rc;
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(cmd, OH_EBADREQ, "a command must be a JSON object");
        goto out;
    }
    rc = read_id(root, top, cmd);
    if (rc < 0) {
        goto out;
    }
    rc = find_command(root, cmd, &p.spec, &value);
    if (rc < 0) {
        goto out;
    }
    rc = raw_member(&p, top, "message", p.spec->name, &p.raw);
    if (rc == 0) {
        rc = parse_body(&p, value);
    }
out:
    cJSON_Delete(root);
    return rc;
}

int
proto_parse_http_publish(const char *buf, size_t len, const struct proto_limits *lim,
                         struct proto_cmd *cmd)
{
    struct parse p = {.lim = lim, .cmd = cmd, .spec = &http_publish_spec, .raw = {buf, len}};
    cJSON *root = NULL;
    int rc;

    assert(lim != NULL && cmd != NULL);
    memset(cmd, 0, sizeof(*cmd));

    rc = parse_root(buf, len, lim, cmd, &root);
    if (rc < 0) {
        return rc;
    }
    if (!cJSON_IsObject(root)) {
        rc = fail(cmd, OH_EBADREQ, "the body must be a JSON object");
    } else {
        rc = parse_body(&p, root);
    }
    cJSON_Delete(root);
    return rc;
}

/* Encoders. */

static void
append_id(struct strbuf *sb, uint64_t id)
{
    sb_appends(sb, "{\"id\":");
    if (id == 0) {
        sb_appends(sb, "null");
    } else {
        sb_append_u64(sb, id);
    }
}

static void
append_cstring(struct strbuf *sb, const char *s)
{
    sb_append_json_string(sb, s, strlen(s));
}

/* "epoch":E,"offset":O */
static void
append_pos(struct strbuf *sb, const char *epoch, uint64_t offset)
{
    sb_appends(sb, "\"epoch\":");
    append_cstring(sb, epoch);
    sb_appends(sb, ",\"offset\":");
    sb_append_u64(sb, offset);
}

void
proto_encode_push(struct strbuf *sb, const char *channel, size_t channel_len, const char *epoch,
                  uint64_t offset, const char *data, size_t data_len)
{
    assert(data_len > 0);
    sb_appends(sb, "{\"push\":{\"channel\":");
    sb_append_json_string(sb, channel, channel_len);
    sb_appends(sb, ",");
    append_pos(sb, epoch, offset);
    sb_appends(sb, ",\"data\":");
    sb_append(sb, data, data_len);
    sb_appends(sb, "}}");
}

void
proto_encode_result_empty(struct strbuf *sb, uint64_t id)
{
    append_id(sb, id);
    sb_appends(sb, ",\"result\":{}}");
}

void
proto_encode_result_pos(struct strbuf *sb, uint64_t id, const char *epoch, uint64_t offset,
                        int recovered)
{
    append_id(sb, id);
    sb_appends(sb, ",\"result\":{");
    append_pos(sb, epoch, offset);
    if (recovered >= 0) {
        sb_appends(sb, recovered ? ",\"recovered\":true" : ",\"recovered\":false");
    }
    sb_appends(sb, "}}");
}

/* "error":{"code":C,"message":M,"temporary":T} */
static void
append_error(struct strbuf *sb, int err, const char *message)
{
    sb_appends(sb, "\"error\":{\"code\":");
    append_cstring(sb, oh_error_code(err));
    sb_appends(sb, ",\"message\":");
    append_cstring(sb, message != NULL ? message : oh_strerror(err));
    sb_appends(sb, oh_error_temporary(err) ? ",\"temporary\":true}" : ",\"temporary\":false}");
}

void
proto_encode_error(struct strbuf *sb, uint64_t id, int err, const char *message)
{
    append_id(sb, id);
    sb_appends(sb, ",");
    append_error(sb, err, message);
    sb_appends(sb, "}");
}

void
proto_encode_history_begin(struct strbuf *sb, uint64_t id, const char *epoch, uint64_t offset)
{
    append_id(sb, id);
    sb_appends(sb, ",\"result\":{");
    append_pos(sb, epoch, offset);
    sb_appends(sb, ",\"publications\":[");
}

void
proto_encode_history_item(struct strbuf *sb, bool first, const char *epoch, uint64_t offset,
                          const char *data, size_t data_len)
{
    assert(data_len > 0);
    sb_appends(sb, first ? "{" : ",{");
    append_pos(sb, epoch, offset);
    sb_appends(sb, ",\"data\":");
    sb_append(sb, data, data_len);
    sb_appends(sb, "}");
}

void
proto_encode_history_end(struct strbuf *sb, bool more)
{
    sb_appends(sb, more ? "],\"more\":true}}" : "],\"more\":false}}");
}

void
proto_encode_http_result(struct strbuf *sb, const char *epoch, uint64_t offset)
{
    sb_appends(sb, "{\"result\":{");
    append_pos(sb, epoch, offset);
    sb_appends(sb, "}}");
}

void
proto_encode_http_error(struct strbuf *sb, int err, const char *message)
{
    sb_appends(sb, "{");
    append_error(sb, err, message);
    sb_appends(sb, "}");
}
