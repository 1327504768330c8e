/* The daemon's metrics: what each I/O loop counts of requests (by method,
 * by error, their latency, bytes in and out), and the one place where every
 * figure the daemon keeps (these and struct stats) is rendered, as the
 * `stats` map and as Prometheus text (the `metrics` method, and the HTTP
 * listener's /metrics), summed over the loops.
 *
 * Each loop writes its own struct metrics and no other; any loop reads them
 * all. The counters are atomics that their one writer bumps with a plain
 * load and store (metrics_add()), which costs what a plain integer does and
 * leaves no data race; the workers' counters are the relaxed atomics of
 * stats.h.
 */
#ifndef SQLITED_METRICS_H
#define SQLITED_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "rpc.h"

struct server;

/* Latency buckets: upper bounds in seconds, for Prometheus `le`. */
#define METRICS_LATENCY_BOUNDS                                                 \
    {                                                                          \
        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, \
            0.25, 0.5, 1, 2.5, 5, 10, 30                                       \
    }
#define METRICS_LATENCY_BUCKETS 17 /* finite ones; one more for +Inf */

/* Distinct error codes counted by name; past that, under "OTHER". */
#define METRICS_ERROR_NAMES 64

/* Per method, and one more slot for requests whose method is unknown. */
#define METRICS_METHODS (RPC_METHOD_COUNT + 1)

struct metrics {
    atomic_uint_fast64_t requests[METRICS_METHODS];
    atomic_uint_fast64_t errors[METRICS_METHODS];
    atomic_uint_fast64_t latency[METRICS_METHODS][METRICS_LATENCY_BUCKETS + 1];
    atomic_uint_fast64_t latency_ns[METRICS_METHODS]; /* sum */
    struct {
        atomic_int code; /* 0: "OTHER" */
        atomic_uint_fast64_t count;
    } error_names[METRICS_ERROR_NAMES];
    atomic_uint nerror_names; /* published after its slot's code */
    atomic_uint_fast64_t bytes_in, bytes_out;
};

/* Zeroes @m. */
void metrics_init(struct metrics *m);

/* Adds @n to a counter of the calling loop's own struct metrics. */
static inline void metrics_add(atomic_uint_fast64_t *counter, uint64_t n)
{
    atomic_store_explicit(
        counter, atomic_load_explicit(counter, memory_order_relaxed) + n,
        memory_order_relaxed);
}

/* Counts a request answered: @method (RPC_METHOD_COUNT: unknown), with
 * error @code (0: success), read at @started (clock_now()). */
void metrics_request(struct metrics *m, enum rpc_method method, int code,
                     int64_t started);

/* The same for a request whose encoded reply is @reply[0..len): its error
 * code is read from the reply. */
void metrics_reply(struct metrics *m, enum rpc_method method, const char *reply,
                   size_t len, int64_t started);

/* Requests in flight over all connections; SQLite's memory over all the
 * daemon's connections (worker_account()). Any loop. */
unsigned metrics_in_flight(const struct server *s);
uint64_t metrics_sqlite_memory(const struct server *s);

/* The entries `stats` adds to the counters of stats.h (a map's pairs, not
 * the map: the caller counts METRICS_STATS_ENTRIES of them in its header). */
#define METRICS_STATS_ENTRIES 12
void metrics_pack_stats(struct server *s, struct codec_buf *b);

/* Appends every figure as Prometheus text exposition format 0.0.4. */
void metrics_render(struct server *s, struct codec_buf *b);

#endif /* SQLITED_METRICS_H */
