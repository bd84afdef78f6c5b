#include "shard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "pub.h"
#include "xalloc.h"

#define ACCEPTS_PER_WAKE 64
#define TICK_MS          250
#define TX_PACKET        32768 /* one coalesced write at most; also the lws send size */
#define RX_BUFFER        1024  /* lws allocates this per connection: keep idle ones cheap */

static const struct lws_protocols protocols[] = {
    {"omnihub", conn_callback, sizeof(struct psd), RX_BUFFER, 0, NULL, TX_PACKET},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

struct msg *
msg_new(enum msg_type type, const char *channel, size_t channel_len)
{
    struct msg *m = xcalloc(1, sizeof(*m) + channel_len + 1);

    m->type = type;
    memcpy(m->channel, channel, channel_len);
    m->channel_len = channel_len;
    m->recovered = -1;
    return m;
}

void
msg_free(struct msg *m)
{
    pub_unref(m->pub);
    for (size_t i = 0; i < m->npubs; i++) {
        pub_unref(m->pubs[i]);
    }
    free(m->pubs);
    free(m->data);
    free(m);
}

static _Thread_local struct shard *this_shard; /* NULL outside shard threads */

void
shard_post(struct shard *s, struct msg *m)
{
    struct outbox *ob;

    if (this_shard == NULL || this_shard->outbox == NULL) {
        mailbox_post(&s->mb, &m->node);
        return;
    }
    ob = &this_shard->outbox[s->id];
    m->node.next = NULL;
    if (ob->head == NULL) {
        ob->head = &m->node;
    } else {
        ob->tail->next = &m->node;
    }
    ob->tail = &m->node;
}

/* Sends every outbox of s: one mailbox_post_list() per destination. */
static void
flush_outboxes(struct shard *s)
{
    for (unsigned i = 0; i < s->node->nshards; i++) {
        struct outbox *ob = &s->outbox[i];

        if (ob->head != NULL) {
            mailbox_post_list(&s->node->shards[i].mb, ob->head, ob->tail);
            ob->head = NULL;
            ob->tail = NULL;
        }
    }
}

/* ---- the home side of cross-shard requests ---- */

static void
reply_to(struct shard *s, struct msg *m, enum msg_type type)
{
    m->type = type;
    shard_post(&s->node->shards[m->from], m);
}

static void
on_publish(struct shard *s, struct msg *m)
{
    m->err =
        home_publish(s, m->channel, m->channel_len, m->data, m->data_len, m->epoch, &m->offset);
    free(m->data);
    m->data = NULL;
    reply_to(s, m, MSG_PUBLISH_ACK);
}

static void
on_subscribe(struct shard *s, struct msg *m)
{
    struct sub_answer ans;

    home_subscribe(s, m->from, m->channel, m->channel_len, &m->since, &ans);
    memcpy(m->epoch, ans.epoch, sizeof(m->epoch));
    m->offset = ans.offset;
    m->recovered = ans.recovered;
    m->pubs = ans.pubs;
    m->npubs = ans.npubs;
    reply_to(s, m, MSG_SUB_ACK);
}

static void
on_history(struct shard *s, struct msg *m)
{
    sb_reset(&s->scratch);
    home_history(s, m->channel, m->channel_len, &m->since, m->limit, m->req_id,
                 s->node->cfg->max_queue_size / 2, &s->scratch);
    m->pub = pub_from_json(&s->scratch);
    reply_to(s, m, MSG_FRAME);
}

static void begin_stop(struct shard *s);

static void
dispatch(struct shard *s, struct msg *m)
{
    switch (m->type) {
    case MSG_PUBLISH:
        on_publish(s, m);
        return; /* m travelled on */
    case MSG_SUBSCRIBE:
        on_subscribe(s, m);
        return;
    case MSG_HISTORY:
        on_history(s, m);
        return;
    case MSG_PUBLISH_ACK:
        conn_on_publish_ack(s, m);
        break;
    case MSG_SUB_ACK:
        conn_on_sub_ack(s, m);
        break;
    case MSG_FRAME:
        conn_on_frame(s, m);
        break;
    case MSG_DELIVER:
        lchan_deliver(s, m->channel, m->channel_len, m->pub);
        break;
    case MSG_UNINTEREST:
        home_uninterest(s, m->from, m->channel, m->channel_len);
        break;
    case MSG_STOP:
        begin_stop(s);
        break;
    }
    msg_free(m);
}

static void
on_mailbox(uv_poll_t *h, int status, int events)
{
    struct shard *s = h->data;
    struct mb_node *list = mailbox_take_all(&s->mb);

    while (list != NULL) {
        struct msg *m = (struct msg *)list;

        list = list->next;
        dispatch(s, m);
    }
}

/* ---- accepting ---- */

static void on_listen(uv_poll_t *h, int status, int events);

static void
resume_accept(uv_timer_t *t)
{
    struct shard *s = t->data;

    if (s->listening) {
        uv_poll_start(&s->listen_poll, UV_READABLE, on_listen);
    }
}

static void
tune_socket(struct shard *s, int fd)
{
    int one = 1;
    int sndbuf = (int)s->node->cfg->sndbuf;

    /* Adopted sockets get neither from lws: without NODELAY small pushes wait for
     * delayed ACKs, and without a bounded SNDBUF a slow reader hides in the kernel. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
}

static void
on_listen(uv_poll_t *h, int status, int events)
{
    struct shard *s = h->data;

    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            /* Out of descriptors or memory: the operator must act; back off meanwhile. */
            log_ratelimited(LOG_ERROR, "accept failed: %s; pausing accepts for 100ms",
                            strerror(errno));
            uv_poll_stop(&s->listen_poll);
            uv_timer_start(&s->accept_pause, resume_accept, 100, 0);
            return;
        }
        tune_socket(s, fd);
        if (lws_adopt_socket_vhost(s->vhost, fd) == NULL) {
            log_ratelimited(LOG_WARN, "could not adopt an accepted socket");
        }
    }
}

/*
 * With SO_REUSEPORT a second daemon of the same user could bind the same
 * explicit port and silently take half the clients. A probe bound without
 * SO_REUSEPORT fails with EADDRINUSE when anyone already listens there.
 */
static int
port_is_free(const struct addrinfo *ai)
{
    int one = 1, rc;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return 1; /* let the real bind report it */
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
    close(fd);
    return rc == 0 || errno != EADDRINUSE;
}

int
shard_listen(struct shard *s, const struct node *n)
{
    const struct config *cfg = n->cfg;
    struct addrinfo hints = {0}, *ai = NULL;
    char port[16];
    int fd = -1, one = 1, rc;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof(port), "%u", s->id == 0 ? cfg->listen_port : n->port);
    rc = getaddrinfo(cfg->listen_host, port, &hints, &ai);
    if (rc != 0) {
        log_error("cannot resolve listen address %s: %s", cfg->listen_host, gai_strerror(rc));
        return OH_ESYS;
    }
    if (s->id == 0 && cfg->listen_port != 0 && !port_is_free(ai)) {
        log_error("cannot listen on %s:%s: address already in use (another omnihubd?)",
                  cfg->listen_host, port);
        freeaddrinfo(ai);
        return OH_ESYS;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        log_error("cannot listen on %s:%s: %s", cfg->listen_host, port, strerror(errno));
        goto fail;
    }
    freeaddrinfo(ai);
    s->listen_fd = fd;
    return 0;

fail:
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(ai);
    return OH_ESYS;
}

/* ---- ticks and stopping ---- */

static void
on_check(uv_check_t *h)
{
    conn_flush_dirty(h->data);
    flush_outboxes(h->data);
}

static void
on_prepare(uv_prepare_t *h)
{
    flush_outboxes(h->data);
}

static void
finish_stop(struct shard *s)
{
    uv_close((uv_handle_t *)&s->flush, NULL);
    uv_close((uv_handle_t *)&s->preflush, NULL);
    uv_close((uv_handle_t *)&s->mb_poll, NULL);
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->accept_pause, NULL);
    /* First call starts lws's teardown of its own handles; uv_run then returns. */
    lws_context_destroy(s->ctx);
}

static void
on_tick(uv_timer_t *t)
{
    struct shard *s = t->data;
    uint64_t now = now_ms();

    if (s->stopping) {
        if (HASH_COUNT(s->conns) == 0 || now >= s->stop_deadline_ms) {
            uv_timer_stop(&s->tick);
            finish_stop(s);
        }
        return;
    }
    /* A pass over the connections costs ~1 ns each: 250 ms keeps pings on time. */
    conn_sweep(s, now);
    if (now - s->last_sweep_ms >= 1000) {
        s->last_sweep_ms = now;
        home_expire(s, now, s->node->cfg->idle_expiry_ms);
    }
}

static void
begin_stop(struct shard *s)
{
    if (s->stopping) {
        return;
    }
    s->stopping = true;
    s->stop_deadline_ms = now_ms() + s->node->cfg->drain_timeout_ms;
    if (s->listening) {
        s->listening = false;
        uv_poll_stop(&s->listen_poll);
        uv_close((uv_handle_t *)&s->listen_poll, NULL);
    }
    conn_drain_all(s);
}

/* ---- the thread ---- */

static int
create_context(struct shard *s)
{
    const struct config *cfg = s->node->cfg;
    struct lws_context_creation_info info;
    static lws_retry_bo_t retry; /* never written: all zero */
    void *loops[1] = {&s->loop};

    /* lws's own pings are off (0): conn_sweep() pings and closes with 4002 itself,
     * because lws 4.1 reports no pong to an empty ping. */
    retry.secs_since_valid_ping = 0;
    retry.secs_since_valid_hangup = 0;

    memset(&info, 0, sizeof(info));
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = protocols;
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_VALIDATE_UTF8 |
                   LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    info.foreign_loops = loops;
    info.user = s;
    info.timeout_secs_ah_idle = (unsigned)(cfg->handshake_timeout_ms / 1000);
    info.timeout_secs = (unsigned)(cfg->handshake_timeout_ms / 1000);
    info.retry_and_idle_policy = &retry;
    /* Never set info.extensions: frames are pre-framed and sent RAW. */
    s->ctx = lws_create_context(&info);
    if (s->ctx == NULL) {
        log_error("lws context creation failed (is libwebsockets-evlib-uv installed?)");
        return OH_EINTERNAL;
    }
    s->vhost = lws_get_vhost_by_name(s->ctx, "default");
    if (s->vhost == NULL) {
        log_error("lws default vhost missing");
        return OH_EINTERNAL;
    }
    return 0;
}

static void *
shard_main(void *arg)
{
    struct shard *s = arg;
    char ctx[16];

    snprintf(ctx, sizeof(ctx), "shard=%u", s->id);
    log_set_thread_context(ctx);
    this_shard = s;
    uv_run(&s->loop, UV_RUN_DEFAULT);
    /* Second destroy frees the context now that its handles are closed. */
    lws_context_destroy(s->ctx);
    s->ctx = NULL;
    flush_outboxes(s); /* what the last closes posted; shard_join() frees the rest */
    if (uv_loop_close(&s->loop) != 0) {
        log_warn("event loop closed with handles still open");
    }
    return NULL;
}

int
shard_start(struct shard *s)
{
    int rc;

    uv_loop_init(&s->loop);
    rc = create_context(s);
    if (rc < 0) {
        return rc;
    }
    s->wbuf_size = TX_PACKET;
    s->wbuf = xmalloc(LWS_PRE + s->wbuf_size);
    uv_poll_init(&s->loop, &s->mb_poll, s->mb.efd);
    s->mb_poll.data = s;
    uv_poll_start(&s->mb_poll, UV_READABLE, on_mailbox);
    uv_poll_init(&s->loop, &s->listen_poll, s->listen_fd);
    s->listen_poll.data = s;
    uv_poll_start(&s->listen_poll, UV_READABLE, on_listen);
    s->listening = true;
    s->outbox = xcalloc(s->node->nshards, sizeof(*s->outbox));
    uv_check_init(&s->loop, &s->flush);
    s->flush.data = s;
    uv_check_start(&s->flush, on_check);
    uv_prepare_init(&s->loop, &s->preflush);
    s->preflush.data = s;
    uv_prepare_start(&s->preflush, on_prepare);
    uv_timer_init(&s->loop, &s->accept_pause);
    s->accept_pause.data = s;
    uv_timer_init(&s->loop, &s->tick);
    s->tick.data = s;
    uv_timer_start(&s->tick, on_tick, TICK_MS, TICK_MS);
    rc = pthread_create(&s->thread, NULL, shard_main, s);
    if (rc != 0) {
        log_error("cannot start shard thread: %s", strerror(rc));
        return OH_ESYS;
    }
    return 0;
}

void
shard_join(struct shard *s)
{
    pthread_join(s->thread, NULL);
}

void
shard_free(struct shard *s)
{
    struct mb_node *list;

    /* Messages posted after this shard stopped (a shard that stopped later
     * flushes its outboxes on the way out): release what they hold. */
    list = mailbox_take_all(&s->mb);
    while (list != NULL) {
        struct msg *m = (struct msg *)list;

        list = list->next;
        msg_free(m);
    }
    home_free_all(s);
    http_upgrades_free(s);
    while (s->locals != NULL) {
        struct lchan *lc = s->locals;

        HASH_DELETE(hh, s->locals, lc);
        free(lc->subs);
        free(lc);
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    mailbox_destroy(&s->mb);
    free(s->outbox);
    sb_free(&s->scratch);
    free(s->wbuf);
}
