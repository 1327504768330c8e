/* optimize, vacuum and integrity: through libsqlited, the wire and the CLI. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

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

TestSuite(maintenance, .init = setup, .fini = teardown, .timeout = 60);

/* Rows of 1000 random bytes: about 3 MB. */
#define FILL                                                                   \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE "    \
    "x < 3000) INSERT INTO t(b) SELECT randomblob(1000) FROM c"

/* After most rows are deleted, vacuum gives their pages back, and the rows
 * that were kept are still there. */
Test(maintenance, vacuum_reclaims_deleted_rows)
{
    sqlited_vacuum_info info;

    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    harness_exec(db, FILL);
    harness_exec(db, "DELETE FROM t WHERE id > 10");
    HARNESS_ASSERT_OK(db, sqlited_vacuum(db, &info));
    cr_assert_gt(info.size_before, (uint64_t)3000 * 1000);
    cr_assert_lt(info.size_after, (uint64_t)100 * 1000);
    cr_assert_eq(info.reclaimed, info.size_before - info.size_after);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 10);
    cr_assert_eq(harness_query_int(db, "PRAGMA freelist_count"), 0);

    /* Nothing left to reclaim the second time. */
    HARNESS_ASSERT_OK(db, sqlited_vacuum(db, &info));
    cr_assert_eq(info.reclaimed, 0);
    cr_assert_eq(info.size_before, info.size_after);
}

/* Writes sent while a vacuum waits or runs all apply. */
Test(maintenance, vacuum_between_writes)
{
    sqlited *other = harness_connect(&d);
    uint32_t ids[20];

    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    harness_exec(db, FILL);
    for (int i = 0; i < 10; i++)
        HARNESS_ASSERT_OK(
            other, sqlited_send_exec(other, "INSERT INTO t(b) VALUES (1)", NULL,
                                     &ids[i]));
    HARNESS_ASSERT_OK(db, sqlited_vacuum(db, NULL));
    for (int i = 10; i < 20; i++)
        HARNESS_ASSERT_OK(
            other, sqlited_send_exec(other, "INSERT INTO t(b) VALUES (1)", NULL,
                                     &ids[i]));
    for (int i = 0; i < 20; i++)
        HARNESS_ASSERT_OK(other, sqlited_receive(other, ids[i], NULL, NULL));
    sqlited_close(other);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 3020);
}

/* optimize succeeds; with analyze the planner's statistics exist. */
Test(maintenance, optimize_and_analyze)
{
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB, k INT);"
                     "CREATE INDEX t_k ON t(k)");
    harness_exec(db, FILL);
    HARNESS_ASSERT_OK(db, sqlited_optimize(db, 0));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM sqlite_schema "
                                       "WHERE name = 'sqlite_stat1'"),
                 0);
    HARNESS_ASSERT_OK(db, sqlited_optimize(db, 1));
    cr_assert_gt(harness_query_int(db, "SELECT count(*) FROM sqlite_stat1 "
                                       "WHERE tbl = 't'"),
                 0);
}

/* A healthy database passes both checks. */
Test(maintenance, integrity_ok)
{
    sqlited_integrity_info info;

    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB, k INT);"
                     "CREATE INDEX t_k ON t(k)");
    harness_exec(db, FILL);
    HARNESS_ASSERT_OK(db, sqlited_integrity(db, SQLITED_INTEGRITY_FULL, &info));
    cr_assert_eq(info.ok, 1);
    cr_assert_eq(info.nproblems, 0);
    HARNESS_ASSERT_OK(db,
                      sqlited_integrity(db, SQLITED_INTEGRITY_QUICK, &info));
    cr_assert_eq(info.ok, 1);
    cr_assert_eq(sqlited_integrity(db, 7, &info), SQLITED_EMISUSE);
}

/* An index that does not match its table: integrity reports the problems,
 * and sqlited-cli integrity exits 1 printing them. */
Test(maintenance, integrity_finds_problems)
{
    sqlited_integrity_info info;
    sqlite3 *raw;

    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, x INT, y INT);"
                     "CREATE INDEX t_i ON t(x);"
                     "INSERT INTO t(x, y) VALUES (1, 10), (2, 20), (3, 30)");
    sqlited_close(db);
    db = NULL;
    cr_assert_eq(daemon_stop(&d), 0);
    /* Behind the daemon's back: the schema now says the index is on y. */
    cr_assert_eq(sqlite3_open(d.db_path, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw,
                              "PRAGMA writable_schema = ON;"
                              "UPDATE sqlite_schema SET sql = 'CREATE INDEX "
                              "t_i ON t(y)' WHERE name = 't_i';",
                              NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(raw));
    sqlite3_close(raw);
    daemon_restart(&d, NULL);
    db = harness_connect(&d);

    HARNESS_ASSERT_OK(db, sqlited_integrity(db, SQLITED_INTEGRITY_FULL, &info));
    cr_assert_eq(info.ok, 0);
    cr_assert_gt(info.nproblems, 0);
    cr_assert(strstr(info.problems[0], "t_i"), "%s", info.problems[0]);

    struct harness_output o;
    const char *argv[] = {SQLITED_CLI, "-s",        d.sock_path,
                          "--json",    "integrity", NULL};
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert(strncmp(o.out,
                      "{\"check\": \"full\", \"ok\": false, "
                      "\"problems\": [\"",
                      strlen("{\"check\": \"full\", \"ok\": false, "
                             "\"problems\": [\"")) == 0,
              "%s", o.out);
    harness_output_free(&o);
}

/* The CLI's subcommands, with and without --json. */
Test(maintenance, cli)
{
    struct harness_output o;

    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB)");
    harness_exec(db, FILL);
    harness_exec(db, "DELETE FROM t");
    const char *vacuum[] = {SQLITED_CLI, "-s",     d.sock_path,
                            "--json",    "vacuum", NULL};
    harness_run(vacuum, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert(strstr(o.out, "\"size_after\": 8192, \"reclaimed\": "), "%s",
              o.out);
    harness_output_free(&o);

    const char *integrity[] = {SQLITED_CLI, "-s",    d.sock_path,
                               "integrity", "quick", NULL};
    harness_run(integrity, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "ok\n");
    harness_output_free(&o);

    const char *optimize[] = {SQLITED_CLI, "-s",      d.sock_path, "--json",
                              "optimize",  "analyze", NULL};
    harness_run(optimize, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "{\"analyze\": true}\n");
    harness_output_free(&o);
}

/* integrity carries the request's deadline: a full check of some 20 MB
 * cannot finish within 1 ms, and is answered SQLITED_TIMEOUT (whether the
 * deadline passed while it waited or while it ran). */
Test(maintenance, integrity_deadline)
{
    sqlited_integrity_info info;

    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, b BLOB, k INT);"
                     "CREATE INDEX t_k ON t(k)");
    harness_exec(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + "
                     "1 FROM c WHERE x < 20000) INSERT INTO t(b, k) SELECT "
                     "randomblob(1000), x FROM c");
    HARNESS_ASSERT_OK(db, sqlited_set_timeout(db, 1));
    cr_assert_eq(sqlited_integrity(db, SQLITED_INTEGRITY_FULL, &info),
                 SQLITED_TIMEOUT, "%s", sqlited_errmsg(db));
    cr_assert(strstr(sqlited_errmsg(db), "deadline (1 ms)"), "%s",
              sqlited_errmsg(db));
    HARNESS_ASSERT_OK(db, sqlited_set_timeout(db, 0));
    HARNESS_ASSERT_OK(db, sqlited_integrity(db, SQLITED_INTEGRITY_FULL, &info));
    cr_assert_eq(info.ok, 1);
}

/* Bad options are refused by name. */
Test(maintenance, bad_options)
{
    struct harness_raw c = {0};
    struct reply rep;

    harness_raw_open(&c, &d);
    harness_pack_request(&c.b, 1, "integrity", 1);
    msgpack_pack_map(&c.b.pk, 1);
    codec_pack_cstr(&c.b, "check");
    codec_pack_cstr(&c.b, "medium");
    harness_send_buf(c.fd, &c.b);
    harness_read_reply(&c.r, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "option check must be \"quick\" or \"full\"");
    reply_free(&rep);

    harness_pack_request(&c.b, 2, "vacuum", 1);
    msgpack_pack_map(&c.b.pk, 1);
    codec_pack_cstr(&c.b, "analyze");
    msgpack_pack_true(&c.b.pk);
    harness_send_buf(c.fd, &c.b);
    harness_read_reply(&c.r, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "unknown option 'analyze' for vacuum");
    reply_free(&rep);
    harness_raw_close(&c);
}
