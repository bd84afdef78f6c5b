/* omnihub-loadgen merge: sums the reports of the shards of one run. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "loadgen.h"
#include "xalloc.h"

#define MAX_FILE (256u << 20)

static cJSON *
load(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    cJSON *j;

    if (f == NULL) {
        perror(path);
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || (unsigned long)n > MAX_FILE ||
        fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "omnihub-loadgen: %s: unreadable or too large\n", path);
        fclose(f);
        return NULL;
    }
    buf = xmalloc((size_t)n + 1);
    buf[fread(buf, 1, (size_t)n, f)] = '\0';
    fclose(f);
    j = cJSON_Parse(buf);
    free(buf);
    if (j == NULL) {
        fprintf(stderr, "omnihub-loadgen: %s: not JSON\n", path);
    }
    return j;
}

static double
num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static double
max2(double a, double b)
{
    return a > b ? a : b;
}

static void
merge_counts(struct lg_report *r, const cJSON *j)
{
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(j, "connect_failures");
#define ADD(name) r->name += (uint64_t)num(j, #name)
    ADD(published);
    ADD(pub_acked);
    ADD(pub_errors);
    ADD(delivered);
    ADD(expected);
    ADD(gaps);
    ADD(missing);
    ADD(duplicates);
    ADD(reordered);
    ADD(misrouted);
    ADD(epoch_changes);
    ADD(sub_errors);
    ADD(recoveries);
    ADD(recoveries_inexact);
    ADD(reconnects);
    ADD(unexpected_closes);
    ADD(subscribers);
    ADD(slow_subscribers);
    ADD(slow_closed_4001);
    ADD(ready);
    ADD(failed);
#undef ADD
    for (unsigned c = 0; c < LG_C_COUNT; c++) {
        r->connect_fail[c] += (uint64_t)num(cf, lg_cause_names[c]);
    }
    r->connect_s = max2(r->connect_s, num(j, "connect_s"));
    r->publish_s = max2(r->publish_s, num(j, "publish_s"));
    r->publisher_lag_max_ms = max2(r->publisher_lag_max_ms, num(j, "publisher_lag_max_ms"));
    r->processes += (unsigned)num(j, "processes");
}

static void
merge_hist(struct hdr *h, const cJSON *j)
{
    const cJSON *hj = cJSON_GetObjectItemCaseSensitive(j, "histogram");
    const cJSON *counts = cJSON_GetObjectItemCaseSensitive(hj, "counts"), *e;
    struct hdr one;

    hdr_reset(&one);
    cJSON_ArrayForEach(e, counts)
    {
        double i, c;
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2) {
            continue;
        }
        i = cJSON_GetArrayItem(e, 0)->valuedouble;
        c = cJSON_GetArrayItem(e, 1)->valuedouble;
        if (i >= 0 && i < HDR_BUCKETS && c > 0) {
            one.counts[(unsigned)i] += (uint64_t)c;
            one.total += (uint64_t)c;
        }
    }
    if (one.total > 0) {
        one.min = (uint64_t)num(hj, "min");
        one.max = (uint64_t)num(hj, "max");
        one.sum = num(hj, "sum");
    }
    hdr_merge(h, &one);
}

/* Series are summed sample by sample (the shards start together); the
 * per-second percentiles are the worst shard's. */
static void
merge_series(struct lg_report *r, const cJSON *j)
{
    const cJSON *e;
    unsigned i = 0;

    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "series"))
    {
        struct lg_sample s = {.t = num(e, "t")};
        if (i == r->n_series) {
            lg_report_add_sample(r, &s);
        }
        struct lg_sample *d = &r->series[i++];
        d->connected += (uint64_t)num(e, "connected");
        d->sent += (uint64_t)num(e, "sent");
        d->delivered += (uint64_t)num(e, "delivered");
        d->errors += (uint64_t)num(e, "errors");
        d->p50_us = (uint64_t)max2((double)d->p50_us, num(e, "p50_ms") * 1e3);
        d->p99_us = (uint64_t)max2((double)d->p99_us, num(e, "p99_ms") * 1e3);
    }
}

static void
merge_meta(struct lg_report *r, const cJSON *j, bool first)
{
    const cJSON *cpu = cJSON_GetObjectItemCaseSensitive(j, "cpu");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "machine");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(m, "cpu_model");
    const cJSON *kernel = cJSON_GetObjectItemCaseSensitive(m, "kernel");

    r->cpu_user_s += num(cpu, "user_s");
    r->cpu_sys_s += num(cpu, "sys_s");
    r->daemon_cpu_s = max2(r->daemon_cpu_s, num(cpu, "daemon_s"));
    if (!first) {
        return;
    }
    r->cores = (unsigned)num(m, "cores");
    if (cJSON_IsString(model)) {
        snprintf(r->cpu_model, sizeof(r->cpu_model), "%s", model->valuestring);
    }
    if (cJSON_IsString(kernel)) {
        snprintf(r->kernel, sizeof(r->kernel), "%s", kernel->valuestring);
    }
    r->params_json = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "parameters"));
}

int
lg_merge_main(int argc, char **argv)
{
    struct lg_report r = {0};
    const char *out = NULL;
    int n = 0, rc;

    hdr_reset(&r.hist);
    r.daemon_cpu_s = -1;
    for (int i = 1; i < argc; i++) {
        cJSON *j;
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
            continue;
        }
        j = load(argv[i]);
        if (j == NULL) {
            return 2;
        }
        merge_counts(&r, j);
        merge_hist(&r.hist, j);
        merge_series(&r, j);
        merge_meta(&r, j, n++ == 0);
        cJSON_Delete(j);
    }
    if (n == 0 || out == NULL) {
        fprintf(stderr, "usage: omnihub-loadgen merge A.json B.json ... -o OUT.json\n");
        return 2;
    }
    r.lost = r.expected > r.delivered ? r.expected - r.delivered : 0;
    rc = lg_report_write_json(&r, out) < 0 ? 2 : lg_report_verdict(&r);
    lg_report_print(&r, stdout);
    lg_report_free(&r);
    return rc;
}
