/* Work that nobody waits for, and work that waits too long (issue 10, hole
 * 3): the statements of a client that has gone are interrupted and its
 * queued requests dropped; a queued request is answered SQLITED_TIMEOUT at
 * its deadline even while every worker is busy; --max-timeout caps every
 * deadline, timeout_ms 0 included. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* Options with a deadline of @ms. */
#define WITHIN(ms)                                                             \
    (&(struct harness_options){.has_timeout = true, .timeout_ms = (ms)})

/* The attack's statement: counts for ever, so only a deadline or an
 * interrupt ends it. Sent through exec, it holds the writer. */
#define FOREVER_SQL                                                            \
    "with recursive c(x) as (select 1 union all select x+1 from c) "           \
    "select max(x) from c"

/* One row, then FOREVER_SQL: a write that has changed something when it is
 * interrupted. */
#define FOREVER_WRITE "INSERT INTO t(x) VALUES (100); " FOREVER_SQL

/* Bounds on waiting for an answer that must come: far above what the
 * daemon needs, only so that a daemon that never answers fails. */
#define PROMPT_MS 10000

/* A cap far above any test's run, so that only a client's leaving or its
 * own deadline ends the attack's statement. */
static const char *const long_cap[] = {"--max-timeout", "600000", NULL};

static struct daemon d;
static struct harness_raw conn;
static sqlited *db;

static void start(const char *const *extra_args)
{
    db = harness_start_with_raw(&d, &conn, extra_args);
    harness_exec(db, "CREATE TABLE t(x INTEGER)");
}

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &conn);
}

TestSuite(gone, .fini = teardown, .timeout = 60);

/* Sends @sql with @method and no deadline (the cap) on a new connection,
 * lets it start, and closes the socket without reading. */
static void send_and_leave(const char *method, const char *sql)
{
    struct harness_raw c;
    harness_raw_open(&c, &d);
    harness_pack_sql_options(&c.b, 1, method, sql, WITHIN(0));
    harness_send_buf(c.fd, &c.b);
    harness_sleep_ms(300); /* a worker has taken it by now */
    harness_raw_close(&c);
}

/* Expects the answer to @msgid on @c to be a success, within PROMPT_MS. */
static void expect_ok(struct harness_raw *c, uint32_t msgid)
{
    struct reply rep;
    harness_read_reply_within(&c->r, PROMPT_MS, &rep);
    cr_assert_eq(rep.msgid, msgid);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
}

/* Expects the answer to @msgid on @c to be SQLITED_TIMEOUT for a request
 * that never ran, within PROMPT_MS. */
static void expect_queued_timeout(struct harness_raw *c, uint32_t msgid,
                                  const char *deadline)
{
    struct reply rep;
    harness_read_reply_within(&c->r, PROMPT_MS, &rep);
    cr_assert_eq(rep.msgid, msgid);
    harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT", deadline);
    cr_assert(strstr(rep.message, "passed before it could run; nothing of it "
                                  "was applied") != NULL,
              "%s", rep.message);
    reply_free(&rep);
}

/* The attack: a write that never ends, sent without a deadline by a client
 * that then closes its socket. Another client's write must still go
 * through within its own deadline. */
Test(gone, closed_client_frees_the_writer)
{
    start(long_cap);
    send_and_leave("exec", FOREVER_SQL);
    harness_pack_sql_options(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (1)",
                             WITHIN(3000));
    harness_send_buf(conn.fd, &conn.b);
    expect_ok(&conn, 1);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
}

/* Two such reads must not pin both readers. */
Test(gone, closed_clients_free_the_readers)
{
    start((const char *const[]){"--max-timeout", "600000", "--readers", "2",
                                NULL});
    send_and_leave("query", FOREVER_SQL);
    send_and_leave("query", FOREVER_SQL);
    harness_pack_sql_options(&conn.b, 1, "query", "SELECT 6 * 7", WITHIN(3000));
    harness_send_buf(conn.fd, &conn.b);
    struct reply rep;
    harness_read_reply_within(&conn.r, PROMPT_MS, &rep);
    cr_assert_eq(harness_reply_int(&rep), 42);
    reply_free(&rep);
}

/* The client of an unfinished write in a group commit leaves: its write is
 * rolled back (it was never acknowledged) and the other writes of the
 * group are committed. */
Test(gone, unfinished_write_in_a_group_rolls_back_alone)
{
    start(long_cap);
    struct harness_raw blocker, leaver;
    harness_raw_open(&blocker, &d);
    harness_raw_open(&leaver, &d);
    /* The writer is busy until the blocker's deadline; meanwhile the three
     * writes queue, and the writer then takes them as one group. */
    harness_pack_sql_options(&blocker.b, 1, "exec", FOREVER_SQL, WITHIN(1500));
    harness_send_buf(blocker.fd, &blocker.b);
    harness_sleep_ms(200);
    harness_pack_sql(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (1)");
    harness_send_buf(conn.fd, &conn.b);
    harness_sleep_ms(100);
    harness_pack_sql_options(&leaver.b, 1, "exec", FOREVER_WRITE, WITHIN(0));
    harness_send_buf(leaver.fd, &leaver.b);
    harness_sleep_ms(100);
    harness_pack_sql(&conn.b, 2, "exec", "INSERT INTO t(x) VALUES (2)");
    harness_send_buf(conn.fd, &conn.b);

    struct reply rep;
    harness_read_reply_within(&blocker.r, PROMPT_MS, &rep);
    harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT", NULL);
    reply_free(&rep);
    harness_sleep_ms(300); /* the group runs the leaver's write now */
    harness_raw_close(&leaver);

    for (int i = 0; i < 2; i++) {
        harness_read_reply_within(&conn.r, PROMPT_MS, &rep);
        cr_assert_not(rep.is_error, "write %u: %s: %s", rep.msgid, rep.name,
                      rep.message);
        reply_free(&rep);
    }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 2);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 3);
    harness_raw_close(&blocker);
}

/* A write waiting behind one that runs for minutes is answered at its own
 * deadline, while the writer is still busy; it never runs afterwards. */
Test(gone, queued_write_times_out_while_the_writer_is_busy)
{
    start(long_cap);
    struct harness_raw holder;
    harness_raw_open(&holder, &d);
    harness_pack_sql_options(&holder.b, 1, "exec", FOREVER_SQL, WITHIN(0));
    harness_send_buf(holder.fd, &holder.b);
    harness_sleep_ms(200);

    harness_pack_sql_options(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (1)",
                             WITHIN(500));
    harness_send_buf(conn.fd, &conn.b);
    expect_queued_timeout(&conn, 1, "(500 ms)");
    /* The daemon carries on meanwhile. */
    uint32_t msgid = 2;
    harness_pack_request(&conn.b, msgid, "ping", 0);
    struct reply rep;
    harness_raw_call(&conn, msgid, &rep);
    reply_free(&rep);
    cr_assert_eq(harness_stat(&d, "timeouts"), 1);

    harness_raw_close(&holder); /* frees the writer */
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (2)", WITHIN(PROMPT_MS));
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 2,
                 "the write answered SQLITED_TIMEOUT ran after all");
}

/* The same for a query, while every reader is busy. */
Test(gone, queued_read_times_out_while_the_readers_are_busy)
{
    /* The pool's queue is under test: the loop must not answer SELECT 1
     * itself (test_inline.c has the reads it does answer). */
    start((const char *const[]){"--max-timeout", "600000", "--readers", "2",
                                "--inline-budget", "0", NULL});
    struct harness_raw holder[2];
    for (int i = 0; i < 2; i++) {
        harness_raw_open(&holder[i], &d);
        harness_pack_sql_options(&holder[i].b, 1, "query", FOREVER_SQL,
                                 WITHIN(0));
        harness_send_buf(holder[i].fd, &holder[i].b);
    }
    harness_sleep_ms(300);
    harness_pack_sql_options(&conn.b, 1, "query", "SELECT 1", WITHIN(500));
    harness_send_buf(conn.fd, &conn.b);
    expect_queued_timeout(&conn, 1, "(500 ms)");
    for (int i = 0; i < 2; i++)
        harness_raw_close(&holder[i]);
    cr_assert_eq(harness_raw_query_int(&conn, "SELECT 6 * 7", NULL), 42);
}

/* --max-timeout caps every deadline: a request's timeout_ms above it, and
 * timeout_ms 0, which means the cap rather than no deadline. hello reports
 * the cap. */
Test(gone, deadlines_are_capped)
{
    start((const char *const[]){"--max-timeout", "400", "--timeout", "300",
                                NULL});
    struct reply rep;
    struct codec_reader limits;
    harness_pack_request(&conn.b, 1, "hello", 0);
    harness_raw_call(&conn, 1, &rep);
    cr_assert(harness_map_find(rep.result, "limits", &limits));
    cr_assert_eq(harness_result_int(limits, "max_timeout_ms"), 400);
    reply_free(&rep);

    const int64_t asked[] = {0, 100000};
    for (int i = 0; i < 2; i++) {
        harness_raw_sql(&conn, i ? "exec" : "query", FOREVER_SQL,
                        WITHIN(asked[i]), &rep);
        harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT",
                             "deadline (400 ms)");
        reply_free(&rep);
    }
    /* Without timeout_ms: the daemon's --timeout, below the cap. */
    harness_raw_sql(&conn, "query", FOREVER_SQL, NULL, &rep);
    harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT",
                         "deadline (300 ms)");
    reply_free(&rep);
}

/* A default deadline above the cap is a mistake in the configuration. */
Test(gone, timeout_above_the_cap_is_refused)
{
    const char *argv[32];
    struct harness_output o;
    daemon_argv(&d,
                (const char *const[]){"--max-timeout", "1000", "--timeout",
                                      "2000", NULL},
                argv, 32);
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2, "exit %d: %s", o.status, o.err);
    cr_assert(strstr(o.err, "--timeout 2000 is above --max-timeout 1000") !=
                  NULL,
              "%s", o.err);
    harness_output_free(&o);
}

/* The loop and the workers race to answer requests whose deadlines pass
 * as they are taken: every request is answered exactly once, and a write
 * is applied exactly when it was acknowledged. */
Test(gone, racing_deadlines_answer_each_request_once)
{
    enum { N = 3000 };
    start(NULL);
    static bool seen[N + 1];
    for (uint32_t id = 1; id <= N; id++) {
        if (id % 2)
            harness_pack_sql_options(&conn.b, id, "exec",
                                     "INSERT INTO t(x) VALUES (1)",
                                     WITHIN(1 + id % 3));
        else
            harness_pack_sql_options(&conn.b, id, "query", "SELECT 1",
                                     WITHIN(1 + id % 4));
    }
    harness_send_buf(conn.fd, &conn.b);
    int64_t acked = 0, timeouts = 0;
    for (int i = 0; i < N; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert(rep.msgid >= 1 && rep.msgid <= N, "msgid %u", rep.msgid);
        cr_assert_not(seen[rep.msgid], "request %u answered twice", rep.msgid);
        seen[rep.msgid] = true;
        if (rep.is_error) {
            harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT",
                                 NULL);
            timeouts++;
        } else if (rep.msgid % 2) {
            acked++;
        }
        reply_free(&rep);
    }
    harness_assert_no_reply(&conn.r, 500, "an answer beyond one per request");
    cr_log_info("%lld writes acknowledged, %lld timeouts", (long long)acked,
                (long long)timeouts);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), acked);
}

/* A client that shut down its writing side still gets its answers; when it
 * then closes its socket while its write runs, the write is interrupted
 * all the same, and another client's write goes through. */
Test(gone, half_closed_then_closed_client_frees_the_writer)
{
    start(long_cap);
    struct harness_raw c;
    harness_raw_open(&c, &d);
    harness_pack_sql_options(&c.b, 1, "exec", FOREVER_SQL, WITHIN(0));
    harness_send_buf(c.fd, &c.b);
    harness_sleep_ms(300);
    cr_assert_eq(shutdown(c.fd, SHUT_WR), 0);
    harness_sleep_ms(300);
    harness_raw_close(&c);
    harness_pack_sql_options(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (1)",
                             WITHIN(5000));
    harness_send_buf(conn.fd, &conn.b);
    expect_ok(&conn, 1);
}
