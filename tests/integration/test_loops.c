/* Several I/O loops (--io-threads): connections spread over every loop,
 * each answered on its own loop; what one loop's client wrote is what
 * another loop's client reads; cursors live on their loop while others
 * write; and a shutdown drains every loop without losing an acknowledged
 * write. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(loops, .fini = teardown, .timeout = 90);

#define LOOPS 3
#define CLIENTS (2 * LOOPS)

/* What `stats` says of each loop: its connections and the requests it
 * answered. Returns the number of loops ("io_threads"). */
static unsigned loop_stats(struct harness_raw *c, int64_t *conns,
                           int64_t *requests, unsigned max)
{
    struct reply rep;
    struct codec_reader v;
    uint32_t n;

    harness_pack_request(&c->b, 99, "stats", 0);
    harness_raw_call(c, 99, &rep);
    cr_assert_not(rep.is_error, "stats: %s", rep.message);
    int64_t threads = harness_result_int(rep.result, "io_threads");
    cr_assert(harness_map_find(rep.result, "loops", &v), "stats has no loops");
    cr_assert_eq(codec_read_array(&v, &n), 0, "stats: loops is no array");
    cr_assert_eq(n, threads, "stats: %u loops, io_threads %lld", n,
                 (long long)threads);
    cr_assert_leq(n, max);
    for (uint32_t i = 0; i < n; i++) {
        struct codec_reader entry = v;
        conns[i] = harness_result_int(entry, "connections");
        requests[i] = harness_result_int(entry, "requests");
        cr_assert_eq(codec_skip(&v), 0, "stats: loops[%u] is malformed", i);
    }
    reply_free(&rep);
    return n;
}

/* Opens @c to @d and pings on it: once the answer is back, the connection
 * is open on its loop (loop 0 hands it over asynchronously). */
static void open_pinged(struct harness_raw *c)
{
    struct reply rep;
    harness_raw_open(c, &d);
    harness_pack_request(&c->b, 1, "ping", 0);
    harness_raw_call(c, 1, &rep);
    cr_assert_not(rep.is_error, "ping: %s", rep.message);
    reply_free(&rep);
}

/* Connections land on every loop, and each loop answers its own: the
 * pings of every connection are counted on the loop that holds it. */
Test(loops, connections_land_on_every_loop)
{
    static struct harness_raw c[CLIENTS];
    int64_t conns[LOOPS], requests[LOOPS];

    daemon_start(&d, (const char *const[]){"--io-threads", "3", NULL});
    for (int i = 0; i < CLIENTS; i++)
        open_pinged(&c[i]);
    unsigned n = loop_stats(&c[0], conns, requests, LOOPS);
    cr_assert_eq(n, LOOPS);
    int64_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        cr_assert_geq(conns[i], 1, "loop %u holds no connection", i);
        cr_assert_geq(requests[i], 1, "loop %u answered no ping", i);
        total += conns[i];
    }
    cr_assert_eq(total, CLIENTS, "%lld connections counted, %d open",
                 (long long)total, CLIENTS);
    for (int i = 0; i < CLIENTS; i++)
        harness_raw_close(&c[i]);
}

/* A daemon with one loop serves everyone on it. */
Test(loops, one_loop_serves_everyone)
{
    static struct harness_raw c[3];
    int64_t conns[1], requests[1];

    daemon_start(&d, (const char *const[]){"--io-threads", "1", NULL});
    for (int i = 0; i < 3; i++)
        open_pinged(&c[i]);
    cr_assert_eq(harness_raw_query_int(&c[2], "SELECT 7", NULL), 7);
    cr_assert_eq(loop_stats(&c[1], conns, requests, 1), 1);
    cr_assert_eq(conns[0], 3);
    for (int i = 0; i < 3; i++)
        harness_raw_close(&c[i]);
}

/* A write acknowledged to a client of one loop is seen by a read that
 * starts afterwards on every other loop: each client in turn writes, then
 * all the others read. Consecutive connections land on consecutive loops,
 * so every pair of loops is crossed. */
Test(loops, a_write_acknowledged_on_one_loop_is_read_on_every_other)
{
    static struct harness_raw c[CLIENTS];
    int64_t conns[LOOPS], requests[LOOPS];
    char sql[128];

    daemon_start(&d, (const char *const[]){"--io-threads", "3", NULL});
    for (int i = 0; i < CLIENTS; i++)
        open_pinged(&c[i]);
    cr_assert_eq(loop_stats(&c[0], conns, requests, LOOPS), LOOPS);
    for (int i = 0; i < LOOPS; i++)
        cr_assert_eq(conns[i], CLIENTS / LOOPS, "loop %d holds %lld", i,
                     (long long)conns[i]);
    harness_raw_exec(&c[0], "CREATE TABLE t(k INTEGER PRIMARY KEY, v)", NULL);
    for (int round = 0; round < 20; round++) {
        int w = round % CLIENTS;
        snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, %d)", round, w);
        cr_assert_eq(harness_raw_exec(&c[w], sql, NULL), 1);
        snprintf(sql, sizeof(sql), "SELECT count(*) FROM t WHERE k = %d",
                 round);
        for (int r = 0; r < CLIENTS; r++)
            cr_assert_eq(harness_raw_query_int(&c[r], sql, NULL), 1,
                         "round %d: client %d does not see the row client "
                         "%d wrote",
                         round, r, w);
    }
    for (int i = 0; i < CLIENTS; i++)
        harness_raw_close(&c[i]);
}

/* A cursor is fetched from its own loop to the end, in order, while
 * clients of the other loops write. */
Test(loops, a_cursor_is_fetched_on_its_loop_while_other_loops_write)
{
    static struct harness_writer w[LOOPS];

    daemon_start(&d, (const char *const[]){"--io-threads", "3", "--chunk-rows",
                                           "10", NULL});
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE big(n INTEGER PRIMARY KEY)");
    harness_exec(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c WHERE x < 2000) INSERT INTO big SELECT x FROM c");
    harness_exec(db, "CREATE TABLE t(c INTEGER NOT NULL, seq INTEGER NOT "
                     "NULL, PRIMARY KEY (c, seq))");
    sqlited_rows *rows =
        harness_query(db, "SELECT n FROM big ORDER BY n", NULL);
    /* The writers connect after the reader: they land on the other loops
     * (and one on its loop). */
    for (int k = 0; k < LOOPS; k++) {
        w[k].sock_path = d.sock_path;
        w[k].id = k;
        w[k].count = 200;
        w[k].sql = "INSERT INTO t(c, seq) VALUES (?, ?)";
        harness_writer_start(&w[k]);
    }
    int64_t want = 1;
    int rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        cr_assert_eq(sqlited_column_int64(rows, 0), want);
        want++;
        if (want % 100 == 0)
            harness_sleep_ms(1); /* let the writers in between fetches */
    }
    HARNESS_ASSERT_OK(db, rc == SQLITED_DONE ? 0 : rc);
    cr_assert_eq(want, 2001, "the cursor gave %lld rows of 2000",
                 (long long)want - 1);
    sqlited_rows_close(rows);
    for (int k = 0; k < LOOPS; k++) {
        harness_writer_join(&w[k]);
        cr_assert_eq(w[k].rc, 0, "writer %d: %s", k, w[k].failure);
    }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 200 * LOOPS);
    sqlited_close(db);
}

/* SIGTERM while clients of every loop write: the daemon drains every loop
 * and stops cleanly, and every write it acknowledged is there after a
 * restart. */
Test(loops, shutdown_with_work_on_every_loop_keeps_every_acknowledged_write)
{
    static struct harness_writer w[CLIENTS];
    static struct harness_raw slow;
    struct reply rep;

    /* A generous grace period: the slow read below takes seconds on a
     * loaded machine, and three times that in a daemon under TSan. */
    daemon_start(&d, (const char *const[]){"--io-threads", "3",
                                           "--shutdown-grace", "60000", NULL});
    harness_exec_fresh(&d, "CREATE TABLE t(c INTEGER NOT NULL, seq INTEGER "
                           "NOT NULL, PRIMARY KEY (c, seq))");
    /* A read of a second in flight too, answered before the daemon goes. */
    harness_raw_open(&slow, &d);
    harness_pack_sql(&slow.b, 7, "query", HARNESS_SLOW_SQL);
    harness_send_buf(slow.fd, &slow.b);
    for (int k = 0; k < CLIENTS; k++) {
        w[k].sock_path = d.sock_path;
        w[k].id = k;
        w[k].count = 1000000;
        w[k].as_query = k % 2 == 1;
        w[k].sql = w[k].as_query
                       ? "INSERT INTO t(c, seq) VALUES (?, ?) RETURNING seq"
                       : "INSERT INTO t(c, seq) VALUES (?, ?)";
        harness_writer_start(&w[k]);
    }
    /* Every writer is under way: each has had writes acknowledged. */
    int64_t deadline = harness_now_ms() + HARNESS_RUN_TIMEOUT_MS;
    for (int k = 0; k < CLIENTS; k++)
        while (harness_writer_acked(&w[k]) < 20 && harness_now_ms() < deadline)
            harness_sleep_ms(1);
    daemon_signal(&d, SIGTERM);
    harness_read_reply(&slow.r, &rep);
    cr_assert_eq(rep.msgid, 7);
    cr_assert_eq(harness_reply_int(&rep), 3000000);
    reply_free(&rep);
    harness_raw_close(&slow);
    for (int k = 0; k < CLIENTS; k++)
        harness_writer_join(&w[k]);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0,
                 "the daemon did not stop cleanly");
    for (int k = 0; k < CLIENTS; k++)
        cr_assert_geq(w[k].acked, 20, "writer %d: %d acknowledged: %s", k,
                      w[k].acked, w[k].failure);

    daemon_restart(&d, (const char *const[]){"--io-threads", "3", NULL});
    struct harness_raw c = {0};
    char sql[128];
    harness_raw_open(&c, &d);
    for (int k = 0; k < CLIENTS; k++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM t WHERE c = %d AND seq < %d", k,
                 w[k].acked);
        cr_assert_eq(harness_raw_query_int(&c, sql, NULL), w[k].acked,
                     "writer %d lost acknowledged rows", k);
    }
    harness_raw_close(&c);
}
