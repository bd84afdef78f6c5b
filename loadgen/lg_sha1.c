/* SHA-1 and base64 for the WebSocket handshake. See lg_sha1.h. */
#include "lg_sha1.h"

#include <stdint.h>
#include <string.h>

struct sha1_ctx {
    uint32_t h[5];
    unsigned char block[64];
    size_t fill;    /* bytes in block */
    uint64_t total; /* bytes hashed */
};

static uint32_t
rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}

static uint32_t
round_f(unsigned t, uint32_t b, uint32_t c, uint32_t d)
{
    if (t < 20) {
        return (b & c) | (~b & d);
    }
    if (t < 40 || t >= 60) {
        return b ^ c ^ d;
    }
    return (b & c) | (b & d) | (c & d);
}

static void
sha1_block(struct sha1_ctx *ctx, const unsigned char *p)
{
    static const uint32_t k[4] = {0x5A827999, 0x6ED9EBA1, 0x8F1BBCDC, 0xCA62C1D6};
    uint32_t w[80];
    uint32_t a = ctx->h[0], b = ctx->h[1], c = ctx->h[2], d = ctx->h[3], e = ctx->h[4];

    for (unsigned t = 0; t < 16; t++) {
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
    }
    for (unsigned t = 16; t < 80; t++) {
        w[t] = rol(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    }
    for (unsigned t = 0; t < 80; t++) {
        uint32_t tmp = rol(a, 5) + round_f(t, b, c, d) + e + w[t] + k[t / 20];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = tmp;
    }
    ctx->h[0] += a;
    ctx->h[1] += b;
    ctx->h[2] += c;
    ctx->h[3] += d;
    ctx->h[4] += e;
}

static void
sha1_update(struct sha1_ctx *ctx, const unsigned char *p, size_t len)
{
    ctx->total += len;
    while (len > 0) {
        size_t n = 64 - ctx->fill;
        if (n > len) {
            n = len;
        }
        memcpy(ctx->block + ctx->fill, p, n);
        ctx->fill += n;
        p += n;
        len -= n;
        if (ctx->fill == 64) {
            sha1_block(ctx, ctx->block);
            ctx->fill = 0;
        }
    }
}

void
lg_sha1(const void *buf, size_t len, unsigned char out[LG_SHA1_LEN])
{
    struct sha1_ctx ctx = {.h = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}};
    unsigned char pad[72] = {0x80};
    uint64_t bits;
    size_t padlen;

    sha1_update(&ctx, buf, len);
    bits = ctx.total * 8;
    /* Pad to 56 mod 64, then the 64-bit big-endian message length (FIPS 180-4 5.1.1). */
    padlen = (ctx.fill < 56) ? 56 - ctx.fill : 120 - ctx.fill;
    for (unsigned i = 0; i < 8; i++) {
        pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    }
    sha1_update(&ctx, pad, padlen + 8);
    for (unsigned i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char)(ctx.h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(ctx.h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(ctx.h[i] >> 8);
        out[4 * i + 3] = (unsigned char)ctx.h[i];
    }
}

size_t
lg_base64(const unsigned char *in, size_t len, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t rest = len - i;
        if (rest > 1) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (rest > 2) {
            v |= in[i + 2];
        }
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = rest > 1 ? tbl[(v >> 6) & 63] : '=';
        out[o++] = rest > 2 ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

void
lg_ws_accept(const char *key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"; /* RFC 6455 1.3 */
    char buf[128];
    unsigned char digest[LG_SHA1_LEN];
    size_t klen = strnlen(key, sizeof(buf) - sizeof(guid));

    memcpy(buf, key, klen);
    memcpy(buf + klen, guid, sizeof(guid) - 1);
    lg_sha1(buf, klen + sizeof(guid) - 1, digest);
    lg_base64(digest, sizeof(digest), out);
}
