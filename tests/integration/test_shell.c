/* sqlited-cli's interactive shell, driven through a pseudo-terminal
 * (tests/helpers/pty.h) against a real daemon: statements over several
 * lines, completion, history, Ctrl-C and Ctrl-D. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"
#include "pty.h"

static struct daemon d;
static struct pty_proc p;
static char prompt[192];    /* "sqlited DIR/sqlited.sock> " */
static char tx_prompt[192]; /* "sqlited DIR/sqlited.sock*> " */

static void setup(void)
{
    daemon_start(&d, NULL);
    snprintf(prompt, sizeof(prompt), "sqlited %s> ", d.sock_path);
    snprintf(tx_prompt, sizeof(tx_prompt), "sqlited %s*> ", d.sock_path);
}

static void teardown(void)
{
    pty_close(&p);
    daemon_cleanup(&d);
}

TestSuite(shell, .init = setup, .fini = teardown, .timeout = 120);

/* Starts the shell and waits for its banner and first prompt. */
static void start_shell(void)
{
    pty_cli(&p, &d, NULL, NULL);
    pty_expect(&p, "enter .help for usage hints\n");
    pty_expect(&p, prompt);
}

/* Ctrl-D at the next prompt: the shell exits with status 0. (Typed ahead
 * also works: see keys_typed_ahead_while_a_statement_runs.) */
static void quit_shell(void)
{
    pty_expect(&p, prompt);
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0, "transcript:\n%s", pty_show(&p, 0));
}

Test(shell, statement_over_several_lines)
{
    start_shell();
    pty_send(&p, "SELECT 6\n");
    pty_expect(&p, "\n   ...> ");
    /* Nothing ran yet. */
    cr_assert_null(strstr(pty_since_mark(&p), "6"));
    pty_send(&p, "  * 7 AS answer;\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
}

Test(shell, trigger_body_semicolons_do_not_end_the_statement)
{
    start_shell();
    pty_send(&p, "CREATE TABLE t(x); CREATE TABLE log(x);\n");
    pty_expect(&p, prompt);
    pty_send(&p, "CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN\n");
    pty_expect(&p, "   ...> ");
    pty_send(&p, "INSERT INTO log VALUES (new.x * 2);\n");
    /* The ';' inside the body does not end the statement. */
    pty_expect(&p, "   ...> ");
    pty_send(&p, "END;\n");
    pty_expect(&p, prompt);
    pty_send(&p, "INSERT INTO t VALUES (21);\n");
    pty_expect(&p, prompt);
    pty_send(&p, "SELECT x + 0 FROM log;\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
}

/* Two rows in a table whose name no keyword begins like, then the
 * shell. */
static void start_shell_on_inventory(void)
{
    harness_exec_fresh(&d, "CREATE TABLE inventory_items(id INTEGER PRIMARY "
                           "KEY, quantity INTEGER);"
                           "INSERT INTO inventory_items(quantity) VALUES "
                           "(40), (2);");
    start_shell();
}

Test(shell, tab_completes_a_table_name)
{
    start_shell_on_inventory();
    pty_send(&p, "SELECT count(*) FROM inventory_i" PTY_TAB);
    pty_expect(&p, "FROM inventory_items ");
    /* The completed name runs. */
    pty_send(&p, ";\n");
    pty_expect(&p, "\n2\n");
    quit_shell();
}

Test(shell, tab_completes_a_column_name)
{
    start_shell_on_inventory();
    pty_send(&p, "SELECT sum(inventory_items.quan" PTY_TAB);
    pty_expect(&p, "inventory_items.quantity ");
    pty_send(&p, ") FROM inventory_items;\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, prompt);
    pty_send(&p, "SELECT max(quan" PTY_TAB);
    pty_expect(&p, "max(quantity ");
    pty_send(&p, ") + 2 FROM inventory_items;\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
}

Test(shell, tab_completes_a_table_the_shell_created)
{
    start_shell();
    /* The first Tab asks the daemon for the schema... */
    pty_send(&p, "selec" PTY_TAB);
    pty_expect(&p, "select ");
    pty_send(&p, "zebra_s" PTY_TAB PTY_CTRL_C);
    pty_expect(&p, prompt);
    /* ... and a statement that changes it makes the shell ask again. */
    pty_send(&p, "CREATE TABLE zebra_stripes(n); INSERT INTO zebra_stripes "
                 "VALUES (42);\n");
    pty_expect(&p, prompt);
    pty_send(&p, "SELECT n FROM zebra_s" PTY_TAB);
    pty_expect(&p, "FROM zebra_stripes ");
    pty_send(&p, ";\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
}

/* Names that are no plain identifier complete in double quotes, an
 * embedded one doubled, whether the word is typed with a quote or not; so
 * do the columns after "quoted table". Each completed statement runs: the
 * rows come only if the SQL is valid. */
Test(shell, tab_completes_names_that_need_quotes)
{
    harness_exec_fresh(&d, "CREATE TABLE \"my tab\"(a, \"b c\");"
                           "INSERT INTO \"my tab\" VALUES (40, 2);"
                           "CREATE TABLE \"he said \"\"hi\"\"\"(x);"
                           "INSERT INTO \"he said \"\"hi\"\"\" VALUES (42);");
    start_shell();
    /* Typed without a quote. */
    pty_send(&p, "SELECT count(*) + 41 FROM my" PTY_TAB);
    pty_expect(&p, "\"my tab\" ");
    pty_send(&p, ";\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, prompt);
    /* Typed with one: matched without it, and closed. */
    pty_send(&p, "SELECT count(*) + 41 FROM \"my" PTY_TAB);
    pty_expect(&p, "\"my tab\" ");
    pty_send(&p, ";\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, prompt);
    /* An embedded quote is doubled. */
    pty_send(&p, "SELECT x FROM \"he" PTY_TAB);
    pty_expect(&p, "\"he said \"\"hi\"\"\" ");
    pty_send(&p, ";\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, prompt);
    /* After "my tab". its columns, quoted as needed... */
    pty_send(&p, "SELECT \"my tab\"." PTY_TAB);
    pty_expect(&p, "\n\"my tab\".\"b c\"  \"my tab\".a\n");
    /* ... whether the column is typed with a quote or not. */
    pty_send(&p, "a + \"my tab\".b" PTY_TAB);
    pty_expect(&p, "\"my tab\".\"b c\" ");
    pty_send(&p, "+ \"my tab\".\"b" PTY_TAB);
    pty_expect(&p, "\"my tab\".\"b c\" ");
    pty_send(&p, "- 2 FROM \"my tab\";\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
}

Test(shell, tab_completes_keywords_and_lists_choices)
{
    start_shell();
    /* In the case typed: one keyword starts with "selec". */
    pty_send(&p, "selec" PTY_TAB);
    pty_expect(&p, "select ");
    pty_send(&p, "6 * 7 ");
    /* Several: completed as far as they agree ("INTERSECT", "INTO"
     * agree on "INT"), listed when they agree no further. */
    pty_send(&p, "INT" PTY_TAB);
    pty_expect(&p, "\nINTERSECT");
    pty_expect(&p, "INTO");
    pty_send(&p, "ERS" PTY_TAB);
    pty_expect(&p, "INTERSECT ");
    pty_send(&p, "SELECT 42;\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
}

Test(shell, tab_completes_dot_commands)
{
    start_shell();
    pty_send(&p, ".qu" PTY_TAB);
    pty_expect(&p, ".quit ");
    pty_send(&p, PTY_ENTER);
    cr_assert_eq(pty_wait_exit(&p), 0);
}

Test(shell, ctrl_c_while_typing_drops_the_statement)
{
    start_shell();
    pty_send(&p, "SELECT 1,\n");
    pty_expect(&p, "   ...> ");
    pty_send(&p, "2, 3" PTY_CTRL_C);
    /* A fresh prompt, not a continuation... */
    pty_expect(&p, prompt);
    /* ... and what was typed is gone: this runs on its own. */
    pty_send(&p, "SELECT 6 * 7;\n");
    pty_expect(&p, "\n42\n");
    cr_assert_null(strstr(p.text, "syntax error"), "transcript:\n%s",
                   pty_show(&p, 0));
    quit_shell();
}

/* Ctrl-C until @what shows: the first may come before the statement's
 * request is on its way (an interrupt then is dropped, by design, like
 * sqlite3_interrupt() between statements). Bounded; nothing is timed. */
static void interrupt_until(const char *what)
{
    int64_t deadline = harness_now_ms() + PTY_TIMEOUT_MS * harness_slowdown();
    do {
        pty_send(&p, PTY_CTRL_C);
        if (pty_wait_for(&p, what, 200))
            return;
    } while (harness_now_ms() < deadline);
    pty_expect(&p, what); /* fails, showing the transcript */
}

/* What another client sees of t. */
static int64_t others_count(void)
{
    sqlited *db = harness_connect(&d);
    int64_t n = harness_query_int(db, "SELECT count(*) FROM t");
    sqlited_close(db);
    return n;
}

Test(shell, transaction_typed_by_hand)
{
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    start_shell();
    pty_send(&p, "BEGIN;\n");
    /* The prompt says a transaction is open. */
    pty_expect(&p, tx_prompt);
    pty_send(&p, "INSERT INTO t VALUES (42);\n");
    pty_expect(&p, tx_prompt);
    pty_send(&p, "SELECT x FROM t;\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, tx_prompt);
    /* Not committed: another client does not see the row... */
    cr_assert_eq(others_count(), 0);
    pty_send(&p, "COMMIT;\n");
    pty_expect(&p, prompt);
    /* ... until COMMIT. */
    cr_assert_eq(others_count(), 1);
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0);
}

/* The note the shell gives when the first transaction typed by hand
 * opens. */
#define TX_NOTE                                                                \
    "sqlited-cli: note: an open transaction holds the daemon's only "          \
    "writer: it is rolled back once idle for 5 s (--tx-idle-timeout) or "      \
    "open for 60 s (--tx-max-duration)\n"

/* A person at the prompt pauses, and the daemon does not wait: the first
 * BEGIN of the session says how long it keeps the transaction; the
 * second says nothing. */
Test(shell, the_first_begin_notes_the_daemon_s_limits_once)
{
    start_shell();
    pty_send(&p, "SELECT 6 * 7;\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, prompt);
    pty_send(&p, "BEGIN;\n");
    pty_expect(&p, "BEGIN;\n" TX_NOTE);
    pty_expect(&p, tx_prompt);
    pty_send(&p, "COMMIT;\n");
    pty_expect(&p, prompt);
    pty_send(&p, "BEGIN;\n");
    pty_expect(&p, tx_prompt);
    pty_send(&p, "ROLLBACK;\n");
    quit_shell();
    const char *note = strstr(p.text, TX_NOTE);
    cr_assert_not_null(note);
    cr_assert_null(strstr(note + 1, TX_NOTE), "transcript:\n%s",
                   pty_show(&p, 0));
}

/* The note gives the daemon's own limits, from the handshake. */
Test(shell, the_note_gives_the_daemon_s_own_limits)
{
    daemon_cleanup(&d);
    memset(&d, 0, sizeof(d));
    daemon_start(&d, (const char *const[]){"--tx-idle-timeout", "1500",
                                           "--tx-max-duration", "0", NULL});
    snprintf(prompt, sizeof(prompt), "sqlited %s> ", d.sock_path);
    snprintf(tx_prompt, sizeof(tx_prompt), "sqlited %s*> ", d.sock_path);
    start_shell();
    pty_send(&p, "BEGIN;\n");
    pty_expect(&p, "BEGIN;\nsqlited-cli: note: an open transaction holds the "
                   "daemon's only writer: it is rolled back once idle for "
                   "1.5 s (--tx-idle-timeout)\n");
    pty_expect(&p, tx_prompt);
    pty_send(&p, "ROLLBACK;\n");
    quit_shell();
}

Test(shell, ctrl_c_interrupts_the_running_query_and_keeps_the_session)
{
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    start_shell();
    pty_send(&p, "BEGIN;\n");
    pty_expect(&p, tx_prompt);
    pty_send(&p, "INSERT INTO t VALUES (42);\n");
    pty_expect(&p, tx_prompt);
    pty_send(&p, HARNESS_ENDLESS_SQL ";\n");
    interrupt_until("SQLITED_INTERRUPTED: cancelled by the client");
    /* The daemon stopped it... */
    cr_assert_geq(harness_stat(&d, "cancelled"), 1);
    /* ... and the shell goes on, on the same session, in the same
     * transaction. */
    pty_expect(&p, tx_prompt);
    pty_send(&p, "SELECT 6 * x / 6 FROM t;\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, tx_prompt);
    cr_assert_eq(others_count(), 0);
    pty_send(&p, "COMMIT;\n");
    pty_expect(&p, prompt);
    cr_assert_eq(others_count(), 1);
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0);
}

Test(shell, an_open_transaction_is_rolled_back_at_exit)
{
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    start_shell();
    pty_send(&p, "BEGIN;\n");
    pty_expect(&p, tx_prompt);
    pty_send(&p, "INSERT INTO t VALUES (42);\n");
    pty_expect(&p, tx_prompt);
    pty_send(&p, PTY_CTRL_D);
    pty_expect(&p, "was never committed: rolled back, nothing of it was "
                   "applied\n");
    /* Like a script that leaves one open. */
    cr_assert_eq(pty_wait_exit(&p), 1);
    cr_assert_eq(others_count(), 0);
}

Test(shell, ctrl_d_exits_with_status_0)
{
    start_shell();
    pty_send(&p, "SELECT 6 * 7;\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
}

Test(shell, statement_half_typed_at_end_of_input_is_reported_not_run)
{
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    start_shell();
    pty_send(&p, "INSERT INTO t VALUES (1)\n");
    pty_expect(&p, "   ...> ");
    pty_send(&p, PTY_CTRL_D);
    pty_expect(&p, "end of input inside a statement, not run: INSERT INTO t "
                   "VALUES (1)\n");
    cr_assert_eq(pty_wait_exit(&p), 1);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    sqlited_close(db);
}

Test(shell, losing_the_daemon_ends_the_shell)
{
    start_shell();
    cr_assert_eq(daemon_stop(&d), 0);
    pty_send(&p, "SELECT 6 * 7;\n");
    pty_expect(&p, "the connection to ");
    pty_expect(&p, " is lost; leaving the shell\n");
    cr_assert_eq(pty_wait_exit(&p), 2);
}

Test(shell, cmd_runs_before_the_first_prompt)
{
    pty_cli(&p, &d, NULL,
            (const char *const[]){"--cmd", "SELECT 40 + 2", NULL});
    pty_expect(&p, "42\n");
    pty_expect(&p, "enter .help for usage hints\n");
    quit_shell();
}

Test(shell, dot_quit_exits_with_status_0)
{
    start_shell();
    pty_send(&p, ".quit\n");
    cr_assert_eq(pty_wait_exit(&p), 0);
}

/* The file the shell keeps its history in; pty_cli() points
 * SQLITED_HISTORY there. */
static char *read_history_file(void)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/history", d.dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no history file %s", path);
    char *buf = calloc(1, 65536);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    struct stat st;
    cr_assert_eq(fstat(fileno(f), &st), 0);
    cr_assert_eq(st.st_mode & 077, 0, "history file mode %o",
                 (unsigned)st.st_mode & 0777);
    fclose(f);
    return buf;
}

Test(shell, history_persists_across_runs)
{
    start_shell();
    pty_send(&p, "SELECT 6 * 7;\n");
    pty_expect(&p, "\n42\n");
    pty_expect(&p, prompt);
    /* A line that starts with a space is not recorded. */
    pty_send(&p, " SELECT 'secret' || 'word';\n");
    pty_expect(&p, "\nsecretword\n");
    quit_shell();
    char *h = read_history_file();
    cr_assert_not_null(strstr(h, "SELECT"), "history file:\n%s", h);
    cr_assert_null(strstr(h, "secret"), "history file:\n%s", h);
    free(h);
    pty_close(&p);

    /* A second run: Up brings the statement back. */
    start_shell();
    pty_send(&p, "\033[A");
    pty_expect(&p, "SELECT 6 * 7;");
    pty_send(&p, PTY_ENTER);
    pty_expect(&p, "\n42\n");
    quit_shell();
}

Test(shell, history_is_bounded)
{
    /* A history of 1005 entries, as libedit writes it. */
    char path[192];
    snprintf(path, sizeof(path), "%s/history", d.dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("_HiStOrY_V2_\n", f);
    for (int i = 0; i < 1005; i++)
        fprintf(f, "SELECT\\040%d;\n", i);
    cr_assert_eq(fclose(f), 0);

    start_shell();
    pty_send(&p, "SELECT 6 * 7;\n");
    pty_expect(&p, "\n42\n");
    quit_shell();
    char *h = read_history_file();
    size_t lines = 0;
    for (char *c = h; *c; c++)
        lines += *c == '\n';
    /* libedit's header line, then the last 1000 entries. */
    cr_assert_eq(lines, 1001, "history file of %zu lines", lines);
    cr_assert_null(strstr(h, "SELECT\\0405;"), "the oldest entries stay");
    cr_assert_not_null(strstr(h, "SELECT\\0406;"));
    cr_assert_not_null(strstr(h, "SELECT\\0406\\040*\\0407;\n"));
    free(h);
}

/* ---------------------------------------------------------- streaming */

/* A query that never ends by itself: one row after another. */
#define ENDLESS_ROWS                                                           \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "         \
    "SELECT x FROM c"

/* The shell prints an endless result's first rows at once, in list mode
 * (row by row) and in box mode (after its first 10,000 rows): were either
 * held until the end, nothing would ever come. Ctrl-C stops it, and the
 * prompt comes back on the same session. No pager: the output is the
 * terminal's. */
Test(shell, an_endless_result_streams_until_ctrl_c)
{
    pty_cli(&p, &d, (const char *const[]){"SQLITED_PAGER=", NULL}, NULL);
    pty_expect(&p, prompt);
    pty_send(&p, ENDLESS_ROWS ";\n");
    pty_expect(&p, "\n1\n2\n3\n");
    /* One Ctrl-C is enough, whether it comes while the shell waits for
     * rows (the daemon stops the query) or while it prints them. */
    pty_send(&p, PTY_CTRL_C);
    pty_expect(&p, "SQLITED_INTERRUPTED: ");
    pty_expect(&p, prompt);
    pty_send(&p, ".mode box\n");
    pty_expect(&p, prompt);
    pty_send(&p, ENDLESS_ROWS ";\n");
    pty_expect(&p, "\u2502   x   \u2502\n");
    pty_expect(&p, "\u2502 1     \u2502\n\u2502 2     \u2502\n");
    /* One Ctrl-C is enough, whether it comes while the shell waits for
     * rows (the daemon stops the query) or while it prints them. */
    pty_send(&p, PTY_CTRL_C);
    pty_expect(&p, "SQLITED_INTERRUPTED: ");
    pty_expect(&p, prompt);
    pty_send(&p, "SELECT 6 * 7 AS n;\n");
    pty_expect(&p, "\u2502 42 \u2502\n");
    quit_shell();
}

/* ------------------------------------------------------------- paging */

/* A pager that is a script: it records that it ran (a marker file), then
 * shows what it is given. Returns the marker's path (static). */
static const char *marking_pager(char *env, size_t size)
{
    static char marker[192];
    char script[192];

    snprintf(marker, sizeof(marker), "%s/pager-ran", d.dir);
    snprintf(script, sizeof(script), "%s/pager.sh", d.dir);
    FILE *f = fopen(script, "w");
    cr_assert_not_null(f);
    fprintf(f, "#!/bin/sh\necho ran >> '%s'\nexec cat\n", marker);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(script, 0700), 0);
    snprintf(env, size, "PAGER=%s", script);
    return marker;
}

/* In the shell, on a terminal of 80 x 24: output taller or wider than it
 * goes through $PAGER; `select 1` does not. */
Test(shell, pager_runs_for_output_that_does_not_fit)
{
    char env[256];
    const char *marker = marking_pager(env, sizeof(env));
    struct stat st;

    unsetenv("SQLITED_PAGER"); /* it would come before $PAGER */
    pty_cli(&p, &d, (const char *const[]){env, NULL}, NULL);
    pty_expect(&p, prompt);
    pty_send(&p, "SELECT 1;\n");
    pty_expect(&p, "\n1\n");
    pty_expect(&p, prompt);
    cr_assert_neq(stat(marker, &st), 0, "the pager ran for select 1");
    /* Taller: 30 rows. */
    pty_send(&p, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                 "FROM c WHERE x < 30) SELECT x * 1000 FROM c;\n");
    pty_expect(&p, "\n30000\n");
    pty_expect(&p, prompt);
    cr_assert_eq(stat(marker, &st), 0, "the pager did not run for 30 rows");
    cr_assert_eq(st.st_size, 4); /* once: "ran\n" */
    /* Wider: one line of 90 characters. */
    pty_send(&p, "SELECT printf('%.90c', 'w');\n");
    pty_expect(&p, "wwwwwwwwww\n");
    pty_expect(&p, prompt);
    cr_assert_eq(stat(marker, &st), 0);
    cr_assert_eq(st.st_size, 8, "the pager did not run for a wide line");
    /* And not for what fits, again. */
    pty_send(&p, "SELECT 2;\n");
    pty_expect(&p, "\n2\n");
    pty_expect(&p, prompt);
    cr_assert_eq(stat(marker, &st), 0);
    cr_assert_eq(st.st_size, 8);
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0);
}

/* ------------------------------------------------ an expired transaction */

/* The daemon ends a transaction typed by hand once it is idle past
 * --tx-idle-timeout: the next statement says why it ended, the prompt
 * shows '!', statements are refused until COMMIT (which says nothing was
 * applied) or ROLLBACK, and the prompt is back to normal after. Nothing
 * is timed: the test waits until the daemon has expired it. */
Test(shell, a_transaction_the_daemon_expired)
{
    char failed_prompt[192];

    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--tx-idle-timeout", "200", NULL});
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    snprintf(failed_prompt, sizeof(failed_prompt), "sqlited %s!> ",
             d.sock_path);
    start_shell();
    for (int round = 0; round < 2; round++) {
        int64_t expired = harness_stat(&d, "tx_expired");
        pty_send(&p, "BEGIN;\n");
        pty_expect(&p, tx_prompt);
        pty_send(&p, "INSERT INTO t VALUES (42);\n");
        pty_expect(&p, tx_prompt);
        int64_t deadline =
            harness_now_ms() + PTY_TIMEOUT_MS * harness_slowdown();
        while (harness_stat(&d, "tx_expired") == expired) {
            cr_assert_lt(harness_now_ms(), deadline,
                         "the daemon never expired the transaction");
            harness_sleep_ms(20);
        }
        pty_send(&p, "INSERT INTO t VALUES (43);\n");
        pty_expect(&p, "SQLITED_TX_EXPIRED: ");
        pty_expect(&p, "idle");
        pty_expect(&p, " for longer than 200 ms, so the daemon rolled it "
                       "back\n");
        pty_expect(&p, "sqlited-cli: the transaction is over"
                       ", rolled back by the daemon: nothing of it was "
                       "applied; statements are refused until COMMIT or "
                       "ROLLBACK\n");
        pty_expect(&p, failed_prompt);
        pty_send(&p, "SELECT 6 * 7;\n");
        pty_expect(&p, "not run: the transaction is over "
                       "(see above); statements are refused until COMMIT or "
                       "ROLLBACK\n");
        pty_expect(&p, failed_prompt);
        cr_assert_null(strstr(pty_since_mark(&p), "42"));
        if (round == 0) {
            pty_send(&p, "COMMIT;\n");
            pty_expect(&p, "cannot commit: the transaction "
                           "was rolled back already (see above), nothing of "
                           "it was applied\n");
        } else {
            pty_send(&p, "ROLLBACK;\n");
        }
        pty_expect(&p, prompt);
        pty_send(&p, "SELECT 6 * 7;\n");
        pty_expect(&p, "\n42\n");
        pty_expect(&p, prompt);
        cr_assert_eq(others_count(), 0);
    }
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0);
}

/* ----------------------------------------------------------- typed ahead */

/* Keys typed while a statement runs wait for the next prompt, as in
 * sqlite3 and psql: the next statement runs then, and a Ctrl-D leaves.
 * The statement waits for another client's transaction, so it is surely
 * running while the keys are typed; nothing is timed. */
Test(shell, keys_typed_ahead_while_a_statement_runs)
{
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    sqlited *other = harness_connect(&d);
    cr_assert_eq(sqlited_begin(other, SQLITED_TX_IMMEDIATE), 0);
    sqlited_rows *r = NULL;
    cr_assert_eq(sqlited_exec(other, "INSERT INTO t VALUES (1)", NULL, &r), 0);
    sqlited_rows_close(r);
    start_shell();
    pty_send(&p, "INSERT INTO t VALUES (2);\n");
    pty_wait_running(&p);
    pty_send(&p, "SELECT 6 * 7;\n" PTY_CTRL_D);
    /* Whatever became of it (the other transaction may have expired
     * meanwhile), the shell's INSERT goes on once it ends. */
    sqlited_commit(other);
    sqlited_close(other);
    pty_expect(&p, prompt);
    pty_expect(&p, "\n42\n");
    cr_assert_eq(pty_wait_exit(&p), 0, "transcript:\n%s", pty_show(&p, 0));
    cr_assert_eq(others_count(), 2);
}
