/*
 * Channels, seen from two sides. Both sides belong to one shard thread.
 *
 * Home side (struct hchan): the shard hash(name) % N is a channel's home. It
 * alone assigns (epoch, offset), keeps the ring of recent publications and
 * the set of shards interested in the channel, and posts each publication to
 * them. The epoch is new each time the home creates the channel (at start,
 * or after an idle channel was expired), so positions never repeat.
 *
 * Local side (struct lchan): the connections of this shard subscribed to a
 * channel, and the last offset this shard delivered. Deliveries from one home
 * arrive in mailbox order, so every local subscriber sees one order.
 */
#ifndef OH_CHANNEL_H
#define OH_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

#include "proto.h"

struct conn;
struct pub;
struct shard;
struct strbuf;

struct hchan {
    UT_hash_handle hh;
    char epoch[PROTO_EPOCH_MAX + 1];
    uint64_t last_offset; /* 0 when nothing was published in this epoch */
    struct pub **ring;    /* ring_cap slots, the ring_count newest publications */
    uint32_t ring_cap;
    uint32_t ring_start; /* slot of the oldest */
    uint32_t ring_count;
    uint8_t *interest; /* nshards flags: shard has local subscribers */
    unsigned ninterest;
    uint64_t last_used_ms;
    size_t name_len;
    char name[];
};

/* One subscriber in an lchan. */
struct lsub {
    struct conn *c;
    uint32_t slot; /* index of this subscription in c->subs */
    bool active;   /* false until the home's answer arrived: gets no pushes yet */
};

struct lchan {
    UT_hash_handle hh;
    struct lsub *subs;
    uint32_t nsubs;
    uint32_t cap;
    uint32_t inflight; /* subscribe requests sent to the home, not yet answered */
    bool known;        /* epoch/last_offset are valid */
    char epoch[PROTO_EPOCH_MAX + 1];
    uint64_t last_offset;
    size_t name_len;
    char name[];
};

/* Outcome of home_subscribe(). */
struct sub_answer {
    char epoch[PROTO_EPOCH_MAX + 1];
    uint64_t offset;
    int recovered;     /* -1: no since given, 0: could not, 1: replay is complete */
    struct pub **pubs; /* replay, one reference each; caller frees the array */
    size_t npubs;
};

/*
 * Home side: assigns the next offset to data on channel name, appends it to
 * the ring and delivers it to every interested shard (this one directly).
 * Stores the position in epoch/offset. Returns 0.
 */
int home_publish(struct shard *s, const char *name, size_t len, const char *data, size_t data_len,
                 char *epoch, uint64_t *offset);

/* Home side: records shard from's interest and answers a subscribe (with since
 * when since->set). Fills ans; the caller owns ans->pubs. */
void home_subscribe(struct shard *s, unsigned from, const char *name, size_t len,
                    const struct proto_pos *since, struct sub_answer *ans);

/* Home side: shard from has no local subscriber of name any more. */
void home_uninterest(struct shard *s, unsigned from, const char *name, size_t len);

/* Home side: encodes the full history reply for command id into sb. */
void home_history(struct shard *s, const char *name, size_t len, const struct proto_pos *since,
                  unsigned limit, uint64_t id, size_t max_bytes, struct strbuf *sb);

/* Home side: frees channels with no interest, idle longer than idle_ms. */
void home_expire(struct shard *s, uint64_t now, uint64_t idle_ms);

/* Home side: frees every channel (shutdown). */
void home_free_all(struct shard *s);

/* Local side: finds the lchan for name, creating it when create. */
struct lchan *lchan_get(struct shard *s, const char *name, size_t len, bool create);

/* Local side: a publication from the home; queued to every active subscriber. */
void lchan_deliver(struct shard *s, const char *name, size_t len, struct pub *p);

/* Local side: frees lc (telling its home) when it has no subscriber and no request in flight. */
void lchan_release_if_unused(struct shard *s, struct lchan *lc);

/* Local side: adds c as an inactive subscriber; returns the index in lc->subs. */
uint32_t lchan_add(struct lchan *lc, struct conn *c, uint32_t slot);

/* Local side: removes lc->subs[idx], fixing the moved entry's back index. */
void lchan_remove(struct lchan *lc, uint32_t idx);

#endif
