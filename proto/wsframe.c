/*
 * RFC 6455 frame headers and close frames.
 */
#include "wsframe.h"

#include <assert.h>
#include <string.h>

size_t
wsframe_header_len(uint64_t len)
{
    if (len <= 125) {
        return 2;
    }
    if (len <= 0xFFFF) {
        return 4;
    }
    return 10;
}

size_t
wsframe_header(unsigned char *out, unsigned opcode, int fin, uint64_t len,
               const unsigned char *mask)
{
    size_t n = 2;
    int i;

    /* RFC 6455 5.2: the most significant bit of a 64-bit length must be 0. */
    assert(len <= INT64_MAX);
    assert(opcode <= 0xF);

    out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0F));
    out[1] = mask ? 0x80 : 0;
    if (len <= 125) {
        out[1] |= (unsigned char)len;
    } else if (len <= 0xFFFF) {
        out[1] |= 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        n = 4;
    } else {
        out[1] |= 127;
        for (i = 0; i < 8; i++) {
            out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
        }
        n = 10;
    }
    if (mask != NULL) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t n, size_t max)
{
    size_t cut;

    if (n <= max) {
        return n;
    }
    cut = max;
    /* Back up over continuation bytes (10xxxxxx) to the start of the cut character. */
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) {
        cut--;
    }
    return cut;
}

size_t
wsframe_close(unsigned char *out, unsigned code, const char *reason)
{
    size_t rlen = 0, n;

    /* RFC 6455 7.4: only 1000..4999 may be sent (1005, 1006 and 1015 are never sent). */
    assert(code >= 1000 && code <= 4999);

    /* RFC 6455 5.5: a control frame payload is at most 125 bytes, 2 of them the code. */
    if (reason != NULL) {
        rlen = utf8_cut(reason, strlen(reason), 123);
    }
    n = wsframe_header(out, WS_OP_CLOSE, 1, 2 + rlen, NULL);
    out[n++] = (unsigned char)(code >> 8);
    out[n++] = (unsigned char)code;
    if (rlen > 0) {
        memcpy(out + n, reason, rlen);
        n += rlen;
    }
    return n;
}
