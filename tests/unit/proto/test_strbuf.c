/*
 * Unit tests of proto/strbuf.c, proto/oh_error.c and proto/xalloc.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "oh_error.h"
#include "strbuf.h"
#include "xalloc.h"

static void
test_append_and_reset(void **state)
{
    struct strbuf sb = {0};
    size_t i;

    (void)state;
    sb_appends(&sb, "abc");
    sb_append(&sb, "de", 2);
    sb_append(&sb, "", 0);
    assert_int_equal(sb.len, 5);
    assert_string_equal(sb.buf, "abcde");
    for (i = 0; i < 10000; i++) {
        sb_append(&sb, "0123456789", 10);
    }
    assert_int_equal(sb.len, 100005);
    assert_true(sb.cap > sb.len);
    assert_int_equal(sb.buf[sb.len], '\0');
    sb_reset(&sb);
    assert_int_equal(sb.len, 0);
    assert_string_equal(sb.buf, "");
    assert_true(sb.cap > 100005);
    sb_free(&sb);
    assert_null(sb.buf);
    assert_int_equal(sb.cap, 0);
    sb_reset(&sb);
    sb_free(&sb);
}

static void
test_reserve(void **state)
{
    struct strbuf sb = {0};
    char *before;

    (void)state;
    sb_reserve(&sb, 1000);
    assert_true(sb.cap >= 1001);
    before = sb.buf;
    sb_append(&sb, "x", 1);
    sb_reserve(&sb, 999);
    assert_ptr_equal(sb.buf, before);
    sb_free(&sb);
}

static void
test_u64(void **state)
{
    struct strbuf sb = {0};

    (void)state;
    sb_append_u64(&sb, 0);
    sb_appends(&sb, ",");
    sb_append_u64(&sb, 7);
    sb_appends(&sb, ",");
    sb_append_u64(&sb, 9007199254740992ULL);
    sb_appends(&sb, ",");
    sb_append_u64(&sb, UINT64_MAX);
    assert_string_equal(sb.buf, "0,7,9007199254740992,18446744073709551615");
    sb_free(&sb);
}

static void
test_json_string(void **state)
{
    struct strbuf sb = {0};
    const char raw[] = "a\"b\\c/\b\f\n\r\t\x01\x1f\x7f\xc3\xa9";

    (void)state;
    sb_append_json_string(&sb, raw, sizeof(raw) - 1);
    assert_string_equal(sb.buf, "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xc3\xa9\"");
    sb_reset(&sb);
    sb_append_json_string(&sb, "", 0);
    assert_string_equal(sb.buf, "\"\"");
    sb_reset(&sb);
    /* Embedded NUL is escaped, not a terminator. */
    sb_append_json_string(&sb, "a\0b", 3);
    assert_string_equal(sb.buf, "\"a\\u0000b\"");
    sb_free(&sb);
}

static void
test_error_codes(void **state)
{
    (void)state;
    assert_string_equal(oh_error_code(OH_EBADREQ), "bad_request");
    assert_string_equal(oh_error_code(OH_ETOOBIG), "bad_request");
    assert_string_equal(oh_error_code(OH_EINVCHAN), "invalid_channel");
    assert_string_equal(oh_error_code(OH_ELIMIT), "limit_exceeded");
    assert_string_equal(oh_error_code(OH_ERATE), "rate_limited");
    assert_string_equal(oh_error_code(OH_EUNAVAIL), "unavailable");
    assert_string_equal(oh_error_code(OH_EFORBIDDEN), "forbidden");
    assert_string_equal(oh_error_code(OH_EINTERNAL), "internal");
    assert_string_equal(oh_error_code(OH_ESYS), "internal");
    assert_string_equal(oh_error_code(-1000), "internal");
    assert_int_equal(oh_error_temporary(OH_ERATE), 1);
    assert_int_equal(oh_error_temporary(OH_EUNAVAIL), 1);
    assert_int_equal(oh_error_temporary(OH_EBADREQ), 0);
    assert_int_equal(oh_error_temporary(OH_EINTERNAL), 0);
    assert_int_equal(oh_error_temporary(OH_OK), 0);
}

static void
test_strerror(void **state)
{
    int e;

    (void)state;
    for (e = 1; e >= -12; e--) {
        const char *s = oh_strerror(e);

        assert_non_null(s);
        assert_true(strlen(s) > 0);
    }
    assert_string_equal(oh_strerror(OH_OK), "success");
    assert_string_equal(oh_strerror(OH_ETOOBIG), "message too big");
}

static void
test_xalloc(void **state)
{
    char *s;
    void *p;

    (void)state;
    s = xstrndup("hello world", 5);
    assert_string_equal(s, "hello");
    free(s);
    s = xstrndup("hi", 10);
    assert_string_equal(s, "hi");
    free(s);
    p = xmalloc(0);
    assert_non_null(p);
    p = xrealloc(p, 100);
    assert_non_null(p);
    free(p);
    p = xcalloc(4, 8);
    assert_memory_equal(p, "\0\0\0\0\0\0\0\0", 8);
    free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_reset),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_u64),
        cmocka_unit_test(test_json_string),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_xalloc),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
