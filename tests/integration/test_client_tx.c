/* libsqlited's write path: deadlines, interactive transactions, batches and
 * bulk inserts, against a real daemon. */
#include <criterion/criterion.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

/* Each test starts its own daemon, some with flags of their own. */
static void start(const char *const *extra_args)
{
    db = harness_start_connected(&d, extra_args);
}

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(client_tx, .fini = teardown, .timeout = 60);

#define assert_ok(rc) HARNESS_ASSERT_OK(db, rc)

#define assert_error(got, code, text) HARNESS_ASSERT_ERROR(db, got, code, text)

/* Many seconds of work for the daemon, far beyond the deadlines below: the
 * count of 30 million generated rows. */
#define SLOW_CTE                                                               \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < 30000000) SELECT count(*) FROM c"

static const char *const unique_table =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT UNIQUE)";

/* A second client, for what other connections see. */
static int64_t count_from_other(const char *sql)
{
    sqlited *other = harness_connect(&d);
    int64_t n = harness_query_int(other, sql);
    sqlited_close(other);
    return n;
}

static int64_t daemon_stat(const char *key)
{
    return harness_stat(&d, key);
}

/* ---------------------------------------------------------------- deadlines */

Test(client_tx, set_timeout_validates)
{
    start(NULL);
    cr_assert_eq(sqlited_set_timeout(NULL, 100), SQLITED_EMISUSE);
    assert_error(sqlited_set_timeout(db, -2), SQLITED_EMISUSE, "-2");
    assert_error(sqlited_set_timeout(db, 86400001), SQLITED_EMISUSE,
                 "86400001");
    assert_error(sqlited_set_timeout(db, INT_MIN), SQLITED_EMISUSE, "timeout");

    /* The bounds themselves are accepted, by the library and by the daemon
     * the option then goes to. */
    assert_ok(sqlited_set_timeout(db, 86400000));
    cr_assert_eq(harness_query_int(db, "SELECT 7"), 7);
    assert_ok(sqlited_set_timeout(db, 0));
    cr_assert_eq(harness_query_int(db, "SELECT 8"), 8);
    assert_ok(sqlited_set_timeout(db, -1));
    cr_assert_eq(harness_query_int(db, "SELECT 9"), 9);
}

Test(client_tx, timeout_stops_a_slow_query)
{
    sqlited_rows *rows = (sqlited_rows *)&rows;

    start(NULL);
    assert_ok(sqlited_set_timeout(db, 200));
    assert_error(sqlited_query(db, SLOW_CTE, NULL, &rows), SQLITED_TIMEOUT, "");
    cr_assert_null(rows);

    /* The connection goes on, still with the deadline for quick work. */
    cr_assert_eq(harness_query_int(db, "SELECT 1"), 1);
    cr_assert_eq(sqlited_ping(db), 0);
}

Test(client_tx, timeout_stops_a_slow_write_and_applies_nothing)
{
    start(NULL);
    harness_exec(db, "CREATE TABLE t(n INTEGER)");
    assert_ok(sqlited_set_timeout(db, 200));
    assert_error(sqlited_exec(db, "INSERT INTO t(n) " SLOW_CTE, NULL, NULL),
                 SQLITED_TIMEOUT, "");
    assert_ok(sqlited_set_timeout(db, -1));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    harness_exec(db, "INSERT INTO t(n) VALUES (1)");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
}

/* ------------------------------------------------------------ transactions */

Test(client_tx, commit_makes_rows_visible)
{
    start(NULL);
    harness_exec(db, unique_table);
    cr_assert_eq(sqlited_tx_id(db), 0);
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    cr_assert_gt(sqlited_tx_id(db), 0);
    harness_exec(db, "INSERT INTO t(v) VALUES ('a'), ('b')");
    cr_assert_eq(sqlited_changes(db), 2);
    assert_ok(sqlited_commit(db));
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 2);
}

Test(client_tx, rollback_discards)
{
    start(NULL);
    harness_exec(db, unique_table);
    harness_exec(db, "INSERT INTO t(v) VALUES ('kept')");
    assert_ok(sqlited_begin(db, SQLITED_TX_IMMEDIATE));
    harness_exec(db, "INSERT INTO t(v) VALUES ('gone')");
    harness_exec(db, "DELETE FROM t WHERE v = 'kept'");
    assert_ok(sqlited_rollback(db));
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t "
                                       "WHERE v = 'kept'"),
                 1);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
}

/* Reads inside the transaction (sqlited_query, which goes to a reader
 * otherwise) see its writes; other connections see them after commit. A
 * deadline is set too, so the requests carry both options. */
Test(client_tx, own_writes_visible_inside_only)
{
    start(NULL);
    harness_exec(db, unique_table);
    assert_ok(sqlited_set_timeout(db, 10000));
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    harness_exec(db, "INSERT INTO t(v) VALUES ('new')");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 0);
    assert_ok(sqlited_commit(db));
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 1);
}

/* A request that fails inside a transaction is rolled back alone; batches
 * and bulk inserts join the transaction like exec does. */
Test(client_tx, batch_and_bulk_join_the_transaction)
{
    sqlited_batch *b;
    sqlited_params *p = harness_params_new();

    start(NULL);
    harness_exec(db, unique_table);
    cr_assert_eq(sqlited_batch_open(&b), 0);
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    int64_t id = sqlited_tx_id(db);
    harness_exec(db, "INSERT INTO t(v) VALUES ('a')");

    /* This batch fails on its second step: neither step stays. */
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('b')", NULL),
                 0);
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('a')", NULL),
                 0);
    assert_error(sqlited_batch_run(db, b, 0), 2067 /* CONSTRAINT_UNIQUE */,
                 "step 1: ");
    cr_assert_eq(sqlited_tx_id(db), id);

    sqlited_batch_clear(b);
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('c')", NULL),
                 0);
    assert_ok(sqlited_batch_run(db, b, 0));
    cr_assert_eq(sqlited_params_add_text(p, NULL, "d", -1), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, "e", -1), 0);
    assert_ok(sqlited_exec_many(db, "INSERT INTO t(v) VALUES (?)", p, 1));
    cr_assert_eq(sqlited_changes(db), 2);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t "
                                       "WHERE v IN ('a', 'c', 'd', 'e')"),
                 4);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 4);
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 0);

    assert_ok(sqlited_rollback(db));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    sqlited_params_close(p);
    sqlited_batch_close(b);
}

Test(client_tx, begin_twice_is_misuse)
{
    start(NULL);
    harness_exec(db, unique_table);
    cr_assert_eq(sqlited_begin(NULL, SQLITED_TX_DEFERRED), SQLITED_EMISUSE);
    assert_error(sqlited_begin(db, 3), SQLITED_EMISUSE, "mode");
    cr_assert_eq(sqlited_tx_id(db), 0);

    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    int64_t id = sqlited_tx_id(db);
    harness_exec(db, "INSERT INTO t(v) VALUES ('a')");
    assert_error(sqlited_begin(db, SQLITED_TX_DEFERRED), SQLITED_EMISUSE,
                 "still open");
    assert_error(sqlited_begin(db, SQLITED_TX_IMMEDIATE), SQLITED_EMISUSE,
                 "still open");
    /* The first transaction is untouched and still works. */
    cr_assert_eq(sqlited_tx_id(db), id);
    harness_exec(db, "INSERT INTO t(v) VALUES ('b')");
    assert_ok(sqlited_commit(db));
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 2);
}

Test(client_tx, ending_without_transaction_is_misuse)
{
    start(NULL);
    cr_assert_eq(sqlited_commit(NULL), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_rollback(NULL), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_tx_id(NULL), 0);
    assert_error(sqlited_commit(db), SQLITED_EMISUSE, "no transaction");
    assert_error(sqlited_rollback(db), SQLITED_EMISUSE, "no transaction");

    /* Nor after one ended. */
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    assert_ok(sqlited_commit(db));
    assert_error(sqlited_commit(db), SQLITED_EMISUSE, "no transaction");
    cr_assert_eq(sqlited_ping(db), 0);
}

/* A COMMIT that fails (a deferred foreign key) ends the transaction anyway:
 * its changes are gone and a new one can begin. */
Test(client_tx, failed_commit_ends_the_transaction)
{
    start(NULL);
    harness_exec(db, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE child(pid INTEGER REFERENCES parent(id) "
                     "DEFERRABLE INITIALLY DEFERRED)");
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    harness_exec(db, "INSERT INTO child(pid) VALUES (42)");
    assert_error(sqlited_commit(db), 787 /* SQLITE_CONSTRAINT_FOREIGNKEY */,
                 "FOREIGN KEY");
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 0);

    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    harness_exec(db, "INSERT INTO parent(id) VALUES (42)");
    harness_exec(db, "INSERT INTO child(pid) VALUES (42)");
    assert_ok(sqlited_commit(db));
    cr_assert_eq(count_from_other("SELECT count(*) FROM child"), 1);
}

/* The daemon rolls back an idle transaction; the next call on it gets
 * SQLITED_TX_EXPIRED, after which the connection has no transaction. */
Test(client_tx, idle_transaction_expires)
{
    start((const char *const[]){"--tx-idle-timeout", "200", NULL});
    harness_exec(db, unique_table);
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    harness_exec(db, "INSERT INTO t(v) VALUES ('lost')");

    /* Wait for the daemon to say it expired the transaction, rather than
     * for a time that a slow machine might not honour. */
    int64_t deadline = harness_now_ms() + HARNESS_IO_TIMEOUT_MS;
    while (daemon_stat("tx_expired") < 1) {
        cr_assert_lt(harness_now_ms(), deadline, "never expired");
        poll(NULL, 0, 20);
    }
    cr_assert_gt(sqlited_tx_id(db), 0); /* the client cannot know yet */
    assert_error(sqlited_exec(db, "INSERT INTO t(v) VALUES ('x')", NULL, NULL),
                 SQLITED_TX_EXPIRED, "idle");
    cr_assert_eq(sqlited_tx_id(db), 0);

    /* Without a transaction the same call works, and so does a new one. */
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    harness_exec(db, "INSERT INTO t(v) VALUES ('kept')");
    assert_ok(sqlited_commit(db));
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 1);
}

/* A connection that closes with its transaction open leaves nothing
 * behind, and does not keep other clients' writes waiting. */
Test(client_tx, closing_rolls_back)
{
    start(NULL);
    harness_exec(db, unique_table);
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    harness_exec(db, "INSERT INTO t(v) VALUES ('a')");
    sqlited_close(db);
    db = harness_connect(&d);
    assert_ok(sqlited_set_timeout(db, 10000));
    harness_exec(db, "INSERT INTO t(v) VALUES ('b')");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
}

/* sqlited_transaction() callbacks. */
struct tx_arg {
    const char *sql; /* run inside */
    int ret;         /* returned instead of the exec's code when nonzero */
    int calls;
};

static int tx_body(sqlited *conn, void *argp)
{
    struct tx_arg *arg = argp;
    int rc;

    arg->calls++;
    rc = sqlited_exec(conn, "INSERT INTO t(v) VALUES ('in tx')", NULL, NULL);
    if (rc)
        return rc;
    rc = sqlited_exec(conn, arg->sql, NULL, NULL);
    return arg->ret ? arg->ret : rc;
}

Test(client_tx, transaction_commits_on_zero)
{
    struct tx_arg arg = {.sql = "INSERT INTO t(v) VALUES ('second')"};

    start(NULL);
    harness_exec(db, unique_table);
    assert_ok(sqlited_transaction(db, SQLITED_TX_IMMEDIATE, tx_body, &arg));
    cr_assert_eq(arg.calls, 1);
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 2);
}

Test(client_tx, transaction_rolls_back_on_failure)
{
    struct tx_arg arg = {.sql = "INSERT INTO nosuch(v) VALUES (1)"};

    start(NULL);
    harness_exec(db, unique_table);
    /* The callback's failure is what the call returns and reports, not the
     * rollback that followed. */
    assert_error(sqlited_transaction(db, SQLITED_TX_DEFERRED, tx_body, &arg),
                 1 /* SQLITE_ERROR */, "no such table: nosuch");
    cr_assert_eq(arg.calls, 1);
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);

    /* A code of the callback's own, after calls that all succeeded. */
    arg = (struct tx_arg){.sql = "INSERT INTO t(v) VALUES ('x')", .ret = 4};
    assert_error(sqlited_transaction(db, SQLITED_TX_DEFERRED, tx_body, &arg),
                 4 /* SQLITE_ABORT */, "returned 4");
    cr_assert_eq(arg.calls, 1);
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
}

Test(client_tx, transaction_does_not_call_back_when_begin_fails)
{
    struct tx_arg arg = {.sql = "SELECT 1"};

    start(NULL);
    harness_exec(db, unique_table);
    cr_assert_eq(sqlited_transaction(NULL, 0, tx_body, &arg), SQLITED_EMISUSE);
    assert_error(sqlited_transaction(db, 0, NULL, &arg), SQLITED_EMISUSE,
                 "NULL");
    assert_error(sqlited_transaction(db, 7, tx_body, &arg), SQLITED_EMISUSE,
                 "mode");
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    int64_t id = sqlited_tx_id(db);
    assert_error(sqlited_transaction(db, 0, tx_body, &arg), SQLITED_EMISUSE,
                 "still open");
    cr_assert_eq(arg.calls, 0);
    /* The transaction that was open stays open. */
    cr_assert_eq(sqlited_tx_id(db), id);
    assert_ok(sqlited_rollback(db));
}

/* ------------------------------------------------------------------ batches */

Test(client_tx, batch_atomic_returns_each_step)
{
    sqlited_batch *b;
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows;

    start(NULL);
    harness_exec(db, unique_table);
    cr_assert_eq(sqlited_batch_open(&b), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, "ada", -1), 0);
    cr_assert_eq(sqlited_batch_add(b,
                                   "INSERT INTO t(v) VALUES (?) "
                                   "RETURNING id, v",
                                   p),
                 0);
    sqlited_params_clear(p);
    cr_assert_eq(sqlited_params_add_text(p, ":v", "grace", -1), 0);
    cr_assert_eq(sqlited_batch_add(b,
                                   "INSERT INTO t(v) VALUES (:v) "
                                   "RETURNING id, v",
                                   p),
                 0);
    /* The batch owns copies: changing the list changes nothing in it. */
    sqlited_params_clear(p);
    cr_assert_eq(sqlited_batch_add(b, "SELECT count(*) AS n FROM t", NULL), 0);
    cr_assert_eq(sqlited_batch_count(b), 3);

    assert_ok(sqlited_batch_run(db, b, 0));
    cr_assert_eq(sqlited_batch_failed_step(b), -1);
    cr_assert_eq(sqlited_changes(db), 2);
    cr_assert_eq(sqlited_last_insert_rowid(db), 2);

    const char *want[] = {"ada", "grace"};
    for (unsigned i = 0; i < 2; i++) {
        cr_assert_eq(sqlited_batch_step_rc(b, i), 0);
        cr_assert_null(sqlited_batch_step_errmsg(b, i));
        cr_assert_eq(sqlited_batch_step_rows(b, i, &rows), 0);
        cr_assert_eq(sqlited_rows_column_count(rows), 2);
        cr_assert_str_eq(sqlited_rows_column_name(rows, 1), "v");
        cr_assert_eq(sqlited_rows_changes(rows), 1);
        cr_assert_eq(sqlited_rows_last_insert_rowid(rows), i + 1);
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
        cr_assert_eq(sqlited_column_int64(rows, 0), i + 1);
        cr_assert_str_eq(sqlited_column_text(rows, 1), want[i]);
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
        sqlited_rows_close(rows);
    }
    /* A later step sees the earlier ones. */
    cr_assert_eq(sqlited_batch_step_rows(b, 2, &rows), 0);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 0), "n");
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 2);
    sqlited_rows_close(rows);

    rows = (sqlited_rows *)&rows;
    cr_assert_eq(sqlited_batch_step_rows(b, 3, &rows), SQLITED_ERANGE);
    cr_assert_null(rows);
    cr_assert_eq(sqlited_batch_step_rc(b, 3), SQLITED_ERANGE);
    cr_assert_null(sqlited_batch_step_errmsg(b, 3));
    cr_assert_eq(count_from_other("SELECT count(*) FROM t"), 2);
    sqlited_params_close(p);
    sqlited_batch_close(b);
}

/* The batch the failure tests run: the third step repeats the first. */
static sqlited_batch *failing_batch(void)
{
    sqlited_batch *b;

    cr_assert_eq(sqlited_batch_open(&b), 0);
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('a')", NULL),
                 0);
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('b')", NULL),
                 0);
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('a')", NULL),
                 0);
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('c')", NULL),
                 0);
    return b;
}

Test(client_tx, batch_atomic_failure_applies_nothing)
{
    sqlited_rows *rows = (sqlited_rows *)&rows;

    start(NULL);
    harness_exec(db, unique_table);
    sqlited_batch *b = failing_batch();
    assert_error(sqlited_batch_run(db, b, 0), 2067 /* CONSTRAINT_UNIQUE */,
                 "UNIQUE constraint failed: t.v");
    cr_assert_eq(strncmp(sqlited_errmsg(db), "step 2: ", 8), 0, "message: %s",
                 sqlited_errmsg(db));
    cr_assert_eq(sqlited_batch_failed_step(b), 2);
    cr_assert_eq(sqlited_batch_step_rc(b, 2), 2067);
    cr_assert_str_eq(sqlited_batch_step_errmsg(b, 2), sqlited_errmsg(db));
    cr_assert_eq(sqlited_batch_step_rc(b, 0), 0);
    cr_assert_null(sqlited_batch_step_errmsg(b, 0));
    /* Nothing was applied, so no step has a result. */
    cr_assert_eq(sqlited_batch_step_rows(b, 0, &rows), SQLITED_EMISUSE);
    cr_assert_null(rows);
    cr_assert_eq(sqlited_batch_step_rows(b, 2, &rows), 2067);
    cr_assert_eq(sqlited_batch_step_rows(b, 3, &rows), SQLITED_EMISUSE);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);

    /* Fixed, the same batch object runs again with fresh results. */
    sqlited_batch_clear(b);
    cr_assert_eq(sqlited_batch_count(b), 0);
    cr_assert_eq(sqlited_batch_failed_step(b), -1);
    cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('z')", NULL),
                 0);
    assert_ok(sqlited_batch_run(db, b, 0));
    cr_assert_eq(sqlited_batch_failed_step(b), -1);
    cr_assert_eq(sqlited_batch_step_rc(b, 0), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
    sqlited_batch_close(b);
}

Test(client_tx, batch_nonatomic_reports_each_step)
{
    sqlited_rows *rows;

    start(NULL);
    harness_exec(db, unique_table);
    sqlited_batch *b = failing_batch();
    assert_ok(sqlited_batch_run(db, b, SQLITED_BATCH_NONATOMIC));
    cr_assert_eq(sqlited_batch_failed_step(b), -1);
    for (unsigned i = 0; i < 4; i++) {
        if (i == 2)
            continue;
        cr_assert_eq(sqlited_batch_step_rc(b, i), 0, "step %u", i);
        cr_assert_null(sqlited_batch_step_errmsg(b, i));
        cr_assert_eq(sqlited_batch_step_rows(b, i, &rows), 0);
        cr_assert_eq(sqlited_rows_changes(rows), 1);
        sqlited_rows_close(rows);
    }
    cr_assert_eq(sqlited_batch_step_rc(b, 2), 2067);
    const char *msg = sqlited_batch_step_errmsg(b, 2);
    cr_assert_not_null(msg);
    cr_assert_not_null(strstr(msg, "UNIQUE constraint failed: t.v"), "%s", msg);
    cr_assert_eq(sqlited_batch_step_rows(b, 2, &rows), 2067);
    cr_assert_null(rows);
    cr_assert_eq(sqlited_changes(db), 3);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 3);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t "
                                       "WHERE v IN ('a', 'b', 'c')"),
                 3);
    sqlited_batch_close(b);
}

Test(client_tx, batch_misuse)
{
    sqlited_batch *b;
    sqlited_rows *rows = (sqlited_rows *)&rows;

    start(NULL);
    cr_assert_eq(sqlited_batch_open(NULL), SQLITED_EMISUSE);
    sqlited_batch_close(NULL);
    sqlited_batch_clear(NULL);
    cr_assert_eq(sqlited_batch_count(NULL), 0);
    cr_assert_eq(sqlited_batch_failed_step(NULL), -1);
    cr_assert_eq(sqlited_batch_step_rc(NULL, 0), SQLITED_EMISUSE);
    cr_assert_null(sqlited_batch_step_errmsg(NULL, 0));
    cr_assert_eq(sqlited_batch_add(NULL, "SELECT 1", NULL), SQLITED_EMISUSE);

    cr_assert_eq(sqlited_batch_open(&b), 0);
    cr_assert_eq(sqlited_batch_run(NULL, b, 0), SQLITED_EMISUSE);
    assert_error(sqlited_batch_run(db, NULL, 0), SQLITED_EMISUSE, "NULL");
    assert_error(sqlited_batch_run(db, b, 0), SQLITED_EMISUSE, "empty");
    cr_assert_eq(sqlited_batch_add(b, NULL, NULL), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_batch_count(b), 0);
    cr_assert_eq(sqlited_batch_add(b, "SELECT 1", NULL), 0);
    assert_error(sqlited_batch_run(db, b, 2), SQLITED_EMISUSE, "flags");
    /* Before a run there are no results, and no errors. */
    cr_assert_eq(sqlited_batch_step_rc(b, 0), 0);
    cr_assert_eq(sqlited_batch_step_rows(b, 0, &rows), SQLITED_EMISUSE);
    cr_assert_null(rows);
    cr_assert_eq(sqlited_batch_step_rows(b, 0, NULL), SQLITED_EMISUSE);

    /* A step added after a run has no result until the next run. */
    assert_ok(sqlited_batch_run(db, b, 0));
    cr_assert_eq(sqlited_batch_add(b, "SELECT 2", NULL), 0);
    cr_assert_eq(sqlited_batch_step_rows(b, 1, &rows), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_batch_step_rows(b, 0, &rows), 0);
    sqlited_rows_close(rows);
    assert_ok(sqlited_batch_run(db, b, 0));
    cr_assert_eq(sqlited_batch_step_rows(b, 1, &rows), 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 2);
    sqlited_rows_close(rows);
    sqlited_batch_close(b);
}

/* --------------------------------------------------------------------- bulk */

Test(client_tx, exec_many_inserts_100000_rows)
{
    const int64_t n = 100000;
    sqlited_params *p = harness_params_new();
    char text[32];

    start(NULL);
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER, "
                     "b TEXT)");
    for (int64_t i = 1; i <= n; i++) {
        snprintf(text, sizeof(text), "row %lld", (long long)i);
        cr_assert_eq(sqlited_params_add_int64(p, NULL, i * 3), 0);
        cr_assert_eq(sqlited_params_add_text(p, NULL, text, -1), 0);
    }
    assert_ok(sqlited_exec_many(db, "INSERT INTO t(a, b) VALUES (?, ?)", p, 2));
    cr_assert_eq(sqlited_changes(db), n);
    cr_assert_eq(sqlited_last_insert_rowid(db), n);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), n);
    /* Every set went in whole, in order. */
    cr_assert_eq(harness_query_int(db, "SELECT sum(a) FROM t"),
                 3 * n * (n + 1) / 2);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t "
                                       "WHERE a <> id * 3 "
                                       "OR b <> 'row ' || id"),
                 0);
    sqlited_params_close(p);
}

Test(client_tx, exec_many_failing_set_applies_nothing)
{
    sqlited_params *p = harness_params_new();
    const char *v[] = {"a", "b", "c", "b", "d"};

    start(NULL);
    harness_exec(db, unique_table);
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        cr_assert_eq(sqlited_params_add_text(p, NULL, v[i], -1), 0);
    assert_error(sqlited_exec_many(db, "INSERT INTO t(v) VALUES (?)", p, 1),
                 2067 /* CONSTRAINT_UNIQUE */, "UNIQUE constraint failed");
    cr_assert_eq(strncmp(sqlited_errmsg(db), "step 3: ", 8), 0, "message: %s",
                 sqlited_errmsg(db));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    sqlited_params_close(p);
}

Test(client_tx, exec_many_misuse)
{
    sqlited_params *p = harness_params_new();
    sqlited_params *named = harness_params_new();
    const char *sql = "INSERT INTO t(a, b) VALUES (?, ?)";

    start(NULL);
    harness_exec(db, "CREATE TABLE t(a, b)");
    cr_assert_eq(sqlited_exec_many(NULL, sql, p, 2), SQLITED_EMISUSE);
    assert_error(sqlited_exec_many(db, NULL, p, 2), SQLITED_EMISUSE, "NULL");
    assert_error(sqlited_exec_many(db, sql, NULL, 2), SQLITED_EMISUSE, "NULL");
    /* An empty list makes no set. */
    assert_error(sqlited_exec_many(db, sql, p, 2), SQLITED_EMISUSE, "sets");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(sqlited_params_add_int64(p, NULL, i), 0);
    assert_error(sqlited_exec_many(db, sql, p, 0), SQLITED_EMISUSE, "sets");
    assert_error(sqlited_exec_many(db, sql, p, 2), SQLITED_EMISUSE,
                 "3 values do not make sets of 2");
    cr_assert_eq(sqlited_params_add_int64(named, ":a", 1), 0);
    cr_assert_eq(sqlited_params_add_int64(named, ":b", 2), 0);
    assert_error(
        sqlited_exec_many(db, "INSERT INTO t(a, b) VALUES (:a, :b)", named, 2),
        SQLITED_EMISUSE, "positional");
    /* None of it reached the daemon; the connection is fine. */
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 3), 0);
    assert_ok(sqlited_exec_many(db, sql, p, 2));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 2);
    sqlited_params_close(named);
    sqlited_params_close(p);
}

/* Requests over the daemon's message limit are refused before they are
 * sent, so the daemon does not close the connection over them. */
Test(client_tx, oversized_requests_refused_before_sending)
{
    char big[8192];
    sqlited_batch *b;
    sqlited_params *p = harness_params_new();

    start((const char *const[]){"--max-message-size", "65536", NULL});
    harness_exec(db, "CREATE TABLE t(a, b)");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    cr_assert_eq(sqlited_batch_open(&b), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, big, -1), 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(sqlited_batch_add(b, "INSERT INTO t(a) VALUES (?)", p), 0);
    assert_error(sqlited_batch_run(db, b, 0), SQLITED_TOO_LARGE, "limit");
    cr_assert_eq(sqlited_ping(db), 0);

    for (int i = 1; i < 20; i++)
        cr_assert_eq(sqlited_params_add_text(p, NULL, big, -1), 0);
    assert_error(
        sqlited_exec_many(db, "INSERT INTO t(a, b) VALUES (?, ?)", p, 2),
        SQLITED_TOO_LARGE, "limit");
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    sqlited_params_close(p);
    sqlited_batch_close(b);
}
