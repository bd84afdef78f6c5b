/*
 * RFC 6455 framing: pure functions, no I/O. Thread-safe.
 */
#ifndef OH_WSFRAME_H
#define OH_WSFRAME_H

#include <stddef.h>
#include <stdint.h>

#define WSFRAME_MAX_HEADER 14 /* 2 + 8 (64-bit length) + 4 (mask), RFC 6455 5.2 */

enum wsframe_opcode {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/*
 * Writes a frame header for a payload of len bytes into out (at least
 * WSFRAME_MAX_HEADER bytes) and returns its length. mask is NULL for a server
 * frame; a client passes its 4 masking bytes (the caller masks the payload).
 */
size_t wsframe_header(unsigned char *out, unsigned opcode, int fin, uint64_t len,
                      const unsigned char *mask);

/* Header length wsframe_header() would write for an unmasked payload of len bytes. */
size_t wsframe_header_len(uint64_t len);

/*
 * Writes a complete unmasked close frame with status code and reason (reason
 * cut to 123 bytes, RFC 6455 5.5) into out (at least 129 bytes). Returns its length.
 */
size_t wsframe_close(unsigned char *out, unsigned code, const char *reason);

#endif
