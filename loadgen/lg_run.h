/*
 * The worker side of omnihub-loadgen: subscribers (lg_sub.c), publishers
 * (lg_pub.c) and the threads that run them (lg_run.c). Everything in a
 * struct lg_thread is owned by that thread unless marked otherwise.
 */
#ifndef OH_LG_RUN_H
#define OH_LG_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hdr.h"
#include "loadgen.h"
#include "proto.h"
#include "strbuf.h"

struct event_base;
struct event;
struct evhttp_connection;
struct wsc;

enum lg_phase { P_CONNECT, P_PUBLISH, P_DRAIN, P_STOP };

/* One subscription of a subscriber: where it stands in its channel. */
struct lg_slot {
    uint32_t ch; /* channel index, LG_EXTRA_CH for --extra-channel */
    bool has_pos;
    bool recovering; /* resubscribed with since, recovered pushes still due */
    uint8_t epoch_len;
    char epoch[PROTO_EPOCH_MAX + 1];
    uint64_t last_off;   /* offset of the last push taken, or of the subscribe reply */
    uint64_t recover_to; /* the resubscribe reply's offset */
};

enum lg_sub_state { S_IDLE, S_CONNECTING, S_SUBSCRIBING, S_READY, S_CHURNING, S_FAILED, S_DONE };

struct lg_sub {
    struct wsc *ws;
    struct lg_thread *th;
    uint32_t g; /* index over all shards */
    uint8_t state;
    bool slow;
    bool was_ready;   /* counted in ready once */
    bool open;        /* counted in connected */
    unsigned pending; /* subscribe replies awaited */
    unsigned n_slots;
    struct lg_slot slots[];
};

struct lg_pub {
    struct lg_thread *th;
    unsigned j; /* publisher index: sends the publications s with s % P == j */
    const struct lg_target *tgt;
    struct wsc *ws;                 /* --via ws */
    struct evhttp_connection *http; /* --via http */
    uint64_t next_s;                /* next regular publication */
    uint64_t next_e;                /* next extra-channel publication (publisher 0) */
    uint64_t next_id;
    bool open;
    struct strbuf cmd; /* scratch, reused */
};

struct lg_run_state;

struct lg_thread {
    struct lg_run_state *run;
    unsigned idx;
    pthread_t tid;
    struct event_base *base;
    struct event *tick;
    struct event *pub_timer;
    bool pub_timer_on;
    bool publishing; /* P_PUBLISH seen */
    struct lg_sub **subs;
    unsigned n_subs;
    unsigned next_connect;
    int64_t connect_t0; /* monotonic ns */
    struct lg_pub *pubs;
    unsigned n_pubs;
    double churn_due;
    int64_t churn_last; /* monotonic ns */
    unsigned churn_cursor;
    int64_t stop_t; /* monotonic ns when P_STOP was seen, 0 before */
    bool closing;
    double lag_max_ms;    /* read by main after join */
    struct lg_counters c; /* atomic: read by main */
    pthread_mutex_t hlock;
    struct hdr ihist; /* guarded by hlock: latencies since main last took them */
};

struct lg_run_state {
    const struct lg_opts *o;
    atomic_int phase;
    atomic_int_fast64_t t0; /* realtime ns the first publication is due, 0 before */
    struct lg_thread *th;
    unsigned n_th;     /* n_sub_th, plus one for the publishers in shard 0 */
    unsigned n_sub_th; /* threads with subscribers (--threads) */
    uint64_t n_pub;    /* regular publications over the run */
    uint64_t n_extra;  /* extra-channel publications */
    char *pad;         /* o->size bytes of 'x' */
};

/* lg_sub.c */
struct lg_sub *lg_sub_new(struct lg_thread *th, uint32_t g);
void lg_sub_free(struct lg_sub *s);
/* Starts (or restarts) connecting; counts a failure when it cannot start. */
void lg_sub_connect(struct lg_sub *s);
/* Closes and reopens a ready fast subscriber (churn). false when not eligible. */
bool lg_sub_churn(struct lg_sub *s);
/* Expected deliveries of s over the run: 0 for a slow subscriber. */
uint64_t lg_sub_expected(const struct lg_sub *s);
/* Counts a connect failure by cause. */
void lg_count_connect_fail(struct lg_thread *th, int err, int sys_errno);

/* lg_pub.c */
void lg_pub_init(struct lg_pub *p, struct lg_thread *th, unsigned j);
void lg_pub_start(struct lg_pub *p);
void lg_pub_close(struct lg_pub *p);
void lg_pub_free(struct lg_pub *p);
/* Sends every due publication of the thread's publishers; returns the
 * realtime ns of the next due one, or 0 when all were sent. */
int64_t lg_pub_send_due(struct lg_thread *th, int64_t now);

#endif
