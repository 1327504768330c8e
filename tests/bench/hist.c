/* Latency histogram: log-linear buckets, exact to 1/64 of a value. */
#include "bench.h"

/* Values below HIST_SUB have a bucket each. Above, a value whose highest
 * set bit is e falls in group e - 5, and within it in the sub-bucket given
 * by the 6 bits below that highest bit. */
static unsigned bucket_of(uint64_t ns)
{
    if (ns < HIST_SUB)
        return (unsigned)ns;
    unsigned e = 63 - (unsigned)__builtin_clzll(ns);
    unsigned b = (e - 5) * HIST_SUB + (unsigned)((ns >> (e - 6)) & 63);
    return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

/* The largest value that falls in bucket @b. */
static uint64_t bucket_top(unsigned b)
{
    if (b < HIST_SUB)
        return b;
    unsigned e = b / HIST_SUB + 5, sub = b % HIST_SUB;
    return ((uint64_t)(HIST_SUB + sub + 1) << (e - 6)) - 1;
}

void hist_record(struct hist *h, uint64_t ns)
{
    h->count[bucket_of(ns)]++;
    h->n++;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (unsigned b = 0; b < HIST_BUCKETS; b++)
        into->count[b] += from->count[b];
    into->n += from->n;
    if (from->max_ns > into->max_ns)
        into->max_ns = from->max_ns;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->n == 0)
        return 0;
    /* The rank of the sample asked for, 1-based: p99 of 1,000 samples is
     * the 990th. */
    uint64_t rank = (uint64_t)(p * (double)h->n + 0.5);
    uint64_t seen = 0;

    if (rank < 1)
        rank = 1;
    for (unsigned b = 0; b < HIST_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t top = bucket_top(b);
            return top < h->max_ns ? top : h->max_ns;
        }
    }
    return h->max_ns;
}
