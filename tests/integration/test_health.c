/* Readiness: the health method, sqlited_health(), and `sqlited-cli health`
 * with pg_isready's exit statuses; probes that end at their deadline. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw c;
static sqlited *db;
static bool stopped; /* the daemon is SIGSTOPped: SIGCONT it at teardown */

static void setup(void)
{
    db = harness_start_with_raw(&d, &c, NULL);
}

static void teardown(void)
{
    if (stopped)
        daemon_signal(&d, SIGCONT);
    harness_cleanup_with_raw(&d, &db, &c);
}

TestSuite(health, .init = setup, .fini = teardown, .timeout = 60);

/* Sends health with @options (NULL: no params; a check and a timeout) and
 * reads the answer. */
static void health_call(const char *check, int64_t timeout_ms,
                        struct reply *rep)
{
    uint32_t msgid = ++c.last_msgid;
    unsigned n = (check != NULL) + (timeout_ms > 0);
    harness_pack_request(&c.b, msgid, "health", n ? 1 : 0);
    if (n) {
        msgpack_pack_map(&c.b.pk, n);
        if (check) {
            codec_pack_cstr(&c.b, "check");
            codec_pack_cstr(&c.b, check);
        }
        if (timeout_ms > 0) {
            codec_pack_cstr(&c.b, "timeout_ms");
            msgpack_pack_int64(&c.b.pk, timeout_ms);
        }
    }
    harness_raw_call(&c, msgid, rep);
}

/* The string under @key of the map @map, in @buf. */
static const char *result_str(struct codec_reader map, const char *key,
                              char *buf, size_t size)
{
    struct codec_reader v;
    const char *s;
    uint32_t len;
    cr_assert(harness_map_find(map, key, &v), "no \"%s\" in the answer", key);
    cr_assert_eq(codec_read_str(&v, &s, &len), 0, "\"%s\" is not a string",
                 key);
    snprintf(buf, size, "%.*s", (int)len, s);
    return buf;
}

static bool result_bool(struct codec_reader map, const char *key)
{
    struct codec_reader v;
    struct codec_value b;
    cr_assert(harness_map_find(map, key, &v), "no \"%s\" in the answer", key);
    cr_assert(codec_read(&v, &b) == 0 && b.type == CODEC_BOOL,
              "\"%s\" is not a bool", key);
    return b.v.b;
}

/* Replaces the database file with a directory, as an operator's mistake or
 * a broken volume might: unreadable to everyone, root included. */
static void replace_database_with_directory(void)
{
    char moved[256];
    snprintf(moved, sizeof(moved), "%s.moved", d.db_path);
    cr_assert_eq(rename(d.db_path, moved), 0, "rename: %s", strerror(errno));
    cr_assert_eq(mkdir(d.db_path, 0700), 0, "mkdir: %s", strerror(errno));
}

/* Puts the file back, so that the daemon stops as cleanly as ever. */
static void restore_database(void)
{
    char moved[256];
    snprintf(moved, sizeof(moved), "%s.moved", d.db_path);
    cr_assert_eq(rmdir(d.db_path), 0);
    cr_assert_eq(rename(moved, d.db_path), 0);
}

#define CLI(o, ...)                                                            \
    harness_cli(&d, (o), NULL, (const char *const[]){__VA_ARGS__, NULL})

Test(health, ok_with_the_facts)
{
    struct reply rep;
    char buf[256];

    harness_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    health_call(NULL, 0, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert_str_eq(result_str(rep.result, "status", buf, sizeof(buf)), "ok");
    cr_assert_str_eq(result_str(rep.result, "reason", buf, sizeof(buf)),
                     "ready");
    cr_assert(result_bool(rep.result, "ready"));
    cr_assert_str_eq(result_str(rep.result, "version", buf, sizeof(buf)),
                     SQLITED_VERSION);
    cr_assert_str_eq(result_str(rep.result, "database", buf, sizeof(buf)),
                     d.db_path);
    cr_assert_eq(harness_result_int(rep.result, "page_size"), 4096);
    cr_assert_geq(harness_result_int(rep.result, "page_count"), 2);
    cr_assert_geq(harness_result_int(rep.result, "database_bytes"), 4096);
    cr_assert_gt(harness_result_int(rep.result, "wal_bytes"), 0,
                 "the insert is in the WAL");
    cr_assert_eq(harness_result_int(rep.result, "freelist_count"), 0);
    cr_assert_eq(harness_result_int(rep.result, "connections"), 2);
    cr_assert_eq(harness_result_int(rep.result, "in_flight"), 1,
                 "the health request itself");
    cr_assert_eq(harness_result_int(rep.result, "writer_queue"), 0);
    cr_assert_eq(harness_result_int(rep.result, "reader_queue"), 0);
    cr_assert_geq(harness_result_int(rep.result, "uptime_ms"), 0);
    cr_assert_eq(harness_result_int(rep.result, "timeout_ms"), 5000);
    struct codec_reader checks;
    cr_assert(harness_map_find(rep.result, "checks", &checks));
    cr_assert_str_eq(result_str(checks, "read", buf, sizeof(buf)), "ok");
    cr_assert_str_eq(result_str(checks, "write", buf, sizeof(buf)), "ok");
    cr_assert_str_eq(result_str(checks, "quick_check", buf, sizeof(buf)),
                     "skipped");
    reply_free(&rep);
}

Test(health, quick_check_on_request)
{
    struct reply rep;
    char buf[256];
    struct codec_reader checks;

    health_call("quick", 2000, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert_str_eq(result_str(rep.result, "status", buf, sizeof(buf)), "ok");
    cr_assert(harness_map_find(rep.result, "checks", &checks));
    cr_assert_str_eq(result_str(checks, "quick_check", buf, sizeof(buf)), "ok");
    cr_assert_eq(harness_result_int(rep.result, "timeout_ms"), 2000);
    reply_free(&rep);
}

Test(health, bad_options_refused)
{
    struct reply rep;

    health_call("full", 0, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "option check must be \"basic\" or \"quick\"");
    reply_free(&rep);
    health_call(NULL, 60001, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "option timeout_ms must be an integer from 1 to "
                         "60000");
    reply_free(&rep);
}

/* The read goes through the path, as a new process would: a database file
 * replaced underneath the daemon fails the probe, though the daemon's own
 * connections still hold the old file open. */
Test(health, failing_when_the_database_file_is_replaced)
{
    struct reply rep;
    char buf[512];
    int status = -1;

    replace_database_with_directory();
    health_call(NULL, 0, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert_str_eq(result_str(rep.result, "status", buf, sizeof(buf)),
                     "failing");
    cr_assert_not(result_bool(rep.result, "ready"));
    /* Said by the probe's own read ("... is no longer a regular file"), or
     * by the writer's watch on the file if it looked first. */
    char want_reason[256];
    snprintf(want_reason, sizeof(want_reason), "the database file %s ",
             d.db_path);
    result_str(rep.result, "reason", buf, sizeof(buf));
    cr_assert(strncmp(buf, want_reason, strlen(want_reason)) == 0, "reason: %s",
              buf);
    reply_free(&rep);

    HARNESS_ASSERT_OK(db, sqlited_health(db, 0, 0, &status, NULL));
    cr_assert_eq(status, SQLITED_HEALTH_FAILING);
    cr_assert(strstr(sqlited_health_reason(db), d.db_path), "reason: %s",
              sqlited_health_reason(db));

    struct harness_output o;
    CLI(&o, "health");
    cr_assert_eq(o.status, 1, "stdout: %s stderr: %s", o.out, o.err);
    char want[512];
    snprintf(want, sizeof(want), "%s: not ready: the database file %s",
             d.sock_path, d.db_path);
    cr_assert(strncmp(o.out, want, strlen(want)) == 0, "stdout: %s", o.out);
    harness_output_free(&o);

    restore_database();
    HARNESS_ASSERT_OK(db, sqlited_health(db, 0, 0, &status, NULL));
    cr_assert_eq(status, SQLITED_HEALTH_OK, "%s", sqlited_health_reason(db));
}

/* A transaction holds the writer: reads still work, so the daemon stays
 * ready, but the verdict says why writes wait. */
Test(health, degraded_while_the_writer_is_held)
{
    struct reply rep;
    char buf[512];

    harness_exec(db, "CREATE TABLE t(x)");
    int64_t tx = harness_raw_begin(&c, "immediate");
    sqlited *other = harness_connect(&d);
    int status = -1;
    char *json = NULL;
    /* A deadline the reader meets even on a loaded machine, well within
     * the transaction's idle timeout (5 s). */
    HARNESS_ASSERT_OK(other, sqlited_health(other, 0, 2000, &status, &json));
    cr_assert_eq(status, SQLITED_HEALTH_DEGRADED, "%s",
                 sqlited_health_reason(other));
    cr_assert(strstr(sqlited_health_reason(other),
                     "the writer did not answer within 2000 ms"),
              "%s", sqlited_health_reason(other));
    cr_assert(strstr(json, "\"ready\": true"), "%s", json);
    cr_assert(strstr(json, "\"write\": \"no answer within the deadline\""),
              "%s", json);
    sqlited_free(json);
    sqlited_close(other);
    harness_raw_end_ok(&c, "rollback", tx);

    health_call(NULL, 0, &rep);
    cr_assert_str_eq(result_str(rep.result, "status", buf, sizeof(buf)), "ok");
    reply_free(&rep);
}

Test(health, cli_ready_line_and_json)
{
    struct harness_output o;
    char want[256];

    CLI(&o, "health");
    snprintf(want, sizeof(want), "%s: ready\n", d.sock_path);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, want);
    harness_output_free(&o);

    CLI(&o, "health", "--json", "--quick");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert(strstr(o.out, "\"status\": \"ok\""), "%s", o.out);
    cr_assert(strstr(o.out, "\"quick_check\": \"ok\""), "%s", o.out);
    cr_assert_eq(o.out[0], '{');
    harness_output_free(&o);
}

Test(health, cli_no_socket_is_2)
{
    struct harness_output o;
    char path[256], want[300];

    snprintf(path, sizeof(path), "%s/none.sock", d.dir);
    const char *argv[] = {SQLITED_CLI, "-s", path, "health", NULL};
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2, "stdout: %s stderr: %s", o.out, o.err);
    snprintf(want, sizeof(want), "%s: no answer: no socket\n", path);
    cr_assert_str_eq(o.out, want);
    harness_output_free(&o);

    const char *json[] = {SQLITED_CLI, "-s", path, "--json", "health", NULL};
    harness_run(json, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.out, "\"status\": \"no_answer\", \"ready\": false, "
                            "\"reason\": \"no socket\""),
              "%s", o.out);
    harness_output_free(&o);
}

Test(health, cli_usage_error_is_3)
{
    struct harness_output o;

    CLI(&o, "health", "--no-such-flag");
    cr_assert_eq(o.status, 3, "stderr: %s", o.err);
    harness_output_free(&o);
    CLI(&o, "-t", "0", "health");
    cr_assert_eq(o.status, 3, "stderr: %s", o.err);
    cr_assert(strstr(o.err, "a probe needs a deadline"), "%s", o.err);
    harness_output_free(&o);
    /* Other commands keep their usage status. */
    CLI(&o, "-t", "0", "ping");
    cr_assert_eq(o.status, 2, "stderr: %s", o.err);
    harness_output_free(&o);
}

/* A socket the caller may not reach (its directory, or the socket itself,
 * without permission for the caller's user) is "permission denied", exit
 * status 2. As root, which no permission stops, the probe runs as nobody
 * (setpriv) against the test's directory, which is 0700. */
Test(health, cli_permission_denied_is_2)
{
    struct harness_output o;
    char want[256];
    bool root = geteuid() == 0;

    if (root && access("/usr/bin/setpriv", X_OK) != 0)
        cr_skip_test("running as root without /usr/bin/setpriv: cannot "
                     "probe as a user without permission");
    if (!root)
        cr_assert_eq(chmod(d.sock_path, 0), 0, "chmod: %s", strerror(errno));
    const char *as_nobody[] = {
        "/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
        "--clear-groups",   SQLITED_CLI,     "-s",
        d.sock_path,        "health",        NULL};
    const char *as_me[] = {SQLITED_CLI, "-s", d.sock_path, "health", NULL};
    harness_run(root ? as_nobody : as_me, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    if (!root)
        cr_assert_eq(chmod(d.sock_path, 0660), 0);
    cr_assert_eq(o.status, 2, "stdout: %s stderr: %s", o.out, o.err);
    snprintf(want, sizeof(want), "%s: no answer: permission denied\n",
             d.sock_path);
    cr_assert_str_eq(o.out, want);
    harness_output_free(&o);
}

/* The probe looks at the database file through its path without ever
 * closing a descriptor of it: that would drop every fcntl() lock SQLite
 * holds on the file in the daemon, and another process closing its last
 * connection would then take the database for unused and delete the WAL
 * the daemon writes to. */
Test(health, probe_keeps_the_daemons_locks)
{
    struct reply rep;
    char buf[512], wal[256];
    sqlite3 *other;

    harness_exec(db, "CREATE TABLE t(x)");
    harness_exec(db, "INSERT INTO t VALUES (1)");
    cr_assert_eq(
        sqlite3_open_v2(d.db_path, &other, SQLITE_OPEN_READWRITE, NULL),
        SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(other, "SELECT count(*) FROM t", NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(other));
    health_call(NULL, 0, &rep);
    cr_assert_str_eq(result_str(rep.result, "status", buf, sizeof(buf)), "ok",
                     "%s", result_str(rep.result, "reason", buf, sizeof(buf)));
    reply_free(&rep);
    cr_assert_eq(sqlite3_close(other), SQLITE_OK);

    snprintf(wal, sizeof(wal), "%s-wal", d.db_path);
    cr_assert_eq(access(wal, F_OK), 0, "the daemon's WAL was deleted");
    harness_exec(db, "INSERT INTO t VALUES (2)");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 2);
    health_call(NULL, 0, &rep);
    cr_assert_str_eq(result_str(rep.result, "status", buf, sizeof(buf)), "ok",
                     "%s", result_str(rep.result, "reason", buf, sizeof(buf)));
    reply_free(&rep);
}

/* A daemon that does not run at all (stopped) still accepts connections in
 * the kernel: the probe must give up at its deadline, not wait forever. */
Test(health, cli_stopped_daemon_is_2_at_the_deadline)
{
    struct harness_output o;
    char want[256];

    daemon_signal(&d, SIGSTOP);
    stopped = true;
    CLI(&o, "-t", "500", "health");
    cr_assert_eq(o.status, 2, "stdout: %s stderr: %s", o.out, o.err);
    snprintf(want, sizeof(want), "%s: no answer: timed out\n", d.sock_path);
    cr_assert_str_eq(o.out, want);
    harness_output_free(&o);

    CLI(&o, "-t", "500", "ping");
    cr_assert_eq(o.status, 2, "stdout: %s stderr: %s", o.out, o.err);
    cr_assert(strstr(o.err, "timed out"), "%s", o.err);
    harness_output_free(&o);
    daemon_signal(&d, SIGCONT);
    stopped = false;
}

/* libsqlited: with an I/O timeout, a call on a connection whose daemon
 * stopped fails with -ETIMEDOUT instead of blocking. */
Test(health, io_timeout_bounds_every_call)
{
    int status;

    cr_assert_eq(sqlited_set_io_timeout(db, -1), SQLITED_EMISUSE);
    HARNESS_ASSERT_OK(db, sqlited_set_io_timeout(db, 2000));
    HARNESS_ASSERT_OK(db, sqlited_ping(db));
    daemon_signal(&d, SIGSTOP);
    stopped = true;
    cr_assert_eq(sqlited_ping(db), -ETIMEDOUT);
    cr_assert_eq(sqlited_ping(db), SQLITED_ECLOSED, "the connection is gone");
    daemon_signal(&d, SIGCONT);
    stopped = false;
    sqlited_close(db);
    db = harness_connect(&d);
    HARNESS_ASSERT_OK(
        db, sqlited_health(db, SQLITED_HEALTH_QUICK, 0, &status, NULL));
    cr_assert_eq(status, SQLITED_HEALTH_OK);
    cr_assert_str_eq(sqlited_health_reason(db), "ready");
}
