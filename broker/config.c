#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "oh_error.h"
#include "proto.h"

enum key_type { K_UINT, K_SIZE, K_DURATION, K_STRING, K_LISTEN, K_LEVEL };

struct key_def {
    const char *section;
    const char *name;
    enum key_type type;
    size_t off;
    size_t len; /* K_STRING: buffer size */
    uint64_t min;
    uint64_t max;
};

#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)

/* Every key, with its bounds. The example config documents each one. */
static const struct key_def keys[] = {
    {"server", "listen", K_LISTEN, F(listen_host), 0, 0},
    {"server", "shards", K_UINT, F(shards), 0, 256},
    {"server", "node_id", K_STRING, F(node_id), 0, 0},
    {"server", "max_connections", K_UINT, F(max_connections), 1, 10000000},
    {"server", "handshake_timeout", K_DURATION, F(handshake_timeout_ms), 1000, 3600000},
    {"server", "idle_timeout", K_DURATION, F(idle_timeout_ms), 1000, 86400000},
    {"server", "ping_interval", K_DURATION, F(ping_interval_ms), 1000, 86400000},
    {"server", "drain_timeout", K_DURATION, F(drain_timeout_ms), 0, 3600000},
    {"server", "api_key", K_STRING, F(api_key), 0, 0},
    {"server", "sndbuf", K_SIZE, F(sndbuf), 4096, 64 << 20},
    {"limits", "max_message_size", K_SIZE, F(max_message_size), 256, 64 << 20},
    {"limits", "max_channel_length", K_UINT, F(max_channel_length), 1, PROTO_CHANNEL_MAX},
    {"limits", "max_json_depth", K_UINT, F(max_json_depth), 2, 1000},
    {"limits", "max_subscriptions", K_UINT, F(max_subscriptions), 1, 1000000},
    {"limits", "max_queue_size", K_SIZE, F(max_queue_size), 4096, 1ULL << 32},
    {"limits", "publish_rate", K_UINT, F(publish_rate), 0, 100000000},
    {"limits", "publish_burst", K_UINT, F(publish_burst), 1, 100000000},
    {"limits", "max_pending_requests", K_UINT, F(max_pending_requests), 1, 100000},
    {"channels", "ring_size", K_UINT, F(ring_size), 1, 1000000},
    {"channels", "idle_expiry", K_DURATION, F(idle_expiry_ms), 1000, 86400000ULL * 365},
    {"log", "level", K_LEVEL, F(log_level), 0, 0},
};

#undef F

void
config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
    cfg->listen_port = 7400;
    snprintf(cfg->node_id, sizeof(cfg->node_id), "node1");
    cfg->max_connections = 19000;
    cfg->handshake_timeout_ms = 10000;
    cfg->idle_timeout_ms = 60000;
    cfg->ping_interval_ms = 25000;
    cfg->drain_timeout_ms = 5000;
    cfg->sndbuf = 64 * 1024;
    cfg->max_message_size = 64 * 1024;
    cfg->max_channel_length = PROTO_CHANNEL_MAX;
    cfg->max_json_depth = 32;
    cfg->max_subscriptions = 1000;
    cfg->max_queue_size = 1024 * 1024;
    cfg->publish_rate = 10000;
    cfg->publish_burst = 20000;
    cfg->max_pending_requests = 64;
    cfg->ring_size = 1000;
    cfg->idle_expiry_ms = 5 * 60 * 1000;
    cfg->log_level = LOG_INFO;
}

/* Parses a number followed by an optional unit from units[]; 0 or -1. */
static int
parse_scaled(const char *s, const char *const *units, const uint64_t *scale, size_t nunits,
             uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return -1;
    }
    while (*end == ' ') {
        end++;
    }
    for (size_t i = 0; i < nunits; i++) {
        if (strcmp(end, units[i]) == 0) {
            if (scale[i] != 0 && v > UINT64_MAX / scale[i]) {
                return -1;
            }
            *out = v * scale[i];
            return 0;
        }
    }
    return -1;
}

int
config_parse_size(const char *s, uint64_t *out)
{
    static const char *const units[] = {"", "B", "KiB", "MiB", "GiB", "k", "K", "M", "G"};
    static const uint64_t scale[] = {1,    1,    1024,    1048576,   1073741824,
                                     1024, 1024, 1048576, 1073741824};

    return parse_scaled(s, units, scale, sizeof(scale) / sizeof(scale[0]), out);
}

int
config_parse_duration(const char *s, uint64_t *out_ms)
{
    static const char *const units[] = {"", "ms", "s", "m", "h"};
    static const uint64_t scale[] = {1000, 1, 1000, 60000, 3600000};

    return parse_scaled(s, units, scale, sizeof(scale) / sizeof(scale[0]), out_ms);
}

int
config_parse_listen(struct config *cfg, const char *s)
{
    const char *colon = strrchr(s, ':');
    char *end;
    unsigned long port;
    size_t hostlen;

    if (colon == NULL || colon == s) {
        return -1;
    }
    hostlen = (size_t)(colon - s);
    if (s[0] == '[' && colon[-1] == ']') {
        s++; /* [::1]:7400 */
        hostlen -= 2;
    }
    if (hostlen == 0 || hostlen >= sizeof(cfg->listen_host)) {
        return -1;
    }
    errno = 0;
    port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port > 65535) {
        return -1;
    }
    memcpy(cfg->listen_host, s, hostlen);
    cfg->listen_host[hostlen] = '\0';
    cfg->listen_port = (unsigned)port;
    return 0;
}

static int
apply_key(struct config *cfg, const struct key_def *k, const char *value, char *err, size_t errlen)
{
    char *field = (char *)cfg + k->off;
    uint64_t v = 0;
    char *end;
    int rc = 0;

    switch (k->type) {
    case K_STRING:
        if (strlen(value) >= k->len) {
            snprintf(err, errlen, "%s is longer than %zu bytes", k->name, k->len - 1);
            return OH_ECONFIG;
        }
        /* node_id appears in logs as key=value and, later, on the cluster bus. */
        if (k->off == offsetof(struct config, node_id) &&
            (value[0] == '\0' || strspn(value, NAME_CHARS) != strlen(value))) {
            snprintf(err, errlen, "node_id '%s' must be 1..63 of [A-Za-z0-9_.-]", value);
            return OH_ECONFIG;
        }
        memcpy(field, value, strlen(value) + 1);
        return 0;
    case K_LISTEN:
        if (config_parse_listen(cfg, value) < 0) {
            snprintf(err, errlen, "listen must be HOST:PORT, got '%s'", value);
            return OH_ECONFIG;
        }
        return 0;
    case K_LEVEL:
        rc = log_level_parse(value);
        if (rc < 0) {
            snprintf(err, errlen, "level must be error, warn, notice, info or debug, got '%s'",
                     value);
            return OH_ECONFIG;
        }
        *(int *)field = rc;
        return 0;
    case K_UINT:
        errno = 0;
        v = strtoull(value, &end, 10);
        rc = (errno != 0 || *value < '0' || *value > '9' || *end != '\0') ? -1 : 0;
        break;
    case K_SIZE:
        rc = config_parse_size(value, &v);
        break;
    case K_DURATION:
        rc = config_parse_duration(value, &v);
        break;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s: cannot parse '%s' (%s)", k->name, value,
                 k->type == K_SIZE       ? "a size like 65536, 64KiB or 1MiB"
                 : k->type == K_DURATION ? "a duration like 500ms, 10s or 5m"
                                         : "a whole number");
        return OH_ECONFIG;
    }
    if (v < k->min || v > k->max) {
        snprintf(err, errlen, "%s must be between %llu and %llu%s", k->name,
                 (unsigned long long)k->min, (unsigned long long)k->max,
                 k->type == K_SIZE       ? " bytes"
                 : k->type == K_DURATION ? " ms"
                                         : "");
        return OH_ECONFIG;
    }
    if (k->len == sizeof(unsigned)) {
        *(unsigned *)field = (unsigned)v;
    } else {
        *(uint64_t *)field = v;
    }
    return 0;
}

int
config_set(struct config *cfg, const char *section, const char *key, const char *value, char *err,
           size_t errlen)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, key) == 0) {
            return apply_key(cfg, &keys[i], value, err, errlen);
        }
    }
    snprintf(err, errlen, "unknown key '%s' in section [%s]", key, section);
    return OH_ECONFIG;
}

struct load_ctx {
    struct config *cfg;
    const char *path;
    FILE *f;
    int errors;
    int line; /* line last read: inih hands it to the handler right after */
};

/* An ini_reader that counts lines, so every error names its own line. */
static char *
read_line(char *str, int num, void *stream)
{
    struct load_ctx *ctx = stream;
    char *r = fgets(str, num, ctx->f);

    if (r != NULL) {
        ctx->line++;
    }
    return r;
}

static int
on_ini_key(void *user, const char *section, const char *name, const char *value)
{
    struct load_ctx *ctx = user;
    char err[256];

    if (config_set(ctx->cfg, section, name, value, err, sizeof(err)) < 0) {
        ctx->errors++;
        fprintf(stderr, "%s:%d: %s\n", ctx->path, ctx->line, err);
        return 0;
    }
    return 1;
}

int
config_load(struct config *cfg, const char *path)
{
    struct load_ctx ctx = {cfg, path, NULL, 0, 0};
    int line;

    ctx.f = fopen(path, "r");
    if (ctx.f == NULL) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return OH_ESYS;
    }
    line = ini_parse_stream(read_line, &ctx, on_ini_key, &ctx);
    fclose(ctx.f);
    if (line != 0 && ctx.errors == 0) {
        fprintf(stderr, "%s:%d: syntax error (expected [section] or key = value)\n", path, line);
    }
    return line != 0 ? OH_ECONFIG : 0;
}
