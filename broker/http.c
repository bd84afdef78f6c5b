#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uthash.h>

#include "conn.h"
#include "log.h"
#include "proto.h"
#include "shard.h"
#include "strbuf.h"
#include "xalloc.h"

/*
 * Writes a complete response (headers, then body) and returns 0 or -1.
 * Bodies are small (answers, metrics): lws keeps what the socket does not
 * take at once and finishes it before the next writable.
 */
static int
write_response_opt(struct lws *wsi, unsigned status, const char *type, const char *body, size_t len,
                   bool close)
{
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof(hdr) - 1;
    unsigned char *out;
    int rc;

    if (lws_add_http_common_headers(wsi, status, type, len, &p, end) != 0 ||
        (close && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
                                               (const unsigned char *)"close", 5, &p, end)) ||
        lws_finalize_write_http_header(wsi, start, &p, end) != 0) {
        return -1;
    }
    out = xmalloc(LWS_PRE + len + 1);
    memcpy(out + LWS_PRE, body, len);
    rc = lws_write(wsi, out + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
    free(out);
    return rc < (int)len ? -1 : 0;
}

static int
write_response(struct lws *wsi, unsigned status, const char *type, const char *body, size_t len)
{
    return write_response_opt(wsi, status, type, body, len, false);
}

static int
write_error(struct lws *wsi, unsigned status, int err, const char *message)
{
    struct strbuf sb = {0};
    int rc;

    proto_encode_http_error(&sb, err, message);
    rc = write_response(wsi, status, "application/json", sb.buf, sb.len);
    sb_free(&sb);
    return rc;
}

/* After a complete response: keep the connection for the next request, or close. */
static int
finish(struct lws *wsi, int rc)
{
    if (rc < 0 || lws_http_transaction_completed(wsi)) {
        return -1;
    }
    return 0;
}

static unsigned
status_of(int err)
{
    switch (err) {
    case 0:
        return 200;
    case OH_EBADREQ:
    case OH_EINVCHAN:
        return 400;
    case OH_EFORBIDDEN:
        return 403;
    case OH_ETOOBIG:
        return 413;
    case OH_ERATE:
    case OH_ELIMIT:
        return 429;
    case OH_EUNAVAIL:
        return 503;
    default:
        return 500;
    }
}

/* An upgrade between its confirmation and ESTABLISHED (or failure). */
struct upgrade {
    UT_hash_handle hh;
    struct lws *wsi;
};

void
http_upgrades_free(struct shard *s)
{
    struct upgrade *up, *tmp;

    HASH_ITER(hh, s->upgrades, up, tmp)
    {
        HASH_DEL(s->upgrades, up);
        free(up);
    }
}

int
http_confirm_upgrade(struct shard *s, struct lws *wsi)
{
    const struct node *n = s->node;
    struct upgrade *up;
    char uri[64];

    if (lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) < 0 || strcmp(uri, "/ws") != 0) {
        write_error(wsi, 404, OH_EBADREQ, "WebSocket endpoint is /ws");
        return 1;
    }
    if (atomic_load(&n->draining)) {
        write_error(wsi, 503, OH_EUNAVAIL, "server draining, retry on another node");
        return 1;
    }
    /* Take the slot now; give it back if over the limit. */
    if (atomic_fetch_add(&s->node->ws_conns, 1) >= n->cfg->max_connections) {
        atomic_fetch_sub(&s->node->ws_conns, 1);
        atomic_fetch_add_explicit(&s->m.rejected, 1, memory_order_relaxed);
        log_ratelimited(LOG_WARN, "connection refused: max_connections=%u reached",
                        n->cfg->max_connections);
        write_error(wsi, 503, OH_EUNAVAIL, "too many connections");
        return 1;
    }
    up = xmalloc(sizeof(*up));
    up->wsi = wsi;
    HASH_ADD_PTR(s->upgrades, wsi, up);
    return 0;
}

void
http_upgrade_done(struct shard *s, struct lws *wsi, bool established)
{
    struct upgrade *up = NULL;

    HASH_FIND_PTR(s->upgrades, &wsi, up);
    if (up == NULL) {
        return;
    }
    HASH_DEL(s->upgrades, up);
    free(up);
    if (!established) {
        atomic_fetch_sub(&s->node->ws_conns, 1);
    }
}

static bool
is_loopback(const char *peer)
{
    return strncmp(peer, "127.", 4) == 0 || strcmp(peer, "::1") == 0 ||
           strncmp(peer, "::ffff:127.", 11) == 0;
}

/* POST /api/publish: checks who asks and the announced size before any body is read. */
static int
publish_begin(struct shard *s, struct lws *wsi, struct psd *psd)
{
    const struct config *cfg = s->node->cfg;
    char buf[160], peer[48] = "";
    long clen = -1;

    if (cfg->api_key[0] != '\0') {
        char want[sizeof(cfg->api_key) + 8];

        snprintf(want, sizeof(want), "Bearer %s", cfg->api_key);
        if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0 ||
            strcmp(buf, want) != 0) {
            write_error(wsi, 403, OH_EFORBIDDEN, "missing or wrong API key");
            return -1;
        }
    } else {
        lws_get_peer_simple(wsi, peer, sizeof(peer));
        if (!is_loopback(peer)) {
            write_error(wsi, 403, OH_EFORBIDDEN, "without api_key, publishing is loopback only");
            return -1;
        }
    }
    if (lws_hdr_copy(wsi, buf, sizeof(buf), WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0) {
        clen = strtol(buf, NULL, 10);
    }
    if (clen > (long)cfg->max_message_size) {
        write_error(wsi, 413, OH_ETOOBIG, "body larger than max_message_size");
        return -1;
    }
    if (clen <= 0) {
        write_error(wsi, 400, OH_EBADREQ, "a JSON body with Content-Length is required");
        return -1;
    }
    if (psd->c == NULL) {
        psd->c = conn_new_http(s, wsi);
    }
    psd->c->rxlen = 0;
    return 0;
}

int
http_request(struct shard *s, struct lws *wsi, struct psd *psd, const char *uri)
{
    struct strbuf sb = {0};
    int rc;

    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
        if (strcmp(uri, "/api/publish") != 0) {
            return finish(wsi, write_error(wsi, 404, OH_EBADREQ, "no such endpoint"));
        }
        return publish_begin(s, wsi, psd);
    }
    if (strcmp(uri, "/healthz") == 0) {
        return finish(wsi, write_response(wsi, 200, "application/json", "{\"status\":\"ok\"}", 15));
    }
    if (strcmp(uri, "/readyz") == 0) {
        if (atomic_load(&s->node->draining)) {
            return finish(
                wsi, write_response(wsi, 503, "application/json", "{\"status\":\"draining\"}", 21));
        }
        return finish(wsi,
                      write_response(wsi, 200, "application/json", "{\"status\":\"ready\"}", 18));
    }
    if (strcmp(uri, "/metrics") == 0) {
        metrics_render(s, &sb);
        rc = write_response(wsi, 200, "text/plain; version=0.0.4", sb.buf, sb.len);
        sb_free(&sb);
        return finish(wsi, rc);
    }
    return finish(wsi, write_error(wsi, 404, OH_EBADREQ, "no such endpoint"));
}

int
http_body(struct shard *s, struct psd *psd, const void *in, size_t len)
{
    struct conn *c = psd ? psd->c : NULL;
    size_t limit = s->node->cfg->max_message_size;

    if (c == NULL) {
        return -1;
    }
    if (c->rxlen + len > limit) {
        write_error(c->wsi, 413, OH_ETOOBIG, "body larger than max_message_size");
        return -1;
    }
    if (c->rxlen + len > c->rxcap) {
        c->rxcap = c->rxlen + len;
        c->rx = xrealloc(c->rx, c->rxcap);
    }
    memcpy(c->rx + c->rxlen, in, len);
    c->rxlen += len;
    return 0;
}

/*
 * Writes the stored answer of c and closes the connection. A publish answer
 * is not kept alive: lws 4.1 spins, and replays the previous body, when a
 * pipelined request waits behind an answer that comes later from another
 * shard. Publishers that need a high rate use WebSocket.
 */
static int
answer_now(struct lws *wsi, struct conn *c)
{
    write_response_opt(wsi, c->http_status, "application/json", c->http_body, c->http_body_len,
                       true);
    free(c->http_body);
    c->http_body = NULL;
    return -1;
}

static void
publish_body(struct shard *s, struct conn *c)
{
    struct proto_cmd cmd;
    int rc;

    /* WebSocket text must be UTF-8 (lws checks client frames): an HTTP body
     * must be too, or one publisher could make every subscriber close. */
    if (!utf8_valid(c->rx ? c->rx : "", c->rxlen)) {
        atomic_fetch_add_explicit(&s->m.protocol_errors, 1, memory_order_relaxed);
        http_publish_answer(c, OH_EBADREQ, "body is not valid UTF-8", NULL, 0);
        return;
    }
    rc = proto_parse_http_publish(c->rx ? c->rx : "", c->rxlen, &s->node->lim, &cmd);
    if (rc < 0) {
        atomic_fetch_add_explicit(&s->m.protocol_errors, 1, memory_order_relaxed);
        http_publish_answer(c, rc, cmd.errmsg, NULL, 0);
        return;
    }
    conn_publish(c, &cmd);
}

int
http_body_done(struct shard *s, struct lws *wsi, struct psd *psd)
{
    struct conn *c = psd ? psd->c : NULL;

    if (c == NULL) {
        return -1;
    }
    if (c->http_busy) {
        return 0; /* lws replays buffered input while an answer is pending */
    }
    c->http_busy = true;
    publish_body(s, c);
    /* Answer within the callback when the answer is known (this shard is the
     * channel's home, or an error); otherwise http_writeable() answers once the
     * home's reply arrives. Either way the connection then closes. */
    if (c->http_body != NULL) {
        return answer_now(wsi, c);
    }
    return 0;
}

void
http_publish_answer(struct conn *c, int err, const char *message, const char *epoch,
                    uint64_t offset)
{
    struct strbuf sb = {0};

    if (err < 0) {
        proto_encode_http_error(&sb, err, message);
    } else {
        proto_encode_http_result(&sb, epoch, offset);
    }
    free(c->http_body);
    c->http_status = status_of(err);
    c->http_body = sb.buf;
    c->http_body_len = sb.len;
    lws_callback_on_writable(c->wsi);
}

int
http_writeable(struct shard *s, struct lws *wsi, struct psd *psd)
{
    struct conn *c = psd ? psd->c : NULL;

    if (c == NULL || c->http_body == NULL) {
        return 0;
    }
    return answer_now(wsi, c);
}
