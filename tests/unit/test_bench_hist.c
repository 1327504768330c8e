/* The benchmark's latency histogram: its percentiles are what make bench
 * reports, so they must be exact to the bucket. */
#include <criterion/criterion.h>
#include <string.h>

#include "../bench/bench.h"

static struct hist h;

static void reset(void)
{
    memset(&h, 0, sizeof(h));
}

TestSuite(bench_hist, .init = reset, .timeout = 60);

Test(bench_hist, empty_is_zero)
{
    cr_assert_eq(hist_percentile(&h, 0.5), 0);
    cr_assert_eq(h.max_ns, 0);
}

Test(bench_hist, small_values_are_exact)
{
    for (uint64_t v = 1; v <= 50; v++)
        hist_record(&h, v);
    cr_assert_eq(hist_percentile(&h, 0.5), 25);
    cr_assert_eq(hist_percentile(&h, 0.99), 50);
    cr_assert_eq(hist_percentile(&h, 1.0), 50);
    cr_assert_eq(h.n, 50);
}

/* Every value comes back within 1/64 above itself, never below. */
Test(bench_hist, large_values_within_one_sixty_fourth)
{
    static const uint64_t values[] = {64,         65,
                                      1000,       123456,
                                      999999999,  4000000000ULL,
                                      1ULL << 40, (1ULL << 62) + 12345};
    for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
        reset();
        hist_record(&h, values[i]);
        hist_record(&h, values[i] * 2); /* so max does not clamp p50 */
        uint64_t p = hist_percentile(&h, 0.5);
        cr_assert_geq(p, values[i], "%llu came back as %llu",
                      (unsigned long long)values[i], (unsigned long long)p);
        cr_assert_leq(p - values[i], values[i] / 64, "%llu came back as %llu",
                      (unsigned long long)values[i], (unsigned long long)p);
    }
}

Test(bench_hist, tail_percentiles_and_max)
{
    /* 999 fast samples and one slow: p99 is fast, p99.9 and max slow. */
    for (int i = 0; i < 999; i++)
        hist_record(&h, 1000);
    hist_record(&h, 5000000);
    cr_assert_leq(hist_percentile(&h, 0.99), 1000 + 1000 / 64);
    cr_assert_geq(hist_percentile(&h, 0.999), 1000);
    cr_assert_eq(hist_percentile(&h, 1.0), 5000000);
    cr_assert_eq(h.max_ns, 5000000);
}

Test(bench_hist, merge_adds_counts_and_keeps_the_max)
{
    struct hist other;
    memset(&other, 0, sizeof(other));
    hist_record(&h, 10);
    hist_record(&other, 20);
    hist_record(&other, 30);
    hist_merge(&h, &other);
    cr_assert_eq(h.n, 3);
    cr_assert_eq(h.max_ns, 30);
    cr_assert_eq(hist_percentile(&h, 0.5), 20);
}
