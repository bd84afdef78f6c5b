/*
 * omnihub-loadgen internals shared by its files: options (lg_opts.c), the
 * worker threads (lg_run.c), reports (lg_report.c, lg_merge.c) and main
 * (loadgen.c). Not a library: nothing outside loadgen/ includes this.
 */
#ifndef OH_LOADGEN_H
#define OH_LOADGEN_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hdr.h"

#define LG_MAX_URLS   16
#define LG_MAX_SRC    256
#define LG_EXTRA_CH   UINT32_MAX /* slot channel index of --extra-channel */
#define LG_CLOSE_MS   2000       /* bound of one closing handshake */
#define LG_CONNECT_MS 10000      /* bound of connect + upgrade */

struct lg_target {
    struct sockaddr_in addr;
    char host[80]; /* Host header */
    char path[128];
};

struct lg_opts {
    const char *urls[LG_MAX_URLS];
    struct lg_target targets[LG_MAX_URLS];
    unsigned n_targets;
    unsigned subscribers;
    unsigned channels;
    unsigned channels_per_sub;
    const char *extra_channel; /* NULL when none */
    double extra_rate;         /* publications/s on the extra channel */
    const char *prefix;        /* channel names are PREFIX:K */
    struct in_addr src[LG_MAX_SRC];
    unsigned n_src;
    double connect_rate;
    unsigned publishers;
    double rate;
    unsigned size;
    double duration;
    double warmup;
    double drain;           /* max seconds to wait for deliveries after the last publication */
    double connect_timeout; /* max seconds for every subscriber to be subscribed */
    bool via_http;
    const char *api_key;
    unsigned threads;
    double churn;
    unsigned slow_n; /* resolved count over all shards */
    double slow_pct; /* as given, < 0 when given as a count */
    unsigned shard_i;
    unsigned shard_n;
    double start_at; /* UNIX time, 0 when not given */
    const char *json;
    const char *plot;
    int daemon_pid; /* 0: none; else its CPU time is reported */
};

/* Parses argv (after the program name) into o. Prints the reason and returns
 * -1 on a bad option, 1 after printing --help, 0 to run. */
int lg_opts_parse(struct lg_opts *o, int argc, char **argv);

/* Prints the help text to f. */
void lg_opts_usage(FILE *f);

/* Publications sent over the whole run (all shards) to channel ch. */
uint64_t lg_pubs_on_channel(const struct lg_opts *o, uint32_t ch);

/* Channel of slot j of subscriber g, and whether g is a slow subscriber. */
uint32_t lg_sub_channel(const struct lg_opts *o, uint32_t g, unsigned j);
bool lg_sub_is_slow(const struct lg_opts *o, uint32_t g);

/* Connect failure causes, as counted and reported. */
enum lg_cause {
    LG_C_REFUSED,
    LG_C_TIMEOUT,
    LG_C_ADDR,      /* EADDRNOTAVAIL / EADDRINUSE: out of ports */
    LG_C_FDS,       /* EMFILE / ENFILE */
    LG_C_HANDSHAKE, /* not 101, e.g. 503 beyond max_connections */
    LG_C_CLOSED,    /* reset or EOF before the upgrade */
    LG_C_OTHER,
    LG_C_COUNT,
};

extern const char *const lg_cause_names[LG_C_COUNT];

/* Counters of one worker thread. Written by it (relaxed atomics), read by main. */
struct lg_counters {
    atomic_uint_fast64_t connected; /* open subscriber connections now */
    atomic_uint_fast64_t ready;     /* subscribers with every subscription confirmed (first time) */
    atomic_uint_fast64_t failed;    /* subscribers that gave up connecting */
    atomic_uint_fast64_t connect_fail[LG_C_COUNT];
    atomic_uint_fast64_t published; /* publications sent */
    atomic_uint_fast64_t pub_done;  /* scheduled publications handled (sent or not) */
    atomic_uint_fast64_t pub_acked;
    atomic_uint_fast64_t pub_errors;
    atomic_uint_fast64_t delivered; /* in-order pushes to fast subscribers */
    atomic_uint_fast64_t gaps;
    atomic_uint_fast64_t missing; /* offsets skipped by gaps */
    atomic_uint_fast64_t duplicates;
    atomic_uint_fast64_t reordered;
    atomic_uint_fast64_t misrouted; /* payload sequence not of this channel */
    atomic_uint_fast64_t epoch_changes;
    atomic_uint_fast64_t sub_errors; /* error replies to subscribe */
    atomic_uint_fast64_t recoveries;
    atomic_uint_fast64_t recoveries_inexact;
    atomic_uint_fast64_t reconnects;        /* churn and unexpected closes */
    atomic_uint_fast64_t unexpected_closes; /* of fast subscribers, by the server */
    atomic_uint_fast64_t slow_closed_4001;
    atomic_uint_fast64_t pubs_open;  /* publishers connected */
    atomic_uint_fast64_t open_conns; /* every wsc not idle (subscribers and publishers) */
};

/* One summed report: from a run (lg_report_from_run) or from files (merge). */
struct lg_sample {
    double t; /* seconds since the first publication was due */
    uint64_t connected, sent, delivered, errors;
    uint64_t p50_us, p99_us;
};

struct lg_report {
    uint64_t published, pub_acked, pub_errors, delivered, expected, lost;
    uint64_t gaps, missing, duplicates, reordered, misrouted, epoch_changes, sub_errors;
    uint64_t recoveries, recoveries_inexact, reconnects, unexpected_closes;
    uint64_t subscribers, slow_subscribers, slow_closed_4001, ready, failed;
    uint64_t connect_fail[LG_C_COUNT];
    double connect_s; /* time until every subscriber was subscribed */
    double publish_s; /* length of the publishing phase */
    double publisher_lag_max_ms;
    double cpu_user_s, cpu_sys_s;
    double daemon_cpu_s; /* < 0 when not measured */
    unsigned processes;
    struct hdr hist;
    struct lg_sample *series;
    unsigned n_series, cap_series;
    char cpu_model[128];
    unsigned cores;
    char kernel[160];
    char *params_json; /* owned, a JSON object */
};

/* Appends one sample to r->series. */
void lg_report_add_sample(struct lg_report *r, const struct lg_sample *s);

/* Fills the machine fields. */
void lg_report_machine(struct lg_report *r);

/* Builds r->params_json from o. */
void lg_report_params(struct lg_report *r, const struct lg_opts *o);

/* Writes the JSON report to path. 0 or -1 (reason printed). */
int lg_report_write_json(const struct lg_report *r, const char *path);

/* Prints the human summary. */
void lg_report_print(const struct lg_report *r, FILE *f);

/* Draws delivered/s and latency percentiles with gnuplot into png (warns when absent). */
void lg_report_plot(const struct lg_report *r, const char *png);

/* 0 when nothing was lost, duplicated, reordered or misrouted and every recovery
 * was exact; 1 otherwise. */
int lg_report_verdict(const struct lg_report *r);

/* Frees what r owns. */
void lg_report_free(struct lg_report *r);

/* omnihub-loadgen merge A.json B.json ... -o OUT.json. Returns the exit code. */
int lg_merge_main(int argc, char **argv);

/* Runs the load described by o and fills r. Returns 0, or -1 on a setup failure. */
int lg_run(const struct lg_opts *o, struct lg_report *r);

/* Realtime and monotonic clocks in nanoseconds. */
int64_t lg_now_real(void);
int64_t lg_now_mono(void);

#endif
