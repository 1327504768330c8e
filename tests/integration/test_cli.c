/* sqlited-cli against a real daemon: output modes, exit statuses. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
    /* Two rows: text with a comma and with quotes, and a NULL. */
    harness_exec_fresh(&d, "CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT, "
                           "note TEXT);"
                           "INSERT INTO p VALUES (1, 'a,b', 'say \"hi\"'), "
                           "(2, 'plain', NULL);");
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

#define SELECT_P "SELECT id, name, note FROM p ORDER BY id"

#define CLI(o, ...)                                                            \
    harness_cli(&d, (o), NULL, (const char *const[]){__VA_ARGS__, NULL})

/* Runs SELECT_P in @mode and requires exactly @want on stdout. */
static void assert_mode_output(const char *mode, const char *want)
{
    struct harness_output o;
    CLI(&o, "--mode", mode, SELECT_P);
    cr_assert_eq(o.status, 0, "--mode %s: status %d, stderr: %s", mode,
                 o.status, o.err);
    cr_assert_str_eq(o.out, want, "--mode %s printed:\n%s", mode, o.out);
    cr_assert_str_empty(o.err);
    harness_output_free(&o);
}

Test(cli, sqlite_version)
{
    sqlited *db = harness_connect(&d);
    char want[64];
    snprintf(want, sizeof(want), "%s\n", sqlited_sqlite_version(db));
    sqlited_close(db);
    struct harness_output o;
    CLI(&o, "select sqlite_version()");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, want);
    harness_output_free(&o);
}

Test(cli, ping)
{
    struct harness_output o;
    CLI(&o, "ping");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "pong\n");
    harness_output_free(&o);
}

Test(cli, mode_list)
{
    assert_mode_output("list", "1|a,b|say \"hi\"\n"
                               "2|plain|\n");
}

Test(cli, default_mode_is_list_without_header)
{
    struct harness_output o;
    CLI(&o, SELECT_P);
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.out, "1|a,b|say \"hi\"\n"
                            "2|plain|\n");
    harness_output_free(&o);
    CLI(&o, "--header", SELECT_P);
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.out, "id|name|note\n"
                            "1|a,b|say \"hi\"\n"
                            "2|plain|\n");
    harness_output_free(&o);
}

/* RFC 4180, as the sqlite3 shell writes it: CRLF, quotes doubled. */
Test(cli, mode_csv)
{
    assert_mode_output("csv", "id,name,note\r\n"
                              "1,\"a,b\",\"say \"\"hi\"\"\"\r\n"
                              "2,plain,\r\n");
}

Test(cli, mode_csv_no_header)
{
    struct harness_output o;
    CLI(&o, "--mode", "csv", "--no-header", SELECT_P);
    cr_assert_eq(o.status, 0);
    cr_assert_str_eq(o.out, "1,\"a,b\",\"say \"\"hi\"\"\"\r\n"
                            "2,plain,\r\n");
    harness_output_free(&o);
}

Test(cli, mode_json)
{
    assert_mode_output(
        "json", "[{\"id\":1,\"name\":\"a,b\",\"note\":\"say \\\"hi\\\"\"},\n"
                "{\"id\":2,\"name\":\"plain\",\"note\":null}]\n");
}

Test(cli, mode_line)
{
    assert_mode_output("line", "   id = 1\n"
                               " name = a,b\n"
                               " note = say \"hi\"\n"
                               "\n"
                               "   id = 2\n"
                               " name = plain\n"
                               " note = \n");
}

Test(cli, mode_table)
{
    assert_mode_output("table", "+----+-------+----------+\n"
                                "| id | name  |   note   |\n"
                                "+----+-------+----------+\n"
                                "| 1  | a,b   | say \"hi\" |\n"
                                "| 2  | plain |          |\n"
                                "+----+-------+----------+\n");
}

/* REALs print recognisably as REALs; blobs as hex literals. */
Test(cli, reals_and_blobs)
{
    struct harness_output o;
    CLI(&o, "SELECT 1.0, 0.1, -2.5e-07, 7, x'00ff'");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "1.0|0.1|-2.5e-07|7|X'00FF'\n");
    harness_output_free(&o);
}

/* A script as one argument; its effects are visible afterwards. */
Test(cli, script_argument)
{
    struct harness_output o;
    CLI(&o, "CREATE TABLE s(x); INSERT INTO s VALUES (1), (2);"
            "SELECT sum(x) FROM s");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "3\n");
    harness_output_free(&o);
}

Test(cli, sql_on_stdin)
{
    struct harness_output o;
    harness_cli(&d, &o, "SELECT name FROM p WHERE id = 2;\n",
                (const char *const[]){"-", NULL});
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "plain\n");
    harness_output_free(&o);
}

Test(cli, socket_from_environment)
{
    cr_assert_eq(setenv("SQLITED_SOCKET", d.sock_path, 1), 0);
    const char *argv[] = {SQLITED_CLI, "SELECT count(*) FROM p", NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    unsetenv("SQLITED_SOCKET");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "2\n");
    harness_output_free(&o);
}

Test(cli, error_exits_1_with_the_name)
{
    struct harness_output o;
    CLI(&o, "SELECT * FROM nope");
    cr_assert_eq(o.status, 1);
    cr_assert_str_empty(o.out);
    cr_assert_not_null(strstr(o.err, "SQLITE_ERROR"), "stderr: %s", o.err);
    cr_assert_not_null(strstr(o.err, "no such table: nope"), "stderr: %s",
                       o.err);
    harness_output_free(&o);

    CLI(&o, "INSERT INTO p(id, name) VALUES (1, 'dup')");
    cr_assert_eq(o.status, 1);
    cr_assert_not_null(strstr(o.err, "SQLITE_CONSTRAINT_PRIMARYKEY"),
                       "stderr: %s", o.err);
    harness_output_free(&o);

    /* BEGIN opens the daemon's transaction (test_script.c); one left open
     * at the end is rolled back, and that is a failure. */
    CLI(&o, "BEGIN");
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: the transaction was never "
                            "committed: rolled back, nothing of it was "
                            "applied\n");
    harness_output_free(&o);

    CLI(&o, "SAVEPOINT s");
    cr_assert_eq(o.status, 1);
    cr_assert_not_null(strstr(o.err, "SQLITED_BAD_REQUEST"), "stderr: %s",
                       o.err);
    harness_output_free(&o);
}

Test(cli, missing_socket_exits_2)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/nope.sock", d.dir);
    const char *argv[] = {SQLITED_CLI, "-s", path, "ping", NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2);
    cr_assert_str_empty(o.out);
    cr_assert_not_null(strstr(o.err, path), "stderr: %s", o.err);
    harness_output_free(&o);
}

Test(cli, usage_errors_exit_2)
{
    struct harness_output o;
    CLI(&o, "--mode", "html", "SELECT 1");
    cr_assert_eq(o.status, 2);
    cr_assert_str_empty(o.out);
    cr_assert_not_null(strstr(o.err, "html"), "stderr: %s", o.err);
    harness_output_free(&o);
    CLI(&o, "SELECT 1", "SELECT 2");
    cr_assert_eq(o.status, 2);
    harness_output_free(&o);
    CLI(&o, "--bogus");
    cr_assert_eq(o.status, 2);
    harness_output_free(&o);
}

Test(cli, help_exits_0)
{
    const char *argv[] = {SQLITED_CLI, "--help", NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0);
    cr_assert_not_null(strstr(o.out, "Usage: sqlited-cli"), "stdout: %s",
                       o.out);
    harness_output_free(&o);
}

/* The C example in README.md (built by make test from the README itself)
 * runs against a daemon at ./var/sqlited.sock and prints what it should. */
Test(cli, readme_example_runs)
{
    char work[128], var[160], cmd[512];
    snprintf(work, sizeof(work), "%s/work", d.dir);
    snprintf(var, sizeof(var), "%s/var", work);
    cr_assert_eq(mkdir(work, 0700), 0);
    cr_assert_eq(symlink(d.dir, var), 0); /* ./var/sqlited.sock is ours */
    snprintf(cmd, sizeof(cmd), "cd '%s' && exec '%s'", work,
             SQLITED_README_EXAMPLE);
    struct harness_output o;
    harness_run((const char *const[]){"/bin/sh", "-c", cmd, NULL}, NULL,
                HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "exit %d: %s", o.status, o.err);
    cr_assert_str_eq(o.out, "inserted row 1\n1 hello from C\n"
                            "1 squared is 1\n2 squared is 4\n"
                            "3 squared is 9\n4 squared is 16\n");
    harness_output_free(&o);
}
