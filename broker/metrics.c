#include <stddef.h>
#include <stdio.h>

#include "http.h"
#include "shard.h"
#include "strbuf.h"

struct metric_def {
    const char *name;
    const char *type;
    const char *help;
    size_t off;
};

#define M(field) offsetof(struct shard_metrics, field)

static const struct metric_def defs[] = {
    {"omnihub_connections", "gauge", "Open WebSocket connections.", M(connections)},
    {"omnihub_subscriptions", "gauge", "Subscriptions of local connections.", M(subscriptions)},
    {"omnihub_channels", "gauge", "Channels whose home is this shard.", M(channels)},
    {"omnihub_publications_total", "counter", "Publications sequenced by this shard as home.",
     M(publications)},
    {"omnihub_deliveries_total", "counter", "Pushes queued to local subscribers.", M(deliveries)},
    {"omnihub_slow_consumer_closes_total", "counter",
     "Connections closed because their outgoing queue was full.", M(slow_closes)},
    {"omnihub_queue_bytes", "gauge", "Bytes queued for sending on all connections.",
     M(queue_bytes)},
    {"omnihub_queue_bytes_max", "gauge", "Largest outgoing queue of one connection seen.",
     M(queue_bytes_max)},
    {"omnihub_protocol_errors_total", "counter", "Bad client messages and protocol closes.",
     M(protocol_errors)},
    {"omnihub_connections_rejected_total", "counter",
     "WebSocket upgrades refused with 503 (max_connections).", M(rejected)},
    {"omnihub_bytes_out_total", "counter", "Bytes written to WebSocket connections.", M(bytes_out)},
    {"omnihub_messages_in_total", "counter", "Client messages received.", M(messages_in)},
};

#undef M

void
metrics_render(const struct shard *s, struct strbuf *sb)
{
    const struct node *n = s->node;
    char line[256];

    for (size_t d = 0; d < sizeof(defs) / sizeof(defs[0]); d++) {
        snprintf(line, sizeof(line), "# HELP %s %s\n# TYPE %s %s\n", defs[d].name, defs[d].help,
                 defs[d].name, defs[d].type);
        sb_appends(sb, line);
        for (unsigned i = 0; i < n->nshards; i++) {
            const atomic_long *v =
                (const atomic_long *)((const char *)&n->shards[i].m + defs[d].off);

            snprintf(line, sizeof(line), "%s{shard=\"%u\"} %ld\n", defs[d].name, i,
                     atomic_load_explicit(v, memory_order_relaxed));
            sb_appends(sb, line);
        }
    }
    snprintf(line, sizeof(line),
             "# HELP omnihub_draining 1 while the node drains.\n# TYPE omnihub_draining "
             "gauge\nomnihub_draining %d\n",
             atomic_load(&n->draining) ? 1 : 0);
    sb_appends(sb, line);
}
