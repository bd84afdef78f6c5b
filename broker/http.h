/*
 * HTTP on the WebSocket port: POST /api/publish, GET /healthz, /readyz,
 * /metrics, and the gate in front of WebSocket upgrades. Called from
 * conn_callback() on the shard's thread.
 */
#ifndef OH_HTTP_H
#define OH_HTTP_H

#include <libwebsockets.h>
#include <stdbool.h>

struct conn;
struct shard;

/* Per-session data lws keeps for each wsi of our protocol. */
struct psd {
    struct conn *c;
};

/*
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: 0 to accept, 1 when a refusal was
 * written. An accepted upgrade holds one of max_connections' slots from
 * here on, so upgrades racing on several shards cannot exceed the limit.
 */
int http_confirm_upgrade(struct shard *s, struct lws *wsi);

/* The upgrade of wsi completed (established true) or failed: the slot is
 * kept for the connection, or given back. No-op when wsi holds none. */
void http_upgrade_done(struct shard *s, struct lws *wsi, bool established);

/* Shutdown: forgets every upgrade still in flight. */
void http_upgrades_free(struct shard *s);

/* LWS_CALLBACK_HTTP and the body callbacks; lws return conventions. */
int http_request(struct shard *s, struct lws *wsi, struct psd *psd, const char *uri);
int http_body(struct shard *s, struct psd *psd, const void *in, size_t len);
int http_body_done(struct shard *s, struct lws *wsi, struct psd *psd);
int http_writeable(struct shard *s, struct lws *wsi, struct psd *psd);

/* A forwarded publish came back: stores the answer and asks for writable. */
void http_publish_answer(struct conn *c, int err, const char *message, const char *epoch,
                         uint64_t offset);

/* Writes the Prometheus text of every shard into sb. */
struct strbuf;
void metrics_render(const struct shard *s, struct strbuf *sb);

#endif
