/*
 * libFuzzer harness for proto/: both command parsers, the depth and span
 * scanners, and the encoders fed from what the parsers accepted. Every
 * invariant failure aborts, so a replay under any build catches it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "proto.h"
#include "strbuf.h"
#include "wsframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_proto: invariant failed at line %d: %s\n", __LINE__, #cond);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* 1 when s[0..n) is exactly one JSON value as cJSON and json_lex_check see it. */
static int
is_json(const char *s, size_t n)
{
    const char *end = NULL;
    cJSON *v;

    if (json_lex_check(s, n) < 0) {
        return 0;
    }
    v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (v == NULL) {
        return 0;
    }
    cJSON_Delete(v);
    while (end < s + n && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) {
        end++;
    }
    return end == s + n;
}

static void
check_error(const struct proto_cmd *cmd, int rc)
{
    struct strbuf sb = {0};

    CHECK(rc == OH_EBADREQ || rc == OH_EINVCHAN || rc == OH_ETOOBIG);
    CHECK(cmd->errmsg[0] != '\0');
    CHECK(memchr(cmd->errmsg, '\0', sizeof(cmd->errmsg)) != NULL);
    CHECK(cmd->id <= (1ULL << 53));
    proto_encode_error(&sb, cmd->id, rc, cmd->errmsg);
    CHECK(is_json(sb.buf, sb.len));
    sb_free(&sb);
}

static void
check_success(const char *buf, size_t len, const struct proto_limits *lim,
              const struct proto_cmd *cmd)
{
    struct strbuf sb = {0};

    CHECK(cmd->type >= PROTO_SUBSCRIBE && cmd->type <= PROTO_PING);
    if (cmd->type != PROTO_PING) {
        CHECK(proto_channel_check(cmd->channel, cmd->channel_len, lim) == 0);
        CHECK(strlen(cmd->channel) == cmd->channel_len);
    }
    if (cmd->since.set) {
        CHECK(proto_epoch_check(cmd->since.epoch, strlen(cmd->since.epoch)) == 0);
        CHECK(cmd->since.offset <= (1ULL << 53));
    }
    if (cmd->type == PROTO_HISTORY) {
        CHECK(cmd->limit >= 1 && cmd->limit <= PROTO_HISTORY_MAX);
    }
    if (cmd->type != PROTO_PUBLISH) {
        return;
    }
    /* The data span lies inside the input and is JSON on its own. */
    CHECK(cmd->data >= buf && cmd->data_len > 0 && cmd->data_len <= len);
    CHECK((size_t)(cmd->data - buf) <= len - cmd->data_len);
    CHECK(is_json(cmd->data, cmd->data_len));
    CHECK(json_depth(cmd->data, cmd->data_len, lim->max_depth) <= lim->max_depth);
    proto_encode_push(&sb, cmd->channel, cmd->channel_len, "e", 1, cmd->data, cmd->data_len);
    CHECK(is_json(sb.buf, sb.len));
    sb_free(&sb);
}

static void
run_parsers(const char *buf, size_t len, const struct proto_limits *lim)
{
    struct proto_cmd cmd;
    int rc;

    rc = proto_parse_command(buf, len, lim, &cmd);
    if (rc == 0) {
        CHECK(cmd.id >= 1 && cmd.id <= (1ULL << 53));
        check_success(buf, len, lim, &cmd);
    } else {
        check_error(&cmd, rc);
    }
    rc = proto_parse_http_publish(buf, len, lim, &cmd);
    if (rc == 0) {
        CHECK(cmd.id == 0 && cmd.type == PROTO_PUBLISH);
        check_success(buf, len, lim, &cmd);
    } else {
        check_error(&cmd, rc);
    }
}

/* The span scanner must agree with cJSON on valid objects. */
static void
check_spans(const char *buf, size_t len)
{
    static const char *const keys[] = {"id", "publish", "data", "channel", "a", ""};
    const char *end = NULL, *v;
    size_t i, vlen;
    cJSON *root;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (json_member_span(buf, len, keys[i], &v, &vlen) == 0) {
            CHECK(v >= buf && vlen > 0 && vlen <= len && (size_t)(v - buf) <= len - vlen);
        }
    }
    /* An escaped U+0000 in a name makes cJSON and the scanner disagree by design. */
    if (!is_json(buf, len) || memmem(buf, len, "\\u0000", 6) != NULL) {
        return;
    }
    root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
    if (cJSON_IsObject(root)) {
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
            const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
            int found = json_member_span(buf, len, keys[i], &v, &vlen) == 0;

            CHECK(found == (item != NULL));
            CHECK(!found || is_json(v, vlen));
        }
    }
    cJSON_Delete(root);
}

static void
check_decode(const char *buf, size_t len)
{
    char out[64];
    size_t n = 0;
    int rc = json_string_decode(buf, len, out, sizeof(out), &n);

    CHECK(rc == 0 || rc == -1 || rc == -2);
    CHECK(rc != 0 || n <= sizeof(out));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so reading one byte past the end is caught by ASan. */
    char *buf = malloc(size ? size : 1);
    struct proto_limits lim,
        tight = {.max_message_size = 512, .max_channel_len = 8, .max_depth = 3};
    int d;

    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    proto_limits_default(&lim);
    run_parsers(buf, size, &lim);
    run_parsers(buf, size, &tight);
    d = json_depth(buf, size, 4);
    CHECK(d >= 0 && d <= 5);
    CHECK(json_depth(buf, size, 1 << 30) >= d);
    (void)json_lex_check(buf, size);
    check_spans(buf, size);
    check_decode(buf, size);
    free(buf);
    return 0;
}
