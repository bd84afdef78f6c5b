/*
 * An immutable, reference-counted, complete WebSocket frame (header
 * included), ready for LWS_WRITE_RAW. One publication is encoded once and the
 * same bytes are queued to every subscriber on every shard; replies are the
 * same object with one reference. The count is atomic: any thread may ref or
 * unref, and the last unref frees. Nothing else in it changes after pub_new*.
 */
#ifndef OH_PUB_H
#define OH_PUB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

struct pub {
    atomic_uint refs;
    uint32_t len;      /* bytes in frame */
    uint64_t offset;   /* publications: position in the channel; 0 for replies */
    uint32_t data_off; /* publications: where "data" starts in frame */
    uint32_t data_len; /* publications: its length */
    unsigned char frame[];
};

/* Frames the JSON text in sb as one text frame. Returns a pub with one reference. */
struct pub *pub_from_json(const struct strbuf *sb);

/*
 * Frames a push (as proto_encode_push writes it into sb, data last) and
 * records offset and where data sits. Returns a pub with one reference.
 */
struct pub *pub_push_from_json(const struct strbuf *sb, uint64_t offset, size_t data_len);

/* Copies len bytes that already form complete frames. One reference. */
struct pub *pub_raw(const void *bytes, size_t len);

/* Frames a close frame with code and reason. One reference. */
struct pub *pub_close(unsigned code, const char *reason);

static inline struct pub *
pub_ref(struct pub *p)
{
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

/* Drops one reference; frees p on the last. NULL is a no-op. */
void pub_unref(struct pub *p);

#endif
