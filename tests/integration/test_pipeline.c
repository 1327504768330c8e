/* Pipelining over the raw socket: many requests in flight on one connection,
 * answered out of order and matched by msgid. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* About a second of work on a reader: long enough that a ping or a trivial
 * query sent after it finishes first. */
#define SLOW_SQL                                                               \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < 3000000) SELECT count(*) FROM c"

static struct daemon d;
static int fd = -1;
static struct harness_reader r;
static struct codec_buf b;

static void setup(void)
{
    /* Enough readers that a fast query never waits behind the slow one. */
    daemon_start(&d, (const char *const[]){"--readers", "4", NULL});
    fd = harness_raw_connect(&d);
    harness_reader_init(&r, fd);
    codec_buf_init(&b, 0);
}

static void teardown(void)
{
    codec_buf_close(&b);
    if (fd >= 0) {
        harness_reader_close(&r);
        close(fd);
        fd = -1;
    }
    daemon_cleanup(&d);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 60);

/* Reads a result {"columns": [...], "rows": [[v]]} holding one integer. */
static int64_t result_int(const struct reply *rep)
{
    struct codec_reader rows;
    uint32_t n;
    int64_t v;
    cr_assert_not(rep->is_error, "msgid %u: %s: %s", rep->msgid, rep->name,
                  rep->message);
    cr_assert(harness_map_find(rep->result, "rows", &rows), "msgid %u",
              rep->msgid);
    cr_assert_eq(codec_read_array(&rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(codec_read_array(&rows, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert_eq(codec_read_int64(&rows, &v), 0, "msgid %u: not an int",
                 rep->msgid);
    return v;
}

static bool is_pong(const struct reply *rep)
{
    struct codec_reader res = rep->result;
    return !rep->is_error && harness_read_str_eq(&res, "pong");
}

Test(pipeline, slow_query_is_overtaken)
{
    harness_pack_sql(&b, 1, "query", SLOW_SQL);
    harness_pack_request(&b, 2, "ping", 0);
    harness_pack_sql(&b, 3, "query", "SELECT 6 * 7");
    /* One write: the daemon sees all three before any answer exists. */
    harness_send_buf(fd, &b);

    uint32_t order[3];
    bool seen[4] = {false};
    for (int i = 0; i < 3; i++) {
        struct reply rep;
        harness_read_reply(&r, &rep);
        cr_assert_eq(rep.kind, 1);
        cr_assert(rep.msgid >= 1 && rep.msgid <= 3 && !seen[rep.msgid],
                  "unexpected msgid %u", rep.msgid);
        seen[rep.msgid] = true;
        order[i] = rep.msgid;
        if (rep.msgid == 1)
            cr_assert_eq(result_int(&rep), 3000000);
        else if (rep.msgid == 2)
            cr_assert(is_pong(&rep));
        else
            cr_assert_eq(result_int(&rep), 42);
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
            harness_pack_request(&b, id, "ping", 0);
            break;
        case 1:
        case 2:
            harness_pack_request(&b, id, "query", 2);
            codec_pack_cstr(&b, "SELECT ? * 2");
            msgpack_pack_array(&b.pk, 1);
            msgpack_pack_uint32(&b.pk, id);
            break;
        case 3:
            harness_pack_request(&b, id, "exec", 2);
            codec_pack_cstr(&b, "INSERT INTO t VALUES (?)");
            msgpack_pack_array(&b.pk, 1);
            msgpack_pack_uint32(&b.pk, id);
            break;
        default:
            harness_pack_sql(&b, id, "query", "SELECT * FROM nope");
            break;
        }
    }
    harness_send_buf(fd, &b);

    bool seen[N + 1] = {false};
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&r, &rep);
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
            cr_assert_eq(result_int(&rep), (int64_t)rep.msgid * 2);
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
static void check_write_order(bool (*as_query)(uint32_t), bool ordered)
{
    enum { N = 300 };
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE t(seq INTEGER PRIMARY KEY, v INTEGER)");
    for (uint32_t id = 1; id <= N; id++) {
        harness_pack_request(&b, id, as_query(id) ? "query" : "exec", 2);
        codec_pack_cstr(&b, "INSERT INTO t(v) VALUES (?)");
        msgpack_pack_array(&b.pk, 1);
        msgpack_pack_uint32(&b.pk, id);
    }
    harness_send_buf(fd, &b);
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&r, &rep);
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
    check_write_order(never, true);
}

/* A write sent as query is forwarded to the writer after a reader prepared
 * it (PROTOCOL.md, Ordering): each one is applied exactly once, and its
 * answer comes after it committed. */
Test(pipeline, writes_sent_as_query_are_applied_once)
{
    check_write_order(every_third, false);
}

/* Thousands of requests, more than a connection may have in flight: the
 * daemon slows the client down rather than dropping anything. */
Test(pipeline, thousands_of_requests)
{
    enum { N = 5000 };
    for (uint32_t id = 1; id <= N; id++) {
        if (id % 2) {
            harness_pack_request(&b, id, "ping", 0);
        } else {
            harness_pack_request(&b, id, "query", 2);
            codec_pack_cstr(&b, "SELECT ?");
            msgpack_pack_array(&b.pk, 1);
            msgpack_pack_uint32(&b.pk, id);
        }
    }
    harness_send_buf(fd, &b);
    bool *seen = calloc(N + 1, sizeof(*seen));
    cr_assert_not_null(seen);
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&r, &rep);
        cr_assert(rep.msgid >= 1 && rep.msgid <= N && !seen[rep.msgid],
                  "msgid %u", rep.msgid);
        seen[rep.msgid] = true;
        if (rep.msgid % 2)
            cr_assert(is_pong(&rep));
        else
            cr_assert_eq(result_int(&rep), rep.msgid);
        reply_free(&rep);
    }
    free(seen);
}

/* Replies far larger than what the daemon queues per connection, requested
 * all at once and read only afterwards: all arrive, whole. */
Test(pipeline, large_replies_without_reading)
{
    enum { N = 48 };
    for (uint32_t id = 1; id <= N; id++) {
        harness_pack_request(&b, id, "query", 2);
        codec_pack_cstr(&b, "SELECT zeroblob(?)");
        msgpack_pack_array(&b.pk, 1);
        msgpack_pack_uint32(&b.pk, 1u << 20);
    }
    harness_send_buf(fd, &b);
    bool seen[N + 1] = {false};
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&r, &rep);
        cr_assert_not(rep.is_error, "msgid %u: %s", rep.msgid, rep.message);
        cr_assert(rep.msgid >= 1 && rep.msgid <= N && !seen[rep.msgid]);
        seen[rep.msgid] = true;
        struct codec_reader rows;
        struct codec_value v;
        uint32_t n;
        cr_assert(harness_map_find(rep.result, "rows", &rows));
        cr_assert_eq(codec_read_array(&rows, &n), 0);
        cr_assert_eq(codec_read_array(&rows, &n), 0);
        cr_assert_eq(codec_read(&rows, &v), 0);
        cr_assert_eq(v.type, CODEC_BIN);
        cr_assert_eq(v.v.s.len, 1u << 20);
        reply_free(&rep);
    }
    /* The daemon still answers this connection. */
    harness_pack_request(&b, 999, "ping", 0);
    harness_send_buf(fd, &b);
    struct reply rep;
    harness_read_reply(&r, &rep);
    cr_assert_eq(rep.msgid, 999);
    cr_assert(is_pong(&rep));
    reply_free(&rep);
}

/* A client that pipelines heavily does not starve another client. */
Test(pipeline, other_clients_still_served)
{
    enum { N = 64 };
    for (uint32_t id = 1; id <= N; id++)
        harness_pack_sql(&b, id, "query", SLOW_SQL);
    harness_send_buf(fd, &b);
    /* Not reading the answers; a second client gets its pings through. */
    sqlited *db = harness_connect(&d);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
    /* Closing the flooding connection cancels its work. */
    harness_reader_close(&r);
    close(fd);
    fd = -1;
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
    harness_reader_close(&r);
    close(fd);
    fd = -1;
    daemon_cleanup(&d);
    daemon_start(&d, (const char *const[]){"--readers", "1", NULL});
    int flood = harness_raw_connect(&d);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT 1"), 1);
    long rss_before = harness_rss_kb(d.pid);

    for (uint32_t id = 1; id <= N; id++) {
        harness_pack_request(&b, id, "query", 2);
        codec_pack_cstr(&b, "SELECT zeroblob(?)");
        msgpack_pack_array(&b.pk, 1);
        msgpack_pack_uint32(&b.pk, 1u << 20);
    }
    harness_send_buf(flood, &b);
    /* Sent after the flood, on the same single reader: answered only once
     * the flood's queries have run. */
    cr_assert_eq(harness_query_int(db, "SELECT 2"), 2);
    long rss_after = harness_rss_kb(d.pid);
#ifdef __SANITIZE_ADDRESS__
    /* ASan keeps freed blocks in quarantine: RSS measures nothing here. */
    rss_after = rss_before;
#endif
    cr_assert_lt(rss_after - rss_before, 64 * 1024,
                 "%d unread results of 1 MiB grew the daemon's RSS from %ld "
                 "to %ld KiB",
                 N, rss_before, rss_after);

    /* Reading them all still works. */
    struct harness_reader fr;
    harness_reader_init(&fr, flood);
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&fr, &rep);
        cr_assert_not(rep.is_error, "%s", rep.message);
        reply_free(&rep);
    }
    harness_reader_close(&fr);
    close(flood);
    sqlited_close(db);
}
