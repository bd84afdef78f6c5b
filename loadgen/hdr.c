/* Log-linear latency histogram. See hdr.h. */
#include "hdr.h"

#include <string.h>

#define HALF (1u << (HDR_SUB_BITS - 1)) /* sub-buckets per octave above the exact range */

void
hdr_reset(struct hdr *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned
hdr_index(uint64_t us)
{
    unsigned msb, shift;

    if (us > HDR_MAX_US) {
        us = HDR_MAX_US;
    }
    if (us < (1u << HDR_SUB_BITS)) {
        return (unsigned)us;
    }
    msb = 63u - (unsigned)__builtin_clzll(us);
    shift = msb - (HDR_SUB_BITS - 1);
    return shift * HALF + (unsigned)(us >> shift);
}

uint64_t
hdr_bucket_low(unsigned idx)
{
    unsigned shift;

    if (idx < (1u << HDR_SUB_BITS)) {
        return idx;
    }
    shift = idx / HALF - 1;
    return (uint64_t)(idx - shift * HALF) << shift;
}

uint64_t
hdr_bucket_high(unsigned idx)
{
    unsigned shift;

    if (idx < (1u << HDR_SUB_BITS)) {
        return idx;
    }
    shift = idx / HALF - 1;
    return hdr_bucket_low(idx) + ((uint64_t)1 << shift) - 1;
}

void
hdr_record_n(struct hdr *h, uint64_t us, uint64_t n)
{
    if (n == 0) {
        return;
    }
    h->counts[hdr_index(us)] += n;
    h->total += n;
    h->sum += (double)us * (double)n;
    if (us < h->min) {
        h->min = us;
    }
    if (us > h->max) {
        h->max = us;
    }
}

void
hdr_record(struct hdr *h, uint64_t us)
{
    hdr_record_n(h, us, 1);
}

void
hdr_record_corrected(struct hdr *h, uint64_t us, uint64_t interval_us)
{
    hdr_record(h, us);
    if (interval_us == 0 || us <= interval_us) {
        return;
    }
    if (us > HDR_MAX_US) {
        us = HDR_MAX_US; /* bounds the loop below to HDR_MAX_US / interval_us steps */
    }
    for (uint64_t v = us - interval_us; v >= interval_us; v -= interval_us) {
        hdr_record(h, v);
    }
}

void
hdr_merge(struct hdr *dst, const struct hdr *src)
{
    if (src->total == 0) {
        return;
    }
    for (unsigned i = 0; i < HDR_BUCKETS; i++) {
        dst->counts[i] += src->counts[i];
    }
    dst->total += src->total;
    dst->sum += src->sum;
    if (src->min < dst->min) {
        dst->min = src->min;
    }
    if (src->max > dst->max) {
        dst->max = src->max;
    }
}

uint64_t
hdr_percentile(const struct hdr *h, double q)
{
    uint64_t rank, seen = 0;

    if (h->total == 0) {
        return 0;
    }
    if (q < 0) {
        q = 0;
    }
    if (q > 100) {
        q = 100;
    }
    rank = (uint64_t)(q / 100.0 * (double)h->total + 0.999999);
    if (rank == 0) {
        rank = 1;
    }
    for (unsigned i = 0; i < HDR_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = hdr_bucket_high(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

double
hdr_mean(const struct hdr *h)
{
    return h->total == 0 ? 0.0 : h->sum / (double)h->total;
}
