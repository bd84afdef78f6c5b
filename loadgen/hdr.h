/*
 * An HDR-style log-linear histogram of latencies in microseconds.
 * Values 0..255 are counted exactly; above, each power-of-two range is split
 * into 128 equal sub-buckets, so a reported value is within 1/128 (< 1%) of
 * the recorded one. Values above HDR_MAX_US (60 s) are counted in the top
 * bucket; the exact maximum is kept separately.
 * Not thread-safe: one owner per histogram (merge per-thread ones at the end).
 */
#ifndef OH_HDR_H
#define OH_HDR_H

#include <stdint.h>

#define HDR_SUB_BITS 8 /* 256 exact values, 128 sub-buckets per octave */
#define HDR_MAX_US   60000000ULL
#define HDR_BUCKETS  2560 /* index of HDR_MAX_US is 2559 */

struct hdr {
    uint64_t counts[HDR_BUCKETS];
    uint64_t total; /* values recorded */
    uint64_t min;   /* exact, UINT64_MAX when empty */
    uint64_t max;   /* exact, 0 when empty */
    double sum;     /* for the mean */
};

/* Empties h. */
void hdr_reset(struct hdr *h);

/* Records one value (microseconds). */
void hdr_record(struct hdr *h, uint64_t us);

/* Records a value n times. */
void hdr_record_n(struct hdr *h, uint64_t us, uint64_t n);

/*
 * Records us, and when it exceeds interval_us (the expected time between two
 * samples, > 0), also the values a sampler that was blocked for that long
 * would have missed: us - interval_us, us - 2*interval_us, ... down to
 * interval_us (correction for coordinated omission). interval_us 0 records
 * just us.
 */
void hdr_record_corrected(struct hdr *h, uint64_t us, uint64_t interval_us);

/* Adds every count of src to dst. */
void hdr_merge(struct hdr *dst, const struct hdr *src);

/*
 * Returns the value at percentile q (0..100): the highest value equivalent to
 * the bucket holding the ceil(q% of total)-th smallest sample, capped to the
 * exact max. Returns 0 when h is empty.
 */
uint64_t hdr_percentile(const struct hdr *h, double q);

/* Mean of the recorded values, 0 when empty. */
double hdr_mean(const struct hdr *h);

/* Bucket index of a value, and the lowest and highest value of a bucket. */
unsigned hdr_index(uint64_t us);
uint64_t hdr_bucket_low(unsigned idx);
uint64_t hdr_bucket_high(unsigned idx);

#endif
