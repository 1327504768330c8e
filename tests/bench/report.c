/* What the benchmark prints and writes: the machine, a table of results with
 * their ratios to the baselines of the same run, the targets, and JSON. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <sqlite3.h>

void machine_read(struct machine *m, const char *data_dir, const char *commit)
{
    struct utsname u;
    char line[256];
    FILE *f;
    time_t now = time(NULL);

    memset(m, 0, sizeof(*m));
    m->cpus = sysconf(_SC_NPROCESSORS_ONLN);
    m->mem_mib = sysconf(_SC_PHYS_PAGES) / 1024 * sysconf(_SC_PAGESIZE) / 1024;
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname, u.release,
                 u.machine);
    f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            snprintf(m->cpu_model, sizeof(m->cpu_model), "%s", colon + 2);
            m->cpu_model[strcspn(m->cpu_model, "\n")] = '\0';
            break;
        }
    }
    if (f)
        fclose(f);
    snprintf(m->sqlite_version, sizeof(m->sqlite_version), "%s",
             sqlite3_libversion());
    snprintf(m->libuv_version, sizeof(m->libuv_version), "%s",
             uv_version_string());
    strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(m->commit, sizeof(m->commit), "%s", commit ? commit : "");
    snprintf(m->data_dir, sizeof(m->data_dir), "%s", data_dir);
}

const char *system_name(enum system s)
{
    static const char *const names[] = {
        [S_SQLITED] = "sqlited",
        [S_DIRECT] = "direct",
        [S_FLOOR] = "socket floor",
    };
    static char floor_n[16];

    if (s != S_FLOOR_N)
        return names[s];
    snprintf(floor_n, sizeof(floor_n), "floor %d thr", bench_io_threads);
    return floor_n;
}

/* ------------------------------------------------------------- baselines */

static const struct result *find(const struct result *all, size_t n,
                                 enum workload w, enum system s, int clients)
{
    for (size_t i = 0; i < n; i++)
        if (all[i].workload == w && all[i].system == s &&
            all[i].clients == clients && all[i].ops > 0)
            return &all[i];
    return NULL;
}

/* The workload a baseline runs for @w: nobody else pipelines, so pipelined
 * reads are held against reads one at a time. */
static enum workload baseline_of(enum workload w)
{
    return w == W_PIPELINED ? W_POINT : w;
}

enum ratio { VS_DIRECT, VS_INPROCESS, VS_FLOOR, VS_FLOOR_N, RATIOS };
static const char *const ratio_names[RATIOS] = {"vs_direct", "vs_in_process",
                                                "vs_socket_floor",
                                                "vs_socket_floor_io_threads"};

/* @r's throughput over that of a baseline of the same run; 0 when there is
 * none. */
static double ratio(const struct result *r, const struct result *all, size_t n,
                    enum ratio which)
{
    enum workload w = baseline_of(r->workload);
    const struct result *b = NULL;

    if (r->system != S_SQLITED)
        return 0;
    if (which == VS_DIRECT)
        b = find(all, n, w, S_DIRECT, r->clients);
    else if (which == VS_INPROCESS)
        b = find(all, n, w, S_DIRECT, 1);
    else if (which == VS_FLOOR)
        b = find(all, n, w, S_FLOOR, r->clients);
    else
        b = find(all, n, w, S_FLOOR_N, r->clients);
    return b && b->per_second > 0 ? r->per_second / b->per_second : 0;
}

/* ------------------------------------------------------------------ table */

static const char *fmt_ns(char *buf, size_t size, uint64_t ns)
{
    if (ns < 10000)
        snprintf(buf, size, "%.1fus", (double)ns / 1e3);
    else if (ns < 1000000)
        snprintf(buf, size, "%.0fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(buf, size, "%.1fms", (double)ns / 1e6);
    else
        snprintf(buf, size, "%.2fs", (double)ns / 1e9);
    return buf;
}

/* 1234567 as "1,234,567". */
static const char *fmt_count(char *buf, size_t size, double v)
{
    char digits[32];
    int len = snprintf(digits, sizeof(digits), "%.0f", v), o = 0;

    for (int i = 0; i < len && o + 2 < (int)size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

static const char *fmt_ratio(char *buf, size_t size, double v)
{
    if (v <= 0)
        snprintf(buf, size, "-");
    else
        snprintf(buf, size, v < 10 ? "%.2fx" : "%.1fx", v);
    return buf;
}

static const char *unit_of(enum workload w)
{
    return w == W_BULK || w == W_STREAM ? "rows/s" : "ops/s";
}

void report_header(const struct machine *m, bool quick, double seconds)
{
    printf("sqlited benchmark (%s: %.1f s per run), %s\n",
           quick ? "quick" : "full", seconds, m->date);
    printf("machine: %ld CPUs (%s), %ld MiB, %s\n", m->cpus, m->cpu_model,
           m->mem_mib, m->kernel);
    printf("SQLite %s, libuv %s, commit %s, data in %s\n", m->sqlite_version,
           m->libuv_version, m->commit[0] ? m->commit : "?", m->data_dir);
    printf("socket floor: echo server with 1 thread; floor %d thr: with %d, "
           "as sqlited has I/O loops\n\n",
           bench_io_threads, bench_io_threads);
    printf("%-15s %3s %-12s %12s %-6s %8s %8s %8s %8s %6s %7s %7s %9s %9s "
           "%8s %9s\n",
           "workload", "n", "system", "throughput", "", "p50", "p99", "p99.9",
           "max", "errors", "RSS MiB", "CPU/op", "vs direct", "vs inproc",
           "vs floor", "vs flr N");
    fflush(stdout);
}

void report_row(const struct result *r, const struct result *all, size_t n)
{
    char rate[32], p50[16], p99[16], p999[16], max[16], rss[16], cpu[16];
    char rd[16], ri[16], rf[16], rn[16];

    if (r->system == S_SQLITED && r->rss_peak_kib > 0)
        snprintf(rss, sizeof(rss), "%.1f", (double)r->rss_peak_kib / 1024);
    else
        snprintf(rss, sizeof(rss), "-");
    if (r->server_cpu > 0 && r->ops > 0)
        fmt_ns(cpu, sizeof(cpu), (uint64_t)(r->server_cpu * 1e9 / r->ops));
    else
        snprintf(cpu, sizeof(cpu), "-");
    printf("%-15s %3d %-12s %12s %-6s %8s %8s %8s %8s %6llu %7s %7s %9s %9s "
           "%8s %9s\n",
           workload_name(r->workload), r->clients, system_name(r->system),
           fmt_count(rate, sizeof(rate), r->per_second), unit_of(r->workload),
           fmt_ns(p50, sizeof(p50), r->p50_ns),
           fmt_ns(p99, sizeof(p99), r->p99_ns),
           fmt_ns(p999, sizeof(p999), r->p999_ns),
           fmt_ns(max, sizeof(max), r->max_ns), (unsigned long long)r->errors,
           rss, cpu, fmt_ratio(rd, sizeof(rd), ratio(r, all, n, VS_DIRECT)),
           fmt_ratio(ri, sizeof(ri), ratio(r, all, n, VS_INPROCESS)),
           fmt_ratio(rf, sizeof(rf), ratio(r, all, n, VS_FLOOR)),
           fmt_ratio(rn, sizeof(rn), ratio(r, all, n, VS_FLOOR_N)));
    if (r->error[0])
        printf("    first error: %s\n", r->error);
    fflush(stdout);
}

/* ---------------------------------------------------------------- targets */

enum cmp { AT_LEAST, AT_MOST, BELOW };

struct target {
    char name[80];
    const char *goal;
    double value; /* < 0: not measured in this run */
    bool met;
};

#define TARGETS_MAX 24

/* One target: @value < 0 when this run did not measure it. */
static void target(struct target *t, int *n, const char *name, const char *goal,
                   double value, enum cmp cmp, double bound)
{
    struct target *x = &t[(*n)++];

    snprintf(x->name, sizeof(x->name), "%s", name);
    x->goal = goal;
    x->value = value;
    x->met = value >= 0 && (cmp == AT_LEAST  ? value >= bound
                            : cmp == AT_MOST ? value <= bound
                                             : value < bound);
}

/* sqlited's throughput for @w at @clients over a baseline's, or -1 when
 * either is missing. */
static double vs(const struct result *all, size_t n, enum workload w,
                 int clients, enum ratio which)
{
    const struct result *r = find(all, n, w, S_SQLITED, clients);
    double v = r ? ratio(r, all, n, which) : 0;

    return v > 0 ? v : -1;
}

/* The server's CPU time per operation of @r, or -1. */
static double cpu_per_op(const struct result *r)
{
    return r && r->ops > 0 && r->server_cpu > 0 ? r->server_cpu / r->ops : -1;
}

/* The daemon's CPU per point read over the echo server's per echo (with
 * as many threads as sqlited has I/O loops), at @clients; or -1. */
static double cpu_vs_echo(const struct result *all, size_t n, int clients)
{
    double d = cpu_per_op(find(all, n, W_POINT, S_SQLITED, clients));
    double e = cpu_per_op(find(all, n, W_POINT, S_FLOOR_N, clients));

    if (e < 0)
        e = cpu_per_op(find(all, n, W_POINT, S_FLOOR, clients));
    return d > 0 && e > 0 ? d / e : -1;
}

/* Direct's slowest insert over sqlited's, FULL, at @clients; or -1. */
static double slowest_ratio(const struct result *all, size_t n, int clients)
{
    const struct result *s = find(all, n, W_INSERT_FULL, S_SQLITED, clients);
    const struct result *d = find(all, n, W_INSERT_FULL, S_DIRECT, clients);

    return s && d && s->max_ns > 0 ? (double)d->max_ns / (double)s->max_ns : -1;
}

/* How far sqlited's median durable insert (1 client) is above direct's, in
 * round trips of the socket floor (its median, 1 client); or -1. */
static double insert_over_direct(const struct result *all, size_t n)
{
    const struct result *s = find(all, n, W_INSERT_FULL, S_SQLITED, 1);
    const struct result *d = find(all, n, W_INSERT_FULL, S_DIRECT, 1);
    const struct result *f = find(all, n, W_POINT, S_FLOOR, 1);
    double over;

    if (!s || !d || !f || f->p50_ns == 0)
        return -1;
    over = ((double)s->p50_ns - (double)d->p50_ns) / (double)f->p50_ns;
    return over > 0 ? over : 0;
}

/* The targets, from this run's results; returns how many. The
 * socket floor they name is the one with as many threads as sqlited has
 * I/O loops (the same as the one-thread floor on one CPU). The last ones
 * were met before the I/O loops came, and must stay met. */
static int targets(const struct result *all, size_t n, struct target *t)
{
    enum ratio floor = bench_io_threads > 1 ? VS_FLOOR_N : VS_FLOOR;
    const struct result *stream = find(all, n, W_STREAM, S_SQLITED, 1);
    double growth =
        stream ? (double)(stream->rss_peak_kib - stream->rss_before_kib) / 1024
               : -1;
    int k = 0;

    target(t, &k, "point read, 1 client: vs socket floor", ">= 0.8x",
           vs(all, n, W_POINT, 1, floor), AT_LEAST, 0.8);
    target(t, &k, "point read, 8 clients: vs socket floor", ">= 0.8x",
           vs(all, n, W_POINT, 8, floor), AT_LEAST, 0.8);
    target(t, &k, "point read, 1 client: daemon CPU/op over echo's", "<= 2x",
           cpu_vs_echo(all, n, 1), AT_MOST, 2);
    target(t, &k, "point read, 8 clients: daemon CPU/op over echo's", "<= 2x",
           cpu_vs_echo(all, n, 8), AT_MOST, 2);
    target(t, &k, "point read x16, 8 clients: vs socket floor", ">= 1.5x",
           vs(all, n, W_PIPELINED, 8, floor), AT_LEAST, 1.5);
    target(t, &k, "mixed 90/10, 8 clients: vs direct", ">= 1.5x",
           vs(all, n, W_MIXED, 8, VS_DIRECT), AT_LEAST, 1.5);
    target(t, &k, "stream 1M rows, 1 client: vs direct", ">= 0.5x",
           vs(all, n, W_STREAM, 1, VS_DIRECT), AT_LEAST, 0.5);
    target(t, &k, "stream 1M rows, 1 client: daemon RSS growth, MiB", "< 32",
           growth, BELOW, 32);
    target(t, &k, "insert FULL, 1 client: p50 - direct's, in floor RTTs",
           "<= 1.25", insert_over_direct(all, n), AT_MOST, 1.25);
    target(t, &k, "insert NORMAL, 8 clients: vs direct", ">= 1x",
           vs(all, n, W_INSERT_NORMAL, 8, VS_DIRECT), AT_LEAST, 1);
    for (int clients = 8; clients <= 64; clients *= 8) {
        char name[80];
        snprintf(name, sizeof(name), "insert FULL, %d clients: vs direct",
                 clients);
        target(t, &k, name, ">= 10x",
               vs(all, n, W_INSERT_FULL, clients, VS_DIRECT), AT_LEAST, 10);
        snprintf(name, sizeof(name),
                 "insert FULL, %d clients: direct's slowest / sqlited's",
                 clients);
        target(t, &k, name, ">= 50x", slowest_ratio(all, n, clients), AT_LEAST,
               50);
    }
    target(t, &k, "bulk insert, 1 client: vs in-process", ">= 0.5x",
           vs(all, n, W_BULK, 1, VS_INPROCESS), AT_LEAST, 0.5);
    return k;
}

void report_targets(const struct result *all, size_t n)
{
    struct target t[TARGETS_MAX];
    int k = targets(all, n, t);

    printf("\ntargets (reported, not asserted; \"socket floor\" with %d "
           "server thread%s, as sqlited has I/O loops)\n",
           bench_io_threads, bench_io_threads == 1 ? "" : "s");
    for (int i = 0; i < k; i++) {
        if (t[i].value < 0)
            printf("  %-56s %8s %-8s not run\n", t[i].name, "-", t[i].goal);
        else
            printf("  %-56s %8.2f %-8s %s\n", t[i].name, t[i].value, t[i].goal,
                   t[i].met ? "met" : "MISSED");
    }
    fflush(stdout);
}

/* ------------------------------------------------------------------- JSON */

/* Our strings are ASCII we wrote or read from the kernel; quotes and
 * backslashes are escaped, control characters dropped. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s >= 0x20)
            fputc(*s, f);
    }
    fputc('"', f);
}

int report_json(const char *path, const struct machine *m, bool quick,
                double seconds, const struct result *all, size_t n)
{
    struct target t[TARGETS_MAX];
    int nt;
    FILE *f = fopen(path, "w");

    if (!f)
        return -1;
    fprintf(f, "{\n  \"machine\": {\"cpus\": %ld, \"cpu_model\": ", m->cpus);
    json_str(f, m->cpu_model);
    fprintf(f, ", \"memory_mib\": %ld, \"kernel\": ", m->mem_mib);
    json_str(f, m->kernel);
    fprintf(f, ", \"sqlite_version\": ");
    json_str(f, m->sqlite_version);
    fprintf(f, ", \"libuv_version\": ");
    json_str(f, m->libuv_version);
    fprintf(f, ", \"data_dir\": ");
    json_str(f, m->data_dir);
    fprintf(f, ", \"io_threads\": %d", bench_io_threads);
    fprintf(f, "},\n  \"date\": ");
    json_str(f, m->date);
    fprintf(f, ",\n  \"commit\": ");
    json_str(f, m->commit);
    fprintf(f, ",\n  \"mode\": \"%s\",\n  \"seconds_per_run\": %.1f,\n",
            quick ? "quick" : "full", seconds);
    fprintf(f, "  \"results\": [\n");
    for (size_t i = 0; i < n; i++) {
        const struct result *r = &all[i];
        fprintf(f, "    {\"workload\": ");
        json_str(f, workload_name(r->workload));
        fprintf(f, ", \"system\": ");
        json_str(f, system_name(r->system));
        fprintf(f,
                ", \"clients\": %d, \"ops\": %llu, \"units\": %llu, "
                "\"unit\": \"%s\", \"errors\": %llu, \"seconds\": %.3f, "
                "\"per_second\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, "
                "\"p999_us\": %.1f, \"max_us\": %.1f, "
                "\"daemon_rss_before_kib\": %ld, \"daemon_rss_peak_kib\": %ld, "
                "\"server_cpu_seconds\": %.2f",
                r->clients, (unsigned long long)r->ops,
                (unsigned long long)r->units, unit_of(r->workload),
                (unsigned long long)r->errors, r->seconds, r->per_second,
                (double)r->p50_ns / 1e3, (double)r->p99_ns / 1e3,
                (double)r->p999_ns / 1e3, (double)r->max_ns / 1e3,
                r->system == S_SQLITED ? r->rss_before_kib : 0,
                r->system == S_SQLITED ? r->rss_peak_kib : 0, r->server_cpu);
        for (int k = 0; k < RATIOS; k++) {
            double v = ratio(r, all, n, (enum ratio)k);
            if (v > 0)
                fprintf(f, ", \"%s\": %.3f", ratio_names[k], v);
        }
        if (r->error[0]) {
            fprintf(f, ", \"first_error\": ");
            json_str(f, r->error);
        }
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "  ],\n  \"targets\": [\n");
    nt = targets(all, n, t);
    for (int i = 0; i < nt; i++) {
        fprintf(f, "    {\"name\": ");
        json_str(f, t[i].name);
        fprintf(f, ", \"goal\": ");
        json_str(f, t[i].goal);
        if (t[i].value < 0)
            fprintf(f, ", \"value\": null, \"met\": null}");
        else
            fprintf(f, ", \"value\": %.3f, \"met\": %s}", t[i].value,
                    t[i].met ? "true" : "false");
        fprintf(f, "%s\n", i + 1 < nt ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return fclose(f) ? -1 : 0;
}
