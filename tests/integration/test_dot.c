/* sqlited-cli's output modes and dot-commands against a real daemon: each
 * mode's exact output, .headers, .nullvalue, .width, the schema commands,
 * .explain's tree, .timer, .output and .once, .param. The commands run
 * through --cmd, before the SQL argument, as sqlite3's -cmd does. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "pty.h"

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
    harness_exec_fresh(&d, "CREATE TABLE users(id INTEGER PRIMARY KEY, "
                           "email TEXT UNIQUE, name TEXT);"
                           "CREATE INDEX users_name ON users(name);"
                           "CREATE TABLE orders(id INTEGER PRIMARY KEY, "
                           "user_id INTEGER REFERENCES users(id), total "
                           "REAL);"
                           "CREATE VIEW big AS SELECT * FROM orders WHERE "
                           "total > 100;"
                           "INSERT INTO users VALUES (1, 'a@x', 'Ann'), "
                           "(2, 'b@x', 'Bob');"
                           "INSERT INTO orders VALUES (1, 1, 12.5), "
                           "(2, 2, 250.0);");
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(dot, .init = setup, .fini = teardown, .timeout = 60);

#define CLI(o, ...)                                                            \
    harness_cli(&d, (o), NULL, (const char *const[]){__VA_ARGS__, NULL})

/* Two rows holding an INTEGER, TEXT with a newline, a NULL, a REAL and a
 * BLOB, and the same kinds in the second row. */
#define SAMPLE                                                                 \
    "SELECT 1 AS id, 'two\nlines' AS t, NULL AS n, 1.5 AS r, x'00ff' AS b "    \
    "UNION ALL SELECT 2, 'x', 'y', -0.25, x''"

/* Runs @cmd (a dot-command) then @sql, and requires exactly @want on
 * standard output and nothing on standard error. */
static void assert_output(const char *cmd, const char *sql, const char *want)
{
    struct harness_output o;
    CLI(&o, "--cmd", cmd, sql);
    cr_assert_eq(o.status, 0, "%s: status %d, stderr: %s", cmd, o.status,
                 o.err);
    cr_assert_str_eq(o.out, want, "%s printed:\n%s", cmd, o.out);
    cr_assert_str_empty(o.err);
    harness_output_free(&o);
}

/* Requires that @args fail with status 1 and @msg in standard error. */
static void assert_fails(const char *const *args, const char *msg)
{
    struct harness_output o;
    harness_cli(&d, &o, NULL, args);
    cr_assert_eq(o.status, 1, "status %d, stdout: %s, stderr: %s", o.status,
                 o.out, o.err);
    cr_assert(strstr(o.err, msg), "stderr lacks '%s': %s", msg, o.err);
    harness_output_free(&o);
}

#define FAILS(msg, ...)                                                        \
    assert_fails((const char *const[]){__VA_ARGS__, NULL}, msg)

/* ------------------------------------------------------------------ modes */

Test(dot, mode_list)
{
    assert_output(".mode list", SAMPLE,
                  "1|two\nlines||1.5|X'00FF'\n"
                  "2|x|y|-0.25|X''\n");
}

Test(dot, mode_csv)
{
    assert_output(".mode csv", SAMPLE,
                  "id,t,n,r,b\r\n"
                  "1,\"two\nlines\",,1.5,X'00FF'\r\n"
                  "2,x,y,-0.25,X''\r\n");
}

Test(dot, mode_json)
{
    assert_output(".mode json", SAMPLE,
                  "[{\"id\":1,\"t\":\"two\\u000Alines\",\"n\":null,"
                  "\"r\":1.5,\"b\":\"00FF\"},\n"
                  "{\"id\":2,\"t\":\"x\",\"n\":\"y\",\"r\":-0.25,"
                  "\"b\":\"\"}]\n");
}

Test(dot, mode_line)
{
    assert_output(".mode line", SAMPLE,
                  "   id = 1\n"
                  "    t = two\nlines\n"
                  "    n = \n"
                  "    r = 1.5\n"
                  "    b = X'00FF'\n"
                  "\n"
                  "   id = 2\n"
                  "    t = x\n"
                  "    n = y\n"
                  "    r = -0.25\n"
                  "    b = X''\n");
}

/* The columnar modes: a cell with a newline spans two lines of its row,
 * and rows are then set apart (sqlite3 3.40's output, but BLOBs in hex). */
Test(dot, mode_table)
{
    assert_output(".mode table", SAMPLE,
                  "+----+-------+---+-------+---------+\n"
                  "| id |   t   | n |   r   |    b    |\n"
                  "+----+-------+---+-------+---------+\n"
                  "| 1  | two   |   | 1.5   | X'00FF' |\n"
                  "|    | lines |   |       |         |\n"
                  "+----+-------+---+-------+---------+\n"
                  "| 2  | x     | y | -0.25 | X''     |\n"
                  "+----+-------+---+-------+---------+\n");
}

Test(dot, mode_box)
{
    assert_output(".mode box", SAMPLE,
                  "┌────┬───────┬───┬───────┬─────────┐\n"
                  "│ id │   t   │ n │   r   │    b    │\n"
                  "├────┼───────┼───┼───────┼─────────┤\n"
                  "│ 1  │ two   │   │ 1.5   │ X'00FF' │\n"
                  "│    │ lines │   │       │         │\n"
                  "├────┼───────┼───┼───────┼─────────┤\n"
                  "│ 2  │ x     │ y │ -0.25 │ X''     │\n"
                  "└────┴───────┴───┴───────┴─────────┘\n");
}

Test(dot, mode_markdown)
{
    assert_output(".mode markdown", SAMPLE,
                  "| id |   t   | n |   r   |    b    |\n"
                  "|----|-------|---|-------|---------|\n"
                  "| 1  | two   |   | 1.5   | X'00FF' |\n"
                  "|    | lines |   |       |         |\n"
                  "| 2  | x     | y | -0.25 | X''     |\n");
}

Test(dot, mode_column)
{
    assert_output(".mode column", SAMPLE,
                  "id  t      n  r      b      \n"
                  "--  -----  -  -----  -------\n"
                  "1   two       1.5    X'00FF'\n"
                  "    lines                   \n"
                  "\n"
                  "2   x      y  -0.25  X''    \n");
}

/* Without a multi-line cell, rows follow each other without rules. */
Test(dot, mode_box_single_lines)
{
    assert_output(".mode box", "SELECT id, name FROM users ORDER BY id",
                  "┌────┬──────┐\n"
                  "│ id │ name │\n"
                  "├────┼──────┤\n"
                  "│ 1  │ Ann  │\n"
                  "│ 2  │ Bob  │\n"
                  "└────┴──────┘\n");
}

/* -m takes the same names as .mode. */
Test(dot, mode_flag_takes_every_mode)
{
    struct harness_output o;
    CLI(&o, "-m", "markdown", "SELECT 1 AS a");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "| a |\n|---|\n| 1 |\n");
    harness_output_free(&o);
    CLI(&o, "--mode", "column", "SELECT 1 AS a");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "a\n-\n1\n");
    harness_output_free(&o);
}

/* .mode with no argument names the mode; switches apply to what follows. */
Test(dot, mode_switches_between_statements)
{
    struct harness_output o;
    CLI(&o, "--cmd", ".mode", "--cmd", "SELECT 1 AS a", "--cmd", ".mode csv",
        "--cmd", ".mode", "SELECT 2 AS a");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "current output mode: list\n"
                            "1\n"
                            "current output mode: csv\n"
                            "a\r\n2\r\n");
    harness_output_free(&o);
}

Test(dot, unknown_mode)
{
    FAILS(".mode: unknown mode 'bogus' (list, table, box, csv, json, line, "
          "markdown, column)",
          "--cmd", ".mode bogus", "SELECT 1");
}

/* ---------------------------------------------------- headers, nulls, widths
 */

Test(dot, headers_on_and_off)
{
    assert_output(".headers on", "SELECT 1 AS a, 2 AS b", "a|b\n1|2\n");
    struct harness_output o;
    CLI(&o, "--cmd", ".headers off", "--cmd", ".mode column", "SELECT 1 AS a");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "1\n");
    harness_output_free(&o);
    FAILS(".headers: expected on or off: maybe", "--cmd", ".headers maybe",
          "SELECT 1");
}

/* sqlite3 always prints the header in table, box and markdown; .headers
 * off (or -noheader) drops it in list, csv and column only. Each way of
 * turning it off prints what sqlite3 prints. */
Test(dot, headers_off_as_sqlite3_has_it)
{
    static const char *const modes[] = {"table",  "box",  "markdown",
                                        "column", "list", "csv"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char mode[32], flag[32];
        struct harness_output o, want;
        snprintf(mode, sizeof(mode), ".mode %s", modes[i]);
        snprintf(flag, sizeof(flag), "-%s", modes[i]);
        harness_run((const char *const[]){"/usr/bin/sqlite3", "-cmd",
                                          ".headers off", "-cmd", mode,
                                          ":memory:", "SELECT 1 AS a, 2 AS b",
                                          NULL},
                    NULL, HARNESS_RUN_TIMEOUT_MS, &want);
        cr_assert_eq(want.status, 0, "sqlite3 %s: %s", mode, want.err);
        CLI(&o, "--cmd", ".headers off", "--cmd", mode,
            "SELECT 1 AS a, 2 AS b");
        cr_assert_eq(o.status, 0, "%s: stderr: %s", mode, o.err);
        cr_assert_str_eq(o.out, want.out, "%s printed:\n%s\nsqlite3:\n%s", mode,
                         o.out, want.out);
        harness_output_free(&o);
        harness_output_free(&want);
        if (strcmp(modes[i], "csv") == 0)
            continue; /* sqlite3's -csv ends lines in LF, .mode csv CR LF */
        harness_run((const char *const[]){"/usr/bin/sqlite3", "-noheader", flag,
                                          ":memory:", "SELECT 1 AS a, 2 AS b",
                                          NULL},
                    NULL, HARNESS_RUN_TIMEOUT_MS, &want);
        cr_assert_eq(want.status, 0, "sqlite3 %s: %s", flag, want.err);
        CLI(&o, "--no-header", "-m", modes[i], "SELECT 1 AS a, 2 AS b");
        cr_assert_eq(o.status, 0, "-m %s: stderr: %s", modes[i], o.err);
        cr_assert_str_eq(o.out, want.out,
                         "--no-header -m %s printed:\n%s\nsqlite3:\n%s",
                         modes[i], o.out, want.out);
        harness_output_free(&o);
        harness_output_free(&want);
    }
}

Test(dot, nullvalue)
{
    assert_output(".nullvalue NULL", "SELECT 1, NULL, 'x'", "1|NULL|x\n");
    struct harness_output o;
    CLI(&o, "--cmd", ".nullvalue (null)", "--cmd", ".mode table",
        "SELECT NULL AS n");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "+--------+\n"
                            "|   n    |\n"
                            "+--------+\n"
                            "| (null) |\n"
                            "+--------+\n");
    harness_output_free(&o);
    /* JSON keeps null. */
    CLI(&o, "--cmd", ".nullvalue -", "-m", "json", "SELECT NULL AS n");
    cr_assert_str_eq(o.out, "[{\"n\":null}]\n");
    harness_output_free(&o);
}

/* A positive width wraps longer values onto more lines of the row (the
 * header shows its first line), a negative one right-aligns, 0 measures;
 * as sqlite3 3.40 does. */
Test(dot, width)
{
    struct harness_output o;
    CLI(&o, "--cmd", ".mode table", "--cmd", ".width 2 3 -6 0",
        "SELECT id, name, email, 'x' AS z FROM users ORDER BY id");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "+----+-----+--------+---+\n"
                            "| id | nam | email  | z |\n"
                            "+----+-----+--------+---+\n"
                            "| 1  | Ann |    a@x | x |\n"
                            "| 2  | Bob |    b@x | x |\n"
                            "+----+-----+--------+---+\n");
    harness_output_free(&o);
    CLI(&o, "--cmd", ".mode column", "--cmd", ".width 3",
        "SELECT 'abcdefg' AS v");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "v  \n---\nabc\ndef\ng  \n");
    harness_output_free(&o);
    /* .width alone goes back to measuring. */
    CLI(&o, "--cmd", ".mode column", "--cmd", ".width 3", "--cmd", ".width",
        "SELECT 'abcdefg' AS v");
    cr_assert_str_eq(o.out, "v      \n-------\nabcdefg\n");
    harness_output_free(&o);
    FAILS(".width: a width is a number", "--cmd", ".width x", "SELECT 1");
}

/* Tabs expand to every 8th column, and CR LF breaks a line once. */
Test(dot, tabs_and_crlf_in_columns)
{
    assert_output(".mode column",
                  "SELECT 'a' || char(9) || 'b' AS t, "
                  "'c' || char(13, 10) || 'd' AS u",
                  "t          u\n"
                  "---------  -\n"
                  "a       b  c\n"
                  "           d\n");
}

/* Past the rows held to measure the columns (10,000), a wider value
 * widens its column from there on, a rule marking where; memory stays
 * bounded. */
Test(dot, table_widens_past_the_first_rows)
{
    struct harness_output o;
    CLI(&o, "--cmd", ".mode table",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 10001) SELECT CASE WHEN x = 10001 THEN 'abcdefghij' "
        "ELSE 'ab' END AS v FROM c");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    const char *head = "+----+\n| v  |\n+----+\n| ab |\n| ab |\n";
    const char *tail = "| ab |\n+------------+\n| abcdefghij |\n"
                       "+------------+\n";
    cr_assert(o.out_len > strlen(tail));
    cr_assert_str_eq(o.out + o.out_len - strlen(tail), tail, "ends:\n%s",
                     o.out + o.out_len - strlen(tail));
    cr_assert(strncmp(o.out, head, strlen(head)) == 0, "begins:\n%.40s", o.out);
    harness_output_free(&o);
}

/* ----------------------------------------------------------------- schema */

Test(dot, tables)
{
    assert_output(".tables", "", "big     orders  users \n");
    assert_output(".tables u%", "", "users\n");
    /* Past 80 characters, names go down then across, as in sqlite3. */
    harness_exec_fresh(&d, "CREATE TABLE t_a_rather_long_name_number_1(x);"
                           "CREATE TABLE t_a_rather_long_name_number_2(x);"
                           "CREATE TABLE t_a_rather_long_name_number_3(x);");
    assert_output(".tables t%", "",
                  "t_a_rather_long_name_number_1  "
                  "t_a_rather_long_name_number_3\n"
                  "t_a_rather_long_name_number_2\n");
}

Test(dot, schema)
{
    assert_output(".schema", "",
                  "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT "
                  "UNIQUE, name TEXT);\n"
                  "CREATE INDEX users_name ON users(name);\n"
                  "CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id "
                  "INTEGER REFERENCES users(id), total REAL);\n"
                  "CREATE VIEW big AS SELECT * FROM orders WHERE total > "
                  "100;\n");
    assert_output(".schema users", "",
                  "CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT "
                  "UNIQUE, name TEXT);\n"
                  "CREATE INDEX users_name ON users(name);\n");
    assert_output(".schema nope", "", "");
}

Test(dot, indexes)
{
    assert_output(".indexes", "",
                  "sqlite_autoindex_users_1  users_name              \n");
    assert_output(".indexes orders", "", "");
}

/* ------------------------------------------------------------------- plan */

Test(dot, explain_draws_the_plan_as_a_tree)
{
    assert_output(".explain SELECT * FROM users JOIN orders ON "
                  "orders.user_id = users.id WHERE users.name = 'Ann'",
                  "",
                  "QUERY PLAN\n"
                  "|--SCAN orders\n"
                  "`--SEARCH users USING INTEGER PRIMARY KEY (rowid=?)\n");
    /* Nested: a subquery's rows hang under it. */
    assert_output(".explain SELECT * FROM users WHERE id IN (SELECT "
                  "user_id FROM orders WHERE total > 1)",
                  "",
                  "QUERY PLAN\n"
                  "|--SEARCH users USING INTEGER PRIMARY KEY (rowid=?)\n"
                  "`--LIST SUBQUERY 1\n"
                  "   `--SCAN orders\n");
    FAILS("no such table: nope", "--cmd", ".explain SELECT * FROM nope",
          "SELECT 1");
}

/* ------------------------------------------------------------ timer, files */

Test(dot, timer_prints_run_time)
{
    struct harness_output o;
    CLI(&o, "--cmd", ".timer on", "--cmd", "SELECT 1", "--cmd", ".timer off",
        "SELECT 2");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    /* One line after the first statement's rows, none after the second. */
    cr_assert(strncmp(o.out, "1\nRun Time: real ", 17) == 0, "%s", o.out);
    char *line = o.out + 17;
    cr_assert(strspn(line, "0123456789.") == strlen(line) - 3 &&
                  strcmp(line + strlen(line) - 3, "\n2\n") == 0,
              "%s", o.out);
    harness_output_free(&o);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[4096];
    size_t n;
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

Test(dot, output_writes_the_file_until_output_alone)
{
    char path[256];
    struct harness_output o;
    snprintf(path, sizeof(path), "%s/out.txt", d.dir);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), ".output %s", path);
    CLI(&o, "--cmd", cmd, "--cmd", "SELECT 1", "--cmd", ".tables users",
        "--cmd", ".output", "SELECT 2");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "2\n");
    cr_assert_str_eq(slurp(path), "1\nusers\n");
    harness_output_free(&o);
}

Test(dot, once_writes_only_the_next_result)
{
    char path[256], cmd[300];
    struct harness_output o;
    snprintf(path, sizeof(path), "%s/once.txt", d.dir);
    snprintf(cmd, sizeof(cmd), ".once %s", path);
    CLI(&o, "--cmd", cmd, "--cmd", "SELECT 1", "SELECT 2");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "2\n");
    cr_assert_str_eq(slurp(path), "1\n");
    harness_output_free(&o);
}

Test(dot, output_to_a_command)
{
    char path[256], cmd[300];
    struct harness_output o;
    snprintf(path, sizeof(path), "%s/piped.txt", d.dir);
    snprintf(cmd, sizeof(cmd), ".once '|tr a-z A-Z > %s'", path);
    CLI(&o, "--cmd", cmd, "SELECT 'abc'");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "");
    cr_assert_str_eq(slurp(path), "ABC\n");
    harness_output_free(&o);
}

/* A command that leaves before the result ends (.once '|head -2') took
 * what it wanted: the result stops there quietly, and the run goes on. A
 * command that fails is still named. */
Test(dot, output_to_a_command_that_leaves_early)
{
    struct harness_output o;
    CLI(&o, "--cmd", ".once '|head -2'", "--cmd",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 200000) SELECT x FROM c",
        "SELECT 'after'");
    cr_assert_eq(o.status, 0, "status %d, stderr: %s", o.status, o.err);
    cr_assert_str_eq(o.out, "1\n2\nafter\n");
    cr_assert_str_empty(o.err);
    harness_output_free(&o);
    CLI(&o, "--cmd", ".once '|exit 3'", "--cmd", "SELECT 1", "SELECT 2");
    cr_assert_str_eq(o.err, "sqlited-cli: exit 3 exited with status 3\n");
    cr_assert_eq(o.status, 1);
    harness_output_free(&o);
    /* A file that cannot take the result fails the command it was for. */
    CLI(&o, "--cmd", ".once /dev/full", "SELECT 1");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_eq(o.err, "sqlited-cli: cannot write to /dev/full: No space "
                            "left on device\n");
    harness_output_free(&o);
}

Test(dot, output_that_cannot_be_opened)
{
    FAILS("cannot open /nonexistent/dir/x: No such file or directory", "--cmd",
          ".output /nonexistent/dir/x", "SELECT 1");
    FAILS("usage: .once FILE", "--cmd", ".once", "SELECT 1");
}

/* ------------------------------------------------------------- parameters */

Test(dot, param_set_list_clear)
{
    struct harness_output o;
    CLI(&o, "--cmd", ".param set :id 2", "--cmd", ".param set @r 1.50", "--cmd",
        ".param set $t 'it''s here'", "--cmd", ".param set :b x'00Ff'", "--cmd",
        ".param set :n NULL", "--cmd", ".param set :w word", "--cmd",
        ".param list",
        "SELECT name, @r, $t, :b, :n IS NULL, :w, ':id' FROM users "
        "WHERE id = :id");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "$t  'it''s here'\n"
                            ":b  X'00FF'\n"
                            ":id 2\n"
                            ":n  NULL\n"
                            ":w  'word'\n"
                            "@r  1.5\n"
                            "Bob|1.5|it's here|X'00FF'|1|word|:id\n");
    harness_output_free(&o);

    /* A name without its prefix binds whichever the statement uses; set
     * again, it changes. */
    CLI(&o, "--cmd", ".param set id 1", "--cmd", ".param set id 2",
        "SELECT name FROM users WHERE id = $id");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "Bob\n");
    harness_output_free(&o);

    /* ... and each of its three spellings in one statement. */
    CLI(&o, "--cmd", ".param set n 7", "SELECT :n, @n, $n");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "7|7|7\n");
    harness_output_free(&o);

    /* After .param clear, the parameter has no value: the daemon says so. */
    FAILS("SQLITE_RANGE: the statement has 1 parameter but 0 values were "
          "given",
          "--cmd", ".param set :id 1", "--cmd", ".param clear", "SELECT :id");
    FAILS("no such parameter: :x", "--cmd", ".param unset :x", "SELECT 1");
    FAILS("a BLOB is X'...' with an even number of hex digits", "--cmd",
          ".param set :b x'abc'", "SELECT 1");
    FAILS("usage: .param set NAME VALUE", "--cmd", ".param set :x", "SELECT 1");
}

/* --------------------------------------------------------- help, mistakes */

Test(dot, help_lists_every_command)
{
    static const char *const names[] = {
        ".exit",      ".explain", ".headers", ".help",  ".indexes", ".mode",
        ".nullvalue", ".once",    ".output",  ".pager", ".param",   ".quit",
        ".schema",    ".tables",  ".timer",   ".width",
    };
    struct harness_output o;
    CLI(&o, ".help");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char want[32];
        snprintf(want, sizeof(want), "\n%s ", names[i]);
        cr_assert(strstr(o.out, want) ||
                      strncmp(o.out, want + 1, strlen(want + 1)) == 0,
                  "no %s in:\n%s", names[i], o.out);
    }
    harness_output_free(&o);
    CLI(&o, ".help mode");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert(strncmp(o.out,
                      ".mode [list|table|box|csv|json|line|markdown|"
                      "column]\n",
                      52) == 0,
              "%s", o.out);
    harness_output_free(&o);
}

Test(dot, unknown_command)
{
    FAILS("unknown command .bogus (try .help)", ".bogus");
    FAILS("usage: .timer on|off", ".timer");
    FAILS(".help: no such command: .bogus", ".help .bogus");
}

/* A dot-command that fails stops the run: the SQL after it is not run. */
Test(dot, failing_command_stops_the_run)
{
    struct harness_output o;
    CLI(&o, "--cmd", ".bogus", "SELECT 1");
    cr_assert_eq(o.status, 1);
    cr_assert_str_empty(o.out);
    harness_output_free(&o);
}

/* ------------------------------------------------------------------ pager */

/* A pager that marks each line it shows, so that a test sees what went
 * through it. */
#define MARKING_PAGER "SQLITED_PAGER=sed s/^/paged:/"

/* A query printing @n rows. */
#define ROWS(n)                                                                \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE "    \
    "x < " #n ") SELECT x FROM c"

/* Output wider than the terminal (80 columns) goes through the pager. */
Test(dot, pager_takes_output_wider_than_the_terminal)
{
    struct pty_proc p = {0};
    pty_cli(&p, &d, (const char *const[]){MARKING_PAGER, NULL},
            (const char *const[]){"-m", "table",
                                  "SELECT printf('%.90c', 'x') AS wide", NULL});
    pty_expect(&p, "paged:+----");
    pty_expect(&p, "paged:| xxxxxxxx");
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);
}

/* So does output longer than the terminal (24 rows), in a streaming mode:
 * the first screenful is held, then goes to the pager with the rest. */
Test(dot, pager_takes_output_longer_than_the_terminal)
{
    struct pty_proc p = {0};
    pty_cli(&p, &d, (const char *const[]){MARKING_PAGER, NULL},
            (const char *const[]){ROWS(30), NULL});
    pty_expect(&p, "paged:1\n");
    pty_expect(&p, "paged:30\n");
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);
}

/* Output that fits is printed as it is; so is any with .pager off. */
Test(dot, pager_not_used_when_the_output_fits_or_is_off)
{
    struct pty_proc p = {0};
    pty_cli(&p, &d, (const char *const[]){MARKING_PAGER, NULL},
            (const char *const[]){ROWS(20), NULL});
    cr_assert_eq(pty_wait_exit(&p), 0);
    cr_assert(strstr(p.text, "1\n2\n") && strstr(p.text, "20\n") &&
                  !strstr(p.text, "paged:"),
              "%s", pty_show(&p, 0));
    pty_close(&p);

    pty_cli(&p, &d, (const char *const[]){MARKING_PAGER, NULL},
            (const char *const[]){"--cmd", ".pager off", ROWS(30), NULL});
    cr_assert_eq(pty_wait_exit(&p), 0);
    cr_assert(strstr(p.text, "30\n") && !strstr(p.text, "paged:"), "%s",
              pty_show(&p, 0));
    pty_close(&p);
}

/* Never when standard output is not a terminal. */
Test(dot, pager_never_used_off_a_terminal)
{
    setenv("SQLITED_PAGER", "sed s/^/paged:/", 1);
    struct harness_output o;
    CLI(&o, "-m", "table", "SELECT printf('%.90c', 'x') AS wide");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_null(strstr(o.out, "paged:"), "%s", o.out);
    cr_assert_eq(strncmp(o.out, "+----", 5), 0, "%s", o.out);
    harness_output_free(&o);
}

/* A user who quits the pager before the end stops the output: no error,
 * and the rest of a large result is not waited for. */
Test(dot, pager_quit_early_is_no_error)
{
    struct pty_proc p = {0};
    pty_cli(&p, &d, (const char *const[]){"SQLITED_PAGER=head -n 2", NULL},
            (const char *const[]){ROWS(50000), NULL});
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    cr_assert(strstr(p.text, "1\n2\n") && !strstr(p.text, "\n3\n") &&
                  !strstr(p.text, "sqlited-cli:"),
              "%s", pty_show(&p, 0));
    pty_close(&p);
}

/* ---------------------------------------------------------------- scripts */

/* In a script on standard input, dot-commands and statements take turns:
 * each statement prints in the mode, header and parameters set before it;
 * .once takes the next statement's output only. */
Test(dot, script_mixes_dot_commands_and_statements)
{
    char path[256], script[1024];
    struct harness_output o;
    snprintf(path, sizeof(path), "%s/once.csv", d.dir);
    snprintf(script, sizeof(script),
             ".mode csv\n"
             "SELECT 1 AS a;\n"
             ".headers off\n"
             "SELECT 2 AS a;\n"
             ".param set :x 21\n"
             ".mode list\n"
             "SELECT :x * 2;\n"
             ".once %s\n"
             "SELECT 'to the file';\n"
             "SELECT 'back';\n"
             ".mode markdown\n"
             ".headers on\n"
             "SELECT name FROM users WHERE id = :x - 20;\n",
             path);
    harness_cli(&d, &o, script, (const char *const[]){NULL});
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "a\r\n1\r\n"
                            "2\r\n"
                            "42\n"
                            "back\n"
                            "| name |\n|------|\n| Ann  |\n");
    cr_assert_str_eq(slurp(path), "to the file\n");
    harness_output_free(&o);
}

/* ------------------------------------------------------------ in the shell */

/* .mode switches typed in the interactive shell, on a terminal: each
 * result comes out in the mode chosen last, the header following it. */
Test(dot, mode_switches_in_the_shell)
{
    struct pty_proc p = {0};
    pty_cli(&p, &d, (const char *const[]){"SQLITED_PAGER=", NULL}, NULL);
    pty_expect(&p, "> ");
    pty_send(&p, ".mode box\n");
    pty_expect(&p, "> ");
    pty_send(&p, "SELECT 1 AS a, 'two' || char(10) || 'lines' AS b;\n");
    pty_expect(&p, "┌───┬───────┐\n"
                   "│ a │   b   │\n"
                   "├───┼───────┤\n"
                   "│ 1 │ two   │\n"
                   "│   │ lines │\n"
                   "└───┴───────┘\n");
    pty_send(&p, ".mode csv\n");
    pty_expect(&p, "> ");
    pty_send(&p, "SELECT 2 AS a;\n");
    pty_expect(&p, "\na\n2\n");
    pty_send(&p, ".mode\n");
    pty_expect(&p, "current output mode: csv\n");
    pty_send(&p, ".mode markdown\n");
    pty_expect(&p, "> ");
    pty_send(&p, "SELECT 3 AS a;\n");
    pty_expect(&p, "\n| a |\n|---|\n| 3 |\n");
    pty_send(&p, ".mode bogus\n");
    pty_expect(&p, ".mode: unknown mode 'bogus'");
    pty_send(&p, "SELECT 4 AS a;\n");
    pty_expect(&p, "\n| a |\n|---|\n| 4 |\n");
    /* At the prompt, as a person would (a Ctrl-D typed ahead works too:
     * shell/keys_typed_ahead_while_a_statement_runs). */
    pty_expect(&p, "> ");
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);
}

/* Ctrl-C while a JSON result prints: the row being printed ends its line,
 * and all of the result comes out before the message, none after it (a
 * terminal's standard output holds back a line until it ends). */
Test(dot, an_interrupted_result_ends_before_its_message)
{
    struct pty_proc p = {0};
    pty_cli(&p, &d, (const char *const[]){"SQLITED_PAGER=", NULL},
            (const char *const[]){"--cmd", ".mode json", NULL});
    pty_expect(&p, "> ");
    pty_send(&p, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                 "FROM c) SELECT x FROM c;\n");
    pty_expect(&p, "{\"x\":1000}");
    /* Bounded; a Ctrl-C is resent only if nothing came of the last. */
    int64_t deadline = harness_now_ms() + PTY_TIMEOUT_MS * harness_slowdown();
    do {
        pty_send(&p, PTY_CTRL_C);
        if (pty_wait_for(&p, "SQLITED_INTERRUPTED", 200))
            break;
    } while (harness_now_ms() < deadline);
    pty_expect(&p, "\n");
    size_t from = p.mark;
    pty_expect(&p, "> ");
    cr_assert_null(memchr(p.text + from, '{', p.mark - from),
                   "a row after the message:\n%s", pty_show(&p, 0));
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);
}
