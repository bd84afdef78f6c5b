/*
 * A shard: one thread with one libuv loop carrying one libwebsockets context,
 * its own SO_REUSEPORT listening socket, its connections, the local
 * subscription table (channel -> local subscribers) and the channels whose
 * home it is. Nothing in a shard is touched by another thread except its
 * mailbox and its metrics (atomics).
 */
#ifndef OH_SHARD_H
#define OH_SHARD_H

#include <libwebsockets.h>
#include <pthread.h>
#include <stdatomic.h>
#include <uv.h>

#include "mailbox.h"
#include "node.h"
#include "proto.h"
#include "strbuf.h"

struct conn;
struct hchan;
struct lchan;
struct pub;

/* Counters other threads read for /metrics: atomics, relaxed. */
struct shard_metrics {
    atomic_long connections;
    atomic_long subscriptions;
    atomic_long channels;
    atomic_long publications;
    atomic_long deliveries;
    atomic_long slow_closes;
    atomic_long queue_bytes;
    atomic_long queue_bytes_max;
    atomic_long protocol_errors;
    atomic_long rejected;
    atomic_long bytes_out;
    atomic_long messages_in;
};

enum msg_type {
    MSG_PUBLISH = 1, /* origin -> home: assign an offset */
    MSG_PUBLISH_ACK, /* home -> origin: (epoch, offset) or err */
    MSG_DELIVER,     /* home -> interested shard: a sequenced publication */
    MSG_SUBSCRIBE,   /* origin -> home: register interest, maybe replay */
    MSG_SUB_ACK,     /* home -> origin: position, recovered, replay */
    MSG_UNINTEREST,  /* origin -> home: no local subscriber left */
    MSG_HISTORY,     /* origin -> home: a history request */
    MSG_FRAME,       /* home -> origin: a reply frame for one connection */
    MSG_STOP,        /* main -> shard: drain and stop */
};

/* A message between threads. Ownership of everything in it travels with it. */
struct msg {
    struct mb_node node;
    enum msg_type type;
    unsigned from;    /* sender shard */
    uint64_t conn_id; /* origin connection, 0 when none */
    uint64_t req_id;  /* the client's command id */
    int err;          /* ACKs: 0 or a negative oh_error */
    bool http;        /* PUBLISH: reply as HTTP */
    bool dup;         /* SUBSCRIBE: already pending here, only a reply is wanted */
    int recovered;    /* SUB_ACK: -1 no since, 0, 1 */
    char epoch[PROTO_EPOCH_MAX + 1];
    uint64_t offset;
    struct proto_pos since;
    unsigned limit;
    struct pub *pub;   /* DELIVER, FRAME: one reference */
    struct pub **pubs; /* SUB_ACK: replay, one reference each */
    size_t npubs;
    char *data; /* PUBLISH: a copy of the data bytes */
    size_t data_len;
    size_t channel_len;
    char channel[]; /* NUL-terminated */
};

/* Messages a shard has posted to one other shard during this loop iteration. */
struct outbox {
    struct mb_node *head;
    struct mb_node *tail;
};

struct shard {
    unsigned id;
    struct node *node;
    pthread_t thread;
    uv_loop_t loop;
    uv_poll_t mb_poll;
    uv_poll_t listen_poll;
    uv_timer_t tick;
    uv_timer_t accept_pause;
    uv_check_t flush;      /* after each poll: conn_flush_dirty(), outboxes */
    uv_prepare_t preflush; /* before each poll: outboxes filled by timers */
    struct outbox *outbox; /* nshards: batched posts, sent once per iteration */
    bool listening;
    int listen_fd;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    struct mailbox mb;

    struct hchan *homes;      /* uthash by name: channels this shard is home of */
    struct lchan *locals;     /* uthash by name: channels with local subscribers */
    struct conn *conns;       /* uthash by id: WebSocket and HTTP publish connections */
    struct upgrade *upgrades; /* uthash by wsi: upgrades holding a connection slot */
    struct conn *dirty;       /* utlist: connections with frames to flush this iteration */
    uint64_t next_conn_id;
    uint64_t next_epoch;

    struct strbuf scratch; /* encoding scratch, reused */
    unsigned char *wbuf;   /* LWS_PRE + wbuf_size: coalescing buffer for writes */
    size_t wbuf_size;

    uint64_t last_sweep_ms;
    bool stopping;
    uint64_t stop_deadline_ms;
    struct shard_metrics m;
};

/* Creates the listening socket(s) before threads start: shard 0 binds (port 0 picks
 * one, stored in node->port), the others reuse that port. 0 or OH_ESYS (logged). */
int shard_listen(struct shard *s, const struct node *n);

/* Initialises and starts the shard's thread. 0 or a negative oh_error (logged). */
int shard_start(struct shard *s);

/*
 * Posts msg to shard s; msg is owned by s from now on. Any thread. From a
 * shard thread the message waits in that shard's outbox until the end of
 * the loop iteration, so a burst costs one lock and one wake-up per
 * destination instead of one per message; order per destination is kept.
 */
void shard_post(struct shard *s, struct msg *m);

/* Allocates a zeroed msg with room for a channel name (copied). */
struct msg *msg_new(enum msg_type type, const char *channel, size_t channel_len);

/* Frees m and the references it still holds. */
void msg_free(struct msg *m);

/* Joins a shard's thread. Main thread. */
void shard_join(struct shard *s);

/* Frees what a joined shard owns, messages still in its mailbox included.
 * Main thread, after every shard was joined. */
void shard_free(struct shard *s);

#endif
