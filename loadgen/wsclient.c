/* Minimal RFC 6455 client on libevent. See wsclient.h. */
#include "wsclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "lg_sha1.h"
#include "strbuf.h"
#include "wsframe.h"
#include "xalloc.h"

#define MAX_RESPONSE_HEADER 8192
#define MAX_MESSAGE         (16u << 20) /* larger messages close the connection with 1009 */

enum state { ST_IDLE, ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_CLOSING };

struct wsc {
    struct event_base *base;
    const struct wsc_cb *cb;
    void *ud;
    struct bufferevent *bev; /* NULL when idle */
    enum state state;
    char key[25];      /* Sec-WebSocket-Key sent */
    struct strbuf msg; /* reassembly of a fragmented message, reused */
    unsigned frag_op;  /* opcode of the message being reassembled, 0 when none */
    bool close_sent;
    bool close_rcvd;
    int close_code; /* peer's close code */
    int sys_errno;
    int http_status;
    uint64_t rng; /* xorshift state for masks and keys */
};

struct wsc *
wsc_new(struct event_base *base, const struct wsc_cb *cb, void *ud)
{
    struct wsc *c = xcalloc(1, sizeof(*c));
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->base = base;
    c->cb = cb;
    c->ud = ud;
    c->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ULL;
    return c;
}

void
wsc_free(struct wsc *c)
{
    if (c == NULL) {
        return;
    }
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
    }
    sb_free(&c->msg);
    free(c);
}

static uint32_t
rnd32(struct wsc *c)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (uint32_t)(c->rng >> 16);
}

/* Ends the connection and reports it. Nothing may touch c after this returns. */
static void
finish(struct wsc *c, int code, enum wsc_err err)
{
    if (c->bev != NULL) {
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
    c->state = ST_IDLE;
    c->frag_op = 0;
    sb_reset(&c->msg);
    c->cb->on_close(c, code, err, c->ud);
}

/* Appends one masked frame to the output: header, then payload XOR mask. */
static void
send_frame(struct wsc *c, unsigned op, const void *payload, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    struct evbuffer_iovec vec;
    unsigned char mask[4];
    uint32_t m = rnd32(c);
    size_t hl;
    unsigned char *p;
    const unsigned char *src = payload;

    memcpy(mask, &m, 4);
    if (evbuffer_reserve_space(out, (ev_ssize_t)(WSFRAME_MAX_HEADER + len), &vec, 1) < 1) {
        abort(); /* out of memory inside libevent */
    }
    p = vec.iov_base;
    hl = wsframe_header(p, op, 1, len, mask);
    for (size_t i = 0; i < len; i++) {
        p[hl + i] = src[i] ^ mask[i & 3];
    }
    vec.iov_len = hl + len;
    evbuffer_commit_space(out, &vec, 1);
}

int
wsc_send_text(struct wsc *c, const char *buf, size_t len)
{
    if (c->state != ST_OPEN) {
        return -1;
    }
    send_frame(c, WS_OP_TEXT, buf, len);
    return 0;
}

static void
send_close(struct wsc *c, unsigned code)
{
    unsigned char body[2] = {(unsigned char)(code >> 8), (unsigned char)code};

    if (!c->close_sent) {
        send_frame(c, WS_OP_CLOSE, body, code ? 2 : 0);
        c->close_sent = true;
    }
}

void
wsc_close(struct wsc *c, unsigned code, unsigned timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};

    if (c->state != ST_OPEN) {
        return;
    }
    send_close(c, code);
    c->state = ST_CLOSING;
    bufferevent_enable(c->bev, EV_READ);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
}

void
wsc_pause_read(struct wsc *c, bool pause)
{
    if (c->bev == NULL) {
        return;
    }
    if (pause) {
        bufferevent_disable(c->bev, EV_READ);
    } else {
        bufferevent_enable(c->bev, EV_READ);
    }
}

bool
wsc_is_open(const struct wsc *c)
{
    return c->state == ST_OPEN;
}

bool
wsc_is_busy(const struct wsc *c)
{
    return c->state != ST_IDLE;
}

int
wsc_sys_errno(const struct wsc *c)
{
    return c->sys_errno;
}

int
wsc_http_status(const struct wsc *c)
{
    return c->http_status;
}

const char *
wsc_strerror(enum wsc_err err)
{
    static const char *const names[] = {"ok",       "connect", "timeout", "handshake",
                                        "protocol", "eof",     "io"};

    if ((unsigned)err < sizeof(names) / sizeof(names[0])) {
        return names[err];
    }
    return "unknown";
}

/* After both close frames: finish once our output has drained (see on_write). */
static int
maybe_finish_closed(struct wsc *c)
{
    if (c->close_sent && c->close_rcvd &&
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        finish(c, c->close_code, WSC_OK);
        return 1;
    }
    return 0;
}

static int
fail_protocol(struct wsc *c, unsigned code)
{
    struct timeval tv = {1, 0};

    send_close(c, code);
    c->close_rcvd = true; /* do not wait for the peer's close */
    c->close_code = 1006;
    c->state = ST_CLOSING;
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_set_timeouts(c->bev, NULL, &tv);
    (void)maybe_finish_closed(c);
    return 1;
}

static void
on_peer_close(struct wsc *c, const unsigned char *p, size_t len)
{
    c->close_code = len >= 2 ? (p[0] << 8 | p[1]) : 1005;
    c->close_rcvd = true;
    /* RFC 6455 5.5.1: echo the status code when we did not send a close first. */
    send_close(c, len >= 2 ? (unsigned)c->close_code : 0);
    c->state = ST_CLOSING;
}

/* Handles one complete frame. Returns 1 when c is finished (must not be touched). */
static int
handle_frame(struct wsc *c, bool fin, unsigned op, unsigned char *p, size_t len)
{
    switch (op) {
    case WS_OP_PING:
        if (!c->close_sent) {
            send_frame(c, WS_OP_PONG, p, len);
        }
        return 0;
    case WS_OP_PONG:
        return 0;
    case WS_OP_CLOSE:
        on_peer_close(c, p, len);
        return maybe_finish_closed(c);
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (c->frag_op != 0) {
            return fail_protocol(c, 1002);
        }
        if (fin) {
            if (c->state == ST_OPEN) {
                c->cb->on_message(c, (char *)p, len, c->ud);
            }
            return 0;
        }
        c->frag_op = op;
        sb_reset(&c->msg);
        sb_append(&c->msg, p, len);
        return 0;
    case WS_OP_CONT:
        if (c->frag_op == 0 || c->msg.len + len > MAX_MESSAGE) {
            return fail_protocol(c, c->frag_op == 0 ? 1002 : 1009);
        }
        sb_append(&c->msg, p, len);
        if (fin) {
            c->frag_op = 0;
            if (c->state == ST_OPEN) {
                c->cb->on_message(c, c->msg.buf, c->msg.len, c->ud);
            }
        }
        return 0;
    default:
        return fail_protocol(c, 1002);
    }
}

/* Reads the frame header at the start of in. Returns the header length,
 * 0 when more bytes are needed, -1 on a malformed header. */
static long
parse_header(struct evbuffer *in, size_t avail, unsigned char *b0, uint64_t *len, bool *masked)
{
    size_t want = avail < WSFRAME_MAX_HEADER ? avail : WSFRAME_MAX_HEADER;
    unsigned char *h = evbuffer_pullup(in, (ev_ssize_t)want);
    unsigned len7 = h[1] & 0x7f;
    size_t hl = 2;

    *b0 = h[0];
    *masked = (h[1] & 0x80) != 0;
    if (len7 == 126) {
        hl = 4;
    } else if (len7 == 127) {
        hl = 10;
    }
    if (*masked) {
        hl += 4;
    }
    if (avail < hl) {
        return 0;
    }
    *len = len7;
    if (len7 == 126) {
        *len = (uint64_t)h[2] << 8 | h[3];
    } else if (len7 == 127) {
        *len = 0;
        for (int i = 0; i < 8; i++) {
            *len = *len << 8 | h[2 + i];
        }
    }
    return (h[0] & 0x70) != 0 ? -1 : (long)hl; /* no extensions were negotiated */
}

/* Processes every complete frame in the input. Returns 1 when c finished. */
static int
read_frames(struct wsc *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);

    for (;;) {
        size_t avail = evbuffer_get_length(in);
        unsigned char b0;
        uint64_t len;
        bool masked;
        long hl;
        unsigned char *p;

        if (avail < 2) {
            return 0;
        }
        hl = parse_header(in, avail, &b0, &len, &masked);
        if (hl <= 0) {
            return hl < 0 ? fail_protocol(c, 1002) : 0;
        }
        if (len > MAX_MESSAGE) {
            return fail_protocol(c, 1009);
        }
        if (avail < (size_t)hl + len) {
            return 0;
        }
        p = evbuffer_pullup(in, (ev_ssize_t)((size_t)hl + len)) + hl;
        if (masked) {
            for (size_t i = 0; i < len; i++) {
                p[i] ^= p[-4 + (i & 3)];
            }
        }
        if (handle_frame(c, (b0 & 0x80) != 0, b0 & 0x0f, p, (size_t)len)) {
            return 1;
        }
        evbuffer_drain(in, (size_t)hl + len);
    }
}

/* Checks the 101 response in hdr[0..len). 0 when it accepts our key. */
static int
check_response(struct wsc *c, const char *hdr, size_t len)
{
    char expect[29];
    const char *line = hdr, *end = hdr + len;
    int status = 0;

    if (sscanf(hdr, "HTTP/1.1 %d", &status) != 1) {
        return -1;
    }
    c->http_status = status;
    if (status != 101) {
        return -1;
    }
    lg_ws_accept(c->key, expect);
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        static const char name[] = "sec-websocket-accept:";
        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - line) > sizeof(name) && strncasecmp(line, name, sizeof(name) - 1) == 0) {
            const char *v = line + sizeof(name) - 1;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            return (eol - v >= 28 && memcmp(v, expect, 28) == 0) ? 0 : -1;
        }
        line = eol + 1;
    }
    return -1;
}

/* Returns 1 when c finished, 0 otherwise (including "need more bytes"). */
static int
read_handshake(struct wsc *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    struct evbuffer_ptr pos = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    size_t hlen;
    char *hdr;

    if (pos.pos < 0) {
        if (evbuffer_get_length(in) > MAX_RESPONSE_HEADER) {
            finish(c, 1006, WSC_E_HANDSHAKE);
            return 1;
        }
        return 0;
    }
    hlen = (size_t)pos.pos + 4;
    hdr = (char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
    hdr[hlen - 1] = '\0'; /* the last '\n': makes sscanf safe */
    if (check_response(c, hdr, hlen) < 0) {
        finish(c, 1006, WSC_E_HANDSHAKE);
        return 1;
    }
    evbuffer_drain(in, hlen);
    c->state = ST_OPEN;
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    c->cb->on_open(c, c->ud);
    return 0;
}

static void
on_read(struct bufferevent *bev, void *arg)
{
    struct wsc *c = arg;

    (void)bev;
    if (c->state == ST_HANDSHAKE) {
        if (read_handshake(c) || c->state == ST_HANDSHAKE) {
            return;
        }
    }
    if (c->state == ST_OPEN || c->state == ST_CLOSING) {
        (void)read_frames(c);
    }
}

static void
on_write(struct bufferevent *bev, void *arg)
{
    struct wsc *c = arg;

    (void)bev;
    if (c->state == ST_CLOSING) {
        (void)maybe_finish_closed(c);
    }
}

static void
send_upgrade(struct wsc *c, const char *host, const char *path)
{
    unsigned char raw[16];

    for (int i = 0; i < 16; i += 4) {
        uint32_t r = rnd32(c);
        memcpy(raw + i, &r, 4);
    }
    lg_base64(raw, sizeof(raw), c->key);
    evbuffer_add_printf(bufferevent_get_output(c->bev),
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\n\r\n",
                        path, host, c->key);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
    struct wsc *c = arg;

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        c->state = ST_HANDSHAKE;
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        finish(c, 1006, WSC_E_TIMEOUT);
    } else if (what & BEV_EVENT_ERROR) {
        c->sys_errno = EVUTIL_SOCKET_ERROR();
        finish(c, 1006, c->state == ST_CONNECTING ? WSC_E_CONNECT : WSC_E_IO);
    } else if (what & BEV_EVENT_EOF) {
        if (c->close_rcvd) {
            finish(c, c->close_code, WSC_OK);
        } else {
            finish(c, 1006, c->state == ST_HANDSHAKE ? WSC_E_HANDSHAKE : WSC_E_EOF);
        }
    }
}

static int
open_socket(struct wsc *c, const struct in_addr *src)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        c->sys_errno = errno;
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (src != NULL) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = *src};
        /* Pick the port at connect(): the 4-tuple, not the address alone, must be unique. */
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            c->sys_errno = errno;
            close(fd);
            return -1;
        }
    }
    return fd;
}

int
wsc_connect(struct wsc *c, const struct sockaddr_in *dst, const struct in_addr *src,
            const char *host, const char *path, unsigned timeout_ms)
{
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    int fd = open_socket(c, src);

    if (fd < 0) {
        return -1;
    }
    c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        c->sys_errno = ENOMEM;
        close(fd);
        return -1;
    }
    c->state = ST_CONNECTING;
    c->close_sent = c->close_rcvd = false;
    c->close_code = 0;
    c->http_status = 0;
    c->frag_op = 0;
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_set_timeouts(c->bev, &tv, &tv);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    send_upgrade(c, host, path); /* queued: written once connected */
    if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
        c->sys_errno = EVUTIL_SOCKET_ERROR();
        bufferevent_free(c->bev);
        c->bev = NULL;
        c->state = ST_IDLE;
        return -1;
    }
    return 0;
}

int
wsc_parse_url(const char *url, struct sockaddr_in *dst, char *host, size_t hostcap, char *path,
              size_t pathcap)
{
    const char *h, *colon, *slash;
    char ip[64];
    unsigned long port;
    char *end;

    if (strncmp(url, "ws://", 5) != 0) {
        return -1;
    }
    h = url + 5;
    colon = strchr(h, ':');
    if (colon == NULL || (size_t)(colon - h) >= sizeof(ip) || (size_t)(colon - h) >= hostcap) {
        return -1;
    }
    port = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || port == 0 || port > 65535 || (*end != '/' && *end != '\0')) {
        return -1;
    }
    slash = *end == '/' ? end : "/";
    memcpy(ip, h, (size_t)(colon - h));
    ip[colon - h] = '\0';
    memset(dst, 0, sizeof(*dst));
    dst->sin_family = AF_INET;
    dst->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, strcmp(ip, "localhost") == 0 ? "127.0.0.1" : ip, &dst->sin_addr) != 1) {
        return -1;
    }
    if ((size_t)snprintf(host, hostcap, "%s:%lu", ip, port) >= hostcap ||
        (size_t)snprintf(path, pathcap, "%s", slash) >= pathcap) {
        return -1;
    }
    return 0;
}
