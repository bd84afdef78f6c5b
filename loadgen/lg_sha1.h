/*
 * SHA-1 and base64 (Nettle), just enough for the WebSocket
 * opening handshake (RFC 6455 4.2.2). Pure functions, thread-safe.
 * SHA-1 is used here only because RFC 6455 requires it, never for security.
 */
#ifndef OH_LG_SHA1_H
#define OH_LG_SHA1_H

#include <stddef.h>

#define LG_SHA1_LEN 20

/* Writes the 20-byte SHA-1 digest of buf[0..len) into out. */
void lg_sha1(const void *buf, size_t len, unsigned char out[LG_SHA1_LEN]);

/*
 * Writes the base64 encoding of in[0..len) (with '=' padding) and a NUL into
 * out, which must hold 4 * ((len + 2) / 3) + 1 bytes. Returns the encoded length.
 */
size_t lg_base64(const unsigned char *in, size_t len, char *out);

/*
 * Computes Sec-WebSocket-Accept for the key sent in Sec-WebSocket-Key:
 * base64(SHA-1(key + the RFC 6455 GUID)). out holds at least 29 bytes.
 */
void lg_ws_accept(const char *key, char out[29]);

#endif
