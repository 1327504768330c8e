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
    return names[s];
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

enum ratio { VS_DIRECT, VS_INPROCESS, VS_FLOOR, RATIOS };
static const char *const ratio_names[RATIOS] = {"vs_direct", "vs_in_process",
                                                "vs_socket_floor"};

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
    else
        b = find(all, n, w, S_FLOOR, r->clients);
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
    printf("SQLite %s, libuv %s, commit %s, data in %s\n\n", m->sqlite_version,
           m->libuv_version, m->commit[0] ? m->commit : "?", m->data_dir);
    printf("%-15s %3s %-12s %12s %-6s %8s %8s %8s %8s %6s %7s %7s %9s %9s "
           "%8s\n",
           "workload", "n", "system", "throughput", "", "p50", "p99", "p99.9",
           "max", "errors", "RSS MiB", "CPU/op", "vs direct", "vs inproc",
           "vs floor");
    fflush(stdout);
}

void report_row(const struct result *r, const struct result *all, size_t n)
{
    char rate[32], p50[16], p99[16], p999[16], max[16], rss[16], cpu[16];
    char rd[16], ri[16], rf[16];

    if (r->system == S_SQLITED && r->rss_peak_kib > 0)
        snprintf(rss, sizeof(rss), "%.1f", (double)r->rss_peak_kib / 1024);
    else
        snprintf(rss, sizeof(rss), "-");
    if (r->server_cpu > 0 && r->ops > 0)
        fmt_ns(cpu, sizeof(cpu), (uint64_t)(r->server_cpu * 1e9 / r->ops));
    else
        snprintf(cpu, sizeof(cpu), "-");
    printf("%-15s %3d %-12s %12s %-6s %8s %8s %8s %8s %6llu %7s %7s %9s %9s "
           "%8s\n",
           workload_name(r->workload), r->clients, system_name(r->system),
           fmt_count(rate, sizeof(rate), r->per_second), unit_of(r->workload),
           fmt_ns(p50, sizeof(p50), r->p50_ns),
           fmt_ns(p99, sizeof(p99), r->p99_ns),
           fmt_ns(p999, sizeof(p999), r->p999_ns),
           fmt_ns(max, sizeof(max), r->max_ns), (unsigned long long)r->errors,
           rss, cpu, fmt_ratio(rd, sizeof(rd), ratio(r, all, n, VS_DIRECT)),
           fmt_ratio(ri, sizeof(ri), ratio(r, all, n, VS_INPROCESS)),
           fmt_ratio(rf, sizeof(rf), ratio(r, all, n, VS_FLOOR)));
    if (r->error[0])
        printf("    first error: %s\n", r->error);
    fflush(stdout);
}

/* ---------------------------------------------------------------- targets */

struct target {
    const char *name;
    const char *goal;
    double value; /* < 0: not measured in this run */
    bool met;
};

#define TARGETS 7

/* One target: @value < 0 when this run did not measure it. */
static struct target target(const char *name, const char *goal, double value,
                            bool at_least, double bound)
{
    struct target t = {name, goal, value, false};

    t.met = value >= 0 && (at_least ? value >= bound : value < bound);
    return t;
}

/* @r's ratio to a baseline, or -1 when either is missing. */
static double known_ratio(const struct result *r, const struct result *all,
                          size_t n, enum ratio which)
{
    double v = r ? ratio(r, all, n, which) : 0;
    return v > 0 ? v : -1;
}

/* The targets, from this run's results. */
static void targets(const struct result *all, size_t n, struct target *t)
{
    const struct result *full = find(all, n, W_INSERT_FULL, S_SQLITED, 8);
    const struct result *full_d = find(all, n, W_INSERT_FULL, S_DIRECT, 8);
    const struct result *normal = find(all, n, W_INSERT_NORMAL, S_SQLITED, 8);
    const struct result *point = find(all, n, W_POINT, S_SQLITED, 8);
    const struct result *piped = find(all, n, W_PIPELINED, S_SQLITED, 8);
    const struct result *bulk = find(all, n, W_BULK, S_SQLITED, 1);
    const struct result *stream = find(all, n, W_STREAM, S_SQLITED, 1);
    double slowest = full && full_d && full->max_ns > 0
                         ? (double)full_d->max_ns / (double)full->max_ns
                         : -1;
    double growth =
        stream ? (double)(stream->rss_peak_kib - stream->rss_before_kib) / 1024
               : -1;

    t[0] = target("insert FULL, 8 clients: throughput vs direct", ">= 10x",
                  known_ratio(full, all, n, VS_DIRECT), true, 10);
    t[1] = target("insert FULL, 8 clients: direct's slowest / sqlited's",
                  ">= 50x", slowest, true, 50);
    t[2] = target("insert NORMAL, 8 clients: throughput vs direct", ">= 1x",
                  known_ratio(normal, all, n, VS_DIRECT), true, 1);
    t[3] = target("point read, 8 clients: vs socket floor", ">= 0.7x",
                  known_ratio(point, all, n, VS_FLOOR), true, 0.7);
    t[4] = target("point read x16, 8 clients: vs socket floor", "> 1x",
                  known_ratio(piped, all, n, VS_FLOOR), true, 1.000001);
    t[5] = target("bulk insert, 1 client: vs in-process", ">= 0.5x",
                  known_ratio(bulk, all, n, VS_INPROCESS), true, 0.5);
    t[6] = target("stream 1M rows: daemon RSS growth, MiB", "< 32", growth,
                  false, 32);
}

void report_targets(const struct result *all, size_t n)
{
    struct target t[TARGETS];

    targets(all, n, t);
    printf("\ntargets (reported, not asserted)\n");
    for (int i = 0; i < TARGETS; i++) {
        if (t[i].value < 0)
            printf("  %-62s %8s %-8s not run\n", t[i].name, "-", t[i].goal);
        else
            printf("  %-62s %8.2f %-8s %s\n", t[i].name, t[i].value, t[i].goal,
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
    struct target t[TARGETS];
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
    targets(all, n, t);
    for (int i = 0; i < TARGETS; i++) {
        fprintf(f, "    {\"name\": ");
        json_str(f, t[i].name);
        fprintf(f, ", \"goal\": ");
        json_str(f, t[i].goal);
        if (t[i].value < 0)
            fprintf(f, ", \"value\": null, \"met\": null}");
        else
            fprintf(f, ", \"value\": %.3f, \"met\": %s}", t[i].value,
                    t[i].met ? "true" : "false");
        fprintf(f, "%s\n", i + 1 < TARGETS ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    return fclose(f) ? -1 : 0;
}
