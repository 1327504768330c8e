/* Counters kept by the worker threads and read by the loop thread (`stats`),
 * for the operators' metrics. Relaxed atomics: each counter is exact, but a
 * reader may see one updated before another. */
#ifndef SQLITED_STATS_H
#define SQLITED_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* X(field): each is reported by `stats` under its own name. */
#define STATS_COUNTERS(X)                                                      \
    X(groups)                                                                  \
    X(group_requests)                                                          \
    X(group_max)                                                               \
    X(busy_retries)                                                            \
    X(timeouts)                                                                \
    X(cancelled)                                                               \
    X(tx_begun)                                                                \
    X(tx_committed)                                                            \
    X(tx_rolled_back)                                                          \
    X(tx_expired)                                                              \
    X(tx_read_only_begun)                                                      \
    X(tx_read_only_expired)                                                    \
    X(stmt_cache_hits)                                                         \
    X(stmt_cache_misses)                                                       \
    X(cursors_opened)                                                          \
    X(cursors_expired)                                                         \
    X(cursors_open)                                                            \
    X(connections_refused)                                                     \
    X(memory_bytes)                                                            \
    X(backups)                                                                 \
    X(backups_failed)                                                          \
    X(last_backup_unix_ms)                                                     \
    X(last_backup_duration_ms)                                                 \
    X(last_backup_bytes)                                                       \
    X(checkpoints)                                                             \
    X(checkpoints_busy)                                                        \
    X(checkpoint_last_unix_ms)                                                 \
    X(checkpoint_last_duration_us)                                             \
    X(checkpoint_last_log_frames)                                              \
    X(checkpoint_last_checkpointed_frames)                                     \
    X(wal_bytes)                                                               \
    X(reader_busy_ns)                                                          \
    X(writer_busy_ns)                                                          \
    X(page_cache_hits)                                                         \
    X(page_cache_misses)                                                       \
    X(page_cache_writes)                                                       \
    X(cursors_aged_out)                                                        \
    X(snapshots_released)                                                      \
    X(inline_reads)                                                            \
    X(inline_handoffs)

/* X(field): figures that go up and down; also reported by `stats` under
 * their own names. The queues count jobs handed to the writer and not yet
 * finished, and jobs waiting for a free reader; migrations_pending, the
 * migrations a run in progress (start-up, migrate up or down) has yet to
 * apply, the one being applied included. */
#define STATS_GAUGES(X)                                                        \
    X(writer_queue)                                                            \
    X(reader_queue)                                                            \
    X(migrations_pending)                                                      \
    X(tx_read_only_open)

/* Group commits by size (requests): bucket i counts groups of at most
 * 2^i requests and more than 2^(i-1); the last, every larger group. */
#define STATS_GROUP_BUCKETS 12

#define STATS_FIELD(name) atomic_uint_fast64_t name;
struct stats {
    STATS_COUNTERS(STATS_FIELD)
    STATS_GAUGES(STATS_FIELD)
    atomic_uint_fast64_t group_sizes[STATS_GROUP_BUCKETS];
};
#undef STATS_FIELD

static inline void stats_add(atomic_uint_fast64_t *counter, uint64_t n)
{
    atomic_fetch_add_explicit(counter, n, memory_order_relaxed);
}

static inline void stats_max(atomic_uint_fast64_t *counter, uint64_t n)
{
    uint_fast64_t old = atomic_load_explicit(counter, memory_order_relaxed);
    while (old < n &&
           !atomic_compare_exchange_weak_explicit(
               counter, &old, n, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* For the figures that are not counters (last_backup_*, checkpoint_last_*,
 * wal_bytes). */
static inline void stats_set(atomic_uint_fast64_t *counter, uint64_t n)
{
    atomic_store_explicit(counter, n, memory_order_relaxed);
}

static inline void stats_sub(atomic_uint_fast64_t *counter, uint64_t n)
{
    atomic_fetch_sub_explicit(counter, n, memory_order_relaxed);
}

/* Adds one unless that would reach @limit; returns whether it did. */
static inline bool stats_add_below(atomic_uint_fast64_t *counter,
                                   uint64_t limit)
{
    uint_fast64_t old = atomic_load_explicit(counter, memory_order_relaxed);
    do {
        if (old >= limit)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(
        counter, &old, old + 1, memory_order_relaxed, memory_order_relaxed));
    return true;
}

/* Counts a group commit of @n requests (n >= 1) in its bucket. */
static inline void stats_group_size(struct stats *st, uint64_t n)
{
    unsigned i = 0;
    while (i < STATS_GROUP_BUCKETS - 1 && ((uint64_t)1 << i) < n)
        i++;
    stats_add(&st->group_sizes[i], 1);
}

static inline uint64_t stats_get(atomic_uint_fast64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

#endif /* SQLITED_STATS_H */
