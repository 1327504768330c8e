/* Pipelining over the raw socket: many requests in flight on one connection,
 * answered out of order and matched by msgid. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw conn;

static void setup(void)
{
    /* Enough readers that a fast query never waits behind the slow one. */
    daemon_start(&d, (const char *const[]){"--readers", "4", NULL});
    harness_raw_open(&conn, &d);
}

static void teardown(void)
{
    harness_raw_close(&conn);
    daemon_cleanup(&d);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 60);

/* Appends request @msgid of @method: @sql with the one parameter @value. */
static void pack_with_param(struct codec_buf *b, uint32_t msgid,
                            const char *method, const char *sql, uint32_t value)
{
    harness_pack_request(b, msgid, method, 2);
    codec_pack_cstr(b, sql);
    msgpack_pack_array(&b->pk, 1);
    msgpack_pack_uint32(&b->pk, value);
}

static bool is_pong(const struct reply *rep)
{
    struct codec_reader res = rep->result;
    return !rep->is_error && harness_read_str_eq(&res, "pong");
}

Test(pipeline, slow_query_is_overtaken)
{
    harness_pack_sql(&conn.b, 1, "query", HARNESS_SLOW_SQL);
    harness_pack_request(&conn.b, 2, "ping", 0);
    harness_pack_sql(&conn.b, 3, "query", "SELECT 6 * 7");
    /* One write: the daemon sees all three before any answer exists. */
    harness_send_buf(conn.fd, &conn.b);

    uint32_t order[3];
    bool seen[4] = {false};
    for (int i = 0; i < 3; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_eq(rep.kind, 1);
        cr_assert(rep.msgid >= 1 && rep.msgid <= 3 && !seen[rep.msgid],
                  "unexpected msgid %u", rep.msgid);
        seen[rep.msgid] = true;
        order[i] = rep.msgid;
        if (rep.msgid == 1)
            cr_assert_eq(harness_reply_int(&rep), 3000000);
        else if (rep.msgid == 2)
            cr_assert(is_pong(&rep));
        else
            cr_assert_eq(harness_reply_int(&rep), 42);
        reply_free(&rep);
    }
    /* The slow query's answer comes last; ping and the quick query do not
     * wait for it. */
    cr_assert_eq(order[2], 1, "answers came in the order %u, %u, %u", order[0],
                 order[1], order[2]);
}

/* Requests sent back to back without reading any answer; every answer is
 * matched by msgid, errors included. */
Test(pipeline, many_requests_without_reading)
{
    enum { N = 200 };
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE t(v INTEGER)");
    for (uint32_t id = 1; id <= N; id++) {
        switch (id % 5) {
        case 0:
            harness_pack_request(&conn.b, id, "ping", 0);
            break;
        case 1:
        case 2:
            pack_with_param(&conn.b, id, "query", "SELECT ? * 2", id);
            break;
        case 3:
            pack_with_param(&conn.b, id, "exec", "INSERT INTO t VALUES (?)",
                            id);
            break;
        default:
            harness_pack_sql(&conn.b, id, "query", "SELECT * FROM nope");
            break;
        }
    }
    harness_send_buf(conn.fd, &conn.b);

    bool seen[N + 1] = {false};
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_eq(rep.kind, 1);
        cr_assert(rep.msgid >= 1 && rep.msgid <= N, "msgid %u", rep.msgid);
        cr_assert_not(seen[rep.msgid], "msgid %u answered twice", rep.msgid);
        seen[rep.msgid] = true;
        switch (rep.msgid % 5) {
        case 0:
            cr_assert(is_pong(&rep), "msgid %u", rep.msgid);
            break;
        case 1:
        case 2:
            cr_assert_eq(harness_reply_int(&rep), (int64_t)rep.msgid * 2);
            break;
        case 3: {
            struct codec_reader v;
            int64_t changes;
            cr_assert_not(rep.is_error, "msgid %u: %s", rep.msgid, rep.message);
            cr_assert(harness_map_find(rep.result, "changes", &v));
            cr_assert_eq(codec_read_int64(&v, &changes), 0);
            cr_assert_eq(changes, 1);
            break;
        }
        default:
            cr_assert(rep.is_error, "msgid %u", rep.msgid);
            cr_assert_eq(rep.code, 1);
            cr_assert_str_eq(rep.name, "SQLITE_ERROR");
            cr_assert_not_null(strstr(rep.message, "no such table"));
            break;
        }
        reply_free(&rep);
    }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), N / 5);
    sqlited_close(db);
}

/* Sends N inserts of 1..N, each as exec or as query according to
 * @as_query(id), and checks that the writer ran them in the order sent: the
 * rowid order is the order the writer ran them. */
static void assert_write_order(bool (*as_query)(uint32_t), bool ordered)
{
    enum { N = 300 };
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE t(seq INTEGER PRIMARY KEY, v INTEGER)");
    for (uint32_t id = 1; id <= N; id++) {
        pack_with_param(&conn.b, id, as_query(id) ? "query" : "exec",
                        "INSERT INTO t(v) VALUES (?)", id);
    }
    harness_send_buf(conn.fd, &conn.b);
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_not(rep.is_error, "msgid %u: %s", rep.msgid, rep.message);
        reply_free(&rep);
    }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), N);
    cr_assert_eq(harness_query_int(db, "SELECT count(DISTINCT v) FROM t"), N);
    if (!ordered) {
        sqlited_close(db);
        return;
    }
    int64_t misplaced =
        harness_query_int(db, "SELECT count(*) FROM t WHERE v != seq");
    int64_t first = harness_query_int(db, "SELECT coalesce(min(seq), 0) FROM t "
                                          "WHERE v != seq");
    cr_assert_eq(misplaced, 0,
                 "%lld of %d writes ran out of order, the first at "
                 "position %lld",
                 (long long)misplaced, N, (long long)first);
    sqlited_close(db);
}

static bool never(uint32_t id)
{
    (void)id;
    return false;
}

static bool every_third(uint32_t id)
{
    return id % 3 == 0;
}

/* Writes from one connection run in the order they were sent. */
Test(pipeline, execs_run_in_order)
{
    assert_write_order(never, true);
}

/* A write sent as query is forwarded to the writer after a reader prepared
 * it (PROTOCOL.md, Ordering): each one is applied exactly once, and its
 * answer comes after it committed. */
Test(pipeline, writes_sent_as_query_are_applied_once)
{
    assert_write_order(every_third, false);
}

/* Thousands of requests, more than a connection may have in flight: the
 * daemon slows the client down rather than dropping anything. */
Test(pipeline, thousands_of_requests)
{
    enum { N = 5000 };
    for (uint32_t id = 1; id <= N; id++) {
        if (id % 2) {
            harness_pack_request(&conn.b, id, "ping", 0);
        } else {
            pack_with_param(&conn.b, id, "query", "SELECT ?", id);
        }
    }
    harness_send_buf(conn.fd, &conn.b);
    bool *seen = calloc(N + 1, sizeof(*seen));
    cr_assert_not_null(seen);
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert(rep.msgid >= 1 && rep.msgid <= N && !seen[rep.msgid],
                  "msgid %u", rep.msgid);
        seen[rep.msgid] = true;
        if (rep.msgid % 2)
            cr_assert(is_pong(&rep));
        else
            cr_assert_eq(harness_reply_int(&rep), rep.msgid);
        reply_free(&rep);
    }
    free(seen);
}

/* Replies far larger than what the daemon queues per connection, requested
 * all at once and read only afterwards: all arrive, whole. */
Test(pipeline, large_replies_without_reading)
{
    enum { N = 48 };
    for (uint32_t id = 1; id <= N; id++)
        pack_with_param(&conn.b, id, "query", "SELECT zeroblob(?)", 1u << 20);
    harness_send_buf(conn.fd, &conn.b);
    bool seen[N + 1] = {false};
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_not(rep.is_error, "msgid %u: %s", rep.msgid, rep.message);
        cr_assert(rep.msgid >= 1 && rep.msgid <= N && !seen[rep.msgid]);
        seen[rep.msgid] = true;
        uint32_t nrows, ncols;
        struct codec_reader row = harness_reply_rows(&rep, &nrows, &ncols);
        struct codec_value v;
        cr_assert_eq(codec_read(&row, &v), 0);
        cr_assert_eq(v.type, CODEC_BIN);
        cr_assert_eq(v.v.s.len, 1u << 20);
        reply_free(&rep);
    }
    /* The daemon still answers this connection. */
    harness_pack_request(&conn.b, 999, "ping", 0);
    harness_send_buf(conn.fd, &conn.b);
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 999);
    cr_assert(is_pong(&rep));
    reply_free(&rep);
}

/* A client that pipelines heavily does not starve another client. */
Test(pipeline, other_clients_still_served)
{
    enum { N = 64 };
    for (uint32_t id = 1; id <= N; id++)
        harness_pack_sql(&conn.b, id, "query", HARNESS_SLOW_SQL);
    harness_send_buf(conn.fd, &conn.b);
    /* Not reading the answers; a second client gets its pings through. */
    sqlited *db = harness_connect(&d);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
    /* Closing the flooding connection cancels its work. */
    harness_raw_close(&conn);
    db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT 1"), 1);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
}

/* PROTOCOL.md: "Per connection the daemon also bounds the requests in
 * flight and the bytes of responses waiting to be written." A client that
 * asks for many large results and reads none must not make the daemon hold
 * them all. */
Test(pipeline, unread_replies_are_bounded)
{
    enum { N = 200 };
    /* One reader: a query from another connection, answered, proves every
     * request queued before it has run. */
    harness_raw_close(&conn);
    daemon_cleanup(&d);
    daemon_start(&d, (const char *const[]){"--readers", "1", NULL});
    struct harness_raw flood;
    harness_raw_open(&flood, &d);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT 1"), 1);
    long rss_before = harness_rss_kb(d.pid);

    for (uint32_t id = 1; id <= N; id++)
        pack_with_param(&flood.b, id, "query", "SELECT zeroblob(?)", 1u << 20);
    harness_send_buf(flood.fd, &flood.b);
    /* Sent after the flood, on the same single reader: answered only once
     * the flood's queries have run. */
    cr_assert_eq(harness_query_int(db, "SELECT 2"), 2);
    long rss_after = harness_rss_kb(d.pid);
    if (!harness_measures_memory())
        rss_after = rss_before;
    cr_assert_lt(rss_after - rss_before, 64 * 1024,
                 "%d unread results of 1 MiB grew the daemon's RSS from %ld "
                 "to %ld KiB",
                 N, rss_before, rss_after);

    /* Reading them all still works. */
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&flood.r, &rep);
        cr_assert_not(rep.is_error, "%s", rep.message);
        reply_free(&rep);
    }
    harness_raw_close(&flood);
    sqlited_close(db);
}
