#include "metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "sqlited.h"
#include "state.h"

static const double latency_bounds[METRICS_LATENCY_BUCKETS] =
    METRICS_LATENCY_BOUNDS;

/* ------------------------------------------------------------ counting */

void metrics_init(struct metrics *m)
{
    /* All-bits-zero atomics are zero on the platforms libuv runs on;
     * spelled out for the rule's sake. */
    for (unsigned i = 0; i < METRICS_METHODS; i++) {
        atomic_init(&m->requests[i], 0);
        atomic_init(&m->errors[i], 0);
        atomic_init(&m->latency_ns[i], 0);
        for (unsigned b = 0; b <= METRICS_LATENCY_BUCKETS; b++)
            atomic_init(&m->latency[i][b], 0);
    }
    for (unsigned i = 0; i < METRICS_ERROR_NAMES; i++) {
        atomic_init(&m->error_names[i].code, 0);
        atomic_init(&m->error_names[i].count, 0);
    }
    atomic_init(&m->nerror_names, 0);
    atomic_init(&m->bytes_in, 0);
    atomic_init(&m->bytes_out, 0);
}

/* The slot of error @code in @m, the calling loop's own. */
static unsigned error_slot(struct metrics *m, int code)
{
    unsigned n = atomic_load_explicit(&m->nerror_names, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++)
        if (atomic_load_explicit(&m->error_names[i].code,
                                 memory_order_relaxed) == code)
            return i;
    if (n < METRICS_ERROR_NAMES - 1) {
        atomic_store_explicit(&m->error_names[n].code, code,
                              memory_order_relaxed);
        atomic_store_explicit(&m->nerror_names, n + 1, memory_order_release);
        return n;
    }
    /* The last slot gathers the rest, under "OTHER". */
    atomic_store_explicit(&m->error_names[METRICS_ERROR_NAMES - 1].code, 0,
                          memory_order_relaxed);
    atomic_store_explicit(&m->nerror_names, METRICS_ERROR_NAMES,
                          memory_order_release);
    return METRICS_ERROR_NAMES - 1;
}

void metrics_request(struct metrics *m, enum rpc_method method, int code,
                     int64_t started)
{
    unsigned i = method < RPC_METHOD_COUNT ? (unsigned)method
                                           : (unsigned)RPC_METHOD_COUNT;
    int64_t ns = started ? clock_now() - started : 0;
    unsigned b = 0;

    if (ns < 0)
        ns = 0;
    metrics_add(&m->requests[i], 1);
    while (b < METRICS_LATENCY_BUCKETS && (double)ns > latency_bounds[b] * 1e9)
        b++;
    metrics_add(&m->latency[i][b], 1);
    metrics_add(&m->latency_ns[i], (uint64_t)ns);
    if (code != 0) {
        metrics_add(&m->errors[i], 1);
        metrics_add(&m->error_names[error_slot(m, code)].count, 1);
    }
}

void metrics_reply(struct metrics *m, enum rpc_method method, const char *reply,
                   size_t len, int64_t started)
{
    const char *message;
    uint32_t message_len;
    metrics_request(m, method,
                    rpc_response_error(reply, len, &message, &message_len),
                    started);
}

unsigned metrics_in_flight(const struct server *s)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->nloops; i++)
        n += atomic_load_explicit(&s->loops[i].inflight, memory_order_relaxed);
    return n;
}

/* Every loop's counts, added up: what `stats` and the Prometheus text
 * show. */
struct totals {
    uint64_t requests[METRICS_METHODS];
    uint64_t errors[METRICS_METHODS];
    uint64_t latency[METRICS_METHODS][METRICS_LATENCY_BUCKETS + 1];
    uint64_t latency_ns[METRICS_METHODS];
    struct {
        int code;
        uint64_t count;
    } error_names[METRICS_ERROR_NAMES];
    unsigned nerror_names;
    uint64_t bytes_in, bytes_out;
};

static uint64_t get(const atomic_uint_fast64_t *counter)
{
    return atomic_load_explicit(counter, memory_order_relaxed);
}

/* Adds @count of error @code to @t, keeping at most METRICS_ERROR_NAMES
 * names: the rest go under "OTHER" (code 0) in the last slot. */
static void total_error(struct totals *t, int code, uint64_t count)
{
    unsigned i;
    for (i = 0; i < t->nerror_names; i++)
        if (t->error_names[i].code == code)
            break;
    if (i == t->nerror_names) {
        if (i == METRICS_ERROR_NAMES) {
            i = METRICS_ERROR_NAMES - 1;
            t->error_names[i].code = 0;
        } else {
            t->error_names[i].code = code;
            t->nerror_names++;
        }
    }
    t->error_names[i].count += count;
}

static void metrics_total(const struct server *s, struct totals *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned l = 0; l < s->nloops; l++) {
        const struct metrics *m = &s->loops[l].metrics;
        for (unsigned i = 0; i < METRICS_METHODS; i++) {
            t->requests[i] += get(&m->requests[i]);
            t->errors[i] += get(&m->errors[i]);
            t->latency_ns[i] += get(&m->latency_ns[i]);
            for (unsigned b = 0; b <= METRICS_LATENCY_BUCKETS; b++)
                t->latency[i][b] += get(&m->latency[i][b]);
        }
        unsigned n =
            atomic_load_explicit(&m->nerror_names, memory_order_acquire);
        for (unsigned i = 0; i < n; i++)
            total_error(t,
                        atomic_load_explicit(&m->error_names[i].code,
                                             memory_order_relaxed),
                        get(&m->error_names[i].count));
        t->bytes_in += get(&m->bytes_in);
        t->bytes_out += get(&m->bytes_out);
    }
}

uint64_t metrics_sqlite_memory(const struct server *s)
{
    uint64_t n = atomic_load_explicit(&s->writer.worker.sqlite_memory,
                                      memory_order_relaxed);
    for (unsigned i = 0; i < s->readers.count; i++)
        n += atomic_load_explicit(&s->readers.workers[i].sqlite_memory,
                                  memory_order_relaxed);
    for (unsigned i = 0; i < s->nloops; i++)
        n += atomic_load_explicit(&s->loops[i].inline_reader.w.sqlite_memory,
                                  memory_order_relaxed);
    return n;
}

static const char *method_name(unsigned i)
{
    return i < RPC_METHOD_COUNT ? rpc_method_name((enum rpc_method)i)
                                : "unknown";
}

static const char *error_name(int code)
{
    return code == 0 ? "OTHER" : rpc_code_name(code);
}

/* ------------------------------------------------------------ stats */

static void pack_method_counts(struct codec_buf *b, const uint64_t *counts)
{
    unsigned n = 0;
    for (unsigned i = 0; i < METRICS_METHODS; i++)
        n += counts[i] > 0;
    msgpack_pack_map(&b->pk, n);
    for (unsigned i = 0; i < METRICS_METHODS; i++)
        if (counts[i] > 0) {
            codec_pack_cstr(b, method_name(i));
            msgpack_pack_uint64(&b->pk, counts[i]);
        }
}

/* {"le": [bounds...], "counts": [cumulative...], ...} of a histogram whose
 * last bucket is +Inf (not listed in "le"). */
static void pack_histogram(struct codec_buf *b, const double *bounds,
                           const uint64_t *buckets, unsigned nbounds,
                           double sum, const char *sum_key)
{
    uint64_t total = 0;
    msgpack_pack_map(&b->pk, 4);
    codec_pack_cstr(b, "le");
    msgpack_pack_array(&b->pk, nbounds);
    for (unsigned i = 0; i < nbounds; i++)
        msgpack_pack_double(&b->pk, bounds[i]);
    codec_pack_cstr(b, "counts");
    msgpack_pack_array(&b->pk, nbounds);
    for (unsigned i = 0; i < nbounds; i++) {
        total += buckets[i];
        msgpack_pack_uint64(&b->pk, total);
    }
    total += buckets[nbounds];
    codec_pack_cstr(b, "count");
    msgpack_pack_uint64(&b->pk, total);
    codec_pack_cstr(b, sum_key);
    msgpack_pack_double(&b->pk, sum);
}

/* The group-size buckets' bounds: 1, 2, 4, ... */
static void group_bounds(double *bounds)
{
    for (unsigned i = 0; i < STATS_GROUP_BUCKETS - 1; i++)
        bounds[i] = (double)((uint64_t)1 << i);
}

static void group_buckets(struct server *s, uint64_t *buckets)
{
    for (unsigned i = 0; i < STATS_GROUP_BUCKETS; i++)
        buckets[i] = stats_get(&s->stats.group_sizes[i]);
}

/* "loops": what each I/O loop holds and has served, so that one can see
 * connections spread over them. */
static void pack_loops(struct server *s, struct codec_buf *b)
{
    codec_pack_cstr(b, "io_threads");
    msgpack_pack_uint32(&b->pk, s->nloops);
    codec_pack_cstr(b, "loops");
    msgpack_pack_array(&b->pk, s->nloops);
    for (unsigned l = 0; l < s->nloops; l++) {
        const struct io_loop *loop = &s->loops[l];
        uint64_t requests = 0;
        for (unsigned i = 0; i < METRICS_METHODS; i++)
            requests += get(&loop->metrics.requests[i]);
        msgpack_pack_map(&b->pk, 3);
        codec_pack_cstr(b, "connections");
        msgpack_pack_uint32(
            &b->pk, atomic_load_explicit(&loop->nconns, memory_order_relaxed));
        codec_pack_cstr(b, "in_flight");
        msgpack_pack_uint32(&b->pk, atomic_load_explicit(&loop->inflight,
                                                         memory_order_relaxed));
        codec_pack_cstr(b, "requests");
        msgpack_pack_uint64(&b->pk, requests);
    }
}

void metrics_pack_stats(struct server *s, struct codec_buf *b)
{
    struct totals *m = malloc(sizeof(*m));
    unsigned n = 0;

    if (m == NULL) {
        b->error = CODEC_BUF_NOMEM;
        return;
    }
    metrics_total(s, m);

    codec_pack_cstr(b, "requests");
    pack_method_counts(b, m->requests);
    codec_pack_cstr(b, "errors");
    pack_method_counts(b, m->errors);
    codec_pack_cstr(b, "errors_by_name");
    msgpack_pack_map(&b->pk, m->nerror_names);
    for (unsigned i = 0; i < m->nerror_names; i++) {
        codec_pack_cstr(b, error_name(m->error_names[i].code));
        msgpack_pack_uint64(&b->pk, m->error_names[i].count);
    }
    codec_pack_cstr(b, "latency");
    for (unsigned i = 0; i < METRICS_METHODS; i++)
        n += m->requests[i] > 0;
    msgpack_pack_map(&b->pk, n);
    for (unsigned i = 0; i < METRICS_METHODS; i++)
        if (m->requests[i] > 0) {
            codec_pack_cstr(b, method_name(i));
            pack_histogram(b, latency_bounds, m->latency[i],
                           METRICS_LATENCY_BUCKETS,
                           (double)m->latency_ns[i] / 1e9, "sum_seconds");
        }
    double bounds[STATS_GROUP_BUCKETS];
    uint64_t buckets[STATS_GROUP_BUCKETS];
    group_bounds(bounds);
    group_buckets(s, buckets);
    codec_pack_cstr(b, "group_sizes");
    pack_histogram(b, bounds, buckets, STATS_GROUP_BUCKETS - 1,
                   (double)stats_get(&s->stats.group_requests), "sum");
    codec_pack_cstr(b, "bytes_in");
    msgpack_pack_uint64(&b->pk, m->bytes_in);
    codec_pack_cstr(b, "bytes_out");
    msgpack_pack_uint64(&b->pk, m->bytes_out);
    codec_pack_cstr(b, "in_flight");
    msgpack_pack_uint32(&b->pk, metrics_in_flight(s));
    codec_pack_cstr(b, "sqlite_memory_bytes");
    msgpack_pack_uint64(&b->pk, metrics_sqlite_memory(s));
    codec_pack_cstr(b, "uptime_ms");
    msgpack_pack_int64(&b->pk, (clock_now() - s->started) / CLOCK_NS_PER_MS);
    pack_loops(s, b);
    free(m);
}

/* ------------------------------------------------------------ Prometheus */

__attribute__((format(printf, 2, 3))) static void out(struct codec_buf *b,
                                                      const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0)
        codec_buf_append(
            b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void head(struct codec_buf *b, const char *name, const char *type,
                 const char *help)
{
    out(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A figure of struct stats, scaled into its unit. */
struct figure {
    const char *name, *type, *help;
    size_t offset;
    double scale;
};

#define STAT(field) offsetof(struct stats, field)

static const struct figure figures[] = {
    {"sqlited_busy_retries_total", "counter",
     "Waits on a database locked by another process.", STAT(busy_retries), 1},
    {"sqlited_timeouts_total", "counter",
     "Requests answered SQLITED_TIMEOUT: their deadline passed.",
     STAT(timeouts), 1},
    {"sqlited_cancelled_total", "counter",
     "Requests stopped by their client's cancel: answered "
     "SQLITED_INTERRUPTED before or while they ran.",
     STAT(cancelled), 1},
    {"sqlited_statement_cache_hits_total", "counter",
     "Statements found in the per-connection statement caches.",
     STAT(stmt_cache_hits), 1},
    {"sqlited_statement_cache_misses_total", "counter",
     "Statements prepared and added to the statement caches.",
     STAT(stmt_cache_misses), 1},
    {"sqlited_cursors_opened_total", "counter",
     "Cursors opened for results larger than one chunk.", STAT(cursors_opened),
     1},
    {"sqlited_cursors_expired_total", "counter",
     "Cursors closed by the daemon for idling.", STAT(cursors_expired), 1},
    {"sqlited_cursors_open", "gauge", "Cursors open now.", STAT(cursors_open),
     1},
    {"sqlited_connections_refused_total", "counter",
     "Connections refused at --max-connections.", STAT(connections_refused), 1},
    {"sqlited_memory_bytes", "gauge",
     "Memory held for clients' requests and replies (--max-memory).",
     STAT(memory_bytes), 1},
    {"sqlited_backups_total", "counter", "Backups taken.", STAT(backups), 1},
    {"sqlited_backups_failed_total", "counter", "Backups that failed.",
     STAT(backups_failed), 1},
    {"sqlited_last_backup_timestamp_seconds", "gauge",
     "When the last backup finished (Unix time; 0: none yet).",
     STAT(last_backup_unix_ms), 1e-3},
    {"sqlited_last_backup_duration_seconds", "gauge",
     "How long the last backup took.", STAT(last_backup_duration_ms), 1e-3},
    {"sqlited_last_backup_bytes", "gauge", "Size of the last backup.",
     STAT(last_backup_bytes), 1},
    {"sqlited_checkpoints_total", "counter", "WAL checkpoints run.",
     STAT(checkpoints), 1},
    {"sqlited_checkpoints_busy_total", "counter",
     "WAL checkpoints that could not finish (readers held older snapshots).",
     STAT(checkpoints_busy), 1},
    {"sqlited_last_checkpoint_timestamp_seconds", "gauge",
     "When the last checkpoint finished (Unix time; 0: none yet).",
     STAT(checkpoint_last_unix_ms), 1e-3},
    {"sqlited_last_checkpoint_duration_seconds", "gauge",
     "How long the last checkpoint took.", STAT(checkpoint_last_duration_us),
     1e-6},
    {"sqlited_wal_bytes", "gauge", "Size of the WAL file.", STAT(wal_bytes), 1},
    {"sqlited_cursors_aged_out_total", "counter",
     "Cursors closed by the daemon at --cursor-max-age.",
     STAT(cursors_aged_out), 1},
    {"sqlited_snapshots_released_total", "counter",
     "Cursors closed and reads interrupted because the WAL passed "
     "--wal-max-bytes.",
     STAT(snapshots_released), 1},
    {"sqlited_read_only_transactions_begun_total", "counter",
     "Read-only transactions begun (begin with read_only).",
     STAT(tx_read_only_begun), 1},
    {"sqlited_read_only_transactions_expired_total", "counter",
     "Read-only transactions the daemon ended: idle, at --tx-max-duration, "
     "or for the WAL limit.",
     STAT(tx_read_only_expired), 1},
    {"sqlited_read_only_transactions_open", "gauge",
     "Read-only transactions open now.", STAT(tx_read_only_open), 1},
    {"sqlited_inline_reads_total", "counter",
     "Reads the I/O loop answered itself, within --inline-budget.",
     STAT(inline_reads), 1},
    {"sqlited_inline_handoffs_total", "counter",
     "Reads the I/O loop began and handed to the reader pool or the writer: "
     "past --inline-budget, met a lock, needed a cursor, or wrote.",
     STAT(inline_handoffs), 1},
    {"sqlited_reader_busy_seconds_total", "counter",
     "Time the reader threads spent on requests.", STAT(reader_busy_ns), 1e-9},
    {"sqlited_writer_busy_seconds_total", "counter",
     "Time the writer thread spent on requests.", STAT(writer_busy_ns), 1e-9},
    {"sqlited_sqlite_page_cache_hits_total", "counter",
     "Page cache hits of the daemon's SQLite connections.",
     STAT(page_cache_hits), 1},
    {"sqlited_sqlite_page_cache_misses_total", "counter",
     "Page cache misses of the daemon's SQLite connections.",
     STAT(page_cache_misses), 1},
    {"sqlited_sqlite_page_cache_writes_total", "counter",
     "Pages written to the database by the daemon's SQLite connections.",
     STAT(page_cache_writes), 1},
    {"sqlited_writer_queue_requests", "gauge",
     "Requests given to the writer and not finished.", STAT(writer_queue), 1},
    {"sqlited_reader_queue_requests", "gauge",
     "Requests waiting for a free reader.", STAT(reader_queue), 1},
    {"sqlited_migrations_pending", "gauge",
     "Migrations the run in progress has yet to apply (at start-up the "
     "daemon is not ready meanwhile); 0 when none runs.",
     STAT(migrations_pending), 1},
};

static double stat_value(struct server *s, size_t offset)
{
    return (double)stats_get(
        (atomic_uint_fast64_t *)((char *)&s->stats + offset));
}

/* Writes @v as Prometheus reads it: integers without a fraction. */
static void value(struct codec_buf *b, double v)
{
    if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
        out(b, "%lld\n", (long long)v);
    else
        out(b, "%.9g\n", v);
}

/* The _bucket lines, _sum and _count of one histogram's series. */
static void histogram(struct codec_buf *b, const char *name, const char *labels,
                      const double *bounds, const uint64_t *buckets,
                      unsigned nbounds, double sum)
{
    uint64_t total = 0;
    const char *comma = labels[0] ? "," : "";
    for (unsigned i = 0; i < nbounds; i++) {
        total += buckets[i];
        out(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, comma,
            bounds[i], (unsigned long long)total);
    }
    total += buckets[nbounds];
    out(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, comma,
        (unsigned long long)total);
    out(b, labels[0] ? "%s_sum{%s} " : "%s_sum%s ", name, labels);
    value(b, sum);
    out(b, labels[0] ? "%s_count{%s} %llu\n" : "%s_count%s %llu\n", name,
        labels, (unsigned long long)total);
}

void metrics_render(struct server *s, struct codec_buf *b)
{
    struct totals *m = malloc(sizeof(*m));
    char labels[96];

    if (m == NULL) {
        b->error = CODEC_BUF_NOMEM;
        return;
    }
    metrics_total(s, m);

    head(b, "sqlited_info", "gauge",
         "The daemon's version and its SQLite's, as labels.");
    out(b, "sqlited_info{version=\"%s\",sqlite_version=\"%s\"} 1\n",
        SQLITED_VERSION, sqlite3_libversion());
    head(b, "sqlited_uptime_seconds", "gauge",
         "Time since the daemon started.");
    out(b, "sqlited_uptime_seconds ");
    value(b, (double)(clock_now() - s->started) / 1e9);
    head(b, "sqlited_connections", "gauge", "Clients connected now.");
    out(b, "sqlited_connections %u\n", server_connections(s));
    head(b, "sqlited_requests_in_flight", "gauge",
         "Requests being worked on now.");
    out(b, "sqlited_requests_in_flight %u\n", metrics_in_flight(s));

    head(b, "sqlited_requests_total", "counter",
         "Requests answered, by method.");
    for (unsigned i = 0; i < METRICS_METHODS; i++)
        out(b, "sqlited_requests_total{method=\"%s\"} %llu\n", method_name(i),
            (unsigned long long)m->requests[i]);
    head(b, "sqlited_request_errors_total", "counter",
         "Requests answered with an error, by method.");
    for (unsigned i = 0; i < METRICS_METHODS; i++)
        out(b, "sqlited_request_errors_total{method=\"%s\"} %llu\n",
            method_name(i), (unsigned long long)m->errors[i]);
    head(b, "sqlited_errors_total", "counter",
         "Requests answered with an error, by the error's name.");
    for (unsigned i = 0; i < m->nerror_names; i++)
        out(b, "sqlited_errors_total{name=\"%s\"} %llu\n",
            error_name(m->error_names[i].code),
            (unsigned long long)m->error_names[i].count);
    head(b, "sqlited_request_duration_seconds", "histogram",
         "Time from reading a request to answering it, by method.");
    for (unsigned i = 0; i < METRICS_METHODS; i++) {
        if (m->requests[i] == 0)
            continue;
        snprintf(labels, sizeof(labels), "method=\"%s\"", method_name(i));
        histogram(b, "sqlited_request_duration_seconds", labels, latency_bounds,
                  m->latency[i], METRICS_LATENCY_BUCKETS,
                  (double)m->latency_ns[i] / 1e9);
    }

    double bounds[STATS_GROUP_BUCKETS];
    uint64_t buckets[STATS_GROUP_BUCKETS];
    group_bounds(bounds);
    group_buckets(s, buckets);
    head(b, "sqlited_group_commit_requests", "histogram",
         "Requests committed together in one group commit.");
    histogram(b, "sqlited_group_commit_requests", "", bounds, buckets,
              STATS_GROUP_BUCKETS - 1,
              (double)stats_get(&s->stats.group_requests));

    head(b, "sqlited_transactions_total", "counter",
         "Interactive transactions, by how they went.");
    out(b, "sqlited_transactions_total{outcome=\"begun\"} %llu\n",
        (unsigned long long)stats_get(&s->stats.tx_begun));
    out(b, "sqlited_transactions_total{outcome=\"committed\"} %llu\n",
        (unsigned long long)stats_get(&s->stats.tx_committed));
    out(b, "sqlited_transactions_total{outcome=\"rolled_back\"} %llu\n",
        (unsigned long long)stats_get(&s->stats.tx_rolled_back));
    out(b, "sqlited_transactions_total{outcome=\"expired\"} %llu\n",
        (unsigned long long)stats_get(&s->stats.tx_expired));

    head(b, "sqlited_received_bytes_total", "counter",
         "Bytes read from clients.");
    out(b, "sqlited_received_bytes_total %llu\n",
        (unsigned long long)m->bytes_in);
    head(b, "sqlited_sent_bytes_total", "counter", "Bytes of replies sent.");
    out(b, "sqlited_sent_bytes_total %llu\n", (unsigned long long)m->bytes_out);
    head(b, "sqlited_sqlite_memory_bytes", "gauge",
         "Memory of the daemon's SQLite connections: page caches, schemas, "
         "prepared statements.");
    out(b, "sqlited_sqlite_memory_bytes %llu\n",
        (unsigned long long)metrics_sqlite_memory(s));

    for (size_t i = 0; i < sizeof(figures) / sizeof(*figures); i++) {
        head(b, figures[i].name, figures[i].type, figures[i].help);
        out(b, "%s ", figures[i].name);
        value(b, stat_value(s, figures[i].offset) * figures[i].scale);
    }
    free(m);
}
