/* sqlited-cli's scripts: SQL from standard input or -f FILE run statement by
 * statement, --bail/--no-bail, --echo, --atomic, BEGIN/COMMIT/ROLLBACK as
 * the daemon's transaction methods, .read, and sqlite3's .dump loaded. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(script, .init = setup, .fini = teardown, .timeout = 120);

#define CLI(o, in, ...)                                                        \
    harness_cli(&d, (o), (in), (const char *const[]){__VA_ARGS__, NULL})

/* Writes @text to DIR/@name and stores its path in @path. */
static void put_script(const char *name, const char *text, char *path,
                       size_t size)
{
    harness_put_file(d.dir, name, text);
    snprintf(path, size, "%s/%s", d.dir, name);
}

/* The one integer @sql answers, asked on a connection of its own. */
static int64_t query_int(const char *sql)
{
    sqlited *db = harness_connect(&d);
    int64_t v = harness_query_int(db, sql);
    sqlited_close(db);
    return v;
}

static void assert_has(const char *text, const char *want)
{
    cr_assert_not_null(strstr(text, want), "wanted \"%s\" in:\n%s", want, text);
}

/* Every statement's rows are printed, from standard input and from the
 * one argument alike (only the last one's were). */
Test(script, every_statement_prints_its_rows)
{
    struct harness_output o;

    CLI(&o, "select 1; select 2;\nselect 'three'\n", "--mode", "list");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "1\n2\nthree\n");
    cr_assert_str_empty(o.err);
    harness_output_free(&o);

    CLI(&o, NULL, "select 1; select 2");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "1\n2\n");
    harness_output_free(&o);
}

#define FAILING                                                                \
    "CREATE TABLE t(x);\n"                                                     \
    "INSERT INTO t VALUES (1);\n"                                              \
    "-- the next one fails\n"                                                  \
    "SELECT * FROM nope\n"                                                     \
    "  WHERE 1;\n"                                                             \
    "INSERT INTO t VALUES (2);\n"                                              \
    "SELECT 'after';\n"

/* --bail is the default: the first error stops the script, names the file,
 * the line where the statement starts and the statement, and exits 1;
 * nothing after it runs. */
Test(script, bail_stops_at_the_first_error)
{
    char path[256], want[512];
    struct harness_output o;

    put_script("fail.sql", FAILING, path, sizeof(path));
    CLI(&o, NULL, "-f", path);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_empty(o.out);
    snprintf(want, sizeof(want),
             "sqlited-cli: %s:4: SQLITE_ERROR: no such table: nope\n"
             "  SELECT * FROM nope ...\n",
             path);
    cr_assert_str_eq(o.err, want);
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM t"), 1);

    /* The same from standard input, named so. */
    CLI(&o, "SELECT 1;\nSELECT * FROM nope;\nSELECT 2;\n", "--bail");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "1\n");
    cr_assert_str_eq(o.err, "sqlited-cli: <stdin>:2: SQLITE_ERROR: no such "
                            "table: nope\n  SELECT * FROM nope;\n");
    harness_output_free(&o);
}

/* --no-bail reports the error and runs the rest; the exit status is still
 * 1. */
Test(script, no_bail_carries_on_and_exits_1)
{
    char path[256];
    struct harness_output o;

    put_script("fail.sql", FAILING, path, sizeof(path));
    CLI(&o, NULL, "--no-bail", "-f", path);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "after\n");
    assert_has(o.err, ":4: SQLITE_ERROR: no such table: nope");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM t"), 2);
}

Test(script, echo_prints_each_statement_before_its_output)
{
    struct harness_output o;

    CLI(&o, "select 1;\n\n-- a comment\nselect 'a'\n  || 'b';\n", "--echo");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "select 1;\n1\nselect 'a'\n  || 'b';\nab\n");
    harness_output_free(&o);
}

/* --atomic: one transaction; an error rolls back everything before it. */
Test(script, atomic_applies_nothing_on_an_error)
{
    struct harness_output o;

    CLI(&o,
        "CREATE TABLE a(x);\nINSERT INTO a VALUES (1);\n"
        "INSERT INTO a VALUES (2, 3);\nINSERT INTO a VALUES (4);\n",
        "--atomic");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    assert_has(o.err, "<stdin>:3: SQLITE_ERROR: table a has 1 columns but 2 "
                      "values were supplied");
    assert_has(o.err, "--atomic: rolled back the whole script, nothing of it "
                      "was applied");
    harness_output_free(&o);
    cr_assert_eq(
        query_int("SELECT count(*) FROM sqlite_schema WHERE name = 'a'"), 0);

    CLI(&o, "CREATE TABLE a(x);\nINSERT INTO a VALUES (1);\nSELECT 'ok';\n",
        "--atomic");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "ok\n");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM a"), 1);
    /* It was the daemon's one transaction. */
    cr_assert_eq(harness_stat(&d, "tx_committed"), 1);

    CLI(&o, "BEGIN;\nSELECT 1;\n", "--atomic");
    cr_assert_eq(o.status, 1);
    assert_has(o.err, "<stdin>:1: transaction control in an --atomic "
                      "script");
    harness_output_free(&o);

    CLI(&o, "SELECT 1;\n", "--atomic", "--no-bail");
    cr_assert_eq(o.status, 2);
    assert_has(o.err, "--atomic");
    harness_output_free(&o);
}

/* A dot-command that fails in a script names its line, as a statement
 * does. */
Test(script, dot_command_errors_name_their_line)
{
    struct harness_output o;

    CLI(&o,
        "select 1;\n.mode nonsense\n.nosuch\n.width x\n"
        ".output /nonexistent/x\n.import --skip x f t\n.dump a b\n",
        "--no-bail");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_eq(
        o.err,
        "sqlited-cli: <stdin>:2: .mode: unknown mode 'nonsense' (list, "
        "table, box, csv, json, line, markdown, column)\n"
        "sqlited-cli: <stdin>:3: unknown command .nosuch (try .help)\n"
        "sqlited-cli: <stdin>:4: .width: a width is a number of characters "
        "from -10000 to 10000: x\n"
        "sqlited-cli: <stdin>:5: .output: cannot open /nonexistent/x: No "
        "such file or directory\n"
        "sqlited-cli: <stdin>:6: .import: --skip takes a number of records: "
        "x\n"
        "sqlited-cli: <stdin>:7: usage: .dump [TABLE]\n");
    harness_output_free(&o);
}

/* A trigger's body holds ';' that do not end the statement. */
Test(script, trigger_body_stays_one_statement)
{
    struct harness_output o;

    CLI(&o,
        "CREATE TABLE t(x);\nCREATE TABLE log(y);\n"
        "CREATE TRIGGER tr AFTER INSERT ON t BEGIN\n"
        "  INSERT INTO log VALUES (new.x);\n"
        "  INSERT INTO log VALUES (new.x * 10);\n"
        "END;\n"
        "INSERT INTO t VALUES (4);\n"
        "SELECT group_concat(y, ',') FROM log;\n",
        NULL);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "4,40\n");
    harness_output_free(&o);
}

/* BEGIN ... ROLLBACK in a script are the daemon's transaction methods: the
 * rows between them are seen inside, and gone after. */
Test(script, begin_and_rollback_map_onto_the_methods)
{
    struct harness_output o;

    CLI(&o,
        "CREATE TABLE r(x);\n"
        "BEGIN;\nINSERT INTO r VALUES (1);\nSELECT count(*) FROM r;\n"
        "ROLLBACK;\nSELECT count(*) FROM r;\n"
        "begin immediate transaction;\nINSERT INTO r VALUES (2);\n"
        "end transaction;\n"
        "BEGIN EXCLUSIVE;\nINSERT INTO r VALUES (3);\nCOMMIT;\n"
        "SELECT group_concat(x) FROM r;\n",
        NULL);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "1\n0\n2,3\n");
    harness_output_free(&o);
    struct harness_stats st;
    harness_stats(&d, &st);
    cr_assert_eq(st.tx_begun, 3);
    cr_assert_eq(st.tx_rolled_back, 1);
    cr_assert_eq(st.tx_committed, 2);

    /* Savepoints pass through inside a transaction. */
    CLI(&o,
        "BEGIN;\nINSERT INTO r VALUES (4);\nSAVEPOINT s;\n"
        "INSERT INTO r VALUES (5);\nROLLBACK TO s;\nRELEASE s;\nCOMMIT;\n"
        "SELECT group_concat(x) FROM r;\n",
        NULL);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "2,3,4\n");
    harness_output_free(&o);

    /* COMMIT without BEGIN is SQLite's error; a transaction left open is
     * rolled back, and says so. */
    CLI(&o, "COMMIT;\n", NULL);
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: <stdin>:1: SQLITE_ERROR: cannot "
                            "commit - no transaction is active\n  COMMIT;\n");
    harness_output_free(&o);
    CLI(&o, "BEGIN;\nINSERT INTO r VALUES (6);\n", NULL);
    cr_assert_eq(o.status, 1);
    cr_assert_str_eq(o.err, "sqlited-cli: the transaction (begun at "
                            "<stdin>:1) was never committed: rolled back, "
                            "nothing of it was applied\n");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM r"), 3);
}

/* -f FILE, and a file that is not there (a usage error, before
 * connecting). .read runs another script inside, whose errors name it. */
Test(script, file_option_and_read)
{
    char main_path[256], inner[256], want[512];
    struct harness_output o;

    put_script("inner.sql", "SELECT 'inner';\n\nSELECT * FROM nope;\n", inner,
               sizeof(inner));
    char text[512];
    snprintf(text, sizeof(text),
             "SELECT 'before';\n.read %s\nSELECT 'after';\n", inner);
    put_script("main.sql", text, main_path, sizeof(main_path));
    CLI(&o, NULL, "--no-bail", "-f", main_path);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "before\ninner\nafter\n");
    snprintf(want, sizeof(want),
             "sqlited-cli: %s:3: SQLITE_ERROR: no such table", inner);
    assert_has(o.err, want);
    harness_output_free(&o);

    char missing[256];
    snprintf(missing, sizeof(missing), "%s/missing.sql", d.dir);
    CLI(&o, NULL, "-f", missing);
    cr_assert_eq(o.status, 2);
    cr_assert_str_empty(o.out);
    snprintf(want, sizeof(want),
             "sqlited-cli: cannot open %s: No such file or directory\n",
             missing);
    cr_assert_str_eq(o.err, want);
    harness_output_free(&o);

    CLI(&o, NULL, "-f", inner, "SELECT 1");
    cr_assert_eq(o.status, 2);
    harness_output_free(&o);
}

/* Runs the sqlite3 shell on @db_path with @args and @input; fails the test
 * unless it succeeds. Returns its stdout (malloc'd). */
static char *sqlite3_shell(const char *db_path, const char *arg,
                           const char *input)
{
    const char *argv[] = {
        "/usr/bin/sqlite3", "-batch", "-bail", db_path, arg, NULL};
    struct harness_output o;

    if (!arg)
        argv[4] = NULL;
    harness_run(argv, input, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "sqlite3 %s: %s", arg ? arg : "", o.err);
    char *out = o.out;
    o.out = NULL;
    harness_output_free(&o);
    return out;
}

#define SOURCE_DB                                                              \
    "CREATE TABLE parent(id INTEGER PRIMARY KEY AUTOINCREMENT,"                \
    " name TEXT NOT NULL);\n"                                                  \
    "CREATE TABLE child(id INTEGER PRIMARY KEY,"                               \
    " parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE,"              \
    " r REAL, b BLOB, note TEXT);\n"                                           \
    "CREATE INDEX child_parent ON child(parent_id);\n"                         \
    "CREATE UNIQUE INDEX parent_name ON parent(name);\n"                       \
    "CREATE VIEW named AS SELECT c.id, p.name FROM child c"                    \
    " JOIN parent p ON p.id = c.parent_id;\n"                                  \
    "CREATE TRIGGER child_note AFTER UPDATE OF note ON child BEGIN\n"          \
    "  UPDATE parent SET name = name || '!' WHERE id = new.parent_id;\n"       \
    "  SELECT 1;\n"                                                            \
    "END;\n"                                                                   \
    "INSERT INTO parent(name) VALUES ('it''s'), ('two\nlines'),"               \
    " ('semi;colon -- not a comment');\n"                                      \
    "DELETE FROM parent WHERE id = 3;\n"                                       \
    "INSERT INTO parent(name) VALUES ('four');\n"                              \
    "INSERT INTO child VALUES (1, 1, 1.5, x'00ff10', NULL),"                   \
    " (2, 2, -2.5e-7, NULL, 'q\"x'), (3, NULL, 0.1, x'', 'tab\there'),"        \
    " (4, 4, 1e300, zeroblob(3), '');\n"

/* Builds a database with the sqlite3 shell from @sql, dumps it with
 * sqlite3's .dump, and loads the dump into the daemon with `sqlited-cli -f`
 * (its output in @o). Returns the dump (free it). */
static char *load_sqlite3_dump(const char *sql, struct harness_output *o)
{
    char src[256], dump_path[256];

    snprintf(src, sizeof(src), "%s/source.db", d.dir);
    free(sqlite3_shell(src, NULL, sql));
    char *dump = sqlite3_shell(src, ".dump", NULL);
    put_script("dump.sql", dump, dump_path, sizeof(dump_path));
    CLI(o, NULL, "-f", dump_path);
    return dump;
}

/* Asserts that the daemon's database dumps, with sqlite3, as @dump. */
static void assert_dumps_as(const char *dump)
{
    char *loaded = sqlite3_shell(d.db_path, ".dump", NULL);
    cr_assert_str_eq(loaded, dump);
    free(loaded);
}

/* The output of sqlite3's .dump (PRAGMA foreign_keys=OFF; BEGIN
 * TRANSACTION; ... COMMIT;) loads as it is, and sqlite3 then dumps the
 * daemon's database identically. */
Test(script, sqlite3_dump_loads_with_identical_contents)
{
    struct harness_output o;

    char *dump = load_sqlite3_dump(SOURCE_DB, &o);
    assert_has(dump, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n");
    assert_has(dump, "INSERT INTO sqlite_sequence VALUES('parent',4);");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_empty(o.out);
    cr_assert_str_empty(o.err);
    harness_output_free(&o);
    assert_dumps_as(dump);
    free(dump);
    /* One transaction of the daemon's. */
    cr_assert_eq(harness_stat(&d, "tx_committed"), 1);
}

/* A table created before the table it refers to, as SQLite's documented
 * way of changing a table leaves it (create new_p, copy, drop p, rename
 * new_p to p): sqlite3 dumps the referring table and its rows first. Its
 * dump loads: foreign keys are checked at the COMMIT, not at each INSERT
 * (which would fail with "no such table"). */
Test(script, dump_whose_table_refers_to_a_later_one_loads)
{
    struct harness_output o;

    char *dump =
        load_sqlite3_dump("PRAGMA foreign_keys=ON;\n"
                          "CREATE TABLE p(id INTEGER PRIMARY KEY, n TEXT);\n"
                          "CREATE TABLE c(id INTEGER PRIMARY KEY,"
                          " p INTEGER REFERENCES p(id));\n"
                          "INSERT INTO p VALUES (1, 'one'), (2, 'two');\n"
                          "INSERT INTO c VALUES (1, 1), (2, 2), (3, NULL);\n"
                          "PRAGMA foreign_keys=OFF;\n"
                          "CREATE TABLE new_p(id INTEGER PRIMARY KEY, n TEXT,"
                          " extra TEXT);\n"
                          "INSERT INTO new_p SELECT id, n, NULL FROM p;\n"
                          "DROP TABLE p;\n"
                          "ALTER TABLE new_p RENAME TO p;\n",
                          &o);
    /* c and its rows come before p. */
    const char *child = strstr(dump, "INSERT INTO c VALUES(1,1);");
    const char *parent = strstr(dump, "CREATE TABLE IF NOT EXISTS \"p\"");
    if (!parent)
        parent = strstr(dump, "CREATE TABLE \"p\"");
    cr_assert(child && parent && child < parent, "dump:\n%s", dump);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_empty(o.err);
    harness_output_free(&o);
    assert_dumps_as(dump);
    free(dump);
    /* Foreign keys are on again for the statements after it. */
    CLI(&o, NULL, "INSERT INTO c VALUES (9, 42)");
    cr_assert_eq(o.status, 1);
    assert_has(o.err, "SQLITE_CONSTRAINT_FOREIGNKEY");
    harness_output_free(&o);
}

/* Rows whose foreign key points nowhere (sqlite3 stores them with foreign
 * keys off, its default) fail the dump's COMMIT: foreign keys stay on in
 * sqlited, checked at the end. Nothing is applied, and the message says
 * why. */
Test(script, dump_with_a_dangling_key_applies_nothing)
{
    struct harness_output o;

    free(load_sqlite3_dump("CREATE TABLE p(id INTEGER PRIMARY KEY);\n"
                           "CREATE TABLE c(id INTEGER PRIMARY KEY,"
                           " p REFERENCES p(id));\n"
                           "INSERT INTO c VALUES (1, 42);\n",
                           &o));
    cr_assert_eq(o.status, 1);
    assert_has(o.err, "dump.sql:6: SQLITE_CONSTRAINT_FOREIGNKEY: FOREIGN KEY "
                      "constraint failed at COMMIT: a row of c (rowid 1) "
                      "refers to a row of p that does not exist");
    assert_has(o.err, "after PRAGMA foreign_keys=OFF a transaction checks "
                      "them at its COMMIT instead");
    assert_has(o.err, "sqlite3 DB 'PRAGMA foreign_key_check' lists the rows "
                      "of the source database that refer to none");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM sqlite_schema"), 0);
}

/* PRAGMA foreign_keys=OFF where it cannot do what sqlite3 does is never
 * silently ignored: leading an --atomic script it applies to the script's
 * transaction (begun at the first statement after it); inside a
 * transaction it is a no-op, as in SQLite, and the CLI says so; outside
 * one a statement is still checked at once, and a failure says why. */
Test(script, foreign_keys_off_is_applied_or_explained)
{
    struct harness_output o;
    const char *later_parent =
        "PRAGMA foreign_keys=OFF;\n"
        "CREATE TABLE c(id INTEGER PRIMARY KEY, p REFERENCES p(id));\n"
        "INSERT INTO c VALUES (1, 1);\n"
        "CREATE TABLE p(id INTEGER PRIMARY KEY);\n"
        "INSERT INTO p VALUES (1);\n";

    CLI(&o, later_parent, "--atomic");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_empty(o.err);
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM c JOIN p ON c.p = p.id"), 1);
    cr_assert_eq(harness_stat(&d, "tx_committed"), 1);

    /* A row that refers to none fails the script's COMMIT: nothing. */
    CLI(&o,
        "PRAGMA foreign_keys=OFF;\n"
        "CREATE TABLE c2(id INTEGER PRIMARY KEY, p REFERENCES p(id));\n"
        "INSERT INTO c2 VALUES (1, 42);\n",
        "--atomic");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    assert_has(o.err, "FOREIGN KEY constraint failed at COMMIT: a row of c2 "
                      "(rowid 1) refers to a row of p that does not exist");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM sqlite_schema WHERE name = "
                           "'c2'"),
                 0);

    /* Only the pragma: no transaction at all. */
    CLI(&o, "PRAGMA foreign_keys=OFF;\n", "--atomic");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    harness_output_free(&o);
    cr_assert_eq(harness_stat(&d, "tx_committed"), 1);

    CLI(&o,
        "BEGIN;\nPRAGMA foreign_keys=OFF;\nINSERT INTO p VALUES (2);\n"
        "COMMIT;\n",
        "--bail");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    assert_has(o.err, "<stdin>:2: note: PRAGMA foreign_keys does nothing "
                      "inside a transaction (as in SQLite): this one checks "
                      "foreign keys at each statement");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM p"), 2);

    CLI(&o, "PRAGMA foreign_keys=OFF;\nINSERT INTO c VALUES (3, 99);\n",
        "--bail");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    assert_has(o.err, "<stdin>:2: SQLITE_CONSTRAINT_FOREIGNKEY");
    assert_has(o.err, "after PRAGMA foreign_keys=OFF only a transaction "
                      "checks them at its COMMIT; a statement outside one "
                      "is checked at once");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM c"), 1);

    /* A script with its own BEGIN ... COMMIT, as a dump, says to run it
     * without --atomic. */
    CLI(&o, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCOMMIT;\n",
        "--atomic");
    cr_assert_eq(o.status, 1);
    assert_has(o.err, "<stdin>:2: transaction control in an --atomic script: "
                      "the whole script is one transaction already (run a "
                      "script with its own BEGIN ... COMMIT, such as "
                      "sqlite3's .dump, without --atomic)");
    harness_output_free(&o);
}

/* The check of every foreign key at COMMIT runs under the daemon's
 * --timeout: a database too large for it fails the COMMIT, with nothing
 * applied and what to do. */
Test(script, foreign_key_check_past_the_deadline_says_what_to_do)
{
    struct harness_output o;
    sqlited *db = harness_connect(&d);

    /* Eight keys a row, 8,000,000 to check: about 250 ms of SQLite's. */
    harness_exec(db, "CREATE TABLE p(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE c(a REFERENCES p, b REFERENCES p, "
                     "c REFERENCES p, d REFERENCES p, e REFERENCES p, "
                     "f REFERENCES p, g REFERENCES p, h REFERENCES p);"
                     "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM n WHERE x < 1000000) INSERT INTO p SELECT x FROM n;"
                     "INSERT INTO c SELECT id, id, id, id, id, id, id, id "
                     "FROM p;");
    sqlited_close(db);
    /* Restarted, so that its writer is idle (the WAL checkpointed). */
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--timeout", "60", NULL});
    CLI(&o,
        "PRAGMA foreign_keys=OFF;\nBEGIN;\n"
        "INSERT INTO c VALUES (1, 1, 1, 1, 1, 1, 1, 1);\n"
        "COMMIT;\n",
        "--bail");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    assert_has(o.err, "<stdin>:4: SQLITED_TIMEOUT: the foreign key check "
                      "before COMMIT passed the deadline");
    assert_has(o.err, "the daemon's --timeout bounds the check of every "
                      "foreign key at COMMIT: raise it");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM c"), 1000000);
}

/* A dump of a virtual table (sqlite3 writes it into sqlite_schema under
 * PRAGMA writable_schema=ON, and its rows into the shadow tables) is
 * refused at that pragma, with what to do instead, and applies nothing. */
Test(script, dump_of_a_virtual_table_is_refused_with_a_way_out)
{
    struct harness_output o;

    free(load_sqlite3_dump("CREATE TABLE t(a);\n"
                           "INSERT INTO t VALUES (1);\n"
                           "CREATE VIRTUAL TABLE ft USING fts5(x);\n"
                           "INSERT INTO ft VALUES ('hello world');\n",
                           &o));
    cr_assert_eq(o.status, 1);
    assert_has(o.err, "dump.sql:5: SQLITE_AUTH: PRAGMA writable_schema "
                      "cannot be set by a client");
    assert_has(o.err, "dump.sql:5: sqlite3's .dump writes virtual tables "
                      "(FTS, R*Tree ...) straight into the schema and their "
                      "shadow tables, which sqlited never lets a client do: "
                      "load such a dump with sqlite3 into a new file");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM sqlite_schema"), 0);
}

/* A transaction the daemon ends by itself (here: open past
 * --tx-max-duration while a slow statement runs in it) is reported, and
 * the statements after it are refused until COMMIT or ROLLBACK, instead of
 * running outside it. */
Test(script, expired_transaction_refuses_until_its_end)
{
    struct harness_output o;

    daemon_cleanup(&d);
    memset(&d, 0, sizeof(d));
    daemon_start(&d, (const char *const[]){"--tx-max-duration", "100", NULL});
    harness_exec_fresh(&d, "CREATE TABLE e(x)");
    CLI(&o,
        "BEGIN;\nINSERT INTO e VALUES (1);\n" HARNESS_SLOW_SQL ";\n"
        "INSERT INTO e VALUES (2);\nCOMMIT;\nINSERT INTO e VALUES (3);\n",
        "--no-bail");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    assert_has(o.err, "<stdin>:3: SQLITED_TX_EXPIRED");
    assert_has(o.err, "the transaction (begun at <stdin>:1) is over, rolled "
                      "back by the daemon");
    assert_has(o.err, "<stdin>:4: not run: the transaction (begun at "
                      "<stdin>:1) is over");
    assert_has(o.err, "<stdin>:5: cannot commit: the transaction (begun at "
                      "<stdin>:1) was rolled back already");
    assert_has(o.err, "a longer transaction needs the daemon's "
                      "--tx-max-duration raised");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT sum(x) FROM e"), 3);
}

/* Inside a transaction statements are sent ahead (16 in flight): their
 * rows and errors still come in order, each naming its own line; with
 * --bail the transaction is then rolled back, nothing of it applied. */
Test(script, statements_sent_ahead_keep_their_order)
{
    struct sbuf_local {
        char text[8192];
        size_t len;
    } b = {.len = 0};
    struct harness_output o;

#define ADD(...)                                                               \
    b.len +=                                                                   \
        (size_t)snprintf(b.text + b.len, sizeof(b.text) - b.len, __VA_ARGS__)
    ADD("CREATE TABLE w(x INTEGER PRIMARY KEY);\nBEGIN;\n");
    for (int i = 1; i <= 40; i++) {
        if (i == 30)
            ADD("INSERT INTO w VALUES (1);\n"); /* line 34: a duplicate */
        else
            ADD("INSERT INTO w VALUES (%d);\n", i);
        if (i % 10 == 0)
            ADD("SELECT count(*) FROM w;\n");
    }
    ADD("COMMIT;\nSELECT count(*) FROM w;\n");
#undef ADD

    CLI(&o, b.text, "--no-bail");
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "10\n20\n29\n39\n39\n");
    cr_assert_str_eq(o.err, "sqlited-cli: <stdin>:34: "
                            "SQLITE_CONSTRAINT_PRIMARYKEY: UNIQUE constraint "
                            "failed: w.x\n  INSERT INTO w VALUES (1);\n");
    harness_output_free(&o);

    harness_exec_fresh(&d, "DROP TABLE w");
    CLI(&o, b.text, NULL);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "10\n20\n");
    assert_has(o.err, "<stdin>:34: SQLITE_CONSTRAINT_PRIMARYKEY");
    assert_has(o.err, "the transaction (begun at <stdin>:2) was never "
                      "committed: rolled back");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM w"), 0);
}

/* Inside the user's transaction, .dump and .explain see what it sees (a
 * table it created), as in the sqlite3 shell, and leave it open. */
Test(script, dot_commands_inside_a_transaction_see_it)
{
    struct harness_output o;

    CLI(&o,
        "BEGIN;\nCREATE TABLE intx(a);\nINSERT INTO intx VALUES (1);\n"
        ".dump intx\n.explain SELECT * FROM intx WHERE a = 1\n"
        "INSERT INTO intx VALUES (2);\nCOMMIT;\n",
        "--bail");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n"
                            "CREATE TABLE intx(a);\n"
                            "INSERT INTO intx VALUES(1);\nCOMMIT;\n"
                            "QUERY PLAN\n`--SCAN intx\n");
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT sum(a) FROM intx"), 3);
}

/* A SAVEPOINT outside a transaction begins one, as in SQLite (the daemon
 * takes savepoints only inside its transactions): ROLLBACK TO keeps it
 * open, and the RELEASE of the outermost savepoint commits it. In a
 * transaction begun by BEGIN, releasing every savepoint commits nothing. */
Test(script, savepoint_outside_a_transaction_begins_one)
{
    struct harness_output o;

    CLI(&o,
        "CREATE TABLE sp(x);\nSAVEPOINT a;\nINSERT INTO sp VALUES (1);\n"
        "SAVEPOINT \"B\";\nINSERT INTO sp VALUES (2);\n"
        "ROLLBACK TRANSACTION TO SAVEPOINT b;\nINSERT INTO sp VALUES (3);\n"
        "RELEASE a;\n"
        "BEGIN;\nSAVEPOINT c;\nINSERT INTO sp VALUES (4);\nRELEASE c;\n"
        "ROLLBACK;\nSELECT group_concat(x) FROM sp;\n",
        "--bail");
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "1,3\n");
    cr_assert_str_empty(o.err);
    harness_output_free(&o);
    cr_assert_eq(harness_stat(&d, "tx_committed"), 1);

    /* Left open at the end, it is rolled back, as any transaction. */
    CLI(&o, "SAVEPOINT a;\nINSERT INTO sp VALUES (5);\n", "--bail");
    cr_assert_eq(o.status, 1);
    cr_assert(strstr(o.err, "the transaction (begun at <stdin>:1) was never "
                            "committed"),
              "%s", o.err);
    harness_output_free(&o);
    cr_assert_eq(query_int("SELECT count(*) FROM sp"), 2);
}
