/*
 * Unit tests of proto/jsonscan.c: json_depth, json_member_span,
 * json_lex_check and json_string_decode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto.h"

static int
depth(const char *s, int limit)
{
    return json_depth(s, strlen(s), limit);
}

/* The value of key in s as a NUL-terminated copy, or NULL when absent. */
static char *
span(const char *s, const char *key)
{
    static char out[256];
    const char *v = NULL;
    size_t n = 0;

    if (json_member_span(s, strlen(s), key, &v, &n) < 0) {
        return NULL;
    }
    assert_true(v >= s && v + n <= s + strlen(s));
    assert_true(n < sizeof(out));
    memcpy(out, v, n);
    out[n] = '\0';
    return out;
}

static int
lex(const char *s)
{
    return json_lex_check(s, strlen(s));
}

static void
test_depth_basic(void **state)
{
    (void)state;
    assert_int_equal(depth("", 10), 0);
    assert_int_equal(depth("1", 10), 0);
    assert_int_equal(depth("\"x\"", 10), 0);
    assert_int_equal(depth("{}", 10), 1);
    assert_int_equal(depth("[]", 10), 1);
    assert_int_equal(depth("[[],[[]]]", 10), 3);
    assert_int_equal(depth("{\"a\":{\"b\":[1,{\"c\":2}]}}", 10), 4);
    assert_int_equal(depth("{}{}{}", 10), 1);
}

static void
test_depth_strings_skipped(void **state)
{
    (void)state;
    assert_int_equal(depth("[\"[[[[{{{{\"]", 10), 1);
    assert_int_equal(depth("[\"\\\"[[[\"]", 10), 1);
    assert_int_equal(depth("[\"\\\\\",[[]]]", 10), 3);
    /* An unterminated string hides the rest. */
    assert_int_equal(depth("[\"[[[[", 10), 1);
}

static void
test_depth_unbalanced(void **state)
{
    (void)state;
    assert_int_equal(depth("]]]]}}}}[", 10), 1);
    assert_int_equal(depth("[[[", 10), 3);
    assert_int_equal(depth("[}[}[", 10), 1);
}

static void
test_depth_stops_early(void **state)
{
    size_t n = 10000;
    char *deep = malloc(n);

    (void)state;
    assert_non_null(deep);
    memset(deep, '[', n);
    assert_int_equal(json_depth(deep, n, 32), 33);
    assert_int_equal(json_depth(deep, n, 100000), 10000);
    assert_int_equal(depth("[[[]]]", 2), 3);
    assert_int_equal(depth("[[[]]]", 3), 3);
    assert_int_equal(depth("[[]]", 0), 1);
    free(deep);
}

static void
test_span_simple(void **state)
{
    const char *s = "{\"a\":1,\"b\":\"two\",\"c\":[3,{\"x\":4}],\"d\":{\"e\":null},\"f\":true}";

    (void)state;
    assert_string_equal(span(s, "a"), "1");
    assert_string_equal(span(s, "b"), "\"two\"");
    assert_string_equal(span(s, "c"), "[3,{\"x\":4}]");
    assert_string_equal(span(s, "d"), "{\"e\":null}");
    assert_string_equal(span(s, "f"), "true");
    assert_null(span(s, "x"));
    assert_null(span(s, "e"));
    assert_null(span(s, ""));
}

static void
test_span_whitespace(void **state)
{
    const char *s = " \r\n\t{ \"a\" :\n 1.000000000000000001 \t, \"b\"\n:\t{ \"q\" : [ ] } \n}  ";

    (void)state;
    assert_string_equal(span(s, "a"), "1.000000000000000001");
    assert_string_equal(span(s, "b"), "{ \"q\" : [ ] }");
}

static void
test_span_top_level_only(void **state)
{
    const char *s = "{\"x\":{\"data\":1},\"y\":[\"data\",{\"data\":2}],\"data\":3}";

    (void)state;
    assert_string_equal(span(s, "data"), "3");
    assert_null(span("{\"x\":{\"data\":1}}", "data"));
}

static void
test_span_tricky_strings(void **state)
{
    const char *s = "{\"k\\\"ey\":\"v}\\\"]\",\"data\":\"a\\\\\",\"z\":\"{[\"}";

    (void)state;
    assert_string_equal(span(s, "k\"ey"), "\"v}\\\"]\"");
    assert_string_equal(span(s, "data"), "\"a\\\\\"");
    assert_string_equal(span(s, "z"), "\"{[\"");
    assert_string_equal(span("{\"\":5}", ""), "5");
}

static void
test_span_escaped_keys(void **state)
{
    (void)state;
    assert_string_equal(span("{\"d\\u0061ta\":7}", "data"), "7");
    assert_string_equal(span("{\"\\/a\":7}", "/a"), "7");
    assert_string_equal(span("{\"\\u00e9\":7}", "\xc3\xa9"), "7");
    assert_string_equal(span("{\"\\u20AC\":7}", "\xe2\x82\xac"), "7");
    assert_string_equal(span("{\"\\ud83d\\ude00\":7}", "\xf0\x9f\x98\x80"), "7");
    /* An escaped NUL never equals a C string key. */
    assert_null(span("{\"data\\u0000\":7}", "data"));
    assert_null(span("{\"\\u0000\":7}", ""));
    /* Lone surrogates and bad escapes match nothing. */
    assert_null(span("{\"\\udc00\":7}", "\xed\xb0\x80"));
    assert_null(span("{\"\\q\":7}", "q"));
}

static void
test_span_first_duplicate(void **state)
{
    (void)state;
    assert_string_equal(span("{\"a\":1,\"a\":2}", "a"), "1");
}

static void
test_span_not_object(void **state)
{
    (void)state;
    assert_null(span("", "a"));
    assert_null(span("   ", "a"));
    assert_null(span("[\"a\",1]", "a"));
    assert_null(span("\"a\"", "a"));
    assert_null(span("{}", "a"));
    assert_null(span("{ }", "a"));
}

static void
test_span_truncated(void **state)
{
    static const char *const bad[] = {
        "{",
        "{\"a\"",
        "{\"a\":",
        "{\"a\" 1}",
        "{\"a\":\"x",
        "{\"a\":[1,2",
        "{\"a\":{\"b\":",
        "{\"b\":1 \"a\":2}",
        "{\"a",
        "{\"b\":1,",
        "{\"b\":[}],\"a\":1",
        "{\"a\":}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(span(bad[i], "a"));
    }
    /* The value is found as soon as it is complete, even if the rest is broken. */
    assert_string_equal(span("{\"a\":1,", "a"), "1");
    assert_string_equal(span("{\"a\":[1]", "a"), "[1]");
    assert_string_equal(span("{\"a\":12", "a"), "12");
}

static void
test_span_every_prefix(void **state)
{
    const char *s = "{\"id\":12,\"publish\":{\"channel\":\"c\",\"data\":{\"x\":[1,\"}\"]}}}";
    const char *want = "{\"channel\":\"c\",\"data\":{\"x\":[1,\"}\"]}}";
    size_t len = strlen(s), i, found = 0;
    const char *v;
    size_t n;

    (void)state;
    /* A prefix yields the span only once it holds the whole value; never past its end. */
    for (i = 0; i <= len; i++) {
        char *p = malloc(i ? i : 1);

        assert_non_null(p);
        memcpy(p, s, i);
        if (json_member_span(p, i, "publish", &v, &n) == 0) {
            assert_true(v >= p && v + n <= p + i);
            assert_int_equal(n, strlen(want));
            assert_memory_equal(v, want, n);
            found++;
        }
        free(p);
    }
    assert_int_equal(found, 2);
}

static void
test_lex_valid(void **state)
{
    static const char *const good[] = {
        "{}",
        "[]",
        "  {\"a\" : [1, -2, 0, -0, 0.5, 1e5, 1E+5, 1e-5, -1.25e10, 123456789012345678901234]}\r\n",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\"",
        "[true,false,null]",
        "\"\xc3\xa9 \xff raw high bytes are not lexed\"",
        "1.000000000000000001",
        "",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(lex(good[i]), 0);
    }
}

static void
test_lex_invalid(void **state)
{
    static const char *const bad[] = {
        "+1",
        "01",
        "-01",
        ".5",
        "1.",
        "1.e5",
        "1e",
        "1e+",
        "-",
        "1.2.3",
        "1e5e5",
        "1-2",
        "0x10",
        "Infinity",
        "NaN",
        "nul",
        "truee",
        "True",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\uZZZZ\"",
        "\"a",
        "\"\\",
        "'a'",
        "{\"a\":1}\x01",
        "\xef\xbb\xbf{}",
        "[1]\v",
        "[1]\f",
        "\"\t\"",
        "\"\n\"",
        "#",
        "/*x*/",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lex(bad[i]) != -1) {
            fail_msg("json_lex_check accepted bad input #%zu", i);
        }
    }
    assert_int_equal(json_lex_check("\"a\0b\"", 5), -1);
    assert_int_equal(json_lex_check("[1]\0", 4), -1);
}

static void
test_string_decode(void **state)
{
    char out[8];
    size_t n = 99;

    (void)state;
    assert_int_equal(json_string_decode("\"abc\"", 5, out, sizeof(out), &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "abc", 3);
    assert_int_equal(json_string_decode("\"\"", 2, out, sizeof(out), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(json_string_decode("\"a\\/b\\u0041\"", 12, out, sizeof(out), &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "a/bA", 4);
    assert_int_equal(json_string_decode("\"\\u0000\"", 8, out, sizeof(out), &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(out[0], '\0');
    assert_int_equal(json_string_decode("\"\\ud83d\\ude00\"", 14, out, sizeof(out), &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
}

static void
test_string_decode_errors(void **state)
{
    char out[4];
    size_t n;

    (void)state;
    assert_int_equal(json_string_decode("\"abcd\"", 6, out, 4, &n), 0);
    assert_int_equal(json_string_decode("\"abcde\"", 7, out, 4, &n), -2);
    assert_int_equal(json_string_decode("\"abc\\u00e9\"", 11, out, 4, &n), -2);
    assert_int_equal(json_string_decode("abc", 3, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"", 1, out, 4, &n), -1);
    assert_int_equal(json_string_decode("", 0, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"a\"b\"", 5, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"a\\\"", 4, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"\\q\"", 4, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"\\udc00\"", 8, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"\\ud800\"", 8, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"\\ud800\\u0041\"", 14, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"\\u12\"", 6, out, 4, &n), -1);
    assert_int_equal(json_string_decode("\"\t\"", 3, out, 4, &n), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depth_basic),          cmocka_unit_test(test_depth_strings_skipped),
        cmocka_unit_test(test_depth_unbalanced),     cmocka_unit_test(test_depth_stops_early),
        cmocka_unit_test(test_span_simple),          cmocka_unit_test(test_span_whitespace),
        cmocka_unit_test(test_span_top_level_only),  cmocka_unit_test(test_span_tricky_strings),
        cmocka_unit_test(test_span_escaped_keys),    cmocka_unit_test(test_span_first_duplicate),
        cmocka_unit_test(test_span_not_object),      cmocka_unit_test(test_span_truncated),
        cmocka_unit_test(test_span_every_prefix),    cmocka_unit_test(test_lex_valid),
        cmocka_unit_test(test_lex_invalid),          cmocka_unit_test(test_string_decode),
        cmocka_unit_test(test_string_decode_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
