/* One client's SQL must not change how the daemon's shared connections
 * behave for the other clients: settings the daemon owns stay as it set
 * them, and per-connection state (attached databases, TEMP objects,
 * pragmas that switch constraints off) does not outlive the request that
 * made it.
 *
 * The reader pool is limited to one reader so that "the same reader
 * connection" is certain. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *a, *b;

static void setup(void)
{
    daemon_start(&d, (const char *const[]){"--readers", "1", NULL});
    a = harness_connect(&d);
    b = harness_connect(&d);
    harness_exec(a, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                    "CREATE TABLE child(pid INTEGER REFERENCES parent(id));"
                    "CREATE TABLE checked(n INTEGER CHECK (n > 0));");
}

static void teardown(void)
{
    sqlited_close(a);
    sqlited_close(b);
    a = b = NULL;
    daemon_cleanup(&d);
}

TestSuite(isolation, .init = setup, .fini = teardown, .timeout = 60);

/* Runs @sql with exec (on the writer) and returns the one integer it
 * selects. */
static int64_t exec_int(sqlited *db, const char *sql)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_exec(db, sql, NULL, &rows);
    cr_assert_eq(rc, 0, "%s: %d %s", sql, rc, sqlited_errmsg(db));
    cr_assert_eq(sqlited_rows_next(rows), 100, "%s: no row", sql);
    int64_t v = sqlited_column_int64(rows, 0);
    sqlited_rows_close(rows);
    return v;
}

static void assert_refused_pragma(const char *sql, const char *pragma)
{
    int rc = sqlited_exec(a, sql, NULL, NULL);
    cr_assert_eq(rc, SQLITE_AUTH, "%s: rc %d (%s: %s)", sql, rc,
                 sqlited_errname(a), sqlited_errmsg(a));
    cr_assert_str_eq(sqlited_errname(a), "SQLITE_AUTH");
    cr_assert_not_null(strstr(sqlited_errmsg(a), pragma), "%s",
                       sqlited_errmsg(a));
    sqlited_rows *rows = NULL;
    rc = sqlited_query(a, sql, NULL, &rows);
    cr_assert_eq(rc, SQLITE_AUTH, "%s as a query: rc %d (%s)", sql, rc,
                 sqlited_errmsg(a));
}

Test(isolation, managed_pragmas_cannot_be_set)
{
    assert_refused_pragma("PRAGMA foreign_keys = OFF", "foreign_keys");
    assert_refused_pragma("PRAGMA main.foreign_keys(0)", "foreign_keys");
    assert_refused_pragma("PRAGMA query_only = ON", "query_only");
    assert_refused_pragma("PRAGMA journal_mode = DELETE", "journal_mode");
    assert_refused_pragma("PRAGMA synchronous = OFF", "synchronous");
    assert_refused_pragma("PRAGMA writable_schema = ON", "writable_schema");
    /* Reading them is fine. */
    cr_assert_eq(harness_query_int(b, "PRAGMA foreign_keys"), 1);
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_exec(b, "PRAGMA journal_mode", NULL, &rows), 0);
    cr_assert_eq(sqlited_rows_next(rows), 100);
    cr_assert_str_eq(sqlited_column_text(rows, 0), "wal");
    sqlited_rows_close(rows);
    /* And they still hold for the other client. */
    int rc = sqlited_exec(b, "INSERT INTO child VALUES (99)", NULL, NULL);
    cr_assert_eq(rc, SQLITE_CONSTRAINT_FOREIGNKEY, "rc %d", rc);
    harness_exec(b, "INSERT INTO parent VALUES (1)");
}

/* PRAGMA ignore_check_constraints switches CHECK constraints off on the
 * connection it runs on: on the shared writer, for every client. */
Test(isolation, check_constraints_stay_on_for_others)
{
    sqlited_exec(a, "PRAGMA ignore_check_constraints = ON", NULL, NULL);
    int rc = sqlited_exec(b, "INSERT INTO checked VALUES (-1)", NULL, NULL);
    cr_assert_eq(rc, SQLITE_CONSTRAINT_CHECK,
                 "client B's row violating a CHECK was accepted after client "
                 "A ran PRAGMA ignore_check_constraints (rc %d %s)",
                 rc, sqlited_errname(b));
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM checked"), 0);
}

/* A TEMP table or trigger made by one request stays on the shared writer
 * connection: other clients see it (and a TEMP trigger would run on their
 * writes). */
Test(isolation, temp_objects_do_not_outlive_the_request)
{
    sqlited_exec(a, "CREATE TEMP TABLE leak(x)", NULL, NULL);
    sqlited_exec(a,
                 "CREATE TEMP TRIGGER spy AFTER INSERT ON main.parent "
                 "BEGIN DELETE FROM parent; END",
                 NULL, NULL);
    cr_assert_eq(exec_int(b, "SELECT count(*) FROM temp.sqlite_schema"), 0,
                 "client A's TEMP objects are visible to client B");
    harness_exec(b, "INSERT INTO parent VALUES (7)");
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM parent"), 1,
                 "client A's TEMP trigger ran on client B's insert");
}

/* An ATTACH made by one request stays on the shared connection it ran on
 * (the writer for exec, a reader for query, since ATTACH counts as
 * read-only). */
Test(isolation, attached_databases_do_not_outlive_the_request)
{
    sqlited_rows *rows = NULL;
    sqlited_exec(a, "ATTACH ':memory:' AS w", NULL, NULL);
    sqlited_query(a, "ATTACH ':memory:' AS r", NULL, &rows);
    sqlited_rows_close(rows);
    static const char count_sql[] = "SELECT count(*) FROM pragma_database_list "
                                    "WHERE name NOT IN ('main', 'temp')";
    cr_assert_eq(exec_int(b, count_sql), 0,
                 "client A's ATTACH is still there on the writer");
    cr_assert_eq(harness_query_int(b, count_sql), 0,
                 "client A's ATTACH is still there on the reader");
}
