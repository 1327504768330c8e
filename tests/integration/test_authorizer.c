/* What a client's SQL may reach on the daemon's shared connections: the SQL
 * functions and virtual tables that could crash the daemon, leak its
 * addresses or change it for other clients are refused, and so is every
 * object in the TEMP schema, by every spelling. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *a, *b;

static void setup(void)
{
    a = harness_start_connected(&d,
                                (const char *const[]){"--readers", "1", NULL});
    b = harness_connect(&d);
    harness_exec(a, "CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT)");
}

static void teardown(void)
{
    sqlited_close(b);
    b = NULL;
    harness_cleanup_connected(&d, &a);
}

TestSuite(authorizer, .init = setup, .fini = teardown, .timeout = 60);

/* @rc is SQLITE_AUTH, with a message that holds @text. */
static void assert_auth(sqlited *db, int rc, const char *sql, const char *text)
{
    cr_assert_eq(rc, SQLITE_AUTH, "%s: rc %d (%s: %s)", sql, rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    cr_assert_str_eq(sqlited_errname(db), "SQLITE_AUTH", "%s", sql);
    cr_assert_not_null(strstr(sqlited_errmsg(db), text),
                       "%s: message '%s' lacks '%s'", sql, sqlited_errmsg(db),
                       text);
}

/* @sql is refused with SQLITE_AUTH and @text, both on the writer (exec) and
 * on a reader (query). */
static void assert_refused(const char *sql, sqlited_params *params,
                           const char *text)
{
    sqlited_rows *rows = NULL;
    assert_auth(a, sqlited_exec(a, sql, params, NULL), sql, text);
    assert_auth(a, sqlited_query(a, sql, params, &rows), sql, text);
    cr_assert_null(rows);
}

/* Binding 8 bytes as the tokenizer's "pointer" and then using the tokenizer
 * made the writer call through an address the client chose: SIGSEGV, every
 * client dropped. */
Test(authorizer, fts3_tokenizer_cannot_register_a_pointer)
{
    static const char evil[8] = "\x41\x41\x41\x41\x41\x41\x41\x41";
    static const char reg[] = "SELECT fts3_tokenizer('evil', ?)";
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_blob(p, NULL, evil, sizeof(evil)), 0);
    int reg_exec = sqlited_exec(a, reg, p, NULL);
    char reg_msg[512];
    snprintf(reg_msg, sizeof(reg_msg), "%s", sqlited_errmsg(a));
    int rc = sqlited_exec(
        a, "CREATE VIRTUAL TABLE f USING fts3(a, tokenize=evil)", NULL, NULL);
    /* The daemon is alive, for both clients. */
    cr_assert_eq(sqlited_ping(b), 0, "the daemon died");
    harness_exec(b, "INSERT INTO orders(item) VALUES ('still here')");
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM orders"), 1);
    cr_assert_eq(rc, SQLITE_ERROR, "rc %d %s: %s", rc, sqlited_errname(a),
                 sqlited_errmsg(a));
    cr_assert_not_null(strstr(sqlited_errmsg(a), "unknown tokenizer"), "%s",
                       sqlited_errmsg(a));
    cr_assert_eq(reg_exec, SQLITE_AUTH, "rc %d: %s", reg_exec, reg_msg);
    cr_assert_not_null(strstr(reg_msg, "fts3_tokenizer() is not allowed"), "%s",
                       reg_msg);
    assert_refused(reg, p, "fts3_tokenizer() is not allowed");
    sqlited_params_close(p);
}

/* The one-argument form answers the address of a tokenizer module in the
 * daemon's memory, which defeats address-space randomisation. */
Test(authorizer, fts3_tokenizer_does_not_leak_an_address)
{
    assert_refused("SELECT hex(fts3_tokenizer('simple'))", NULL,
                   "fts3_tokenizer() is not allowed");
    assert_refused("SELECT FTS3_TOKENIZER('porter') IS NOT NULL", NULL,
                   "fts3_tokenizer() is not allowed");
}

/* Registering porter's module under the name "simple" would change how
 * every client's full-text tables tokenize. */
Test(authorizer, fts3_tokenizer_cannot_replace_simple)
{
    sqlited_exec(a, "SELECT fts3_tokenizer('simple', fts3_tokenizer('porter'))",
                 NULL, NULL);
    harness_exec(b, "CREATE VIRTUAL TABLE docs USING fts3(body, "
                    "tokenize=simple);"
                    "INSERT INTO docs VALUES ('running')");
    cr_assert_eq(harness_query_int(
                     b, "SELECT count(*) FROM docs WHERE docs MATCH 'run'"),
                 0, "'simple' stems words: it was replaced by porter");
    cr_assert_eq(harness_query_int(
                     b, "SELECT count(*) FROM docs WHERE docs MATCH 'running'"),
                 1);
    assert_refused("SELECT fts3_tokenizer('simple', fts3_tokenizer('porter'))",
                   NULL, "fts3_tokenizer() is not allowed");
}

/* The other functions that reach beyond the database or into the daemon. */
Test(authorizer, dangerous_functions_are_refused)
{
    assert_refused("SELECT load_extension('/nonexistent/x.so')", NULL,
                   "load_extension() is not allowed");
    assert_refused("SELECT sqlite_log(1, 'from a client')", NULL,
                   "sqlite_log() is not allowed");
    assert_refused("SELECT rtreenode(2, x'0000')", NULL,
                   "rtreenode() is not allowed");
    assert_refused("SELECT rtreedepth(x'0000')", NULL,
                   "rtreedepth() is not allowed");
    /* In a subquery, refused all the same. (In a view, trigger, default or
     * CHECK, SQLite refuses it itself: it is SQLITE_DIRECTONLY.) */
    assert_refused("SELECT hex(p) FROM (SELECT fts3_tokenizer('simple') AS p)",
                   NULL, "fts3_tokenizer() is not allowed");
}

/* sqlite_stmt lists the statements prepared on the connection: on a shared
 * connection, other clients' SQL. */
Test(authorizer, sqlite_stmt_is_refused)
{
    harness_exec(b, "INSERT INTO orders(item) VALUES ('secret-item')");
    assert_refused("SELECT sql FROM sqlite_stmt", NULL,
                   "virtual table sqlite_stmt is not allowed");
    assert_refused("SELECT count(*) FROM sqlite_stmt", NULL,
                   "virtual table sqlite_stmt is not allowed");
    assert_auth(
        a,
        sqlited_exec(a, "CREATE VIRTUAL TABLE s USING sqlite_stmt", NULL, NULL),
        "CREATE VIRTUAL TABLE USING sqlite_stmt",
        "virtual tables USING sqlite_stmt are not allowed");
}

/* What the review allows keeps working. */
Test(authorizer, allowed_functions_and_tables_work)
{
    harness_exec(a, "CREATE VIRTUAL TABLE t5 USING fts5(body);"
                    "INSERT INTO t5 VALUES ('the quick brown fox');"
                    "CREATE VIRTUAL TABLE t5v USING fts5vocab(t5, 'row');"
                    "CREATE VIRTUAL TABLE t4 USING fts4(body);"
                    "INSERT INTO t4 VALUES ('lazy dog');"
                    "CREATE VIRTUAL TABLE t4a USING fts4aux(t4);"
                    "CREATE VIRTUAL TABLE tok USING fts3tokenize(porter);"
                    "CREATE VIRTUAL TABLE box USING rtree(id, x0, x1);"
                    "INSERT INTO box VALUES (1, 0, 10)");
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM t5 WHERE t5 MATCH "
                                      "'fox' AND bm25(t5) < 0 AND "
                                      "highlight(t5, 0, '[', ']') LIKE "
                                      "'%[fox]%' AND snippet(t5, 0, '', '', "
                                      "'', 4) <> ''"),
                 1);
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM t5v"), 4);
    cr_assert_eq(harness_query_int(b, "SELECT length(matchinfo(t4)) > 0 AND "
                                      "offsets(t4) <> '' FROM t4 WHERE t4 "
                                      "MATCH 'dog'"),
                 1);
    cr_assert_eq(harness_query_int(b, "SELECT count(DISTINCT term) FROM t4a"),
                 2);
    cr_assert_eq(harness_query_int(
                     b, "SELECT count(*) FROM tok WHERE input = 'running'"),
                 1);
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM box WHERE x0 < 5"),
                 1);
    cr_assert_eq(harness_query_int(b, "SELECT rtreecheck('box') = 'ok'"), 1);
    cr_assert_eq(harness_query_int(b, "SELECT sum(value) FROM "
                                      "json_each('[1, 2, 3]')"),
                 6);
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM json_tree("
                                      "'{\"a\": [1]}')"),
                 3);
    cr_assert_eq(harness_query_int(b, "SELECT count(*) > 0 FROM dbstat"), 1);
    cr_assert_eq(harness_query_int(b, "SELECT CAST(sqrt(16) + pi() * 0 AS "
                                      "INTEGER) + json_array_length('[1]')"),
                 5);
}

/* ----------------------------------------------------------- TEMP schema */

/* Every spelling of an object in the TEMP schema. */
static const char *const temp_spellings[] = {
    "CREATE TEMP TABLE t(x)",
    "CREATE TEMPORARY TABLE t(x)",
    "create temp table t as select 1 as x",
    "CREATE TABLE temp.t(x)",
    "CREATE TABLE TEMP.t(x)",
    "CREATE TABLE \"temp\".t(x)",
    "CREATE TABLE [Temp].t(x)",
    "CREATE TABLE `tEmP`.t(x)",
    "CREATE TABLE IF NOT EXISTS temp.t(x)",
    "CREATE TEMP VIEW v AS SELECT 1",
    "CREATE TEMPORARY VIEW v AS SELECT 1",
    "CREATE VIEW temp.v AS SELECT 1",
    "CREATE VIEW \"TEMP\".v AS SELECT 1",
    "CREATE TEMP TRIGGER tr AFTER INSERT ON orders BEGIN SELECT 1; END",
    "CREATE TRIGGER temp.tr BEFORE INSERT ON main.orders BEGIN "
    "SELECT raise(abort, 'blocked'); END",
    "CREATE TRIGGER \"temp\".tr BEFORE INSERT ON orders BEGIN "
    "SELECT raise(abort, 'blocked'); END",
    "CREATE VIRTUAL TABLE temp.f USING fts5(a)",
    "CREATE VIRTUAL TABLE \"TEMP\".r USING rtree(id, x0, x1)",
    "PRAGMA temp.user_version = 3",
};

#define TEMP_REFUSED "temporary tables, views, indexes and triggers are not"

/* Each spelling, as exec (the writer) and as query (a reader), in rounds
 * between which another client changes the schema: a reader whose schema
 * is stale used to answer SQLITE_SCHEMA "not authorized" instead. */
Test(authorizer, temp_schema_refused_by_every_spelling)
{
    for (int round = 0; round < 3; round++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "CREATE TABLE round%d(x)", round);
        harness_exec(b, sql);
        for (size_t i = 0; i < sizeof(temp_spellings) / sizeof(*temp_spellings);
             i++) {
            assert_refused(temp_spellings[i], NULL, TEMP_REFUSED);
            if (i % 4 == 0) {
                snprintf(sql, sizeof(sql), "CREATE TABLE r%d_%zu(x)", round, i);
                harness_exec(b, sql);
            }
        }
    }
    cr_assert_eq(
        harness_query_int(b, "SELECT count(*) FROM temp.sqlite_master"), 0);
    sqlited_rows *rows = NULL;
    HARNESS_ASSERT_OK(b, sqlited_exec(b,
                                      "SELECT count(*) FROM "
                                      "temp.sqlite_master",
                                      NULL, &rows));
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 0);
    sqlited_rows_close(rows);
}

/* A TEMP table named like a main one takes the other clients' inserts on
 * the shared writer: acknowledged, then gone at the restart. */
Test(authorizer, acknowledged_insert_never_lands_in_temp)
{
    harness_exec(a, "CREATE TABLE acct(id INTEGER PRIMARY KEY, amount)");
    sqlited_exec(a, "CREATE TABLE temp.acct(id INTEGER PRIMARY KEY, amount)",
                 NULL, NULL);
    harness_exec(b, "INSERT INTO acct(amount) VALUES (100)");
    sqlited_close(a);
    a = NULL;
    sqlited_close(b);
    b = NULL;
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--readers", "1", NULL});
    a = harness_connect(&d);
    b = harness_connect(&d);
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM main.acct"), 1,
                 "an acknowledged insert went into a TEMP table");
}

/* A TEMP trigger on a main table would run on every client's writes until
 * the daemon restarts. */
Test(authorizer, temp_trigger_cannot_block_others)
{
    sqlited_exec(a,
                 "CREATE TRIGGER temp.block BEFORE INSERT ON main.orders "
                 "BEGIN SELECT raise(abort, 'blocked by a temp trigger'); END",
                 NULL, NULL);
    sqlited_exec(a,
                 "CREATE TEMP TRIGGER block2 BEFORE INSERT ON main.orders "
                 "BEGIN SELECT raise(abort, 'blocked by a temp trigger'); END",
                 NULL, NULL);
    int rc =
        sqlited_exec(b, "INSERT INTO orders(item) VALUES ('x')", NULL, NULL);
    cr_assert_eq(rc, 0, "rc %d: %s", rc, sqlited_errmsg(b));
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM orders"), 1);
}

/* ALTER TABLE edits temp's schema table (for the temp triggers and views
 * there are none of): refusing TEMP must not break it, nor DROP. */
Test(authorizer, alter_and_drop_still_work)
{
    harness_exec(a, "CREATE TABLE y(a, b, c);"
                    "ALTER TABLE y RENAME TO z;"
                    "ALTER TABLE z RENAME COLUMN a TO aa;"
                    "ALTER TABLE z DROP COLUMN c;"
                    "ALTER TABLE z ADD COLUMN d;"
                    "INSERT INTO z VALUES (1, 2, 3)");
    cr_assert_eq(harness_query_int(b, "SELECT aa + b + d FROM z"), 6);
    harness_exec(a, "DROP TABLE z");
}

/* --------------------------------------------- pragmas the daemon owns */

/* @sql succeeds on @db as exec and as query; returns the text of the first
 * column of its first row as a query ("" when there is none). */
static void assert_pragma_ok(sqlited *db, const char *sql, const char *answer)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_exec(db, sql, NULL, &rows);
    cr_assert_eq(rc, 0, "%s: rc %d %s: %s", sql, rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    if (answer) {
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW, "%s: no row", sql);
        cr_assert_str_eq(sqlited_column_text(rows, 0), answer, "%s", sql);
    }
    sqlited_rows_close(rows);
    rows = NULL;
    rc = sqlited_query(db, sql, NULL, &rows);
    cr_assert_eq(rc, 0, "%s as a query: rc %d %s: %s", sql, rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    if (answer) {
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW, "%s: no row", sql);
        cr_assert_str_eq(sqlited_column_text(rows, 0), answer, "%s", sql);
    }
    sqlited_rows_close(rows);
}

/* The connection set-up applications run (the Flask seed runs
 * foreign_keys=ON on every connection) asks for what the daemon enforces:
 * it succeeds, and answers as SQLite does. */
Test(authorizer, pragmas_asking_for_what_the_daemon_enforces_succeed)
{
    assert_pragma_ok(a, "PRAGMA foreign_keys=ON", NULL);
    assert_pragma_ok(a, "PRAGMA foreign_keys = 1", NULL);
    assert_pragma_ok(a, "pragma FOREIGN_KEYS = true", NULL);
    assert_pragma_ok(a, "PRAGMA journal_mode=WAL", "wal");
    assert_pragma_ok(a, "PRAGMA main.journal_mode = 'wal'", "wal");
    assert_pragma_ok(a, "PRAGMA temp_store=MEMORY", NULL);
    assert_pragma_ok(a, "PRAGMA temp_store = 2", NULL);
    assert_pragma_ok(a, "PRAGMA synchronous=FULL", NULL);
    assert_pragma_ok(a, "PRAGMA synchronous = 2", NULL);
    assert_pragma_ok(a, "PRAGMA cache_size = -2000", NULL);
    assert_pragma_ok(a, "PRAGMA mmap_size=0", NULL);
    /* Inside a transaction too. */
    HARNESS_ASSERT_OK(a, sqlited_begin(a, SQLITED_TX_DEFERRED));
    assert_pragma_ok(a, "PRAGMA foreign_keys=ON", NULL);
    assert_pragma_ok(a, "PRAGMA journal_mode=WAL", "wal");
    HARNESS_ASSERT_OK(a, sqlited_commit(a));
    /* Reading them works as before. */
    assert_pragma_ok(b, "PRAGMA journal_mode", "wal");
    cr_assert_eq(harness_query_int(b, "PRAGMA foreign_keys"), 1);
    cr_assert_eq(harness_query_int(b, "PRAGMA temp_store"), 2);
    cr_assert_eq(harness_query_int(b, "PRAGMA cache_size"), -2000);
    /* Foreign keys are enforced for every client. */
    harness_exec(a, "CREATE TABLE p(id INTEGER PRIMARY KEY);"
                    "CREATE TABLE c(pid REFERENCES p(id))");
    int rc = sqlited_exec(b, "INSERT INTO c VALUES (1)", NULL, NULL);
    cr_assert_eq(rc, SQLITE_CONSTRAINT_FOREIGNKEY, "rc %d", rc);
}

/* A value other than the daemon's is refused, naming how to change it. */
Test(authorizer, pragmas_changing_what_the_daemon_owns_name_the_flag)
{
    assert_refused("PRAGMA synchronous=OFF", NULL,
                   "synchronous is set by the daemon: use sqlited "
                   "--synchronous");
    assert_refused("PRAGMA synchronous = NORMAL", NULL,
                   "use sqlited --synchronous");
    assert_refused("PRAGMA cache_size=10000", NULL,
                   "cache_size is set by the daemon: use sqlited --cache-size");
    assert_refused("PRAGMA cache_size=-64000", NULL, "--cache-size");
    assert_refused("PRAGMA mmap_size=268435456", NULL,
                   "mmap_size is set by the daemon: use sqlited --mmap-size");
    assert_refused("PRAGMA journal_mode=DELETE", NULL,
                   "journal_mode is set by the daemon (always WAL)");
    assert_refused("PRAGMA journal_mode=MEMORY", NULL, "always WAL");
    assert_refused("PRAGMA foreign_keys=OFF", NULL,
                   "foreign_keys is set by the daemon (always ON)");
    assert_refused("PRAGMA foreign_keys=0", NULL, "always ON");
    assert_refused("PRAGMA temp_store=FILE", NULL,
                   "temp_store is set by the daemon (always MEMORY)");
    assert_refused("PRAGMA busy_timeout=5000", NULL,
                   "busy_timeout is set by the daemon: a request waits for "
                   "locks until its deadline (its timeout_ms");
    assert_refused("PRAGMA recursive_triggers=ON", NULL,
                   "PRAGMA recursive_triggers cannot be set by a client");
    cr_assert_eq(harness_query_int(b, "PRAGMA synchronous"), 2);
}

/* What "the daemon's value" is follows its flags. */
Test(authorizer, owned_pragmas_follow_the_daemon_flags)
{
    sqlited_close(a);
    a = NULL;
    sqlited_close(b);
    b = NULL;
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--synchronous", "NORMAL",
                                             "--cache-size", "500", NULL});
    a = harness_connect(&d);
    b = harness_connect(&d);
    assert_pragma_ok(a, "PRAGMA synchronous=NORMAL", NULL);
    assert_pragma_ok(a, "PRAGMA cache_size=500", NULL);
    assert_refused("PRAGMA synchronous=FULL", NULL,
                   "use sqlited --synchronous");
    assert_refused("PRAGMA cache_size=-2000", NULL, "use sqlited --cache-size");
}

/* ------------------------------------------- savepoints in transactions */

static void assert_bad_request(sqlited *db, int rc, const char *sql,
                               const char *text)
{
    cr_assert_eq(rc, SQLITED_BAD_REQUEST, "%s: rc %d (%s: %s)", sql, rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    cr_assert_str_eq(sqlited_errname(db), "SQLITED_BAD_REQUEST");
    cr_assert_not_null(strstr(sqlited_errmsg(db), text),
                       "%s: message '%s' lacks '%s'", sql, sqlited_errmsg(db),
                       text);
}

static void exec_ok(sqlited *db, const char *sql)
{
    int rc = sqlited_exec(db, sql, NULL, NULL);
    cr_assert_eq(rc, 0, "%s: rc %d %s: %s", sql, rc, sqlited_errname(db),
                 sqlited_errmsg(db));
}

/* SQLAlchemy's nested transactions: savepoints that outlive the request
 * that made them, rolled back to and released by later requests. */
Test(authorizer, savepoints_work_inside_a_transaction)
{
    HARNESS_ASSERT_OK(a, sqlited_begin(a, SQLITED_TX_DEFERRED));
    exec_ok(a, "INSERT INTO orders(id, item) VALUES (1, 'kept')");
    exec_ok(a, "SAVEPOINT sa_1");
    exec_ok(a, "INSERT INTO orders(id, item) VALUES (2, 'undone')");
    sqlited_rows *rows = NULL;
    HARNESS_ASSERT_OK(a, sqlited_query(a, "savepoint \"sa_2\"", NULL, &rows));
    sqlited_rows_close(rows);
    exec_ok(a, "INSERT INTO orders(id, item) VALUES (3, 'undone')");
    exec_ok(a, "RELEASE SAVEPOINT sa_2");
    exec_ok(a, "ROLLBACK TO SAVEPOINT sa_1");
    cr_assert_eq(harness_query_int(a, "SELECT count(*) FROM orders"), 1);
    exec_ok(a, "INSERT INTO orders(id, item) VALUES (4, 'kept')");
    /* A failed request in between undoes only itself. */
    int rc = sqlited_exec(a, "INSERT INTO orders(id, item) VALUES (4, 'dup')",
                          NULL, NULL);
    cr_assert_eq(rc, SQLITE_CONSTRAINT_PRIMARYKEY, "rc %d", rc);
    exec_ok(a, "ROLLBACK TRANSACTION TO sa_1");
    exec_ok(a, "INSERT INTO orders(id, item) VALUES (5, 'kept')");
    exec_ok(a, "RELEASE sa_1");
    HARNESS_ASSERT_OK(a, sqlited_commit(a));
    harness_exec(b, "INSERT INTO orders(id, item) VALUES (100, 'other')");
    cr_assert_eq(harness_query_int(b, "SELECT group_concat(id) = '1,5,100' "
                                      "FROM (SELECT id FROM orders "
                                      "ORDER BY id)"),
                 1);
}

/* Outside begin ... commit, each request is its own transaction: a
 * savepoint there would be the daemon's business. */
Test(authorizer, savepoints_outside_a_transaction_are_refused)
{
    static const char *const sqls[] = {"SAVEPOINT a", "RELEASE a",
                                       "ROLLBACK TO a"};
    for (size_t i = 0; i < 3; i++) {
        sqlited_rows *rows = NULL;
        assert_bad_request(a, sqlited_exec(a, sqls[i], NULL, NULL), sqls[i],
                           "needs a transaction");
        assert_bad_request(a, sqlited_query(a, sqls[i], NULL, &rows), sqls[i],
                           "needs a transaction");
    }
    /* Once prepared inside a transaction, still refused outside (the
     * statement cache must not let it skip the check). */
    HARNESS_ASSERT_OK(a, sqlited_begin(a, SQLITED_TX_DEFERRED));
    exec_ok(a, "SAVEPOINT a");
    exec_ok(a, "RELEASE a");
    HARNESS_ASSERT_OK(a, sqlited_commit(a));
    assert_bad_request(a, sqlited_exec(a, "SAVEPOINT a", NULL, NULL),
                       "SAVEPOINT a", "needs a transaction");
    assert_bad_request(a, sqlited_exec(a, "RELEASE a", NULL, NULL), "RELEASE a",
                       "needs a transaction");
    /* BEGIN, COMMIT and plain ROLLBACK stay refused, inside one too. */
    assert_bad_request(a, sqlited_exec(a, "BEGIN", NULL, NULL), "BEGIN",
                       "use the methods begin, commit and rollback");
    HARNESS_ASSERT_OK(a, sqlited_begin(a, SQLITED_TX_DEFERRED));
    assert_bad_request(a, sqlited_exec(a, "COMMIT", NULL, NULL), "COMMIT",
                       "use the methods begin, commit and rollback");
    assert_bad_request(a, sqlited_exec(a, "ROLLBACK", NULL, NULL), "ROLLBACK",
                       "use the methods begin, commit and rollback");
    HARNESS_ASSERT_OK(a, sqlited_rollback(a));
}

/* The daemon wraps each request of a transaction in its own savepoint,
 * named sqlited: a client may not release it or roll back across it, and
 * savepoint statements travel alone, never in a script or a batch. */
Test(authorizer, savepoints_cannot_break_the_daemon_savepoints)
{
    HARNESS_ASSERT_OK(a, sqlited_begin(a, SQLITED_TX_DEFERRED));
    exec_ok(a, "INSERT INTO orders(id, item) VALUES (1, 'kept')");
    static const char *const reserved[] = {
        "RELEASE sqlited", "ROLLBACK TO sqlited", "SAVEPOINT SQLited"};
    for (size_t i = 0; i < 3; i++)
        assert_bad_request(a, sqlited_exec(a, reserved[i], NULL, NULL),
                           reserved[i], "is reserved for the daemon");
    exec_ok(a, "SAVEPOINT outer");
    static const char *const scripts[] = {
        "INSERT INTO orders(id, item) VALUES (2, 'x'); ROLLBACK TO outer",
        "ROLLBACK TO outer; INSERT INTO orders(id, item) VALUES (2, 'x')",
        "SAVEPOINT inner; INSERT INTO orders(id, item) VALUES (2, 'x')",
        "INSERT INTO orders(id, item) VALUES (2, 'x'); RELEASE outer",
    };
    for (size_t i = 0; i < 4; i++)
        assert_bad_request(a, sqlited_exec(a, scripts[i], NULL, NULL),
                           scripts[i], "must be sent alone");
    sqlited_batch *batch = NULL;
    cr_assert_eq(sqlited_batch_open(&batch), 0);
    cr_assert_eq(sqlited_batch_add(batch,
                                   "INSERT INTO orders(id, item) "
                                   "VALUES (3, 'x')",
                                   NULL),
                 0);
    cr_assert_eq(sqlited_batch_add(batch, "ROLLBACK TO outer", NULL), 0);
    assert_bad_request(a, sqlited_batch_run(a, batch, 0), "batch",
                       "must be sent alone");
    sqlited_batch_close(batch);
    /* None of it applied; the transaction and the client's savepoint are
     * intact, and requests still undo only themselves. */
    cr_assert_eq(harness_query_int(a, "SELECT count(*) FROM orders"), 1);
    int rc = sqlited_exec(a, "INSERT INTO orders(id, item) VALUES (1, 'dup')",
                          NULL, NULL);
    cr_assert_eq(rc, SQLITE_CONSTRAINT_PRIMARYKEY, "rc %d", rc);
    exec_ok(a, "INSERT INTO orders(id, item) VALUES (6, 'kept')");
    exec_ok(a, "RELEASE outer");
    HARNESS_ASSERT_OK(a, sqlited_commit(a));
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM orders"), 2);
    /* And group commit goes on for the others. */
    harness_exec(b, "INSERT INTO orders(id, item) VALUES (7, 'other')");
    cr_assert_eq(harness_query_int(b, "SELECT count(*) FROM orders"), 3);
}
