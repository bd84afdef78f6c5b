/* Worker threads (one event loop each) and the main thread's control loop. */
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "lg_run.h"
#include "wsclient.h"
#include "xalloc.h"

#define TICK_MS        10
#define CLOSE_AFTER_NS 1000000000LL /* slow subscribers get 1 s to read up to the close code */
#define STOP_MAX_NS    (CLOSE_AFTER_NS + 3000000000LL)
#define LOAD(x)        atomic_load_explicit(&(x), memory_order_relaxed)

static volatile sig_atomic_t interrupted;

int64_t
lg_now_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t
lg_now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
on_pub_timer(evutil_socket_t fd, short what, void *arg)
{
    struct lg_thread *th = arg;
    int64_t now = lg_now_real(), next;

    (void)fd;
    (void)what;
    next = lg_pub_send_due(th, now);
    if (next == 0) {
        th->pub_timer_on = false;
        return;
    }
    now = lg_now_real();
    int64_t wait = next > now ? next - now : 0;
    struct timeval tv = {(time_t)(wait / 1000000000LL), (suseconds_t)(wait % 1000000000LL) / 1000};
    evtimer_add(th->pub_timer, &tv);
}

/* Opens the connections due by --connect-rate (split over the threads). */
static void
connect_due(struct lg_thread *th, int64_t now)
{
    const struct lg_opts *o = th->run->o;
    double rate = o->connect_rate / th->run->n_sub_th;
    double due = (double)(now - th->connect_t0) / 1e9 * rate + 1;

    for (; th->next_connect < th->n_subs && th->next_connect < due; th->next_connect++) {
        lg_sub_connect(th->subs[th->next_connect]);
    }
}

static void
churn_due(struct lg_thread *th, int64_t now)
{
    unsigned tries = 0;

    th->churn_due += (double)(now - th->churn_last) / 1e9 * th->run->o->churn / th->run->n_sub_th;
    th->churn_last = now;
    /* A late tick (the loop was busy) is owed its churn, up to 100 ms of it;
     * more is time before the first publication, which is not owed. */
    if (th->churn_due > 1 + th->run->o->churn / th->run->n_sub_th * 0.1) {
        th->churn_due = 1;
    }
    while (th->churn_due >= 1 && th->n_subs > 0 && tries < th->n_subs) {
        struct lg_sub *s = th->subs[th->churn_cursor];
        th->churn_cursor = (th->churn_cursor + 1) % th->n_subs;
        tries++;
        if (lg_sub_churn(s)) {
            th->churn_due -= 1;
        }
    }
    if (th->churn_due > 1) {
        th->churn_due = 1; /* never a burst to catch up: not enough eligible now */
    }
}

/* P_STOP: let slow subscribers read, close publishers; after 1 s close everything. */
static void
stop_step(struct lg_thread *th, int64_t now)
{
    if (th->stop_t == 0) {
        th->stop_t = now;
        if (th->pub_timer_on) {
            evtimer_del(th->pub_timer);
            th->pub_timer_on = false;
        }
        for (unsigned i = 0; i < th->n_subs; i++) {
            if (th->subs[i]->slow) {
                wsc_pause_read(th->subs[i]->ws, false);
            }
        }
        for (unsigned i = 0; i < th->n_pubs; i++) {
            lg_pub_close(&th->pubs[i]);
        }
    }
    if (!th->closing && now - th->stop_t >= CLOSE_AFTER_NS) {
        th->closing = true;
        for (unsigned i = 0; i < th->n_subs; i++) {
            wsc_close(th->subs[i]->ws, 1000, LG_CLOSE_MS);
        }
    }
    if ((th->closing && LOAD(th->c.open_conns) == 0) || now - th->stop_t > STOP_MAX_NS) {
        event_base_loopbreak(th->base);
    }
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct lg_thread *th = arg;
    int phase = atomic_load(&th->run->phase);
    int64_t now = lg_now_mono();

    (void)fd;
    (void)what;
    if (phase == P_STOP) {
        stop_step(th, now);
        return;
    }
    connect_due(th, now);
    if (phase == P_PUBLISH && !th->publishing) {
        th->publishing = true;
        th->churn_last = now;
        if (th->n_pubs > 0) {
            th->pub_timer_on = true;
            on_pub_timer(-1, 0, th);
        }
    }
    if (phase == P_PUBLISH && th->run->o->churn > 0 && lg_now_real() >= atomic_load(&th->run->t0)) {
        churn_due(th, now);
    }
}

static void *
thread_main(void *arg)
{
    struct lg_thread *th = arg;
    struct timeval tv = {0, TICK_MS * 1000};

    th->connect_t0 = lg_now_mono();
    for (unsigned i = 0; i < th->n_pubs; i++) {
        lg_pub_start(&th->pubs[i]);
    }
    event_add(th->tick, &tv);
    event_base_dispatch(th->base);
    return NULL;
}

static void
on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void
thread_init(struct lg_run_state *run, struct lg_thread *th, unsigned idx)
{
    th->run = run;
    th->idx = idx;
    th->base = event_base_new();
    if (th->base == NULL) {
        fprintf(stderr, "omnihub-loadgen: event_base_new failed\n");
        exit(2);
    }
    th->tick = event_new(th->base, -1, EV_PERSIST, on_tick, th);
    th->pub_timer = evtimer_new(th->base, on_pub_timer, th);
    pthread_mutex_init(&th->hlock, NULL);
    hdr_reset(&th->ihist);
}

/* Creates the threads' state, this shard's subscribers and (shard 0) the publishers. */
static uint64_t
setup(struct lg_run_state *run, const struct lg_opts *o, struct lg_report *r)
{
    uint32_t lo = (uint32_t)((uint64_t)o->subscribers * o->shard_i / o->shard_n);
    uint32_t hi = (uint32_t)((uint64_t)o->subscribers * (o->shard_i + 1) / o->shard_n);
    unsigned per = (hi - lo) / o->threads + 1;
    uint64_t expected = 0;

    run->o = o;
    /* Publishers get a loop of their own, so a burst of deliveries never delays a send. */
    run->n_sub_th = o->threads;
    run->n_th = o->threads + (o->shard_i == 0 && o->publishers > 0 ? 1 : 0);
    run->n_pub = (uint64_t)llround(o->rate * o->duration);
    run->n_extra = lg_pubs_on_channel(o, LG_EXTRA_CH);
    run->pad = xmalloc(o->size + 1);
    memset(run->pad, 'x', o->size);
    run->th = xcalloc(run->n_th, sizeof(*run->th));
    for (unsigned t = 0; t < run->n_th; t++) {
        thread_init(run, &run->th[t], t);
        run->th[t].subs = xcalloc(per, sizeof(struct lg_sub *));
        run->th[t].pubs = xcalloc(t < run->n_sub_th ? 1 : o->publishers, sizeof(struct lg_pub));
    }
    for (uint32_t g = lo; g < hi; g++) {
        struct lg_thread *th = &run->th[(g - lo) % run->n_sub_th];
        struct lg_sub *s = lg_sub_new(th, g);
        th->subs[th->n_subs++] = s;
        expected += lg_sub_expected(s);
        r->slow_subscribers += s->slow;
    }
    r->subscribers = hi - lo;
    for (unsigned j = 0; o->shard_i == 0 && j < o->publishers; j++) {
        struct lg_thread *th = &run->th[run->n_th - 1];
        lg_pub_init(&th->pubs[th->n_pubs++], th, j);
    }
    return expected;
}

static void
teardown(struct lg_run_state *run)
{
    for (unsigned t = 0; t < run->n_th; t++) {
        struct lg_thread *th = &run->th[t];
        for (unsigned i = 0; i < th->n_subs; i++) {
            lg_sub_free(th->subs[i]);
        }
        for (unsigned i = 0; i < th->n_pubs; i++) {
            lg_pub_free(&th->pubs[i]);
        }
        free(th->subs);
        free(th->pubs);
        event_free(th->tick);
        event_free(th->pub_timer);
        event_base_free(th->base);
        pthread_mutex_destroy(&th->hlock);
    }
    free(run->th);
    free(run->pad);
}

#define SUM(run, f, out)                                                                           \
    do {                                                                                           \
        (out) = 0;                                                                                 \
        for (unsigned t_ = 0; t_ < (run)->n_th; t_++) {                                            \
            (out) += LOAD((run)->th[t_].c.f);                                                      \
        }                                                                                          \
    } while (0)

/* Sums the threads' counters into r (not the histogram). */
static void
gather(struct lg_run_state *run, struct lg_report *r)
{
    SUM(run, published, r->published);
    SUM(run, pub_acked, r->pub_acked);
    SUM(run, pub_errors, r->pub_errors);
    SUM(run, delivered, r->delivered);
    SUM(run, gaps, r->gaps);
    SUM(run, missing, r->missing);
    SUM(run, duplicates, r->duplicates);
    SUM(run, reordered, r->reordered);
    SUM(run, misrouted, r->misrouted);
    SUM(run, epoch_changes, r->epoch_changes);
    SUM(run, sub_errors, r->sub_errors);
    SUM(run, recoveries, r->recoveries);
    SUM(run, recoveries_inexact, r->recoveries_inexact);
    SUM(run, reconnects, r->reconnects);
    SUM(run, unexpected_closes, r->unexpected_closes);
    SUM(run, slow_closed_4001, r->slow_closed_4001);
    SUM(run, ready, r->ready);
    SUM(run, failed, r->failed);
    for (unsigned c = 0; c < LG_C_COUNT; c++) {
        SUM(run, connect_fail[c], r->connect_fail[c]);
    }
    r->lost = r->expected > r->delivered ? r->expected - r->delivered : 0;
}

/* Moves the latencies the threads recorded since the last call into into. */
static void
take_hist(struct lg_run_state *run, struct hdr *into)
{
    for (unsigned t = 0; t < run->n_th; t++) {
        struct lg_thread *th = &run->th[t];
        pthread_mutex_lock(&th->hlock);
        hdr_merge(into, &th->ihist);
        hdr_reset(&th->ihist);
        pthread_mutex_unlock(&th->hlock);
    }
}

static uint64_t
errors_of(const struct lg_report *r)
{
    uint64_t e = r->pub_errors + r->sub_errors + r->unexpected_closes + r->gaps + r->duplicates +
                 r->reordered + r->misrouted + r->recoveries_inexact;

    for (unsigned c = 0; c < LG_C_COUNT; c++) {
        e += r->connect_fail[c];
    }
    return e;
}

struct ctl {
    int64_t start;       /* monotonic ns */
    int64_t next_sample; /* monotonic ns */
    int64_t drain_start; /* monotonic ns, 0 before P_DRAIN */
    uint64_t prev_sent, prev_delivered;
    uint64_t local_pubs; /* publications this process sends */
    struct hdr sec;
};

/* One progress line, and one series sample once publishing has started. */
static void
sample(struct lg_run_state *run, struct lg_report *r, struct ctl *k)
{
    int64_t t0 = atomic_load(&run->t0);
    struct lg_sample s = {0};
    uint64_t conn;

    gather(run, r);
    SUM(run, connected, conn);
    hdr_reset(&k->sec);
    take_hist(run, &k->sec);
    hdr_merge(&r->hist, &k->sec);
    s.t = t0 != 0 ? (double)(lg_now_real() - t0) / 1e9 : -1;
    s.connected = conn;
    s.sent = r->published - k->prev_sent;
    s.delivered = r->delivered - k->prev_delivered;
    s.errors = errors_of(r);
    s.p50_us = hdr_percentile(&k->sec, 50);
    s.p99_us = hdr_percentile(&k->sec, 99);
    k->prev_sent = r->published;
    k->prev_delivered = r->delivered;
    if (t0 != 0 && s.t > -1) {
        lg_report_add_sample(r, &s);
    }
    fprintf(stderr,
            "[%6.1fs] conn %" PRIu64 "/%" PRIu64 " ready %" PRIu64 " sent/s %" PRIu64
            " deliv/s %" PRIu64 " p50 %.2fms p99 %.2fms (all: %.2f/%.2f) err %" PRIu64 "\n",
            (double)(lg_now_mono() - k->start) / 1e9, conn, r->subscribers, r->ready, s.sent,
            s.delivered, s.p50_us / 1e3, s.p99_us / 1e3, hdr_percentile(&r->hist, 50) / 1e3,
            hdr_percentile(&r->hist, 99) / 1e3, s.errors);
}

static void
start_publishing(struct lg_run_state *run, struct lg_report *r, struct ctl *k, bool all_ready)
{
    const struct lg_opts *o = run->o;
    int64_t t0;

    if (!all_ready) {
        fprintf(stderr,
                "omnihub-loadgen: warning: publishing with %" PRIu64 " of %" PRIu64
                " subscribers ready\n",
                r->ready, r->subscribers);
    }
    if (o->start_at > 0) {
        t0 = (int64_t)(o->start_at * 1e9) + (int64_t)(o->warmup * 1e9);
    } else {
        t0 = lg_now_real() + (int64_t)(o->warmup * 1e9);
    }
    r->connect_s = (double)(lg_now_mono() - k->start) / 1e9;
    atomic_store(&run->t0, t0);
    atomic_store(&run->phase, P_PUBLISH);
}

/* Moves the run from phase to phase. Returns false once P_STOP is set. */
static bool
step(struct lg_run_state *run, struct lg_report *r, struct ctl *k)
{
    const struct lg_opts *o = run->o;
    int phase = atomic_load(&run->phase);
    int64_t now = lg_now_mono(), real = lg_now_real(), t0 = atomic_load(&run->t0);
    uint64_t ready, failed, pubs_open, done, delivered;

    SUM(run, ready, ready);
    SUM(run, failed, failed);
    SUM(run, pubs_open, pubs_open);
    SUM(run, pub_done, done);
    SUM(run, delivered, delivered);
    if (phase == P_CONNECT) {
        bool all =
            ready + failed >= r->subscribers && pubs_open >= (o->shard_i == 0 ? o->publishers : 0);
        bool late = o->start_at > 0 ? real >= (int64_t)(o->start_at * 1e9)
                                    : now - k->start > (int64_t)(o->connect_timeout * 1e9);
        if (all || late) {
            gather(run, r);
            start_publishing(run, r, k, all);
        }
    } else if (phase == P_PUBLISH) {
        int64_t end = t0 + (int64_t)(o->duration * 1e9);
        if ((real >= end && done >= k->local_pubs) ||
            real >= end + (int64_t)((o->drain + 5) * 1e9)) {
            r->publish_s = (double)(real - t0) / 1e9;
            k->drain_start = now;
            atomic_store(&run->phase, P_DRAIN);
        }
    } else if (phase == P_DRAIN) {
        if (delivered >= r->expected || now - k->drain_start >= (int64_t)(o->drain * 1e9)) {
            atomic_store(&run->phase, P_STOP);
            return false;
        }
    }
    return phase != P_STOP;
}

static void
control_loop(struct lg_run_state *run, struct lg_report *r, struct ctl *k)
{
    const struct lg_opts *o = run->o;
    double wait_start = o->start_at > 0 ? o->start_at - (double)lg_now_real() / 1e9 : 0;
    double budget = o->connect_timeout + (wait_start > 0 ? wait_start : 0) + o->warmup +
                    o->duration + o->drain + 30;
    int64_t deadline = k->start + (int64_t)(budget * 1e9);
    struct timespec nap = {0, 20 * 1000000L};

    for (long i = 0; i < 100000000L; i++) {
        nanosleep(&nap, NULL);
        if (interrupted) {
            fprintf(stderr, "omnihub-loadgen: interrupted, stopping\n");
            break;
        }
        if (!step(run, r, k) || lg_now_mono() > deadline) {
            break;
        }
        if (lg_now_mono() >= k->next_sample) {
            sample(run, r, k);
            k->next_sample += 1000000000LL;
        }
    }
    atomic_store(&run->phase, P_STOP);
}

/* CPU seconds (user + system) used so far by process pid, < 0 when unreadable. */
static double
proc_cpu_s(int pid)
{
    char path[64], buf[1024], *p;
    unsigned long ut = 0, st = 0;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void
raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void
finish_report(struct lg_run_state *run, struct lg_report *r)
{
    struct rusage ru;

    gather(run, r);
    take_hist(run, &r->hist);
    for (unsigned t = 0; t < run->n_th; t++) {
        if (run->th[t].lag_max_ms > r->publisher_lag_max_ms) {
            r->publisher_lag_max_ms = run->th[t].lag_max_ms;
        }
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        r->cpu_user_s = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
        r->cpu_sys_s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    }
}

int
lg_run(const struct lg_opts *o, struct lg_report *r)
{
    struct lg_run_state run = {0};
    struct ctl k = {0};
    double dcpu0 = o->daemon_pid > 0 ? proc_cpu_s(o->daemon_pid) : -1;

    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    raise_fd_limit();
    r->expected = setup(&run, o, r);
    r->processes = 1;
    k.start = lg_now_mono();
    k.next_sample = k.start + 1000000000LL;
    k.local_pubs = o->shard_i == 0 ? run.n_pub + run.n_extra : 0;
    for (unsigned t = 0; t < run.n_th; t++) {
        if (pthread_create(&run.th[t].tid, NULL, thread_main, &run.th[t]) != 0) {
            fprintf(stderr, "omnihub-loadgen: pthread_create failed\n");
            exit(2);
        }
    }
    control_loop(&run, r, &k);
    for (unsigned t = 0; t < run.n_th; t++) {
        pthread_join(run.th[t].tid, NULL);
    }
    finish_report(&run, r);
    r->daemon_cpu_s = -1;
    if (dcpu0 >= 0) {
        double d1 = proc_cpu_s(o->daemon_pid);
        r->daemon_cpu_s = d1 >= 0 ? d1 - dcpu0 : -1;
    }
    teardown(&run);
    return interrupted ? -1 : 0;
}
