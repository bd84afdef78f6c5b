/*
 * omnihub: a command-line client to poke a running node (sub, pub, history),
 * on the same WebSocket client as omnihub-loadgen.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proto.h"
#include "strbuf.h"
#include "wsclient.h"

static const char usage_text[] =
    "usage: omnihub [--url ws://HOST:PORT/ws] COMMAND ...\n"
    "\n"
    "  sub CHANNEL [--since EPOCH:OFFSET] [--count N]\n"
    "        print the data of each push, one per line (stops after N pushes, or on Ctrl-C)\n"
    "  pub CHANNEL JSON\n"
    "        publish JSON (any JSON value) and print the result {\"epoch\":..,\"offset\":..}\n"
    "  history CHANNEL [--limit N] [--since EPOCH:OFFSET]\n"
    "        print the history reply's result\n"
    "\n"
    "  --url URL       node to talk to (default $OMNIHUB_URL or ws://127.0.0.1:7400/ws)\n"
    "  --timeout S     give up after S seconds (default 10 for pub and history, none for sub)\n"
    "  --help          this text\n"
    "\n"
    "Exit status: 0 on success, 1 when the node answered with an error or went away, 2 on a\n"
    "usage error.\n";

struct cli {
    const char *cmd;
    const char *channel;
    const char *json;
    const char *since;
    long limit;
    long count; /* sub: pushes left to print, -1 for no limit */
    int rc;
    bool done;
    struct event_base *base;
    struct wsc *ws;
};

static void
build_since(struct strbuf *sb, const char *since)
{
    const char *colon = since != NULL ? strrchr(since, ':') : NULL;

    if (colon == NULL) {
        return;
    }
    sb_appends(sb, ",\"since\":{\"epoch\":");
    sb_append_json_string(sb, since, (size_t)(colon - since));
    sb_appends(sb, ",\"offset\":");
    sb_append_u64(sb, strtoull(colon + 1, NULL, 10));
    sb_appends(sb, "}");
}

static void
on_open(struct wsc *c, void *ud)
{
    struct cli *k = ud;
    struct strbuf sb = {0};

    sb_appends(&sb, "{\"id\":1,\"");
    sb_appends(&sb, strcmp(k->cmd, "pub") == 0 ? "publish"
                    : k->cmd[0] == 's'         ? "subscribe"
                                               : "history");
    sb_appends(&sb, "\":{\"channel\":");
    sb_append_json_string(&sb, k->channel, strlen(k->channel));
    if (strcmp(k->cmd, "pub") == 0) {
        sb_appends(&sb, ",\"data\":");
        sb_appends(&sb, k->json);
    } else {
        build_since(&sb, k->since);
    }
    if (strcmp(k->cmd, "history") == 0 && k->limit > 0) {
        sb_appends(&sb, ",\"limit\":");
        sb_append_u64(&sb, (uint64_t)k->limit);
    }
    sb_appends(&sb, "}}");
    (void)wsc_send_text(c, sb.buf, sb.len);
    sb_free(&sb);
}

static void
finish(struct cli *k, int rc)
{
    if (!k->done) {
        k->done = true;
        k->rc = rc;
        wsc_close(k->ws, 1000, 2000);
    }
}

static void
on_reply(struct cli *k, const char *buf, size_t len)
{
    const char *v;
    size_t vl;

    if (json_member_span(buf, len, "result", &v, &vl) < 0) {
        fprintf(stderr, "omnihub: %.*s\n", (int)len, buf);
        finish(k, 1);
        return;
    }
    if (k->cmd[0] == 's') {
        fprintf(stderr, "subscribed: %.*s\n", (int)vl, v);
        if (k->count == 0) {
            finish(k, 0);
        }
        return;
    }
    printf("%.*s\n", (int)vl, v);
    finish(k, 0);
}

static void
on_message(struct wsc *c, char *buf, size_t len, void *ud)
{
    struct cli *k = ud;
    const char *p, *d;
    size_t pl, dl;

    (void)c;
    if (k->done) {
        return;
    }
    if (json_member_span(buf, len, "push", &p, &pl) < 0) {
        on_reply(k, buf, len);
        return;
    }
    if (json_member_span(p, pl, "data", &d, &dl) == 0) {
        printf("%.*s\n", (int)dl, d);
        fflush(stdout);
    }
    if (k->count > 0 && --k->count == 0) {
        finish(k, 0);
    }
}

static void
on_close(struct wsc *c, int code, enum wsc_err err, void *ud)
{
    struct cli *k = ud;

    if (!k->done) {
        fprintf(stderr, "omnihub: connection closed (code %d, %s", code, wsc_strerror(err));
        if (err == WSC_E_CONNECT || err == WSC_E_IO) {
            fprintf(stderr, ": %s", strerror(wsc_sys_errno(c)));
        }
        if (wsc_http_status(c) > 0 && wsc_http_status(c) != 101) {
            fprintf(stderr, ", HTTP %d", wsc_http_status(c));
        }
        fprintf(stderr, ")\n");
        k->rc = 1;
        k->done = true;
    }
    event_base_loopbreak(k->base);
}

static const struct wsc_cb cli_cb = {on_open, on_message, on_close};

static void
on_signal(evutil_socket_t fd, short what, void *arg)
{
    struct cli *k = arg;

    (void)fd;
    (void)what;
    finish(k, 0);
}

static void
on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct cli *k = arg;

    (void)fd;
    (void)what;
    fprintf(stderr, "omnihub: timed out\n");
    if (!k->done && wsc_is_open(k->ws)) {
        finish(k, 1);
        return;
    }
    k->rc = 1;
    event_base_loopbreak(k->base);
}

static int
parse_args(struct cli *k, int argc, char **argv, const char **url, double *timeout)
{
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},
        {"since", required_argument, NULL, 's'},
        {"limit", required_argument, NULL, 'l'},
        {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    for (int guard = 0; guard < 1000 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1;
         guard++) {
        switch (c) {
        case 'u':
            *url = optarg;
            break;
        case 's':
            k->since = optarg;
            break;
        case 'l':
            k->limit = strtol(optarg, NULL, 10);
            break;
        case 'n':
            k->count = strtol(optarg, NULL, 10);
            break;
        case 't':
            *timeout = strtod(optarg, NULL);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 1;
        default:
            return -1;
        }
    }
    if (optind + 2 > argc) {
        return -1;
    }
    k->cmd = argv[optind];
    k->channel = argv[optind + 1];
    if (strcmp(k->cmd, "pub") == 0) {
        if (optind + 3 != argc) {
            return -1;
        }
        k->json = argv[optind + 2];
        return 0;
    }
    if (strcmp(k->cmd, "sub") != 0 && strcmp(k->cmd, "history") != 0) {
        return -1;
    }
    return optind + 2 == argc ? 0 : -1;
}

static int
run(struct cli *k, const char *url, double timeout)
{
    struct sockaddr_in dst;
    char host[128], path[256];
    struct event *sig, *tmo;
    struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};

    if (wsc_parse_url(url, &dst, host, sizeof(host), path, sizeof(path)) < 0) {
        fprintf(stderr, "omnihub: bad --url '%s' (expected ws://IPV4:PORT/PATH)\n", url);
        return 2;
    }
    k->base = event_base_new();
    k->ws = wsc_new(k->base, &cli_cb, k);
    sig = evsignal_new(k->base, SIGINT, on_signal, k);
    tmo = evtimer_new(k->base, on_timeout, k);
    event_add(sig, NULL);
    if (timeout > 0) {
        evtimer_add(tmo, &tv);
    }
    if (wsc_connect(k->ws, &dst, NULL, host, path, 10000) < 0) {
        fprintf(stderr, "omnihub: cannot connect to %s: %s\n", url, strerror(wsc_sys_errno(k->ws)));
        k->rc = 1;
    } else {
        event_base_dispatch(k->base);
    }
    wsc_free(k->ws);
    event_free(sig);
    event_free(tmo);
    event_base_free(k->base);
    return k->rc;
}

int
main(int argc, char **argv)
{
    struct cli k = {.count = -1};
    const char *url = getenv("OMNIHUB_URL");
    double timeout = -1;
    int rc;

    signal(SIGPIPE, SIG_IGN);
    rc = parse_args(&k, argc, argv, &url, &timeout);
    if (rc != 0) {
        if (rc < 0) {
            fputs(usage_text, stderr);
        }
        return rc > 0 ? 0 : 2;
    }
    if (url == NULL) {
        url = "ws://127.0.0.1:7400/ws";
    }
    if (timeout < 0) {
        timeout = k.cmd[0] == 's' ? 0 : 10;
    }
    return run(&k, url, timeout);
}
