/* sqlited-cli's .dump: SQL that the sqlite3 shell loads into the same
 * database, from one snapshot while clients write. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pty.h"

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(dump, .init = setup, .fini = teardown, .timeout = 120);

#define CLI(o, ...)                                                            \
    harness_cli(&d, (o), NULL, (const char *const[]){__VA_ARGS__, NULL})

/* Runs the sqlite3 shell on the database file @db with @script on its
 * standard input; fails the test unless it succeeds. Returns its output
 * (malloc'd). */
static char *sqlite3_shell(const char *db, const char *script)
{
    struct harness_output o;
    harness_run(
        (const char *const[]){"/usr/bin/sqlite3", "-batch", "-bail", db, NULL},
        script, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "sqlite3 %s: status %d: %s", db, o.status, o.err);
    cr_assert_str_empty(o.err, "sqlite3 %s: %s", db, o.err);
    char *out = o.out;
    o.out = NULL;
    harness_output_free(&o);
    return out;
}

/* Runs .dump (with @args after it) and returns its output; fails the test
 * unless it succeeds. */
static char *cli_dump(const char *arg)
{
    struct harness_output o;
    CLI(&o, arg);
    cr_assert_eq(o.status, 0, "%s: status %d: %s", arg, o.status, o.err);
    cr_assert_str_empty(o.err);
    char *out = o.out;
    o.out = NULL;
    harness_output_free(&o);
    return out;
}

/* A fresh database file in the daemon's directory, loaded with @sql by the
 * sqlite3 shell. Returns its path in @path. */
static void load_fresh(const char *sql, char *path, size_t size)
{
    snprintf(path, size, "%s/loaded.db", d.dir);
    remove(path);
    free(sqlite3_shell(path, sql));
}

/* Every kind of value and schema object a dump must carry. */
#define SCHEMA                                                                 \
    "CREATE TABLE t(id INTEGER PRIMARY KEY AUTOINCREMENT, a TEXT, b REAL, "    \
    "  c BLOB, \"order\" INT, g INT GENERATED ALWAYS AS (id * 2));"            \
    "CREATE INDEX t_a ON t(a);"                                                \
    "CREATE VIEW v AS SELECT id, a FROM t;"                                    \
    "CREATE TRIGGER t_log AFTER UPDATE ON t BEGIN "                            \
    "  INSERT INTO log VALUES (new.id); END;"                                  \
    "CREATE TABLE log(id);"                                                    \
    "CREATE TABLE \"we\"\"ird name\"(\"sel ect\", x);"                         \
    "INSERT INTO t(a, b, c, \"order\") VALUES "                                \
    "  ('it''s', 0.1, x'00ff', 1),"                                            \
    "  ('two' || char(10) || 'lines\\n and' || char(13) || char(10), "         \
    "   1.0 / 3, NULL, 2),"                                                    \
    "  (NULL, 1e308 * 10, x'', 3),"                                            \
    "  ('nul' || char(0) || 'inside', -1e308 * 10, NULL, 4),"                  \
    "  ('', 123456789.123456789, randomblob(64), 5),"                          \
    "  ('ünïcödé ✓', 5e-324, NULL, -9223372036854775808),"               \
    "  ('max', 1.7976931348623157e308, NULL, 9223372036854775807),"            \
    "  ('int as real', 9007199254740993.0, NULL, NULL);"                       \
    "DELETE FROM t WHERE \"order\" = 3;"                                       \
    "INSERT INTO \"we\"\"ird name\" VALUES (1, 'a''b'), (x'01', 2.5);"         \
    "ANALYZE;"

Test(dump, loads_into_sqlite3_with_identical_contents)
{
    harness_exec_fresh(&d, SCHEMA);
    char *dump = cli_dump(".dump");
    cr_assert(strncmp(dump, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n",
                      44) == 0,
              "%s", dump);
    size_t len = strlen(dump);
    cr_assert(len > 9 && strcmp(dump + len - 9, "\nCOMMIT;\n") == 0, "%s",
              dump);
    /* Indexes, triggers and views come after the data; sqlite_sequence
     * last of the tables. */
    char *insert =
        strstr(dump, "INSERT INTO t VALUES(1,'it''s',0.1,X'00ff',1);");
    char *seq = strstr(dump, "DELETE FROM sqlite_sequence;\n"
                             "INSERT INTO sqlite_sequence VALUES('t',8);\n");
    char *index = strstr(dump, "CREATE INDEX t_a ON t(a);\n");
    cr_assert(insert && seq && index && insert < seq && seq < index, "%s",
              dump);
    /* Text with a NUL byte keeps it, and line breaks stay the dump's own. */
    cr_assert(strstr(dump, "CAST(X'6E756C00696E73696465' AS TEXT)"), "%s",
              dump);
    cr_assert(strstr(dump, "replace(replace('two\\012lines\\n and\\r\\012',"
                           "'\\012',char(10)),'\\r',char(13))"),
              "%s", dump);

    char loaded[256];
    load_fresh(dump, loaded, sizeof(loaded));
    /* The sqlite3 shell's own dumps of the two files are the same text:
     * every value, with its type, in 20 significant digits for a REAL. */
    char *want = sqlite3_shell(d.db_path, ".dump");
    char *got = sqlite3_shell(loaded, ".dump");
    cr_assert_str_eq(got, want);
    /* The bytes themselves, which that dump truncates at a NUL. */
    char *bytes = sqlite3_shell(
        loaded, "SELECT id, typeof(a), hex(a), typeof(b), hex(c) FROM t;");
    char *want_bytes = sqlite3_shell(
        d.db_path, "SELECT id, typeof(a), hex(a), typeof(b), hex(c) FROM t;");
    cr_assert_str_eq(bytes, want_bytes);
    free(bytes);
    free(want_bytes);
    free(want);
    free(got);
    free(dump);
}

Test(dump, one_table_with_its_indexes_and_triggers)
{
    harness_exec_fresh(&d, SCHEMA);
    char *dump = cli_dump(".dump t");
    cr_assert(strstr(dump, "CREATE TABLE t("), "%s", dump);
    cr_assert(strstr(dump, "CREATE INDEX t_a ON t(a);"), "%s", dump);
    cr_assert(strstr(dump, "CREATE TRIGGER t_log"), "%s", dump);
    cr_assert_null(strstr(dump, "CREATE TABLE log"), "%s", dump);
    cr_assert_null(strstr(dump, "we\"\"ird"), "%s", dump);
    cr_assert_null(strstr(dump, "sqlite_sequence"), "%s", dump);
    cr_assert_null(strstr(dump, "CREATE VIEW"), "%s", dump);
    cr_assert(strstr(dump, "\nCOMMIT;\n"), "%s", dump);
    free(dump);

    dump = cli_dump(".dump we%");
    cr_assert_str_eq(dump, "PRAGMA foreign_keys=OFF;\n"
                           "BEGIN TRANSACTION;\n"
                           "CREATE TABLE IF NOT EXISTS \"we\"\"ird name\"("
                           "\"sel ect\", x);\n"
                           "INSERT INTO \"we\"\"ird name\" VALUES(1,'a''b');\n"
                           "INSERT INTO \"we\"\"ird name\" VALUES(X'01',2.5);\n"
                           "COMMIT;\n");
    free(dump);
}

/* Where the values need no care of their own (see above), sqlited-cli's
 * dump is the sqlite3 shell's, line for line: a table whose name its SQL
 * quotes is created IF NOT EXISTS, and ANALYZE's statistics come back, so
 * the query planner chooses as before. */
Test(dump, reads_as_the_sqlite3_shell_s_own)
{
    harness_exec_fresh(&d, "CREATE TABLE \"p\"(id INTEGER PRIMARY KEY, x);"
                           "CREATE TABLE q(p_id REFERENCES p, y TEXT);"
                           "INSERT INTO p(x) VALUES (1), (2), (2);"
                           "INSERT INTO q VALUES (1, 'one'), (3, NULL);"
                           "CREATE INDEX px ON p(x);"
                           "CREATE TABLE b(v BLOB);"
                           "INSERT INTO b VALUES (x'00ABcdEF');"
                           "CREATE VIRTUAL TABLE ft USING fts5(t);"
                           "INSERT INTO ft VALUES ('hello world');"
                           "ANALYZE;");
    char *dump = cli_dump(".dump");
    char *want = sqlite3_shell(d.db_path, ".dump");
    cr_assert_str_eq(dump, want);
    /* A pattern takes a virtual table's shadow tables along, as there. */
    char *ft = cli_dump(".dump ft");
    char *want_ft = sqlite3_shell(d.db_path, ".dump ft");
    cr_assert_str_eq(ft, want_ft);
    cr_assert(strstr(ft, "CREATE TABLE IF NOT EXISTS 'ft_content'"), "%s", ft);
    free(ft);
    free(want_ft);
    cr_assert(strstr(dump, "ANALYZE sqlite_schema;\n"
                           "INSERT INTO sqlite_stat1 VALUES("),
              "%s", dump);

    char loaded[256];
    load_fresh(dump, loaded, sizeof(loaded));
    char *stats = sqlite3_shell(loaded, "SELECT * FROM sqlite_stat1;");
    char *want_stats = sqlite3_shell(d.db_path, "SELECT * FROM sqlite_stat1;");
    cr_assert_str_eq(stats, want_stats);
    free(stats);
    free(want_stats);
    free(want);
    free(dump);
}

Test(dump, empty_database)
{
    char *dump = cli_dump(".dump");
    cr_assert_str_eq(dump, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n"
                           "COMMIT;\n");
    free(dump);
}

Test(dump, usage_error_names_the_usage)
{
    struct harness_output o;
    CLI(&o, ".dump a b");
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: usage: .dump [TABLE]\n");
    cr_assert_str_empty(o.out);
    harness_output_free(&o);
    /* sqlite3's options are not patterns that match nothing. */
    CLI(&o, ".dump --data-only");
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: .dump: unknown option --data-only "
                            "(usage: .dump [TABLE])\n");
    cr_assert_str_empty(o.out);
    harness_output_free(&o);
}

/* A client thread writing one row into each of a and b, the same (w, seq),
 * in one atomic batch, again and again until told to stop. */
struct pair_writer {
    const char *sock;
    int id;
    atomic_bool *stop;
    atomic_int done; /* batches committed */
    int rc;
    char failure[256];
    pthread_t thread;
};

static void *pair_write(void *arg)
{
    struct pair_writer *w = arg;
    sqlited *conn = NULL;
    sqlited_params *p = NULL;
    sqlited_batch *b = NULL;
    int rc = sqlited_open(w->sock, HARNESS_IO_TIMEOUT_MS, &conn);

    if (rc == 0)
        rc = sqlited_params_open(&p);
    if (rc == 0)
        rc = sqlited_batch_open(&b);
    for (int seq = 0; rc == 0 && !atomic_load(w->stop); seq++) {
        sqlited_params_clear(p);
        sqlited_batch_clear(b);
        rc = sqlited_params_add_int64(p, NULL, w->id);
        if (rc == 0)
            rc = sqlited_params_add_int64(p, NULL, seq);
        if (rc == 0)
            rc = sqlited_batch_add(b, "INSERT INTO a(w, seq) VALUES (?, ?)", p);
        if (rc == 0)
            rc = sqlited_batch_add(b, "INSERT INTO b(w, seq) VALUES (?, ?)", p);
        if (rc == 0)
            rc = sqlited_batch_run(conn, b, 0);
        if (rc == 0)
            atomic_fetch_add(&w->done, 1);
    }
    if (rc) {
        w->rc = rc;
        snprintf(w->failure, sizeof(w->failure), "writer %d: %s: %s", w->id,
                 sqlited_codename(rc),
                 conn ? sqlited_errmsg(conn) : sqlited_strerror(rc));
    }
    sqlited_batch_close(b);
    sqlited_params_close(p);
    sqlited_close(conn);
    return NULL;
}

#define WRITERS 8

static int writes_done(struct pair_writer *w)
{
    int n = 0;
    for (int i = 0; i < WRITERS; i++)
        n += atomic_load(&w[i].done);
    return n;
}

/* The dump is one snapshot: taken while 8 clients each commit a row to a
 * and the same row to b in one transaction, again and again, it holds the
 * same rows in both, every writer's rows without a gap, and loads into
 * sqlite3. Read table by table without one snapshot, b would hold the
 * rows committed while a was read. */
Test(dump, one_snapshot_while_8_clients_write)
{
    harness_exec_fresh(
        &d, "CREATE TABLE a(w INT, seq INT, pad TEXT);"
            "CREATE TABLE b(w INT, seq INT, pad TEXT);"
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 20000) INSERT INTO a SELECT -1, x, hex(randomblob(40)) "
            "FROM c;"
            "INSERT INTO b SELECT * FROM a;");
    atomic_bool stop = false;
    struct pair_writer w[WRITERS];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < WRITERS; i++) {
        w[i].sock = d.sock_path;
        w[i].id = i;
        w[i].stop = &stop;
        cr_assert_eq(pthread_create(&w[i].thread, NULL, pair_write, &w[i]), 0);
    }
    /* Every writer is at work before the dump starts. */
    int64_t deadline = harness_now_ms() + 30000;
    for (int i = 0; i < WRITERS; i++)
        while (atomic_load(&w[i].done) < 3 && !w[i].rc &&
               harness_now_ms() < deadline)
            harness_sleep_ms(1);
    int before = writes_done(w);

    struct harness_output o;
    CLI(&o, ".dump");
    int after = writes_done(w);
    atomic_store(&stop, true);
    for (int i = 0; i < WRITERS; i++) {
        pthread_join(w[i].thread, NULL);
        cr_assert_eq(w[i].rc, 0, "%s", w[i].failure);
    }
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert_str_empty(o.err);
    cr_assert_gt(after, before, "the clients wrote while the dump ran");

    char loaded[256];
    load_fresh(o.out, loaded, sizeof(loaded));
    harness_output_free(&o);
    char *got = sqlite3_shell(
        loaded,
        "SELECT (SELECT count(*) FROM a) >= 20000 + 3 * 8,"
        " (SELECT count(*) FROM a) = (SELECT count(*) FROM b),"
        " (SELECT count(*) FROM (SELECT w, seq FROM a EXCEPT"
        "  SELECT w, seq FROM b)),"
        " (SELECT count(*) FROM (SELECT w FROM a WHERE w >= 0 GROUP BY w"
        "  HAVING max(seq) + 1 != count(*)));");
    cr_assert_str_eq(got, "1|1|0|0\n");
    free(got);
}

/* Ctrl-C in the shell while .dump writes: the dump stops at once, says
 * how far it came (not that it was cancelled before it ran), ends in
 * ROLLBACK; so that loading it applies nothing, and the shell carries on.
 * The table is far larger than what the terminal takes while the test
 * does not read: the dump is still writing when the Ctrl-C comes. */
Test(dump, ctrl_c_in_the_shell_says_how_far_it_came)
{
    harness_exec_fresh(&d, "CREATE TABLE big(x INTEGER, pad TEXT);"
                           "INSERT INTO big WITH RECURSIVE c(x) AS (SELECT 1 "
                           "UNION ALL SELECT x + 1 FROM c WHERE x < 200000) "
                           "SELECT x, printf('%.40c', 'p') FROM c");
    struct pty_proc p = {0};
    pty_cli(&p, &d, (const char *const[]){"SQLITED_PAGER=", NULL}, NULL);
    pty_expect(&p, "> ");
    pty_send(&p, ".dump\n");
    pty_expect(&p, "INSERT INTO big VALUES(");
    pty_send(&p, PTY_CTRL_C);
    pty_expect(&p, "ROLLBACK; -- the dump was interrupted after ");
    pty_expect(&p, "sqlited-cli: .dump: interrupted after ");
    const char *after = pty_since_mark(&p);
    long rows = strtol(after, NULL, 10);
    cr_assert(rows >= 1 && rows < 200000, "%s", after);
    pty_expect(&p, " rows; the dump ends in ROLLBACK, so loading it applies "
                   "nothing\n");
    cr_assert_null(strstr(p.text, "COMMIT;"), "%s", pty_show(&p, 0));
    cr_assert_null(strstr(p.text, "before it ran"), "%s", pty_show(&p, 0));
    /* The same session goes on. */
    pty_expect(&p, "> ");
    pty_send(&p, "SELECT count(*) FROM big;\n");
    pty_expect(&p, "\n200000\n");
    pty_expect(&p, "> ");
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0, "%s", pty_show(&p, 0));
    pty_close(&p);
}
