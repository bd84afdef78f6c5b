/*
 * omnihubd: start-up, signals, reload and orderly shutdown. The main thread
 * owns the node; the shards do the serving.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "node.h"
#include "omnihub_version.h"
#include "shard.h"
#include "xalloc.h"

enum { OPT_LISTEN = 256, OPT_SHARDS, OPT_NODE_ID, OPT_PORT_FILE, OPT_CHECK, OPT_VERSION };

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'c'},
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"shards", required_argument, NULL, OPT_SHARDS},
    {"node-id", required_argument, NULL, OPT_NODE_ID},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"check-config", no_argument, NULL, OPT_CHECK},
    {"version", no_argument, NULL, OPT_VERSION},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void
usage(FILE *f)
{
    fprintf(f, "Usage: omnihubd [OPTIONS]\n"
               "Omnihub WebSocket message broker.\n"
               "\n"
               "  -c, --config FILE     configuration file (default " CONFIG_DEFAULT_PATH ",\n"
               "                        read only if it exists)\n"
               "      --listen HOST:PORT\n"
               "                        address to serve WebSocket and HTTP on\n"
               "                        (default 127.0.0.1:7400; port 0 picks a free one)\n"
               "      --shards N        serving threads (default: one per CPU)\n"
               "      --node-id ID      this node's name in logs and, later, the cluster\n"
               "      --port-file FILE  write the bound port to FILE once listening\n"
               "      --check-config    validate the configuration and exit (0 valid, 1 not)\n"
               "      --version         print the version and exit\n"
               "  -h, --help            print this help and exit\n"
               "\n"
               "Flags override the file. Every key is documented in\n"
               "systemd/omnihub.conf.example. Clients connect to ws://HOST:PORT/ws;\n"
               "HTTP on the same port: POST /api/publish, GET /healthz, /readyz, /metrics.\n"
               "Signals: SIGTERM/SIGINT drain and exit 0, SIGHUP reloads the log level.\n");
}

struct cli {
    const char *config_path;
    bool check_only;
    /* Flag values, applied after the file so they win. */
    const char *listen;
    const char *shards;
    const char *node_id;
    const char *port_file;
};

/* Returns 0 to go on, or the exit code (+1) for --help, --version and usage errors. */
static int
parse_cli(int argc, char **argv, struct cli *cli)
{
    int opt;

    memset(cli, 0, sizeof(*cli));
    while ((opt = getopt_long(argc, argv, "c:h", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            cli->config_path = optarg;
            break;
        case OPT_LISTEN:
            cli->listen = optarg;
            break;
        case OPT_SHARDS:
            cli->shards = optarg;
            break;
        case OPT_NODE_ID:
            cli->node_id = optarg;
            break;
        case OPT_PORT_FILE:
            cli->port_file = optarg;
            break;
        case OPT_CHECK:
            cli->check_only = true;
            break;
        case OPT_VERSION:
            printf("omnihubd %s\n", OMNIHUB_VERSION);
            return 1;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 3;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "omnihubd: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 3;
    }
    return 0;
}

/* Loads the file (if any) then the flags. 0, or 1 for an invalid configuration. */
static int
load_config(struct config *cfg, const struct cli *cli)
{
    const char *path = cli->config_path;
    char err[256];
    struct {
        const char *key, *value;
    } flags[] = {{"listen", cli->listen}, {"shards", cli->shards}, {"node_id", cli->node_id}};

    config_defaults(cfg);
    if (path == NULL && access(CONFIG_DEFAULT_PATH, F_OK) == 0) {
        path = CONFIG_DEFAULT_PATH;
    }
    if (path != NULL && config_load(cfg, path) < 0) {
        return 1;
    }
    for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
        if (flags[i].value &&
            config_set(cfg, "server", flags[i].key, flags[i].value, err, sizeof(err)) < 0) {
            fprintf(stderr, "omnihubd: --%s: %s\n", flags[i].key, err);
            return 1;
        }
    }
    if (cli->port_file) {
        snprintf(cfg->port_file, sizeof(cfg->port_file), "%s", cli->port_file);
    }
    if (cfg->idle_timeout_ms <= cfg->ping_interval_ms) {
        fprintf(stderr, "%s: idle_timeout must be longer than ping_interval\n",
                path ? path : "omnihubd");
        return 1;
    }
    return 0;
}

static void
make_epoch_base(char *out, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[16];

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        for (size_t i = 0; i < sizeof(rnd); i++) {
            rnd[i] = (unsigned char)(rand() ^ (int)getpid());
        }
    }
    for (size_t i = 0; i + 1 < n && i < sizeof(rnd); i++) {
        out[i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    }
    out[n - 1] = '\0';
}

static int
write_port_file(const char *path, unsigned port)
{
    char tmp[300];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
        log_error("cannot write port file %s: %s", path, strerror(errno));
        return OH_ESYS;
    }
    return 0;
}

static void
lws_log_emit(int level, const char *line)
{
    size_t n = strlen(line);

    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        n--;
    }
    /* Most of what lws reports is a client's garbage: rate-limited, never a flood. */
    log_ratelimited(level == LLL_ERR ? LOG_WARN : LOG_INFO, "lws: %.*s", (int)n, line);
}

/* Binds every shard's socket: the first picks the port, the others share it. */
static int
open_listeners(struct node *n)
{
    for (unsigned i = 0; i < n->nshards; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);

        if (shard_listen(&n->shards[i], n) < 0) {
            return OH_ESYS;
        }
        if (i == 0) {
            getsockname(n->shards[0].listen_fd, (struct sockaddr *)&ss, &sl);
            n->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    return 0;
}

static int
start_node(struct node *n, struct config *cfg)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

    memset(n, 0, sizeof(*n));
    n->cfg = cfg;
    n->nshards = cfg->shards ? cfg->shards : (unsigned)(ncpu > 0 ? ncpu : 1);
    n->lim.max_message_size = cfg->max_message_size;
    n->lim.max_channel_len = cfg->max_channel_length;
    n->lim.max_depth = (int)cfg->max_json_depth;
    make_epoch_base(n->epoch_base, 9);
    n->shards = xcalloc(n->nshards, sizeof(*n->shards));
    for (unsigned i = 0; i < n->nshards; i++) {
        n->shards[i].id = i;
        n->shards[i].node = n;
        n->shards[i].listen_fd = -1;
        if (mailbox_init(&n->shards[i].mb) < 0) {
            log_error("eventfd: %s", strerror(errno));
            return OH_ESYS;
        }
    }
    if (open_listeners(n) < 0) {
        return OH_ESYS;
    }
    for (unsigned i = 0; i < n->nshards; i++) {
        if (shard_start(&n->shards[i]) < 0) {
            return OH_EINTERNAL;
        }
        n->started++;
    }
    return 0;
}

static void
stop_node(struct node *n, unsigned started)
{
    atomic_store(&n->draining, true);
    for (unsigned i = 0; i < started; i++) {
        shard_post(&n->shards[i], msg_new(MSG_STOP, "", 0));
    }
    for (unsigned i = 0; i < started; i++) {
        shard_join(&n->shards[i]);
    }
    for (unsigned i = 0; i < n->nshards; i++) {
        shard_free(&n->shards[i]);
    }
    free(n->shards);
}

static void
notify_status(const struct node *n)
{
    long conns = 0, subs = 0;

    for (unsigned i = 0; i < n->nshards; i++) {
        conns += atomic_load_explicit(&n->shards[i].m.connections, memory_order_relaxed);
        subs += atomic_load_explicit(&n->shards[i].m.subscriptions, memory_order_relaxed);
    }
    sd_notifyf(0, "STATUS=%ld connections, %ld subscriptions", conns, subs);
}

/* Waits for signals; returns when asked to stop. */
static void
run_signals(struct node *n, const struct cli *cli, sigset_t *set)
{
    struct timespec ts = {5, 0};
    struct config scratch;

    for (;;) {
        int sig = sigtimedwait(set, NULL, &ts);

        if (sig < 0) {
            notify_status(n);
            continue;
        }
        if (sig == SIGHUP) {
            /* Only the log level is reloadable for now; the rest needs a restart. */
            if (load_config(&scratch, cli) == 0) {
                log_max_level = scratch.log_level;
                log_notice("configuration reloaded (log level only)");
            } else {
                log_warn("reload failed, keeping the running configuration");
            }
            continue;
        }
        log_notice("signal %d: draining", sig);
        sd_notify(0, "STOPPING=1");
        return;
    }
}

int
main(int argc, char **argv)
{
    static struct config cfg;
    static struct node node;
    struct cli cli;
    sigset_t set;
    int rc;

    rc = parse_cli(argc, argv, &cli);
    if (rc != 0) {
        return rc - 1;
    }
    if (load_config(&cfg, &cli) != 0) {
        return 1;
    }
    if (cli.check_only) {
        printf("configuration is valid\n");
        return 0;
    }
    log_max_level = cfg.log_level;
    log_set_thread_context("thread=main");
    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

    /* Signals go to this thread only: the shards inherit the blocked mask. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    if (start_node(&node, &cfg) < 0) {
        stop_node(&node, node.started);
        return 1;
    }
    log_notice("omnihubd %s listening on %s:%u shards=%u node=%s epoch_base=%s", OMNIHUB_VERSION,
               cfg.listen_host, node.port, node.nshards, cfg.node_id, node.epoch_base);
    if (cfg.port_file[0] && write_port_file(cfg.port_file, node.port) < 0) {
        stop_node(&node, node.nshards);
        return 1;
    }
    sd_notifyf(0, "READY=1\nSTATUS=listening on %s:%u", cfg.listen_host, node.port);

    run_signals(&node, &cli, &set);
    /* A second SIGTERM or Ctrl-C during the drain ends the process at once. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    stop_node(&node, node.nshards);
    log_notice("stopped");
    return 0;
}
