/*
 * Unit tests of loadgen/lg_sha1.c (FIPS 180-4 and RFC 4648 test vectors, the
 * RFC 6455 handshake example) and of wsc_parse_url in loadgen/wsclient.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>

#include "lg_sha1.h"
#include "wsclient.h"

static void
hex(const unsigned char *d, char out[41])
{
    for (int i = 0; i < 20; i++) {
        snprintf(out + 2 * i, 3, "%02x", d[i]);
    }
}

static void
check_sha1(const char *msg, size_t len, const char *want)
{
    unsigned char d[LG_SHA1_LEN];
    char got[41];

    lg_sha1(msg, len, d);
    hex(d, got);
    assert_string_equal(got, want);
}

static void
test_sha1_vectors(void **state)
{
    static const char two_blocks[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    char *million = malloc(1000000);

    (void)state;
    check_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    check_sha1(two_blocks, strlen(two_blocks), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    assert_non_null(million);
    memset(million, 'a', 1000000);
    check_sha1(million, 1000000, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    free(million);
}

/* Lengths around the 55/56/64-byte padding boundaries must all differ and be stable. */
static void
test_sha1_padding_boundaries(void **state)
{
    char buf[130];
    unsigned char d1[LG_SHA1_LEN], d2[LG_SHA1_LEN], prev[LG_SHA1_LEN] = {0};

    (void)state;
    memset(buf, 'x', sizeof(buf));
    for (size_t n = 50; n < 130; n++) {
        lg_sha1(buf, n, d1);
        lg_sha1(buf, n, d2);
        assert_memory_equal(d1, d2, LG_SHA1_LEN);
        assert_memory_not_equal(d1, prev, LG_SHA1_LEN);
        memcpy(prev, d1, LG_SHA1_LEN);
    }
    check_sha1("The quick brown fox jumps over the lazy dog", 43,
               "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

static void
check_b64(const char *in, const char *want)
{
    char out[64];
    size_t n = lg_base64((const unsigned char *)in, strlen(in), out);

    assert_int_equal(n, strlen(want));
    assert_string_equal(out, want);
}

static void
test_base64_vectors(void **state)
{
    (void)state;
    check_b64("", "");
    check_b64("f", "Zg==");
    check_b64("fo", "Zm8=");
    check_b64("foo", "Zm9v");
    check_b64("foob", "Zm9vYg==");
    check_b64("fooba", "Zm9vYmE=");
    check_b64("foobar", "Zm9vYmFy");
}

static void
test_ws_accept_rfc6455_example(void **state)
{
    char out[29];

    (void)state;
    lg_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", out); /* RFC 6455 1.3 */
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void
test_parse_url(void **state)
{
    struct sockaddr_in sa;
    char host[64], path[64];

    (void)state;
    assert_int_equal(
        wsc_parse_url("ws://127.0.0.1:7400/ws", &sa, host, sizeof(host), path, sizeof(path)), 0);
    assert_int_equal(ntohs(sa.sin_port), 7400);
    assert_int_equal(ntohl(sa.sin_addr.s_addr), 0x7f000001);
    assert_string_equal(host, "127.0.0.1:7400");
    assert_string_equal(path, "/ws");
    assert_int_equal(
        wsc_parse_url("ws://localhost:80", &sa, host, sizeof(host), path, sizeof(path)), 0);
    assert_string_equal(path, "/");
    assert_int_equal(wsc_parse_url("http://127.0.0.1:1/ws", &sa, host, 64, path, 64), -1);
    assert_int_equal(wsc_parse_url("ws://127.0.0.1/ws", &sa, host, 64, path, 64), -1);
    assert_int_equal(wsc_parse_url("ws://127.0.0.1:0/ws", &sa, host, 64, path, 64), -1);
    assert_int_equal(wsc_parse_url("ws://127.0.0.1:70000/ws", &sa, host, 64, path, 64), -1);
    assert_int_equal(wsc_parse_url("ws://example.org:80/ws", &sa, host, 64, path, 64), -1);
    assert_int_equal(wsc_parse_url("ws://127.0.0.1:80x", &sa, host, 64, path, 64), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_vectors),   cmocka_unit_test(test_sha1_padding_boundaries),
        cmocka_unit_test(test_base64_vectors), cmocka_unit_test(test_ws_accept_rfc6455_example),
        cmocka_unit_test(test_parse_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
