/* omnihub-loadgen reports: JSON, human summary, plot. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "loadgen.h"
#include "strbuf.h"
#include "xalloc.h"

const char *const lg_cause_names[LG_C_COUNT] = {
    "refused", "timeout", "addr_unavailable", "fd_limit", "handshake", "closed", "other",
};

void
lg_report_add_sample(struct lg_report *r, const struct lg_sample *s)
{
    if (r->n_series == r->cap_series) {
        r->cap_series = r->cap_series ? r->cap_series * 2 : 64;
        r->series = xrealloc(r->series, r->cap_series * sizeof(*r->series));
    }
    r->series[r->n_series++] = *s;
}

void
lg_report_machine(struct lg_report *r)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    struct utsname u;

    snprintf(r->cpu_model, sizeof(r->cpu_model), "unknown");
    for (int i = 0; f != NULL && i < 10000 && fgets(line, sizeof(line), f) != NULL; i++) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
            colon += 2;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(r->cpu_model, sizeof(r->cpu_model), "%s", colon);
            break;
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    r->cores = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(r->kernel, sizeof(r->kernel), "unknown");
    if (uname(&u) == 0) {
        snprintf(r->kernel, sizeof(r->kernel), "%s %s", u.sysname, u.release);
    }
}

static void
kv_num(struct strbuf *sb, const char *k, double v, bool comma)
{
    char tmp[64];

    snprintf(tmp, sizeof(tmp), "%s\"%s\":%.15g", comma ? "," : "", k, v);
    sb_appends(sb, tmp);
}

static void
kv_str(struct strbuf *sb, const char *k, const char *v, bool comma)
{
    sb_appends(sb, comma ? ",\"" : "\"");
    sb_appends(sb, k);
    sb_appends(sb, "\":");
    if (v == NULL) {
        sb_appends(sb, "null");
    } else {
        sb_append_json_string(sb, v, strlen(v));
    }
}

void
lg_report_params(struct lg_report *r, const struct lg_opts *o)
{
    struct strbuf sb = {0};
    char shard[32];

    sb_appends(&sb, "{\"urls\":[");
    for (unsigned i = 0; i < o->n_targets; i++) {
        sb_appends(&sb, i ? "," : "");
        sb_append_json_string(&sb, o->urls[i], strlen(o->urls[i]));
    }
    sb_appends(&sb, "]");
    kv_num(&sb, "subscribers", o->subscribers, true);
    kv_num(&sb, "channels", o->channels, true);
    kv_num(&sb, "channels_per_sub", o->channels_per_sub, true);
    kv_str(&sb, "extra_channel", o->extra_channel, true);
    kv_num(&sb, "extra_rate", o->extra_channel ? o->extra_rate : 0, true);
    kv_str(&sb, "prefix", o->prefix, true);
    kv_num(&sb, "source_addrs", o->n_src, true);
    kv_num(&sb, "connect_rate", o->connect_rate, true);
    kv_num(&sb, "publishers", o->publishers, true);
    kv_num(&sb, "rate", o->rate, true);
    kv_num(&sb, "size", o->size, true);
    kv_num(&sb, "duration", o->duration, true);
    kv_num(&sb, "warmup", o->warmup, true);
    kv_num(&sb, "drain", o->drain, true);
    kv_str(&sb, "via", o->via_http ? "http" : "ws", true);
    kv_num(&sb, "threads", o->threads, true);
    kv_num(&sb, "churn", o->churn, true);
    kv_num(&sb, "slow_subscribers", o->slow_n, true);
    snprintf(shard, sizeof(shard), "%u/%u", o->shard_i, o->shard_n);
    kv_str(&sb, "shard", shard, true);
    kv_num(&sb, "start_at", o->start_at, true);
    sb_appends(&sb, "}");
    free(r->params_json);
    r->params_json = sb.buf;
}

static void
write_latency(FILE *f, const struct hdr *h)
{
    fprintf(f,
            "\"latency_ms\":{\"count\":%" PRIu64 ",\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,"
            "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},\n",
            h->total, hdr_mean(h) / 1e3, hdr_percentile(h, 50) / 1e3, hdr_percentile(h, 90) / 1e3,
            hdr_percentile(h, 99) / 1e3, hdr_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
    fprintf(f,
            "\"histogram\":{\"unit\":\"us\",\"sub_bits\":%d,\"min\":%" PRIu64 ",\"max\":%" PRIu64
            ",\"sum\":%.0f,\"counts\":[",
            HDR_SUB_BITS, h->total ? h->min : 0, h->max, h->sum);
    for (unsigned i = 0, n = 0; i < HDR_BUCKETS; i++) {
        if (h->counts[i] != 0) {
            fprintf(f, "%s[%u,%" PRIu64 "]", n++ ? "," : "", i, h->counts[i]);
        }
    }
    fprintf(f, "]},\n");
}

static void
write_series(FILE *f, const struct lg_report *r)
{
    fprintf(f, "\"series\":[");
    for (unsigned i = 0; i < r->n_series; i++) {
        const struct lg_sample *s = &r->series[i];
        fprintf(f,
                "%s\n {\"t\":%.3f,\"connected\":%" PRIu64 ",\"sent\":%" PRIu64
                ",\"delivered\":%" PRIu64 ",\"errors\":%" PRIu64
                ",\"p50_ms\":%.3f,\"p99_ms\":%.3f}",
                i ? "," : "", s->t, s->connected, s->sent, s->delivered, s->errors, s->p50_us / 1e3,
                s->p99_us / 1e3);
    }
    fprintf(f, "],\n");
}

#define U(name) fprintf(f, "\"%s\":%" PRIu64 ",\n", #name, r->name)

static void
write_counts(FILE *f, const struct lg_report *r)
{
    U(published);
    U(pub_acked);
    U(pub_errors);
    U(delivered);
    U(expected);
    U(lost);
    U(gaps);
    U(missing);
    U(duplicates);
    U(reordered);
    U(misrouted);
    U(epoch_changes);
    U(sub_errors);
    U(recoveries);
    U(recoveries_inexact);
    U(reconnects);
    U(unexpected_closes);
    U(subscribers);
    U(slow_subscribers);
    U(slow_closed_4001);
    U(ready);
    U(failed);
    fprintf(f, "\"connect_failures\":{");
    for (unsigned c = 0; c < LG_C_COUNT; c++) {
        fprintf(f, "%s\"%s\":%" PRIu64, c ? "," : "", lg_cause_names[c], r->connect_fail[c]);
    }
    fprintf(f, "},\n");
}

static void
put_json_string(FILE *f, const char *s)
{
    struct strbuf sb = {0};

    sb_append_json_string(&sb, s, strlen(s));
    fputs(sb.buf, f);
    sb_free(&sb);
}

int
lg_report_write_json(const struct lg_report *r, const char *path)
{
    FILE *f = fopen(path, "w");
    double wall = r->publish_s > 0 ? r->publish_s : 1;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    fprintf(f, "{\n\"tool\":\"omnihub-loadgen\",\n\"ok\":%s,\n",
            lg_report_verdict(r) == 0 ? "true" : "false");
    write_counts(f, r);
    fprintf(f, "\"delivered_per_s\":%.1f,\n\"published_per_s\":%.1f,\n",
            (double)r->delivered / wall, (double)r->published / wall);
    fprintf(f, "\"connect_s\":%.3f,\n\"publish_s\":%.3f,\n\"publisher_lag_max_ms\":%.3f,\n",
            r->connect_s, r->publish_s, r->publisher_lag_max_ms);
    write_latency(f, &r->hist);
    fprintf(f,
            "\"cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,\"us_per_delivery\":%.3f,"
            "\"daemon_s\":%.3f},\n",
            r->cpu_user_s, r->cpu_sys_s,
            r->delivered ? (r->cpu_user_s + r->cpu_sys_s) * 1e6 / (double)r->delivered : 0.0,
            r->daemon_cpu_s);
    fprintf(f, "\"processes\":%u,\n", r->processes);
    fprintf(f, "\"machine\":{\"cpu_model\":");
    put_json_string(f, r->cpu_model);
    fprintf(f, ",\"cores\":%u,\"kernel\":", r->cores);
    put_json_string(f, r->kernel);
    fprintf(f, "},\n");
    fprintf(f, "\"parameters\":%s,\n", r->params_json ? r->params_json : "{}");
    write_series(f, r);
    fprintf(f, "\"version\":1\n}\n");
    if (fclose(f) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

int
lg_report_verdict(const struct lg_report *r)
{
    return (r->lost || r->gaps || r->duplicates || r->reordered || r->misrouted ||
            r->recoveries_inexact || r->epoch_changes)
               ? 1
               : 0;
}

void
lg_report_print(const struct lg_report *r, FILE *f)
{
    const struct hdr *h = &r->hist;
    double wall = r->publish_s > 0 ? r->publish_s : 1;
    double cpu = r->cpu_user_s + r->cpu_sys_s;

    fprintf(f, "\n== omnihub-loadgen summary (%u process%s)\n", r->processes,
            r->processes == 1 ? "" : "es");
    fprintf(f,
            "subscribers %" PRIu64 " (slow %" PRIu64 ", ready %" PRIu64 ", failed %" PRIu64
            "), connected in %.2f s\n",
            r->subscribers, r->slow_subscribers, r->ready, r->failed, r->connect_s);
    fprintf(f,
            "published   %" PRIu64 " (%.0f/s, acked %" PRIu64 ", errors %" PRIu64
            ", max lag %.1f ms)\n",
            r->published, (double)r->published / wall, r->pub_acked, r->pub_errors,
            r->publisher_lag_max_ms);
    fprintf(f, "delivered   %" PRIu64 " of %" PRIu64 " expected (%.0f/s over %.2f s)\n",
            r->delivered, r->expected, (double)r->delivered / wall, r->publish_s);
    fprintf(f, "latency ms  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n",
            hdr_percentile(h, 50) / 1e3, hdr_percentile(h, 90) / 1e3, hdr_percentile(h, 99) / 1e3,
            hdr_percentile(h, 99.9) / 1e3, (double)h->max / 1e3);
    fprintf(f,
            "lost %" PRIu64 "  gaps %" PRIu64 " (%" PRIu64 " offsets)  duplicates %" PRIu64
            "  reordered %" PRIu64 "  misrouted %" PRIu64 "  epoch changes %" PRIu64 "\n",
            r->lost, r->gaps, r->missing, r->duplicates, r->reordered, r->misrouted,
            r->epoch_changes);
    fprintf(f,
            "recoveries %" PRIu64 " (inexact %" PRIu64 "), reconnects %" PRIu64
            ", unexpected closes %" PRIu64 ", slow closed with 4001: %" PRIu64 "\n",
            r->recoveries, r->recoveries_inexact, r->reconnects, r->unexpected_closes,
            r->slow_closed_4001);
    fprintf(f, "connect failures:");
    for (unsigned c = 0; c < LG_C_COUNT; c++) {
        fprintf(f, " %s %" PRIu64, lg_cause_names[c], r->connect_fail[c]);
    }
    fprintf(f, "\nloadgen cpu %.2f s (%.2f us per delivery)", cpu,
            r->delivered ? cpu * 1e6 / (double)r->delivered : 0.0);
    if (r->daemon_cpu_s >= 0) {
        fprintf(f, ", daemon cpu %.2f s (%.2f us per delivery)", r->daemon_cpu_s,
                r->delivered ? r->daemon_cpu_s * 1e6 / (double)r->delivered : 0.0);
    }
    fprintf(f, "\nverdict: %s\n", lg_report_verdict(r) == 0 ? "OK" : "FAILED");
}

void
lg_report_free(struct lg_report *r)
{
    free(r->series);
    free(r->params_json);
    r->series = NULL;
    r->params_json = NULL;
}

static bool
in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char dir[4096], file[4200];

    for (int i = 0; path != NULL && *path != '\0' && i < 256; i++) {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(dir)) {
            memcpy(dir, path, n);
            dir[n] = '\0';
            snprintf(file, sizeof(file), "%s/%s", dir, prog);
            if (access(file, X_OK) == 0) {
                return true;
            }
        }
        path += n;
        if (*path == ':') {
            path++;
        }
    }
    return false;
}

void
lg_report_plot(const struct lg_report *r, const char *png)
{
    char dat[4200];
    FILE *f, *gp;

    if (!in_path("gnuplot")) {
        fprintf(stderr, "omnihub-loadgen: warning: gnuplot not found, no plot written to %s\n",
                png);
        return;
    }
    snprintf(dat, sizeof(dat), "%s.dat", png);
    f = fopen(dat, "w");
    if (f == NULL) {
        perror(dat);
        return;
    }
    for (unsigned i = 0; i < r->n_series; i++) {
        const struct lg_sample *s = &r->series[i];
        fprintf(f, "%.3f %" PRIu64 " %.3f %.3f\n", s->t, s->delivered, s->p50_us / 1e3,
                s->p99_us / 1e3);
    }
    fclose(f);
    gp = popen("gnuplot", "w");
    if (gp == NULL) {
        perror("gnuplot");
        return;
    }
    fprintf(gp,
            "set terminal png size 1000,600\nset output '%s'\n"
            "set xlabel 'seconds'\nset ylabel 'deliveries/s'\nset y2label 'latency ms'\n"
            "set y2tics\nset ytics nomirror\nset grid\n"
            "plot '%s' using 1:2 with lines title 'delivered/s' axes x1y1, "
            "'' using 1:3 with lines title 'p50 ms' axes x1y2, "
            "'' using 1:4 with lines title 'p99 ms' axes x1y2\n",
            png, dat);
    if (pclose(gp) != 0) {
        fprintf(stderr, "omnihub-loadgen: warning: gnuplot failed for %s\n", png);
    }
}
