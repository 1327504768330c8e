/* cancel (PROTOCOL.md): a client stops one of its own requests without
 * closing its connection. A request still waiting is answered at once and
 * never runs; one running is interrupted; either gets SQLITED_INTERRUPTED,
 * nothing of it stays applied, and the connection (and an interactive
 * transaction on it) carries on. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

/* Options with a deadline far beyond any test: only a cancel ends the
 * request (the daemon caps it at --max-timeout). */
#define NO_DEADLINE                                                            \
    (&(struct harness_options){.has_timeout = true, .timeout_ms = 0})

static struct daemon d;
static struct harness_raw conn;
static sqlited *db;

static void start(const char *const *extra_args)
{
    db = harness_start_with_raw(&d, &conn, extra_args);
    harness_exec(db, "CREATE TABLE t(x INTEGER)");
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &conn);
}

TestSuite(cancel, .init = setup, .fini = teardown, .timeout = 120);

/* Waits until the daemon has @n requests in flight and none waiting for
 * a reader, then a little longer: the requests are running then, not
 * waiting for their worker to pick them up. */
static void wait_running(int64_t n)
{
    int64_t until = harness_now_ms() + 20000;
    while (harness_stat(&d, "in_flight") < n ||
           harness_stat(&d, "reader_queue") != 0) {
        cr_assert_lt(harness_now_ms(), until, "the request never ran");
        harness_sleep_ms(10);
    }
    harness_sleep_ms(200);
}

/* @rep is a request stopped by its client's cancel. */
static void assert_cancelled(const struct reply *rep, const char *when)
{
    harness_assert_error(rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "cancelled by the client");
    cr_assert(strstr(rep->message, when), "the message does not say '%s': %s",
              when, rep->message);
}

/* The connection still serves requests. */
static void assert_serves(struct harness_raw *c)
{
    cr_assert_eq(harness_raw_query_int(c, "SELECT 6 * 7", NULL), 42);
}

static void read_long_and_cancel(void)
{
    struct reply rep;
    int64_t before = harness_stat(&d, "cancelled");
    harness_pack_sql_options(&conn.b, 1, "query", HARNESS_ENDLESS_SQL,
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    wait_running(1);
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    assert_cancelled(&rep, "while it ran: the read was interrupted");
    cr_assert_null(strstr(rep.message, "applied"),
                   "a read says nothing was applied: %s", rep.message);
    reply_free(&rep);
    conn.last_msgid = 2;
    assert_serves(&conn);
    cr_assert_eq(harness_stat(&d, "cancelled"), before + 1);
}

/* A read on a reader from the start (inline reads off). */
Test(cancel, long_read_on_a_reader)
{
    teardown();
    start((const char *const[]){"--inline-budget", "0", NULL});
    read_long_and_cancel();
}

/* A read the I/O loop began, gave up at its budget and handed to a
 * reader. */
Test(cancel, read_past_the_inline_budget)
{
    int64_t handoffs = harness_stat(&d, "inline_handoffs");
    read_long_and_cancel();
    cr_assert_gt(harness_stat(&d, "inline_handoffs"), handoffs,
                 "the read did not go from the loop to a reader");
}

/* Cancelling again, or an id never sent, finds nothing and is no error. */
Test(cancel, unknown_and_answered_ids)
{
    struct reply rep;
    harness_send_cancel(&conn, 1, 12345);
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(harness_cancel_result(&rep),
                  "cancel found a request never sent");
    reply_free(&rep);

    harness_pack_sql(&conn.b, 2, "query", "SELECT 1");
    harness_raw_call(&conn, 2, &rep);
    cr_assert_not(rep.is_error);
    reply_free(&rep);
    harness_send_cancel(&conn, 3, 2);
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 3);
    cr_assert_not(harness_cancel_result(&rep),
                  "cancel found a request answered");
    reply_free(&rep);
    /* Its own msgid: answered by then. */
    harness_send_cancel(&conn, 4, 4);
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 4);
    cr_assert_not(harness_cancel_result(&rep));
    reply_free(&rep);
    conn.last_msgid = 4;
    assert_serves(&conn);
    cr_assert_eq(harness_stat(&d, "cancelled"), 0);
}

Test(cancel, bad_params)
{
    struct reply rep;
    harness_pack_request(&conn.b, 1, "cancel", 0);
    harness_raw_call(&conn, 1, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "cancel takes [msgid], 0 params given");
    reply_free(&rep);
    harness_pack_request(&conn.b, 2, "cancel", 1);
    msgpack_pack_int64(&conn.b.pk, -1);
    harness_raw_call(&conn, 2, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "params[0] (msgid) must be the msgid of a request");
    reply_free(&rep);
    harness_pack_request(&conn.b, 3, "cancel", 1);
    codec_pack_cstr(&conn.b, "1");
    harness_raw_call(&conn, 3, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "params[0] (msgid)");
    reply_free(&rep);
    conn.last_msgid = 3;
    assert_serves(&conn);
}

/* Only a request of the connection that sends cancel is cancelled: the
 * same msgid on another connection is not that request. */
Test(cancel, another_connections_request_is_not_touched)
{
    struct harness_raw other;
    struct reply rep;
    harness_raw_open(&other, &d);
    harness_pack_sql_options(&conn.b, 1, "query", HARNESS_ENDLESS_SQL,
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    wait_running(1);

    harness_send_cancel(&other, 1, 1);
    harness_read_reply(&other.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(harness_cancel_result(&rep),
                  "cancel found another's request");
    reply_free(&rep);
    harness_assert_no_reply(&conn.r, 300, "the other connection's query");

    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    assert_cancelled(&rep, "while it ran");
    reply_free(&rep);
    harness_raw_close(&other);
}

/* A long write stopped by its client applies nothing, not even its first
 * statement; a write committed in the same group as it, and one sent
 * while it ran, are applied. */
Test(cancel, long_write_applies_nothing)
{
    teardown();
    start((const char *const[]){"--tx-idle-timeout", "60000", NULL});
    struct harness_raw holder, other, late;
    struct reply rep;
    harness_raw_open(&holder, &d);
    harness_raw_open(&other, &d);
    harness_raw_open(&late, &d);

    /* Held behind a transaction, the other write and the long one wait
     * together, and so run in one group: the other first. */
    int64_t tx = harness_raw_begin(&holder, "immediate");
    harness_pack_sql(&other.b, 1, "exec", "INSERT INTO t(x) VALUES (10)");
    harness_send_buf(other.fd, &other.b);
    harness_assert_no_reply(&other.r, 200, "the write behind a transaction");
    harness_pack_sql_options(&conn.b, 1, "exec", HARNESS_ENDLESS_WRITE,
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    harness_assert_no_reply(&conn.r, 200, "the write behind a transaction");
    harness_raw_end_ok(&holder, "commit", tx);
    wait_running(2);
    /* Sent while the long write runs: the next group's. */
    harness_pack_sql(&late.b, 1, "exec", "INSERT INTO t(x) VALUES (100)");
    harness_send_buf(late.fd, &late.b);

    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    assert_cancelled(&rep, "while it ran");
    reply_free(&rep);
    harness_read_reply(&other.r, &rep);
    cr_assert_not(rep.is_error, "the write grouped with it: %s: %s", rep.name,
                  rep.message);
    reply_free(&rep);
    harness_read_reply(&late.r, &rep);
    cr_assert_not(rep.is_error, "the write sent while it ran: %s: %s", rep.name,
                  rep.message);
    reply_free(&rep);

    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 2);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 110);
    conn.last_msgid = 2;
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (1000)", NULL);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 1110);
    harness_raw_close(&holder);
    harness_raw_close(&other);
    harness_raw_close(&late);
}

/* A write still waiting for the writer is answered at once and never
 * runs. */
Test(cancel, waiting_write_never_runs)
{
    teardown();
    start((const char *const[]){"--tx-idle-timeout", "60000", NULL});
    struct harness_raw holder;
    struct reply rep;
    harness_raw_open(&holder, &d);
    int64_t tx = harness_raw_begin(&holder, "immediate");

    harness_pack_sql_options(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (1)",
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    harness_assert_no_reply(&conn.r, 200, "the write behind a transaction");
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    assert_cancelled(&rep, "before it ran");
    reply_free(&rep);

    harness_raw_end_ok(&holder, "commit", tx);
    conn.last_msgid = 2;
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (2)", NULL);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 2,
                 "the cancelled write ran after all");
    cr_assert_eq(harness_stat(&d, "cancelled"), 1);
    harness_raw_close(&holder);
}

/* Begins a transaction on conn, inserts @x in it, then runs @sql with
 * @method in it, cancels that while it runs and checks its answer. Returns
 * the transaction's id. */
static int64_t cancel_in_a_transaction(int x, const char *method,
                                       const char *sql)
{
    struct reply rep;
    char insert[64];
    int64_t tx = harness_raw_begin(&conn, NULL);
    snprintf(insert, sizeof(insert), "INSERT INTO t(x) VALUES (%d)", x);
    harness_raw_exec(&conn, insert, &(struct harness_options){.tx = tx});
    uint32_t id = ++conn.last_msgid;
    harness_pack_sql_options(
        &conn.b, id, method, sql,
        &(struct harness_options){.tx = tx, .has_timeout = true});
    harness_send_buf(conn.fd, &conn.b);
    wait_running(1);
    harness_cancel_and_read(&conn, id + 1, id, true, &rep);
    assert_cancelled(&rep, "while it ran");
    reply_free(&rep);
    conn.last_msgid = id + 1;
    return tx;
}

/* A read cancelled inside an interactive transaction leaves it open, with
 * its changes, for the requests that follow. */
Test(cancel, transaction_stays_open)
{
    int64_t tx = cancel_in_a_transaction(1, "query", HARNESS_ENDLESS_SQL);
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (2)",
                     &(struct harness_options){.tx = tx});
    cr_assert_eq(harness_raw_query_int(&conn, "SELECT sum(x) FROM t",
                                       &(struct harness_options){.tx = tx}),
                 3);
    harness_raw_end_ok(&conn, "commit", tx);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 3);
}

/* A write cancelled inside an interactive transaction ends it, as one that
 * fails by its deadline does (SQLite rolls the transaction back): nothing
 * of the transaction stays, and the next request on it says so. */
Test(cancel, write_in_a_transaction_ends_it)
{
    struct reply rep;
    int64_t tx = cancel_in_a_transaction(5, "exec", HARNESS_ENDLESS_WRITE);

    harness_raw_sql(&conn, "exec", "INSERT INTO t(x) VALUES (6)",
                    &(struct harness_options){.tx = tx}, &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED",
                         "is no longer open");
    reply_free(&rep);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    assert_serves(&conn);
}

/* A fetch cancelled while it runs ends its cursor, as any failed fetch
 * does: the next fetch says the cursor is gone. */
Test(cancel, fetch_ends_its_cursor)
{
    teardown();
    start((const char *const[]){"--chunk-rows", "10", NULL});
    struct reply rep;
    struct codec_reader v;
    /* Twenty rows at once, then none for minutes. */
    harness_pack_sql_options(
        &conn.b, 1, "query",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 1000000000) SELECT x FROM c WHERE x <= 20 OR x = 999999999",
        NO_DEADLINE);
    harness_raw_call(&conn, 1, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert(harness_map_find(rep.result, "cursor", &v), "no cursor");
    int64_t cursor;
    cr_assert_eq(codec_read_int64(&v, &cursor), 0);
    reply_free(&rep);

    harness_pack_request(&conn.b, 2, "fetch", 1);
    msgpack_pack_int64(&conn.b.pk, cursor);
    harness_send_buf(conn.fd, &conn.b);
    wait_running(1);
    harness_cancel_and_read(&conn, 3, 2, true, &rep);
    assert_cancelled(&rep, "while it ran");
    reply_free(&rep);

    harness_pack_request(&conn.b, 4, "fetch", 1);
    msgpack_pack_int64(&conn.b.pk, cursor);
    harness_raw_call(&conn, 4, &rep);
    harness_assert_error(&rep, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                         "is not open");
    reply_free(&rep);
    conn.last_msgid = 4;
    assert_serves(&conn);
    cr_assert_eq(harness_stat(&d, "cursors_open"), 0);
}

/* Pipelined requests of every speed, a cancel after each of many: every
 * request and every cancel gets exactly one answer, a request answered
 * SQLITED_INTERRUPTED left nothing behind, and the others did their
 * work. */
Test(cancel, every_request_answered_once)
{
    enum { N = 60, CANCEL_BASE = 1000 };
    static const char *const reads[] = {
        "SELECT 1",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 20000) SELECT count(*) FROM c",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 200000) SELECT count(*) FROM c",
    };
    bool answered[N + 1] = {false}, cancel_answered[N + 1] = {false};
    bool is_write[N + 1] = {false}, applied[N + 1] = {false};
    bool cancel_sent[N + 1] = {false};
    char sql[64];
    int cancels = 0, interrupted = 0;

    for (uint32_t i = 1; i <= N; i++) {
        if (i % 3 == 0) {
            snprintf(sql, sizeof(sql), "INSERT INTO t(x) VALUES (%u)", i);
            harness_pack_sql(&conn.b, i, "exec", sql);
            is_write[i] = true;
        } else {
            harness_pack_sql(&conn.b, i, "query", reads[(i + i / 7) % 3]);
        }
        harness_send_buf(conn.fd, &conn.b);
        /* Cancels of the request just sent, of one sent a while ago (maybe
         * answered), and of one never sent. */
        uint32_t target = i % 2 ? i : i - (i % 5);
        if (i % 4 != 3 && target >= 1) {
            harness_send_cancel(&conn, CANCEL_BASE + i, target);
            cancel_sent[i] = true;
            cancels++;
        }
    }
    harness_send_cancel(&conn, CANCEL_BASE, 99999);

    for (int left = N + cancels + 1; left > 0; left--) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_eq(rep.kind, 1, "a notification: %s", rep.message);
        uint32_t id = rep.msgid;
        if (id >= CANCEL_BASE) {
            uint32_t i = id - CANCEL_BASE;
            cr_assert(i <= N && (i == 0 || cancel_sent[i]),
                      "an answer to %u, never sent", id);
            cr_assert_not(cancel_answered[i], "cancel %u answered twice", id);
            cancel_answered[i] = true;
            bool found = harness_cancel_result(&rep);
            cr_assert(i != 0 || !found, "cancel of an id never sent found it");
        } else {
            cr_assert(id >= 1 && id <= N, "an answer to %u, never sent", id);
            cr_assert_not(answered[id], "request %u answered twice", id);
            answered[id] = true;
            if (rep.is_error) {
                assert_cancelled(&rep, "cancelled by the client");
                interrupted++;
            } else if (is_write[id]) {
                applied[id] = true;
            }
        }
        reply_free(&rep);
    }
    harness_assert_no_reply(&conn.r, 200, "an answer more");

    int64_t want = 0, rows = 0;
    for (uint32_t i = 1; i <= N; i++)
        if (applied[i]) {
            want += i;
            rows++;
        }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), rows);
    cr_assert_eq(harness_query_int(db, "SELECT coalesce(sum(x), 0) FROM t"),
                 want,
                 "a write answered SQLITED_INTERRUPTED was applied, or "
                 "one answered was not");
    cr_assert_eq(harness_stat(&d, "cancelled"), interrupted);
    cr_log_info("%d of %d requests cancelled", interrupted, N);
    conn.last_msgid = 2 * CANCEL_BASE;
    assert_serves(&conn);
}

/* A second cancel of a request still being stopped finds it too; the
 * request is answered once. */
Test(cancel, twice)
{
    bool got[4] = {false};
    harness_pack_sql_options(&conn.b, 1, "query", HARNESS_ENDLESS_SQL,
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    wait_running(1);
    /* Both cancels in one write, so that the loop reads them together,
     * before it can learn that the interrupted read is done. */
    harness_pack_cancel(&conn, 2, 1);
    harness_pack_cancel(&conn, 3, 1);
    harness_send_buf(conn.fd, &conn.b);
    for (int i = 0; i < 3; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert(rep.msgid >= 1 && rep.msgid <= 3 && !got[rep.msgid],
                  "an answer to %u", rep.msgid);
        got[rep.msgid] = true;
        if (rep.msgid == 1)
            assert_cancelled(&rep, "while it ran");
        else
            cr_assert(harness_cancel_result(&rep), "cancel %u found nothing",
                      rep.msgid);
        reply_free(&rep);
    }
    harness_assert_no_reply(&conn.r, 200, "an answer more");
    conn.last_msgid = 3;
    assert_serves(&conn);
}

/* A read waiting for a free reader (the only one is busy) is answered at
 * once and never runs; the one running is interrupted. */
Test(cancel, read_waiting_for_a_reader)
{
    teardown();
    start((const char *const[]){"--readers", "1", NULL});
    struct reply rep;
    harness_pack_sql_options(&conn.b, 1, "query", HARNESS_ENDLESS_SQL,
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    wait_running(1);
    harness_pack_sql_options(&conn.b, 2, "query", HARNESS_ENDLESS_SQL,
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    /* Past the loop's budget, it waits for the reader. */
    int64_t until = harness_now_ms() + 20000;
    while (harness_stat(&d, "reader_queue") != 1) {
        cr_assert_lt(harness_now_ms(), until, "the read never queued");
        harness_sleep_ms(10);
    }
    harness_cancel_and_read(&conn, 3, 2, true, &rep);
    assert_cancelled(&rep, "before it ran");
    reply_free(&rep);
    harness_cancel_and_read(&conn, 4, 1, true, &rep);
    assert_cancelled(&rep, "while it ran");
    reply_free(&rep);
    conn.last_msgid = 4;
    assert_serves(&conn);
    cr_assert_eq(harness_stat(&d, "cancelled"), 2);
}

/* A write waiting for the write lock another process holds (the test,
 * through SQLite directly) is answered as soon as it is cancelled, not when
 * the lock is released, and never runs. */
Test(cancel, write_waiting_for_another_process)
{
    sqlite3 *other;
    struct reply rep;
    cr_assert_eq(
        sqlite3_open_v2(d.db_path, &other, SQLITE_OPEN_READWRITE, NULL),
        SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(other));

    harness_pack_sql_options(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (1)",
                             NO_DEADLINE);
    harness_send_buf(conn.fd, &conn.b);
    harness_assert_no_reply(&conn.r, 300, "the write behind the lock");
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    assert_cancelled(&rep, "before it ran");
    reply_free(&rep);

    cr_assert_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    conn.last_msgid = 2;
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (2)", NULL);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 2,
                 "the cancelled write ran after all");
}
