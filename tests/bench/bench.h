/* The benchmark: sqlited measured side by side with its alternatives.
 *
 * A run is one workload, on one system, at one number of clients, for a
 * fixed time. Every client is a process of its own, as the services sharing
 * a database are; they start together and each times every operation it
 * makes. The systems are sqlited (through libsqlited), "direct" (each
 * client opens the database file itself, as the seed documents teach) and
 * the socket floor (a libuv echo server: the least any daemon pays for a
 * round trip), with one thread and with as many as sqlited has I/O loops.
 * "in-process" is direct with a single client. */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ------------------------------------------------------------- histogram */

/* Latencies in a log-linear histogram: 64 buckets per power of two, so a
 * percentile is exact to 1/64 (1.6 %), in constant space. */
#define HIST_SUB 64
#define HIST_BUCKETS (60 * HIST_SUB)

struct hist {
    uint64_t count[HIST_BUCKETS];
    uint64_t n;
    uint64_t max_ns;
};

void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
/* The latency at or below which @p (0 to 1) of the samples lie; 0 when
 * there are none. */
uint64_t hist_percentile(const struct hist *h, double p);

/* ------------------------------------------------------------- workloads */

#define WORKLOADS(X)                                                           \
    X(PING, "ping")                                                            \
    X(POINT, "point read")                                                     \
    X(PIPELINED, "point read x16")                                             \
    X(INSERT_FULL, "insert FULL")                                              \
    X(INSERT_NORMAL, "insert NORMAL")                                          \
    X(BULK, "bulk insert")                                                     \
    X(MIXED, "mixed 90/10")                                                    \
    X(STREAM, "stream 1M rows")

#define WORKLOAD_ENUM(name, text) W_##name,
enum workload { WORKLOADS(WORKLOAD_ENUM) W_COUNT };
#undef WORKLOAD_ENUM

/* S_FLOOR: the echo server with one thread; S_FLOOR_N: with as many as
 * sqlited has I/O loops (bench_io_threads). */
enum system { S_SQLITED, S_DIRECT, S_FLOOR, S_FLOOR_N };

const char *workload_name(enum workload w);
const char *system_name(enum system s);

/* sqlited's I/O loops in this run (its --io-threads: the number of CPUs
 * unless given), and so the threads of the second socket floor. */
extern int bench_io_threads;

/* The tables every database of the benchmark holds: "t", the point-read
 * table (TABLE_ROWS rows), into which the writes insert too, and "big",
 * the streamed one (STREAM_ROWS rows; only in the stream database). */
#define TABLE_ROWS 100000
#define STREAM_ROWS 1000000
#define BULK_ROWS 100000 /* per bulk round, shared among the clients */
#define PIPELINE_DEPTH 16
#define VALUE_TEXT "a value of forty-eight bytes, as rows often are."
#define POINT_SQL "SELECT id, v FROM t WHERE id = ?"
#define INSERT_SQL "INSERT INTO t(v) VALUES (?)"
#define STREAM_SQL "SELECT id, v FROM big"

/* Everything one run needs to know. */
struct spec {
    enum workload workload;
    enum system system;
    int clients;
    double seconds;
    const char *synchronous; /* "FULL" or "NORMAL" */
    const char *db_path;
    const char *socket_path; /* of the daemon or of the echo server */
    size_t echo_bytes;       /* the socket floor's message size */
};

/* Rows one operation of the workload moves: a bulk insert round's share,
 * a whole stream, else 1. Throughput counts these. */
uint64_t spec_units_per_op(const struct spec *s);
bool workload_writes(enum workload w);
const char *workload_synchronous(enum workload w);

/* ---------------------------------------------------------------- clients */

struct client_stats; /* in shared memory, one per client */

/* One client process of a run. */
struct client {
    const struct spec *spec;
    int index;
    uint64_t rng;
    int64_t stop_ns; /* CLOCK_MONOTONIC: no operation starts after it */
    struct client_stats *stats;
    void *conn; /* the system's own handle */
};

/* What a system does in a client process: open its connection before the
 * run starts, run until load_running() says stop, close. open and run
 * return 0, or -1 after load_fail() said why. */
struct client_ops {
    int (*open)(struct client *c);
    int (*run)(struct client *c);
    void (*close)(struct client *c);
};

extern const struct client_ops sqlited_client_ops;
extern const struct client_ops direct_client_ops;
extern const struct client_ops echo_client_ops;

/* One timed operation: 0 on success, 1 on an error the client records and
 * goes on after (a busy database), -1 when the client cannot go on. */
typedef int (*client_op)(struct client *c);

int64_t now_ns(void);
bool load_running(const struct client *c);
/* Runs @op until the run ends, at least once, timing each call. */
int load_loop(struct client *c, client_op op);
/* Records one operation that started at @start_ns and succeeded or not. */
void load_record(struct client *c, int64_t start_ns, bool ok);
/* Records why the client failed (the first reason is kept). Returns -1. */
int load_fail(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
uint64_t load_random(struct client *c, uint64_t below);

/* -------------------------------------------------------------- results */

struct result {
    enum workload workload;
    enum system system;
    int clients;
    uint64_t ops, units, errors;
    double seconds;    /* from the start to the last client's end */
    double per_second; /* units per second */
    uint64_t p50_ns, p99_ns, p999_ns, max_ns;
    long rss_before_kib, rss_peak_kib; /* the daemon's; 0 without one */
    double server_cpu;                 /* seconds the server used */
    char error[200];                   /* the first error, if any */
};

/* Runs @s with @ops in s->clients processes into @r, measuring the memory
 * and CPU time of @server (0: none). Returns 0, or -1 when a client could
 * not start (r->error says why). */
int load_run(const struct spec *s, const struct client_ops *ops, pid_t server,
             struct result *r);

/* ------------------------------------------------------- servers and data */

/* Starts the daemon @bin on @db_path and @socket_path with @synchronous,
 * and with @io_threads I/O loops when it is positive (else its default).
 * Returns its pid, or -1. Its output goes to @log_path. */
pid_t daemon_start(const char *bin, const char *db_path,
                   const char *socket_path, const char *synchronous,
                   int io_threads, const char *log_path);
/* The same, with the NULL-terminated options @extra (may be NULL) instead of
 * --io-threads. */
pid_t daemon_start_args(const char *bin, const char *db_path,
                        const char *socket_path, const char *synchronous,
                        const char *log_path, const char *const *extra);
/* SIGTERM, then SIGKILL after 10 s. Returns the exit status (128 + the
 * signal when a signal ended it), or -1 when it had to be killed. */
int server_stop(pid_t pid);

/* Starts the socket floor's echo server on @socket_path with @threads
 * server threads. Returns its pid, or -1. */
pid_t echo_start(const char *socket_path, int threads);

/* Resident set of @pid now and at its peak, in KiB; rss_reset_peak() starts
 * a new peak. */
long rss_kib(pid_t pid, bool peak);
void rss_reset_peak(pid_t pid);
/* CPU time @pid has used so far, user and system, in seconds. */
double cpu_seconds(pid_t pid);

/* Creates the template databases in @dir (t.db, stream.db). Returns 0 or
 * -1 with a message on stderr. */
int data_create(const char *dir);
/* Copies @from to @to. Returns 0 or -1. */
int data_copy(const char *from, const char *to);

/* ---------------------------------------------------------------- report */

struct machine {
    char cpu_model[128];
    long cpus;
    char kernel[256];
    long mem_mib;
    char sqlite_version[32];
    char libuv_version[32];
    char date[32];
    char commit[48];
    char data_dir[256];
};

void machine_read(struct machine *m, const char *data_dir, const char *commit);
void report_header(const struct machine *m, bool quick, double seconds);
void report_row(const struct result *r, const struct result *all, size_t n);
/* Prints the targets of the issue and writes everything as JSON to @path.
 * Returns 0 or -1. */
void report_targets(const struct result *all, size_t n);
int report_json(const char *path, const struct machine *m, bool quick,
                double seconds, const struct result *all, size_t n);

#endif
