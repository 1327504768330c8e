/* sqlited-cli's .import: CSV files into tables, in one transaction, with a
 * progress bar on a terminal. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pty.h"

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

TestSuite(import, .init = setup, .fini = teardown, .timeout = 120);

#define CLI(o, ...)                                                            \
    harness_cli(&d, (o), NULL, (const char *const[]){__VA_ARGS__, NULL})

/* Row @i of the generated files: "i","name i","note"; every tenth note
 * holds a comma, doubled quotes and a line break, so its record spans two
 * lines. */
static void write_row(FILE *f, int i, const char *eol)
{
    if (i % 10 == 0)
        fprintf(f, "%d,name %d,\"a, \"\"b\"\"\nc %d\"%s", i, i, i, eol);
    else
        fprintf(f, "%d,\"name %d\",plain%s", i, i, eol);
}

/* Writes @rows rows after the header "id,name,note" to DIR/@name, with
 * CRLF line ends; when @bad_row is >= 0 that row has two fields instead of
 * three, and *@bad_line receives the line it starts on. Returns the
 * file's path (static). */
static const char *write_csv(const char *name, int rows, int bad_row,
                             int *bad_line)
{
    static char path[256];
    int line = 2;

    snprintf(path, sizeof(path), "%s/%s", d.dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("id,name,note\r\n", f);
    for (int i = 0; i < rows; i++) {
        if (i == bad_row) {
            fprintf(f, "%d,missing a field\r\n", i);
            *bad_line = line;
        } else {
            write_row(f, i, "\r\n");
        }
        line += i % 10 == 0 && i != bad_row ? 2 : 1;
    }
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* Checks that table @t holds the @rows rows write_csv() wrote, as text. */
static void assert_rows(const char *t, int rows)
{
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", t);
    cr_assert_eq(harness_query_int(db, sql), rows);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s WHERE typeof(id) = 'text' AND "
             "typeof(name) = 'text' AND typeof(note) = 'text'",
             t);
    cr_assert_eq(harness_query_int(db, sql), rows);
    snprintf(sql, sizeof(sql), "SELECT sum(id) FROM %s", t);
    cr_assert_eq(harness_query_int(db, sql), (int64_t)rows * (rows - 1) / 2);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s WHERE note = 'a, \"b\"' || char(10) || "
             "'c ' || id AND name = 'name ' || id",
             t);
    cr_assert_eq(harness_query_int(db, sql), (rows + 9) / 10);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM %s WHERE note = 'plain' AND name = 'name ' "
             "|| id",
             t);
    cr_assert_eq(harness_query_int(db, sql), rows - (rows + 9) / 10);
}

Test(import, rows_of_a_large_file_with_a_progress_bar_on_a_terminal)
{
    const char *path = write_csv("big.csv", 100000, -1, NULL);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), ".import %s big", path);

    struct pty_proc p = {0};
    pty_cli(&p, &d, NULL, (const char *const[]){cmd, NULL});
    /* The bar's last drawing: the whole file, every row, a rate. */
    pty_expect(&p, "] 100%  100000 rows  ");
    pty_expect(&p, " rows/s  in ");
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);

    /* The header named the new table's columns, all TEXT. */
    sqlited_rows *rows =
        harness_query(db,
                      "SELECT group_concat(name || ' ' || type, ', ') FROM "
                      "pragma_table_info('big')",
                      NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 0),
                     "id TEXT, name TEXT, note TEXT");
    sqlited_rows_close(rows);
    assert_rows("big", 100000);
}

/* Ctrl-C in the shell while .import runs: the import stops, nothing of it
 * is applied, and the shell carries on. The file is large enough that the
 * import is still running when the first drawing of its bar is seen. */
Test(import, ctrl_c_in_the_shell_stops_it_and_applies_nothing)
{
    const char *path = write_csv("huge.csv", 1000000, -1, NULL);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), ".import %s huge\n", path);

    struct pty_proc p = {0};
    pty_cli(&p, &d, NULL, NULL);
    pty_expect(&p, "> ");
    pty_send(&p, cmd);
    pty_expect(&p, " rows  ");
    pty_send(&p, PTY_CTRL_C);
    pty_expect(&p, "nothing was imported");
    pty_expect(&p, "> ");
    pty_send(&p, "SELECT count(*) FROM sqlite_schema WHERE name = 'huge';\n");
    pty_expect(&p, "\n0\n");
    pty_expect(&p, "> ");
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);
}

/* .import of 100,000 rows typed at the shell's prompt: the prompt comes
 * back once it is done, and another client sees every row. */
Test(import, rows_of_a_large_file_typed_in_the_shell)
{
    const char *path = write_csv("typed.csv", 100000, -1, NULL);
    char cmd[512];
    snprintf(cmd, sizeof(cmd), ".import %s typed\n", path);

    struct pty_proc p = {0};
    pty_cli(&p, &d, NULL, NULL);
    pty_expect(&p, "> ");
    pty_send(&p, cmd);
    pty_expect(&p, "] 100%  100000 rows  ");
    pty_expect(&p, "> ");
    assert_rows("typed", 100000);
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);
}

Test(import, into_an_existing_table_quietly_off_a_terminal)
{
    const char *path = write_csv("some.csv", 2500, -1, NULL);
    char cmd[512];
    harness_exec(db, "CREATE TABLE t(id, name, note)");

    /* The table exists: every record is a row, so --skip 1 skips the
     * header. */
    snprintf(cmd, sizeof(cmd), ".import --csv --skip 1 %s t", path);
    struct harness_output o;
    CLI(&o, cmd);
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert_str_empty(o.err);
    cr_assert_str_empty(o.out);
    harness_output_free(&o);
    assert_rows("t", 2500);
}

/* A bad record fails the import with FILE:LINE, after earlier batches were
 * sent: nothing is applied, not even the new table. */
Test(import, bad_line_is_named_and_nothing_is_applied)
{
    int line = 0;
    const char *path = write_csv("bad.csv", 5000, 3456, &line);
    char cmd[512], want[512];
    snprintf(cmd, sizeof(cmd), ".import %s t", path);

    struct harness_output o;
    CLI(&o, cmd);
    cr_assert_eq(o.status, 1);
    snprintf(want, sizeof(want),
             "sqlited-cli: %s:%d: expected 3 columns, found 2 (table t)\n"
             "sqlited-cli: .import of %s: nothing was imported\n",
             path, line, path);
    cr_assert_str_eq(o.err, want);
    harness_output_free(&o);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM sqlite_schema"),
                 0);

    /* Into an existing table, the same. */
    harness_exec(db, "CREATE TABLE t(id, name, note); INSERT INTO t VALUES "
                     "(1, 2, 3)");
    snprintf(cmd, sizeof(cmd), ".import --skip 1 %s t", path);
    CLI(&o, cmd);
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, want);
    harness_output_free(&o);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
}

/* A row the table refuses is named by its line in the file. */
Test(import, refused_row_is_named_by_its_line)
{
    const char *path = write_csv("dup.csv", 3000, -1, NULL);
    char cmd[512], want[512];
    harness_exec(db, "CREATE TABLE t(id UNIQUE, name, note);"
                     "INSERT INTO t VALUES ('2345', 'x', 'y')");
    snprintf(cmd, sizeof(cmd), ".import --skip 1 %s t", path);

    struct harness_output o;
    CLI(&o, cmd);
    cr_assert_eq(o.status, 1);
    /* Row 2345 starts on line 2 + 2345 + 235 (the two-line records
     * before it). */
    snprintf(want, sizeof(want),
             "sqlited-cli: %s:%d: SQLITE_CONSTRAINT_UNIQUE: UNIQUE "
             "constraint failed: t.id\n"
             "sqlited-cli: .import of %s: nothing was imported\n",
             path, 2 + 2345 + 235, path);
    cr_assert_str_eq(o.err, want);
    harness_output_free(&o);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
}

/* Writes @text to DIR/@name and runs .import of it into table q; returns
 * the file's path (static) and the output in @o. */
static const char *import_text(const char *name, const char *text,
                               struct harness_output *o)
{
    static char path[256];
    char cmd[512];
    harness_put_file(d.dir, name, text);
    snprintf(path, sizeof(path), "%s/%s", d.dir, name);
    snprintf(cmd, sizeof(cmd), ".import %s q", path);
    CLI(o, cmd);
    return path;
}

Test(import, malformed_quotes_are_named)
{
    struct harness_output o;
    char want[512];
    const char *path =
        import_text("open.csv", "a,b\n1,\"never\nclosed\n2,3\n", &o);
    cr_assert_eq(o.status, 1);
    snprintf(want, sizeof(want),
             "sqlited-cli: %s:2: unterminated quoted field: its opening quote "
             "is never closed\nsqlited-cli: .import of %s: nothing was "
             "imported\n",
             path, path);
    cr_assert_str_eq(o.err, want);
    harness_output_free(&o);

    path = import_text("after.csv", "a,b\n1,2\n3,\"x\"y\n", &o);
    cr_assert_eq(o.status, 1);
    cr_assert(strstr(o.err, ".csv:3: unexpected character after the closing "
                            "quote of a field"),
              "%s", o.err);
    harness_output_free(&o);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM sqlite_schema"),
                 0);
}

/* RFC 4180's corners: LF and CRLF mixed, empty fields, a quoted empty
 * field, a last record without a line end, a byte order mark. */
Test(import, rfc4180_corners)
{
    struct harness_output o;
    import_text("corners.csv",
                "\xEF\xBB\xBF"
                "x,\"y y\",z\r\n"
                ",\"\",\"\"\"\"\n"
                "\"1\r\n2\",,3",
                &o);
    cr_assert_eq(o.status, 0, "%s", o.err);
    harness_output_free(&o);
    sqlited_rows *rows =
        harness_query(db, "SELECT x, \"y y\", z FROM q ORDER BY rowid", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 0), "");
    cr_assert_str_eq(sqlited_column_text(rows, 1), "");
    cr_assert_str_eq(sqlited_column_text(rows, 2), "\"");
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 0), "1\r\n2");
    cr_assert_str_eq(sqlited_column_text(rows, 1), "");
    cr_assert_str_eq(sqlited_column_text(rows, 2), "3");
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);
}

Test(import, usage_and_missing_file)
{
    struct harness_output o;
    CLI(&o, ".import onlyfile");
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: usage: .import [--csv] [--skip N] "
                            "FILE TABLE\n");
    harness_output_free(&o);

    CLI(&o, ".import /nonexistent/x.csv t");
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: cannot open /nonexistent/x.csv: No "
                            "such file or directory\n");
    harness_output_free(&o);
}

/* Inside a transaction typed before it, .import is a savepoint of that
 * transaction: it sees and writes what the transaction does, a failed one
 * undoes only itself, and all of it commits or rolls back with the rest.
 * (It used to roll the user's transaction back, and the statements after
 * it then ran outside any.) */
Test(import, inside_a_transaction_is_a_savepoint_of_it)
{
    const char *path = write_csv("in.csv", 1000, -1, NULL);
    char script[2048];
    struct harness_output o;

    harness_exec(db, "CREATE TABLE log(x)");
    snprintf(script, sizeof(script),
             "BEGIN;\nINSERT INTO log VALUES ('before');\n"
             "CREATE TABLE t(id, name, note);\n"
             ".import --skip 1 %s t\n"
             ".import %s missing_a_column_of_t_is_fine\n"
             ".import --skip 1 /nonexistent.csv t\n"
             "INSERT INTO log VALUES ('after');\nCOMMIT;\n",
             path, path);
    harness_cli(&d, &o, script, (const char *const[]){"--no-bail", NULL});
    cr_assert_eq(o.status, 1, "%s", o.err);
    cr_assert(strstr(o.err, "<stdin>:6: cannot open /nonexistent.csv"), "%s",
              o.err);
    harness_output_free(&o);
    assert_rows("t", 1000);
    assert_rows("missing_a_column_of_t_is_fine", 1000);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM log"), 2);

    /* A failed one undoes itself only; ROLLBACK undoes everything. */
    int line = 0;
    const char *bad = write_csv("bad.csv", 100, 50, &line);
    snprintf(script, sizeof(script),
             "BEGIN;\nINSERT INTO log VALUES ('third');\n"
             ".import --skip 1 %s t\n"
             "SELECT count(*) FROM t;\nROLLBACK;\n",
             bad);
    harness_cli(&d, &o, script, (const char *const[]){"--no-bail", NULL});
    cr_assert_eq(o.status, 1, "%s", o.err);
    cr_assert_str_eq(o.out, "1000\n");
    harness_output_free(&o);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM log"), 2);
    assert_rows("t", 1000);
}

/* A transaction the daemon ends while .import runs in it (here: open past
 * --tx-max-duration) is reported, and what follows is refused until its
 * COMMIT or ROLLBACK: nothing runs outside it. */
Test(import, a_transaction_that_ends_under_it_refuses_what_follows)
{
    char script[1024];
    struct harness_output o;

    harness_cleanup_connected(&d, &db);
    memset(&d, 0, sizeof(d));
    db = harness_start_connected(
        &d, (const char *const[]){"--tx-max-duration", "200", NULL});
    harness_exec(db, "CREATE TABLE log(x)");
    const char *path = write_csv("big.csv", 500000, -1, NULL);
    snprintf(script, sizeof(script),
             "BEGIN;\nINSERT INTO log VALUES (1);\n.import %s t\n"
             "INSERT INTO log VALUES (2);\nCOMMIT;\n"
             "INSERT INTO log VALUES (3);\n",
             path);
    harness_cli(&d, &o, script, (const char *const[]){"--no-bail", NULL});
    cr_assert_eq(o.status, 1, "%s", o.err);
    cr_assert(strstr(o.err, "nothing was imported"), "%s", o.err);
    cr_assert(strstr(o.err, "the transaction (begun at <stdin>:1) is over"),
              "%s", o.err);
    cr_assert(strstr(o.err, "<stdin>:4: not run: the transaction"), "%s",
              o.err);
    harness_output_free(&o);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM log"), 3);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM sqlite_schema "
                                       "WHERE name = 't'"),
                 0);
}
