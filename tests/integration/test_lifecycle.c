/* Starting, stopping and crashing: clean shutdown with work in flight, the
 * socket file, durability across SIGKILL, command-line handling. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

/* Runs until interrupted. */
#define ENDLESS_SQL                                                            \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "         \
    "SELECT count(*) FROM c"

/* For the tests whose work in flight must finish within the grace period:
 * a generous one, as the 3,000,000 steps of HARNESS_SLOW_SQL take seconds
 * on a loaded machine, and three times that in a daemon under TSan. */
static const char *const patient[] = {"--shutdown-grace", "60000", NULL};

static struct daemon d;

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(lifecycle, .fini = teardown, .timeout = 60);

/* Sends @sql as query @msgid followed by ping @msgid + 1 in one write on
 * @c, and waits for the pong: the daemon has then read the query and
 * started it (requests are read in order). */
static void send_query_in_flight(struct harness_raw *c, uint32_t msgid,
                                 const char *sql)
{
    harness_pack_sql(&c->b, msgid, "query", sql);
    harness_pack_request(&c->b, msgid + 1, "ping", 0);
    harness_send_buf(c->fd, &c->b);
    struct reply rep;
    harness_read_reply(&c->r, &rep);
    cr_assert_eq(rep.msgid, msgid + 1,
                 "the query finished before the ping "
                 "was answered");
    cr_assert_not(rep.is_error);
    reply_free(&rep);
}

static bool file_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

Test(lifecycle, client_disconnects_mid_query)
{
    daemon_start(&d, NULL);
    for (int i = 0; i < 4; i++) {
        struct harness_raw c;
        harness_raw_open(&c, &d);
        harness_pack_sql(&c.b, 1, "query", HARNESS_SLOW_SQL);
        harness_pack_sql(&c.b, 2, "exec", "CREATE TABLE IF NOT EXISTS t(x)");
        harness_send_buf(c.fd, &c.b);
        harness_raw_close(&c);
    }
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT 2 + 2"), 4);
    harness_exec(db,
                 "CREATE TABLE IF NOT EXISTS t(x); INSERT INTO t VALUES (1)");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
}

/* Work in flight at SIGTERM is finished and answered; then the daemon exits
 * 0 and removes its socket. */
Test(lifecycle, sigterm_finishes_work_in_flight)
{
    daemon_start(&d, patient);
    struct harness_raw c;
    harness_raw_open(&c, &d);
    send_query_in_flight(&c, 1, HARNESS_SLOW_SQL);

    daemon_signal(&d, SIGTERM);
    struct reply rep;
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "the query in flight failed: %s: %s", rep.name,
                  rep.message);
    cr_assert_eq(harness_reply_int(&rep), 3000000);
    reply_free(&rep);
    /* Nothing owed any more: the daemon hangs up. */
    cr_assert(harness_read_eof(&c.r, HARNESS_IO_TIMEOUT_MS));
    harness_raw_close(&c);

    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);
    cr_assert_not(file_exists(d.sock_path), "socket file left behind");
}

/* A write in flight at SIGTERM is committed and acknowledged. */
Test(lifecycle, sigterm_commits_write_in_flight)
{
    daemon_start(&d, patient);
    harness_exec_fresh(&d, "CREATE TABLE t(x)");

    struct harness_raw c;
    harness_raw_open(&c, &d);
    harness_pack_sql(&c.b, 1, "exec",
                     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c WHERE x < 2000000) INSERT INTO t SELECT x FROM c");
    harness_pack_request(&c.b, 2, "ping", 0);
    harness_send_buf(c.fd, &c.b);
    struct reply rep;
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 2);
    reply_free(&rep);
    daemon_signal(&d, SIGTERM);
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    harness_raw_close(&c);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);

    daemon_restart(&d, NULL);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 2000000);
    sqlited_close(db);
}

/* Once shutting down, the daemon accepts no new connections: its socket is
 * gone, and `sqlited-cli health` says so (no answer, 2). */
Test(lifecycle, sigterm_stops_accepting)
{
    daemon_start(&d, patient);
    struct harness_raw c;
    harness_raw_open(&c, &d);
    send_query_in_flight(&c, 1, HARNESS_SLOW_SQL);
    daemon_signal(&d, SIGTERM);
    /* The listening socket goes at once, long before the query ends. */
    cr_assert(harness_wait_gone(d.sock_path, HARNESS_STOP_TIMEOUT_MS));
    sqlited *db = (sqlited *)&db;
    int rc = sqlited_open(d.sock_path, 1000, &db);
    cr_assert_eq(rc, -ENOENT, "open during shutdown: %d", rc);
    cr_assert_null(db);
    /* So a readiness probe finds nothing to ask (as documented). */
    struct harness_output o;
    char want[300];
    harness_cli(&d, &o, NULL, (const char *const[]){"health", NULL});
    snprintf(want, sizeof(want), "%s: no answer: no socket\n", d.sock_path);
    cr_assert_eq(o.status, 2, "%s%s", o.out, o.err);
    cr_assert_str_eq(o.out, want);
    harness_output_free(&o);
    struct reply rep;
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    harness_raw_close(&c);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);
}

/* Idle connections do not hold up a shutdown; their clients see the
 * connection closed. */
Test(lifecycle, sigterm_with_idle_connections)
{
    daemon_start(&d, NULL);
    sqlited *a = harness_connect(&d);
    sqlited *b = harness_connect(&d);
    cr_assert_eq(sqlited_ping(a), 0);
    cr_assert_eq(daemon_stop(&d), 0);
    int rc = sqlited_ping(a);
    cr_assert(rc == SQLITED_ECLOSED || (rc < 0 && rc > -1000),
              "ping after shutdown: %d", rc);
    rc = sqlited_query(b, "SELECT 1", NULL, &(sqlited_rows *){NULL});
    cr_assert(rc == SQLITED_ECLOSED || (rc < 0 && rc > -1000),
              "query after shutdown: %d", rc);
    sqlited_close(a);
    sqlited_close(b);
}

/* The grace period bounds the wait for work in flight: past it, the work is
 * interrupted and answered with SQLITED_INTERRUPTED. */
Test(lifecycle, shutdown_grace_period_interrupts)
{
    daemon_start(&d, (const char *const[]){"--shutdown-grace", "300", NULL});
    struct harness_raw c;
    harness_raw_open(&c, &d);
    send_query_in_flight(&c, 1, ENDLESS_SQL);
    daemon_signal(&d, SIGTERM);
    struct reply rep;
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert(rep.is_error);
    cr_assert_eq(rep.code, SQLITED_INTERRUPTED, "%lld %s: %s",
                 (long long)rep.code, rep.name, rep.message);
    cr_assert_str_eq(rep.name, "SQLITED_INTERRUPTED");
    cr_assert_not_null(strstr(rep.message, "interrupted"));
    reply_free(&rep);
    harness_raw_close(&c);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);
    cr_assert_not(file_exists(d.sock_path));
}

/* A second SIGTERM interrupts at once. */
Test(lifecycle, second_signal_interrupts)
{
    daemon_start(&d, NULL); /* the default grace period: 10 s */
    struct harness_raw c;
    harness_raw_open(&c, &d);
    send_query_in_flight(&c, 1, ENDLESS_SQL);
    daemon_signal(&d, SIGTERM);
    /* The first signal has been handled once the socket file is gone. */
    cr_assert(harness_wait_gone(d.sock_path, HARNESS_STOP_TIMEOUT_MS));
    daemon_signal(&d, SIGINT);
    struct reply rep;
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_eq(rep.code, SQLITED_INTERRUPTED, "%lld %s: %s",
                 (long long)rep.code, rep.name, rep.message);
    cr_assert_str_eq(rep.name, "SQLITED_INTERRUPTED");
    reply_free(&rep);
    harness_raw_close(&c);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);
}

Test(lifecycle, sigint_stops_cleanly)
{
    daemon_start(&d, NULL);
    daemon_signal(&d, SIGINT);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);
    cr_assert_not(file_exists(d.sock_path));
}

/* A clean stop folds the WAL back into the database file. */
Test(lifecycle, clean_stop_checkpoints)
{
    daemon_start(&d, NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)");
    cr_assert_eq(daemon_stop(&d), 0);
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", d.db_path);
    struct stat st;
    cr_assert(stat(wal, &st) != 0 || st.st_size == 0,
              "WAL of %lld bytes left after a clean stop",
              (long long)st.st_size);
}

Test(lifecycle, second_daemon_on_the_same_socket_refuses)
{
    daemon_start(&d, NULL);
    char other_db[160];
    snprintf(other_db, sizeof(other_db), "%s/other.db", d.dir);
    const char *argv[] = {
        harness_daemon_bin(), "--database",  other_db, "--socket",
        d.sock_path,          "--log-level", "error",  NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_neq(o.status, -1, "the second daemon did not exit");
    cr_assert_neq(o.status, 0, "the second daemon started");
    cr_assert_lt(o.status, 128, "the second daemon died of signal %d",
                 o.status - 128);
    cr_assert_not_null(strstr(o.err, "already"), "stderr: %s", o.err);
    harness_output_free(&o);
    /* The first one is unharmed and still owns its socket. */
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
    cr_assert_not(file_exists(d.sock_path));
}

/* The socket file of a daemon killed with SIGKILL stays behind; the next
 * start finds nobody listening on it, replaces it and serves. */
Test(lifecycle, a_stale_socket_is_replaced)
{
    daemon_start(&d, NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (42)");
    daemon_kill(&d);
    struct stat st;
    cr_assert_eq(lstat(d.sock_path, &st), 0, "SIGKILL removed the socket?");
    cr_assert(S_ISSOCK(st.st_mode));

    daemon_restart(&d, NULL);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT x FROM t"), 42);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
}

/* Something that is not a socket at the socket path is never deleted. */
Test(lifecycle, a_regular_file_at_the_socket_path_is_kept)
{
    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    int fd = open(d.sock_path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "keep me", 7), 7);
    close(fd);
    const char *argv[16];
    daemon_argv(&d, NULL, argv, 16);
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert(o.status > 0 && o.status < 128, "status %d", o.status);
    harness_output_free(&o);
    struct stat st;
    cr_assert_eq(lstat(d.sock_path, &st), 0);
    cr_assert(S_ISREG(st.st_mode));
    cr_assert_eq(st.st_size, 7);
}

/* An acknowledged write survives SIGKILL. */
Test(lifecycle, acknowledged_writes_survive_sigkill)
{
    daemon_start(&d, NULL);
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    sqlited_params *p = harness_params_new();
    for (int i = 1; i <= 100; i++) {
        char text[32];
        snprintf(text, sizeof(text), "row %d", i);
        sqlited_params_clear(p);
        cr_assert_eq(sqlited_params_add_text(p, NULL, text, -1), 0);
        cr_assert_eq(sqlited_exec(db, "INSERT INTO t(v) VALUES (?)", p, NULL),
                     0);
    }
    sqlited_params_close(p);
    /* No clean shutdown, no checkpoint: only what was committed. */
    daemon_kill(&d);
    sqlited_close(db);

    daemon_restart(&d, NULL);
    db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 100);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t "
                                       "WHERE v = 'row ' || id"),
                 100);
    sqlited_close(db);
}

/* --help lists every option, and so does sqlited(8): each long option of
 * the one is in the other, as roff writes it (\-\-socket\-mode). */
Test(lifecycle, help_exits_0_and_the_manual_names_every_option)
{
    const char *argv[] = {harness_daemon_bin(), "--help", NULL};
    struct harness_output o;
    static char manual[64 * 1024];
    int options = 0;

    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_not_null(strstr(o.out, "usage: sqlited"), "stdout: %s", o.out);
    cr_assert_not_null(strstr(o.out, "--socket"));

    FILE *f = fopen(SQLITED_SOURCE_DIR "/man/sqlited.8", "r");
    cr_assert_not_null(f);
    size_t n = fread(manual, 1, sizeof(manual) - 1, f);
    cr_assert(n > 0 && n < sizeof(manual) - 1 && feof(f));
    fclose(f);
    for (const char *line = o.out; line; line = strchr(line, '\n')) {
        line += *line == '\n';
        /* "  -d, --database PATH ..." or "      --config PATH ..." */
        const char *opt = strstr(line, "--");
        if (!opt || strspn(line, " ") > 6 ||
            (line[2] != '-' && opt - line != 6))
            continue;
        char roff[96];
        size_t len = strcspn(opt, " \n"), r = 0;
        for (size_t i = 0; i < len && r + 3 < sizeof(roff); i++) {
            if (opt[i] == '-')
                roff[r++] = '\\';
            roff[r++] = opt[i];
        }
        roff[r] = '\0';
        cr_assert_not_null(strstr(manual, roff), "sqlited(8) lacks %.*s",
                           (int)len, opt);
        options++;
    }
    cr_assert_gt(options, 40);
    harness_output_free(&o);
}

Test(lifecycle, version_exits_0)
{
    const char *argv[] = {harness_daemon_bin(), "--version", NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.out, "sqlited " SQLITED_VERSION "\n");
    harness_output_free(&o);
}

Test(lifecycle, unknown_flag_exits_2)
{
    const char *argv[] = {harness_daemon_bin(), "--bogus", NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2);
    cr_assert_not_null(strstr(o.err, "--bogus"), "stderr: %s", o.err);
    harness_output_free(&o);
}

Test(lifecycle, bad_flag_values_exit_2)
{
    static const char *const cases[][3] = {
        {"--readers", "0", NULL},       {"--synchronous", "SOMETIMES", NULL},
        {"--socket-mode", "999", NULL}, {"--max-message-size", "10", NULL},
        {"--log-level", "loud", NULL},  {"--readers", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {harness_daemon_bin(), cases[i][0], cases[i][1],
                              NULL};
        struct harness_output o;
        harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
        cr_assert_eq(o.status, 2, "%s %s: status %d", cases[i][0],
                     cases[i][1] ? cases[i][1] : "", o.status);
        cr_assert_str_neq(o.err, "", "%s: nothing on stderr", cases[i][0]);
        harness_output_free(&o);
    }
}

static mode_t socket_mode(const char *path)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    return st.st_mode & 07777;
}

Test(lifecycle, socket_mode_default_0660)
{
    /* Whatever the umask the daemon inherits. */
    mode_t old = umask(0);
    daemon_start(&d, NULL);
    umask(old);
    cr_assert_eq(socket_mode(d.sock_path), 0660, "mode %o",
                 socket_mode(d.sock_path));
}

Test(lifecycle, socket_mode_flag)
{
    daemon_start(&d, (const char *const[]){"--socket-mode", "0600", NULL});
    cr_assert_eq(socket_mode(d.sock_path), 0600, "mode %o",
                 socket_mode(d.sock_path));
    cr_assert_eq(daemon_stop(&d), 0);
    mode_t old = umask(077);
    daemon_restart(&d, (const char *const[]){"--socket-mode", "666", NULL});
    umask(old);
    cr_assert_eq(socket_mode(d.sock_path), 0666, "mode %o",
                 socket_mode(d.sock_path));
}

/* A request that reaches a connection while the daemon is stopping is
 * answered with SQLITED_SHUTTING_DOWN ("the daemon is stopping and takes no
 * new work", PROTOCOL.md) and not run, so that its client knows a write was
 * not applied instead of facing a silent hang-up. */
Test(lifecycle, request_during_shutdown_is_refused)
{
    daemon_start(&d, patient);
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    struct harness_raw c;
    harness_raw_open(&c, &d);
    send_query_in_flight(&c, 1, HARNESS_SLOW_SQL);
    daemon_signal(&d, SIGTERM);
    cr_assert(harness_wait_gone(d.sock_path, HARNESS_STOP_TIMEOUT_MS));

    harness_pack_sql(&c.b, 3, "exec", "INSERT INTO t VALUES (1)");
    harness_send_buf(c.fd, &c.b);

    bool answered_1 = false, answered_3 = false;
    for (;;) {
        char *msg = NULL;
        size_t len;
        char why[128];
        int rc = harness_read_message(&c.r, HARNESS_IO_TIMEOUT_MS, &msg, &len);
        if (rc != 1)
            break;
        struct reply rep;
        cr_assert_eq(harness_parse_reply(msg, len, &rep, why, sizeof(why)), 0,
                     "%s", why);
        if (rep.kind == 1 && rep.msgid == 1) {
            cr_assert_not(rep.is_error, "%s", rep.message);
            answered_1 = true;
        } else if (rep.kind == 1 && rep.msgid == 3) {
            cr_assert_eq(rep.code, SQLITED_SHUTTING_DOWN, "%lld %s: %s",
                         (long long)rep.code, rep.name, rep.message);
            cr_assert_str_eq(rep.name, "SQLITED_SHUTTING_DOWN");
            answered_3 = true;
        }
        reply_free(&rep);
    }
    harness_raw_close(&c);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);
    cr_assert(answered_1, "the query in flight was not answered");

    /* Not applied, whatever the answer. */
    daemon_restart(&d, NULL);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    sqlited_close(db);
    cr_assert(answered_3,
              "the request sent during shutdown got no answer at all");
}

/* Socket activation (sqlited.socket): the daemon serves the socket systemd
 * passes as fd 3, and leaves the file to systemd when it stops. */
Test(lifecycle, socket_activation)
{
    daemon_start_activated(&d, NULL);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    harness_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (3)");
    cr_assert_eq(harness_query_int(db, "SELECT x FROM t"), 3);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
    struct stat st;
    cr_assert_eq(lstat(d.sock_path, &st), 0,
                 "the daemon removed the socket systemd owns");
    cr_assert(S_ISSOCK(st.st_mode));
}

/* A start that fails after binding the socket (the database cannot be
 * opened) exits non-zero and leaves no socket file behind. */
Test(lifecycle, failed_start_leaves_no_socket)
{
    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    const char *argv[] = {
        harness_daemon_bin(), "--database", d.dir, /* a directory */
        "--socket",           d.sock_path,  "--log-level", "error", NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert(o.status > 0 && o.status < 128, "status %d", o.status);
    cr_assert_str_neq(o.err, "", "no reason given on stderr");
    harness_output_free(&o);
    cr_assert_not(file_exists(d.sock_path), "socket file left behind");
}

/* A client that hangs up while a large reply is being written to it costs
 * the daemon an EPIPE, nothing more. */
Test(lifecycle, client_gone_during_a_large_reply)
{
    daemon_start(&d, NULL);
    for (int i = 0; i < 3; i++) {
        struct harness_raw c;
        harness_raw_open(&c, &d);
        harness_pack_sql(&c.b, 1, "query", "SELECT zeroblob(8 * 1024 * 1024)");
        harness_send_buf(c.fd, &c.b);
        /* Wait for the first bytes of the reply, then hang up. */
        struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
        cr_assert_eq(poll(&pfd, 1, HARNESS_IO_TIMEOUT_MS), 1);
        char head[16];
        cr_assert_gt(read(c.fd, head, sizeof(head)), 0);
        harness_raw_close(&c);
    }
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT length(zeroblob(100))"), 100);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
}
