/* exec on the writer: scripts, changes, last_insert_rowid, RETURNING; and
 * writes sent as queries, which the readers forward to the writer. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

static void setup(void)
{
    db = harness_start_connected(&d, NULL);
}

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(exec, .init = setup, .fini = teardown, .timeout = 60);

#define assert_ok(rc) HARNESS_ASSERT_OK(db, rc)

Test(exec, schema_script)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_exec(db,
                          "CREATE TABLE a(id INTEGER PRIMARY KEY, x TEXT);\n"
                          "CREATE TABLE b(id INTEGER PRIMARY KEY, "
                          "a_id INTEGER REFERENCES a(id));\n"
                          "CREATE INDEX b_a ON b(a_id);\n"
                          "INSERT INTO a(x) VALUES ('one');\n"
                          "INSERT INTO a(x) VALUES ('two'), ('three');\n"
                          "INSERT INTO b(id, a_id) VALUES (40, 1);\n",
                          NULL, &rows);
    assert_ok(rc);
    /* changes sums the script's statements: 1 + 2 + 1. */
    cr_assert_eq(sqlited_rows_changes(rows), 4);
    cr_assert_eq(sqlited_changes(db), 4);
    /* The last INSERT's rowid. */
    cr_assert_eq(sqlited_rows_last_insert_rowid(rows), 40);
    cr_assert_eq(sqlited_last_insert_rowid(db), 40);
    /* A script with no SELECT returns no columns. */
    cr_assert_eq(sqlited_rows_column_count(rows), 0);
    cr_assert_eq(sqlited_rows_count(rows), 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);

    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM sqlite_schema "
                                       "WHERE type IN ('table', 'index')"),
                 3);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM a"), 3);
    cr_assert_eq(harness_query_int(db, "SELECT a_id FROM b"), 1);
}

Test(exec, changes_and_last_insert_rowid)
{
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    /* A schema change alone changes no rows. */
    cr_assert_eq(sqlited_changes(db), 0);
    sqlited_params *p = harness_params_new();
    for (int64_t i = 1; i <= 5; i++) {
        sqlited_rows *rows = NULL;
        sqlited_params_clear(p);
        cr_assert_eq(sqlited_params_add_text(p, NULL, "x", -1), 0);
        assert_ok(sqlited_exec(db, "INSERT INTO t(v) VALUES (?)", p, &rows));
        cr_assert_eq(sqlited_changes(db), 1);
        cr_assert_eq(sqlited_last_insert_rowid(db), i);
        cr_assert_eq(sqlited_rows_changes(rows), 1);
        cr_assert_eq(sqlited_rows_last_insert_rowid(rows), i);
        sqlited_rows_close(rows);
    }
    sqlited_params_close(p);

    harness_exec(db, "INSERT INTO t(id, v) VALUES (1000, 'big')");
    cr_assert_eq(sqlited_last_insert_rowid(db), 1000);
    /* A statement that inserts nothing changes nothing. */
    harness_exec(db, "INSERT INTO t(v) SELECT v FROM t WHERE 0");
    cr_assert_eq(sqlited_changes(db), 0);
    harness_exec(db, "INSERT INTO t(v) SELECT v FROM t");
    cr_assert_eq(sqlited_changes(db), 6);
    cr_assert_eq(sqlited_last_insert_rowid(db), 1006);
}

Test(exec, update_and_delete_changes)
{
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER);"
                     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c WHERE x < 10) INSERT INTO t SELECT x, 0 FROM c");
    cr_assert_eq(sqlited_changes(db), 10);

    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, ":max", 4), 0);
    sqlited_rows *rows = NULL;
    assert_ok(
        sqlited_exec(db, "UPDATE t SET v = 1 WHERE id <= :max", p, &rows));
    sqlited_params_close(p);
    cr_assert_eq(sqlited_changes(db), 4);
    cr_assert_eq(sqlited_rows_changes(rows), 4);
    sqlited_rows_close(rows);

    harness_exec(db, "UPDATE t SET v = 2 WHERE id > 100");
    cr_assert_eq(sqlited_changes(db), 0);
    harness_exec(db, "DELETE FROM t WHERE v = 0");
    cr_assert_eq(sqlited_changes(db), 6);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 4);
}

/* Rows changed by triggers are not counted. */
Test(exec, changes_exclude_triggers)
{
    harness_exec(db, "CREATE TABLE t(v); CREATE TABLE log(v);"
                     "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN "
                     "INSERT INTO log VALUES (new.v); "
                     "INSERT INTO log VALUES (new.v); END;");
    harness_exec(db, "INSERT INTO t VALUES (1)");
    cr_assert_eq(sqlited_changes(db), 1);
    harness_exec(db, "INSERT INTO t VALUES (2); INSERT INTO t VALUES (3)");
    cr_assert_eq(sqlited_changes(db), 2);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM log"), 6);
}

Test(exec, insert_returning_via_exec)
{
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    harness_exec(db, "INSERT INTO t(v) VALUES ('a'), ('b')");
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_text(p, NULL, "c", -1), 0);
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_exec(db, "INSERT INTO t(v) VALUES (?) RETURNING id, v", p,
                           &rows));
    sqlited_params_close(p);
    cr_assert_eq(sqlited_rows_column_count(rows), 2);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 0), "id");
    cr_assert_str_eq(sqlited_rows_column_name(rows, 1), "v");
    cr_assert_eq(sqlited_rows_count(rows), 1);
    cr_assert_eq(sqlited_rows_changes(rows), 1);
    cr_assert_eq(sqlited_rows_last_insert_rowid(rows), 3);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 3);
    cr_assert_str_eq(sqlited_column_text(rows, 1), "c");
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);
    cr_assert_eq(sqlited_changes(db), 1);
    cr_assert_eq(sqlited_last_insert_rowid(db), 3);
}

/* A write sent as a query is forwarded to the writer: its rows come back,
 * its changes are reported, and it is committed. */
Test(exec, insert_returning_via_query)
{
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_query(db,
                            "INSERT INTO t(v) VALUES ('x'), ('y'), ('z') "
                            "RETURNING id, upper(v) AS up",
                            NULL, &rows));
    cr_assert_eq(sqlited_rows_column_count(rows), 2);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 1), "up");
    cr_assert_eq(sqlited_rows_count(rows), 3);
    static const char *ups[] = {"X", "Y", "Z"};
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
        cr_assert_eq(sqlited_column_int64(rows, 0), i + 1);
        cr_assert_str_eq(sqlited_column_text(rows, 1), ups[i]);
    }
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    cr_assert_eq(sqlited_rows_changes(rows), 3);
    cr_assert_eq(sqlited_rows_last_insert_rowid(rows), 3);
    sqlited_rows_close(rows);
    cr_assert_eq(sqlited_changes(db), 3);
    cr_assert_eq(sqlited_last_insert_rowid(db), 3);

    /* Committed: seen from another connection. */
    sqlited *other = harness_connect(&d);
    cr_assert_eq(harness_query_int(other, "SELECT count(*) FROM t"), 3);
    sqlited_close(other);
}

Test(exec, query_of_a_write_statement)
{
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
                     "INSERT INTO t(v) VALUES ('a'), ('b'), ('c')");
    sqlited_rows *rows = NULL;
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_text(p, "$new", "z", -1), 0);
    assert_ok(
        sqlited_query(db, "UPDATE t SET v = $new WHERE id >= 2", p, &rows));
    sqlited_params_close(p);
    cr_assert_eq(sqlited_rows_column_count(rows), 0);
    cr_assert_eq(sqlited_rows_count(rows), 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    cr_assert_eq(sqlited_rows_changes(rows), 2);
    sqlited_rows_close(rows);
    cr_assert_eq(sqlited_changes(db), 2);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t WHERE v = 'z'"),
                 2);

    /* DDL through query, too. */
    assert_ok(sqlited_query(db, "CREATE TABLE made_by_query(x)", NULL, &rows));
    sqlited_rows_close(rows);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM made_by_query"),
                 0);
}

/* A read reports no changes, whatever ran before it. */
Test(exec, read_reports_no_changes)
{
    harness_exec(db, "CREATE TABLE t(v); INSERT INTO t VALUES (1), (2)");
    cr_assert_eq(sqlited_changes(db), 2);
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_query(db, "SELECT v FROM t", NULL, &rows));
    cr_assert_eq(sqlited_rows_changes(rows), 0);
    cr_assert_eq(sqlited_rows_last_insert_rowid(rows), 0);
    sqlited_rows_close(rows);
    /* A SELECT through exec changes nothing either. */
    assert_ok(sqlited_exec(db, "SELECT v FROM t", NULL, &rows));
    cr_assert_eq(sqlited_rows_changes(rows), 0);
    cr_assert_eq(sqlited_rows_count(rows), 2);
    sqlited_rows_close(rows);
    cr_assert_eq(sqlited_changes(db), 0);
}

/* A script returns the rows of its last statement that has result
 * columns. */
Test(exec, script_returns_rows_of_last_select)
{
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_exec(db,
                           "CREATE TABLE t(v);"
                           "SELECT 1 AS first;"
                           "INSERT INTO t VALUES (10), (20);"
                           "SELECT v AS second FROM t ORDER BY v;"
                           "INSERT INTO t VALUES (30);",
                           NULL, &rows));
    cr_assert_eq(sqlited_rows_column_count(rows), 1);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 0), "second");
    cr_assert_eq(sqlited_rows_count(rows), 2);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 10);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 20);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    cr_assert_eq(sqlited_rows_changes(rows), 3);
    cr_assert_eq(sqlited_rows_last_insert_rowid(rows), 3);
    sqlited_rows_close(rows);
}

/* The last statement with result columns counts even when it returns no
 * row. */
Test(exec, script_last_select_without_rows)
{
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_exec(db,
                           "CREATE TABLE t(v); SELECT 1 AS one;"
                           "SELECT v AS none FROM t;",
                           NULL, &rows));
    cr_assert_eq(sqlited_rows_column_count(rows), 1);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 0), "none");
    cr_assert_eq(sqlited_rows_count(rows), 0);
    sqlited_rows_close(rows);
}

/* A script runs as one unit: its statements apply together, and its
 * counts add up. */
Test(exec, script_is_one_unit)
{
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_exec(db,
                           "CREATE TABLE t(v);"
                           "INSERT INTO t VALUES (1);"
                           "INSERT INTO t VALUES (2);",
                           NULL, &rows));
    cr_assert_eq(sqlited_rows_changes(rows), 2);
    sqlited_rows_close(rows);
    cr_assert_eq(harness_query_int(db, "SELECT sum(v) FROM t"), 3);
}

Test(exec, exec_params_all_styles)
{
    harness_exec(db, "CREATE TABLE t(a, b)");
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, "@b", 2), 0);
    cr_assert_eq(sqlited_params_add_int64(p, "a", 1), 0);
    assert_ok(sqlited_exec(db, "INSERT INTO t VALUES (:a, @b)", p, NULL));
    sqlited_params_close(p);
    cr_assert_eq(harness_query_int(db, "SELECT a * 10 + b FROM t"), 12);
}

/* An acknowledged write is visible to every connection's next read. */
Test(exec, read_your_writes_across_connections)
{
    sqlited *other = harness_connect(&d);
    harness_exec(db, "CREATE TABLE t(v INTEGER)");
    sqlited_params *p = harness_params_new();
    for (int64_t i = 1; i <= 200; i++) {
        sqlited_params_clear(p);
        cr_assert_eq(sqlited_params_add_int64(p, NULL, i), 0);
        sqlited *writer = i % 2 ? db : other;
        int rc = sqlited_exec(writer, "INSERT INTO t VALUES (?)", p, NULL);
        cr_assert_eq(rc, 0, "%s", sqlited_errmsg(writer));
        sqlited *reader = i % 2 ? other : db;
        cr_assert_eq(harness_query_int(reader, "SELECT max(v) FROM t"), i);
        cr_assert_eq(harness_query_int(reader, "SELECT count(*) FROM t"), i);
    }
    sqlited_params_close(p);
    sqlited_close(other);
}

/* The writer's last_insert_rowid is that of the connection, reported after
 * each call. */
Test(exec, last_insert_rowid_per_call)
{
    harness_exec(db, "CREATE TABLE a(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE b(id INTEGER PRIMARY KEY);"
                     "INSERT INTO a VALUES (7); INSERT INTO b VALUES (70)");
    cr_assert_eq(sqlited_last_insert_rowid(db), 70);
    harness_exec(db, "INSERT INTO a VALUES (8)");
    cr_assert_eq(sqlited_last_insert_rowid(db), 8);
}
