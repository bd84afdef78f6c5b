/*
 * A minimal RFC 6455 WebSocket client on a libevent bufferevent.
 *
 * One struct wsc is one connection slot: it can be connected, closed and
 * connected again, reusing its buffers (no allocation per message; libevent
 * may grow its own evbuffers). Every function must be called on the thread
 * running the event_base the wsc was created with; callbacks run there too.
 *
 * Callbacks may call wsc_send_text() and wsc_close() on the same wsc.
 * on_close is the last thing the wsc does for that connection: it may call
 * wsc_connect() again or wsc_free().
 */
#ifndef OH_WSCLIENT_H
#define OH_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct event_base;
struct wsc;

/* Why a connection ended, when it did not end with a close handshake. */
enum wsc_err {
    WSC_OK = 0,      /* close frames exchanged; see the code */
    WSC_E_CONNECT,   /* TCP connect failed; see wsc_sys_errno() */
    WSC_E_TIMEOUT,   /* connect, handshake or closing handshake timed out */
    WSC_E_HANDSHAKE, /* HTTP status not 101 or bad Sec-WebSocket-Accept */
    WSC_E_PROTOCOL,  /* malformed frame from the server (we sent 1002) */
    WSC_E_EOF,       /* TCP closed without a close frame */
    WSC_E_IO,        /* socket error after connecting; see wsc_sys_errno() */
};

struct wsc_cb {
    /* The upgrade succeeded; messages can be sent. */
    void (*on_open)(struct wsc *c, void *ud);
    /* One complete text (or binary) message. buf is valid only during the
     * call; it may be modified in place (e.g. by an in-place JSON parser). */
    void (*on_message)(struct wsc *c, char *buf, size_t len, void *ud);
    /* The connection is gone. code is the peer's close code (1005 when its
     * close frame had none, 1006 when there was no close frame). */
    void (*on_close)(struct wsc *c, int code, enum wsc_err err, void *ud);
};

/* Returns a new idle wsc on base. cb must outlive it. Never NULL (aborts on OOM). */
struct wsc *wsc_new(struct event_base *base, const struct wsc_cb *cb, void *ud);

/* Frees c; closes its socket abruptly (no close frame) when still open. */
void wsc_free(struct wsc *c);

/*
 * Starts connecting to dst, from the source address src (NULL: any), then
 * sends the upgrade for path with Host: host. timeout_ms bounds connect and
 * handshake. Returns 0 (on_open or on_close follows) or -1 when the socket
 * could not even be started (wsc_sys_errno() says why; no callback follows).
 * c must be idle (new, or after its on_close).
 */
int wsc_connect(struct wsc *c, const struct sockaddr_in *dst, const struct in_addr *src,
                const char *host, const char *path, unsigned timeout_ms);

/* Sends one masked text frame. Returns 0, or -1 when c is not open. */
int wsc_send_text(struct wsc *c, const char *buf, size_t len);

/*
 * Starts the closing handshake with code (RFC 6455 7.4); on_close follows
 * when the server answers, or after timeout_ms. No-op unless open.
 */
void wsc_close(struct wsc *c, unsigned code, unsigned timeout_ms);

/* Stops (pause = true) or restarts reading from the socket. */
void wsc_pause_read(struct wsc *c, bool pause);

/* true between on_open and the start of closing. */
bool wsc_is_open(const struct wsc *c);

/* true while connecting, open or closing (an on_close is still to come). */
bool wsc_is_busy(const struct wsc *c);

/* errno of the last socket failure (WSC_E_CONNECT, WSC_E_IO, or wsc_connect's -1). */
int wsc_sys_errno(const struct wsc *c);

/* HTTP status of a refused upgrade (WSC_E_HANDSHAKE), 0 when none was read. */
int wsc_http_status(const struct wsc *c);

/* Short name of an error, e.g. "timeout". */
const char *wsc_strerror(enum wsc_err err);

/* Parses "ws://HOST:PORT/PATH" (HOST an IPv4 literal or localhost) into dst,
 * host (for the Host header, hostcap bytes) and path (pathcap). 0 or -1. */
int wsc_parse_url(const char *url, struct sockaddr_in *dst, char *host, size_t hostcap, char *path,
                  size_t pathcap);

#endif
