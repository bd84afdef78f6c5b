/*
 * Unit tests of proto/proto.c: command and HTTP body parsing, validation,
 * and the exact output of every encoder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "proto.h"

static struct proto_limits lim;
static struct proto_cmd cmd;
static char *held; /* the last parsed input: cmd.data points into it */

/* Parses s[0..len) from an exact-size copy, so any overread shows under ASan. */
static int
parse_n(const char *s, size_t len)
{
    free(held);
    held = malloc(len ? len : 1);
    assert_non_null(held);
    memcpy(held, s, len);
    return proto_parse_command(held, len, &lim, &cmd);
}

static int
parse(const char *s)
{
    return parse_n(s, strlen(s));
}

static int
parse_http(const char *s)
{
    size_t len = strlen(s);

    free(held);
    held = malloc(len ? len : 1);
    assert_non_null(held);
    memcpy(held, s, len);
    return proto_parse_http_publish(held, len, &lim, &cmd);
}

static int
setup(void **state)
{
    (void)state;
    proto_limits_default(&lim);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    free(held);
    held = NULL;
    return 0;
}

static void
assert_data(const char *expected)
{
    assert_non_null(cmd.data);
    assert_true(cmd.data >= held);
    if (cmd.data_len != strlen(expected) || memcmp(cmd.data, expected, cmd.data_len) != 0) {
        fail_msg("data is \"%.*s\", expected \"%s\"", (int)cmd.data_len, cmd.data, expected);
    }
}

/* Parses s, expects failure err, and checks the message is set. */
static void
expect_fail(const char *s, int err)
{
    int rc = parse(s);

    if (rc != err) {
        fail_msg("%s: got %d (%s), expected %d", s, rc, cmd.errmsg, err);
    }
    assert_true(strlen(cmd.errmsg) > 0);
}

static void
test_limits_default(void **state)
{
    struct proto_limits l;

    (void)state;
    proto_limits_default(&l);
    assert_int_equal(l.max_message_size, 65536);
    assert_int_equal(l.max_channel_len, 200);
    assert_int_equal(l.max_depth, 32);
}

static void
test_subscribe(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":1,\"subscribe\":{\"channel\":\"chat:42\"}}"), 0);
    assert_int_equal(cmd.type, PROTO_SUBSCRIBE);
    assert_int_equal(cmd.id, 1);
    assert_string_equal(cmd.channel, "chat:42");
    assert_int_equal(cmd.channel_len, 7);
    assert_false(cmd.since.set);

    assert_int_equal(parse("{\"subscribe\":{\"since\":{\"offset\":17,\"epoch\":\"k3f9\"},"
                           "\"channel\":\"chat:42\"},\"id\":9007199254740992}"),
                     0);
    assert_int_equal(cmd.id, 9007199254740992ULL);
    assert_true(cmd.since.set);
    assert_string_equal(cmd.since.epoch, "k3f9");
    assert_int_equal(cmd.since.offset, 17);
}

static void
test_unsubscribe_ping(void **state)
{
    (void)state;
    assert_int_equal(parse(" {\"id\":3,\"unsubscribe\":{\"channel\":\"a\"}}\r\n"), 0);
    assert_int_equal(cmd.type, PROTO_UNSUBSCRIBE);
    assert_string_equal(cmd.channel, "a");
    assert_int_equal(parse("{\"id\":5,\"ping\":{}}"), 0);
    assert_int_equal(cmd.type, PROTO_PING);
    assert_int_equal(cmd.id, 5);
    assert_int_equal(cmd.channel_len, 0);
    expect_fail(
        "{\"id\":3,\"unsubscribe\":{\"channel\":\"a\",\"since\":{\"epoch\":\"e\",\"offset\":1}}}",
        OH_EBADREQ);
    expect_fail("{\"id\":3,\"unsubscribe\":{}}", OH_EBADREQ);
    expect_fail("{\"id\":5,\"ping\":{\"x\":1}}", OH_EBADREQ);
    expect_fail("{\"id\":5,\"ping\":[]}", OH_EBADREQ);
    expect_fail("{\"id\":5,\"ping\":null}", OH_EBADREQ);
    assert_int_equal(cmd.id, 5);
}

static void
test_publish(void **state)
{
    (void)state;
    assert_int_equal(
        parse("{\"id\":2,\"publish\":{\"channel\":\"chat:42\",\"data\":{\"text\":\"hi\"}}}"), 0);
    assert_int_equal(cmd.type, PROTO_PUBLISH);
    assert_string_equal(cmd.channel, "chat:42");
    assert_data("{\"text\":\"hi\"}");
    assert_false(cmd.durable);
    assert_int_equal(
        parse("{\"id\":2,\"publish\":{\"durable\":true,\"data\":1,\"channel\":\"c\"}}"), 0);
    assert_true(cmd.durable);
    assert_int_equal(
        parse("{\"id\":2,\"publish\":{\"durable\":false,\"data\":1,\"channel\":\"c\"}}"), 0);
    assert_false(cmd.durable);
    expect_fail("{\"id\":2,\"publish\":{\"channel\":\"c\"}}", OH_EBADREQ);
    expect_fail("{\"id\":2,\"publish\":{\"data\":1}}", OH_EBADREQ);
    expect_fail("{\"id\":2,\"publish\":{\"channel\":\"c\",\"data\":1,\"durable\":\"yes\"}}",
                OH_EBADREQ);
    expect_fail("{\"id\":2,\"publish\":{\"channel\":\"c\",\"data\":1,\"durable\":1}}", OH_EBADREQ);
    expect_fail("{\"id\":2,\"publish\":{\"channel\":\"c\",\"data\":1,\"durable\":null}}",
                OH_EBADREQ);
    expect_fail("{\"id\":2,\"publish\":{\"channel\":\"c\",\"data\":1,\"data\":2}}", OH_EBADREQ);
    expect_fail("{\"id\":2,\"publish\":{\"channel\":\"c\",\"data\":1,\"limit\":2}}", OH_EBADREQ);
}

static void
test_publish_data_every_type(void **state)
{
    static const char *const values[] = {
        "null",
        "true",
        "false",
        "0",
        "-0",
        "-1.5e-7",
        "1E+400",
        "1.000000000000000001",
        "123456789012345678901234567890",
        "\"\"",
        "\"say \\\"hi\\\" \\\\ \\u00e9 \\ud83d\\ude00 \xc3\xa9\"",
        "[]",
        "{}",
        "[1,[2,[3]],{\"a\":null}]",
        "{\"b\":1,\"a\":2}",
        "{ \"b\" :1,\n\t\"a\":  2 }",
        "[ 1 , 2 ]",
    };
    char msg[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        snprintf(msg, sizeof(msg), "{\"id\":4,\"publish\":{\"channel\":\"c\",\"data\": \n%s\t }}",
                 values[i]);
        if (parse(msg) != 0) {
            fail_msg("%s refused: %s", msg, cmd.errmsg);
        }
        assert_data(values[i]);
    }
}

static void
test_publish_data_odd_layout(void **state)
{
    (void)state;
    assert_int_equal(
        parse("\n{ \"publish\" :{ \"data\"\t:\r\n{ \"b\" :1,\"a\":  2 }  ,\"channel\" : "
              "\"c\" } , \"id\" : 3 }\n"),
        0);
    assert_int_equal(cmd.id, 3);
    assert_data("{ \"b\" :1,\"a\":  2 }");
    /* A "data" member nested in another member is not the publish data. */
    assert_int_equal(
        parse("{\"id\":1,\"x\":{\"data\":0},\"publish\":{\"channel\":\"c\",\"data\":1}}"),
        OH_EBADREQ);
    assert_int_equal(
        parse("{\"id\":1,\"publish\":{\"channel\":\"data\",\"data\":[\"data\",{\"data\":"
              "5}]}}"),
        0);
    assert_data("[\"data\",{\"data\":5}]");
    /* An escaped member name is the same name. */
    assert_int_equal(parse("{\"id\":1,\"publish\":{\"ch\\u0061nnel\":\"c\",\"d\\u0061ta\":[7]}}"),
                     0);
    assert_string_equal(cmd.channel, "c");
    assert_data("[7]");
}

static void
test_publish_invalid_utf8_passes(void **state)
{
    (void)state;
    /* UTF-8 validity of text frames is checked by the WebSocket layer (close 1007). */
    assert_int_equal(parse("{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":\"\xff\xfe\xc3\"}}"),
                     0);
    assert_data("\"\xff\xfe\xc3\"");
}

static void
test_history(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":4,\"history\":{\"channel\":\"chat:42\"}}"), 0);
    assert_int_equal(cmd.type, PROTO_HISTORY);
    assert_int_equal(cmd.limit, PROTO_HISTORY_DEFAULT);
    assert_false(cmd.since.set);
    assert_int_equal(parse("{\"id\":4,\"history\":{\"channel\":\"chat:42\",\"since\":{\"epoch\":"
                           "\"k3f9\",\"offset\":0},\"limit\":1000}}"),
                     0);
    assert_int_equal(cmd.limit, 1000);
    assert_true(cmd.since.set);
    assert_int_equal(cmd.since.offset, 0);
    assert_int_equal(parse("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":1}}"), 0);
    assert_int_equal(cmd.limit, 1);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":0}}", OH_EBADREQ);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":1001}}", OH_EBADREQ);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":-1}}", OH_EBADREQ);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":1.5}}", OH_EBADREQ);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":1e2}}", OH_EBADREQ);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":\"10\"}}", OH_EBADREQ);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"limit\":null}}", OH_EBADREQ);
    expect_fail("{\"id\":4,\"history\":{\"channel\":\"c\",\"data\":1}}", OH_EBADREQ);
    assert_int_equal(cmd.id, 4);
}

static void
test_id_valid(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":1,\"ping\":{}}"), 0);
    assert_int_equal(cmd.id, 1);
    assert_int_equal(parse("{\"ping\":{},\"id\":9007199254740992}"), 0);
    assert_int_equal(cmd.id, 9007199254740992ULL);
}

static void
test_id_invalid(void **state)
{
    static const char *const bad[] = {
        "{\"ping\":{}}",
        "{\"id\":0,\"ping\":{}}",
        "{\"id\":-1,\"ping\":{}}",
        "{\"id\":1.5,\"ping\":{}}",
        "{\"id\":1.0,\"ping\":{}}",
        "{\"id\":1e3,\"ping\":{}}",
        "{\"id\":\"1\",\"ping\":{}}",
        "{\"id\":null,\"ping\":{}}",
        "{\"id\":true,\"ping\":{}}",
        "{\"id\":[1],\"ping\":{}}",
        "{\"id\":9007199254740993,\"ping\":{}}",
        "{\"id\":18446744073709551616,\"ping\":{}}",
        "{\"id\":1,\"id\":2,\"ping\":{}}",
        "{\"ID\":1,\"ping\":{}}",
        "{\"id\\u0000\":1,\"ping\":{}}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_fail(bad[i], OH_EBADREQ);
        assert_int_equal(cmd.id, 0);
    }
}

static void
test_command_key(void **state)
{
    (void)state;
    expect_fail("{\"id\":7}", OH_EBADREQ);
    assert_int_equal(cmd.id, 7);
    assert_non_null(strstr(cmd.errmsg, "missing command"));
    expect_fail("{\"id\":7,\"frobnicate\":{}}", OH_EBADREQ);
    assert_int_equal(cmd.id, 7);
    assert_non_null(strstr(cmd.errmsg, "unknown command"));
    expect_fail("{\"id\":7,\"PING\":{}}", OH_EBADREQ);
    expect_fail("{\"id\":7,\"ping\":{},\"extra\":1}", OH_EBADREQ);
    expect_fail("{\"id\":7,\"ping\":{},\"unsubscribe\":{\"channel\":\"a\"}}", OH_EBADREQ);
    assert_non_null(strstr(cmd.errmsg, "more than one"));
    expect_fail("{\"id\":7,\"ping\":{},\"ping\":{}}", OH_EBADREQ);
    expect_fail("{\"id\":7,\"subscribe\":\"chat\"}", OH_EBADREQ);
    assert_int_equal(cmd.id, 7);
}

static void
test_unknown_fields(void **state)
{
    (void)state;
    expect_fail("{\"id\":1,\"subscribe\":{\"channel\":\"a\",\"limit\":5}}", OH_EBADREQ);
    expect_fail("{\"id\":1,\"subscribe\":{\"channel\":\"a\",\"Channel\":\"b\"}}", OH_EBADREQ);
    expect_fail("{\"id\":1,\"subscribe\":{\"channel\":\"a\",\"channel\":\"b\"}}", OH_EBADREQ);
    expect_fail("{\"id\":1,\"unsubscribe\":{\"channel\":\"a\",\"x\":null}}", OH_EBADREQ);
    expect_fail("{\"id\":1,\"history\":{\"channel\":\"a\",\"durable\":true}}", OH_EBADREQ);
    /* A member name cJSON would cut at an escaped NUL is refused, not read as "data". */
    expect_fail("{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\\u0000x\":1}}", OH_EBADREQ);
    assert_int_equal(cmd.id, 1);
}

static void
test_not_a_command(void **state)
{
    static const char *const bad[] = {
        "",
        " ",
        "[]",
        "[{\"id\":1,\"ping\":{}}]",
        "1",
        "\"x\"",
        "null",
        "true",
        "{",
        "}",
        "{\"id\":1,\"ping\":{}",
        "not json",
        "{'id':1}",
        "{\"id\":1,\"ping\":{},}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_fail(bad[i], OH_EBADREQ);
        assert_int_equal(cmd.id, 0);
    }
}

static void
test_trailing_garbage(void **state)
{
    (void)state;
    expect_fail("{\"id\":1,\"ping\":{}}x", OH_EBADREQ);
    expect_fail("{\"id\":1,\"ping\":{}}{\"id\":2,\"ping\":{}}", OH_EBADREQ);
    expect_fail("{\"id\":1,\"ping\":{}} 1", OH_EBADREQ);
    expect_fail("{\"id\":1,\"ping\":{}}}", OH_EBADREQ);
    assert_int_equal(parse_n("{\"id\":1,\"ping\":{}}\0", 19), OH_EBADREQ);
    assert_int_equal(parse_n("{\"id\":1,\"ping\":{}}", 18), 0);
    assert_int_equal(parse("{\"id\":1,\"ping\":{}} \t\r\n "), 0);
}

static void
test_lenient_json_refused(void **state)
{
    static const char *const bad[] = {
        "{\"id\":+1,\"ping\":{}}",
        "{\"id\":01,\"ping\":{}}",
        "\xef\xbb\xbf{\"id\":1,\"ping\":{}}",
        "{\"id\":1,\x01\"ping\":{}}",
        "{\"id\":1,\x0b\"ping\":{}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":+1}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":.5}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":1.}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":01}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":[-01]}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":-}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":\"\\uZZZZ\"}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":\"tab\there\"}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":\"\\ud800\"}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":[1,]}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":NaN}}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_fail(bad[i], OH_EBADREQ);
    }
}

static void
test_channel_names(void **state)
{
    char msg[512], name[202];

    (void)state;
    assert_int_equal(parse("{\"id\":1,\"subscribe\":{\"channel\":\"aZ09_:.@/-\"}}"), 0);
    assert_string_equal(cmd.channel, "aZ09_:.@/-");
    /* Escapes decode before the check: a JSON library may write "/" as "\/". */
    assert_int_equal(parse("{\"id\":1,\"subscribe\":{\"channel\":\"a\\/b\\u003a42\"}}"), 0);
    assert_string_equal(cmd.channel, "a/b:42");
    assert_int_equal(cmd.channel_len, 6);

    memset(name, 'x', 200);
    name[200] = '\0';
    snprintf(msg, sizeof(msg), "{\"id\":1,\"subscribe\":{\"channel\":\"%s\"}}", name);
    assert_int_equal(parse(msg), 0);
    assert_int_equal(cmd.channel_len, 200);
    name[200] = 'x';
    name[201] = '\0';
    snprintf(msg, sizeof(msg), "{\"id\":1,\"subscribe\":{\"channel\":\"%s\"}}", name);
    expect_fail(msg, OH_EINVCHAN);
    assert_int_equal(cmd.id, 1);
}

static void
test_channel_invalid(void **state)
{
    static const char *const bad[] = {
        "\"\"",           "\"a b\"",      "\"a#b\"",   "\"caf\xc3\xa9\"",
        "\"caf\\u00e9\"", "\"a\\u0000\"", "\"a\\nb\"", "\"a\\\\b\"",
        "\"a\\\"b\"",     "\"*\"",        "\"a,b\"",
    };
    char msg[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg), "{\"id\":2,\"publish\":{\"channel\":%s,\"data\":1}}", bad[i]);
        expect_fail(msg, OH_EINVCHAN);
        assert_int_equal(cmd.id, 2);
    }
    expect_fail("{\"id\":2,\"subscribe\":{\"channel\":42}}", OH_EBADREQ);
    expect_fail("{\"id\":2,\"subscribe\":{\"channel\":null}}", OH_EBADREQ);
    expect_fail("{\"id\":2,\"subscribe\":{\"channel\":[\"a\"]}}", OH_EBADREQ);
}

static void
test_channel_custom_limit(void **state)
{
    (void)state;
    lim.max_channel_len = 4;
    assert_int_equal(parse("{\"id\":1,\"subscribe\":{\"channel\":\"abcd\"}}"), 0);
    expect_fail("{\"id\":1,\"subscribe\":{\"channel\":\"abcde\"}}", OH_EINVCHAN);
    assert_non_null(strstr(cmd.errmsg, "4 bytes"));
    proto_limits_default(&lim);
}

static void
test_since_invalid(void **state)
{
    static const char *const bad[] = {
        "{\"epoch\":\"k3:f9\",\"offset\":1}",
        "{\"epoch\":\"\",\"offset\":1}",
        "{\"epoch\":\"abcdefghijklmnopqrstuvwxyz0123456\",\"offset\":1}",
        "{\"epoch\":\"a b\",\"offset\":1}",
        "{\"epoch\":\"\\u0000\",\"offset\":1}",
        "{\"epoch\":17,\"offset\":1}",
        "{\"epoch\":\"k\"}",
        "{\"offset\":1}",
        "{\"epoch\":\"k\",\"offset\":-1}",
        "{\"epoch\":\"k\",\"offset\":1.5}",
        "{\"epoch\":\"k\",\"offset\":\"1\"}",
        "{\"epoch\":\"k\",\"offset\":9007199254740993}",
        "{\"epoch\":\"k\",\"offset\":1,\"x\":0}",
        "{\"epoch\":\"k\",\"offset\":1,\"offset\":2}",
        "[\"k\",1]",
        "null",
        "\"k:1\"",
    };
    char msg[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg), "{\"id\":3,\"subscribe\":{\"channel\":\"c\",\"since\":%s}}",
                 bad[i]);
        expect_fail(msg, OH_EBADREQ);
        assert_int_equal(cmd.id, 3);
    }
}

static void
test_since_valid(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"id\":3,\"subscribe\":{\"channel\":\"c\",\"since\":{\"epoch\":"
                           "\"abcdefghijklmnopqrstuvwxyz_-0123\",\"offset\":9007199254740992}}}"),
                     0);
    assert_string_equal(cmd.since.epoch, "abcdefghijklmnopqrstuvwxyz_-0123");
    assert_int_equal(cmd.since.offset, 9007199254740992ULL);
}

static char *
nested(size_t levels)
{
    const char *head = "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":";
    size_t hl = strlen(head), i;
    char *s = malloc(hl + 2 * levels + 3);

    assert_non_null(s);
    memcpy(s, head, hl);
    for (i = 0; i < levels; i++) {
        s[hl + i] = '[';
        s[hl + levels + i] = ']';
    }
    strcpy(s + hl + 2 * levels, "}}");
    return s;
}

static void
test_depth_limit(void **state)
{
    char *s;

    (void)state;
    /* The two enclosing objects count: 30 levels of data make a depth of 32. */
    s = nested(30);
    assert_int_equal(parse(s), 0);
    free(s);
    s = nested(31);
    expect_fail(s, OH_EBADREQ);
    assert_non_null(strstr(cmd.errmsg, "nesting"));
    free(s);
}

static void
test_depth_10000(void **state)
{
    size_t n = 10000;
    char *s = malloc(n);
    char *t;

    (void)state;
    assert_non_null(s);
    memset(s, '[', n);
    assert_int_equal(parse_n(s, n), OH_EBADREQ);
    assert_non_null(strstr(cmd.errmsg, "nesting"));
    free(s);
    lim.max_message_size = 1 << 20;
    t = nested(10000);
    expect_fail(t, OH_EBADREQ);
    assert_non_null(strstr(cmd.errmsg, "nesting"));
    free(t);
    proto_limits_default(&lim);
}

static void
test_size_limit(void **state)
{
    const char *ok = "{\"id\":1,\"ping\":{}}";
    size_t n = strlen(ok);
    char *big = malloc(70000);

    (void)state;
    lim.max_message_size = n;
    assert_int_equal(parse(ok), 0);
    lim.max_message_size = n - 1;
    expect_fail(ok, OH_ETOOBIG);
    proto_limits_default(&lim);

    assert_non_null(big);
    memset(big, ' ', 70000);
    memcpy(big, ok, n);
    assert_int_equal(parse_n(big, 65536), 0);
    assert_int_equal(parse_n(big, 65537), OH_ETOOBIG);
    free(big);
}

static void
test_errmsg_has_no_client_bytes(void **state)
{
    static const char *const bad[] = {
        "{\"id\":1,\"\\\"evil\\\\\":{}}",
        "{\"id\":1,\"subscribe\":{\"channel\":\"evil\\\"x\"}}",
        "{\"id\":1,\"subscribe\":{\"evil\":1,\"channel\":\"c\"}}",
        "{\"id\":1,\"publish\":{\"channel\":\"c\",\"data\":1,\"evil\\u0000\":2}}",
        "{\"evil\"}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_true(parse(bad[i]) < 0);
        assert_null(strstr(cmd.errmsg, "evil"));
        assert_null(strchr(cmd.errmsg, '\\'));
    }
}

static void
test_http_publish(void **state)
{
    (void)state;
    assert_int_equal(
        parse_http("{\"channel\":\"news\",\"data\":{\"b\":1, \"a\":[1.10]},\"durable\":true}"), 0);
    assert_int_equal(cmd.type, PROTO_PUBLISH);
    assert_int_equal(cmd.id, 0);
    assert_string_equal(cmd.channel, "news");
    assert_true(cmd.durable);
    assert_data("{\"b\":1, \"a\":[1.10]}");
    assert_int_equal(parse_http(" { \"data\" : null , \"channel\" : \"n\" } "), 0);
    assert_data("null");
    assert_false(cmd.durable);
    assert_int_equal(parse_http("{\"channel\":\"n\"}"), OH_EBADREQ);
    assert_int_equal(parse_http("{\"data\":1}"), OH_EBADREQ);
    assert_int_equal(parse_http("{\"id\":1,\"channel\":\"n\",\"data\":1}"), OH_EBADREQ);
    assert_int_equal(parse_http("{\"channel\":\"n\",\"data\":1,\"durable\":0}"), OH_EBADREQ);
    assert_int_equal(parse_http("{\"channel\":\"n n\",\"data\":1}"), OH_EINVCHAN);
    assert_int_equal(parse_http("[]"), OH_EBADREQ);
    assert_int_equal(parse_http("{\"channel\":\"n\",\"data\":1} x"), OH_EBADREQ);
    assert_int_equal(parse_http(""), OH_EBADREQ);
}

static void
test_channel_epoch_check(void **state)
{
    (void)state;
    assert_int_equal(proto_channel_check("a", 1, &lim), 0);
    assert_int_equal(proto_channel_check("", 0, &lim), OH_EINVCHAN);
    assert_int_equal(proto_channel_check("a b", 3, &lim), OH_EINVCHAN);
    assert_int_equal(proto_channel_check("a\0b", 3, &lim), OH_EINVCHAN);
    assert_int_equal(proto_channel_check("abc", 2, &lim), 0);
    assert_int_equal(proto_epoch_check("k3f9", 4), 0);
    assert_int_equal(proto_epoch_check("a_-Z9", 5), 0);
    assert_int_equal(proto_epoch_check("", 0), OH_EBADREQ);
    assert_int_equal(proto_epoch_check("a:b", 3), OH_EBADREQ);
    assert_int_equal(proto_epoch_check("abcdefghijklmnopqrstuvwxyz0123456", 33), OH_EBADREQ);
    assert_int_equal(proto_epoch_check("abcdefghijklmnopqrstuvwxyz012345", 32), 0);
}

/* Checks that sb holds exactly expected and that cJSON reads it as one value. */
static void
assert_encoded(struct strbuf *sb, const char *expected)
{
    cJSON *v;

    assert_string_equal(sb->buf, expected);
    assert_int_equal(sb->len, strlen(expected));
    v = cJSON_ParseWithLength(sb->buf, sb->len);
    assert_non_null(v);
    cJSON_Delete(v);
    sb_reset(sb);
}

static void
test_encode_push(void **state)
{
    struct strbuf sb = {0};
    const char *data = "{ \"b\" :1,\"a\":1.000000000000000001}";

    (void)state;
    proto_encode_push(&sb, "chat:42", 7, "k3f9", 18, data, strlen(data));
    assert_encoded(&sb, "{\"push\":{\"channel\":\"chat:42\",\"epoch\":\"k3f9\",\"offset\":18,"
                        "\"data\":{ \"b\" :1,\"a\":1.000000000000000001}}}");
    proto_encode_push(&sb, "c", 1, "e", 0, "null", 4);
    assert_encoded(&sb,
                   "{\"push\":{\"channel\":\"c\",\"epoch\":\"e\",\"offset\":0,\"data\":null}}");
    sb_free(&sb);
}

static void
test_encode_results(void **state)
{
    struct strbuf sb = {0};

    (void)state;
    proto_encode_result_empty(&sb, 3);
    assert_encoded(&sb, "{\"id\":3,\"result\":{}}");
    proto_encode_result_pos(&sb, 1, "k3f9", 19, 1);
    assert_encoded(&sb,
                   "{\"id\":1,\"result\":{\"epoch\":\"k3f9\",\"offset\":19,\"recovered\":true}}");
    proto_encode_result_pos(&sb, 1, "k3f9", 19, 0);
    assert_encoded(&sb,
                   "{\"id\":1,\"result\":{\"epoch\":\"k3f9\",\"offset\":19,\"recovered\":false}}");
    proto_encode_result_pos(&sb, 2, "k3f9", 20, -1);
    assert_encoded(&sb, "{\"id\":2,\"result\":{\"epoch\":\"k3f9\",\"offset\":20}}");
    proto_encode_result_pos(&sb, 9007199254740992ULL, "e", 0, -1);
    assert_encoded(&sb, "{\"id\":9007199254740992,\"result\":{\"epoch\":\"e\",\"offset\":0}}");
    sb_free(&sb);
}

static void
test_encode_errors(void **state)
{
    struct strbuf sb = {0};

    (void)state;
    proto_encode_error(&sb, 6, OH_EINVCHAN, "channel name is empty");
    assert_encoded(&sb,
                   "{\"id\":6,\"error\":{\"code\":\"invalid_channel\",\"message\":\"channel name "
                   "is empty\",\"temporary\":false}}");
    proto_encode_error(&sb, 0, OH_EBADREQ, "missing id");
    assert_encoded(&sb,
                   "{\"id\":null,\"error\":{\"code\":\"bad_request\",\"message\":\"missing id\","
                   "\"temporary\":false}}");
    proto_encode_error(&sb, 2, OH_ERATE, "slow down");
    assert_encoded(&sb, "{\"id\":2,\"error\":{\"code\":\"rate_limited\",\"message\":\"slow down\","
                        "\"temporary\":true}}");
    proto_encode_error(&sb, 2, OH_EUNAVAIL, NULL);
    assert_encoded(&sb, "{\"id\":2,\"error\":{\"code\":\"unavailable\",\"message\":\"temporarily "
                        "unavailable\",\"temporary\":true}}");
    proto_encode_error(&sb, 1, OH_ETOOBIG, "big");
    assert_encoded(&sb, "{\"id\":1,\"error\":{\"code\":\"bad_request\",\"message\":\"big\","
                        "\"temporary\":false}}");
    proto_encode_error(&sb, 1, OH_EINTERNAL, "q\"b\\c\n\x01");
    assert_encoded(&sb, "{\"id\":1,\"error\":{\"code\":\"internal\",\"message\":\"q\\\"b\\\\c\\n"
                        "\\u0001\",\"temporary\":false}}");
    sb_free(&sb);
}

static void
test_encode_history(void **state)
{
    struct strbuf sb = {0};

    (void)state;
    proto_encode_history_begin(&sb, 4, "k3f9", 20);
    proto_encode_history_item(&sb, true, "k3f9", 1, "{\"t\":1}", 7);
    proto_encode_history_item(&sb, false, "k3f9", 2, "[ 2 ]", 5);
    proto_encode_history_end(&sb, false);
    assert_encoded(&sb, "{\"id\":4,\"result\":{\"epoch\":\"k3f9\",\"offset\":20,\"publications\":["
                        "{\"epoch\":\"k3f9\",\"offset\":1,\"data\":{\"t\":1}},"
                        "{\"epoch\":\"k3f9\",\"offset\":2,\"data\":[ 2 ]}],\"more\":false}}");
    proto_encode_history_begin(&sb, 5, "e", 0);
    proto_encode_history_end(&sb, true);
    assert_encoded(&sb, "{\"id\":5,\"result\":{\"epoch\":\"e\",\"offset\":0,\"publications\":[],"
                        "\"more\":true}}");
    sb_free(&sb);
}

static void
test_encode_http(void **state)
{
    struct strbuf sb = {0};

    (void)state;
    proto_encode_http_result(&sb, "k3f9", 21);
    assert_encoded(&sb, "{\"result\":{\"epoch\":\"k3f9\",\"offset\":21}}");
    proto_encode_http_error(&sb, OH_EFORBIDDEN, "bad key");
    assert_encoded(&sb, "{\"error\":{\"code\":\"forbidden\",\"message\":\"bad key\","
                        "\"temporary\":false}}");
    proto_encode_http_error(&sb, OH_ELIMIT, "\t");
    assert_encoded(&sb, "{\"error\":{\"code\":\"limit_exceeded\",\"message\":\"\\t\","
                        "\"temporary\":false}}");
    sb_free(&sb);
}

static void
test_encode_escapes_channel(void **state)
{
    struct strbuf sb = {0};

    (void)state;
    /* Never produced by the parser, but the encoder stays valid JSON on any bytes. */
    proto_encode_push(&sb, "a\"\\\x1f", 4, "e", 1, "1", 1);
    assert_encoded(&sb, "{\"push\":{\"channel\":\"a\\\"\\\\\\u001f\",\"epoch\":\"e\",\"offset\":1,"
                        "\"data\":1}}");
    sb_free(&sb);
}

static void
test_error_reply_roundtrip(void **state)
{
    struct strbuf sb = {0};
    cJSON *v;
    int rc;

    (void)state;
    rc = parse("{\"id\":12,\"subscribe\":{\"channel\":\"bad channel\"}}");
    assert_int_equal(rc, OH_EINVCHAN);
    proto_encode_error(&sb, cmd.id, rc, cmd.errmsg);
    v = cJSON_Parse(sb.buf);
    assert_non_null(v);
    assert_int_equal(cJSON_GetObjectItem(v, "id")->valueint, 12);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(v, "error"), "code")->valuestring,
                        "invalid_channel");
    cJSON_Delete(v);
    sb_free(&sb);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_default),
        cmocka_unit_test(test_subscribe),
        cmocka_unit_test(test_unsubscribe_ping),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_publish_data_every_type),
        cmocka_unit_test(test_publish_data_odd_layout),
        cmocka_unit_test(test_publish_invalid_utf8_passes),
        cmocka_unit_test(test_history),
        cmocka_unit_test(test_id_valid),
        cmocka_unit_test(test_id_invalid),
        cmocka_unit_test(test_command_key),
        cmocka_unit_test(test_unknown_fields),
        cmocka_unit_test(test_not_a_command),
        cmocka_unit_test(test_trailing_garbage),
        cmocka_unit_test(test_lenient_json_refused),
        cmocka_unit_test(test_channel_names),
        cmocka_unit_test(test_channel_invalid),
        cmocka_unit_test(test_channel_custom_limit),
        cmocka_unit_test(test_since_invalid),
        cmocka_unit_test(test_since_valid),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_depth_10000),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_errmsg_has_no_client_bytes),
        cmocka_unit_test(test_http_publish),
        cmocka_unit_test(test_channel_epoch_check),
        cmocka_unit_test(test_encode_push),
        cmocka_unit_test(test_encode_results),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_encode_history),
        cmocka_unit_test(test_encode_http),
        cmocka_unit_test(test_encode_escapes_channel),
        cmocka_unit_test(test_error_reply_roundtrip),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
