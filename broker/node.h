/*
 * The node: what every thread of one omnihubd process shares. Everything
 * here is written by the main thread before the shards start, except the
 * fields marked atomic.
 */
#ifndef OH_NODE_H
#define OH_NODE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "proto.h"

struct shard;

struct node {
    const struct config *cfg;
    struct proto_limits lim;
    unsigned nshards;
    struct shard *shards; /* array of nshards */
    char epoch_base[12];  /* random per process start: epochs never repeat */
    unsigned port;        /* the port actually bound */
    unsigned started;     /* shards whose thread runs (main thread only) */
    atomic_uint ws_conns; /* atomic: open WebSocket connections, all shards */
    atomic_bool draining; /* atomic: set once by the main thread on SIGTERM */
};

/* Monotonic milliseconds. Any thread. */
uint64_t now_ms(void);

/* The shard that is home of a channel: hash(name) % nshards. Any thread. */
unsigned node_home_of(const struct node *n, const char *name, size_t len);

#endif
