/* Edge cases where the write path and cursors meet SQLite's own rules:
 * parameters a cursor keeps using, deferred foreign keys in a group commit,
 * statements that cannot run in a transaction inside scripts, and stale
 * snapshots of an interactive transaction. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw a, b;
static sqlited *db;

static void start(const char *const *extra_args)
{
    db = harness_start_connected(&d, extra_args);
    harness_raw_open(&a, &d);
    harness_raw_open(&b, &d);
}

static void teardown(void)
{
    harness_raw_close(&a);
    harness_raw_close(&b);
    harness_cleanup_connected(&d, &db);
}

TestSuite(edges, .fini = teardown, .timeout = 60);

/* Appends [0, msgid, "query", [sql, [text]]]. */
static void pack_query_text(struct codec_buf *buf, uint32_t msgid,
                            const char *sql, const char *text)
{
    harness_pack_request(buf, msgid, "query", 2);
    codec_pack_cstr(buf, sql);
    msgpack_pack_array(&buf->pk, 1);
    codec_pack_cstr(buf, text);
}

/* Reads one chunk's rows [x, text] and checks each text is @want. Returns
 * the cursor, 0 when it was the last chunk; adds the rows to *@rows. */
static uint64_t check_chunk(struct reply *rep, const char *want, int *rows)
{
    uint32_t n, pairs, cols;
    uint64_t cursor = 0;
    const char *key, *text;
    uint32_t key_len, text_len;

    cr_assert_not(rep->is_error, "%s: %s", rep->name, rep->message);
    struct codec_reader r = rep->result;
    cr_assert_eq(codec_read_map(&r, &pairs), 0);
    for (uint32_t i = 0; i < pairs; i++) {
        cr_assert_eq(codec_read_str(&r, &key, &key_len), 0);
        if (key_len == 4 && memcmp(key, "rows", 4) == 0) {
            cr_assert_eq(codec_read_array(&r, &n), 0);
            for (uint32_t k = 0; k < n; k++) {
                int64_t x;
                cr_assert_eq(codec_read_array(&r, &cols), 0);
                cr_assert_eq(codec_read_int64(&r, &x), 0);
                cr_assert_eq(codec_read_str(&r, &text, &text_len), 0);
                cr_assert(text_len == strlen(want) &&
                              memcmp(text, want, text_len) == 0,
                          "row %d carries '%.*s', not its own parameter", *rows,
                          (int)text_len, text);
                (*rows)++;
            }
        } else if (key_len == 6 && memcmp(key, "cursor", 6) == 0) {
            int64_t id;
            cr_assert_eq(codec_read_int64(&r, &id), 0);
            cursor = (uint64_t)id;
        } else {
            cr_assert_eq(codec_skip(&r), 0);
        }
    }
    return cursor;
}

/* A text parameter is bound in place: the cursor must keep the request's
 * bytes for every later chunk, even after other requests reused the
 * memory the first one was read into. */
Test(edges, cursor_keeps_its_parameters)
{
    char first[201], second[201];
    memset(first, 'a', 200);
    memset(second, 'b', 200);
    first[200] = second[200] = '\0';

    start((const char *const[]){"--chunk-rows", "10", NULL});
    harness_exec(db, "CREATE TABLE t(x INTEGER);"
                     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c WHERE x < 100) INSERT INTO t SELECT x FROM c");
    struct reply rep;
    int rows = 0;
    pack_query_text(&a.b, 1, "SELECT x, ? FROM t", first);
    harness_raw_call(&a, 1, &rep);
    uint64_t cursor = check_chunk(&rep, first, &rows);
    reply_free(&rep);
    cr_assert_neq(cursor, 0);

    /* Other queries of the same size with other parameters, meanwhile, on
     * the same connection: they tend to reuse the first one's memory. */
    for (uint32_t i = 0; i < 20; i++) {
        int other_rows = 0;
        pack_query_text(&a.b, 100 + i, "SELECT 0, ? --abcd", second);
        harness_raw_call(&a, 100 + i, &rep);
        check_chunk(&rep, second, &other_rows);
        reply_free(&rep);
    }

    for (uint32_t msgid = 2; cursor != 0; msgid++) {
        harness_pack_request(&a.b, msgid, "fetch", 1);
        msgpack_pack_uint64(&a.b.pk, cursor);
        harness_raw_call(&a, msgid, &rep);
        cursor = check_chunk(&rep, first, &rows);
        reply_free(&rep);
    }
    cr_assert_eq(rows, 100);
}

/* With foreign keys checked at commit (DEFERRABLE INITIALLY DEFERRED), a
 * request that leaves an orphan fails alone: the requests committed in
 * the same group with it are kept. The group is made by holding the writer
 * in a transaction while both requests queue up behind it. */
Test(edges, deferred_foreign_key_fails_its_request_alone)
{
    start(NULL);
    harness_exec(db, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE child(id INTEGER PRIMARY KEY, parent "
                     "INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY "
                     "DEFERRED);"
                     "CREATE TABLE other(v)");
    struct harness_raw c = {0};
    harness_raw_open(&c, &d);
    int64_t tx = harness_raw_begin(&c, "immediate");

    harness_pack_sql(&a.b, 1, "exec", "INSERT INTO child VALUES (1, 42)");
    harness_send_buf(a.fd, &a.b);
    harness_pack_sql(&b.b, 2, "exec", "INSERT INTO other VALUES ('kept')");
    harness_send_buf(b.fd, &b.b);
    harness_assert_no_reply(&a.r, 100, "a write behind a transaction");
    harness_raw_end_ok(&c, "commit", tx);

    struct reply rep;
    harness_read_reply(&a.r, &rep);
    cr_assert(rep.is_error);
    cr_assert_eq(rep.code, SQLITE_CONSTRAINT_FOREIGNKEY, "%s: %s", rep.name,
                 rep.message);
    reply_free(&rep);
    harness_read_reply(&b.r, &rep);
    cr_assert_not(rep.is_error, "the neighbour failed: %s: %s", rep.name,
                  rep.message);
    reply_free(&rep);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM other"), 1);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 0);
    harness_raw_close(&c);
}

/* Inside begin ... commit, a deferred violation may still be mended before
 * the commit, as SQLite intends. */
Test(edges, deferred_foreign_key_mended_in_a_transaction)
{
    start(NULL);
    harness_exec(db, "CREATE TABLE parent(id INTEGER PRIMARY KEY);"
                     "CREATE TABLE child(id INTEGER PRIMARY KEY, parent "
                     "INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY "
                     "DEFERRED)");
    int64_t tx = harness_raw_begin(&a, NULL);
    struct harness_options in_tx = {.tx = tx};
    harness_raw_exec(&a, "INSERT INTO child VALUES (1, 42)", &in_tx);
    harness_raw_exec(&a, "INSERT INTO parent VALUES (42)", &in_tx);
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM child"), 1);
}

/* PRAGMA wal_checkpoint cannot run inside a transaction: alone it is run
 * outside the group, but inside a script it must not take the script's
 * other statements out of their savepoint. */
Test(edges, checkpoint_in_a_script_is_not_half_applied)
{
    start(NULL);
    harness_exec(db, "CREATE TABLE t(v)");
    int rc = sqlited_exec(db,
                          "INSERT INTO t VALUES (1); PRAGMA wal_checkpoint; "
                          "INSERT INTO nosuch VALUES (2)",
                          NULL, NULL);
    cr_assert_neq(rc, 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0,
                 "the script's first statement stayed");
    rc = sqlited_exec(db, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL);
    cr_assert_eq(rc, 0, "%s", sqlited_errmsg(db));
}

/* A deferred transaction whose snapshot went stale (another process wrote
 * after it read) can never write: the daemon says so at once rather than
 * retrying until the deadline. */
Test(edges, stale_snapshot_is_answered_at_once)
{
    start(NULL);
    harness_exec(db, "CREATE TABLE t(v); INSERT INTO t VALUES (1)");
    int64_t tx = harness_raw_begin(&a, "deferred");
    struct harness_options in_tx = {
        .tx = tx, .has_timeout = true, .timeout_ms = 20000};
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t", &in_tx),
                 1);

    sqlite3 *ext;
    cr_assert_eq(sqlite3_open_v2(d.db_path, &ext, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(ext, "INSERT INTO t VALUES (2)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(ext);

    struct reply rep;
    int64_t t0 = harness_now_ms();
    harness_raw_sql(&a, "exec", "INSERT INTO t VALUES (3)", &in_tx, &rep);
    cr_assert(rep.is_error);
    cr_assert_eq(rep.code, SQLITE_BUSY_SNAPSHOT, "%s: %s", rep.name,
                 rep.message);
    cr_assert_lt(harness_now_ms() - t0, 10000, "answered only after %lld ms",
                 (long long)(harness_now_ms() - t0));
    reply_free(&rep);
    harness_raw_end_ok(&a, "rollback", tx);
}
