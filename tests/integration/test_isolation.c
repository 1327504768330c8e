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
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static sqlited *a, *b;

static void setup(void)
{
    a = harness_start_connected(&d,
                                (const char *const[]){"--readers", "1", NULL});
    b = harness_connect(&d);
    harness_exec(a, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                    "CREATE TABLE child(pid INTEGER REFERENCES parent(id));"
                    "CREATE TABLE checked(n INTEGER CHECK (n > 0));");
}

static void teardown(void)
{
    sqlited_close(b);
    b = NULL;
    harness_cleanup_connected(&d, &a);
}

TestSuite(isolation, .init = setup, .fini = teardown, .timeout = 60);

/* Runs @sql with exec (on the writer) and returns the one integer it
 * selects. */
static int64_t exec_int(sqlited *db, const char *sql)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_exec(db, sql, NULL, &rows);
    cr_assert_eq(rc, 0, "%s: %d %s", sql, rc, sqlited_errmsg(db));
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW, "%s: no row", sql);
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
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
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

/* Pragmas are refused unless they are on the allowlist, so a setting
 * nobody thought of (here a heap limit, which would make every statement
 * of every client fail with SQLITE_NOMEM) cannot slip through, not even as
 * a query, which SQLite counts as read-only and runs on a reader. */
Test(isolation, unlisted_pragmas_cannot_be_set)
{
    assert_refused_pragma("PRAGMA hard_heap_limit = 200000", "hard_heap_limit");
    assert_refused_pragma("PRAGMA soft_heap_limit = 200000", "soft_heap_limit");
    assert_refused_pragma("PRAGMA wal_autocheckpoint = 0",
                          "wal_autocheckpoint");
    assert_refused_pragma("PRAGMA recursive_triggers = ON",
                          "recursive_triggers");
    assert_refused_pragma("PRAGMA case_sensitive_like = ON",
                          "case_sensitive_like");
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM checked"), 0);
}

/* What changes the database file rather than the connection is allowed. */
Test(isolation, database_pragmas_can_be_set)
{
    harness_exec(a, "PRAGMA user_version = 7");
    cr_assert_eq(harness_query_int(b, "PRAGMA user_version"), 7);
    harness_exec(a, "PRAGMA application_id = 1234");
    cr_assert_eq(harness_query_int(b, "PRAGMA application_id"), 1234);
    cr_assert_eq(exec_int(a, "PRAGMA wal_checkpoint(PASSIVE)"), 0);
    sqlited_rows *rows = harness_query(b, "PRAGMA table_info(checked)", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 1), "n");
    sqlited_rows_close(rows);
}

/* An in-memory database attached under a name is refused like a file. */
Test(isolation, attach_of_an_unnamed_database_is_refused)
{
    int rc = sqlited_exec(a, "ATTACH '' AS scratch", NULL, NULL);
    cr_assert_eq(rc, SQLITE_AUTH, "rc %d", rc);
    cr_assert_str_eq(sqlited_errname(a), "SQLITE_AUTH");
    cr_assert_not_null(strstr(sqlited_errmsg(a), "ATTACH is not allowed"), "%s",
                       sqlited_errmsg(a));
}

/* VACUUM attaches a scratch database while it runs and must keep working;
 * VACUUM INTO would write a file anywhere the daemon may write. */
Test(isolation, vacuum_works_and_vacuum_into_is_refused)
{
    char path[4096];
    snprintf(path, sizeof(path), "VACUUM INTO '%s/copy.db'", d.dir);
    harness_exec(a, "INSERT INTO parent VALUES (1)");
    harness_exec(a, "VACUUM");
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM parent"), 1);
    int rc = sqlited_exec(a, path, NULL, NULL);
    cr_assert_eq(rc, SQLITE_AUTH, "rc %d", rc);
    cr_assert_not_null(strstr(sqlited_errmsg(a), "VACUUM INTO is not allowed"),
                       "%s", sqlited_errmsg(a));
    char file[4096];
    snprintf(file, sizeof(file), "%s/copy.db", d.dir);
    cr_assert_neq(access(file, F_OK), 0, "VACUUM INTO wrote %s", file);
}
