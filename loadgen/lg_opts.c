/* omnihub-loadgen options. See loadgen.h. */
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loadgen.h"
#include "wsclient.h"

static const char usage_text[] =
    "usage: omnihub-loadgen [options]\n"
    "       omnihub-loadgen merge A.json B.json ... -o OUT.json\n"
    "\n"
    "Opens subscriber connections, publishes on a fixed schedule (open loop) once every\n"
    "subscriber is subscribed, and checks that each subscriber gets every publication of\n"
    "its channels once and in order. Exits 1 when anything was lost, duplicated,\n"
    "reordered or misrouted, or a recovery was not exact; 2 on a usage error.\n"
    "\n"
    "  --url ws://HOST:PORT/ws     node to load (repeatable; connections are spread)\n"
    "  --subscribers N             subscriber connections (default 100; over all shards)\n"
    "  --channels K                channels PREFIX:0 .. PREFIX:K-1 (default 10)\n"
    "  --channels-per-sub C        channels per subscriber (default 1)\n"
    "  --extra-channel NAME        every subscriber also subscribes NAME\n"
    "  --extra-rate R              publications/s on the extra channel (default 1)\n"
    "  --prefix P                  channel name prefix (default lg)\n"
    "  --source-addrs A-B|A,B,..   local IPv4 addresses to bind (e.g. 127.0.0.2-127.0.0.9)\n"
    "  --connect-rate R            new connections per second (default 2000)\n"
    "  --connect-timeout S         give up waiting for subscriptions after S s (default 60)\n"
    "  --publishers P              publisher connections (default 1)\n"
    "  --rate R                    publications per second over all publishers (default 100)\n"
    "  --size S                    bytes of each publication's data (default 100)\n"
    "  --duration D                seconds of publishing (default 10)\n"
    "  --warmup W                  seconds between 'all subscribed' and publishing (default 1)\n"
    "  --drain S                   max seconds to wait for deliveries at the end (default 5)\n"
    "  --via ws|http               publish over WebSocket or POST /api/publish (default ws)\n"
    "  --api-key KEY               Authorization: Bearer KEY for --via http\n"
    "  --threads T                 event loop threads (default 1)\n"
    "  --churn R                   close and reopen R subscribers per second, resubscribing\n"
    "                              with since; checks every recovery is exact\n"
    "  --slow-subscribers N|P%     subscribers that stop reading once subscribed\n"
    "  --shard i/n                 this process runs slice i (from 0) of n of the subscribers;\n"
    "                              shard 0 alone publishes\n"
    "  --start-at UNIX_TIME        publishing starts at this time (+ warmup) in every shard;\n"
    "                              subscribers must be subscribed by then\n"
    "  --daemon-pid PID            also report the CPU time PID used during the run\n"
    "  --json FILE                 write the JSON report\n"
    "  --plot FILE.png             plot delivered/s and latency (needs gnuplot)\n"
    "  --help                      this text\n"
    "\n"
    "Latency is measured from each publication's scheduled send time to its delivery, so a\n"
    "publisher that falls behind is counted against latency (no coordinated omission).\n";

void
lg_opts_usage(FILE *f)
{
    fputs(usage_text, f);
}

enum {
    O_URL = 256,
    O_SUBS,
    O_CHANNELS,
    O_CPS,
    O_EXTRA,
    O_EXTRA_RATE,
    O_PREFIX,
    O_SRC,
    O_CRATE,
    O_CTIMEOUT,
    O_PUBS,
    O_RATE,
    O_SIZE,
    O_DURATION,
    O_WARMUP,
    O_DRAIN,
    O_VIA,
    O_APIKEY,
    O_THREADS,
    O_CHURN,
    O_SLOW,
    O_SHARD,
    O_START_AT,
    O_JSON,
    O_PLOT,
    O_DPID,
    O_HELP,
};

static const struct option long_opts[] = {
    {"url", required_argument, NULL, O_URL},
    {"subscribers", required_argument, NULL, O_SUBS},
    {"channels", required_argument, NULL, O_CHANNELS},
    {"channels-per-sub", required_argument, NULL, O_CPS},
    {"extra-channel", required_argument, NULL, O_EXTRA},
    {"extra-rate", required_argument, NULL, O_EXTRA_RATE},
    {"prefix", required_argument, NULL, O_PREFIX},
    {"source-addrs", required_argument, NULL, O_SRC},
    {"connect-rate", required_argument, NULL, O_CRATE},
    {"connect-timeout", required_argument, NULL, O_CTIMEOUT},
    {"publishers", required_argument, NULL, O_PUBS},
    {"rate", required_argument, NULL, O_RATE},
    {"size", required_argument, NULL, O_SIZE},
    {"duration", required_argument, NULL, O_DURATION},
    {"warmup", required_argument, NULL, O_WARMUP},
    {"drain", required_argument, NULL, O_DRAIN},
    {"via", required_argument, NULL, O_VIA},
    {"api-key", required_argument, NULL, O_APIKEY},
    {"threads", required_argument, NULL, O_THREADS},
    {"churn", required_argument, NULL, O_CHURN},
    {"slow-subscribers", required_argument, NULL, O_SLOW},
    {"shard", required_argument, NULL, O_SHARD},
    {"start-at", required_argument, NULL, O_START_AT},
    {"daemon-pid", required_argument, NULL, O_DPID},
    {"json", required_argument, NULL, O_JSON},
    {"plot", required_argument, NULL, O_PLOT},
    {"help", no_argument, NULL, O_HELP},
    {NULL, 0, NULL, 0},
};

static int
num(const char *name, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "omnihub-loadgen: --%s: '%s' is not a number in [%g, %g]\n", name, s, lo,
                hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int
unum(const char *name, const char *s, double lo, double hi, unsigned *out)
{
    double v;

    if (num(name, s, lo, hi, &v) < 0 || v != floor(v)) {
        if (v != floor(v)) {
            fprintf(stderr, "omnihub-loadgen: --%s: '%s' is not an integer\n", name, s);
        }
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* "127.0.0.2-127.0.0.9" or "127.0.0.2,127.0.0.5". */
static int
parse_src(struct lg_opts *o, const char *arg)
{
    char buf[512], *save = NULL, *tok;

    snprintf(buf, sizeof(buf), "%s", arg);
    for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *dash = strchr(tok, '-');
        struct in_addr a, b;
        if (dash != NULL) {
            *dash = '\0';
        }
        if (inet_pton(AF_INET, tok, &a) != 1 ||
            (dash != NULL && inet_pton(AF_INET, dash + 1, &b) != 1)) {
            fprintf(stderr, "omnihub-loadgen: --source-addrs: bad address in '%s'\n", arg);
            return -1;
        }
        uint32_t lo = ntohl(a.s_addr), hi = dash != NULL ? ntohl(b.s_addr) : lo;
        for (uint32_t v = lo; v <= hi && v >= lo; v++) {
            if (o->n_src == LG_MAX_SRC) {
                fprintf(stderr, "omnihub-loadgen: --source-addrs: more than %d\n", LG_MAX_SRC);
                return -1;
            }
            o->src[o->n_src++].s_addr = htonl(v);
        }
    }
    return 0;
}

static int
parse_shard(struct lg_opts *o, const char *arg)
{
    if (sscanf(arg, "%u/%u", &o->shard_i, &o->shard_n) != 2 || o->shard_n == 0 ||
        o->shard_i >= o->shard_n) {
        fprintf(stderr, "omnihub-loadgen: --shard: expected i/n with 0 <= i < n, got '%s'\n", arg);
        return -1;
    }
    return 0;
}

static int
parse_slow(struct lg_opts *o, const char *arg)
{
    size_t n = strlen(arg);
    char buf[64];

    if (n > 0 && n < sizeof(buf) && arg[n - 1] == '%') {
        memcpy(buf, arg, n - 1);
        buf[n - 1] = '\0';
        return num("slow-subscribers", buf, 0, 100, &o->slow_pct);
    }
    o->slow_pct = -1;
    return unum("slow-subscribers", arg, 0, 1e7, &o->slow_n);
}

static int
add_url(struct lg_opts *o, const char *arg)
{
    struct lg_target *t = &o->targets[o->n_targets];

    if (o->n_targets == LG_MAX_URLS) {
        fprintf(stderr, "omnihub-loadgen: at most %d --url\n", LG_MAX_URLS);
        return -1;
    }
    if (wsc_parse_url(arg, &t->addr, t->host, sizeof(t->host), t->path, sizeof(t->path)) < 0) {
        fprintf(stderr, "omnihub-loadgen: --url: expected ws://IPV4:PORT/PATH, got '%s'\n", arg);
        return -1;
    }
    o->urls[o->n_targets++] = arg;
    return 0;
}

static void
set_defaults(struct lg_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->subscribers = 100;
    o->channels = 10;
    o->channels_per_sub = 1;
    o->extra_rate = 1;
    o->prefix = "lg";
    o->connect_rate = 2000;
    o->connect_timeout = 60;
    o->publishers = 1;
    o->rate = 100;
    o->size = 100;
    o->duration = 10;
    o->warmup = 1;
    o->drain = 5;
    o->threads = 1;
    o->slow_pct = -1;
    o->shard_n = 1;
}

static int
apply_num(struct lg_opts *o, int id, const char *arg)
{
    switch (id) {
    case O_SUBS:
        return unum("subscribers", arg, 0, 1e7, &o->subscribers);
    case O_CHANNELS:
        return unum("channels", arg, 1, 1e7, &o->channels);
    case O_CPS:
        return unum("channels-per-sub", arg, 1, 64, &o->channels_per_sub);
    case O_EXTRA_RATE:
        return num("extra-rate", arg, 0, 1e6, &o->extra_rate);
    case O_CRATE:
        return num("connect-rate", arg, 0.1, 1e6, &o->connect_rate);
    case O_CTIMEOUT:
        return num("connect-timeout", arg, 1, 3600, &o->connect_timeout);
    case O_PUBS:
        return unum("publishers", arg, 0, 1000, &o->publishers);
    case O_RATE:
        return num("rate", arg, 0, 1e7, &o->rate);
    case O_SIZE:
        return unum("size", arg, 0, 1 << 20, &o->size);
    case O_DURATION:
        return num("duration", arg, 0.1, 86400, &o->duration);
    case O_WARMUP:
        return num("warmup", arg, 0, 3600, &o->warmup);
    case O_DRAIN:
        return num("drain", arg, 0, 3600, &o->drain);
    case O_THREADS:
        return unum("threads", arg, 1, 64, &o->threads);
    case O_CHURN:
        return num("churn", arg, 0, 1e6, &o->churn);
    case O_START_AT:
        return num("start-at", arg, 1, 1e11, &o->start_at);
    default:
        return -1;
    }
}

static int
apply(struct lg_opts *o, int id, const char *arg)
{
    unsigned pid;

    switch (id) {
    case O_URL:
        return add_url(o, arg);
    case O_EXTRA:
        o->extra_channel = arg;
        return 0;
    case O_PREFIX:
        o->prefix = arg;
        return 0;
    case O_SRC:
        return parse_src(o, arg);
    case O_VIA:
        if (strcmp(arg, "ws") != 0 && strcmp(arg, "http") != 0) {
            fprintf(stderr, "omnihub-loadgen: --via: ws or http, got '%s'\n", arg);
            return -1;
        }
        o->via_http = strcmp(arg, "http") == 0;
        return 0;
    case O_APIKEY:
        o->api_key = arg;
        return 0;
    case O_SLOW:
        return parse_slow(o, arg);
    case O_SHARD:
        return parse_shard(o, arg);
    case O_JSON:
        o->json = arg;
        return 0;
    case O_PLOT:
        o->plot = arg;
        return 0;
    case O_DPID:
        if (unum("daemon-pid", arg, 1, 1e9, &pid) < 0) {
            return -1;
        }
        o->daemon_pid = (int)pid;
        return 0;
    default:
        return apply_num(o, id, arg);
    }
}

static int
check(struct lg_opts *o)
{
    if (o->n_targets == 0) {
        fprintf(stderr, "omnihub-loadgen: at least one --url is needed (see --help)\n");
        return -1;
    }
    if (o->channels_per_sub > o->channels) {
        fprintf(stderr, "omnihub-loadgen: --channels-per-sub exceeds --channels\n");
        return -1;
    }
    if (o->rate > 0 && o->publishers == 0) {
        fprintf(stderr, "omnihub-loadgen: --rate needs at least one publisher\n");
        return -1;
    }
    if (o->slow_pct >= 0) {
        o->slow_n = (unsigned)llround(o->subscribers * o->slow_pct / 100.0);
    }
    if (o->slow_n > o->subscribers) {
        fprintf(stderr, "omnihub-loadgen: more slow subscribers than subscribers\n");
        return -1;
    }
    return 0;
}

int
lg_opts_parse(struct lg_opts *o, int argc, char **argv)
{
    int id;

    set_defaults(o);
    optind = 1;
    for (int guard = 0; guard < 10000; guard++) {
        id = getopt_long(argc, argv, "h", long_opts, NULL);
        if (id == -1) {
            break;
        }
        if (id == O_HELP || id == 'h') {
            lg_opts_usage(stdout);
            return 1;
        }
        if (id == '?' || apply(o, id, optarg) < 0) {
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "omnihub-loadgen: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return check(o);
}

uint64_t
lg_pubs_on_channel(const struct lg_opts *o, uint32_t ch)
{
    uint64_t n;

    if (ch == LG_EXTRA_CH) {
        return o->extra_channel != NULL ? (uint64_t)llround(o->extra_rate * o->duration) : 0;
    }
    n = (uint64_t)llround(o->rate * o->duration); /* publication s goes to channel s % K */
    return n > ch ? (n - ch - 1) / o->channels + 1 : 0;
}

uint32_t
lg_sub_channel(const struct lg_opts *o, uint32_t g, unsigned j)
{
    return (uint32_t)(((uint64_t)g * o->channels_per_sub + j) % o->channels);
}

bool
lg_sub_is_slow(const struct lg_opts *o, uint32_t g)
{
    /* Spread the slow ones evenly over the index range (and so over the channels). */
    uint64_t s = o->slow_n, n = o->subscribers;
    return n > 0 && (g + 1) * s / n > g * s / n;
}
