/* Pragmas that read the schema (table_info, foreign_key_list, index_list,
 * index_info) answer from the connection's copy of the schema and check no
 * schema cookie. Through query they run on a reader connection whose schema
 * the writer changed: they must see every change, the first time and every
 * time after (the statement cache must not keep an old answer). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

/* One reader, so that every query meets the connection that read the
 * schema before it changed. */
static void setup(void)
{
    static const char *const args[] = {"--readers", "1", NULL};
    db = harness_start_connected(&d, args);
}

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(pragma, .init = setup, .fini = teardown, .timeout = 60);

/* Runs @sql with query and returns column @col of every row, joined by
 * ','. Static storage: valid until the next call. */
static const char *column_of_rows(const char *sql, int col)
{
    static char out[256];
    size_t used = 0;
    sqlited_rows *rows = harness_query(db, sql, NULL);
    int rc;

    out[0] = '\0';
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        const char *v = sqlited_column_text(rows, col);
        int n = snprintf(out + used, sizeof(out) - used, "%s%s",
                         used > 0 ? "," : "", v ? v : "NULL");
        cr_assert(n > 0 && (size_t)n < sizeof(out) - used, "%s: too long", sql);
        used += (size_t)n;
    }
    cr_assert_eq(rc, SQLITED_DONE, "%s: rc %d %s", sql, rc, sqlited_errmsg(db));
    sqlited_rows_close(rows);
    return out;
}

/* Asserts, @times times in a row, what column @col of @sql's rows is. */
static void assert_rows(const char *sql, int col, const char *want, int times)
{
    for (int i = 0; i < times; i++) {
        const char *got = column_of_rows(sql, col);
        cr_assert_str_eq(got, want, "%s (run %d): \"%s\", not \"%s\"", sql,
                         i + 1, got, want);
    }
}

/* Columns of the pragmas' rows. */
#define FK_FROM 3     /* foreign_key_list: id, seq, table, from, ... */
#define INDEX_NAME 1  /* index_list: seq, name, ... */
#define INFO_NAME 2   /* index_info: seqno, cid, name */
#define COLUMN_NAME 1 /* table_info: cid, name, ... */

/* Each pragma below first meets a table or index the reader does not know
 * yet: SQLite then compiles "no rows" and no schema check at all. */
Test(pragma, foreign_key_list_sees_tables_created_by_exec)
{
    harness_exec(db, "CREATE TABLE p(id INTEGER PRIMARY KEY)");
    /* The reader reads the schema now, before q exists. */
    assert_rows("PRAGMA foreign_key_list(\"q\")", FK_FROM, "", 2);

    harness_exec(db, "CREATE TABLE q(x INTEGER REFERENCES p(id))");
    assert_rows("PRAGMA foreign_key_list(\"q\")", FK_FROM, "x", 3);

    /* A second change, after the reader has caught up with the first. */
    harness_exec(db, "ALTER TABLE q ADD COLUMN y INTEGER REFERENCES p(id)");
    assert_rows("PRAGMA foreign_key_list(\"q\")", FK_FROM, "y,x", 3);
    harness_exec(db, "CREATE TABLE r(z INTEGER REFERENCES q(x))");
    assert_rows("PRAGMA foreign_key_list(\"r\")", FK_FROM, "z", 3);
}

Test(pragma, table_and_index_pragmas_see_changes_by_exec)
{
    harness_exec(db, "CREATE TABLE t(a)");
    assert_rows("PRAGMA table_info(\"u\")", COLUMN_NAME, "", 2);

    harness_exec(db, "CREATE TABLE u(a, b)");
    assert_rows("PRAGMA table_info(\"u\")", COLUMN_NAME, "a,b", 3);

    harness_exec(db, "CREATE INDEX ui ON u(b, a)");
    assert_rows("PRAGMA index_info(\"ui\")", INFO_NAME, "b,a", 3);

    harness_exec(db, "CREATE TABLE w(x UNIQUE)");
    assert_rows("PRAGMA index_list(\"w\")", INDEX_NAME, "sqlite_autoindex_w_1",
                3);

    harness_exec(db, "DROP INDEX ui");
    assert_rows("PRAGMA index_info(\"ui\")", INFO_NAME, "", 3);
    assert_rows("PRAGMA index_list(\"u\")", INDEX_NAME, "", 3);
}
