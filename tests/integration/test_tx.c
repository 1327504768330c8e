/* Interactive transactions (PROTOCOL.md, begin, commit and rollback): a
 * transaction sees its own writes, other clients see them only after the
 * commit, and it ends by commit, rollback, idling or its connection closing.
 * While it is open, other writers wait and readers do not. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Options that put a request inside transaction @id. */
#define IN_TX(id) (&(struct harness_options){.tx = (id)})

static struct daemon d;
static struct harness_raw a; /* opens the transactions */
static struct harness_raw b; /* another client */
static sqlited *other;       /* another client, through libsqlited */

static void start(const char *const *extra_args)
{
    daemon_start(&d, extra_args);
    harness_raw_open(&a, &d);
    harness_raw_open(&b, &d);
    other = harness_connect(&d);
    harness_exec(other, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
                        "x INTEGER UNIQUE)");
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

TestSuite(tx, .init = setup, .fini = teardown, .timeout = 60);

/* Rows of t as another client sees them. */
static int64_t others_count(void)
{
    return harness_query_int(other, "SELECT count(*) FROM t");
}

/* Runs exec @sql on @c inside @tx and expects SQLITED_TX_EXPIRED with
 * @why in its message. */
static void assert_expired(struct harness_raw *c, int64_t tx, const char *sql,
                           const char *why)
{
    struct reply rep;
    harness_raw_sql(c, "exec", sql, IN_TX(tx), &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED", why);
    reply_free(&rep);
}

/* Sends exec @sql on @c as request @msgid without waiting for it. */
static void send_exec(struct harness_raw *c, uint32_t msgid, const char *sql)
{
    harness_pack_sql(&c->b, msgid, "exec", sql);
    harness_send_buf(c->fd, &c->b);
}

/* Reads the answer to @msgid on @c, which must be a success. */
static void expect_ok(struct harness_raw *c, uint32_t msgid)
{
    struct reply rep;
    harness_read_reply(&c->r, &rep);
    cr_assert_eq(rep.msgid, msgid);
    cr_assert_not(rep.is_error, "msgid %u: %s: %s", msgid, rep.name,
                  rep.message);
    reply_free(&rep);
}

/* The value of @key in hello's limits. */
static int64_t hello_limit(struct harness_raw *c, const char *key)
{
    struct reply rep;
    struct codec_reader limits;
    uint32_t msgid = ++c->last_msgid;
    harness_pack_request(&c->b, msgid, "hello", 0);
    harness_raw_call(c, msgid, &rep);
    cr_assert(harness_map_find(rep.result, "limits", &limits));
    int64_t v = harness_result_int(limits, key);
    reply_free(&rep);
    return v;
}

Test(tx, begin_returns_a_new_positive_id)
{
    int64_t t1 = harness_raw_begin(&a, NULL);
    harness_raw_end_ok(&a, "commit", t1);
    int64_t t2 = harness_raw_begin(&a, "deferred");
    cr_assert_neq(t2, t1, "a new transaction got the id of an ended one");
    harness_raw_end_ok(&a, "rollback", t2);
    int64_t t3 = harness_raw_begin(&a, "immediate");
    cr_assert(t3 != t1 && t3 != t2);
    harness_raw_end_ok(&a, "commit", t3);

    /* Modes other than the two, and params of the wrong type. */
    struct reply rep;
    harness_pack_begin(&a.b, 100, "exclusive");
    harness_raw_call(&a, 100, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);
    harness_pack_request(&a.b, 101, "begin", 1);
    msgpack_pack_int64(&a.b.pk, 1);
    harness_raw_call(&a, 101, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);
    /* Neither opened a transaction: begin works. */
    harness_raw_end_ok(&a, "commit", harness_raw_begin(&a, NULL));

    struct harness_stats s;
    harness_stats(&d, &s);
    cr_assert_eq(s.tx_begun, 4);
    cr_assert_eq(s.tx_committed, 3);
    cr_assert_eq(s.tx_rolled_back, 1);
    cr_assert_eq(s.tx_expired, 0);
}

/* Inside, a transaction reads its own uncommitted writes; outside, nobody
 * sees them until the commit. */
Test(tx, reads_its_own_writes)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    cr_assert_eq(harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx)),
                 1);
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t", IN_TX(tx)),
                 1);
    cr_assert_eq(
        harness_raw_query_int(&a, "SELECT x FROM t WHERE id = 1", IN_TX(tx)),
        1);
    cr_assert_eq(others_count(), 0, "another client sees an uncommitted row");
    cr_assert_eq(harness_raw_query_int(&b, "SELECT count(*) FROM t", NULL), 0);

    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(others_count(), 1, "the committed row is not visible");
    /* The transaction is over. */
    assert_expired(&a, tx, "INSERT INTO t(x) VALUES (2)", "commit");
    struct reply rep;
    harness_raw_tx_end(&a, "commit", tx, &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED", NULL);
    reply_free(&rep);
    cr_assert_eq(others_count(), 1);
}

/* Requests naming the transaction run in the order sent, even pipelined:
 * each read sees exactly the writes sent before it. */
Test(tx, pipelined_requests_run_in_order)
{
    enum { N = 20 };
    int64_t tx = harness_raw_begin(&a, NULL);
    for (uint32_t i = 0; i < N; i++) {
        harness_pack_sql_options(&a.b, 2 * i + 1, "exec",
                                 "INSERT INTO t(x) VALUES (NULL)", IN_TX(tx));
        harness_pack_sql_options(&a.b, 2 * i + 2, "query",
                                 "SELECT count(*) FROM t", IN_TX(tx));
    }
    harness_send_buf(a.fd, &a.b);
    for (int n = 0; n < 2 * N; n++) {
        struct reply rep;
        harness_read_reply(&a.r, &rep);
        cr_assert(rep.msgid >= 1 && rep.msgid <= 2 * N, "msgid %u", rep.msgid);
        if (rep.msgid % 2 == 0)
            cr_assert_eq(harness_reply_int(&rep), rep.msgid / 2,
                         "the read sent after %u inserts saw another count",
                         rep.msgid / 2);
        else
            cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
        reply_free(&rep);
    }
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(others_count(), N);
}

/* batch and bulk run inside a transaction too. */
Test(tx, batch_and_bulk_inside)
{
    int64_t tx = harness_raw_begin(&a, "immediate");
    static const char *const steps[] = {"INSERT INTO t(x) VALUES (1)",
                                        "INSERT INTO t(x) VALUES (2)"};
    harness_pack_batch_sql(&a.b, 1, steps, 2, IN_TX(tx));
    struct reply rep;
    harness_raw_call(&a, 1, &rep);
    cr_assert_not(rep.is_error, "batch: %s: %s", rep.name, rep.message);
    reply_free(&rep);

    harness_pack_request(&a.b, 2, "bulk", 3);
    codec_pack_cstr(&a.b, "INSERT INTO t(x) VALUES (?)");
    msgpack_pack_array(&a.b.pk, 3);
    for (int i = 3; i <= 5; i++) {
        msgpack_pack_array(&a.b.pk, 1);
        msgpack_pack_int64(&a.b.pk, i);
    }
    harness_pack_options(&a.b, IN_TX(tx));
    harness_raw_call(&a, 2, &rep);
    cr_assert_not(rep.is_error, "bulk: %s: %s", rep.name, rep.message);
    cr_assert_eq(harness_result_int(rep.result, "changes"), 3);
    reply_free(&rep);

    cr_assert_eq(harness_raw_query_int(&a, "SELECT sum(x) FROM t", IN_TX(tx)),
                 15);
    cr_assert_eq(others_count(), 0);
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(harness_query_int(other, "SELECT sum(x) FROM t"), 15);
}

Test(tx, rollback_discards)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (2)", IN_TX(tx));
    harness_raw_end_ok(&a, "rollback", tx);
    cr_assert_eq(others_count(), 0);
    assert_expired(&a, tx, "INSERT INTO t(x) VALUES (3)", "roll");
    struct reply rep;
    harness_raw_tx_end(&a, "commit", tx, &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED", NULL);
    reply_free(&rep);
    harness_raw_tx_end(&a, "rollback", tx, &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED", NULL);
    reply_free(&rep);
    cr_assert_eq(others_count(), 0);
    /* The writer is free again. */
    harness_exec(other, "INSERT INTO t(x) VALUES (4)");
    cr_assert_eq(others_count(), 1);
}

/* A failed request inside a transaction is rolled back alone; the
 * transaction stays open and commits the rest. */
Test(tx, failed_request_leaves_the_transaction_open)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    struct reply rep;
    harness_raw_sql(&a, "exec",
                    "INSERT INTO t(x) VALUES (2); INSERT INTO t(x) VALUES (1)",
                    IN_TX(tx), &rep);
    harness_assert_error(&rep, 2067, "SQLITE_CONSTRAINT_UNIQUE",
                         "UNIQUE constraint failed: t.x");
    reply_free(&rep);
    harness_raw_sql(&a, "query", "SELECT nope FROM t", IN_TX(tx), &rep);
    harness_assert_error(&rep, 1, "SQLITE_ERROR", "no such column");
    reply_free(&rep);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (3)", IN_TX(tx));
    cr_assert_eq(harness_raw_query_int(&a, "SELECT sum(x) FROM t", IN_TX(tx)),
                 4);
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(harness_query_int(other, "SELECT sum(x) FROM t"), 4);
    cr_assert_eq(others_count(), 2);
}

/* Opens a transaction on a that inserts 1, and sends b's insert of 2 as
 * request 1, which must still be waiting 200 ms later. Returns the
 * transaction. */
static int64_t begin_with_writer_waiting(void)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    send_exec(&b, 1, "INSERT INTO t(x) VALUES (2)");
    harness_assert_no_reply(&b.r, 200,
                            "a write while a transaction is open elsewhere");
    return tx;
}

/* Another client's write waits for the transaction, and is answered only
 * after the commit, as a write of its own (after the transaction's). */
Test(tx, other_writer_waits_for_commit)
{
    int64_t tx = begin_with_writer_waiting();
    /* Nor did it slip into the transaction. */
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t", IN_TX(tx)),
                 1);
    harness_raw_end_ok(&a, "commit", tx);
    expect_ok(&b, 1);
    cr_assert_eq(others_count(), 2);
    cr_assert_eq(harness_query_int(other, "SELECT x FROM t ORDER BY id "
                                          "LIMIT 1"),
                 1);
}

/* The waiting write is not part of the transaction: a rollback does not
 * take it along. */
Test(tx, other_writer_waits_for_rollback)
{
    int64_t tx = begin_with_writer_waiting();
    harness_raw_end_ok(&a, "rollback", tx);
    expect_ok(&b, 1);
    cr_assert_eq(others_count(), 1);
    cr_assert_eq(harness_query_int(other, "SELECT x FROM t"), 2);
}

/* Reads from other connections neither wait for an open transaction nor
 * see it. */
Test(tx, other_readers_do_not_wait)
{
    harness_exec(other, "INSERT INTO t(x) VALUES (1)");
    int64_t tx = harness_raw_begin(&a, "immediate");
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (2)", IN_TX(tx));
    harness_raw_exec(&a, "DELETE FROM t WHERE x = 1", IN_TX(tx));
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(harness_query_int(other, "SELECT sum(x) FROM t"), 1);
        cr_assert_eq(harness_raw_query_int(&b, "SELECT count(*) FROM t", NULL),
                     1);
    }
    cr_assert_eq(sqlited_ping(other), 0);
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(harness_query_int(other, "SELECT sum(x) FROM t"), 2);
}

/* A write the owner sends without tx while its transaction is open would
 * wait for that transaction to end: it is refused at once, and the
 * transaction goes on. Its reads without tx run outside, on a reader. */
Test(tx, own_write_outside_the_transaction_is_refused)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    struct reply rep;
    harness_raw_sql(&a, "exec", "INSERT INTO t(x) VALUES (2)", NULL, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t", NULL), 0);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (3)", IN_TX(tx));
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(harness_query_int(other, "SELECT sum(x) FROM t"), 4);
}

/* A request inside a transaction that times out while it only reads
 * leaves the transaction open; one that times out while writing makes
 * SQLite roll the whole transaction back, and the next request learns
 * so. */
Test(tx, timeout_inside_the_transaction)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    const struct harness_options o = {
        .tx = tx, .has_timeout = true, .timeout_ms = 200};
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    struct reply rep;
    harness_raw_sql(&a, "query", HARNESS_ENDLESS_SQL, &o, &rep);
    harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT", NULL);
    reply_free(&rep);
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t", IN_TX(tx)),
                 1, "a read that timed out ended the transaction");

    harness_raw_sql(&a, "exec",
                    "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                    "FROM c WHERE i < 1000000000) "
                    "INSERT INTO t(x) SELECT count(*) FROM c",
                    &o, &rep);
    harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT", NULL);
    reply_free(&rep);
    assert_expired(&a, tx, "INSERT INTO t(x) VALUES (5)", NULL);
    cr_assert_eq(others_count(), 0);
    /* The writer is free for others. */
    harness_exec(other, "INSERT INTO t(x) VALUES (6)");
    cr_assert_eq(others_count(), 1);
}

/* One open transaction per connection. */
Test(tx, second_begin_is_refused)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    struct reply rep;
    harness_pack_begin(&a.b, 100, NULL);
    harness_raw_call(&a, 100, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);
    /* The first one is untouched. */
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (2)", IN_TX(tx));
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(others_count(), 2);
}

/* A transaction belongs to the connection that opened it. */
Test(tx, another_connections_id_is_refused)
{
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));

    struct reply rep;
    harness_raw_sql(&b, "exec", "INSERT INTO t(x) VALUES (2)", IN_TX(tx), &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);
    harness_raw_sql(&b, "query", "SELECT count(*) FROM t", IN_TX(tx), &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);
    harness_raw_tx_end(&b, "commit", tx, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);
    harness_raw_tx_end(&b, "rollback", tx, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         NULL);
    reply_free(&rep);

    /* The owner's transaction is still open, with only its own row. */
    cr_assert_eq(harness_raw_query_int(&a, "SELECT sum(x) FROM t", IN_TX(tx)),
                 1);
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(harness_query_int(other, "SELECT sum(x) FROM t"), 1);
}

/* After a's transaction that inserted 1 was ended by the daemon and b
 * inserted 2: only b's row is there, and the daemon counted one transaction
 * begun and expired. */
static void assert_daemon_ended_it(void)
{
    cr_assert_eq(others_count(), 1);
    cr_assert_eq(harness_query_int(other, "SELECT x FROM t"), 2);
    struct harness_stats s;
    harness_stats(&d, &s);
    cr_assert_eq(s.tx_begun, 1);
    cr_assert_eq(s.tx_expired, 1);
    cr_assert_eq(s.tx_committed, 0);
}

/* A transaction idle past --tx-idle-timeout is rolled back: the writer is
 * free for others, and the next request naming it learns why. */
Test(tx, idle_transaction_expires)
{
    restart_with((const char *const[]){"--tx-idle-timeout", "300", NULL});
    cr_assert_eq(hello_limit(&a, "tx_idle_timeout_ms"), 300);
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    /* This write waits until the transaction is gone: its answer says the
     * daemon ended it. */
    send_exec(&b, 1, "INSERT INTO t(x) VALUES (2)");
    expect_ok(&b, 1);
    assert_expired(&a, tx, "INSERT INTO t(x) VALUES (3)", "idle");
    assert_daemon_ended_it();
    /* The connection can begin again. */
    harness_raw_end_ok(&a, "commit", harness_raw_begin(&a, NULL));
}

/* A transaction kept busy is still rolled back at --tx-max-duration (issue
 * 10, hole 8): a client touching it every 200 ms cannot hold every other
 * write off for ever. The request that finds it gone learns why, with the
 * limit. */
Test(tx, busy_transaction_expires_at_its_maximum_duration)
{
    cr_assert_eq(hello_limit(&a, "tx_max_duration_ms"), 60000);
    restart_with((const char *const[]){"--tx-idle-timeout", "60000",
                                       "--tx-max-duration", "1000", NULL});
    cr_assert_eq(hello_limit(&a, "tx_max_duration_ms"), 1000);
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    send_exec(&b, 1, "INSERT INTO t(x) VALUES (2)");

    struct reply rep = {0};
    bool expired = false;
    /* Bounded: 50 touches are ten times the maximum duration. */
    for (int i = 0; i < 50 && !expired; i++) {
        harness_sleep_ms(200);
        harness_raw_sql(&a, "exec", "UPDATE t SET x = x WHERE x = 1", IN_TX(tx),
                        &rep);
        expired = rep.is_error;
        if (!expired)
            reply_free(&rep);
    }
    cr_assert(expired, "the transaction outlived its maximum duration");
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED",
                         "it was open for longer than the maximum of 1000 ms "
                         "(--tx-max-duration)");
    reply_free(&rep);
    expect_ok(&b, 1);
    assert_daemon_ended_it();
    harness_raw_end_ok(&a, "commit", harness_raw_begin(&a, NULL));
}

/* A statement still running in the transaction at its maximum duration is
 * interrupted, and the transaction rolled back. */
Test(tx, statement_at_the_maximum_duration_is_interrupted)
{
    restart_with((const char *const[]){"--tx-idle-timeout", "60000",
                                       "--tx-max-duration", "500", NULL});
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    send_exec(&b, 1, "INSERT INTO t(x) VALUES (2)");
    struct reply rep;
    harness_raw_sql(&a, "exec", HARNESS_ENDLESS_SQL,
                    &(struct harness_options){
                        .tx = tx, .has_timeout = true, .timeout_ms = 0},
                    &rep);
    harness_assert_error(&rep, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED",
                         "reached its maximum duration of 500 ms "
                         "(--tx-max-duration) while this request ran");
    reply_free(&rep);
    expect_ok(&b, 1);
    assert_daemon_ended_it();
    assert_expired(&a, tx, "INSERT INTO t(x) VALUES (3)", "maximum");
}

/* --tx-max-duration 0: no maximum. */
Test(tx, maximum_duration_zero_is_none)
{
    restart_with((const char *const[]){"--tx-max-duration", "0", NULL});
    cr_assert_eq(hello_limit(&a, "tx_max_duration_ms"), 0);
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    harness_raw_end_ok(&a, "commit", tx);
    cr_assert_eq(others_count(), 1);
}

/* A connection that closes with a transaction open has it rolled back at
 * once: another client's write goes through well before the idle timeout
 * (a minute here) could have ended it. */
Test(tx, disconnect_rolls_back)
{
    restart_with((const char *const[]){"--tx-idle-timeout", "60000", NULL});
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t(x) VALUES (1)", IN_TX(tx));
    harness_raw_close(&a);

    send_exec(&b, 1, "INSERT INTO t(x) VALUES (2)");
    struct reply rep;
    harness_read_reply_within(&b.r, 10000, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    assert_daemon_ended_it();
}
