/* The operator's commands: the probes (ping, health) and the operations on
 * the database as a whole (backup, optimize, vacuum, integrity, migrate,
 * checkpoint, stats, metrics). Each prints one line for people, or with
 * --json one JSON object.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* ping: the loop's liveness answer, every wait bounded by @timeout_ms. */
int ping_main(const char *path, int timeout_ms)
{
    sqlited *db = NULL;
    int rc = sqlited_open(path, timeout_ms, &db);

    if (rc)
        return report_connect_error(path, rc);
    sqlited_set_io_timeout(db, timeout_ms);
    rc = sqlited_ping(db);
    int status = rc ? report_call_error(db, rc) : 0;
    if (rc == 0)
        puts("pong");
    sqlited_close(db);
    return finish_output(status);
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

static int cmd_backup(sqlited *db, int argc, char **argv, bool json)
{
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

static int cmd_optimize(sqlited *db, int argc, char **argv, bool json)
{
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

static int cmd_vacuum(sqlited *db, int argc, char **argv, bool json)
{
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
static int cmd_integrity(sqlited *db, int argc, char **argv, bool json)
{
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

static int cmd_migrate(sqlited *db, int argc, char **argv, bool json)
{
    sqlited_migrate_info info;
    int action;
    int64_t version = SQLITED_MIGRATE_DEFAULT;

    if (strcmp(argv[0], "up") == 0)
        action = SQLITED_MIGRATE_UP;
    else if (strcmp(argv[0], "down") == 0)
        action = SQLITED_MIGRATE_DOWN;
    else if (strcmp(argv[0], "status") == 0 && argc == 1)
        action = SQLITED_MIGRATE_STATUS;
    else
        return usage_error("usage", "migrate up|down [VERSION] | status");
    if (argc == 2) {
        char *end;
        errno = 0;
        long long v = strtoll(argv[1], &end, 10);
        if (errno || end == argv[1] || *end || v < 0)
            return usage_error("invalid version", argv[1]);
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
        struct json o = {0};
        json_u64(&o, "version", (uint64_t)m->version);
        json_str(&o, "name", m->name);
        json_str(&o, "file", m->file);
        json_str(&o, "state", m->state);
        json_str(&o, "checksum", m->checksum);
        json_str(&o, "applied_at", m->applied_at);
        sbuf_adds(&o.b, "}");
        if (i)
            sbuf_adds(&j.b, ", ");
        sbuf_add(&j.b, o.b.p, o.b.len);
        j.b.oom |= o.b.oom;
        free(o.b.p);
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
static int cmd_checkpoint(sqlited *db, int argc, char **argv, bool json)
{
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

/* stats: the daemon's counters, always as JSON. */
static int cmd_stats(sqlited *db, int argc, char **argv, bool json)
{
    char *text = NULL;
    int rc = sqlited_stats(db, &text);
    (void)argc;
    (void)argv;
    (void)json;
    if (rc)
        return report_call_error(db, rc);
    puts(text);
    sqlited_free(text);
    return 0;
}

/* metrics: Prometheus text; with --json the same figures as stats. */
static int cmd_metrics(sqlited *db, int argc, char **argv, bool json)
{
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
