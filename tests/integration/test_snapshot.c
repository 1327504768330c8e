/* Read-only transactions (PROTOCOL.md, begin with {"read_only": true}):
 * every query in one reads the snapshot taken at its begin, on a reader,
 * while other clients write and commit; nothing can be written in it; it
 * ends by commit, rollback, idling, its maximum duration, the WAL limit and
 * its connection closing, and it counts against --max-cursors. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

/* Options that put a request inside transaction @id. */
#define IN_TX(id) (&(struct harness_options){.tx = (id)})

static struct daemon d;
static struct harness_raw a; /* opens the read-only transactions */
static struct harness_raw b; /* another client */
static sqlited *other;       /* a client that writes, through libsqlited */

static void start(const char *const *extra_args)
{
    daemon_start(&d, extra_args);
    harness_raw_open(&a, &d);
    harness_raw_open(&b, &d);
    other = harness_connect(&d);
    harness_exec(other, "CREATE TABLE t(id INTEGER PRIMARY KEY, x INTEGER);"
                        "INSERT INTO t(x) VALUES (1), (2), (3)");
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    harness_raw_close(&a);
    harness_raw_close(&b);
    harness_cleanup_connected(&d, &other);
}

/* Replaces the suite's daemon by one started with @extra_args. */
static void restart_with(const char *const *extra_args)
{
    teardown();
    start(extra_args);
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 120);

/* Appends the options map {"read_only": true} to @buf. */
static void pack_read_only(struct codec_buf *buf)
{
    msgpack_pack_map(&buf->pk, 1);
    codec_pack_cstr(buf, "read_only");
    msgpack_pack_true(&buf->pk);
}

/* Sends begin [{"read_only": true}] on @c and stores the answer in @rep. */
static void begin_read_only(struct harness_raw *c, struct reply *rep)
{
    uint32_t msgid = ++c->last_msgid;
    harness_pack_request(&c->b, msgid, "begin", 1);
    pack_read_only(&c->b);
    harness_raw_call(c, msgid, rep);
}

/* A read-only transaction on @c; fails the test unless begin answers a
 * positive id, which it returns. */
static int64_t begin_ok(struct harness_raw *c)
{
    struct reply rep;
    int64_t tx;
    begin_read_only(c, &rep);
    cr_assert_not(rep.is_error, "begin: %s: %s", rep.name, rep.message);
    struct codec_reader res = rep.result;
    cr_assert_eq(codec_read_int64(&res, &tx), 0, "begin answered no integer");
    cr_assert_gt(tx, 0);
    reply_free(&rep);
    return tx;
}

/* Rows of t in transaction @tx of @c (0: outside any). */
static int64_t count_in(struct harness_raw *c, int64_t tx)
{
    return harness_raw_query_int(c, "SELECT count(*) FROM t",
                                 tx ? IN_TX(tx) : NULL);
}

/* Runs @method @sql in @tx on @c and expects error @code (@name) whose
 * message holds @text. */
static void expect_error(struct harness_raw *c, const char *method,
                         const char *sql, int64_t tx, int code,
                         const char *name, const char *text)
{
    struct reply rep;
    harness_raw_sql(c, method, sql, IN_TX(tx), &rep);
    harness_assert_error(&rep, code, name, text);
    reply_free(&rep);
}

/* Waits (bounded) until the daemon's stat @key reaches @want. */
static void wait_stat(const char *key, int64_t want)
{
    int64_t deadline = harness_now_ms() + 20000;
    while (harness_stat(&d, key) < want && harness_now_ms() < deadline)
        harness_sleep_ms(20);
    cr_assert_geq(harness_stat(&d, key), want, "stat %s never reached %lld",
                  key, (long long)want);
}

/* Every query reads the database as of the begin: a row another client
 * commits after it is not seen, whether the first query comes before or
 * after that commit, while a query outside the transaction sees it. The
 * other client's writes are acknowledged while the transaction is open:
 * it holds no writer. */
Test(snapshot, queries_read_the_snapshot_of_the_begin)
{
    int64_t tx = begin_ok(&a);
    /* Committed after the begin, before the first query in it. */
    harness_exec(other, "INSERT INTO t(x) VALUES (4)");
    cr_assert_eq(count_in(&a, tx), 3);
    harness_exec(other, "INSERT INTO t(x) VALUES (5)");
    harness_exec(other, "DELETE FROM t WHERE x = 1");
    cr_assert_eq(count_in(&a, tx), 3);
    cr_assert_eq(harness_raw_query_int(&a, "SELECT sum(x) FROM t", IN_TX(tx)),
                 6);
    /* Outside it, the same connection and another see every write. */
    cr_assert_eq(count_in(&a, 0), 4);
    cr_assert_eq(count_in(&b, 0), 4);
    cr_assert_eq(harness_stat(&d, "tx_read_only_open"), 1);
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(harness_stat(&d, "tx_read_only_open"), 0);
    cr_assert_eq(harness_stat(&d, "tx_read_only_begun"), 1);
    /* A transaction of the writer was never involved. */
    cr_assert_eq(harness_stat(&d, "tx_begun"), 0);
}

/* Several read-only transactions at once, on different connections, each
 * on its own snapshot. */
Test(snapshot, several_at_once_each_on_its_own_snapshot)
{
    int64_t t1 = begin_ok(&a);
    harness_exec(other, "INSERT INTO t(x) VALUES (4)");
    int64_t t2 = begin_ok(&b);
    cr_assert_neq(t1, t2);
    harness_exec(other, "INSERT INTO t(x) VALUES (5)");
    cr_assert_eq(count_in(&a, t1), 3);
    cr_assert_eq(count_in(&b, t2), 4);
    cr_assert_eq(harness_stat(&d, "tx_read_only_open"), 2);
    harness_raw_end_ok(&a, "rollback", t1);
    harness_raw_end_ok(&b, "commit", t2);
}

/* exec, batch and bulk inside are refused on the loop, a query that writes
 * on its reader: SQLITE_READONLY, nothing written, and the transaction
 * stays open. */
Test(snapshot, writes_inside_are_refused)
{
    int64_t tx = begin_ok(&a);
    expect_error(&a, "exec", "INSERT INTO t(x) VALUES (9)", tx, SQLITE_READONLY,
                 "SQLITE_READONLY",
                 "is read-only (begun with read_only), and "
                 "exec may write: nothing of it ran");
    expect_error(&a, "query", "INSERT INTO t(x) VALUES (9) RETURNING id", tx,
                 SQLITE_READONLY, "SQLITE_READONLY",
                 "this statement writes, and transaction");
    expect_error(&a, "query", "DELETE FROM t", tx, SQLITE_READONLY,
                 "SQLITE_READONLY", "is read-only");

    struct reply rep;
    uint32_t msgid = ++a.last_msgid;
    const char *const steps[] = {"DELETE FROM t"};
    harness_pack_batch_sql(&a.b, msgid, steps, 1, IN_TX(tx));
    harness_raw_call(&a, msgid, &rep);
    harness_assert_error(&rep, SQLITE_READONLY, "SQLITE_READONLY",
                         "batch may write");
    reply_free(&rep);

    cr_assert_eq(count_in(&a, tx), 3);
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(count_in(&a, 0), 3);
    /* A write of the connection outside its read-only transaction is its
     * own business: it runs (the writer is not held). */
    tx = begin_ok(&a);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (4)", NULL);
    cr_assert_eq(count_in(&a, tx), 3);
    cr_assert_eq(count_in(&a, 0), 4);
    harness_raw_end_ok(&a, "rollback", tx);
}

/* commit and rollback both end it; a later request naming it gets
 * SQLITED_TX_EXPIRED with the reason, and so do they. */
Test(snapshot, commit_and_rollback_end_it)
{
    int64_t tx = begin_ok(&a);
    harness_raw_end_ok(&a, "commit", tx);
    expect_error(&a, "query", "SELECT 1", tx, SQLITED_TX_EXPIRED,
                 "SQLITED_TX_EXPIRED", "is no longer open: it was committed");
    struct reply rep;
    harness_raw_tx_end(&a, "rollback", tx, &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED",
                         "it was committed");
    reply_free(&rep);

    tx = begin_ok(&a);
    harness_raw_end_ok(&a, "rollback", tx);
    expect_error(&a, "query", "SELECT 1", tx, SQLITED_TX_EXPIRED,
                 "SQLITED_TX_EXPIRED", "is no longer open: it was rolled back");
    cr_assert_eq(harness_stat(&d, "tx_read_only_open"), 0);
}

/* One transaction per connection: a second begin of either kind is
 * refused while a read-only one is open, and a read-only begin while a
 * transaction of the writer is. */
Test(snapshot, one_transaction_per_connection)
{
    struct reply rep;
    int64_t tx = begin_ok(&a);
    begin_read_only(&a, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "already has read-only transaction");
    reply_free(&rep);
    uint32_t msgid = ++a.last_msgid;
    harness_pack_begin(&a.b, msgid, NULL);
    harness_raw_call(&a, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "already has read-only transaction");
    reply_free(&rep);
    harness_raw_end_ok(&a, "commit", tx);

    int64_t wtx = harness_raw_begin(&a, NULL);
    begin_read_only(&a, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "already has transaction");
    reply_free(&rep);
    harness_raw_end_ok(&a, "commit", wtx);

    /* Options of begin are checked. */
    msgid = ++a.last_msgid;
    harness_pack_request(&a.b, msgid, "begin", 2);
    codec_pack_cstr(&a.b, "immediate");
    pack_read_only(&a.b);
    harness_raw_call(&a, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "do not go together");
    reply_free(&rep);
    msgid = ++a.last_msgid;
    harness_pack_request(&a.b, msgid, "begin", 1);
    msgpack_pack_map(&a.b.pk, 1);
    codec_pack_cstr(&a.b, "readonly");
    msgpack_pack_true(&a.b.pk);
    harness_raw_call(&a, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "unknown option 'readonly' for begin");
    reply_free(&rep);
    /* [nil, {"read_only": true}] is the same as [{"read_only": true}]. */
    msgid = ++a.last_msgid;
    harness_pack_request(&a.b, msgid, "begin", 2);
    msgpack_pack_nil(&a.b.pk);
    pack_read_only(&a.b);
    harness_raw_call(&a, msgid, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    int64_t id;
    struct codec_reader res = rep.result;
    cr_assert_eq(codec_read_int64(&res, &id), 0);
    reply_free(&rep);
    expect_error(&a, "exec", "DELETE FROM t", id, SQLITE_READONLY,
                 "SQLITE_READONLY", "is read-only");
    harness_raw_end_ok(&a, "commit", id);
}

/* A read-only transaction idle past --tx-idle-timeout is ended; the next
 * request naming it learns why. */
Test(snapshot, idle_transaction_expires)
{
    restart_with((const char *const[]){"--tx-idle-timeout", "300", NULL});
    int64_t tx = begin_ok(&a);
    cr_assert_eq(count_in(&a, tx), 3);
    wait_stat("tx_read_only_expired", 1);
    expect_error(&a, "query", "SELECT 1", tx, SQLITED_TX_EXPIRED,
                 "SQLITED_TX_EXPIRED",
                 "it was idle for longer than 300 ms (--tx-idle-timeout)");
    cr_assert_eq(harness_stat(&d, "tx_read_only_open"), 0);
    /* The connection may begin again. */
    harness_raw_end_ok(&a, "commit", begin_ok(&a));
}

/* Kept busy, it still ends at --tx-max-duration. */
Test(snapshot, busy_transaction_expires_at_its_maximum_duration)
{
    restart_with((const char *const[]){"--tx-idle-timeout", "60000",
                                       "--tx-max-duration", "1000", NULL});
    int64_t tx = begin_ok(&a);
    struct reply rep = {0};
    bool expired = false;
    /* Bounded: 50 queries 200 ms apart are ten times the maximum. */
    for (int i = 0; i < 50 && !expired; i++) {
        harness_sleep_ms(200);
        harness_raw_sql(&a, "query", "SELECT count(*) FROM t", IN_TX(tx), &rep);
        expired = rep.is_error;
        if (!expired)
            reply_free(&rep);
    }
    cr_assert(expired, "the transaction outlived its maximum duration");
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED",
                         "it was open for longer than the maximum of 1000 ms "
                         "(--tx-max-duration)");
    reply_free(&rep);
}

/* The transactions count against --max-cursors: past it begin is refused
 * with SQLITED_TOO_MANY_CURSORS, and works again once one ended. */
Test(snapshot, capped_by_max_cursors)
{
    restart_with((const char *const[]){"--max-cursors", "2", NULL});
    struct harness_raw c3;
    harness_raw_open(&c3, &d);
    int64_t t1 = begin_ok(&a);
    int64_t t2 = begin_ok(&b);
    struct reply rep;
    begin_read_only(&c3, &rep);
    harness_assert_error(&rep, SQLITED_TOO_MANY_CURSORS,
                         "SQLITED_TOO_MANY_CURSORS", "--max-cursors");
    reply_free(&rep);
    harness_raw_end_ok(&a, "commit", t1);
    int64_t t3 = begin_ok(&c3);
    cr_assert_eq(count_in(&c3, t3), 3);
    harness_raw_end_ok(&b, "commit", t2);
    harness_raw_end_ok(&c3, "commit", t3);
    harness_raw_close(&c3);
}

/* A result larger than a chunk streams through a cursor on the
 * transaction's connection: its rows are the snapshot's, while another
 * client writes between fetches; queries go on in the transaction
 * between fetches; the cursor ends with the transaction. */
Test(snapshot, cursor_inside)
{
    restart_with((const char *const[]){"--chunk-rows", "10", NULL});
    harness_exec(other,
                 "INSERT INTO t(x) WITH RECURSIVE n(i) AS (SELECT 4 UNION "
                 "ALL SELECT i + 1 FROM n WHERE i < 100) SELECT i FROM n");
    int64_t tx = begin_ok(&a);
    harness_exec(other, "DELETE FROM t WHERE x > 50");

    struct reply rep;
    struct codec_reader v;
    int64_t cursor;
    uint32_t rows = 0, n, ncols;
    harness_raw_sql(&a, "query", "SELECT x FROM t ORDER BY x", IN_TX(tx), &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    harness_reply_rows(&rep, &n, &ncols);
    rows += n;
    cr_assert(harness_map_find(rep.result, "cursor", &v), "no cursor");
    cr_assert_eq(codec_read_int64(&v, &cursor), 0);
    reply_free(&rep);
    for (int i = 0; i < 100; i++) {
        harness_exec(other, "INSERT INTO t(x) VALUES (1000)");
        /* Another query in the transaction, between two fetches. */
        cr_assert_eq(count_in(&a, tx), 100);
        uint32_t msgid = ++a.last_msgid;
        harness_pack_request(&a.b, msgid, "fetch", 1);
        msgpack_pack_int64(&a.b.pk, cursor);
        harness_raw_call(&a, msgid, &rep);
        cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
        harness_reply_rows(&rep, &n, &ncols);
        rows += n;
        bool more = harness_map_find(rep.result, "cursor", &v);
        reply_free(&rep);
        if (!more)
            break;
    }
    cr_assert_eq(rows, 100, "the cursor read %u rows", rows);

    /* A cursor left open ends with its transaction. */
    harness_raw_sql(&a, "query", "SELECT x FROM t", IN_TX(tx), &rep);
    cr_assert(harness_map_find(rep.result, "cursor", &v), "no cursor");
    cr_assert_eq(codec_read_int64(&v, &cursor), 0);
    reply_free(&rep);
    harness_raw_end_ok(&a, "commit", tx);
    uint32_t msgid = ++a.last_msgid;
    harness_pack_request(&a.b, msgid, "fetch", 1);
    msgpack_pack_int64(&a.b.pk, cursor);
    harness_raw_call(&a, msgid, &rep);
    harness_assert_error(&rep, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                         "the read-only transaction it was read in ended");
    reply_free(&rep);
    cr_assert_eq(harness_stat(&d, "cursors_open"), 0);
}

/* explain with the option tx runs in the transaction: it sees the schema
 * of the snapshot. */
Test(snapshot, explain_inside)
{
    int64_t tx = begin_ok(&a);
    harness_exec(other, "CREATE TABLE later(y)");
    struct reply rep;
    harness_raw_sql(&a, "explain", "SELECT * FROM later", IN_TX(tx), &rep);
    harness_assert_error(&rep, SQLITE_ERROR, "SQLITE_ERROR",
                         "no such table: later");
    reply_free(&rep);
    harness_raw_sql(&a, "explain", "SELECT * FROM t WHERE id = 1", IN_TX(tx),
                    &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    harness_raw_end_ok(&a, "commit", tx);
    /* Naming a transaction of the writer, explain is refused. */
    int64_t wtx = harness_raw_begin(&b, NULL);
    harness_raw_sql(&b, "explain", "SELECT 1", IN_TX(wtx), &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "may only name a read-only transaction");
    reply_free(&rep);
    harness_raw_end_ok(&b, "rollback", wtx);
}

static int64_t wal_size(void)
{
    char path[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s-wal", d.db_path);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* A closed connection's transaction is ended at once: its snapshot no
 * longer keeps a checkpoint from emptying the WAL. */
Test(snapshot, disconnect_releases_it)
{
    restart_with((const char *const[]){"--tx-idle-timeout", "60000", NULL});
    int64_t tx = begin_ok(&a);
    cr_assert_eq(count_in(&a, tx), 3);
    harness_exec(other, "INSERT INTO t(x) VALUES (4)");
    /* Held, the snapshot keeps TRUNCATE from finishing. */
    sqlited_rows *rows =
        harness_query(other, "PRAGMA wal_checkpoint(TRUNCATE)", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITE_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 1, "the WAL was emptied");
    sqlited_rows_close(rows);

    harness_raw_close(&a);
    int64_t deadline = harness_now_ms() + 20000;
    while (harness_stat(&d, "tx_read_only_open") > 0 &&
           harness_now_ms() < deadline)
        harness_sleep_ms(20);
    cr_assert_eq(harness_stat(&d, "tx_read_only_open"), 0);
    /* Closed on a reader soon after: the checkpoint gets through. */
    int64_t busy = 1;
    while (busy != 0 && harness_now_ms() < deadline) {
        rows = harness_query(other, "PRAGMA wal_checkpoint(TRUNCATE)", NULL);
        cr_assert_eq(sqlited_rows_next(rows), SQLITE_ROW);
        busy = sqlited_column_int64(rows, 0);
        sqlited_rows_close(rows);
        if (busy)
            harness_sleep_ms(20);
    }
    cr_assert_eq(busy, 0, "the closed connection's snapshot was kept");
    cr_assert_eq(wal_size(), 0);
}

/* libsqlited: sqlited_begin(db, SQLITED_TX_READ_ONLY) opens one; queries
 * and explain read its snapshot, exec is refused and leaves it open,
 * commit ends it. */
Test(snapshot, libsqlited_read_only_transaction)
{
    sqlited *db = harness_connect(&d);
    sqlited_rows *rows = NULL;

    cr_assert_eq(sqlited_begin(db, SQLITED_TX_READ_ONLY), 0, "%s",
                 sqlited_errmsg(db));
    int64_t tx = sqlited_tx_id(db);
    cr_assert_gt(tx, 0);
    harness_exec(other, "INSERT INTO t(x) VALUES (4); CREATE TABLE later(y)");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 3);
    cr_assert_eq(sqlited_explain(db, "SELECT * FROM later", NULL, &rows),
                 SQLITE_ERROR);
    cr_assert_not_null(strstr(sqlited_errmsg(db), "no such table: later"));
    cr_assert_eq(sqlited_exec(db, "INSERT INTO t(x) VALUES (5)", NULL, NULL),
                 SQLITE_READONLY);
    cr_assert_not_null(strstr(sqlited_errmsg(db), "is read-only"), "%s",
                       sqlited_errmsg(db));
    cr_assert_eq(sqlited_tx_id(db), tx, "the refusal ended the transaction");
    cr_assert_eq(sqlited_begin(db, SQLITED_TX_READ_ONLY), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_commit(db), 0, "%s", sqlited_errmsg(db));
    cr_assert_eq(sqlited_tx_id(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 4);
    cr_assert_eq(sqlited_explain(db, "SELECT * FROM later", NULL, &rows), 0,
                 "%s", sqlited_errmsg(db));
    sqlited_rows_close(rows);
    sqlited_close(db);
}

/* Writers of about 10 MB in all, for the WAL limit's tests. */
enum { WAL_WRITERS = 4, WAL_ROWS = 2500 };
static struct harness_writer wal_writers[WAL_WRITERS];

/* A daemon whose WAL limit is 256 KiB, with a table w to fill. */
static void restart_for_the_wal_limit(void)
{
    restart_with((const char *const[]){"--wal-checkpoint-bytes", "65536",
                                       "--wal-max-bytes", "262144",
                                       "--tx-idle-timeout", "60000", NULL});
    harness_exec(other, "CREATE TABLE w(id INTEGER, seq INTEGER, "
                        "pad BLOB DEFAULT (randomblob(1000)))");
}

static void start_wal_writers(void)
{
    for (int i = 0; i < WAL_WRITERS; i++) {
        wal_writers[i] = (struct harness_writer){
            .sock_path = d.sock_path,
            .sql = "INSERT INTO w(id, seq) VALUES (?, ?)",
            .id = i,
            .count = WAL_ROWS};
        harness_writer_start(&wal_writers[i]);
    }
}

static void join_wal_writers(void)
{
    for (int i = 0; i < WAL_WRITERS; i++) {
        harness_writer_join(&wal_writers[i]);
        cr_assert_eq(wal_writers[i].rc, 0, "writer %d: %s", i,
                     wal_writers[i].failure);
    }
}

/* Its snapshot keeps the WAL from being checkpointed: once the WAL passes
 * --wal-max-bytes while 4 clients write, the daemon ends it (the oldest
 * snapshot), and the next request naming it says why. */
Test(snapshot, wal_limit_ends_it)
{
    restart_for_the_wal_limit();
    int64_t tx = begin_ok(&a);
    cr_assert_eq(count_in(&a, tx), 3);
    start_wal_writers();
    join_wal_writers();
    cr_assert_geq(harness_stat(&d, "tx_read_only_expired"), 1,
                  "the read-only transaction outlived the WAL limit");
    cr_assert_geq(harness_stat(&d, "snapshots_released"), 1);
    expect_error(&a, "query", "SELECT count(*) FROM t", tx, SQLITED_TX_EXPIRED,
                 "SQLITED_TX_EXPIRED",
                 "the WAL passed its limit (--wal-max-bytes, 262144 bytes) "
                 "while this read-only transaction held the oldest snapshot");
    cr_assert_eq(harness_stat(&d, "tx_read_only_open"), 0);
}

/* A read-only transaction belongs to its connection: another one naming it
 * is refused, and it stays usable for its own. */
Test(snapshot, another_connections_id_is_refused)
{
    int64_t tx = begin_ok(&a);
    expect_error(&b, "query", "SELECT 1", tx, SQLITED_BAD_REQUEST,
                 "SQLITED_BAD_REQUEST", "belongs to another connection");
    struct reply rep;
    harness_raw_tx_end(&b, "commit", tx, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "belongs to another connection");
    reply_free(&rep);
    cr_assert_eq(count_in(&a, tx), 3);
    harness_raw_end_ok(&a, "commit", tx);
}

/* Two begins sent without waiting: the second is refused while the first
 * is still running, whichever kinds they are. */
Test(snapshot, pipelined_begins_are_one_transaction)
{
    struct reply rep;
    uint32_t first = ++a.last_msgid;
    harness_pack_begin(&a.b, first, NULL);
    uint32_t second = ++a.last_msgid;
    harness_pack_request(&a.b, second, "begin", 1);
    pack_read_only(&a.b);
    harness_send_buf(a.fd, &a.b);
    int64_t tx = 0;
    for (int i = 0; i < 2; i++) {
        harness_read_reply(&a.r, &rep);
        if (rep.msgid == first) {
            cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
            struct codec_reader res = rep.result;
            cr_assert_eq(codec_read_int64(&res, &tx), 0);
        } else {
            cr_assert_eq(rep.msgid, second);
            harness_assert_error(&rep, SQLITED_BAD_REQUEST,
                                 "SQLITED_BAD_REQUEST",
                                 "a connection has at most one transaction");
        }
        reply_free(&rep);
    }
    harness_raw_end_ok(&a, "commit", tx);
}

/* A daemon stopped with a read-only transaction open (and a cursor in it)
 * ends it and exits cleanly (daemon_cleanup() checks the exit status and
 * the sanitizers' reports). */
Test(snapshot, shutdown_ends_it)
{
    restart_with((const char *const[]){"--chunk-rows", "1", NULL});
    int64_t tx = begin_ok(&a);
    struct reply rep;
    struct codec_reader v;
    harness_raw_sql(&a, "query", "SELECT x FROM t", IN_TX(tx), &rep);
    cr_assert(harness_map_find(rep.result, "cursor", &v), "no cursor");
    reply_free(&rep);
    cr_assert_eq(daemon_stop(&d), 0);
}

/* A read still running in it at --tx-max-duration is interrupted and
 * answered SQLITED_TX_EXPIRED, well before its own deadline. */
Test(snapshot, read_at_the_maximum_duration_is_interrupted)
{
    restart_with((const char *const[]){"--tx-idle-timeout", "60000",
                                       "--tx-max-duration", "500", NULL});
    int64_t tx = begin_ok(&a);
    struct reply rep;
    harness_raw_sql(&a, "query", HARNESS_ENDLESS_SQL,
                    &(struct harness_options){
                        .tx = tx, .has_timeout = true, .timeout_ms = 60000},
                    &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED",
                         "reached its maximum duration (--tx-max-duration) "
                         "while this request ran");
    reply_free(&rep);
    expect_error(&a, "query", "SELECT 1", tx, SQLITED_TX_EXPIRED,
                 "SQLITED_TX_EXPIRED",
                 "it was open for longer than the "
                 "maximum of 500 ms");
}

/* A read running in it when the WAL passes --wal-max-bytes is interrupted
 * with the transaction, whose snapshot it reads: SQLITED_INTERRUPTED,
 * naming the limit, well before its own deadline. */
Test(snapshot, read_running_when_the_wal_limit_ends_it_is_interrupted)
{
    restart_for_the_wal_limit();
    int64_t tx = begin_ok(&a);
    uint32_t msgid = ++a.last_msgid;
    harness_pack_sql_options(&a.b, msgid, "query", HARNESS_ENDLESS_SQL,
                             &(struct harness_options){.tx = tx,
                                                       .has_timeout = true,
                                                       .timeout_ms = 60000});
    harness_send_buf(a.fd, &a.b);
    start_wal_writers();
    struct reply rep;
    harness_read_reply(&a.r, &rep);
    cr_assert_eq(rep.msgid, msgid);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "the WAL passed its limit (--wal-max-bytes, 262144 "
                         "bytes)");
    reply_free(&rep);
    join_wal_writers();
    expect_error(&a, "query", "SELECT 1", tx, SQLITED_TX_EXPIRED,
                 "SQLITED_TX_EXPIRED", "the WAL passed its limit");
}
