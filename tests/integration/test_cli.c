/* sqlited-cli against a real daemon: output modes, exit statuses. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

/* REALs whose shortest exact form is not what the sqlite3 shell shows. */
#define REALS                                                                  \
    "SELECT 1.1 * 3 AS a, 1 / 3.0 AS b, 1e20 AS c, 1e999 AS d, -1e999 AS e, "  \
    "-0.0 AS f, 1e15 AS g, 1e-7 AS h, 2.0 / 3 AS i, 123456789012345678.0 AS j"

/* The text modes show a REAL as the sqlite3 shell does, in 15 significant
 * digits (SQLite's "%!.15g"): the same bytes as sqlite3's own output. */
Test(cli, reals_print_as_the_sqlite3_shell_prints_them)
{
    static const char *const modes[] = {"list",  "line",     "box",
                                        "table", "markdown", "column"};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char flag[32];
        struct harness_output o, want;
        snprintf(flag, sizeof(flag), "-%s", modes[i]);
        harness_run((const char *const[]){"/usr/bin/sqlite3", "-header", flag,
                                          ":memory:", REALS, NULL},
                    NULL, HARNESS_RUN_TIMEOUT_MS, &want);
        cr_assert_eq(want.status, 0, "sqlite3 %s: %s", flag, want.err);
        CLI(&o, "--header", "--mode", modes[i], REALS);
        cr_assert_eq(o.status, 0, "--mode %s: stderr: %s", modes[i], o.err);
        cr_assert_str_eq(o.out, want.out,
                         "--mode %s printed:\n%s\nsqlite3:\n%s", modes[i],
                         o.out, want.out);
        harness_output_free(&o);
        harness_output_free(&want);
    }
    struct harness_output o;
    CLI(&o, "--mode", "csv", "--no-header", REALS);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "3.3,0.333333333333333,1.0e+20,Inf,-Inf,0.0,"
                            "1.0e+15,1.0e-07,0.666666666666667,"
                            "1.23456789012346e+17\r\n");
    harness_output_free(&o);
}

/* JSON keeps every digit that reads back as the same double. */
Test(cli, reals_in_json_read_back_exactly)
{
    struct harness_output o;
    CLI(&o, "--json", REALS);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "[{\"a\":3.3000000000000003,"
                            "\"b\":0.3333333333333333,\"c\":1e+20,"
                            "\"d\":null,\"e\":null,\"f\":-0.0,"
                            "\"g\":1e+15,\"h\":1e-07,"
                            "\"i\":0.6666666666666666,"
                            "\"j\":1.2345678901234568e+17}]\n");
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

    /* So does one a SAVEPOINT began, as in SQLite. */
    CLI(&o, "SAVEPOINT s");
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: the transaction was never "
                            "committed: rolled back, nothing of it was "
                            "applied\n");
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

/* The manual's SYNOPSIS has every form --help's usage shows: the first
 * word of each, and of each alternative after a '|'. */
Test(cli, the_manual_s_synopsis_has_every_form_of_the_usage)
{
    const char *argv[] = {SQLITED_CLI, "--help", NULL};
    struct harness_output o;
    char man[65536], synopsis[8192] = "", *w = synopsis;

    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0);
    FILE *f = fopen(SQLITED_SOURCE_DIR "/man/sqlited-cli.1", "r");
    cr_assert_not_null(f);
    man[fread(man, 1, sizeof(man) - 1, f)] = '\0';
    fclose(f);
    /* The section, as it reads: "\-" is '-'. */
    const char *p = strstr(man, ".SH SYNOPSIS"), *end = strstr(man, ".SH DESC");
    cr_assert(p && end && end > p);
    for (; p < end && w < synopsis + sizeof(synopsis) - 1; p++)
        if (!(p[0] == '\\' && p[1] == '-'))
            *w++ = *p;
    *w = '\0';
    char *usage = strstr(o.out, "Usage:"), *blank = strstr(o.out, "\n\n");
    cr_assert(usage && blank);
    *blank = '\0';
    for (char *line = strtok(usage, "\n"); line; line = strtok(NULL, "\n")) {
        char *form = strstr(line, "[options]");
        form = form ? form + strlen("[options]") : strstr(line, "COMMAND");
        for (char *alt = form; alt; alt = strstr(alt, " | ")) {
            char word[64];
            if (strncmp(alt, " | ", 3) == 0)
                alt += 3;
            if (sscanf(alt, " %63s", word) != 1 || word[0] == '(')
                break;
            cr_assert(strstr(synopsis, word),
                      "sqlited-cli(1) SYNOPSIS lacks %s (--help: %s)", word,
                      line);
            alt++;
        }
    }
    harness_output_free(&o);
}

/* `.dump --help` (a dot-command as the argument, then --help) is that
 * command's help, not the whole --help; the rest of the argument does not
 * matter. */
Test(cli, a_dot_command_s_help_is_its_own)
{
    static const struct {
        const char *arg, *usage, *says;
    } cases[] = {
        {".dump", "Usage: sqlited-cli [options] \".dump [TABLE]\"\n",
         "ends in ROLLBACK;"},
        {".import x.csv t",
         "Usage: sqlited-cli [options] \".import [--csv] [--skip N] FILE "
         "TABLE\"\n",
         "--skip N        skip the first N records\n"},
        {"dump", NULL, NULL},
        {".mode", "Usage: sqlited-cli [options] \".mode [list|",
         "\nSet how "
         "results are "
         "printed"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *argv[] = {SQLITED_CLI, cases[i].arg, "--help", NULL};
        struct harness_output o;
        harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
        cr_assert_eq(o.status, 0, "%s --help: status %d: %s", cases[i].arg,
                     o.status, o.err);
        cr_assert_str_empty(o.err);
        if (cases[i].usage) {
            cr_assert_eq(strncmp(o.out, cases[i].usage, strlen(cases[i].usage)),
                         0, "%s --help:\n%s", cases[i].arg, o.out);
            cr_assert_not_null(strstr(o.out, cases[i].says), "%s --help:\n%s",
                               cases[i].arg, o.out);
            cr_assert_null(strstr(o.out, "Options:\n  -s, --socket"),
                           "%s --help is the whole help:\n%s", cases[i].arg,
                           o.out);
        } else {
            /* Not a dot-command: the whole help. */
            cr_assert_not_null(strstr(o.out, "Options:\n  -s, --socket"), "%s",
                               o.out);
        }
        harness_output_free(&o);
    }
    const char *argv[] = {SQLITED_CLI, ".bogus", "--help", NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2);
    cr_assert_str_empty(o.out);
    cr_assert_str_eq(o.err, "sqlited-cli: no such dot-command (try .help): "
                            ".bogus\nTry 'sqlited-cli --help' for more "
                            "information.\n");
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

/* ------------------------------------------------------ stdout a pipe */

/* A query that never ends by itself: one row after another. */
#define ENDLESS_ROWS                                                           \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "         \
    "SELECT x FROM c"

/* sqlited-cli with its standard output a pipe the test reads, as in
 * `sqlited-cli ... | head`; its standard error goes to DIR/cli.err. */
struct piped {
    pid_t pid;
    int out; /* the pipe's read end; -1 once closed */
    char buf[65536];
    size_t len;
};

/* Starts sqlited-cli -s (the daemon's socket) with @args, its standard
 * output @out_fd and its standard error DIR/cli.err (see read_err()). */
static pid_t cli_start(const char *const *args, int out_fd)
{
    const char *argv[16] = {SQLITED_CLI, "-s", d.sock_path};
    size_t n = 3;
    char err[192];

    for (size_t i = 0; args[i]; i++) {
        cr_assert_lt(n, 15);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    snprintf(err, sizeof(err), "%s/cli.err", d.dir);
    int err_fd = open(err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(err_fd, 0);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* A test that fails must not leave an endless query running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        /* As a shell starts a command: SIGPIPE not ignored. */
        signal(SIGPIPE, SIG_DFL);
        if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(err_fd);
    return pid;
}

/* What the CLI started by cli_start() wrote on its standard error, into
 * @err (@errsize bytes at most, NUL-terminated). */
static void read_err(char *err, size_t errsize)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/cli.err", d.dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(err, 1, errsize - 1, f);
    err[n] = '\0';
    fclose(f);
}

static void piped_start(struct piped *c, const char *const *args)
{
    int fds[2];

    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    c->pid = cli_start(args, fds[1]);
    close(fds[1]);
    c->out = fds[0];
    c->len = 0;
}

/* Reads until the output holds @text (as `head` reads its lines), bounded
 * by a generous deadline that only keeps a broken CLI from hanging the
 * suite; fails the test if it never comes. Nothing is timed. */
static void piped_expect(struct piped *c, const char *text)
{
    int64_t deadline =
        harness_now_ms() + HARNESS_RUN_TIMEOUT_MS * harness_slowdown();

    for (;;) {
        c->buf[c->len] = '\0';
        if (strstr(c->buf, text))
            return;
        int64_t left = deadline - harness_now_ms();
        cr_assert_gt(left, 0,
                     "the CLI never printed \"%s\"; it printed %zu bytes:\n%s",
                     text, c->len, c->buf);
        struct pollfd pfd = {.fd = c->out, .events = POLLIN};
        if (poll(&pfd, 1, left > 1000 ? 1000 : (int)left) <= 0)
            continue;
        if (c->len + 1 >= sizeof(c->buf))
            cr_assert_fail("%zu bytes and still no \"%s\"", c->len, text);
        ssize_t got =
            read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        cr_assert_gt(got, 0, "the CLI's output ended before \"%s\":\n%s", text,
                     c->buf);
        c->len += (size_t)got;
    }
}

/* Closes the reading end, as `head` does once it has its lines, and
 * waits (bounded) for the CLI to end. Returns its exit code, or 128 + the
 * signal that ended it; @err receives its standard error. */
static int piped_close(struct piped *c, char *err, size_t errsize)
{
    int64_t deadline =
        harness_now_ms() + HARNESS_RUN_TIMEOUT_MS * harness_slowdown();
    int st;
    pid_t r;

    close(c->out);
    c->out = -1;
    while ((r = waitpid(c->pid, &st, WNOHANG)) == 0) {
        if (harness_now_ms() > deadline) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
            cr_assert_fail("the CLI went on after its reader had gone");
        }
        harness_sleep_ms(10);
    }
    cr_assert_eq(r, c->pid);
    read_err(err, errsize);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* An endless result starts arriving at once, row by row, in every mode;
 * were it held until its end, nothing would ever come. */
Test(cli, rows_stream_to_a_pipe_as_they_come)
{
    static const struct {
        const char *mode, *first;
    } cases[] = {
        {"list", "\n1\n2\n3\n"},
        {"csv", "x\r\n1\r\n2\r\n3\r\n"},
        {"json", "[{\"x\":1},\n{\"x\":2},\n"},
        {"box", "\u2502 1 "},
        {"table", "| 1 "},
        {"column", "-\n1 "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct piped c;
        char err[4096];
        piped_start(&c, (const char *const[]){"--mode", cases[i].mode,
                                              ENDLESS_ROWS, NULL});
        /* A leading newline for list: the first row is "1". */
        if (strcmp(cases[i].mode, "list") == 0) {
            piped_expect(&c, "1\n2\n3\n");
            cr_assert_eq(strncmp(c.buf, "1\n2\n3\n", 6), 0);
        } else {
            piped_expect(&c, cases[i].first);
        }
        piped_close(&c, err, sizeof(err));
    }
}

/* `sqlited-cli ... | head -1`: once the reader has gone, the CLI ends
 * quietly, by SIGPIPE like sqlite3 and psql (status 141 in the shell, so
 * that set -o pipefail sees the output was cut short), its cursor and
 * connection closed. */
Test(cli, a_reader_that_goes_away_ends_it_quietly)
{
    struct piped c;
    char err[4096];

    piped_start(&c, (const char *const[]){ENDLESS_ROWS, NULL});
    piped_expect(&c, "1\n");
    cr_assert_eq(piped_close(&c, err, sizeof(err)), 128 + SIGPIPE, "stderr: %s",
                 err);
    cr_assert_str_empty(err);
    /* Its cursor is gone with it. */
    cr_assert_eq(harness_stat(&d, "cursors_open"), 0);
}

/* The same in a transaction, which is rolled back (said so: nothing of
 * it was applied), and in a script with --no-bail, which stops there. */
Test(cli, a_reader_that_goes_away_ends_a_transaction_and_a_script)
{
    struct piped c;
    char err[4096];

    piped_start(&c, (const char *const[]){
                        "--no-bail",
                        "BEGIN; INSERT INTO p(name) VALUES ('gone');"
                        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                        "x + 1 FROM c WHERE x < 200000) SELECT x FROM c;"
                        "COMMIT; INSERT INTO p(name) VALUES ('after')",
                        NULL});
    piped_expect(&c, "1\n");
    cr_assert_eq(piped_close(&c, err, sizeof(err)), 128 + SIGPIPE, "stderr: %s",
                 err);
    cr_assert_str_eq(err, "sqlited-cli: the transaction (begun at line 1) "
                          "was never committed: rolled back, nothing of it "
                          "was applied\n");
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM p"), 2);
    sqlited_close(db);
}

/* Runs sqlited-cli with @args and its standard output a pipe whose read
 * end is closed before it starts: its first write finds the reader gone.
 * Returns its exit code, or 128 + the signal that ended it; @err receives
 * its standard error. */
static int run_unread(const char *const *args, char *err, size_t errsize)
{
    int fds[2], st;

    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    close(fds[0]);
    pid_t pid = cli_start(args, fds[1]);
    close(fds[1]);
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    read_err(err, errsize);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* `sqlited-cli stats | true`: a small output is written only at the end,
 * when the reader may be gone already; that too ends quietly by SIGPIPE,
 * whichever command printed it, as sqlited-cli(1) says. */
Test(cli, a_reader_gone_before_a_small_output_ends_it_by_sigpipe)
{
    static const char *const cases[][4] = {
        {"select 1"},
        {"--mode", "box", "select 1"},
        {"ping"},
        {"ping", "--json"},
        {"stats"},
        {"metrics"},
        {"health", "--json"},
        {"--version"},
        {".tables"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[4096];
        int status = run_unread(cases[i], err, sizeof(err));
        cr_assert_eq(status, 128 + SIGPIPE, "%s: status %d, stderr: %s",
                     cases[i][0], status, err);
        cr_assert_str_empty(err, "%s: stderr: %s", cases[i][0], err);
    }
}
