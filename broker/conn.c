#include "conn.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "http.h"
#include "log.h"
#include "proto.h"
#include "pub.h"
#include "shard.h"
#include "xalloc.h"

#include <utlist.h>

#define CLOSE_GRACE_SECS 5 /* a closing connection that never becomes writable is killed */

void
conn_log(const struct conn *c, int level, const char *fmt, ...)
{
    va_list ap;

    if (level > log_max_level) {
        return;
    }
    va_start(ap, fmt);
    log_vwrite(level, c->logctx, fmt, ap);
    va_end(ap);
}

static struct conn *
conn_find(struct shard *s, uint64_t id)
{
    struct conn *c = NULL;

    HASH_FIND(hh, s->conns, &id, sizeof(id), c);
    return c;
}

static struct conn *
conn_new(struct shard *s, struct lws *wsi, bool http)
{
    struct conn *c = xcalloc(1, sizeof(*c));

    c->id = ((uint64_t)s->id << 48) | ++s->next_conn_id;
    c->wsi = wsi;
    c->shard = s;
    c->http = http;
    c->last_rx_ms = now_ms();
    c->tokens = s->node->cfg->publish_burst;
    c->tokens_ms = c->last_rx_ms;
    lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
    snprintf(c->logctx, sizeof(c->logctx), "conn=%llx peer=%s", (unsigned long long)c->id, c->peer);
    HASH_ADD(hh, s->conns, id, sizeof(c->id), c);
    return c;
}

static void
queue_drop(struct conn *c, bool keep_partial)
{
    struct shard *s = c->shard;
    size_t dropped = 0;

    while (c->qcount > 0) {
        struct pub *p = c->q[(c->qhead + c->qcount - 1) % c->qcap];

        /* A frame partly written must be finished, or the stream is corrupt. */
        if (keep_partial && c->qcount == 1 && c->head_off > 0) {
            break;
        }
        dropped += (c->qcount == 1) ? p->len - c->head_off : p->len;
        c->qcount--;
        pub_unref(p);
    }
    if (c->qcount == 0) {
        c->head_off = 0;
    }
    c->qbytes -= dropped;
    atomic_fetch_sub_explicit(&s->m.queue_bytes, (long)dropped, memory_order_relaxed);
}

static void remove_sub(struct conn *c, uint32_t slot);

/* Frees c and everything it holds. Called when lws closes its wsi. */
static void
conn_free(struct conn *c)
{
    struct shard *s = c->shard;

    while (c->nsubs > 0) {
        remove_sub(c, c->nsubs - 1);
    }
    queue_drop(c, false);
    if (c->dirty) {
        DL_DELETE2(s->dirty, c, dprev, dnext);
    }
    HASH_DELETE(hh, s->conns, c);
    free(c->q);
    free(c->rx);
    free(c->subs);
    free(c->http_body);
    free(c);
}

static void
note_queue_max(struct shard *s, size_t qbytes)
{
    long cur = atomic_load_explicit(&s->m.queue_bytes_max, memory_order_relaxed);

    while ((long)qbytes > cur &&
           !atomic_compare_exchange_weak_explicit(&s->m.queue_bytes_max, &cur, (long)qbytes,
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

static void queue_push(struct conn *c, struct pub *p);

void
conn_enqueue(struct conn *c, struct pub *p)
{
    struct shard *s = c->shard;

    if (c->close_code) {
        return;
    }
    if (c->qcount > 0 && c->qbytes + p->len > s->node->cfg->max_queue_size) {
        atomic_fetch_add_explicit(&s->m.slow_closes, 1, memory_order_relaxed);
        conn_log(c, LOG_INFO, "slow consumer closed queued=%zu limit=%llu", c->qbytes,
                 (unsigned long long)s->node->cfg->max_queue_size);
        conn_close(c, 4001, "slow consumer, reconnect and recover", false);
        return;
    }
    queue_push(c, p);
}

/* Appends p to c's queue (new reference) with no limit check. */
static void
queue_push(struct conn *c, struct pub *p)
{
    struct shard *s = c->shard;

    if (c->qcount == c->qcap) {
        uint32_t ncap = c->qcap ? c->qcap * 2 : 8;
        struct pub **nq = xmalloc(ncap * sizeof(*nq));

        for (uint32_t i = 0; i < c->qcount; i++) {
            nq[i] = c->q[(c->qhead + i) % c->qcap];
        }
        free(c->q);
        c->q = nq;
        c->qcap = ncap;
        c->qhead = 0;
    }
    c->q[(c->qhead + c->qcount) % c->qcap] = pub_ref(p);
    c->qcount++;
    c->qbytes += p->len;
    atomic_fetch_add_explicit(&s->m.queue_bytes, (long)p->len, memory_order_relaxed);
    note_queue_max(s, c->qbytes);
    if (!c->dirty) {
        c->dirty = true;
        DL_APPEND2(s->dirty, c, dprev, dnext);
    }
}

void
conn_close(struct conn *c, unsigned code, const char *reason, bool keep)
{
    struct pub *p;

    if (c->close_code) {
        return;
    }
    conn_log(c, LOG_DEBUG, "closing code=%u reason=\"%s\"", code, reason);
    if (!keep) {
        queue_drop(c, true);
    }
    /* The close frame goes out RAW after what is queued, like any frame; the
     * peer's answering close then ends the connection (WS_PEER_INITIATED_CLOSE). */
    c->close_code = code;
    p = pub_close(code, reason);
    queue_push(c, p);
    pub_unref(p);
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, CLOSE_GRACE_SECS);
}

/*
 * Copies as many queued frames as fit into the shard's buffer and sends them
 * in one write. Frames are complete WebSocket frames, so they go out RAW;
 * a frame larger than the buffer continues on the next writable. Returns 0,
 * or -1 when the connection is broken.
 */
static int
write_batch(struct conn *c)
{
    struct shard *s = c->shard;
    unsigned char *buf = s->wbuf + LWS_PRE;
    size_t n = 0;

    while (c->qcount > 0 && n < s->wbuf_size) {
        struct pub *p = c->q[c->qhead];
        size_t take = p->len - c->head_off;

        if (take > s->wbuf_size - n) {
            take = s->wbuf_size - n;
        }
        memcpy(buf + n, p->frame + c->head_off, take);
        n += take;
        c->head_off += (uint32_t)take;
        if (c->head_off == p->len) {
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qcount--;
            c->head_off = 0;
            pub_unref(p);
        }
    }
    c->qbytes -= n;
    atomic_fetch_sub_explicit(&s->m.queue_bytes, (long)n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->m.bytes_out, (long)n, memory_order_relaxed);

    /* lws keeps what the socket does not take and sends it before the next
     * WRITEABLE; we never write again while it holds some (lws_partial_buffered). */
    if (lws_write(c->wsi, buf, n, LWS_WRITE_RAW) < (int)n) {
        conn_log(c, LOG_DEBUG, "write failed");
        return -1;
    }
    if (c->qcount > 0) {
        lws_callback_on_writable(c->wsi);
    }
    return 0;
}

static int
conn_writeable(struct conn *c)
{
    if (c->qcount == 0) {
        return 0;
    }
    return write_batch(c);
}

void
conn_flush_dirty(struct shard *s)
{
    while (s->dirty != NULL) {
        struct conn *c = s->dirty;

        DL_DELETE2(s->dirty, c, dprev, dnext);
        c->dirty = false;
        if (c->qcount == 0) {
            continue;
        }
        /* A socket still busy with an earlier write gets the rest on WRITEABLE. */
        if (lws_partial_buffered(c->wsi)) {
            lws_callback_on_writable(c->wsi);
            continue;
        }
        if (write_batch(c) < 0) {
            lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
        }
    }
}

/* ---- replies ---- */

static void
reply_scratch(struct conn *c)
{
    struct pub *p = pub_from_json(&c->shard->scratch);

    conn_enqueue(c, p);
    pub_unref(p);
}

static void
reply_error(struct conn *c, uint64_t id, int err, const char *message)
{
    sb_reset(&c->shard->scratch);
    proto_encode_error(&c->shard->scratch, id, err, message);
    reply_scratch(c);
}

static void
reply_pos(struct conn *c, uint64_t id, const char *epoch, uint64_t offset, int recovered)
{
    sb_reset(&c->shard->scratch);
    proto_encode_result_pos(&c->shard->scratch, id, epoch, offset, recovered);
    reply_scratch(c);
}

static void
reply_empty(struct conn *c, uint64_t id)
{
    sb_reset(&c->shard->scratch);
    proto_encode_result_empty(&c->shard->scratch, id);
    reply_scratch(c);
}

/* ---- subscriptions ---- */

static int
find_sub(const struct conn *c, const struct lchan *lc)
{
    for (uint32_t i = 0; lc != NULL && i < c->nsubs; i++) {
        if (c->subs[i].lc == lc) {
            return (int)i;
        }
    }
    return -1;
}

static uint32_t
add_sub(struct conn *c, struct lchan *lc, uint64_t req)
{
    uint32_t slot;

    if (c->nsubs == c->subcap) {
        c->subcap = c->subcap ? c->subcap * 2 : 2;
        c->subs = xrealloc(c->subs, c->subcap * sizeof(*c->subs));
    }
    slot = c->nsubs++;
    c->subs[slot].lc = lc;
    c->subs[slot].pending_req = req;
    c->subs[slot].idx = lchan_add(lc, c, slot);
    atomic_fetch_add_explicit(&c->shard->m.subscriptions, 1, memory_order_relaxed);
    return slot;
}

static void
remove_sub(struct conn *c, uint32_t slot)
{
    struct lchan *lc = c->subs[slot].lc;

    lchan_remove(lc, c->subs[slot].idx);
    c->nsubs--;
    if (slot != c->nsubs) {
        c->subs[slot] = c->subs[c->nsubs];
        c->subs[slot].lc->subs[c->subs[slot].idx].slot = slot;
    }
    atomic_fetch_sub_explicit(&c->shard->m.subscriptions, 1, memory_order_relaxed);
    lchan_release_if_unused(c->shard, lc);
}

/*
 * Applies a home's answer to a subscribe. Every delivery the home sent this
 * shard before answering has an offset <= ans->offset and every later one a
 * greater offset, so the reply, then the replay, then live pushes leave no
 * gap and no duplicate. slot < 0: only the reply is wanted. Consumes ans->pubs.
 */
static void
finish_subscribe(struct conn *c, struct lchan *lc, int slot, uint64_t id, struct sub_answer *ans)
{
    lc->known = true;
    memcpy(lc->epoch, ans->epoch, sizeof(lc->epoch));
    lc->last_offset = ans->offset;
    if (c != NULL) {
        reply_pos(c, id, ans->epoch, ans->offset, ans->recovered);
    }
    for (size_t i = 0; i < ans->npubs; i++) {
        if (c != NULL && slot >= 0) {
            conn_enqueue(c, ans->pubs[i]);
        }
        pub_unref(ans->pubs[i]);
    }
    free(ans->pubs);
    ans->pubs = NULL;
    if (c != NULL && slot >= 0) {
        c->subs[slot].pending_req = 0;
        lc->subs[c->subs[slot].idx].active = true;
    }
}

static bool
can_send_request(struct conn *c, uint64_t id)
{
    if (c->pending >= c->shard->node->cfg->max_pending_requests) {
        reply_error(c, id, OH_ERATE,
                    "too many requests in flight on this connection, retry after the replies");
        return false;
    }
    return true;
}

static struct msg *
request_new(struct conn *c, enum msg_type type, const struct proto_cmd *cmd)
{
    struct msg *m = msg_new(type, cmd->channel, cmd->channel_len);

    m->from = c->shard->id;
    m->conn_id = c->id;
    m->req_id = cmd->id;
    m->since = cmd->since;
    m->limit = cmd->limit;
    c->pending++;
    return m;
}

static void
cmd_subscribe(struct conn *c, const struct proto_cmd *cmd)
{
    struct shard *s = c->shard;
    unsigned home = node_home_of(s->node, cmd->channel, cmd->channel_len);
    struct lchan *lc = lchan_get(s, cmd->channel, cmd->channel_len, false);
    int slot = find_sub(c, lc);
    struct sub_answer ans;
    struct msg *m;

    if (slot >= 0 && c->subs[slot].pending_req == 0) {
        /* Already live here: this shard's position is the channel's, as seen by c. */
        reply_pos(c, cmd->id, lc->epoch, lc->last_offset, cmd->since.set ? 0 : -1);
        return;
    }
    if (slot < 0 && c->nsubs >= s->node->cfg->max_subscriptions) {
        reply_error(c, cmd->id, OH_ELIMIT, "too many subscriptions on this connection");
        return;
    }
    if (home != s->id && !can_send_request(c, cmd->id)) {
        return;
    }
    if (slot < 0) {
        lc = lchan_get(s, cmd->channel, cmd->channel_len, true);
        slot = (int)add_sub(c, lc, cmd->id);
    } else {
        slot = -1; /* a repeat while the first is in flight: the first one activates */
    }
    if (home == s->id) {
        home_subscribe(s, s->id, cmd->channel, cmd->channel_len, &cmd->since, &ans);
        finish_subscribe(c, lc, slot, cmd->id, &ans);
        return;
    }
    m = request_new(c, MSG_SUBSCRIBE, cmd);
    m->dup = slot < 0;
    if (m->dup) {
        m->since.set = false;
    }
    lc->inflight++;
    shard_post(&s->node->shards[home], m);
}

void
conn_on_sub_ack(struct shard *s, struct msg *m)
{
    struct lchan *lc = lchan_get(s, m->channel, m->channel_len, false);
    struct conn *c = conn_find(s, m->conn_id);
    struct sub_answer ans;
    int slot = -1;

    assert(lc != NULL && lc->inflight > 0);
    lc->inflight--;
    if (c != NULL) {
        c->pending--;
        slot = find_sub(c, lc);
        if (m->dup || (slot >= 0 && c->subs[slot].pending_req != m->req_id)) {
            slot = -1;
        }
    }
    memcpy(ans.epoch, m->epoch, sizeof(ans.epoch));
    ans.offset = m->offset;
    ans.recovered = m->recovered;
    ans.pubs = m->pubs;
    ans.npubs = m->npubs;
    m->pubs = NULL;
    m->npubs = 0;
    finish_subscribe(c, lc, slot, m->req_id, &ans);
    lchan_release_if_unused(s, lc);
}

static void
cmd_unsubscribe(struct conn *c, const struct proto_cmd *cmd)
{
    struct lchan *lc = lchan_get(c->shard, cmd->channel, cmd->channel_len, false);
    int slot = find_sub(c, lc);

    if (slot >= 0) {
        remove_sub(c, (uint32_t)slot);
    }
    reply_empty(c, cmd->id);
}

/* ---- publish, history ---- */

static bool
take_token(struct conn *c)
{
    const struct config *cfg = c->shard->node->cfg;
    uint64_t now;

    if (cfg->publish_rate == 0) {
        return true;
    }
    now = now_ms();
    c->tokens += (double)(now - c->tokens_ms) * cfg->publish_rate / 1000.0;
    c->tokens_ms = now;
    if (c->tokens > cfg->publish_burst) {
        c->tokens = cfg->publish_burst;
    }
    if (c->tokens < 1.0) {
        return false;
    }
    c->tokens -= 1.0;
    return true;
}

static void
publish_answer(struct conn *c, uint64_t id, int err, const char *message, const char *epoch,
               uint64_t offset)
{
    if (c->http) {
        http_publish_answer(c, err, message, epoch, offset);
    } else if (err < 0) {
        reply_error(c, id, err, message);
    } else {
        reply_pos(c, id, epoch, offset, -1);
    }
}

void
conn_publish(struct conn *c, const struct proto_cmd *cmd)
{
    struct shard *s = c->shard;
    unsigned home = node_home_of(s->node, cmd->channel, cmd->channel_len);
    char epoch[PROTO_EPOCH_MAX + 1];
    uint64_t offset;
    struct msg *m;

    if (cmd->durable) {
        publish_answer(c, cmd->id, OH_EUNAVAIL,
                       "durable publish needs storage, which this node does not have yet", NULL, 0);
        return;
    }
    if (!take_token(c)) {
        publish_answer(c, cmd->id, OH_ERATE, "publish rate limit exceeded", NULL, 0);
        return;
    }
    if (home == s->id) {
        home_publish(s, cmd->channel, cmd->channel_len, cmd->data, cmd->data_len, epoch, &offset);
        publish_answer(c, cmd->id, 0, NULL, epoch, offset);
        return;
    }
    if (c->pending >= s->node->cfg->max_pending_requests) {
        publish_answer(c, cmd->id, OH_ERATE,
                       "too many requests in flight on this connection, retry after the replies",
                       NULL, 0);
        return;
    }
    m = request_new(c, MSG_PUBLISH, cmd);
    m->data = xstrndup(cmd->data, cmd->data_len);
    m->data_len = cmd->data_len;
    shard_post(&s->node->shards[home], m);
}

void
conn_on_publish_ack(struct shard *s, struct msg *m)
{
    struct conn *c = conn_find(s, m->conn_id);

    if (c == NULL) {
        return; /* gone; the publication itself stands */
    }
    c->pending--;
    publish_answer(c, m->req_id, m->err, m->err < 0 ? oh_strerror(m->err) : NULL, m->epoch,
                   m->offset);
}

static void
cmd_history(struct conn *c, const struct proto_cmd *cmd)
{
    struct shard *s = c->shard;
    unsigned home = node_home_of(s->node, cmd->channel, cmd->channel_len);

    if (home == s->id) {
        sb_reset(&s->scratch);
        home_history(s, cmd->channel, cmd->channel_len, &cmd->since, cmd->limit, cmd->id,
                     s->node->cfg->max_queue_size / 2, &s->scratch);
        reply_scratch(c);
        return;
    }
    if (can_send_request(c, cmd->id)) {
        shard_post(&s->node->shards[home], request_new(c, MSG_HISTORY, cmd));
    }
}

void
conn_on_frame(struct shard *s, struct msg *m)
{
    struct conn *c = conn_find(s, m->conn_id);

    if (c != NULL) {
        c->pending--;
        conn_enqueue(c, m->pub);
    }
}

/* ---- receive ---- */

static void
handle_message(struct conn *c, const char *buf, size_t len)
{
    struct shard *s = c->shard;
    struct proto_cmd cmd;
    int rc;

    atomic_fetch_add_explicit(&s->m.messages_in, 1, memory_order_relaxed);
    rc = proto_parse_command(buf, len, &s->node->lim, &cmd);
    if (rc < 0) {
        atomic_fetch_add_explicit(&s->m.protocol_errors, 1, memory_order_relaxed);
        conn_log(c, LOG_DEBUG, "bad command: %s", cmd.errmsg);
        reply_error(c, cmd.id, rc, cmd.errmsg);
        return;
    }
    switch (cmd.type) {
    case PROTO_SUBSCRIBE:
        cmd_subscribe(c, &cmd);
        break;
    case PROTO_UNSUBSCRIBE:
        cmd_unsubscribe(c, &cmd);
        break;
    case PROTO_PUBLISH:
        conn_publish(c, &cmd);
        break;
    case PROTO_HISTORY:
        cmd_history(c, &cmd);
        break;
    case PROTO_PING:
        reply_empty(c, cmd.id);
        break;
    }
}

/* Closes from inside a receive callback: lws sends the close frame. */
static int
close_now(struct conn *c, unsigned code, const char *reason)
{
    atomic_fetch_add_explicit(&c->shard->m.protocol_errors, 1, memory_order_relaxed);
    conn_log(c, LOG_INFO, "closing code=%u reason=\"%s\"", code, reason);
    lws_close_reason(c->wsi, (enum lws_close_status)code, (unsigned char *)reason, strlen(reason));
    return -1;
}

/*
 * lws hands a message over in pieces: a message larger than the receive
 * buffer, or one that straddles it, arrives in several calls. Whole small
 * messages are parsed in place; others are reassembled in c->rx.
 */
static int
on_receive(struct conn *c, const char *in, size_t len)
{
    size_t limit = c->shard->node->cfg->max_message_size;
    size_t remaining = lws_remaining_packet_payload(c->wsi);
    bool final = lws_is_final_fragment(c->wsi) && remaining == 0;

    c->last_rx_ms = now_ms();
    if (c->close_code) {
        return 0; /* closing: the rest is ignored */
    }
    if (lws_frame_is_binary(c->wsi)) {
        return close_now(c, 1003, "binary frames are not supported");
    }
    /* RFC 6455 7.4.1: 1009 for a message too big to process. */
    if (c->rxlen + len + remaining > limit) {
        return close_now(c, 1009, "message too big");
    }
    if (final && c->rxlen == 0) {
        handle_message(c, in, len);
        return 0;
    }
    if (c->rxlen + len > c->rxcap) {
        c->rxcap = c->rxlen + len + remaining;
        c->rx = xrealloc(c->rx, c->rxcap);
    }
    memcpy(c->rx + c->rxlen, in, len);
    c->rxlen += len;
    if (final) {
        handle_message(c, c->rx, c->rxlen);
        c->rxlen = 0;
        /* Keep memory per idle connection small after a large message. */
        if (c->rxcap > 4096) {
            free(c->rx);
            c->rx = NULL;
            c->rxcap = 0;
        }
    }
    return 0;
}

/* ---- timers and drain ---- */

void
conn_sweep(struct shard *s, uint64_t now)
{
    const struct config *cfg = s->node->cfg;
    /* FIN + ping with a 1-byte payload: lws 4.1 reports no pong with an empty one. */
    static const unsigned char ping[3] = {0x89, 0x01, 0x6f};
    struct pub *p = NULL;
    struct conn *c, *tmp;

    HASH_ITER(hh, s->conns, c, tmp)
    {
        uint64_t quiet = now - c->last_rx_ms;

        if (c->http || c->close_code) {
            continue;
        }
        if (quiet > cfg->idle_timeout_ms) {
            conn_log(c, LOG_INFO, "idle timeout");
            conn_close(c, 4002, "idle or ping timeout", false);
        } else if (quiet > cfg->ping_interval_ms && c->last_ping_ms <= c->last_rx_ms) {
            /* Any frame from the peer, a pong included, counts as life. */
            if (p == NULL) {
                p = pub_raw(ping, sizeof(ping));
            }
            conn_enqueue(c, p);
            c->last_ping_ms = now;
        }
    }
    pub_unref(p);
}

void
conn_drain_all(struct shard *s)
{
    struct conn *c, *tmp;
    char reason[48];

    HASH_ITER(hh, s->conns, c, tmp)
    {
        if (c->http) {
            continue;
        }
        /* Jittered, so a node's clients do not all come back at once. */
        snprintf(reason, sizeof(reason), "retry_after_ms=%u",
                 1000 + (unsigned)((c->id * 2654435761u + now_ms()) % 4000));
        conn_close(c, 4003, reason, true);
    }
}

/* ---- the lws protocol callback ---- */

static int
ws_callback(struct shard *s, struct lws *wsi, enum lws_callback_reasons reason, struct psd *psd,
            void *in, size_t len)
{
    struct conn *c = psd ? psd->c : NULL;

    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        psd->c = conn_new(s, wsi, false);
        http_upgrade_done(s, wsi, true); /* its slot in ws_conns was taken at the upgrade */
        atomic_fetch_add_explicit(&s->m.connections, 1, memory_order_relaxed);
        conn_log(psd->c, LOG_DEBUG, "connected");
        return 0;
    case LWS_CALLBACK_RECEIVE:
        return c ? on_receive(c, in, len) : -1;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (c) {
            c->last_rx_ms = now_ms();
        }
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* Our close frame already went out: do not send a second one. */
        return c && c->close_code ? -1 : 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c ? conn_writeable(c) : -1;
    case LWS_CALLBACK_CLOSED:
        if (c) {
            conn_log(c, LOG_DEBUG, "closed");
            conn_free(c);
            psd->c = NULL;
            atomic_fetch_sub_explicit(&s->node->ws_conns, 1, memory_order_relaxed);
            atomic_fetch_sub_explicit(&s->m.connections, 1, memory_order_relaxed);
        }
        return 0;
    default:
        return 0;
    }
}

int
conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    struct shard *s = lws_context_user(lws_get_context(wsi));
    struct psd *psd = user;

    switch (reason) {
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        return http_confirm_upgrade(s, wsi);
    case LWS_CALLBACK_HTTP:
        return http_request(s, wsi, psd, in);
    case LWS_CALLBACK_HTTP_BODY:
        return http_body(s, psd, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return http_body_done(s, wsi, psd);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return http_writeable(s, wsi, psd);
    case LWS_CALLBACK_WSI_DESTROY:
        http_upgrade_done(s, wsi, false); /* an upgrade that never completed */
        return 0;
    case LWS_CALLBACK_CLOSED_HTTP:
        http_upgrade_done(s, wsi, false);
        /* fall through */
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (psd != NULL && psd->c != NULL && psd->c->http) {
            conn_free(psd->c);
            psd->c = NULL;
        }
        return 0;
    default:
        return ws_callback(s, wsi, reason, psd, in, len);
    }
}

struct conn *
conn_new_http(struct shard *s, struct lws *wsi)
{
    return conn_new(s, wsi, true);
}
