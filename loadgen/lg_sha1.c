/*
 * The WebSocket handshake's hashing, through Nettle (Debian's nettle-dev):
 * SHA-1 because RFC 6455 4.2.2 requires it, never for security.
 */
#include "lg_sha1.h"

#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <string.h>

void
lg_sha1(const void *buf, size_t len, unsigned char out[LG_SHA1_LEN])
{
    struct sha1_ctx ctx;

    sha1_init(&ctx);
    sha1_update(&ctx, len, buf);
    sha1_digest(&ctx, LG_SHA1_LEN, out);
}

size_t
lg_base64(const unsigned char *in, size_t len, char *out)
{
    size_t n = BASE64_ENCODE_RAW_LENGTH(len);

    base64_encode_raw(out, len, in);
    out[n] = '\0';
    return n;
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
