/* The operator's commands: the probes (ping, health) and the operations on
 * the database as a whole (backup, optimize, vacuum, integrity, migrate,
 * checkpoint, stats, metrics). Each prints one line for people, or with
 * --json one JSON object.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "operator.h"
#include "output.h"
#include "text.h"

/* ------------------------------------------------------------- commands */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why nothing answered, in a few words. */
static const char *no_answer_reason(int rc)
{
    switch (rc) {
    case -ENOENT:
        return "no socket";
    case -EACCES:
    case -EPERM:
        return "permission denied";
    case -ETIMEDOUT:
        return "timed out";
    case -ECONNREFUSED:
        return "refused";
    case SQLITED_ECLOSED:
        return "connection closed";
    default:
        return rc < 0 && rc > -1000 ? strerror(-rc) : sqlited_strerror(rc);
    }
}

static void print_json_string(const char *s)
{
    struct sbuf b = {0};
    add_json_string(&b, s, strlen(s));
    sbuf_add(&b, "", 1);
    fputs(b.oom ? "\"\"" : b.p, stdout);
    free(b.p);
}

/* Prints the verdict of a probe that got no verdict from the daemon. */
static int health_report(const char *path, bool json, int status,
                         const char *state, const char *reason)
{
    if (json) {
        fputs("{\"status\": ", stdout);
        print_json_string(state);
        printf(", \"ready\": false, \"reason\": ");
        print_json_string(reason);
        fputs(", \"socket\": ", stdout);
        print_json_string(path);
        fputs("}\n", stdout);
    } else {
        printf("%s: %s: %s\n", path,
               status == HEALTH_NO_ANSWER ? "no answer" : "not ready", reason);
    }
    return status;
}

/* `health`: pg_isready's exit statuses and one line (or JSON) on standard
 * output. The whole probe, connecting included, ends within @timeout_ms:
 * the daemon is given three quarters of what is left for its checks, so
 * that a daemon that answers does so before the client gives up. */
int health_main(const char *path, int timeout_ms, bool json, bool quick)
{
    int64_t start = now_ms();
    char *answer = NULL;
    sqlited *db = NULL;
    int status, rc;

    rc = sqlited_open(path, timeout_ms, &db);
    if (rc == SQLITED_SHUTTING_DOWN)
        return health_report(path, json, HEALTH_NOT_READY, "failing",
                             "the daemon is shutting down");
    if (rc == SQLITED_TOO_MANY_CONNECTIONS)
        return health_report(path, json, HEALTH_NOT_READY, "failing",
                             "the daemon is at its connection limit");
    if (rc)
        return health_report(path, json, HEALTH_NO_ANSWER, "no_answer",
                             no_answer_reason(rc));
    int64_t left = timeout_ms - (now_ms() - start);
    if (left < 1)
        left = 1;
    int checks = (int)(left * 3 / 4);
    sqlited_set_io_timeout(db, (int)left);
    rc = sqlited_health(db, quick ? SQLITED_HEALTH_QUICK : 0,
                        checks < 1       ? 1
                        : checks > 60000 ? 60000
                                         : checks,
                        &status, json ? &answer : NULL);
    if (rc == 0 && json) {
        printf("%s\n", answer);
    } else if (rc == 0) {
        const char *reason = sqlited_health_reason(db);
        if (status == SQLITED_HEALTH_OK)
            printf("%s: ready\n", path);
        else if (status == SQLITED_HEALTH_DEGRADED)
            printf("%s: ready, degraded: %s\n", path, reason);
        else
            printf("%s: not ready: %s\n", path, reason);
    } else if (failure_status(rc) == EXIT_USAGE || rc == -ENOMEM) {
        status = HEALTH_NO_ANSWER;
        health_report(path, json, HEALTH_NO_ANSWER, "no_answer",
                      no_answer_reason(rc));
    } else {
        /* The daemon answered with an error: shutting down, or one that
         * does not know `health`. */
        health_report(path, json, HEALTH_NOT_READY, "failing",
                      sqlited_errmsg(db));
    }
    sqlited_free(answer);
    sqlited_close(db);
    if (rc)
        return failure_status(rc) == EXIT_USAGE || rc == -ENOMEM
                   ? HEALTH_NO_ANSWER
                   : HEALTH_NOT_READY;
    return status == SQLITED_HEALTH_FAILING ? HEALTH_NOT_READY : HEALTH_READY;
}

/* ------------------------------------------------------------- operations
 *
 * Subcommands that act on the database as a whole. Each prints one line for
 * people, or with --json one JSON object.
 */

/* A JSON object built in a buffer. */
struct json {
    struct sbuf b;
    bool more; /* a member was added */
};

static void json_key(struct json *j, const char *key)
{
    sbuf_adds(&j->b, j->more ? ", " : "{");
    j->more = true;
    add_json_string(&j->b, key, strlen(key));
    sbuf_adds(&j->b, ": ");
}

static void json_str(struct json *j, const char *key, const char *value)
{
    json_key(j, key);
    if (value)
        add_json_string(&j->b, value, strlen(value));
    else
        sbuf_adds(&j->b, "null");
}

static void json_u64(struct json *j, const char *key, uint64_t value)
{
    char num[32];
    snprintf(num, sizeof(num), "%" PRIu64, value);
    json_key(j, key);
    sbuf_adds(&j->b, num);
}

/* Prints the object and frees it. */
static int json_print(struct json *j)
{
    sbuf_adds(&j->b, j->more ? "}\n" : "{}\n");
    if (j->b.oom) {
        free(j->b.p);
        fprintf(stderr, "%s: %s\n", PROG, strerror(ENOMEM));
        return EXIT_DAEMON_ERROR;
    }
    fwrite(j->b.p, 1, j->b.len, stdout);
    free(j->b.p);
    return 0;
}

/* ------------------------------------------------------------------ ping
 *
 * `ping` alone answers "pong". With --count or --latency (or --json: one
 * ping's summary) it measures round trips, keeping their distribution in
 * a histogram of constant size (64 buckets to each power of two
 * nanoseconds: a p99 within 1.6%), for runs of any length.
 */

/* Set by Ctrl-C (SIGINT) in the commands that run until it. */
static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Ctrl-C ends the run, which then reports what it saw and exits 0. No
 * SA_RESTART: a wait in progress returns at once. */
static void catch_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* Sleeps @ms milliseconds, or until Ctrl-C. */
static void pause_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (!interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define NBUCKETS (SUB + (64 - SUB_BITS) * SUB)

struct latency {
    uint64_t n, sum, min, max; /* nanoseconds */
    uint64_t counts[NBUCKETS];
};

static size_t bucket_of(uint64_t v)
{
    if (v < SUB)
        return (size_t)v;
    int e = 63 - __builtin_clzll(v); /* v is in [2^e, 2^(e+1)) */
    return SUB + (size_t)(e - SUB_BITS) * SUB +
           (size_t)((v >> (e - SUB_BITS)) & (SUB - 1));
}

/* The largest value bucket @i holds. */
static uint64_t bucket_top(size_t i)
{
    if (i < SUB)
        return i;
    size_t k = i - SUB;
    int shift = (int)(k / SUB);
    return ((uint64_t)(SUB + k % SUB + 1) << shift) - 1;
}

static void latency_add(struct latency *l, uint64_t ns)
{
    if (l->n == 0 || ns < l->min)
        l->min = ns;
    if (ns > l->max)
        l->max = ns;
    l->n++;
    l->sum += ns;
    l->counts[bucket_of(ns)]++;
}

/* The 99th percentile: the top of the bucket that holds it, within the
 * run's min and max. */
static uint64_t latency_p99(const struct latency *l)
{
    uint64_t rank = (l->n * 99 + 99) / 100, seen = 0;
    for (size_t i = 0; i < NBUCKETS; i++) {
        seen += l->counts[i];
        if (seen >= rank && l->counts[i]) {
            uint64_t top = bucket_top(i);
            return top > l->max ? l->max : top < l->min ? l->min : top;
        }
    }
    return l->max;
}

static double ms_of(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* "min/avg/max/p99 = 0.081/0.102/0.142/0.140 ms" and the like. */
static void latency_summary(const struct latency *l, char *buf, size_t size)
{
    if (l->n == 0) {
        snprintf(buf, size, "no round trips");
        return;
    }
    snprintf(buf, size,
             "min/avg/max/p99 = %.3f/%.3f/%.3f/%.3f ms (%" PRIu64 " sample%s)",
             ms_of(l->min), ms_of(l->sum / l->n), ms_of(l->max),
             ms_of(latency_p99(l)), l->n, l->n == 1 ? "" : "s");
}

/* ping --json: the summary, and with @error (NULL: none) why the pings
 * stopped, in the few words health --json gives as its reason. */
static int latency_json(const char *path, const struct latency *l,
                        uint64_t sent, const char *error)
{
    char num[32];
    struct json j = {0};
    json_str(&j, "socket", path);
    json_u64(&j, "sent", sent);
    json_u64(&j, "answered", l->n);
    const char *keys[] = {"min_ms", "avg_ms", "max_ms", "p99_ms"};
    uint64_t v[] = {l->min, l->n ? l->sum / l->n : 0, l->max,
                    l->n ? latency_p99(l) : 0};
    for (int i = 0; i < 4; i++) {
        json_key(&j, keys[i]);
        if (l->n == 0) {
            sbuf_adds(&j.b, "null");
            continue;
        }
        snprintf(num, sizeof(num), "%.3f", ms_of(v[i]));
        sbuf_adds(&j.b, num);
    }
    if (error)
        json_str(&j, "error", error);
    return json_print(&j);
}

/* ping --count N and ping --latency: the round trips, until the count or
 * Ctrl-C. --count prints a line per ping, as ping(8) does; --latency a
 * line that refreshes on a terminal, as redis-cli --latency does. Then the
 * summary. */
static int ping_run(sqlited *db, const char *path, const struct op_options *o)
{
    struct latency *l = calloc(1, sizeof(*l));
    bool tty = isatty(STDOUT_FILENO);
    int64_t interval = o->interval_ms >= 0 ? o->interval_ms
                       : o->latency        ? 10
                                           : 1000;
    int64_t drawn = 0;
    uint64_t sent = 0;
    int status = 0;
    const char *error = NULL;
    char line[160];

    if (!l) {
        fprintf(stderr, "%s: %s\n", PROG, strerror(ENOMEM));
        return EXIT_DAEMON_ERROR;
    }
    catch_interrupt();
    while (!interrupted && (o->count == 0 || sent < (uint64_t)o->count)) {
        if (sent > 0)
            pause_ms(interval);
        if (interrupted)
            break;
        int64_t t0 = now_ns();
        int rc = sqlited_ping(db);
        int64_t t1 = now_ns();
        sent++;
        if (rc) {
            if (interrupted) {
                sent--;
                break;
            }
            status = report_call_error(db, rc);
            error = no_answer_reason(rc);
            break;
        }
        latency_add(l, (uint64_t)(t1 - t0));
        if (o->json)
            continue;
        if (!o->latency) {
            printf("pong from %s: seq=%" PRIu64 " time=%.3f ms\n", path, sent,
                   ms_of((uint64_t)(t1 - t0)));
            fflush(stdout);
        } else if (tty && (t1 - drawn >= 100000000 || sent == 1)) {
            drawn = t1;
            latency_summary(l, line, sizeof(line));
            printf("\r\033[K%s", line);
            fflush(stdout);
        }
    }
    if (o->json) {
        int printed = latency_json(path, l, sent, error);
        free(l);
        return printed ? printed : status;
    }
    latency_summary(l, line, sizeof(line));
    if (o->latency)
        printf("%s%s\n", tty ? "\r\033[K" : "", line);
    else
        printf("--- %s ping statistics ---\n%" PRIu64 " sent, %" PRIu64
               " answered, %s\n",
               path, sent, l->n, line);
    free(l);
    return status;
}

/* ping: the loop's liveness answer, every wait bounded by @timeout_ms. */
int ping_main(const char *path, int timeout_ms, const struct op_options *o)
{
    static const struct latency none;
    sqlited *db = NULL;
    int rc = sqlited_open(path, timeout_ms, &db);
    int status;

    if (rc) {
        /* --json answers in JSON, as health --json does: the summary of
         * no ping, and why. */
        status = report_connect_error(path, rc);
        if (o->json)
            latency_json(path, &none, 0, no_answer_reason(rc));
        return finish_output(status);
    }
    sqlited_set_io_timeout(db, timeout_ms);
    if (o->count || o->latency || o->json) {
        /* --json has one shape, the summary, for one ping as for many. */
        struct op_options run = *o;
        if (!run.count && !run.latency)
            run.count = 1;
        status = ping_run(db, path, &run);
    } else {
        rc = sqlited_ping(db);
        status = rc ? report_call_error(db, rc) : 0;
        if (rc == 0)
            puts("pong");
    }
    sqlited_close(db);
    return finish_output(status);
}

static int cmd_backup(sqlited *db, int argc, char **argv,
                      const struct op_options *o)
{
    bool json = o->json;
    sqlited_backup_info info;
    int rc = sqlited_backup(db, argc > 0 ? argv[0] : NULL, &info);

    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        printf("backup %s: %" PRIu64 " bytes, %" PRIu64 " pages, %" PRIu64
               " ms\n",
               info.path, info.size, info.pages, info.duration_ms);
        return 0;
    }
    struct json j = {0};
    json_str(&j, "path", info.path);
    json_u64(&j, "size", info.size);
    json_u64(&j, "pages", info.pages);
    json_u64(&j, "duration_ms", info.duration_ms);
    return json_print(&j);
}

static int cmd_optimize(sqlited *db, int argc, char **argv,
                        const struct op_options *o)
{
    bool json = o->json;
    bool analyze = argc > 0;
    if (analyze && strcmp(argv[0], "analyze") != 0)
        return usage_error("optimize takes analyze or nothing", argv[0]);
    int rc = sqlited_optimize(db, analyze);
    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        puts(analyze ? "optimize: ANALYZE done" : "optimize: done");
        return 0;
    }
    struct json j = {0};
    json_key(&j, "analyze");
    sbuf_adds(&j.b, analyze ? "true" : "false");
    return json_print(&j);
}

static int cmd_vacuum(sqlited *db, int argc, char **argv,
                      const struct op_options *o)
{
    bool json = o->json;
    sqlited_vacuum_info info;
    (void)argc;
    (void)argv;
    int rc = sqlited_vacuum(db, &info);
    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        printf("vacuum: %" PRIu64 " bytes reclaimed (%" PRIu64 " -> %" PRIu64
               " bytes), %" PRIu64 " ms\n",
               info.reclaimed, info.size_before, info.size_after,
               info.duration_ms);
        return 0;
    }
    struct json j = {0};
    json_u64(&j, "size_before", info.size_before);
    json_u64(&j, "size_after", info.size_after);
    json_u64(&j, "reclaimed", info.reclaimed);
    json_u64(&j, "duration_ms", info.duration_ms);
    return json_print(&j);
}

/* Exit status 1 when the database has problems. */
static int cmd_integrity(sqlited *db, int argc, char **argv,
                         const struct op_options *o)
{
    bool json = o->json;
    sqlited_integrity_info info;
    int check = SQLITED_INTEGRITY_FULL;

    if (argc > 0 && strcmp(argv[0], "quick") == 0)
        check = SQLITED_INTEGRITY_QUICK;
    else if (argc > 0 && strcmp(argv[0], "full") != 0)
        return usage_error("integrity takes quick or full", argv[0]);
    int rc = sqlited_integrity(db, check, &info);
    if (rc)
        return report_call_error(db, rc);
    int status = info.ok ? 0 : EXIT_DAEMON_ERROR;
    if (!json) {
        if (info.ok)
            puts("ok");
        for (unsigned i = 0; i < info.nproblems; i++)
            puts(info.problems[i]);
        return status;
    }
    struct json j = {0};
    json_str(&j, "check", check == SQLITED_INTEGRITY_FULL ? "full" : "quick");
    json_key(&j, "ok");
    sbuf_adds(&j.b, info.ok ? "true" : "false");
    json_key(&j, "problems");
    sbuf_adds(&j.b, "[");
    for (unsigned i = 0; i < info.nproblems; i++) {
        if (i)
            sbuf_adds(&j.b, ", ");
        add_json_string(&j.b, info.problems[i], strlen(info.problems[i]));
    }
    sbuf_adds(&j.b, "]");
    int printed = json_print(&j);
    return printed ? printed : status;
}

static int cmd_migrate(sqlited *db, int argc, char **argv,
                       const struct op_options *o)
{
    bool json = o->json;
    sqlited_migrate_info info;
    int action;
    int64_t version = SQLITED_MIGRATE_DEFAULT;

    if (strcmp(argv[0], "up") == 0)
        action = SQLITED_MIGRATE_UP;
    else if (strcmp(argv[0], "down") == 0)
        action = SQLITED_MIGRATE_DOWN;
    else if (strcmp(argv[0], "status") == 0 && argc == 1)
        action = SQLITED_MIGRATE_STATUS;
    else if (strcmp(argv[0], "status") == 0)
        return usage_error("too many arguments (usage: migrate status)",
                           argv[1]);
    else
        return usage_error("migrate takes up, down or status", argv[0]);
    if (argc == 2) {
        char *end;
        errno = 0;
        long long v = strtoll(argv[1], &end, 10);
        if (errno || end == argv[1] || *end || v < 0)
            return usage_error("a version is a whole number, 0 or more",
                               argv[1]);
        version = v;
    }
    int rc = sqlited_migrate(db, action, version, &info);
    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        if (action == SQLITED_MIGRATE_STATUS)
            printf("version %" PRId64 " of %" PRId64 "\n", info.to,
                   info.latest);
        else if (info.from == info.to)
            printf("at version %" PRId64 " of %" PRId64 ": nothing to do\n",
                   info.to, info.latest);
        else
            printf("migrated from version %" PRId64 " to %" PRId64
                   " (of %" PRId64 ")\n",
                   info.from, info.to, info.latest);
        for (unsigned i = 0; action == SQLITED_MIGRATE_STATUS && i < info.count;
             i++) {
            const sqlited_migration *m = &info.migrations[i];
            printf("%4" PRId64 " %-8s %s%s%s\n", m->version, m->state, m->file,
                   m->applied_at ? " " : "",
                   m->applied_at ? m->applied_at : "");
        }
        return 0;
    }
    struct json j = {0};
    json_u64(&j, "from", (uint64_t)info.from);
    json_u64(&j, "to", (uint64_t)info.to);
    json_u64(&j, "latest", (uint64_t)info.latest);
    json_key(&j, "migrations");
    sbuf_adds(&j.b, "[");
    for (unsigned i = 0; i < info.count; i++) {
        const sqlited_migration *m = &info.migrations[i];
        struct json mj = {0};
        json_u64(&mj, "version", (uint64_t)m->version);
        json_str(&mj, "name", m->name);
        json_str(&mj, "file", m->file);
        json_str(&mj, "state", m->state);
        json_str(&mj, "checksum", m->checksum);
        json_str(&mj, "applied_at", m->applied_at);
        sbuf_adds(&mj.b, "}");
        if (i)
            sbuf_adds(&j.b, ", ");
        sbuf_add(&j.b, mj.b.p, mj.b.len);
        j.b.oom |= mj.b.oom;
        free(mj.b.p);
    }
    sbuf_adds(&j.b, "]");
    return json_print(&j);
}

static const char *const checkpoint_modes[] = {
    [SQLITED_CHECKPOINT_PASSIVE] = "PASSIVE",
    [SQLITED_CHECKPOINT_FULL] = "FULL",
    [SQLITED_CHECKPOINT_RESTART] = "RESTART",
    [SQLITED_CHECKPOINT_TRUNCATE] = "TRUNCATE",
};

/* `checkpoint [MODE]`: busy (it could not finish) is exit status 1. */
static int cmd_checkpoint(sqlited *db, int argc, char **argv,
                          const struct op_options *o)
{
    bool json = o->json;
    sqlited_checkpoint_info info;
    int mode = SQLITED_CHECKPOINT_PASSIVE;

    if (argc > 0) {
        int n = (int)(sizeof(checkpoint_modes) / sizeof(*checkpoint_modes));
        for (mode = 0; mode < n; mode++)
            if (strcasecmp(argv[0], checkpoint_modes[mode]) == 0)
                break;
        if (mode == n)
            return usage_error("unknown checkpoint mode (PASSIVE, FULL, "
                               "RESTART, TRUNCATE)",
                               argv[0]);
    }
    int rc = sqlited_checkpoint(db, mode, &info);
    if (rc)
        return report_call_error(db, rc);
    int status = info.busy ? EXIT_DAEMON_ERROR : 0;
    if (!json) {
        printf("%s checkpoint%s: %" PRId64 " of %" PRId64
               " frames in the database, WAL %" PRId64 " -> %" PRId64
               " bytes, %.3f ms\n",
               checkpoint_modes[mode],
               info.busy ? " busy (readers held older snapshots)" : "",
               info.checkpointed_frames, info.log_frames, info.wal_bytes_before,
               info.wal_bytes_after, info.duration_ms);
        return status;
    }
    char ms[32];
    struct json j = {0};
    json_str(&j, "mode", checkpoint_modes[mode]);
    json_u64(&j, "busy", (uint64_t)info.busy);
    json_u64(&j, "log_frames", (uint64_t)info.log_frames);
    json_u64(&j, "checkpointed_frames", (uint64_t)info.checkpointed_frames);
    json_u64(&j, "wal_bytes_before", (uint64_t)info.wal_bytes_before);
    json_u64(&j, "wal_bytes_after", (uint64_t)info.wal_bytes_after);
    json_key(&j, "duration_ms");
    snprintf(ms, sizeof(ms), "%.3f", info.duration_ms);
    sbuf_adds(&j.b, ms);
    int printed = json_print(&j);
    return printed ? printed : status;
}

/* ----------------------------------------------------------------- stats
 *
 * `stats --watch SECONDS` reads the daemon's counters every SECONDS and
 * prints what changed in between: requests and errors per second, group
 * commits per second and their average size, and the gauges (cursors,
 * connections, requests in flight, the queues). The counters come as
 * JSON; the few figures it needs are picked out of it here.
 */

static const char *json_ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* Skips the JSON value at @p; returns what follows it, or NULL if it is
 * malformed. */
static const char *json_skip(const char *p, int depth)
{
    p = json_ws(p);
    if (depth > 32)
        return NULL;
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && !*++p)
                return NULL;
        return *p ? p + 1 : NULL;
    }
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = json_ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                p = json_skip(p, depth + 1);
                if (!p || *(p = json_ws(p)) != ':')
                    return NULL;
                p++;
            }
            p = json_skip(p, depth + 1);
            if (!p)
                return NULL;
            p = json_ws(p);
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
    }
    const char *start = p;
    while (*p && !strchr(",:]} \t\r\n", *p))
        p++;
    return p > start ? p : NULL;
}

/* The value of member @key of the object at @obj, or NULL. */
static const char *json_member(const char *obj, const char *key)
{
    const char *p = json_ws(obj);
    size_t klen = strlen(key);

    if (*p != '{')
        return NULL;
    p = json_ws(p + 1);
    while (*p == '"') {
        bool match = strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '"';
        if (!(p = json_skip(p, 0)) || *(p = json_ws(p)) != ':')
            return NULL;
        p = json_ws(p + 1);
        if (match)
            return p;
        if (!(p = json_skip(p, 0)))
            return NULL;
        p = json_ws(p);
        if (*p != ',')
            return NULL;
        p = json_ws(p + 1);
    }
    return NULL;
}

/* Member @key of @obj as an integer; 0 when it is missing. */
static int64_t json_int(const char *obj, const char *key)
{
    const char *v = json_member(obj, key);
    return v ? strtoll(v, NULL, 10) : 0;
}

/* The sum of the integers in member @key of @obj, an object (the requests
 * by method, say). */
static int64_t json_sum(const char *obj, const char *key)
{
    const char *p = json_member(obj, key);
    int64_t sum = 0;

    if (!p || *p != '{')
        return 0;
    p = json_ws(p + 1);
    while (*p == '"') {
        if (!(p = json_skip(p, 0)) || *(p = json_ws(p)) != ':')
            return sum;
        sum += strtoll(json_ws(p + 1), NULL, 10);
        if (!(p = json_skip(p + 1, 0)))
            return sum;
        p = json_ws(p);
        if (*p != ',')
            break;
        p = json_ws(p + 1);
    }
    return sum;
}

/* The figures of one reading of the counters. */
struct figures {
    int64_t at_ns;
    int64_t requests, errors, groups, group_requests, group_max;
    int64_t cursors, connections, in_flight, writer_queue, reader_queue;
};

static int read_figures(sqlited *db, struct figures *f)
{
    char *text = NULL;
    int rc = sqlited_stats(db, &text);

    if (rc)
        return rc;
    f->at_ns = now_ns();
    f->requests = json_sum(text, "requests");
    f->errors = json_sum(text, "errors");
    f->groups = json_int(text, "groups");
    f->group_requests = json_int(text, "group_requests");
    f->group_max = json_int(text, "group_max");
    f->cursors = json_int(text, "cursors_open");
    f->connections = json_int(text, "connections");
    f->in_flight = json_int(text, "in_flight");
    f->writer_queue = json_int(text, "writer_queue");
    f->reader_queue = json_int(text, "reader_queue");
    sqlited_free(text);
    return 0;
}

#define WATCH_HEADER                                                           \
    "   req/s   err/s  groups/s  avg group  max group  cursors  conns  "       \
    "in flight  writer q  reader q"

/* One line of figures: the rates from @a to @b, the gauges of @b. */
static void watch_line(const struct figures *a, const struct figures *b,
                       bool json, struct sbuf *out)
{
    double secs = (double)(b->at_ns - a->at_ns) / 1e9;
    double req = (double)(b->requests - a->requests) / secs;
    double err = (double)(b->errors - a->errors) / secs;
    int64_t groups = b->groups - a->groups;
    double gps = (double)groups / secs;
    double avg = groups > 0
                     ? (double)(b->group_requests - a->group_requests) / groups
                     : 0;
    char num[512];

    if (json) {
        snprintf(num, sizeof(num),
                 "{\"requests_per_s\": %.1f, \"errors_per_s\": %.1f, "
                 "\"groups_per_s\": %.1f, \"avg_group\": %.2f, "
                 "\"group_max\": %" PRId64 ", \"cursors_open\": %" PRId64
                 ", \"connections\": %" PRId64 ", \"in_flight\": %" PRId64
                 ", \"writer_queue\": %" PRId64 ", \"reader_queue\": %" PRId64
                 "}",
                 req, err, gps, avg, b->group_max, b->cursors, b->connections,
                 b->in_flight, b->writer_queue, b->reader_queue);
    } else {
        snprintf(num, sizeof(num),
                 "%8.0f%8.0f%10.0f%11.2f%11" PRId64 "%9" PRId64 "%7" PRId64
                 "%11" PRId64 "%10" PRId64 "%10" PRId64,
                 req, err, gps, avg, b->group_max, b->cursors, b->connections,
                 b->in_flight, b->writer_queue, b->reader_queue);
    }
    sbuf_adds(out, num);
}

/* stats --watch: a line every o->watch_s seconds, until --count lines or
 * Ctrl-C (exit status 0). On a terminal the line refreshes in place under
 * its header; elsewhere each is a line of its own, like vmstat's. */
static int stats_watch(sqlited *db, const struct op_options *o)
{
    bool tty = isatty(STDOUT_FILENO) && !o->json;
    struct figures prev, cur;
    struct sbuf line = {0};
    int64_t lines = 0;
    int rc;

    catch_interrupt();
    if ((rc = read_figures(db, &prev)) != 0)
        return interrupted ? 0 : report_call_error(db, rc);
    if (!o->json)
        puts(WATCH_HEADER);
    fflush(stdout);
    while (!interrupted && (o->count == 0 || lines < o->count)) {
        pause_ms((int64_t)o->watch_s * 1000);
        if (interrupted)
            break;
        if ((rc = read_figures(db, &cur)) != 0) {
            if (interrupted)
                break;
            if (tty)
                putchar('\n');
            free(line.p);
            return report_call_error(db, rc);
        }
        line.len = 0;
        watch_line(&prev, &cur, o->json, &line);
        sbuf_add(&line, "", 1);
        if (tty)
            printf("\r\033[K%s", line.oom ? "" : line.p);
        else
            printf("%s\n", line.oom ? "" : line.p);
        fflush(stdout);
        if (out_failed(stdout))
            break;
        prev = cur;
        lines++;
    }
    if (tty)
        putchar('\n');
    free(line.p);
    return 0;
}

/* stats: the daemon's counters, always as JSON; --watch: their rates. */
static int cmd_stats(sqlited *db, int argc, char **argv,
                     const struct op_options *o)
{
    char *text = NULL;
    (void)argc;
    (void)argv;
    if (o->watch_s > 0)
        return stats_watch(db, o);
    int rc = sqlited_stats(db, &text);
    if (rc)
        return report_call_error(db, rc);
    puts(text);
    sqlited_free(text);
    return 0;
}

/* metrics: Prometheus text; with --json the same figures as stats. */
static int cmd_metrics(sqlited *db, int argc, char **argv,
                       const struct op_options *o)
{
    bool json = o->json;
    char *text = NULL;
    int rc = json ? sqlited_stats(db, &text) : sqlited_metrics(db, &text);
    (void)argc;
    (void)argv;
    if (rc)
        return report_call_error(db, rc);
    fputs(text, stdout);
    if (json)
        putchar('\n');
    sqlited_free(text);
    return 0;
}

static const struct command commands[] = {
    {"backup", 0, 1, "backup [DEST]", cmd_backup},
    {"optimize", 0, 1, "optimize [analyze]", cmd_optimize},
    {"vacuum", 0, 0, "vacuum", cmd_vacuum},
    {"integrity", 0, 1, "integrity [quick|full]", cmd_integrity},
    {"migrate", 1, 2, "migrate up|down [VERSION] | status", cmd_migrate},
    {"checkpoint", 0, 1, "checkpoint [PASSIVE|FULL|RESTART|TRUNCATE]",
     cmd_checkpoint},
    {"stats", 0, 0, "stats", cmd_stats},
    {"metrics", 0, 0, "metrics", cmd_metrics},
};

const struct command *command_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

/* ------------------------------------------------------------------ help
 *
 * `sqlited-cli COMMAND --help`: each command's manual, as in
 * sqlited-cli(1).
 */

#define COMMON_OPTIONS                                                         \
    "  -s, --socket PATH   the daemon's socket (default: $SQLITED_SOCKET,\n"   \
    "                      else " SQLITED_DEFAULT_SOCKET ")\n"                 \
    "  -t, --timeout MS    connect timeout in milliseconds (default 5000)\n"

#define OPERATION_STATUS                                                       \
    "Exit status:\n"                                                           \
    "  0  done\n"                                                              \
    "  1  the daemon answered with an error (named on standard error)\n"       \
    "  2  usage error, or no connection to the daemon\n"

static const struct {
    const char *name;
    const char *text;
} helps[] = {
    {"ping",
     "Usage: " PROG " [-s PATH] [-t MS] ping [--count N] [--interval MS]\n"
     "                   [--latency] [--json]\n"
     "\n"
     "Checks that the daemon answers: one round trip answered by the I/O\n"
     "loop that owns the connection, without touching the database (a\n"
     "liveness probe). Alone it prints \"pong\".\n"
     "\n"
     "With --count N it sends N pings, --interval MS apart (default 1000),\n"
     "prints each round-trip time as ping(8) does, then the number sent\n"
     "and answered and min/avg/max/p99. With --latency it pings without\n"
     "pause (every 10 ms unless --interval) until Ctrl-C, or --count N\n"
     "samples, as redis-cli --latency does: on a terminal one line that\n"
     "refreshes, then the summary. Ctrl-C ends either run with its\n"
     "summary.\n"
     "\n"
     "Options:\n"
     "      --count N       send N pings (with --latency: take N samples)\n"
     "      --interval MS   wait MS milliseconds between pings (0: none)\n"
     "      --latency       measure round trips until Ctrl-C or --count\n"
     "      --json          print only the summary, as one JSON object:\n"
     "                      socket, sent, answered, min_ms, avg_ms, max_ms,\n"
     "                      p99_ms, and error when a ping or the connect\n"
     "                      failed (\"no socket\", as health --json says)\n"
     "  -t, --timeout MS    the deadline of the connect and of each ping\n"
     "                      (default 5000; 0 is refused)\n"
     "  -s, --socket PATH   the daemon's socket\n"
     "\n"
     "Exit status:\n"
     "  0  every ping was answered (also when Ctrl-C ends the run)\n"
     "  1  the daemon answered with an error\n"
     "  2  usage error, no connection, or a ping not answered in time\n"
     "\n"
     "Example:\n"
     "  " PROG " -s /run/sqlited/sqlited.sock ping --count 5 --interval 200\n"
     "  " PROG " ping --latency\n"},
    {"health",
     "Usage: " PROG " [-s PATH] [-t MS] health [--quick] [--json]\n"
     "\n"
     "Readiness probe, with pg_isready's exit statuses: the daemon reads\n"
     "the database on a reader, sends a request through its writer's\n"
     "queue and (--quick) runs PRAGMA quick_check, all within the deadline\n"
     "(--timeout, connecting included). Prints one line: \"PATH: ready\",\n"
     "\"PATH: ready, degraded: WHY\", \"PATH: not ready: WHY\" or \"PATH: no\n"
     "answer: WHY\"; with --json the daemon's whole answer.\n"
     "\n"
     "Options:\n"
     "      --quick         also run PRAGMA quick_check\n"
     "      --json          print the answer as a JSON object\n"
     "  -t, --timeout MS    the whole probe's deadline (default 5000)\n"
     "  -s, --socket PATH   the daemon's socket\n"
     "\n"
     "Exit status:\n"
     "  0  ready (or ready but degraded)\n"
     "  1  the daemon answers but is not ready (migrating, shutting down,\n"
     "     a failing check)\n"
     "  2  nothing answers\n"
     "  3  usage error\n"
     "\n"
     "Example:\n"
     "  " PROG " -s /run/sqlited/sqlited.sock -t 2000 health --quick\n"},
    {"stats",
     "Usage: " PROG " [-s PATH] stats [--watch SECONDS [--count N]] "
     "[--json]\n"
     "\n"
     "Prints the daemon's counters since it started, as one JSON object\n"
     "(protocol/PROTOCOL.md, stats, names each figure).\n"
     "\n"
     "With --watch SECONDS it reads them every SECONDS and prints what\n"
     "changed in between: requests and errors per second, group commits\n"
     "per second and their average size (requests committed together),\n"
     "the largest group so far, and now: cursors open, connections,\n"
     "requests in flight, the writer's and the readers' queues. On a\n"
     "terminal the line refreshes in place under its header; otherwise\n"
     "each interval is a line of its own. It runs until Ctrl-C (exit\n"
     "status 0) or --count lines.\n"
     "\n"
     "Options:\n"
     "      --watch SECONDS  print the rates every SECONDS (1 or more)\n"
     "      --count N       with --watch: stop after N lines\n"
     "      --json          with --watch: a JSON object a line\n" COMMON_OPTIONS
     "\n" OPERATION_STATUS "\n"
     "Example:\n"
     "  " PROG " stats | jq .requests\n"
     "  " PROG " stats --watch 1\n"},
    {"metrics",
     "Usage: " PROG " [-s PATH] metrics [--json]\n"
     "\n"
     "Prints every figure the daemon keeps in the Prometheus text\n"
     "exposition format 0.0.4: names prefixed sqlited_, with # HELP and\n"
     "# TYPE, histograms as _bucket{le=...}, _sum and _count.\n"
     "\n"
     "Options:\n"
     "      --json          print the counters as JSON instead (as "
     "stats)\n" COMMON_OPTIONS "\n" OPERATION_STATUS "\n"
     "Example:\n"
     "  " PROG " metrics | grep sqlited_requests_total\n"},
    {"backup",
     "Usage: " PROG " [-s PATH] backup [DEST] [--json]\n"
     "\n"
     "Has the daemon copy the database, consistent and online, into its\n"
     "--backup-dir: to DEST, a name or a path inside that directory, or by\n"
     "default to a timestamped name. Prints the file, its size, its pages\n"
     "and how long it took.\n"
     "\n"
     "Options:\n"
     "      --json          print path, size, pages and duration_ms as "
     "JSON\n" COMMON_OPTIONS "\n" OPERATION_STATUS "\n"
     "Example:\n"
     "  " PROG " -s /run/sqlited/sqlited.sock backup nightly.db\n"},
    {"checkpoint",
     "Usage: " PROG " [-s PATH] checkpoint [PASSIVE|FULL|RESTART|TRUNCATE] "
     "[--json]\n"
     "\n"
     "Checkpoints the WAL now, in SQLite's MODE (default PASSIVE; TRUNCATE\n"
     "also empties the WAL file), and prints the frames copied into the\n"
     "database, the size of the WAL before and after, and the time taken.\n"
     "A checkpoint that could not copy the whole WAL (readers held older\n"
     "snapshots) says \"busy\".\n"
     "\n"
     "Options:\n"
     "      --json          print the figures as one JSON "
     "object\n" COMMON_OPTIONS "\n"
     "Exit status:\n"
     "  0  done\n"
     "  1  busy, or the daemon answered with an error\n"
     "  2  usage error, or no connection to the daemon\n"
     "\n"
     "Example:\n"
     "  " PROG " checkpoint TRUNCATE\n"},
    {"optimize",
     "Usage: " PROG " [-s PATH] optimize [analyze] [--json]\n"
     "\n"
     "Runs PRAGMA optimize, which refreshes the query planner's statistics\n"
     "where they are stale; with \"analyze\", a full ANALYZE of every table\n"
     "and index.\n"
     "\n"
     "Options:\n"
     "      --json          print {\"analyze\": true|false}\n" COMMON_OPTIONS
     "\n" OPERATION_STATUS "\n"
     "Example:\n"
     "  " PROG " optimize analyze\n"},
    {"vacuum",
     "Usage: " PROG " [-s PATH] vacuum [--json]\n"
     "\n"
     "Rebuilds the database file (VACUUM) and prints the bytes it\n"
     "reclaimed, its size before and after, and the time taken. Writes\n"
     "wait while it runs.\n"
     "\n"
     "Options:\n"
     "      --json          print size_before, size_after, reclaimed and\n"
     "                      duration_ms as JSON\n" COMMON_OPTIONS
     "\n" OPERATION_STATUS "\n"
     "Example:\n"
     "  " PROG " vacuum\n"},
    {"integrity",
     "Usage: " PROG " [-s PATH] integrity [quick|full] [--json]\n"
     "\n"
     "Checks the database: PRAGMA integrity_check (full, the default) or\n"
     "PRAGMA quick_check (quick). Prints \"ok\", or each problem found on a\n"
     "line of its own.\n"
     "\n"
     "Options:\n"
     "      --json          print check, ok and problems as "
     "JSON\n" COMMON_OPTIONS "\n"
     "Exit status:\n"
     "  0  the database is sound\n"
     "  1  problems were found, or the daemon answered with an error\n"
     "  2  usage error, or no connection to the daemon\n"
     "\n"
     "Example:\n"
     "  " PROG " integrity quick\n"},
    {"migrate",
     "Usage: " PROG " [-s PATH] migrate up|down [VERSION] [--json]\n"
     "       " PROG " [-s PATH] migrate status [--json]\n"
     "\n"
     "Applies (up), undoes (down) or lists (status) the migrations of the\n"
     "daemon's --migrations directory: NNNN_name.up.sql and\n"
     "NNNN_name.down.sql files, each applied in one transaction. up goes to\n"
     "VERSION, by default the latest; down to VERSION, by default one\n"
     "step back. status prints the version, then each migration with its\n"
     "state and when it was applied.\n"
     "\n"
     "Options:\n"
     "      --json          print from, to, latest and the migrations as\n"
     "                      JSON\n" COMMON_OPTIONS "\n" OPERATION_STATUS "\n"
     "Example:\n"
     "  " PROG " migrate up\n"
     "  " PROG " migrate down 3\n"},
};

const char *command_help(const char *name)
{
    for (size_t i = 0; i < sizeof(helps) / sizeof(helps[0]); i++)
        if (strcmp(helps[i].name, name) == 0)
            return helps[i].text;
    return NULL;
}
