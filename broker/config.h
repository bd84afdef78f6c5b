/*
 * omnihubd's configuration: defaults, the INI file (inih) and the command
 * line. Loaded on the main thread before any other thread starts; shards
 * then read it without locks and never write it.
 */
#ifndef OH_CONFIG_H
#define OH_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH "/etc/omnihub/omnihub.conf"

struct config {
    /* [server] */
    char listen_host[64];
    unsigned listen_port;
    unsigned shards; /* 0: one per CPU */
    char node_id[64];
    unsigned max_connections;
    uint64_t handshake_timeout_ms;
    uint64_t idle_timeout_ms;
    uint64_t ping_interval_ms;
    uint64_t drain_timeout_ms;
    char api_key[128];
    uint64_t sndbuf;
    /* [limits] */
    uint64_t max_message_size;
    unsigned max_channel_length;
    unsigned max_json_depth;
    unsigned max_subscriptions;
    uint64_t max_queue_size;
    unsigned publish_rate;
    unsigned publish_burst;
    unsigned max_pending_requests;
    /* [channels] */
    unsigned ring_size;
    uint64_t idle_expiry_ms;
    /* [log] */
    int log_level;
    /* command line only */
    char port_file[256];
};

/* Fills cfg with the documented defaults. */
void config_defaults(struct config *cfg);

/*
 * Reads path into cfg (keys not in the file keep their value). Returns 0,
 * or OH_ECONFIG after printing "path:line: reason" lines to stderr
 * (OH_ESYS with a message when the file cannot be opened).
 */
int config_load(struct config *cfg, const char *path);

/*
 * Applies one "section.key = value" setting as a file line would; used by
 * the command line. Returns 0 or OH_ECONFIG with why in err (errlen bytes).
 */
int config_set(struct config *cfg, const char *section, const char *key, const char *value,
               char *err, size_t errlen);

/* Parses "64KiB", "1MiB", "1GiB", "512" into bytes. Returns 0 or -1. */
int config_parse_size(const char *s, uint64_t *out);

/* Parses "500ms", "10s", "5m", "1h" into milliseconds (bare number: seconds). 0 or -1. */
int config_parse_duration(const char *s, uint64_t *out_ms);

/* Splits "HOST:PORT" into cfg's listen fields. Returns 0 or -1. */
int config_parse_listen(struct config *cfg, const char *s);

#endif
