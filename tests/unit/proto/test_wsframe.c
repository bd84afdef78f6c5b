/*
 * Unit tests of proto/wsframe.c (RFC 6455 5.2 header layout, 5.5 close).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wsframe.h"

static void
test_len_7bit(void **state)
{
    unsigned char h[WSFRAME_MAX_HEADER];

    (void)state;
    assert_int_equal(wsframe_header(h, WS_OP_TEXT, 1, 0, NULL), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0x00);
    assert_int_equal(wsframe_header(h, WS_OP_TEXT, 1, 125, NULL), 2);
    assert_int_equal(h[1], 125);
    assert_int_equal(wsframe_header_len(0), 2);
    assert_int_equal(wsframe_header_len(125), 2);
}

static void
test_len_16bit(void **state)
{
    unsigned char h[WSFRAME_MAX_HEADER];
    static const unsigned char at126[] = {0x81, 126, 0x00, 126};
    static const unsigned char at65535[] = {0x82, 126, 0xFF, 0xFF};

    (void)state;
    assert_int_equal(wsframe_header(h, WS_OP_TEXT, 1, 126, NULL), 4);
    assert_memory_equal(h, at126, 4);
    assert_int_equal(wsframe_header(h, WS_OP_BINARY, 1, 65535, NULL), 4);
    assert_memory_equal(h, at65535, 4);
    assert_int_equal(wsframe_header_len(126), 4);
    assert_int_equal(wsframe_header_len(65535), 4);
}

static void
test_len_64bit(void **state)
{
    unsigned char h[WSFRAME_MAX_HEADER];
    static const unsigned char at65536[] = {0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0};
    static const unsigned char big[] = {0x81, 127, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF};

    (void)state;
    assert_int_equal(wsframe_header(h, WS_OP_TEXT, 1, 65536, NULL), 10);
    assert_memory_equal(h, at65536, 10);
    assert_int_equal(wsframe_header(h, WS_OP_TEXT, 1, 0x0123456789ABCDEFULL, NULL), 10);
    assert_memory_equal(h, big, 10);
    assert_int_equal(wsframe_header_len(65536), 10);
    assert_int_equal(wsframe_header_len(UINT64_C(1) << 40), 10);
}

static void
test_fin_and_opcodes(void **state)
{
    unsigned char h[WSFRAME_MAX_HEADER];

    (void)state;
    wsframe_header(h, WS_OP_TEXT, 0, 5, NULL);
    assert_int_equal(h[0], 0x01);
    wsframe_header(h, WS_OP_CONT, 1, 5, NULL);
    assert_int_equal(h[0], 0x80);
    wsframe_header(h, WS_OP_PING, 1, 0, NULL);
    assert_int_equal(h[0], 0x89);
    wsframe_header(h, WS_OP_PONG, 1, 0, NULL);
    assert_int_equal(h[0], 0x8A);
}

static void
test_masked(void **state)
{
    unsigned char h[WSFRAME_MAX_HEADER];
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    static const unsigned char small[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d};
    static const unsigned char mid[] = {0x81, 0xFE, 0x01, 0x00, 0x37, 0xfa, 0x21, 0x3d};
    static const unsigned char large[] = {0x82, 0xFF, 0, 0,    0,    0,    0,
                                          1,    0,    0, 0x37, 0xfa, 0x21, 0x3d};

    (void)state;
    assert_int_equal(wsframe_header(h, WS_OP_TEXT, 1, 5, mask), 6);
    assert_memory_equal(h, small, 6);
    assert_int_equal(wsframe_header(h, WS_OP_TEXT, 1, 256, mask), 8);
    assert_memory_equal(h, mid, 8);
    assert_int_equal(wsframe_header(h, WS_OP_BINARY, 1, 65536, mask), WSFRAME_MAX_HEADER);
    assert_memory_equal(h, large, WSFRAME_MAX_HEADER);
}

static void
test_close(void **state)
{
    unsigned char out[129];
    static const unsigned char bare[] = {0x88, 0x02, 0x03, 0xE8};
    static const unsigned char drain[] = {0x88, 0x15, 0x0F, 0xA3, 'r', 'e', 't', 'r',
                                          'y',  '_',  'a',  'f',  't', 'e', 'r', '_',
                                          'm',  's',  '=',  '2',  '5', '0', '0'};

    (void)state;
    assert_int_equal(wsframe_close(out, 1000, NULL), 4);
    assert_memory_equal(out, bare, 4);
    assert_int_equal(wsframe_close(out, 1000, ""), 4);
    assert_memory_equal(out, bare, 4);
    assert_int_equal(wsframe_close(out, 4003, "retry_after_ms=2500"), sizeof(drain));
    assert_memory_equal(out, drain, sizeof(drain));
}

static void
test_close_reason_cut(void **state)
{
    unsigned char out[129];
    char reason[200];

    (void)state;
    memset(reason, 'x', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    /* 125 bytes of payload: the longest control frame, 7-bit length. */
    assert_int_equal(wsframe_close(out, 4001, reason), 127);
    assert_int_equal(out[1], 125);
    assert_int_equal(out[2], 0x0F);
    assert_int_equal(out[3], 0xA1);
    assert_int_equal(out[126], 'x');

    /* A 2-byte character straddling byte 123 is dropped whole, not split. */
    memset(reason, 'x', 122);
    memcpy(reason + 122, "\xc3\xa9zz", 5);
    assert_int_equal(wsframe_close(out, 1001, reason), 4 + 122);
    assert_int_equal(out[1], 124);
    /* Exactly 123 bytes ending with a complete character stays whole. */
    memset(reason, 'x', 121);
    memcpy(reason + 121, "\xc3\xa9", 3);
    assert_int_equal(wsframe_close(out, 1001, reason), 4 + 123);
    assert_memory_equal(out + 4 + 121, "\xc3\xa9", 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_len_7bit),         cmocka_unit_test(test_len_16bit),
        cmocka_unit_test(test_len_64bit),        cmocka_unit_test(test_fin_and_opcodes),
        cmocka_unit_test(test_masked),           cmocka_unit_test(test_close),
        cmocka_unit_test(test_close_reason_cut),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
