/* The authorizer's verdicts (daemon/authorizer.c) on a plain in-memory
 * SQLite connection, without the daemon: what is refused while it is
 * prepared, with which code and message, and the daemon's own statements
 * (the internal flag) that pass everything. test_authorizer.c checks the
 * same rules through a running daemon. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>

#include "../../daemon/authorizer.h"
#include "sqlited.h"

static sqlite3 *db;
static struct authorizer auth;
static struct config cfg;

static void open_db(void)
{
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    config_defaults(&cfg);
    cfg.synchronous = "NORMAL";
    cfg.cache_size = -4000;
    authorizer_install(&auth, db, &cfg);
    auth.internal = true;
    cr_assert_eq(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
                 SQLITE_OK);
    auth.internal = false;
}

static void close_db(void)
{
    sqlite3_close(db);
}

/* The suite is shared with the integration tests (test_authorizer.c):
 * these set up their connection test by test. */
#define AUTH_TEST(name)                                                        \
    Test(authorizer, name, .init = open_db, .fini = close_db)

/* Prepares @sql (not run); returns SQLite's result code. */
static int prepare(const char *sql)
{
    sqlite3_stmt *st = NULL;
    auth.denied[0] = '\0';
    auth.denied_code = 0;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    sqlite3_finalize(st);
    return rc;
}

static void assert_allowed(const char *sql)
{
    cr_assert_eq(prepare(sql), SQLITE_OK, "%s: %s (%s)", sql,
                 sqlite3_errmsg(db), auth.denied);
    cr_assert_str_empty(auth.denied, "%s", sql);
}

/* Fails unless preparing @sql is refused by the authorizer, to be
 * reported as @code, with a reason that holds @text. (SQLite itself says
 * SQLITE_AUTH, or SQLITE_ERROR for a function.) */
static void assert_refused(const char *sql, int code, const char *text)
{
    int rc = prepare(sql);
    cr_assert(rc == SQLITE_AUTH || rc == SQLITE_ERROR, "%s: %d %s", sql, rc,
              sqlite3_errmsg(db));
    cr_assert_eq(auth.denied_code, code, "%s: reported as %d", sql,
                 auth.denied_code);
    cr_assert(strstr(auth.denied, text) != NULL, "%s: '%s' lacks '%s'", sql,
              auth.denied, text);
}

AUTH_TEST(verdict_refused_functions_in_any_case)
{
    static const char *const sql[] = {
        "SELECT fts3_tokenizer('simple')",
        "SELECT FTS3_Tokenizer('simple', x'0000000000000000')",
        "SELECT load_extension('/tmp/x.so')",
        "SELECT sqlite_log(1, 'x')",
        "SELECT rtreenode(2, x'00')",
        "SELECT rtreedepth(x'00')",
    };
    for (size_t i = 0; i < sizeof(sql) / sizeof(*sql); i++)
        assert_refused(sql[i], SQLITE_AUTH,
                       "is not allowed: it could crash "
                       "the daemon, reveal its memory or "
                       "reach beyond the database");
    assert_refused("SELECT load_extension('/tmp/x.so')", SQLITE_AUTH,
                   "the SQL function load_extension() is not allowed");
}

AUTH_TEST(verdict_ordinary_functions_are_allowed)
{
    assert_allowed("SELECT abs(-1), json('[1]'), printf('%d', 1), "
                   "sqlite_version(), randomblob(4), sin(1)");
    assert_allowed("SELECT value FROM json_each('[1,2]')");
    assert_allowed("SELECT count(*) FROM t");
}

AUTH_TEST(verdict_modules_outside_the_list_are_refused)
{
    assert_allowed("CREATE VIRTUAL TABLE f USING fts5(body)");
    assert_allowed("CREATE VIRTUAL TABLE r USING rtree(id, x0, x1)");
    assert_allowed("CREATE VIRTUAL TABLE s USING dbstat");
    assert_refused("CREATE VIRTUAL TABLE j USING json_each", SQLITE_AUTH,
                   "virtual tables USING json_each are not allowed: only "
                   "fts3, fts4, fts5, rtree, rtree_i32, fts3tokenize, "
                   "fts4aux, fts5vocab and dbstat");
    assert_refused("CREATE VIRTUAL TABLE p USING pragma_table_info",
                   SQLITE_AUTH, "USING pragma_table_info are not allowed");
}

AUTH_TEST(verdict_refused_tables)
{
    assert_refused("SELECT * FROM sqlite_stmt", SQLITE_AUTH,
                   "the virtual table sqlite_stmt is not allowed");
    assert_allowed("SELECT * FROM dbstat");
}

AUTH_TEST(verdict_temp_schema_refused_by_every_spelling)
{
    static const char *const sql[] = {
        "CREATE TEMP TABLE x(a)",
        "CREATE TEMPORARY TABLE x(a)",
        "CREATE TABLE temp.x(a)",
        "CREATE TEMP VIEW v AS SELECT 1",
        "CREATE VIEW temp.v AS SELECT 1",
        "CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END",
        "CREATE TRIGGER temp.tr AFTER INSERT ON main.t BEGIN SELECT 1; END",
        "PRAGMA temp.cache_size = 10",
    };
    for (size_t i = 0; i < sizeof(sql) / sizeof(*sql); i++)
        assert_refused(sql[i], SQLITE_AUTH, AUTHORIZER_TEMP_REFUSED);
    /* Reading the (empty) temp schema is harmless. */
    assert_allowed("SELECT count(*) FROM temp.sqlite_master");
}

AUTH_TEST(verdict_internal_statements_pass_everything)
{
    auth.internal = true;
    assert_allowed("CREATE TEMP TABLE x(a)");
    assert_allowed("SELECT fts3_tokenizer('simple')");
    assert_allowed("PRAGMA journal_mode = DELETE");
    assert_allowed("BEGIN");
    auth.internal = false;
    assert_refused("CREATE TEMP TABLE y(a)", SQLITE_AUTH,
                   AUTHORIZER_TEMP_REFUSED);
    assert_refused("SELECT fts3_tokenizer('simple')", SQLITE_AUTH,
                   "fts3_tokenizer() is not allowed");
}

AUTH_TEST(verdict_transaction_control_is_a_bad_request)
{
    assert_refused("BEGIN", SQLITED_BAD_REQUEST,
                   "transaction control (BEGIN) is not allowed in SQL");
    assert_refused("COMMIT", SQLITED_BAD_REQUEST,
                   "transaction control (COMMIT) is not allowed in SQL");
    assert_refused("ATTACH ':memory:' AS other", SQLITE_AUTH,
                   "ATTACH is not allowed: the daemon serves one database");
}

AUTH_TEST(verdict_savepoints_need_a_transaction_and_to_be_alone)
{
    assert_refused("SAVEPOINT a", SQLITED_BAD_REQUEST,
                   "SAVEPOINT needs a transaction");
    auth.in_tx = true;
    assert_refused("RELEASE a", SQLITED_BAD_REQUEST,
                   "RELEASE must be sent alone");
    auth.savepoints = true;
    assert_allowed("SAVEPOINT a");
    assert_allowed("ROLLBACK TO a");
    assert_refused("SAVEPOINT sqlited", SQLITED_BAD_REQUEST,
                   "the savepoint name sqlited is reserved for the daemon's "
                   "own savepoints");
}

AUTH_TEST(verdict_pragmas_the_daemon_owns)
{
    /* Reading any pragma, and setting the listed ones, is allowed. */
    assert_allowed("PRAGMA journal_mode");
    assert_allowed("PRAGMA user_version = 7");
    assert_allowed("PRAGMA table_info(t)");
    /* Asking for what the daemon enforces passes. */
    assert_allowed("PRAGMA journal_mode = WAL");
    assert_allowed("PRAGMA foreign_keys = ON");
    assert_allowed("PRAGMA synchronous = normal");
    assert_allowed("PRAGMA synchronous = 1");
    assert_allowed("PRAGMA cache_size = -4000");
    /* Anything else names the way to change it. */
    assert_refused("PRAGMA journal_mode = DELETE", SQLITE_AUTH,
                   "PRAGMA journal_mode=DELETE is refused: journal_mode is "
                   "set by the daemon (always WAL)");
    assert_refused("PRAGMA synchronous = FULL", SQLITE_AUTH,
                   "use sqlited --synchronous");
    assert_refused("PRAGMA cache_size = -2000", SQLITE_AUTH,
                   "use sqlited --cache-size");
    assert_refused("PRAGMA foreign_keys = OFF", SQLITE_AUTH, "(always ON)");
    assert_refused("PRAGMA busy_timeout = 100", SQLITE_AUTH,
                   "a request waits for locks until its deadline");
    assert_refused("PRAGMA query_only = 1", SQLITE_AUTH,
                   "PRAGMA query_only cannot be set by a client");
    assert_refused("PRAGMA wal_checkpoint", SQLITED_BAD_REQUEST,
                   "PRAGMA wal_checkpoint runs only as a request of its own");
}

AUTH_TEST(verdict_without_settings_owned_values_are_refused)
{
    /* With no configuration (cfg NULL), the daemon's values are unknown:
     * only the fixed ones can be asked for. */
    authorizer_install(&auth, db, NULL);
    assert_allowed("PRAGMA journal_mode = WAL");
    assert_refused("PRAGMA synchronous = NORMAL", SQLITE_AUTH,
                   "use sqlited --synchronous");
    assert_refused("PRAGMA cache_size = -4000", SQLITE_AUTH,
                   "use sqlited --cache-size");
}
