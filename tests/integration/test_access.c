/* Access control by the client's credentials (SO_PEERCRED): who may only
 * read, who may write, who may run operator methods, and who may not
 * connect at all. Clients of another uid are forked children that drop to
 * nobody (65534), so these tests need root; without it they are skipped,
 * and say so. The unit-free parts (hello's access, the default) run
 * anywhere. */
#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"

#define NOBODY 65534

static struct daemon d;

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(access, .fini = teardown);

/* What a client of another uid saw. */
struct outcome {
    int rc;
    char name[64];
    char message[512];
};

enum action {
    OPEN_ONLY,
    READ,
    WRITE_EXEC,
    WRITE_QUERY,
    CHECKPOINT,
    READ_SNAPSHOT, /* a read-only transaction: begin, query, commit */
    BEGIN_WRITE,   /* a transaction of the writer */
};

/* In a child that becomes uid/gid NOBODY: connects and runs @action, and
 * reports the first failure (or rc 0) through a pipe. No Criterion
 * assertion runs in the child. */
static struct outcome as_nobody(enum action action)
{
    int fds[2];
    struct outcome out = {0};
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        sqlited *db = NULL;
        if (setgroups(0, NULL) != 0 || setgid(NOBODY) != 0 ||
            setuid(NOBODY) != 0) {
            out.rc = -errno;
            snprintf(out.message, sizeof(out.message), "setuid: %s",
                     strerror(errno));
        } else if ((out.rc = sqlited_open(d.sock_path, 10000, &db)) != 0) {
            snprintf(out.name, sizeof(out.name), "%s",
                     sqlited_strerror(out.rc));
        } else {
            sqlited_rows *rows = NULL;
            switch (action) {
            case OPEN_ONLY:
                break;
            case READ:
                out.rc =
                    sqlited_query(db, "select count(*) from t", NULL, &rows);
                break;
            case WRITE_EXEC:
                out.rc =
                    sqlited_exec(db, "insert into t values (1)", NULL, NULL);
                break;
            case WRITE_QUERY:
                out.rc =
                    sqlited_query(db, "insert into t values (2)", NULL, &rows);
                break;
            case CHECKPOINT:
                out.rc = sqlited_checkpoint(db, 0, NULL);
                break;
            case READ_SNAPSHOT:
                if ((out.rc = sqlited_begin(db, SQLITED_TX_READ_ONLY)) == 0 &&
                    (out.rc = sqlited_query(db, "select count(*) from t", NULL,
                                            &rows)) == 0)
                    out.rc = sqlited_commit(db);
                break;
            case BEGIN_WRITE:
                out.rc = sqlited_begin(db, SQLITED_TX_DEFERRED);
                break;
            }
            sqlited_rows_close(rows);
            if (out.rc != 0) {
                snprintf(out.name, sizeof(out.name), "%s", sqlited_errname(db));
                snprintf(out.message, sizeof(out.message), "%s",
                         sqlited_errmsg(db));
            }
            sqlited_close(db);
        }
        ssize_t n = write(fds[1], &out, sizeof(out));
        _exit(n == (ssize_t)sizeof(out) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t n = read(fds[0], &out, sizeof(out));
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert_eq(n, (ssize_t)sizeof(out), "the child said nothing");
    return out;
}

/* Starts the daemon with @extra_args where nobody can reach its socket,
 * with a table t; skips the test unless it runs as root. */
static void start_for_nobody(const char *const *extra_args)
{
    if (geteuid() != 0)
        cr_skip_test("needs root, to run clients as uid %d (nobody)", NOBODY);
    daemon_start(&d, extra_args);
    cr_assert_eq(chmod(d.dir, 0755), 0);
    harness_exec_fresh(&d, "create table t(x)"); /* root: always operator */
}

Test(access, a_reader_may_read_and_not_write)
{
    start_for_nobody((const char *const[]){"--socket-mode", "0666",
                                           "--allow-read", "uid:65534", NULL});
    struct outcome o = as_nobody(READ);
    cr_assert_eq(o.rc, 0, "%s: %s", o.name, o.message);

    o = as_nobody(WRITE_EXEC);
    cr_assert_eq(o.rc, SQLITE_AUTH, "rc %d %s: %s", o.rc, o.name, o.message);
    cr_assert_str_eq(o.name, "SQLITE_AUTH");
    cr_assert_str_eq(o.message, "access denied: exec may write, and uid "
                                "65534 may only read (allow-read uid:65534)");

    /* A query that writes is found out where it would run: the writer. */
    o = as_nobody(WRITE_QUERY);
    cr_assert_eq(o.rc, SQLITE_AUTH, "rc %d %s: %s", o.rc, o.name, o.message);
    cr_assert_str_eq(o.message, "access denied: this statement writes, and "
                                "this client may only read (allow-read "
                                "uid:65534)");
    /* A read snapshot is a read: begin read-only, query, commit. A
     * transaction of the writer is not. */
    o = as_nobody(READ_SNAPSHOT);
    cr_assert_eq(o.rc, 0, "%s: %s", o.name, o.message);
    o = as_nobody(BEGIN_WRITE);
    cr_assert_eq(o.rc, SQLITE_AUTH, "rc %d %s: %s", o.rc, o.name, o.message);
    cr_assert_str_eq(o.message, "access denied: begin may write, and uid "
                                "65534 may only read (allow-read uid:65534)");
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "select count(*) from t"), 0);
    sqlited_close(db);

    char *log = daemon_log(&d);
    cr_assert_not_null(strstr(log, "refused exec to pid "), "%s", log);
    cr_assert_not_null(strstr(log, " uid 65534 gid 65534: access denied"), "%s",
                       log);
    cr_assert_not_null(strstr(log, " (pid "), "%s", log);
    cr_assert_not_null(strstr(log, " uid 65534 gid 65534): access denied: "
                                   "this statement writes"),
                       "%s", log);
    free(log);
}

Test(access, a_writer_may_not_run_operator_methods)
{
    start_for_nobody((const char *const[]){"--socket-mode", "0666",
                                           "--allow-write", "uid:65534", NULL});
    struct outcome o = as_nobody(WRITE_EXEC);
    cr_assert_eq(o.rc, 0, "%s: %s", o.name, o.message);

    o = as_nobody(CHECKPOINT);
    cr_assert_eq(o.rc, SQLITE_AUTH, "rc %d %s: %s", o.rc, o.name, o.message);
    cr_assert_str_eq(o.message,
                     "access denied: checkpoint is an operator method, and uid "
                     "65534 may only read and write (allow-write uid:65534); "
                     "operators are listed in allow-operator");
    daemon_cleanup(&d);

    /* Listed as an operator, by its group, it may. */
    start_for_nobody((const char *const[]){
        "--socket-mode", "0666", "--allow-operator", "gid:65534", NULL});
    o = as_nobody(CHECKPOINT);
    cr_assert_eq(o.rc, 0, "%s: %s", o.name, o.message);
}

Test(access, an_unlisted_client_is_refused_at_connect)
{
    start_for_nobody((const char *const[]){"--socket-mode", "0666",
                                           "--allow-write", "uid:12345", NULL});
    struct outcome o = as_nobody(OPEN_ONLY);
    cr_assert_eq(o.rc, SQLITE_AUTH, "rc %d %s", o.rc, o.name);
    char *log = daemon_wait_log(&d, " refused: pid ");
    cr_assert_not_null(strstr(log, " uid 65534 gid 65534: access denied: uid "
                                   "65534 (gid 65534) is in none of "
                                   "allow-read, allow-write and "
                                   "allow-operator"),
                       "%s", log);
    free(log);
}

/* The refusal on the wire: an error notification, then the close. Root
 * and the daemon's own user are always let in, so this too needs a client
 * of another uid. */
Test(access, the_refusal_is_an_error_notification_then_close)
{
    start_for_nobody((const char *const[]){"--socket-mode", "0666",
                                           "--allow-read", "uid:12345", NULL});
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char buf[512];
        ssize_t n = -1;
        close(fds[0]);
        if (setgroups(0, NULL) == 0 && setgid(NOBODY) == 0 &&
            setuid(NOBODY) == 0) {
            int fd = harness_raw_connect_path(d.sock_path);
            /* Whatever the daemon sends before it hangs up (bounded: a
             * daemon that lets the client in never hangs up). */
            size_t got = 0;
            struct pollfd p = {.fd = fd, .events = POLLIN};
            while (fd >= 0 && got < sizeof(buf) &&
                   poll(&p, 1, HARNESS_IO_TIMEOUT_MS) == 1) {
                ssize_t r = read(fd, buf + got, sizeof(buf) - got);
                if (r <= 0)
                    break;
                got += (size_t)r;
            }
            n = (ssize_t)got;
        }
        if (write(fds[1], buf, n > 0 ? (size_t)n : 0) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    char buf[512];
    ssize_t n = read(fds[0], buf, sizeof(buf));
    close(fds[0]);
    waitpid(pid, NULL, 0);
    cr_assert_gt(n, 0, "nothing before the close");
    struct reply rep;
    char why[128];
    char *copy = malloc((size_t)n);
    memcpy(copy, buf, (size_t)n);
    cr_assert_eq(harness_parse_reply(copy, (size_t)n, &rep, why, sizeof(why)),
                 0, "%s", why);
    cr_assert_eq(rep.kind, 2, "a notification");
    cr_assert_str_eq(rep.method, "error");
    harness_assert_error(&rep, SQLITE_AUTH, "SQLITE_AUTH",
                         "access denied: uid 65534 (gid 65534) is in none of "
                         "allow-read, allow-write and allow-operator");
    reply_free(&rep);
}

/* Runs as any user: hello tells the client what it may do; with no
 * allow- list, everything. */
Test(access, hello_says_what_the_client_may_do)
{
    struct harness_raw c = {0};
    sqlited *db = harness_start_with_raw(&d, &c, NULL);
    struct reply rep;
    harness_pack_request(&c.b, 1, "hello", 0);
    harness_send_buf(c.fd, &c.b);
    harness_read_reply(&c.r, &rep);
    cr_assert_not(rep.is_error);
    cr_assert_not_null(memmem(rep.msg, rep.len,
                              "\xa6"
                              "access"
                              "\xa8"
                              "operator",
                              16),
                       "no access lists: everyone is an operator");
    reply_free(&rep);
    harness_cleanup_with_raw(&d, &db, &c);
}

Test(access, bad_lists_are_refused_at_start)
{
    const char *argv[32];
    struct harness_output o;
    daemon_argv(
        &d, (const char *const[]){"--allow-read", "user:nosuchuser-x", NULL},
        argv, 32);
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2, "exit %d: %s", o.status, o.err);
    cr_assert_str_eq(o.err, "sqlited: invalid value 'user:nosuchuser-x' for "
                            "--allow-read: 'user:nosuchuser-x': no such "
                            "user\n");
    harness_output_free(&o);
    daemon_argv(&d, (const char *const[]){"--allow-write", "1000", NULL}, argv,
                32);
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2, "exit %d: %s", o.status, o.err);
    cr_assert_str_eq(o.err, "sqlited: invalid value '1000' for --allow-write: "
                            "'1000': an entry is uid:N, gid:N, user:NAME or "
                            "group:NAME\n");
    harness_output_free(&o);
}
