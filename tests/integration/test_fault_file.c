/* The database's files deleted, replaced or made unwritable underneath the
 * daemon: the documented error, nothing acknowledged lost, and writes again
 * without a restart once the file is back (README, "When the database file
 * goes away"). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;
static struct harness_raw raw;
static bool immutable; /* chattr +i was set: undo it before cleaning up */

static void setup(void)
{
    db = harness_start_with_raw(&d, &raw, NULL);
    harness_exec(db, "CREATE TABLE t(x INTEGER PRIMARY KEY)");
}

static void chattr(const char *flag)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "chattr %s %s %s-wal 2>/dev/null", flag,
             d.db_path, d.db_path);
    immutable = system(cmd) == 0 && strcmp(flag, "+i") == 0;
}

static void teardown(void)
{
    if (immutable)
        chattr("-i");
    harness_cleanup_with_raw(&d, &db, &raw);
}

TestSuite(fault_file, .init = setup, .fini = teardown, .timeout = 60);

/* Stops the daemon (@kill: with SIGKILL), starts it again on the same
 * files, and reconnects db. */
static void restart(bool kill)
{
    if (kill)
        daemon_kill(&d);
    sqlited_close(db);
    db = NULL;
    if (!kill)
        cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, NULL);
    db = harness_connect(&d);
}

static void path_in_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", d.dir, name);
}

/* Inserts x = @from .. @to, each acknowledged on its own. */
static void insert_rows(int from, int to)
{
    for (int x = from; x <= to; x++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d)", x);
        harness_exec(db, sql);
    }
}

/* Rows with x in [@from, @to], counted by @conn. */
static int64_t count_rows(sqlited *conn, int from, int to)
{
    char sql[96];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM t WHERE x BETWEEN %d AND %d", from, to);
    return harness_query_int(conn, sql);
}

/* An insert of @x over the raw connection fails with @code and @name, and
 * a message holding @text. */
static void insert_fails(int x, int64_t code, const char *name,
                         const char *text)
{
    char sql[64];
    struct reply rep;
    snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d)", x);
    harness_raw_sql(&raw, "exec", sql, NULL, &rep);
    harness_assert_error(&rep, code, name, text);
    reply_free(&rep);
}

/* The health verdict is @status, with a reason that holds @text. */
static void assert_health(int status, const char *text)
{
    int got = -1;
    HARNESS_ASSERT_OK(db, sqlited_health(db, 0, 0, &got, NULL));
    cr_assert_eq(got, status, "health %d: %s", got, sqlited_health_reason(db));
    cr_assert_not_null(strstr(sqlited_health_reason(db), text), "reason: %s",
                       sqlited_health_reason(db));
}

static void insert_gone(int x, const char *text)
{
    insert_fails(x, SQLITED_DATABASE_GONE, "SQLITED_DATABASE_GONE", text);
}

static char *wait_log(const char *text)
{
    return daemon_wait_log(&d, text);
}

/* A SQLite database at @path with a table other holding one row, in
 * rollback-journal mode: one file. */
static void make_other_db(const char *path)
{
    sqlite3 *o;
    cr_assert_eq(sqlite3_open(path, &o), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(o,
                              "CREATE TABLE other(y); "
                              "INSERT INTO other VALUES ('new')",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(o));
    sqlite3_close(o);
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(in, 0, "%s: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(out, 0, "%s: %s", to, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        cr_assert_eq(write(out, buf, (size_t)n), n);
    cr_assert_eq(n, 0);
    close(in);
    close(out);
}

/* The database deleted: writes are refused, reads go on, and every row
 * acknowledged before is in the deleted file, which the log says how to
 * copy out. */
Test(fault_file, deleted)
{
    insert_rows(1, 10);
    cr_assert_eq(unlink(d.db_path), 0);
    /* The first write may run before the check notices, but it is not
     * acknowledged; the next is refused before it runs. */
    insert_gone(11, "was deleted or moved away while the daemon had it open");
    insert_gone(12, "nothing of this request was applied");
    cr_assert_eq(count_rows(db, 1, 10), 10);

    char *log = wait_log("cp /proc/");
    int pid, fd;
    cr_assert_eq(sscanf(log, "cp /proc/%d/fd/%d", &pid, &fd), 2, "%s", log);
    free(log);
    cr_assert_eq(pid, d.pid);
    char proc[64], saved[256];
    snprintf(proc, sizeof(proc), "/proc/%d/fd/%d", pid, fd);
    path_in_dir(saved, sizeof(saved), "saved.db");
    copy_file(proc, saved);
    sqlite3 *s;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(saved, &s, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(
        sqlite3_prepare_v2(s, "SELECT count(*) FROM t WHERE x BETWEEN 1 AND 10",
                           -1, &st, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(s));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int(st, 0), 10);
    sqlite3_finalize(st);
    sqlite3_close(s);
}

/* Moved away and back: refused meanwhile, accepted again without a restart,
 * and every acknowledged row is there after one. */
Test(fault_file, moved_away_and_back)
{
    char away[256];
    path_in_dir(away, sizeof(away), "away.db");
    insert_rows(1, 10);
    cr_assert_eq(rename(d.db_path, away), 0);
    insert_gone(11, "was deleted or moved away");
    insert_gone(12, "writes are refused until it is back at that path");
    assert_health(SQLITED_HEALTH_FAILING, "was deleted or moved away");
    cr_assert_eq(rename(away, d.db_path), 0);
    insert_rows(13, 20);
    assert_health(SQLITED_HEALTH_OK, "ready");
    restart(false);
    cr_assert_eq(count_rows(db, 1, 10), 10);
    cr_assert_eq(count_rows(db, 13, 20), 8);
    char *log = wait_log("are in place again: writes are accepted again");
    free(log);
}

/* Replaced by another database: refused, and accepted again once the
 * daemon's file is back. */
Test(fault_file, replaced_and_back)
{
    char keep[256], other[256];
    path_in_dir(keep, sizeof(keep), "keep.db");
    path_in_dir(other, sizeof(other), "other.db");
    insert_rows(1, 10);
    cr_assert_eq(link(d.db_path, keep), 0);
    make_other_db(other);
    cr_assert_eq(rename(other, d.db_path), 0);
    insert_gone(11, "was replaced while the daemon had it open");
    insert_gone(12, "nothing of this request was applied");
    cr_assert_eq(rename(keep, d.db_path), 0);
    insert_rows(13, 20);
    restart(false);
    cr_assert_eq(count_rows(db, 1, 10), 10);
    cr_assert_eq(count_rows(db, 13, 20), 8);
}

/* Replaced, and then the daemon is killed: the new file must not meet the
 * old WAL at the next start (its frames would be applied to the wrong
 * database), so the daemon emptied its WAL into its own file first. */
Test(fault_file, replaced_then_killed)
{
    char other[256];
    path_in_dir(other, sizeof(other), "other.db");
    insert_rows(1, 10);
    make_other_db(other);
    cr_assert_eq(rename(other, d.db_path), 0);
    insert_gone(11, "was replaced");
    free(wait_log("its WAL is folded in and empty"));
    restart(true);
    sqlited_rows *rows = harness_query(db, "PRAGMA integrity_check", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 0), "ok");
    sqlited_rows_close(rows);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM other"), 1);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM sqlite_schema "
                                       "WHERE name = 't'"),
                 0);
}

/* The WAL deleted: writes are refused, and the rows acknowledged before,
 * which were in the deleted WAL, are folded into the database file, so
 * they survive even a kill. */
Test(fault_file, wal_deleted)
{
    char wal[256];
    snprintf(wal, sizeof(wal), "%s-wal", d.db_path);
    insert_rows(1, 10);
    cr_assert_eq(unlink(wal), 0);
    insert_gone(11, "the WAL file");
    /* The database file itself is fine: only the writer's watch knows. */
    char why[400];
    snprintf(why, sizeof(why),
             "the WAL file %s was deleted or moved away while the daemon had "
             "it open",
             wal);
    assert_health(SQLITED_HEALTH_FAILING, why);
    free(wait_log("its WAL is folded in and empty"));
    restart(true);
    cr_assert_eq(count_rows(db, 1, 10), 10);
}

/* Lines of the daemon's log that hold @text. */
static int log_lines(const char *text)
{
    char *log = daemon_log(&d);
    int n = 0;
    for (char *p = log; (p = strstr(p, text)) != NULL; p += strlen(text))
        n++;
    free(log);
    return n;
}

/* Made unwritable underneath (chattr +i: a mode of 0444 stops nobody who
 * has the file open already, root least of all): writes fail with the I/O
 * error, reads go on, and writes work again once it is writable. */
Test(fault_file, immutable)
{
    insert_rows(1, 10);
    chattr("+i");
    if (!immutable)
        cr_skip_test("chattr +i is not possible here (needs root and a "
                     "filesystem with the immutable flag)");
    insert_fails(11, SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE",
                 "COMMIT failed on an I/O error, so this request and the "
                 "others committed with it are not acknowledged");
    insert_fails(12, SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE",
                 "disk I/O error");
    cr_assert_eq(count_rows(db, 1, 10), 10);
    chattr("-i");
    insert_rows(13, 20);
    restart(false);
    cr_assert_eq(count_rows(db, 1, 10), 10);
    cr_assert_eq(count_rows(db, 13, 20), 8);
    cr_assert_eq(count_rows(db, 11, 12), 0);
}

/* I/O errors are logged when they happen, with the extended code and the
 * path, at most once a second: a burst is one line, and the next line says
 * how many were left out. */
Test(fault_file, io_errors_logged)
{
    insert_rows(1, 10);
    chattr("+i");
    if (!immutable)
        cr_skip_test("chattr +i is not possible here (needs root and a "
                     "filesystem with the immutable flag)");
    char line[256];
    snprintf(line, sizeof(line),
             "error: I/O error on %s (SQLITE_IOERR_WRITE, 778)", d.db_path);
    int64_t start = harness_now_ms();
    for (int x = 11; x <= 30; x++)
        insert_fails(x, SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE",
                     "disk I/O error");
    int64_t seconds = (harness_now_ms() - start) / 1000;
    free(wait_log(line));
    cr_assert_leq(log_lines(line), 1 + seconds, "%d lines in %lld s",
                  log_lines(line), (long long)seconds);
    /* The next error, more than a second later, is logged with the count of
     * those left out (each failed COMMIT is one report). */
    harness_sleep_ms(1100);
    insert_fails(31, SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE",
                 "disk I/O error");
    free(wait_log("more reports of this kind since the last, not logged)"));
    chattr("-i");
    insert_rows(32, 32);
}

/* An interactive transaction: its COMMIT, when the file went meanwhile, is
 * answered with the error (it went into the file the daemon has open, which
 * the path no longer names), a new one cannot begin, and once the file is
 * back both work again. */
Test(fault_file, transaction_commit_and_begin)
{
    char away[256];
    path_in_dir(away, sizeof(away), "away.db");
    insert_rows(1, 10);
    int64_t tx = harness_raw_begin(&raw, NULL);
    harness_raw_exec(&raw, "INSERT INTO t VALUES (11)",
                     &(struct harness_options){.tx = tx});
    cr_assert_eq(rename(d.db_path, away), 0);
    struct reply rep;
    harness_raw_tx_end(&raw, "commit", tx, &rep);
    harness_assert_error(&rep, SQLITED_DATABASE_GONE, "SQLITED_DATABASE_GONE",
                         "so it is not acknowledged");
    reply_free(&rep);
    harness_pack_begin(&raw.b, 77, NULL);
    harness_raw_call(&raw, 77, &rep);
    harness_assert_error(&rep, SQLITED_DATABASE_GONE, "SQLITED_DATABASE_GONE",
                         "nothing of this request was applied");
    reply_free(&rep);
    cr_assert_eq(rename(away, d.db_path), 0);
    tx = harness_raw_begin(&raw, NULL);
    harness_raw_exec(&raw, "INSERT INTO t VALUES (12)",
                     &(struct harness_options){.tx = tx});
    harness_raw_end_ok(&raw, "commit", tx);
    restart(false);
    cr_assert_eq(count_rows(db, 1, 10), 10);
    cr_assert_eq(count_rows(db, 12, 12), 1);
}
