/* Subscribers: subscribe, check every push's offset and payload, recover after churn. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lg_run.h"
#include "wsclient.h"
#include "xalloc.h"

#define CNT(th, f) atomic_fetch_add_explicit(&(th)->c.f, 1, memory_order_relaxed)
#define DEC(th, f) atomic_fetch_sub_explicit(&(th)->c.f, 1, memory_order_relaxed)

static void sub_on_open(struct wsc *c, void *ud);
static void sub_on_message(struct wsc *c, char *buf, size_t len, void *ud);
static void sub_on_close(struct wsc *c, int code, enum wsc_err err, void *ud);

static const struct wsc_cb sub_cb = {sub_on_open, sub_on_message, sub_on_close};

struct lg_sub *
lg_sub_new(struct lg_thread *th, uint32_t g)
{
    const struct lg_opts *o = th->run->o;
    unsigned n = o->channels_per_sub + (o->extra_channel != NULL ? 1 : 0);
    struct lg_sub *s = xcalloc(1, sizeof(*s) + n * sizeof(s->slots[0]));

    s->th = th;
    s->g = g;
    s->slow = lg_sub_is_slow(o, g);
    s->n_slots = n;
    for (unsigned j = 0; j < o->channels_per_sub; j++) {
        s->slots[j].ch = lg_sub_channel(o, g, j);
    }
    if (o->extra_channel != NULL) {
        s->slots[n - 1].ch = LG_EXTRA_CH;
    }
    s->ws = wsc_new(th->base, &sub_cb, s);
    return s;
}

void
lg_sub_free(struct lg_sub *s)
{
    if (s != NULL) {
        wsc_free(s->ws);
        free(s);
    }
}

uint64_t
lg_sub_expected(const struct lg_sub *s)
{
    uint64_t n = 0;

    if (s->slow) {
        return 0;
    }
    for (unsigned j = 0; j < s->n_slots; j++) {
        n += lg_pubs_on_channel(s->th->run->o, s->slots[j].ch);
    }
    return n;
}

void
lg_count_connect_fail(struct lg_thread *th, int err, int sys_errno)
{
    enum lg_cause c = LG_C_OTHER;

    if (err == WSC_E_TIMEOUT || sys_errno == ETIMEDOUT) {
        c = LG_C_TIMEOUT;
    } else if (err == WSC_E_HANDSHAKE) {
        c = LG_C_HANDSHAKE;
    } else if (err == WSC_E_EOF || sys_errno == ECONNRESET || sys_errno == EPIPE) {
        c = LG_C_CLOSED;
    } else if (sys_errno == ECONNREFUSED) {
        c = LG_C_REFUSED;
    } else if (sys_errno == EADDRNOTAVAIL || sys_errno == EADDRINUSE) {
        c = LG_C_ADDR;
    } else if (sys_errno == EMFILE || sys_errno == ENFILE) {
        c = LG_C_FDS;
    }
    CNT(th, connect_fail[c]);
}

void
lg_sub_connect(struct lg_sub *s)
{
    const struct lg_opts *o = s->th->run->o;
    const struct lg_target *t = &o->targets[s->g % o->n_targets];
    const struct in_addr *src = o->n_src > 0 ? &o->src[s->g % o->n_src] : NULL;

    if (wsc_connect(s->ws, &t->addr, src, t->host, t->path, LG_CONNECT_MS) < 0) {
        lg_count_connect_fail(s->th, WSC_E_CONNECT, wsc_sys_errno(s->ws));
        s->state = S_FAILED;
        CNT(s->th, failed);
        return;
    }
    s->state = S_CONNECTING;
    CNT(s->th, open_conns);
}

bool
lg_sub_churn(struct lg_sub *s)
{
    if (s->slow || s->state != S_READY) {
        return false;
    }
    s->state = S_CHURNING;
    wsc_close(s->ws, 1000, LG_CLOSE_MS);
    return true;
}

/* Appends "PREFIX:K" or the extra channel name, as a JSON string. */
static void
append_channel(struct strbuf *sb, const struct lg_opts *o, uint32_t ch)
{
    if (ch == LG_EXTRA_CH) {
        sb_append_json_string(sb, o->extra_channel, strlen(o->extra_channel));
        return;
    }
    sb_appends(sb, "\"");
    sb_appends(sb, o->prefix);
    sb_appends(sb, ":");
    sb_append_u64(sb, ch);
    sb_appends(sb, "\"");
}

static void
sub_on_open(struct wsc *c, void *ud)
{
    struct lg_sub *s = ud;
    struct strbuf sb = {0};

    s->open = true;
    CNT(s->th, connected);
    s->state = S_SUBSCRIBING;
    s->pending = s->n_slots;
    for (unsigned j = 0; j < s->n_slots; j++) {
        struct lg_slot *sl = &s->slots[j];
        sb_reset(&sb);
        sb_appends(&sb, "{\"id\":");
        sb_append_u64(&sb, j + 1);
        sb_appends(&sb, ",\"subscribe\":{\"channel\":");
        append_channel(&sb, s->th->run->o, sl->ch);
        if (sl->has_pos) {
            sb_appends(&sb, ",\"since\":{\"epoch\":\"");
            sb_append(&sb, sl->epoch, sl->epoch_len);
            sb_appends(&sb, "\",\"offset\":");
            sb_append_u64(&sb, sl->last_off);
            sb_appends(&sb, "}");
        }
        sb_appends(&sb, "}}");
        (void)wsc_send_text(c, sb.buf, sb.len);
    }
    sb_free(&sb); /* once per connection, not per message */
}

static uint64_t
span_u64(const char *obj, size_t len, const char *key)
{
    const char *v;
    size_t vl;
    char tmp[24];

    if (json_member_span(obj, len, key, &v, &vl) < 0 || vl == 0 || vl >= sizeof(tmp)) {
        return 0;
    }
    memcpy(tmp, v, vl);
    tmp[vl] = '\0';
    return strtoull(tmp, NULL, 10);
}

/* Epoch string token (quotes included) -> slot's epoch. */
static void
set_epoch(struct lg_slot *sl, const char *tok, size_t n)
{
    if (n < 2 || n - 2 > PROTO_EPOCH_MAX) {
        sl->epoch_len = 0;
        return;
    }
    memcpy(sl->epoch, tok + 1, n - 2);
    sl->epoch_len = (uint8_t)(n - 2);
}

static bool
same_epoch(const struct lg_slot *sl, const char *tok, size_t n)
{
    return n == (size_t)sl->epoch_len + 2 && memcmp(sl->epoch, tok + 1, sl->epoch_len) == 0;
}

static void
slot_result(struct lg_sub *s, struct lg_slot *sl, const char *res, size_t n)
{
    const char *ep, *rec;
    size_t epl, recl;
    uint64_t off = span_u64(res, n, "offset");
    bool recovered;

    if (json_member_span(res, n, "epoch", &ep, &epl) < 0) {
        CNT(s->th, sub_errors);
        return;
    }
    if (!sl->has_pos) {
        set_epoch(sl, ep, epl);
        sl->last_off = off;
        sl->has_pos = true;
        return;
    }
    /* A resubscribe with since: the missed pushes must follow, complete. */
    CNT(s->th, recoveries);
    recovered = json_member_span(res, n, "recovered", &rec, &recl) == 0 && recl == 4 &&
                memcmp(rec, "true", 4) == 0;
    if (!recovered || !same_epoch(sl, ep, epl)) {
        CNT(s->th, recoveries_inexact);
        set_epoch(sl, ep, epl);
        sl->last_off = off;
        sl->recovering = false;
        return;
    }
    sl->recovering = off > sl->last_off;
    sl->recover_to = off;
}

static void
on_reply(struct lg_sub *s, const char *buf, size_t len)
{
    uint64_t id = span_u64(buf, len, "id");
    const char *res;
    size_t rl;

    if (id == 0 || id > s->n_slots || s->state != S_SUBSCRIBING) {
        CNT(s->th, sub_errors);
        return;
    }
    if (json_member_span(buf, len, "result", &res, &rl) == 0) {
        slot_result(s, &s->slots[id - 1], res, rl);
    } else {
        CNT(s->th, sub_errors);
        fprintf(stderr, "omnihub-loadgen: subscribe refused: %.*s\n", (int)(len > 300 ? 300 : len),
                buf);
    }
    if (--s->pending > 0) {
        return;
    }
    s->state = S_READY;
    if (!s->was_ready) {
        s->was_ready = true;
        CNT(s->th, ready);
        if (s->slow) {
            wsc_pause_read(s->ws, true); /* from now on it reads nothing */
        }
    }
}

static struct lg_slot *
find_slot(struct lg_sub *s, const char *tok, size_t n)
{
    const struct lg_opts *o = s->th->run->o;
    size_t pl = strlen(o->prefix);
    uint32_t ch = LG_EXTRA_CH;

    if (n >= pl + 3 && memcmp(tok + 1, o->prefix, pl) == 0 && tok[pl + 1] == ':') {
        ch = (uint32_t)strtoul(tok + pl + 2, NULL, 10);
    } else if (o->extra_channel == NULL || n != strlen(o->extra_channel) + 2 ||
               memcmp(tok + 1, o->extra_channel, n - 2) != 0) {
        return NULL;
    }
    for (unsigned j = 0; j < s->n_slots; j++) {
        if (s->slots[j].ch == ch) {
            return &s->slots[j];
        }
    }
    return NULL;
}

static void
record_latency(struct lg_sub *s, const struct lg_slot *sl, const char *data, size_t dl)
{
    struct lg_thread *th = s->th;
    int64_t sent = (int64_t)span_u64(data, dl, "t");
    int64_t lat = lg_now_real() - sent;
    uint64_t seq = span_u64(data, dl, "s");

    if (sl->ch != LG_EXTRA_CH && seq % th->run->o->channels != sl->ch) {
        CNT(th, misrouted);
    }
    pthread_mutex_lock(&th->hlock);
    hdr_record(&th->ihist, lat > 0 ? (uint64_t)lat / 1000 : 0);
    pthread_mutex_unlock(&th->hlock);
}

/* Checks one push against the slot's position (offsets +1 each). */
static void
on_push(struct lg_sub *s, const char *p, size_t n)
{
    const char *ch, *ep, *data;
    size_t chl, epl, dl;
    struct lg_slot *sl;
    uint64_t off;

    if (json_member_span(p, n, "channel", &ch, &chl) < 0 ||
        json_member_span(p, n, "epoch", &ep, &epl) < 0 ||
        json_member_span(p, n, "data", &data, &dl) < 0) {
        CNT(s->th, sub_errors);
        return;
    }
    sl = find_slot(s, ch, chl);
    if (sl == NULL || !sl->has_pos) {
        CNT(s->th, misrouted);
        return;
    }
    off = span_u64(p, n, "offset");
    if (!same_epoch(sl, ep, epl)) {
        CNT(s->th, epoch_changes);
        set_epoch(sl, ep, epl);
    } else if (off == sl->last_off) {
        CNT(s->th, duplicates);
        return;
    } else if (off < sl->last_off) {
        CNT(s->th, reordered);
        return;
    } else if (off > sl->last_off + 1) {
        CNT(s->th, gaps);
        atomic_fetch_add_explicit(&s->th->c.missing, off - sl->last_off - 1, memory_order_relaxed);
        if (sl->recovering) {
            CNT(s->th, recoveries_inexact);
            sl->recovering = false;
        }
    }
    sl->last_off = off;
    if (sl->recovering && off >= sl->recover_to) {
        sl->recovering = false;
    }
    CNT(s->th, delivered);
    record_latency(s, sl, data, dl);
}

static void
sub_on_message(struct wsc *c, char *buf, size_t len, void *ud)
{
    struct lg_sub *s = ud;
    const char *p;
    size_t n;

    (void)c;
    if (s->slow && s->was_ready) {
        return; /* reads again only while stopping, to find the close code */
    }
    if (json_member_span(buf, len, "push", &p, &n) == 0) {
        on_push(s, p, n);
    } else {
        on_reply(s, buf, len);
    }
}

static void
sub_on_close(struct wsc *c, int code, enum wsc_err err, void *ud)
{
    struct lg_sub *s = ud;
    struct lg_thread *th = s->th;
    bool stopping = atomic_load(&th->run->phase) == P_STOP;

    (void)c;
    DEC(th, open_conns);
    if (s->open) {
        s->open = false;
        DEC(th, connected);
    }
    if (s->slow && code == 4001) {
        CNT(th, slow_closed_4001);
    }
    if (s->state == S_CONNECTING) {
        lg_count_connect_fail(th, err, wsc_sys_errno(c));
        s->state = S_FAILED;
        CNT(th, failed);
        return;
    }
    if (stopping || s->slow) {
        s->state = S_DONE;
        return;
    }
    if (s->state != S_CHURNING) {
        CNT(th, unexpected_closes);
        fprintf(stderr, "omnihub-loadgen: subscriber %u closed by the server (code %d, %s)\n", s->g,
                code, wsc_strerror(err));
    }
    if (code >= 4500 && code <= 4999) {
        s->state = S_FAILED; /* "do not reconnect" (PROTOCOL.md close codes) */
        CNT(th, failed);
        return;
    }
    /* Churn, or a close that invites reconnecting: come back with since. */
    CNT(th, reconnects);
    lg_sub_connect(s);
}
