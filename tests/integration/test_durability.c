/* An acknowledged write is never lost (DESIGN.md, Non-negotiables): the
 * daemon is killed with SIGKILL while clients write, and after a restart on
 * the same database every write it acknowledged is there, and no request is
 * there in part. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(c INTEGER NOT NULL, "
                           "seq INTEGER NOT NULL, PRIMARY KEY (c, seq))");
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(durability, .init = setup, .fini = teardown, .timeout = 60);

static void assert_integrity(sqlited *db)
{
    sqlited_rows *rows = harness_query(db, "PRAGMA integrity_check", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 0), "ok");
    sqlited_rows_close(rows);
}

static int64_t count_where(sqlited *db, const char *sql, int64_t a, int64_t b)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, a), 0);
    cr_assert_eq(sqlited_params_add_int64(p, NULL, b), 0);
    sqlited_rows *rows = harness_query(db, sql, p);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW, "%s", sql);
    int64_t v = sqlited_column_int64(rows, 0);
    sqlited_rows_close(rows);
    sqlited_params_close(p);
    return v;
}

enum { CLIENTS = 8, ROUNDS = 10, KILL_AFTER = 300 };

/* Starts CLIENTS writer threads of round @round (client ids round * CLIENTS
 * + k), waits until they have KILL_AFTER writes acknowledged between them,
 * kills the daemon, and collects them. */
static void write_until_killed(struct harness_writer *w, int round)
{
    for (int k = 0; k < CLIENTS; k++) {
        w[k].sock_path = d.sock_path;
        w[k].id = round * CLIENTS + k;
        w[k].count = 1000000;
        /* Half of them write through query, which the daemon passes on to
         * its writer. */
        w[k].as_query = k % 2 == 1;
        w[k].sql = w[k].as_query
                       ? "INSERT INTO t(c, seq) VALUES (?, ?) RETURNING seq"
                       : "INSERT INTO t(c, seq) VALUES (?, ?)";
        harness_writer_start(&w[k]);
    }
    int64_t deadline = harness_now_ms() + HARNESS_RUN_TIMEOUT_MS;
    int acked = 0;
    while (acked < KILL_AFTER && harness_now_ms() < deadline) {
        harness_sleep_ms(1);
        acked = 0;
        for (int k = 0; k < CLIENTS; k++)
            acked += harness_writer_acked(&w[k]);
    }
    daemon_kill(&d);
    for (int k = 0; k < CLIENTS; k++)
        harness_writer_join(&w[k]);
    cr_assert_geq(acked, KILL_AFTER, "only %d writes acknowledged in %d ms",
                  acked, HARNESS_RUN_TIMEOUT_MS);
    for (int k = 0; k < CLIENTS; k++) {
        /* Each writer stopped because the connection went away, not on an
         * error from the daemon. */
        cr_assert(w[k].rc < 0 && (w[k].rc < -1099 || w[k].rc > -1000), "%s",
                  w[k].failure);
    }
}

/* Every row acknowledged to the writers @w[0..n) is there, and none they
 * never sent. */
static void assert_acknowledged_rows(sqlited *db,
                                     const struct harness_writer *w, int n)
{
    for (int k = 0; k < n; k++) {
        int acked = w[k].acked;
        int64_t kept =
            count_where(db, "SELECT count(*) FROM t WHERE c = ? AND seq < ?",
                        w[k].id, acked);
        cr_assert_eq(kept, acked,
                     "client %d: %lld of its %d acknowledged rows survived",
                     w[k].id, (long long)kept, acked);
        /* Beyond those, at most the one write in flight went in. */
        cr_assert_eq(count_where(db,
                                 "SELECT count(*) FROM t WHERE c = ? "
                                 "AND seq > ?",
                                 w[k].id, acked),
                     0, "client %d: rows it never sent", w[k].id);
    }
}

/* Clients write while the daemon is killed, several times over (each kill
 * is one more chance to land between an answer and its commit). */
Test(durability, acknowledged_writes_survive_sigkill)
{
    static struct harness_writer w[ROUNDS * CLIENTS];
    memset(w, 0, sizeof(w));
    for (int round = 0; round < ROUNDS; round++) {
        write_until_killed(&w[round * CLIENTS], round);
        daemon_restart(&d, NULL);
        sqlited *db = harness_connect(&d);
        assert_integrity(db);
        assert_acknowledged_rows(db, w, (round + 1) * CLIENTS);
        sqlited_close(db);
    }
}

/* A committed transaction is there after the kill, one still open is
 * not. */
Test(durability, only_committed_transactions_survive)
{
    struct harness_raw c, open_tx;
    harness_raw_open(&c, &d);
    harness_raw_open(&open_tx, &d);
    int64_t tx = harness_raw_begin(&c, NULL);
    harness_raw_exec(&c, "INSERT INTO t VALUES (-1, 1)",
                     &(struct harness_options){.tx = tx});
    harness_raw_end_ok(&c, "commit", tx);
    tx = harness_raw_begin(&open_tx, NULL);
    harness_raw_exec(&open_tx, "INSERT INTO t VALUES (-2, 1)",
                     &(struct harness_options){.tx = tx});
    daemon_kill(&d);
    harness_raw_close(&c);
    harness_raw_close(&open_tx);

    daemon_restart(&d, NULL);
    sqlited *db = harness_connect(&d);
    assert_integrity(db);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t WHERE c = -1"),
                 1, "a committed transaction was lost");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t WHERE c = -2"),
                 0, "a transaction never committed is there");
    sqlited_close(db);
}

/* A bulk insert the daemon is working on at the kill is there whole or not
 * at all. */
Test(durability, bulk_in_flight_is_all_or_nothing)
{
    enum { N = 200000 };
    struct harness_raw c;
    harness_raw_open(&c, &d);
    harness_pack_request(&c.b, 1, "bulk", 2);
    codec_pack_cstr(&c.b, "INSERT INTO t VALUES (1, ?)");
    msgpack_pack_array(&c.b.pk, N);
    for (int i = 0; i < N; i++) {
        msgpack_pack_array(&c.b.pk, 1);
        msgpack_pack_int64(&c.b.pk, i);
    }
    /* Answered once the daemon has read the bulk before it. */
    harness_pack_request(&c.b, 2, "ping", 0);
    harness_send_buf(c.fd, &c.b);
    struct reply rep;
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 2, "the bulk was answered before the ping (%s)",
                 rep.is_error ? rep.message : "success");
    reply_free(&rep);
    /* Kill while the writer is at it (it may have finished: either way the
     * bulk must be whole or absent). */
    harness_sleep_ms(20);
    daemon_kill(&d);
    harness_raw_close(&c);

    daemon_restart(&d, NULL);
    sqlited *db = harness_connect(&d);
    assert_integrity(db);
    int64_t bulk = harness_query_int(db, "SELECT count(*) FROM t WHERE c = 1");
    cr_assert(bulk == 0 || bulk == N, "%lld of the bulk's %d rows are there",
              (long long)bulk, N);
    sqlited_close(db);
}
