/*
 * Unit tests of loadgen/wsclient.c against a hand-driven server on
 * 127.0.0.1 in the same thread: handshake check, fragmented messages with a
 * ping in between, a 64-bit length frame, client masking, the close
 * handshake, and a refused handshake. Every wait is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "lg_sha1.h"
#include "wsclient.h"

struct obs {
    int opened;
    int closed;
    int close_code;
    enum wsc_err err;
    int messages;
    size_t last_len;
    char last[128];
};

static void
o_open(struct wsc *c, void *ud)
{
    (void)c;
    ((struct obs *)ud)->opened++;
}

static void
o_msg(struct wsc *c, char *buf, size_t len, void *ud)
{
    struct obs *o = ud;

    (void)c;
    o->messages++;
    o->last_len = len;
    memcpy(o->last, buf, len < sizeof(o->last) ? len : sizeof(o->last));
}

static void
o_close(struct wsc *c, int code, enum wsc_err err, void *ud)
{
    struct obs *o = ud;

    (void)c;
    o->closed++;
    o->close_code = code;
    o->err = err;
}

static const struct wsc_cb cb = {o_open, o_msg, o_close};

struct fixture {
    struct event_base *base;
    int lfd;
    int sfd; /* server side of the connection */
    struct sockaddr_in addr;
    struct wsc *c;
    struct obs o;
};

/* Runs the loop until *flag becomes nonzero (at most ~5 s). */
static void
pump_until(struct fixture *f, const int *flag)
{
    for (int i = 0; i < 5000 && *flag == 0; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        if (*flag == 0) {
            usleep(1000);
        }
    }
    assert_true(*flag != 0);
}

/* Reads exactly n bytes from the server socket, pumping the client loop meanwhile. */
static void
srv_read(struct fixture *f, unsigned char *buf, size_t n)
{
    size_t got = 0;

    for (int i = 0; i < 5000 && got < n; i++) {
        ssize_t r = recv(f->sfd, buf + got, n - got, MSG_DONTWAIT);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        assert_true(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    assert_int_equal(got, n);
}

static void
srv_send(struct fixture *f, const void *buf, size_t n)
{
    assert_int_equal(send(f->sfd, buf, n, 0), (ssize_t)n);
}

/* Reads the upgrade request and returns the Sec-WebSocket-Key in key. */
static void
srv_read_request(struct fixture *f, char key[64])
{
    char req[2048];
    size_t len = 0;
    const char *k;

    while (len < 4 || memcmp(req + len - 4, "\r\n\r\n", 4) != 0) {
        assert_true(len < sizeof(req) - 1);
        srv_read(f, (unsigned char *)req + len, 1);
        len++;
    }
    req[len] = '\0';
    assert_non_null(strstr(req, "GET /ws HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "Sec-WebSocket-Version: 13\r\n"));
    k = strstr(req, "Sec-WebSocket-Key: ");
    assert_non_null(k);
    k += strlen("Sec-WebSocket-Key: ");
    assert_int_equal(sscanf(k, "%63[^\r]", key), 1);
    assert_int_equal(strlen(key), 24);
}

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    socklen_t alen = sizeof(f->addr);

    f->base = event_base_new();
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    f->addr.sin_family = AF_INET;
    f->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(f->lfd, (struct sockaddr *)&f->addr, sizeof(f->addr)) < 0 || listen(f->lfd, 4) < 0 ||
        getsockname(f->lfd, (struct sockaddr *)&f->addr, &alen) < 0) {
        return -1;
    }
    f->c = wsc_new(f->base, &cb, &f->o);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    wsc_free(f->c);
    if (f->sfd > 0) {
        close(f->sfd);
    }
    close(f->lfd);
    event_base_free(f->base);
    free(f);
    return 0;
}

/* Connects the client and accepts it; answers the upgrade with accept (NULL: the right one). */
static void
connect_and_upgrade(struct fixture *f, const char *accept_value)
{
    char key[64], acc[29], resp[256];
    struct pollfd p = {.fd = f->lfd, .events = POLLIN};

    assert_int_equal(wsc_connect(f->c, &f->addr, NULL, "127.0.0.1", "/ws", 5000), 0);
    for (int i = 0; i < 5000 && poll(&p, 1, 0) == 0; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    f->sfd = accept(f->lfd, NULL, NULL);
    assert_true(f->sfd >= 0);
    srv_read_request(f, key);
    lg_ws_accept(key, acc);
    snprintf(resp, sizeof(resp),
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "sec-websocket-accept: %s\r\n\r\n",
             accept_value != NULL ? accept_value : acc);
    srv_send(f, resp, strlen(resp));
}

/* Reads one client frame; checks it is masked and unmasks it into payload. */
static size_t
srv_read_frame(struct fixture *f, unsigned *op, unsigned char *payload, size_t cap)
{
    unsigned char h[2], mask[4];
    size_t len;

    srv_read(f, h, 2);
    assert_true((h[1] & 0x80) != 0); /* RFC 6455 5.3: client frames are masked */
    len = h[1] & 0x7f;
    assert_true(len < 126 && len <= cap);
    *op = h[0] & 0x0f;
    srv_read(f, mask, 4);
    srv_read(f, payload, len);
    for (size_t i = 0; i < len; i++) {
        payload[i] ^= mask[i & 3];
    }
    return len;
}

static void
test_fragments_ping_and_text(void **state)
{
    struct fixture *f = *state;
    static const unsigned char frames[] = {
        0x01, 3, 'h', 'e', 'l',           /* text, not final */
        0x89, 1, 'p',                     /* ping between fragments (RFC 6455 5.4) */
        0x80, 2, 'l', 'o',                /* final continuation */
        0x81, 5, 'w', 'o', 'r', 'l', 'd', /* a whole message */
    };
    unsigned char buf[64];
    unsigned op;
    size_t n;

    (void)state;
    connect_and_upgrade(f, NULL);
    pump_until(f, &f->o.opened);
    srv_send(f, frames, sizeof(frames));
    n = srv_read_frame(f, &op, buf, sizeof(buf));
    assert_int_equal(op, 0xA); /* pong with the ping's payload */
    assert_int_equal(n, 1);
    assert_int_equal(buf[0], 'p');
    for (int i = 0; i < 5000 && f->o.messages < 2; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    assert_int_equal(f->o.messages, 2);
    assert_int_equal(f->o.last_len, 5);
    assert_memory_equal(f->o.last, "world", 5);
    assert_int_equal(wsc_send_text(f->c, "abc", 3), 0);
    n = srv_read_frame(f, &op, buf, sizeof(buf));
    assert_int_equal(op, 0x1);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "abc", 3);
}

static void
test_large_frame_and_close_handshake(void **state)
{
    struct fixture *f = *state;
    size_t big = 70000; /* needs the 64-bit length form */
    unsigned char *frame = malloc(10 + big), buf[8];
    static const unsigned char close4001[] = {0x88, 2, 0x0f, 0xa1};
    unsigned op;

    (void)state;
    connect_and_upgrade(f, NULL);
    pump_until(f, &f->o.opened);
    frame[0] = 0x81;
    frame[1] = 127;
    for (int i = 0; i < 8; i++) {
        frame[2 + i] = (unsigned char)((uint64_t)big >> (56 - 8 * i));
    }
    memset(frame + 10, 'z', big);
    srv_send(f, frame, 10 + big);
    free(frame);
    for (int i = 0; i < 5000 && f->o.messages < 1; i++) {
        event_base_loop(f->base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
    assert_int_equal(f->o.last_len, big);
    srv_send(f, close4001, sizeof(close4001));
    assert_int_equal(srv_read_frame(f, &op, buf, sizeof(buf)), 2);
    assert_int_equal(op, 0x8); /* the close is echoed with its code */
    assert_int_equal(buf[0] << 8 | buf[1], 4001);
    pump_until(f, &f->o.closed);
    assert_int_equal(f->o.close_code, 4001);
    assert_int_equal(f->o.err, WSC_OK);
    assert_false(wsc_is_busy(f->c));
    assert_int_equal(wsc_send_text(f->c, "x", 1), -1);
}

static void
test_client_initiated_close(void **state)
{
    struct fixture *f = *state;
    static const unsigned char reply[] = {0x88, 2, 0x03, 0xe8};
    unsigned char buf[8];
    unsigned op;

    (void)state;
    connect_and_upgrade(f, NULL);
    pump_until(f, &f->o.opened);
    wsc_close(f->c, 1000, 2000);
    assert_false(wsc_is_open(f->c));
    assert_int_equal(srv_read_frame(f, &op, buf, sizeof(buf)), 2);
    assert_int_equal(op, 0x8);
    assert_int_equal(buf[0] << 8 | buf[1], 1000);
    srv_send(f, reply, sizeof(reply));
    pump_until(f, &f->o.closed);
    assert_int_equal(f->o.close_code, 1000);
    assert_int_equal(f->o.err, WSC_OK);
}

static void
test_bad_accept_is_refused(void **state)
{
    struct fixture *f = *state;

    (void)state;
    connect_and_upgrade(f, "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    pump_until(f, &f->o.closed);
    assert_int_equal(f->o.opened, 0);
    assert_int_equal(f->o.err, WSC_E_HANDSHAKE);
    assert_int_equal(wsc_http_status(f->c), 101);
}

static void
test_eof_without_close_frame(void **state)
{
    struct fixture *f = *state;

    (void)state;
    connect_and_upgrade(f, NULL);
    pump_until(f, &f->o.opened);
    close(f->sfd);
    f->sfd = -1;
    pump_until(f, &f->o.closed);
    assert_int_equal(f->o.close_code, 1006);
    assert_int_equal(f->o.err, WSC_E_EOF);
}

static void
test_refused_connect(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in dead = f->addr;

    (void)state;
    close(f->lfd); /* nothing listens on that port any more */
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(wsc_connect(f->c, &dead, NULL, "127.0.0.1", "/ws", 2000), 0);
    pump_until(f, &f->o.closed);
    assert_int_equal(f->o.err, WSC_E_CONNECT);
    assert_int_equal(wsc_sys_errno(f->c), ECONNREFUSED);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fragments_ping_and_text, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_frame_and_close_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_initiated_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_accept_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_without_close_frame, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_connect, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
