/* libsqlited's read path at scale: large results streamed through cursors,
 * result limits, explain, and the daemon's connection limit, against a real
 * daemon. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

/* Each test starts its own daemon, most with a small --chunk-rows so that
 * a result of a few hundred rows spans several chunks. */
static void start(const char *const *extra_args)
{
    db = harness_start_connected(&d, extra_args);
}

static void start_chunked(const char *chunk_rows)
{
    start((const char *const[]){"--chunk-rows", chunk_rows, NULL});
}

static bool stopped; /* the daemon is SIGSTOPped: SIGCONT it at teardown */

static void teardown(void)
{
    if (stopped)
        daemon_signal(&d, SIGCONT);
    stopped = false;
    harness_cleanup_connected(&d, &db);
}

TestSuite(client_stream, .fini = teardown, .timeout = 60);

#define assert_ok(rc) HARNESS_ASSERT_OK(db, rc)

/* The integers 1 to N as column x. */
#define COUNT_TO(n)                                                            \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < " #n ") "

static void sleep_ms(int ms)
{
    poll(NULL, 0, ms);
}

static int64_t daemon_stat(const char *key)
{
    return harness_stat(&d, key);
}

/* Polls `stats` (bounded) until @key reads @want; returns the last value. */
static int64_t wait_stat(const char *key, int64_t want)
{
    int64_t deadline = harness_now_ms() + 2000, n;

    while ((n = daemon_stat(key)) != want && harness_now_ms() < deadline)
        sleep_ms(10);
    return n;
}

/* Reads @rows to its end, checking that row i (1-based) holds the integer
 * i in column 0. Returns the number of rows read. */
static uint64_t read_counting(sqlited_rows *rows)
{
    uint64_t n = 0;
    int rc;

    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        n++;
        cr_assert_eq(sqlited_column_int64(rows, 0), (int64_t)n,
                     "row %" PRIu64 " holds %" PRId64, n,
                     sqlited_column_int64(rows, 0));
    }
    cr_assert_eq(rc, SQLITED_DONE, "after %" PRIu64 " rows: %d %s: %s", n, rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    return n;
}

/* ------------------------------------------------------------ streaming */

/* A million rows through the default chunks: every row arrives, in order,
 * the rows object never holds more than one chunk, and neither the daemon
 * nor this client grows with the result (about 50 MB of rows). */
Test(client_stream, million_rows_in_bounded_memory)
{
    enum { N = 1000000, CHUNK = 1000, BOUND_KB = 16 * 1024 };
    char want[48];

    start(NULL);
    cr_assert_eq(harness_query_int(db, "SELECT 1"), 1);
    long daemon_before = harness_status_kb(d.pid, "VmHWM");
    long self_before = harness_rss_kb(getpid()), self_max = self_before;
    cr_assert_gt(daemon_before, 0);
    cr_assert_gt(self_before, 0);

    sqlited_rows *rows = harness_query(
        db, COUNT_TO(1000000) "SELECT x, printf('%040d', x) FROM c", NULL);
    cr_assert_eq(sqlited_rows_count(rows), CHUNK,
                 "the first chunk holds %" PRIu64 " rows",
                 sqlited_rows_count(rows));
    uint64_t n = 0;
    int rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        n++;
        if (sqlited_column_int64(rows, 0) != (int64_t)n)
            cr_assert_fail("row %" PRIu64 " holds %" PRId64, n,
                           sqlited_column_int64(rows, 0));
        snprintf(want, sizeof(want), "%040" PRIu64, n);
        const char *text = sqlited_column_text(rows, 1);
        if (!text || strcmp(text, want) != 0)
            cr_assert_fail("row %" PRIu64 " text %s", n, text ? text : "NULL");
        /* Received but not yet read: the rest of one chunk at most. */
        if (sqlited_rows_count(rows) - n >= CHUNK)
            cr_assert_fail("after %" PRIu64 " rows %" PRIu64 " are held", n,
                           sqlited_rows_count(rows));
        if (n % 50000 == 0) {
            long rss = harness_rss_kb(getpid());
            if (rss > self_max)
                self_max = rss;
        }
    }
    cr_assert_eq(rc, SQLITED_DONE, "after %" PRIu64 " rows: %d %s: %s", n, rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    cr_assert_eq(n, N);
    cr_assert_eq(sqlited_rows_count(rows), N);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);

    long daemon_after = harness_status_kb(d.pid, "VmHWM");
    if (!harness_measures_memory()) {
        daemon_after = daemon_before;
        self_max = self_before;
    }
    cr_assert_lt(daemon_after - daemon_before, BOUND_KB,
                 "the daemon's peak RSS grew from %ld to %ld KiB",
                 daemon_before, daemon_after);
    cr_assert_lt(self_max - self_before, BOUND_KB,
                 "the client's RSS grew from %ld to %ld KiB", self_before,
                 self_max);
}

/* A table of @n rows whose every column is of another type, derived from
 * id. */
static void fill_typed(int n)
{
    char sql[512];

    harness_exec(db, "CREATE TABLE IF NOT EXISTS v(id INTEGER PRIMARY KEY, "
                     "r REAL, t TEXT, b BLOB, z)");
    harness_exec(db, "DELETE FROM v");
    if (n == 0)
        return;
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
             "WHERE x < %d) INSERT INTO v SELECT x, x + 0.5, 'é' || x, "
             "CAST(printf('%%04d', x) AS BLOB) || x'00ff', NULL FROM c",
             n);
    harness_exec(db, sql);
}

/* Reads SELECT * FROM v to its end, checking every value of every row and,
 * after the first row, that @first rows had been received. */
static void check_typed(int n, uint64_t first)
{
    char text[32], blob[32];
    sqlited_rows *rows = harness_query(db, "SELECT * FROM v ORDER BY id", NULL);
    int i = 0, rc;

    cr_assert_eq(sqlited_rows_column_count(rows), 5);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 4), "z");
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        i++;
        if (i == 1)
            cr_assert_eq(sqlited_rows_count(rows), first,
                         "%" PRIu64 " rows in the first chunk",
                         sqlited_rows_count(rows));
        cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_INTEGER);
        cr_assert_eq(sqlited_column_int64(rows, 0), i);
        cr_assert_eq(sqlited_column_type(rows, 1), SQLITED_FLOAT);
        cr_assert_eq(sqlited_column_double(rows, 1), i + 0.5);
        snprintf(text, sizeof(text), "é%d", i);
        cr_assert_eq(sqlited_column_type(rows, 2), SQLITED_TEXT);
        cr_assert_str_eq(sqlited_column_text(rows, 2), text);
        int len = snprintf(blob, sizeof(blob), "%04d", i);
        memcpy(blob + len, "\x00\xff", 2);
        cr_assert_eq(sqlited_column_type(rows, 3), SQLITED_BLOB);
        cr_assert_eq(sqlited_column_bytes(rows, 3), (size_t)len + 2);
        cr_assert_eq(memcmp(sqlited_column_blob(rows, 3), blob, len + 2), 0);
        cr_assert_eq(sqlited_column_type(rows, 4), SQLITED_NULL);
    }
    cr_assert_eq(rc, SQLITED_DONE, "row %d: %d %s: %s", i, rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    cr_assert_eq(i, n);
    cr_assert_eq(sqlited_rows_count(rows), (uint64_t)n);
    sqlited_rows_close(rows);
}

/* With 100 rows a chunk: no rows, exactly one chunk (no cursor), one row
 * more (a second chunk of one row), and several chunks; every value of
 * every type arrives intact. */
Test(client_stream, chunk_boundaries)
{
    start_chunked("100");

    fill_typed(0);
    check_typed(0, 0);
    int64_t opened = daemon_stat("cursors_opened");
    fill_typed(100);
    check_typed(100, 100);
    cr_assert_eq(daemon_stat("cursors_opened"), opened,
                 "a result of exactly one chunk opened a cursor");
    fill_typed(101);
    check_typed(101, 100);
    cr_assert_eq(daemon_stat("cursors_opened"), opened + 1);
    fill_typed(1234);
    check_typed(1234, 100);
    cr_assert_eq(wait_stat("cursors_open", 0), 0);
}

/* Chunks cut by bytes rather than rows: a few rows of 300 bytes each. */
Test(client_stream, chunks_by_bytes)
{
    start((const char *const[]){"--chunk-bytes", "1000", NULL});
    sqlited_rows *rows = harness_query(
        db, COUNT_TO(50) "SELECT x, printf('%0300d', x) FROM c", NULL);
    cr_assert_lt(sqlited_rows_count(rows), 10, "%" PRIu64 " rows",
                 sqlited_rows_count(rows));
    cr_assert_eq(read_counting(rows), 50);
    cr_assert_eq(sqlited_rows_count(rows), 50);
    sqlited_rows_close(rows);
}

/* Other calls on the connection between two rows, and a second result
 * streaming at the same time: each goes on where it was. Writes committed
 * meanwhile are not seen by the result (one snapshot). */
Test(client_stream, interleaved_calls)
{
    start_chunked("10");
    harness_exec(db, "CREATE TABLE t(x INTEGER PRIMARY KEY)");
    harness_exec(db, COUNT_TO(100) "INSERT INTO t SELECT x FROM c");
    sqlited_rows *a = harness_query(db, "SELECT x FROM t ORDER BY x", NULL);
    sqlited_rows *b =
        harness_query(db, COUNT_TO(300) "SELECT x * 2 FROM c", NULL);
    sqlited_params *p = harness_params_new();
    int64_t n = 0;
    int rc;

    while ((rc = sqlited_rows_next(a)) == SQLITED_ROW) {
        n++;
        cr_assert_eq(sqlited_column_int64(a, 0), n);
        cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"),
                     100 + n - 1);
        sqlited_params_clear(p);
        sqlited_params_add_int64(p, NULL, 1000 + n);
        assert_ok(sqlited_exec(db, "INSERT INTO t VALUES (?)", p, NULL));
        for (int k = 1; k <= 3; k++) {
            cr_assert_eq(sqlited_rows_next(b), SQLITED_ROW);
            cr_assert_eq(sqlited_column_int64(b, 0), 2 * (3 * (n - 1) + k));
        }
    }
    cr_assert_eq(rc, SQLITED_DONE, "%d %s: %s", rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    cr_assert_eq(n, 100);
    cr_assert_eq(sqlited_rows_next(b), SQLITED_DONE);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 200);
    sqlited_params_close(p);
    sqlited_rows_close(a);
    sqlited_rows_close(b);
}

/* Closing a result before its end tells the daemon, which drops the
 * cursor at once (not after its idle timeout), and leaves the connection's
 * last error as it was. */
Test(client_stream, closing_early_closes_the_cursor)
{
    start_chunked("10");
    sqlited_rows *rows =
        harness_query(db, COUNT_TO(100) "SELECT x FROM c", NULL);
    for (int i = 0; i < 15; i++)
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(daemon_stat("cursors_open"), 1);
    sqlited_rows *bad = NULL;
    cr_assert_eq(sqlited_query(db, "SELEC 1", NULL, &bad), 1);

    sqlited_rows_close(rows);
    cr_assert_eq(sqlited_errcode(db), 1);
    cr_assert(strstr(sqlited_errmsg(db), "syntax error"), "%s",
              sqlited_errmsg(db));
    cr_assert_eq(wait_stat("cursors_open", 0), 0,
                 "the cursor is still open after sqlited_rows_close()");
    cr_assert_eq(daemon_stat("cursors_expired"), 0);
    cr_assert_eq(harness_query_int(db, "SELECT 7"), 7);
}

/* A cursor left without a fetch past --cursor-idle-timeout is closed by
 * the daemon while the application holds a chunk. The next chunk was
 * fetched ahead when the first came, so its rows still arrive, and the
 * fetch sent when they do fails: the error comes at the row after them,
 * for good, and the connection stays usable. */
Test(client_stream, idle_cursor_expires)
{
    start((const char *const[]){"--chunk-rows", "10", "--cursor-idle-timeout",
                                "200", NULL});
    sqlited_rows *rows =
        harness_query(db, COUNT_TO(100) "SELECT x FROM c", NULL);
    for (int i = 1; i <= 5; i++) {
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
        cr_assert_eq(sqlited_column_int64(rows, 0), i);
    }
    cr_assert_eq(wait_stat("cursors_expired", 1), 1,
                 "the daemon did not expire the idle cursor");
    for (int i = 6; i <= 20; i++) {
        int rc = sqlited_rows_next(rows);
        cr_assert_eq(rc, SQLITED_ROW, "row %d: %d %s: %s", i, rc,
                     sqlited_codename(rc), sqlited_errmsg(db));
        cr_assert_eq(sqlited_column_int64(rows, 0), i);
    }
    int rc = sqlited_rows_next(rows);
    cr_assert_eq(rc, SQLITED_CURSOR_EXPIRED, "rc %d %s", rc,
                 sqlited_codename(rc));
    cr_assert_eq(sqlited_errcode(db), SQLITED_CURSOR_EXPIRED);
    cr_assert_str_eq(sqlited_errname(db), "SQLITED_CURSOR_EXPIRED");
    cr_assert(strstr(sqlited_errmsg(db), "no fetch came for 200 ms"), "%s",
              sqlited_errmsg(db));
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_CURSOR_EXPIRED);
    cr_assert_eq(sqlited_rows_count(rows), 20);
    sqlited_rows_close(rows);
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT 8"), 8);
}

/* A result abandoned half-way, with the fetch ahead in flight or
 * answered, among pipelined requests and other calls: closing it takes the
 * fetch's answer and closes the cursor, and every other answer goes to its
 * own request. */
Test(client_stream, abandoned_mid_way_then_other_requests)
{
    start_chunked("10");
    for (int round = 0; round < 20; round++) {
        uint32_t id = 0, got = 0;
        sqlited_rows *rows = NULL, *piped = NULL;

        rows = harness_query(db, COUNT_TO(100) "SELECT x FROM c", NULL);
        for (int i = 1; i <= 3 + round; i++)
            cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
        assert_ok(sqlited_send_query(db, "SELECT 41 + 1", NULL, &id));
        if (round % 2)
            cr_assert_eq(harness_query_int(db, "SELECT 5"), 5);
        sqlited_rows_close(rows);
        cr_assert_eq(sqlited_errcode(db), 0, "%s", sqlited_errmsg(db));
        cr_assert_eq(harness_query_int(db, "SELECT 6"), 6);
        assert_ok(sqlited_receive(db, id, &got, &piped));
        cr_assert_eq(got, id);
        cr_assert_eq(sqlited_rows_next(piped), SQLITED_ROW);
        cr_assert_eq(sqlited_column_int64(piped, 0), 42);
        sqlited_rows_close(piped);
        cr_assert_eq(sqlited_pending(db), 0);
    }
    cr_assert_eq(wait_stat("cursors_open", 0), 0,
                 "a cursor is still open after sqlited_rows_close()");
    cr_assert_eq(daemon_stat("cursors_expired"), 0);
    cr_assert_eq(sqlited_ping(db), 0);
}

/* With an I/O timeout, a stream whose daemon stops fails at a chunk's
 * boundary with -ETIMEDOUT, however far its fetch ahead had got: every row
 * received before is read first, and the connection is then broken. */
Test(client_stream, io_timeout_while_fetching_ahead)
{
    start_chunked("10");
    assert_ok(sqlited_set_io_timeout(db, 500));
    sqlited_rows *rows =
        harness_query(db, COUNT_TO(100) "SELECT x FROM c", NULL);
    daemon_signal(&d, SIGSTOP);
    stopped = true;

    int n = 0, rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW)
        cr_assert_eq(sqlited_column_int64(rows, 0), ++n);
    cr_assert_eq(rc, -ETIMEDOUT, "after %d rows: %d %s: %s", n, rc,
                 sqlited_codename(rc), sqlited_errmsg(db));
    cr_assert(n == 10 || n == 20, "the stream failed after %d rows", n);
    cr_assert_str_eq(sqlited_errmsg(db),
                     "timed out waiting for the daemon's reply");
    cr_assert_eq(sqlited_rows_next(rows), -ETIMEDOUT);
    cr_assert_eq(sqlited_ping(db), SQLITED_ECLOSED, "the connection is gone");
    sqlited_rows_close(rows);
    daemon_signal(&d, SIGCONT);
    stopped = false;
    sqlited_close(db);
    db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT 9"), 9);
}

/* ---------------------------------------------------- closing the source */

/* sqlited_close() with results still streaming: they keep the rows they
 * received, then fail with SQLITED_ECLOSED, and can still be closed. */
Test(client_stream, close_connection_while_streaming)
{
    start_chunked("10");
    sqlited *other = harness_connect(&d);
    sqlited_rows *a = NULL, *b = NULL;
    cr_assert_eq(
        sqlited_query(other, COUNT_TO(100) "SELECT x FROM c", NULL, &a), 0);
    cr_assert_eq(
        sqlited_query(other, COUNT_TO(100) "SELECT x FROM c", NULL, &b), 0);
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(sqlited_rows_next(a), SQLITED_ROW);
    cr_assert_eq(daemon_stat("cursors_open"), 2);

    sqlited_close(other);
    for (int i = 4; i <= 10; i++) {
        cr_assert_eq(sqlited_rows_next(a), SQLITED_ROW);
        cr_assert_eq(sqlited_column_int64(a, 0), i);
    }
    cr_assert_eq(sqlited_rows_next(a), SQLITED_ECLOSED);
    cr_assert_eq(sqlited_rows_next(a), SQLITED_ECLOSED);
    cr_assert_eq(sqlited_column_type(a, 0), SQLITED_NULL);
    sqlited_rows_close(a);
    int n = 0, rc;
    while ((rc = sqlited_rows_next(b)) == SQLITED_ROW)
        cr_assert_eq(sqlited_column_int64(b, 0), ++n);
    cr_assert_eq(rc, SQLITED_ECLOSED);
    cr_assert_eq(n, 10);
    sqlited_rows_close(b);
    /* The daemon ended the cursors with their connection. */
    cr_assert_eq(wait_stat("cursors_open", 0), 0);
}

/* ------------------------------------------------------ connection limit */

/* At --max-connections the daemon refuses a connection with an error
 * notification: sqlited_open() returns its code. The slot is free again
 * once a connection closes. */
Test(client_stream, too_many_connections)
{
    start((const char *const[]){"--max-connections", "1", NULL});
    sqlited *second = NULL;

    int rc = sqlited_open(d.sock_path, HARNESS_IO_TIMEOUT_MS, &second);
    cr_assert_eq(rc, SQLITED_TOO_MANY_CONNECTIONS, "rc %d %s", rc,
                 sqlited_codename(rc));
    cr_assert_null(second);
    cr_assert_str_eq(sqlited_codename(rc), "SQLITED_TOO_MANY_CONNECTIONS");
    cr_assert_eq(sqlited_ping(db), 0);

    sqlited_close(db);
    db = NULL;
    int64_t deadline = harness_now_ms() + 5000;
    do {
        rc = sqlited_open(d.sock_path, HARNESS_IO_TIMEOUT_MS, &db);
        if (rc == SQLITED_TOO_MANY_CONNECTIONS)
            sleep_ms(10);
    } while (rc == SQLITED_TOO_MANY_CONNECTIONS && harness_now_ms() < deadline);
    cr_assert_eq(rc, 0, "rc %d %s", rc, sqlited_codename(rc));
    cr_assert_eq(harness_query_int(db, "SELECT 9"), 9);
}

/* ---------------------------------------------------------- result limits */

Test(client_stream, max_rows)
{
    start_chunked("10");
    sqlited_rows *rows = NULL;

    assert_ok(sqlited_set_result_limits(db, 50, 0));
    /* Exactly at the bound: fine. */
    rows = harness_query(db, COUNT_TO(50) "SELECT x FROM c", NULL);
    cr_assert_eq(read_counting(rows), 50);
    sqlited_rows_close(rows);

    /* Over it in a later chunk: the rows before that chunk arrive. */
    rows = harness_query(db, COUNT_TO(100) "SELECT x FROM c", NULL);
    int n = 0, rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW)
        cr_assert_eq(sqlited_column_int64(rows, 0), ++n);
    cr_assert_eq(rc, SQLITED_TOO_LARGE, "rc %d after %d rows", rc, n);
    cr_assert_eq(n, 50);
    cr_assert_eq(sqlited_errcode(db), SQLITED_TOO_LARGE);
    cr_assert(strstr(sqlited_errmsg(db), "max_rows"), "%s", sqlited_errmsg(db));
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_TOO_LARGE);
    sqlited_rows_close(rows);

    /* Over it in the first chunk: the query itself fails. */
    assert_ok(sqlited_set_result_limits(db, 5, 0));
    cr_assert_eq(
        sqlited_query(db, COUNT_TO(100) "SELECT x FROM c", NULL, &rows),
        SQLITED_TOO_LARGE);
    cr_assert_null(rows);

    /* exec is not bounded (the daemon refuses the option there). */
    assert_ok(sqlited_exec(db, COUNT_TO(100) "SELECT x FROM c", NULL, &rows));
    cr_assert_eq(read_counting(rows), 100);
    sqlited_rows_close(rows);

    /* 0 lifts the bound again. */
    assert_ok(sqlited_set_result_limits(db, 0, 0));
    rows = harness_query(db, COUNT_TO(100) "SELECT x FROM c", NULL);
    cr_assert_eq(read_counting(rows), 100);
    sqlited_rows_close(rows);
    cr_assert_eq(wait_stat("cursors_open", 0), 0);
}

Test(client_stream, max_bytes)
{
    start_chunked("10");
    sqlited_rows *rows = NULL;

    /* Rows of about 40 bytes, chunks of about 400. */
    assert_ok(sqlited_set_result_limits(db, 0, 2000));
    rows = harness_query(
        db, COUNT_TO(100) "SELECT x, printf('%035d', x) FROM c", NULL);
    int n = 0, rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW)
        cr_assert_eq(sqlited_column_int64(rows, 0), ++n);
    cr_assert_eq(rc, SQLITED_TOO_LARGE, "rc %d after %d rows", rc, n);
    cr_assert(n >= 10 && n < 100 && n % 10 == 0, "%d rows", n);
    cr_assert(strstr(sqlited_errmsg(db), "max_bytes"), "%s",
              sqlited_errmsg(db));
    sqlited_rows_close(rows);

    assert_ok(sqlited_set_result_limits(db, 0, 100));
    cr_assert_eq(sqlited_query(db,
                               COUNT_TO(100) "SELECT x, printf('%035d', "
                                             "x) FROM c",
                               NULL, &rows),
                 SQLITED_TOO_LARGE);
    cr_assert_null(rows);

    cr_assert_eq(sqlited_set_result_limits(db, (uint64_t)INT64_MAX + 1, 0),
                 SQLITED_EMISUSE);
    cr_assert_eq(sqlited_set_result_limits(NULL, 1, 1), SQLITED_EMISUSE);
    /* The refused setting left the bound of 100 bytes in place. */
    cr_assert_eq(sqlited_query(db, "SELECT printf('%0200d', 1)", NULL, &rows),
                 SQLITED_TOO_LARGE);
}

/* ------------------------------------------------------------------ explain */

Test(client_stream, explain_names_the_index)
{
    start(NULL);
    harness_exec(db, "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT);"
                     "CREATE INDEX users_email ON users(email)");
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_params_add_text(p, NULL, "ada@example.org", -1), 0);
    /* No option is sent with explain, whatever the connection has set. */
    assert_ok(sqlited_set_timeout(db, 5000));
    assert_ok(sqlited_set_result_limits(db, 10, 1000));

    for (int with_params = 0; with_params <= 1; with_params++) {
        assert_ok(sqlited_explain(db, "SELECT id FROM users WHERE email = ?",
                                  with_params ? p : NULL, &rows));
        cr_assert_eq(sqlited_rows_column_count(rows), 3);
        cr_assert_str_eq(sqlited_rows_column_name(rows, 0), "id");
        cr_assert_str_eq(sqlited_rows_column_name(rows, 1), "parent");
        cr_assert_str_eq(sqlited_rows_column_name(rows, 2), "detail");
        bool found = false;
        while (sqlited_rows_next(rows) == SQLITED_ROW) {
            cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_INTEGER);
            cr_assert_eq(sqlited_column_type(rows, 1), SQLITED_INTEGER);
            const char *detail = sqlited_column_text(rows, 2);
            cr_assert_not_null(detail);
            if (strstr(detail, "SEARCH") && strstr(detail, "users_email"))
                found = true;
        }
        cr_assert(found, "no plan row searches users_email");
        sqlited_rows_close(rows);
    }
    /* The statement did not run. */
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM users"), 0);

    cr_assert_eq(sqlited_explain(db, "SELECT 1; SELECT 2", NULL, &rows),
                 SQLITED_BAD_REQUEST);
    cr_assert_null(rows);
    cr_assert_eq(sqlited_explain(db, "SELECT * FROM nowhere", NULL, &rows),
                 1 /* SQLITE_ERROR */);
    cr_assert(strstr(sqlited_errmsg(db), "nowhere"), "%s", sqlited_errmsg(db));
    cr_assert_eq(sqlited_explain(db, "SELECT 1", NULL, NULL), SQLITED_EMISUSE);
    sqlited_params_close(p);
}

/* ---------------------------------------------------------------- the CLI */

/* Runs sqlited-cli on the daemon with --mode @mode and @sql. */
static void cli(struct harness_output *o, const char *mode, const char *sql)
{
    const char *argv[] = {SQLITED_CLI, "-s", d.sock_path, "--mode",
                          mode,        sql,  NULL};
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, o);
    cr_assert_eq(o->status, 0, "--mode %s: status %d, stderr: %s", mode,
                 o->status, o->err);
    cr_assert_str_empty(o->err);
}

/* Counts the lines of @s. */
static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The CLI prints every row of a result that spans many chunks, and that
 * the daemon could not send in one message (over --max-message-size). */
Test(client_stream, cli_prints_every_chunk)
{
    enum { N = 2500 };
#define CLI_SQL COUNT_TO(2500) "SELECT x, printf('%050d', x) AS v FROM c"
    struct harness_output o;
    char line[128];

    start((const char *const[]){"--chunk-rows", "100", "--max-message-size",
                                "65536", NULL});
    cli(&o, "list", CLI_SQL);
    const char *p = o.out;
    for (int i = 1; i <= N; i++) {
        int len = snprintf(line, sizeof(line), "%d|%050d\n", i, i);
        cr_assert(strncmp(p, line, (size_t)len) == 0, "line %d: %.60s", i, p);
        p += len;
    }
    cr_assert_str_empty(p);
    harness_output_free(&o);

    /* Table mode lays out all rows, the widest (the last) included. */
    cli(&o, "table", CLI_SQL);
    cr_assert_eq(count_lines(o.out), N + 4, "%zu lines", count_lines(o.out));
    snprintf(line, sizeof(line), "| 1    | %050d |\n", 1);
    cr_assert(strstr(o.out, line), "no first row in %.300s", o.out);
    snprintf(line, sizeof(line), "| %d | %050d |\n", N, N);
    cr_assert(strstr(o.out, line), "no last row");
    harness_output_free(&o);
#undef CLI_SQL

    /* Scripts still run (through exec). */
    cli(&o, "list",
        "CREATE TABLE s(x); INSERT INTO s VALUES (1), (2); SELECT sum(x) FROM "
        "s");
    cr_assert_str_eq(o.out, "3\n");
    harness_output_free(&o);
}
