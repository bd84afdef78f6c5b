#include "channel.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "log.h"
#include "pub.h"
#include "shard.h"
#include "strbuf.h"
#include "xalloc.h"

/* ---- home side ---- */

static struct hchan *
hchan_find(struct shard *s, const char *name, size_t len)
{
    struct hchan *h = NULL;

    HASH_FIND(hh, s->homes, name, len, h);
    return h;
}

/* A new epoch: the process's random base, the shard, and a per-shard counter. */
static void
make_epoch(struct shard *s, char *out)
{
    snprintf(out, PROTO_EPOCH_MAX + 1, "%s-%u-%llu", s->node->epoch_base, s->id,
             (unsigned long long)++s->next_epoch);
}

static struct hchan *
hchan_get(struct shard *s, const char *name, size_t len)
{
    struct hchan *h = hchan_find(s, name, len);

    if (h != NULL) {
        return h;
    }
    h = xcalloc(1, sizeof(*h) + len + 1);
    memcpy(h->name, name, len);
    h->name_len = len;
    h->interest = xcalloc(s->node->nshards, 1);
    make_epoch(s, h->epoch);
    h->last_used_ms = now_ms();
    HASH_ADD(hh, s->homes, name, len, h);
    atomic_fetch_add_explicit(&s->m.channels, 1, memory_order_relaxed);
    return h;
}

static void
hchan_free(struct shard *s, struct hchan *h)
{
    HASH_DELETE(hh, s->homes, h);
    for (uint32_t i = 0; i < h->ring_count; i++) {
        pub_unref(h->ring[(h->ring_start + i) % h->ring_cap]);
    }
    free(h->ring);
    free(h->interest);
    free(h);
    atomic_fetch_sub_explicit(&s->m.channels, 1, memory_order_relaxed);
}

/* The ring grows by doubling up to max, so a quiet channel costs little. */
static void
ring_grow(struct hchan *h, uint32_t max)
{
    uint32_t ncap = h->ring_cap ? h->ring_cap * 2 : 4;
    struct pub **nr;

    if (ncap > max) {
        ncap = max;
    }
    nr = xmalloc(ncap * sizeof(*nr));
    for (uint32_t i = 0; i < h->ring_count; i++) {
        nr[i] = h->ring[(h->ring_start + i) % h->ring_cap];
    }
    free(h->ring);
    h->ring = nr;
    h->ring_cap = ncap;
    h->ring_start = 0;
}

static void
ring_push(struct hchan *h, struct pub *p, uint32_t max)
{
    uint32_t slot;

    if (h->ring_count == h->ring_cap && h->ring_cap < max) {
        ring_grow(h, max);
    }
    if (h->ring_count == h->ring_cap) {
        pub_unref(h->ring[h->ring_start]);
        h->ring_start = (h->ring_start + 1) % h->ring_cap;
        h->ring_count--;
    }
    slot = (h->ring_start + h->ring_count) % h->ring_cap;
    h->ring[slot] = pub_ref(p);
    h->ring_count++;
}

/* The ring entry holding offset, or NULL when the ring does not cover it. */
static struct pub *
ring_at(const struct hchan *h, uint64_t offset)
{
    uint64_t oldest;

    if (h->ring_count == 0 || offset > h->last_offset) {
        return NULL;
    }
    oldest = h->last_offset - h->ring_count + 1;
    if (offset < oldest) {
        return NULL;
    }
    return h->ring[(h->ring_start + (offset - oldest)) % h->ring_cap];
}

int
home_publish(struct shard *s, const char *name, size_t len, const char *data, size_t data_len,
             char *epoch, uint64_t *offset)
{
    struct hchan *h = hchan_get(s, name, len);
    struct pub *p;

    /* Encode once: every shard and subscriber sends these same bytes. */
    h->last_offset++;
    sb_reset(&s->scratch);
    proto_encode_push(&s->scratch, name, len, h->epoch, h->last_offset, data, data_len);
    p = pub_push_from_json(&s->scratch, h->last_offset, data_len);
    ring_push(h, p, s->node->cfg->ring_size);
    h->last_used_ms = now_ms();
    atomic_fetch_add_explicit(&s->m.publications, 1, memory_order_relaxed);

    for (unsigned i = 0; i < s->node->nshards; i++) {
        struct msg *m;

        if (!h->interest[i]) {
            continue;
        }
        if (i == s->id) {
            lchan_deliver(s, name, len, p);
            continue;
        }
        m = msg_new(MSG_DELIVER, name, len);
        m->pub = pub_ref(p);
        shard_post(&s->node->shards[i], m);
    }
    memcpy(epoch, h->epoch, sizeof(h->epoch));
    *offset = h->last_offset;
    pub_unref(p);
    return 0;
}

void
home_subscribe(struct shard *s, unsigned from, const char *name, size_t len,
               const struct proto_pos *since, struct sub_answer *ans)
{
    struct hchan *h = hchan_get(s, name, len);
    uint64_t first;

    if (!h->interest[from]) {
        h->interest[from] = 1;
        h->ninterest++;
    }
    h->last_used_ms = now_ms();
    memcpy(ans->epoch, h->epoch, sizeof(h->epoch));
    ans->offset = h->last_offset;
    ans->pubs = NULL;
    ans->npubs = 0;
    ans->recovered = since->set ? 0 : -1;
    if (!since->set || strcmp(since->epoch, h->epoch) != 0 || since->offset > h->last_offset) {
        return;
    }

    /* since is exclusive: replay since.offset+1 .. last, if the ring still has it all. */
    first = since->offset + 1;
    if (first <= h->last_offset && ring_at(h, first) == NULL) {
        return;
    }
    ans->recovered = 1;
    if (first > h->last_offset) {
        return;
    }
    ans->npubs = (size_t)(h->last_offset - first + 1);
    ans->pubs = xmalloc(ans->npubs * sizeof(*ans->pubs));
    for (size_t i = 0; i < ans->npubs; i++) {
        ans->pubs[i] = pub_ref(ring_at(h, first + i));
    }
}

void
home_uninterest(struct shard *s, unsigned from, const char *name, size_t len)
{
    struct hchan *h = hchan_find(s, name, len);

    if (h != NULL && h->interest[from]) {
        h->interest[from] = 0;
        h->ninterest--;
        h->last_used_ms = now_ms();
    }
}

void
home_history(struct shard *s, const char *name, size_t len, const struct proto_pos *since,
             unsigned limit, uint64_t id, size_t max_bytes, struct strbuf *sb)
{
    struct hchan *h = hchan_get(s, name, len); /* empty channels are small: no ring yet */
    uint64_t first, oldest;
    unsigned n = 0;
    bool more;

    h->last_used_ms = now_ms();
    oldest = h->last_offset - h->ring_count + 1;
    first = oldest;
    if (since->set && strcmp(since->epoch, h->epoch) == 0 && since->offset + 1 > oldest) {
        first = since->offset + 1;
    }
    proto_encode_history_begin(sb, id, h->epoch, h->last_offset);
    /* Bounded by count and by bytes, so one reply cannot swamp a connection's queue. */
    while (first <= h->last_offset && n < limit && sb->len < max_bytes) {
        struct pub *p = ring_at(h, first);

        proto_encode_history_item(sb, n == 0, h->epoch, p->offset,
                                  (const char *)p->frame + p->data_off, p->data_len);
        first++;
        n++;
    }
    more = first <= h->last_offset;
    proto_encode_history_end(sb, more);
}

void
home_expire(struct shard *s, uint64_t now, uint64_t idle_ms)
{
    struct hchan *h, *tmp;

    HASH_ITER(hh, s->homes, h, tmp)
    {
        if (h->ninterest == 0 && now - h->last_used_ms > idle_ms) {
            log_debug("channel expired channel=%s epoch=%s offset=%llu", h->name, h->epoch,
                      (unsigned long long)h->last_offset);
            hchan_free(s, h);
        }
    }
}

void
home_free_all(struct shard *s)
{
    struct hchan *h, *tmp;

    HASH_ITER(hh, s->homes, h, tmp)
    {
        hchan_free(s, h);
    }
}

/* ---- local side ---- */

struct lchan *
lchan_get(struct shard *s, const char *name, size_t len, bool create)
{
    struct lchan *lc = NULL;

    HASH_FIND(hh, s->locals, name, len, lc);
    if (lc != NULL || !create) {
        return lc;
    }
    lc = xcalloc(1, sizeof(*lc) + len + 1);
    memcpy(lc->name, name, len);
    lc->name_len = len;
    HASH_ADD(hh, s->locals, name, len, lc);
    return lc;
}

void
lchan_deliver(struct shard *s, const char *name, size_t len, struct pub *p)
{
    struct lchan *lc = lchan_get(s, name, len, false);
    long n = 0;

    if (lc == NULL || !lc->known) {
        return; /* interest withdrawn, or not yet answered: the answer covers this offset */
    }
    /* One home, one FIFO mailbox: offsets arrive consecutive. */
    assert(p->offset == lc->last_offset + 1);
    lc->last_offset = p->offset;
    for (uint32_t i = 0; i < lc->nsubs; i++) {
        if (lc->subs[i].active) {
            conn_enqueue(lc->subs[i].c, p);
            n++;
        }
    }
    atomic_fetch_add_explicit(&s->m.deliveries, n, memory_order_relaxed);
}

uint32_t
lchan_add(struct lchan *lc, struct conn *c, uint32_t slot)
{
    if (lc->nsubs == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 4;
        lc->subs = xrealloc(lc->subs, lc->cap * sizeof(*lc->subs));
    }
    lc->subs[lc->nsubs] = (struct lsub){c, slot, false};
    return lc->nsubs++;
}

void
lchan_remove(struct lchan *lc, uint32_t idx)
{
    assert(idx < lc->nsubs);
    lc->nsubs--;
    if (idx != lc->nsubs) {
        struct lsub *moved = &lc->subs[lc->nsubs];

        lc->subs[idx] = *moved;
        moved->c->subs[moved->slot].idx = idx;
    }
}

void
lchan_release_if_unused(struct shard *s, struct lchan *lc)
{
    unsigned home;

    if (lc->nsubs > 0 || lc->inflight > 0) {
        return;
    }
    home = node_home_of(s->node, lc->name, lc->name_len);
    if (home == s->id) {
        home_uninterest(s, s->id, lc->name, lc->name_len);
    } else {
        struct msg *m = msg_new(MSG_UNINTEREST, lc->name, lc->name_len);

        m->from = s->id;
        shard_post(&s->node->shards[home], m);
    }
    HASH_DELETE(hh, s->locals, lc);
    free(lc->subs);
    free(lc);
}
