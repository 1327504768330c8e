/* sqlited-bench: every workload at 1, 8 and 64 clients, on sqlited and on
 * the baselines, in one run on one machine. See README.md, "Performance".
 *
 *   sqlited-bench --daemon build/sqlited [--quick] [--data DIR]
 *                 [--results DIR] [--commit ID] [--only WORKLOAD]
 *                 [--clients N] [--io-threads N]
 */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The socket floor's message sizes: those of sqlited's answers, the larger
 * side of each round trip, as seen on the wire (strace of the daemon): a
 * ping is 11 bytes each way; a point read of this benchmark's table asks
 * in 50 bytes and is answered in 85. */
#define ECHO_PING_BYTES 11
#define ECHO_POINT_BYTES 85

static const int client_counts[] = {1, 8, 64};

/* Set in main(); 0 until then. */
int bench_io_threads;
/* --io-threads given: passed on to the daemon. */
static int io_threads_option;

const char *workload_name(enum workload w)
{
#define WORKLOAD_NAME(name, text) [W_##name] = text,
    static const char *const names[] = {WORKLOADS(WORKLOAD_NAME)};
#undef WORKLOAD_NAME
    return names[w];
}

uint64_t spec_units_per_op(const struct spec *s)
{
    if (s->workload == W_BULK)
        return BULK_ROWS / (uint64_t)s->clients;
    if (s->workload == W_STREAM)
        return STREAM_ROWS;
    return 1;
}

bool workload_writes(enum workload w)
{
    return w == W_INSERT_FULL || w == W_INSERT_NORMAL || w == W_BULK ||
           w == W_MIXED;
}

const char *workload_synchronous(enum workload w)
{
    return w == W_INSERT_NORMAL ? "NORMAL" : "FULL";
}

/* The systems a workload runs on, baselines first, so that a sqlited row
 * can be printed with its ratios as soon as it is measured. */
static int systems_of(enum workload w, enum system *out)
{
    switch (w) {
    case W_PING:
    case W_POINT: {
        int n = 0;
        out[n++] = S_FLOOR;
        if (bench_io_threads > 1)
            out[n++] = S_FLOOR_N;
        if (w == W_POINT)
            out[n++] = S_DIRECT;
        out[n++] = S_SQLITED;
        return n;
    }
    case W_PIPELINED:
        out[0] = S_SQLITED;
        return 1;
    default:
        out[0] = S_DIRECT;
        out[1] = S_SQLITED;
        return 2;
    }
}

struct bench {
    const char *daemon_bin;
    const char *data_dir;
    bool quick;
    double seconds;
    struct result *results;
    size_t nresults;
};

/* Runs one workload on one system at one client count, on a fresh copy of
 * the database when it writes. */
static void run_one(struct bench *b, enum workload w, enum system sys,
                    int clients)
{
    char db[512], sock[512], log[512], wal[520], shm[520];
    const char *template = w == W_STREAM ? "stream.db" : "t.db";
    struct spec s = {
        .workload = w,
        .system = sys,
        .clients = clients,
        .seconds = b->seconds,
        .synchronous = workload_synchronous(w),
        .db_path = db,
        .socket_path = sock,
        .echo_bytes = w == W_PING ? ECHO_PING_BYTES : ECHO_POINT_BYTES,
    };
    struct result *r = &b->results[b->nresults];
    pid_t server = 0;

    snprintf(db, sizeof(db), "%s/%s", b->data_dir, template);
    if (workload_writes(w)) {
        char from[512];
        snprintf(from, sizeof(from), "%s/%s", b->data_dir, template);
        snprintf(db, sizeof(db), "%s/run.db", b->data_dir);
        if (data_copy(from, db)) {
            fprintf(stderr, "bench: cannot copy %s: %s\n", from,
                    strerror(errno));
            return;
        }
    }
    snprintf(sock, sizeof(sock), "%s/bench.sock", b->data_dir);
    snprintf(log, sizeof(log), "%s/daemon.log", b->data_dir);
    if (sys == S_SQLITED)
        server = daemon_start(b->daemon_bin, db, sock, s.synchronous,
                              io_threads_option, log);
    else if (sys == S_FLOOR || sys == S_FLOOR_N)
        server = echo_start(sock, sys == S_FLOOR ? 1 : bench_io_threads);
    if (server < 0) {
        fprintf(stderr, "bench: cannot start the %s server\n",
                system_name(sys));
        return;
    }
    load_run(&s,
             sys == S_SQLITED  ? &sqlited_client_ops
             : sys == S_DIRECT ? &direct_client_ops
                               : &echo_client_ops,
             server, r);
    server_stop(server);
    b->nresults++;
    report_row(r, b->results, b->nresults);

    if (workload_writes(w)) {
        snprintf(wal, sizeof(wal), "%s-wal", db);
        snprintf(shm, sizeof(shm), "%s-shm", db);
        unlink(db);
        unlink(wal);
        unlink(shm);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: sqlited-bench --daemon PATH [--quick] [--data DIR] "
               "[--results DIR] [--commit ID] [--only WORKLOAD] [--clients N] "
               "[--io-threads N]\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"daemon", required_argument, NULL, 'd'},
        {"data", required_argument, NULL, 'D'},
        {"results", required_argument, NULL, 'r'},
        {"commit", required_argument, NULL, 'c'},
        {"only", required_argument, NULL, 'o'},
        {"clients", required_argument, NULL, 'n'},
        {"io-threads", required_argument, NULL, 't'},
        {"quick", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bench b = {.data_dir = "build/bench-data"};
    const char *results_dir = NULL, *commit = NULL, *only = NULL;
    int only_clients = 0;
    struct machine m;
    enum system systems[4];
    int opt;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            b.daemon_bin = optarg;
            break;
        case 'D':
            b.data_dir = optarg;
            break;
        case 'r':
            results_dir = optarg;
            break;
        case 'c':
            commit = optarg;
            break;
        case 'o':
            only = optarg;
            break;
        case 'n':
            only_clients = atoi(optarg);
            break;
        case 't':
            io_threads_option = atoi(optarg);
            if (io_threads_option < 1) {
                usage(stderr);
                return 2;
            }
            break;
        case 'q':
            b.quick = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!b.daemon_bin || optind < argc) {
        usage(stderr);
        return 2;
    }
    b.seconds = b.quick ? 1.0 : 5.0;
    /* sqlited's default: one I/O loop per CPU. */
    bench_io_threads = io_threads_option > 0
                           ? io_threads_option
                           : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (bench_io_threads < 1)
        bench_io_threads = 1;
    b.results = calloc(W_COUNT * 3 * 4, sizeof(*b.results));
    if (!b.results || (mkdir(b.data_dir, 0755) && errno != EEXIST)) {
        fprintf(stderr, "bench: cannot use %s: %s\n", b.data_dir,
                strerror(errno));
        return 1;
    }
    if (data_create(b.data_dir))
        return 1;

    machine_read(&m, b.data_dir, commit);
    report_header(&m, b.quick, b.seconds);
    for (int w = 0; w < W_COUNT; w++) {
        if (only && !strstr(workload_name((enum workload)w), only))
            continue;
        for (size_t i = 0; i < sizeof(client_counts) / sizeof(*client_counts);
             i++) {
            int n = systems_of((enum workload)w, systems);
            if (only_clients && client_counts[i] != only_clients)
                continue;
            for (int k = 0; k < n; k++)
                run_one(&b, (enum workload)w, systems[k], client_counts[i]);
        }
    }
    report_targets(b.results, b.nresults);

    if (results_dir) {
        char path[512], stamp[32];
        if (mkdir(results_dir, 0755) && errno != EEXIST) {
            fprintf(stderr, "bench: cannot create %s: %s\n", results_dir,
                    strerror(errno));
            return 1;
        }
        snprintf(stamp, sizeof(stamp), "%.10s-%.2s%.2s%.2s", m.date,
                 m.date + 11, m.date + 14, m.date + 17);
        snprintf(path, sizeof(path), "%s/%s-%s.json", results_dir, stamp,
                 b.quick ? "quick" : "full");
        if (report_json(path, &m, b.quick, b.seconds, b.results, b.nresults)) {
            fprintf(stderr, "bench: cannot write %s: %s\n", path,
                    strerror(errno));
            return 1;
        }
        printf("\nresults: %s\n", path);
    }
    free(b.results);
    return 0;
}
