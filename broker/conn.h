/*
 * A client connection on a shard: a WebSocket subscriber/publisher, or an
 * HTTP request to /api/publish waiting for its answer. Owned by its shard's
 * thread; found by id (shard->conns) when an answer comes back from a home.
 */
#ifndef OH_CONN_H
#define OH_CONN_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>
#include <uthash.h>

struct lchan;
struct msg;
struct pub;
struct shard;

/* One of the connection's subscriptions. */
struct csub {
    struct lchan *lc;
    uint32_t idx;         /* index in lc->subs */
    uint64_t pending_req; /* id of the subscribe awaiting its home's answer, 0 when active */
};

struct conn {
    UT_hash_handle hh;
    uint64_t id;
    struct lws *wsi;
    struct shard *shard;
    bool http;      /* an HTTP publish, not a WebSocket */
    bool http_busy; /* HTTP: a request is being answered */

    /* Outgoing queue: a ring of frames, each holding one reference. */
    struct pub **q;
    uint32_t qcap;
    uint32_t qhead;
    uint32_t qcount;
    uint32_t head_off;  /* bytes of q[qhead] already written */
    size_t qbytes;      /* bytes still to write */
    bool dirty;         /* on shard->dirty: frames queued since the last flush */
    struct conn *dprev; /* shard->dirty links (utlist) */
    struct conn *dnext;

    /* Incoming message being reassembled (HTTP: the body). */
    char *rx;
    size_t rxlen;
    size_t rxcap;

    struct csub *subs;
    uint32_t nsubs;
    uint32_t subcap;

    uint32_t pending; /* requests in flight to other shards */
    double tokens;    /* publish token bucket */
    uint64_t tokens_ms;
    uint64_t last_rx_ms;
    uint64_t last_ping_ms;
    unsigned close_code; /* nonzero: close with it once the queue is written */
    char close_reason[64];

    /* HTTP publish: the answer to write when writable. */
    unsigned http_status;
    char *http_body;
    size_t http_body_len;

    char peer[48];
    char logctx[80]; /* "conn=ID peer=ADDR", appended to its log lines */
};

/* The lws protocol callback for HTTP and WebSocket. */
int conn_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

/* Queues a frame (takes a new reference). Closes c with 4001 if its queue is full. */
void conn_enqueue(struct conn *c, struct pub *p);

/* Starts closing c: the queued frames are dropped unless keep, then a close frame
 * with code/reason is sent when writable; killed after a grace time otherwise. */
void conn_close(struct conn *c, unsigned code, const char *reason, bool keep);

/* Creates the connection object of an HTTP publish request. */
struct conn *conn_new_http(struct shard *s, struct lws *wsi);

/*
 * Publishes cmd (PROTO_PUBLISH) from c: at once when this shard is the
 * channel's home, else through the home's mailbox. The answer goes to c as a
 * WebSocket reply or, for an HTTP connection, through http_publish_answer().
 */
struct proto_cmd;
void conn_publish(struct conn *c, const struct proto_cmd *cmd);

/* Answers for requests that went to another shard. */
void conn_on_publish_ack(struct shard *s, struct msg *m);
void conn_on_sub_ack(struct shard *s, struct msg *m);
void conn_on_frame(struct shard *s, struct msg *m);

/*
 * Writes every connection that got frames in this loop iteration, each with
 * one RAW write, without a round trip through POLLOUT (which costs libuv
 * epoll_ctl calls per delivery). Run once per loop iteration (uv_check).
 */
void conn_flush_dirty(struct shard *s);

/* Called every tick (250 ms): pings quiet connections, closes idle ones (4002). */
void conn_sweep(struct shard *s, uint64_t now);

/* Drain: closes every connection with 4003. */
void conn_drain_all(struct shard *s);

/* Logs about c with its context appended. */
void conn_log(const struct conn *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
