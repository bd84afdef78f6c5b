/* Publishers: open loop, each publication on its fixed schedule. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "lg_run.h"
#include "wsclient.h"

#define CNT(th, f)         atomic_fetch_add_explicit(&(th)->c.f, 1, memory_order_relaxed)
#define MAX_SENDS_PER_CALL 20000 /* then yield to the loop; the timer fires again at once */
#define MAX_ERRORS_PRINTED 5

static void pub_on_open(struct wsc *c, void *ud);
static void pub_on_message(struct wsc *c, char *buf, size_t len, void *ud);
static void pub_on_close(struct wsc *c, int code, enum wsc_err err, void *ud);

static const struct wsc_cb pub_cb = {pub_on_open, pub_on_message, pub_on_close};

void
lg_pub_init(struct lg_pub *p, struct lg_thread *th, unsigned j)
{
    const struct lg_opts *o = th->run->o;

    memset(p, 0, sizeof(*p));
    p->th = th;
    p->j = j;
    p->tgt = &o->targets[j % o->n_targets];
    p->next_s = j;
    p->next_id = 1;
}

void
lg_pub_start(struct lg_pub *p)
{
    const struct lg_target *t = p->tgt;
    char ip[INET_ADDRSTRLEN];

    if (p->th->run->o->via_http) {
        inet_ntop(AF_INET, &t->addr.sin_addr, ip, sizeof(ip));
        p->http = evhttp_connection_base_new(p->th->base, NULL, ip, ntohs(t->addr.sin_port));
        p->open = p->http != NULL;
        if (p->open) {
            CNT(p->th, pubs_open);
        }
        return;
    }
    p->ws = wsc_new(p->th->base, &pub_cb, p);
    if (wsc_connect(p->ws, &t->addr, NULL, t->host, t->path, LG_CONNECT_MS) < 0) {
        lg_count_connect_fail(p->th, WSC_E_CONNECT, wsc_sys_errno(p->ws));
        return;
    }
    CNT(p->th, open_conns);
}

void
lg_pub_close(struct lg_pub *p)
{
    if (p->ws != NULL) {
        wsc_close(p->ws, 1000, LG_CLOSE_MS);
    }
}

void
lg_pub_free(struct lg_pub *p)
{
    wsc_free(p->ws);
    p->ws = NULL;
    if (p->http != NULL) {
        evhttp_connection_free(p->http);
        p->http = NULL;
    }
    sb_free(&p->cmd);
}

static void
pub_on_open(struct wsc *c, void *ud)
{
    struct lg_pub *p = ud;

    (void)c;
    p->open = true;
    CNT(p->th, pubs_open);
}

static void
report_error(struct lg_thread *th, const char *what, size_t len)
{
    uint64_t n = atomic_fetch_add_explicit(&th->c.pub_errors, 1, memory_order_relaxed);

    if (n < MAX_ERRORS_PRINTED) {
        fprintf(stderr, "omnihub-loadgen: publish failed: %.*s\n", (int)(len > 300 ? 300 : len),
                what);
    }
}

static void
pub_on_message(struct wsc *c, char *buf, size_t len, void *ud)
{
    struct lg_pub *p = ud;
    const char *v;
    size_t vl;

    (void)c;
    if (json_member_span(buf, len, "result", &v, &vl) == 0) {
        CNT(p->th, pub_acked);
    } else {
        report_error(p->th, buf, len);
    }
}

static void
pub_on_close(struct wsc *c, int code, enum wsc_err err, void *ud)
{
    struct lg_pub *p = ud;

    (void)c;
    atomic_fetch_sub_explicit(&p->th->c.open_conns, 1, memory_order_relaxed);
    if (p->open) {
        atomic_fetch_sub_explicit(&p->th->c.pubs_open, 1, memory_order_relaxed);
    }
    if (!p->open) {
        lg_count_connect_fail(p->th, err, wsc_sys_errno(c));
    } else if (atomic_load(&p->th->run->phase) != P_STOP) {
        fprintf(stderr, "omnihub-loadgen: publisher %u closed (code %d, %s)\n", p->j, code,
                wsc_strerror(err));
    }
    p->open = false;
}

static void
http_done(struct evhttp_request *req, void *arg)
{
    struct lg_pub *p = arg;

    if (req != NULL && evhttp_request_get_response_code(req) == 200) {
        CNT(p->th, pub_acked);
        return;
    }
    report_error(p->th, req == NULL ? "no response" : "HTTP status not 200", req == NULL ? 11 : 19);
}

/* data: {"t":<due ns>,"s":<seq>,"p":"xx..."} padded to --size bytes when possible. */
static void
append_data(struct strbuf *sb, const struct lg_run_state *run, int64_t due, uint64_t seq)
{
    size_t start = sb->len, used;

    sb_appends(sb, "{\"t\":");
    sb_append_u64(sb, (uint64_t)due);
    sb_appends(sb, ",\"s\":");
    sb_append_u64(sb, seq);
    sb_appends(sb, ",\"p\":\"");
    used = sb->len - start + 2;
    if (used < run->o->size) {
        sb_append(sb, run->pad, run->o->size - used);
    }
    sb_appends(sb, "\"}");
}

static void
append_channel_name(struct strbuf *sb, const struct lg_opts *o, bool extra, uint64_t seq)
{
    if (extra) {
        sb_append_json_string(sb, o->extra_channel, strlen(o->extra_channel));
        return;
    }
    sb_appends(sb, "\"");
    sb_appends(sb, o->prefix);
    sb_appends(sb, ":");
    sb_append_u64(sb, seq % o->channels);
    sb_appends(sb, "\"");
}

static void
send_http(struct lg_pub *p)
{
    struct evhttp_request *req = evhttp_request_new(http_done, p);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char auth[300];

    evhttp_add_header(h, "Host", p->tgt->host);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (p->th->run->o->api_key != NULL) {
        snprintf(auth, sizeof(auth), "Bearer %s", p->th->run->o->api_key);
        evhttp_add_header(h, "Authorization", auth);
    }
    evbuffer_add(evhttp_request_get_output_buffer(req), p->cmd.buf, p->cmd.len);
    if (evhttp_make_request(p->http, req, EVHTTP_REQ_POST, "/api/publish") < 0) {
        report_error(p->th, "request not sent", 16);
    }
}

/* Sends one publication, due at realtime ns due. */
static void
send_one(struct lg_pub *p, bool extra, uint64_t seq, int64_t due)
{
    struct lg_thread *th = p->th;
    const struct lg_opts *o = th->run->o;
    bool http = o->via_http;

    CNT(th, pub_done);
    if (!p->open) {
        report_error(th, "publisher not connected", 23);
        return;
    }
    sb_reset(&p->cmd);
    if (!http) {
        sb_appends(&p->cmd, "{\"id\":");
        sb_append_u64(&p->cmd, p->next_id++);
        sb_appends(&p->cmd, ",\"publish\":");
    }
    sb_appends(&p->cmd, "{\"channel\":");
    append_channel_name(&p->cmd, o, extra, seq);
    sb_appends(&p->cmd, ",\"data\":");
    append_data(&p->cmd, th->run, due, seq);
    sb_appends(&p->cmd, http ? "}" : "}}");
    if (http) {
        send_http(p);
    } else {
        (void)wsc_send_text(p->ws, p->cmd.buf, p->cmd.len);
    }
    CNT(th, published);
}

static int64_t
due_ns(int64_t t0, uint64_t k, double rate)
{
    return t0 + (int64_t)((double)k * 1e9 / rate);
}

static void
note_lag(struct lg_thread *th, int64_t now, int64_t due)
{
    double lag = (double)(now - due) / 1e6;

    if (lag > th->lag_max_ms) {
        th->lag_max_ms = lag;
    }
}

int64_t
lg_pub_send_due(struct lg_thread *th, int64_t now)
{
    struct lg_run_state *run = th->run;
    const struct lg_opts *o = run->o;
    int64_t t0 = atomic_load(&run->t0), next = 0;
    unsigned budget = MAX_SENDS_PER_CALL;

    for (unsigned i = 0; i < th->n_pubs; i++) {
        struct lg_pub *p = &th->pubs[i];
        for (; p->next_s < run->n_pub && budget > 0; p->next_s += o->publishers, budget--) {
            int64_t d = due_ns(t0, p->next_s, o->rate);
            if (d > now) {
                break;
            }
            note_lag(th, now, d);
            send_one(p, false, p->next_s, d);
        }
        if (p->next_s < run->n_pub) {
            int64_t d = budget == 0 ? now : due_ns(t0, p->next_s, o->rate);
            next = (next == 0 || d < next) ? d : next;
        }
        for (; p->j == 0 && p->next_e < run->n_extra && budget > 0; p->next_e++, budget--) {
            int64_t d = due_ns(t0, p->next_e, o->extra_rate);
            if (d > now) {
                break;
            }
            send_one(p, true, p->next_e, d);
        }
        if (p->j == 0 && p->next_e < run->n_extra) {
            int64_t d = budget == 0 ? now : due_ns(t0, p->next_e, o->extra_rate);
            next = (next == 0 || d < next) ? d : next;
        }
    }
    return next;
}
