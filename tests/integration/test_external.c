/* The database file shared with other processes (a backup tool, the sqlite3
 * shell): busy handling and visibility of their writes. The test process
 * itself plays the other process, through SQLite directly. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;
static sqlite3 *ext;

static void setup(void)
{
    db = harness_start_connected(
        &d, (const char *const[]){"--timeout", "200", NULL});
    harness_exec(db, "CREATE TABLE t(x INTEGER)");
    cr_assert_eq(sqlite3_open_v2(d.db_path, &ext, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    sqlite3_extended_result_codes(ext, 1);
}

static void teardown(void)
{
    sqlite3_close(ext);
    ext = NULL;
    harness_cleanup_connected(&d, &db);
}

TestSuite(external, .init = setup, .fini = teardown, .timeout = 60);

static void ext_exec(const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(ext, sql, NULL, NULL, &err);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err ? err : "");
    sqlite3_free(err);
}

/* Another process holds the write lock longer than the request deadline: the
 * write fails with a clear SQLITE_BUSY, applies nothing, and works once the
 * lock is gone. */
Test(external, write_lock_held_elsewhere)
{
    ext_exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (100)");
    int rc = sqlited_exec(db, "INSERT INTO t VALUES (1)", NULL, NULL);
    cr_assert_eq(rc & 0xff, SQLITE_BUSY, "rc %d %s: %s", rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    cr_assert_not_null(strstr(sqlited_errname(db), "SQLITE_BUSY"), "%s",
                       sqlited_errname(db));
    cr_assert_not_null(strstr(sqlited_errmsg(db), "locked"), "%s",
                       sqlited_errmsg(db));
    /* Reads go on meanwhile (WAL), and see neither write. */
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    ext_exec("COMMIT");
    harness_exec(db, "INSERT INTO t VALUES (1)");
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 101);
}

/* A write lock held elsewhere for less than the request deadline is waited
 * for. */
Test(external, short_lock_is_waited_for)
{
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--timeout", "20000", NULL});
    db = harness_connect(&d);
    ext_exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (100)");
    /* Send the write raw, so the lock can be released while it waits. */
    int fd = harness_raw_connect(&d);
    struct harness_reader r;
    struct codec_buf b;
    harness_reader_init(&r, fd);
    codec_buf_init(&b, 0);
    harness_pack_sql(&b, 1, "exec", "INSERT INTO t VALUES (1)");
    harness_send_buf(fd, &b);
    char *msg = NULL;
    size_t len;
    /* Nothing comes back while the lock is held... */
    cr_assert_eq(harness_read_message(&r, 300, &msg, &len), -ETIMEDOUT);
    ext_exec("COMMIT");
    /* ...and the write succeeds once it is gone. */
    struct reply rep;
    harness_read_reply(&r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 101);
    codec_buf_close(&b);
    harness_reader_close(&r);
    close(fd);
}

/* What another process commits, the daemon's readers see. */
Test(external, external_writes_are_visible)
{
    ext_exec("INSERT INTO t VALUES (5), (6)");
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 11);
    harness_exec(db, "INSERT INTO t VALUES (7)");
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(ext, "SELECT sum(x) FROM t", -1, &st, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(st, 0), 18);
    sqlite3_finalize(st);
}
