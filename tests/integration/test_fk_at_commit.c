/* A writer's transaction whose foreign keys are checked at its COMMIT
 * (PROTOCOL.md, begin with {"foreign_keys": "at_commit"};
 * SQLITED_TX_FOREIGN_KEYS_AT_COMMIT): inside it rows and tables may refer to
 * rows and tables that come later, the COMMIT refuses what still breaks a
 * key, and every other transaction and client keeps foreign keys on. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

static void start(const char *const *extra_args)
{
    db = harness_start_connected(&d, extra_args);
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(fk_at_commit, .init = setup, .fini = teardown, .timeout = 60);

#define assert_ok(rc) HARNESS_ASSERT_OK(db, rc)

#define assert_error(got, code, text) HARNESS_ASSERT_ERROR(db, got, code, text)

#define AT_COMMIT (SQLITED_TX_DEFERRED | SQLITED_TX_FOREIGN_KEYS_AT_COMMIT)

/* Foreign keys are on for plain statements: a row pointing nowhere fails
 * at once. */
static void assert_keys_enforced(void)
{
    assert_error(
        sqlited_exec(db, "INSERT INTO child VALUES (100, 999)", NULL, NULL),
        SQLITE_CONSTRAINT_FOREIGNKEY, "FOREIGN KEY constraint failed");
    cr_assert_eq(harness_query_int(db, "PRAGMA foreign_keys"), 1);
}

/* What the output of `sqlite3 DB .dump` does when a table was created
 * before the table it refers to: its rows come first. With foreign keys
 * checked at each statement the first INSERT fails ("no such table"); here
 * it commits, and foreign keys are on again afterwards. */
Test(fk_at_commit, a_table_may_refer_to_one_created_later)
{
    assert_ok(sqlited_begin(db, AT_COMMIT));
    cr_assert_eq(harness_query_int(db, "PRAGMA foreign_keys"), 0);
    assert_ok(sqlited_exec(db,
                           "CREATE TABLE child(id INTEGER PRIMARY KEY,"
                           " p INTEGER REFERENCES parent(id));"
                           "INSERT INTO child VALUES (1, 1), (2, NULL);"
                           "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                           "INSERT INTO parent VALUES (1)",
                           NULL, NULL));
    assert_ok(sqlited_commit(db));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 2);
    assert_keys_enforced();

    /* The same without the flag fails where the dump would. */
    harness_exec(db, "DROP TABLE child; DROP TABLE parent");
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    assert_error(sqlited_exec(db,
                              "CREATE TABLE child(id INTEGER PRIMARY KEY,"
                              " p INTEGER REFERENCES parent(id));"
                              "INSERT INTO child VALUES (1, 1)",
                              NULL, NULL),
                 SQLITE_ERROR, "no such table: main.parent");
    assert_ok(sqlited_rollback(db));
}

/* A row still pointing nowhere at COMMIT: the COMMIT fails with
 * SQLITE_CONSTRAINT_FOREIGNKEY naming it, nothing is applied, the
 * transaction is over, and foreign keys are on again. */
Test(fk_at_commit, a_key_broken_at_commit_applies_nothing)
{
    harness_exec(db, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE child(id INTEGER PRIMARY KEY,"
                     " p INTEGER REFERENCES parent(id));"
                     "INSERT INTO parent VALUES (1)");
    assert_ok(sqlited_begin(db, SQLITED_TX_IMMEDIATE |
                                    SQLITED_TX_FOREIGN_KEYS_AT_COMMIT));
    assert_ok(sqlited_exec(db, "INSERT INTO child VALUES (7, 42)", NULL, NULL));
    assert_ok(sqlited_exec(db, "INSERT INTO parent VALUES (2)", NULL, NULL));
    assert_error(sqlited_commit(db), SQLITE_CONSTRAINT_FOREIGNKEY,
                 "FOREIGN KEY constraint failed at COMMIT: a row of child "
                 "(rowid 7) refers to a row of parent that does not exist, so "
                 "the transaction was rolled back");
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM parent"), 1);
    assert_keys_enforced();

    /* Several: counted, the first named. */
    assert_ok(sqlited_begin(db, AT_COMMIT));
    assert_ok(sqlited_exec(db, "INSERT INTO child VALUES (8, 42), (9, 43)",
                           NULL, NULL));
    assert_error(sqlited_commit(db), SQLITE_CONSTRAINT_FOREIGNKEY,
                 "2 rows refer to rows that do not exist, the first a row of "
                 "child (rowid 8) to a row of parent");
    assert_keys_enforced();
}

/* Deleting a parent inside such a transaction runs no ON DELETE action (as
 * with foreign keys off in SQLite); putting it back before COMMIT is fine. */
Test(fk_at_commit, actions_do_not_run_inside)
{
    harness_exec(db, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE child(id INTEGER PRIMARY KEY,"
                     " p INTEGER REFERENCES parent(id) ON DELETE CASCADE);"
                     "INSERT INTO parent VALUES (1);"
                     "INSERT INTO child VALUES (1, 1)");
    assert_ok(sqlited_begin(db, AT_COMMIT));
    assert_ok(sqlited_exec(db, "DELETE FROM parent", NULL, NULL));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 1);
    assert_ok(sqlited_exec(db, "INSERT INTO parent VALUES (1)", NULL, NULL));
    assert_ok(sqlited_commit(db));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 1);
    /* Outside, the cascade runs again. */
    harness_exec(db, "DELETE FROM parent");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 0);
}

/* However the transaction ends (rollback, idling, its client leaving),
 * foreign keys are on again for the next transaction and for other
 * clients. */
Test(fk_at_commit, keys_are_back_on_however_it_ends)
{
    teardown();
    start((const char *const[]){"--tx-idle-timeout", "200", NULL});
    harness_exec(db, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE child(id INTEGER PRIMARY KEY,"
                     " p INTEGER REFERENCES parent(id))");

    assert_ok(sqlited_begin(db, AT_COMMIT));
    assert_ok(sqlited_exec(db, "INSERT INTO child VALUES (1, 42)", NULL, NULL));
    assert_ok(sqlited_rollback(db));
    assert_keys_enforced();

    assert_ok(sqlited_begin(db, AT_COMMIT));
    assert_ok(sqlited_exec(db, "INSERT INTO child VALUES (1, 42)", NULL, NULL));
    while (harness_stat(&d, "tx_expired") < 1)
        harness_sleep_ms(20);
    assert_error(sqlited_exec(db, "SELECT 1", NULL, NULL), SQLITED_TX_EXPIRED,
                 "idle");
    assert_keys_enforced();

    sqlited *other = harness_connect(&d);
    assert_ok(sqlited_begin(db, AT_COMMIT));
    assert_ok(sqlited_exec(db, "INSERT INTO child VALUES (1, 42)", NULL, NULL));
    /* The other client's write waits for the transaction, then runs with
     * foreign keys on. */
    sqlited_close(db);
    db = other;
    assert_keys_enforced();
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 0);
}

/* Bad uses are refused, naming the problem, before anything runs. */
Test(fk_at_commit, misuse_is_refused)
{
    assert_error(sqlited_begin(db, SQLITED_TX_READ_ONLY |
                                       SQLITED_TX_FOREIGN_KEYS_AT_COMMIT),
                 SQLITED_EMISUSE,
                 "SQLITED_TX_FOREIGN_KEYS_AT_COMMIT does not go with "
                 "SQLITED_TX_READ_ONLY");
    cr_assert_eq(sqlited_tx_id(db), 0);

    struct harness_raw a;
    struct reply rep;
    harness_raw_open(&a, &d);
    uint32_t msgid = ++a.last_msgid;
    harness_pack_request(&a.b, msgid, "begin", 2);
    codec_pack_cstr(&a.b, "deferred");
    msgpack_pack_map(&a.b.pk, 1);
    codec_pack_cstr(&a.b, "foreign_keys");
    codec_pack_cstr(&a.b, "off");
    harness_raw_call(&a, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "option foreign_keys must be \"at_commit\"");
    reply_free(&rep);

    msgid = ++a.last_msgid;
    harness_pack_request(&a.b, msgid, "begin", 1);
    msgpack_pack_map(&a.b.pk, 2);
    codec_pack_cstr(&a.b, "read_only");
    msgpack_pack_true(&a.b.pk);
    codec_pack_cstr(&a.b, "foreign_keys");
    codec_pack_cstr(&a.b, "at_commit");
    harness_raw_call(&a, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "read_only and foreign_keys \"at_commit\" do not go "
                         "together");
    reply_free(&rep);
    harness_raw_close(&a);
    cr_assert_eq(harness_query_int(db, "PRAGMA foreign_keys"), 1);
}
