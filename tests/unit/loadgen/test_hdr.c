/*
 * Unit tests of loadgen/hdr.c: bucket layout, precision, percentiles,
 * merge and the coordinated-omission correction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hdr.h"

static struct hdr *
new_hdr(void)
{
    struct hdr *h = malloc(sizeof(*h));

    assert_non_null(h);
    hdr_reset(h);
    return h;
}

static void
test_empty(void **state)
{
    struct hdr *h = new_hdr();

    (void)state;
    assert_int_equal(h->total, 0);
    assert_int_equal(hdr_percentile(h, 50), 0);
    assert_int_equal(hdr_percentile(h, 100), 0);
    assert_true(hdr_mean(h) == 0.0);
    free(h);
}

static void
test_exact_small_values(void **state)
{
    struct hdr *h = new_hdr();

    (void)state;
    for (uint64_t v = 0; v < 256; v++) {
        assert_int_equal(hdr_index(v), v);
        assert_int_equal(hdr_bucket_low((unsigned)v), v);
        assert_int_equal(hdr_bucket_high((unsigned)v), v);
        hdr_record(h, v);
    }
    assert_int_equal(h->total, 256);
    assert_int_equal(hdr_percentile(h, 50), 127); /* the 128th smallest of 0..255 */
    assert_int_equal(hdr_percentile(h, 100), 255);
    assert_int_equal(hdr_percentile(h, 0), 0);
    free(h);
}

/* Every bucket joins the next with no hole or overlap, and is narrow enough for 1%. */
static void
test_layout_contiguous_and_precise(void **state)
{
    (void)state;
    for (unsigned i = 0; i + 1 < HDR_BUCKETS; i++) {
        uint64_t lo = hdr_bucket_low(i), hi = hdr_bucket_high(i);
        assert_true(lo <= hi);
        assert_int_equal(hi + 1, hdr_bucket_low(i + 1));
        assert_true((double)(hi - lo + 1) <= (double)lo / 128.0 + 1e-9 || lo < 256);
    }
    assert_int_equal(hdr_index(HDR_MAX_US), hdr_index(HDR_MAX_US * 10));
    assert_true(hdr_index(HDR_MAX_US) < HDR_BUCKETS);
}

static void
test_index_brackets_value(void **state)
{
    (void)state;
    /* Geometric walk over 1 us .. 60 s plus each power of two and its neighbours. */
    for (double v = 1; v <= (double)HDR_MAX_US; v *= 1.0007) {
        uint64_t u = (uint64_t)v;
        unsigned i = hdr_index(u);
        assert_true(hdr_bucket_low(i) <= u && u <= hdr_bucket_high(i));
    }
    for (unsigned b = 1; b < 26; b++) {
        for (int d = -1; d <= 1; d++) {
            uint64_t u = ((uint64_t)1 << b) + (uint64_t)d;
            unsigned i = hdr_index(u);
            assert_true(hdr_bucket_low(i) <= u && u <= hdr_bucket_high(i));
        }
    }
}

static void
assert_within_1pct(uint64_t got, double want)
{
    double err = ((double)got - want) / want;
    if (err < -0.01 || err > 0.01) {
        fail_msg("got %llu, want %.0f (+-1%%)", (unsigned long long)got, want);
    }
}

static void
test_percentiles_uniform(void **state)
{
    struct hdr *h = new_hdr();

    (void)state;
    for (uint64_t v = 1; v <= 100000; v++) {
        hdr_record(h, v);
    }
    assert_within_1pct(hdr_percentile(h, 50), 50000);
    assert_within_1pct(hdr_percentile(h, 90), 90000);
    assert_within_1pct(hdr_percentile(h, 99), 99000);
    assert_within_1pct(hdr_percentile(h, 99.9), 99900);
    assert_int_equal(hdr_percentile(h, 100), 100000); /* capped to the exact max */
    assert_int_equal(h->min, 1);
    assert_int_equal(h->max, 100000);
    assert_true(hdr_mean(h) > 50000.4 && hdr_mean(h) < 50000.6);
    free(h);
}

static void
test_percentile_skewed(void **state)
{
    struct hdr *h = new_hdr();

    (void)state;
    hdr_record_n(h, 1000, 990);
    hdr_record_n(h, 2000000, 10); /* 1% at 2 s */
    assert_within_1pct(hdr_percentile(h, 50), 1000);
    assert_within_1pct(hdr_percentile(h, 99), 1000);
    assert_within_1pct(hdr_percentile(h, 99.1), 2000000);
    assert_int_equal(hdr_percentile(h, 100), 2000000);
    hdr_record_n(h, 5, 0); /* no-op */
    assert_int_equal(h->total, 1000);
    free(h);
}

static void
test_above_range_is_clamped(void **state)
{
    struct hdr *h = new_hdr();

    (void)state;
    hdr_record(h, 120000000);
    assert_int_equal(h->total, 1);
    assert_int_equal(h->max, 120000000);
    assert_true(hdr_percentile(h, 50) >= HDR_MAX_US);
    free(h);
}

static void
test_corrected(void **state)
{
    struct hdr *h = new_hdr();

    (void)state;
    hdr_record_corrected(h, 1000, 100); /* 1000, 900, ..., 100 */
    assert_int_equal(h->total, 10);
    assert_int_equal(h->min, 100);
    assert_int_equal(h->max, 1000);
    assert_int_equal(h->counts[hdr_index(500)], 1);
    hdr_record_corrected(h, 50, 100); /* below the interval: just itself */
    assert_int_equal(h->total, 11);
    hdr_record_corrected(h, 5000, 0); /* no interval: just itself */
    assert_int_equal(h->total, 12);
    hdr_record_corrected(h, 250, 100); /* 250, 150 */
    assert_int_equal(h->total, 14);
    assert_int_equal(h->counts[150], 1);
    free(h);
}

static void
test_merge_equals_single(void **state)
{
    struct hdr *a = new_hdr(), *b = new_hdr(), *all = new_hdr();

    (void)state;
    for (uint64_t v = 1; v < 3000000; v = v * 3 + 7) {
        hdr_record(v % 2 ? a : b, v);
        hdr_record(all, v);
    }
    hdr_merge(a, b);
    assert_int_equal(a->total, all->total);
    assert_int_equal(a->min, all->min);
    assert_int_equal(a->max, all->max);
    assert_memory_equal(a->counts, all->counts, sizeof(a->counts));
    assert_int_equal(hdr_percentile(a, 99), hdr_percentile(all, 99));
    hdr_reset(b);
    hdr_merge(a, b); /* empty source changes nothing, min included */
    assert_int_equal(a->min, all->min);
    free(a);
    free(b);
    free(all);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_exact_small_values),
        cmocka_unit_test(test_layout_contiguous_and_precise),
        cmocka_unit_test(test_index_brackets_value),
        cmocka_unit_test(test_percentiles_uniform),
        cmocka_unit_test(test_percentile_skewed),
        cmocka_unit_test(test_above_range_is_clamped),
        cmocka_unit_test(test_corrected),
        cmocka_unit_test(test_merge_equals_single),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
