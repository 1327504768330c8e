/* libsqlited's sqlited_interrupt() and sqlited_cancel(): a call blocked on
 * a long request ends with SQLITED_INTERRUPTED once the daemon stopped it
 * (PROTOCOL.md, cancel), and the connection, with its transaction, carries
 * on. The interrupt comes from a signal handler or from another thread, as
 * Ctrl-C in a shell would. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/time.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

static void setup(void)
{
    db = harness_start_connected(&d, NULL);
    harness_exec(db, "CREATE TABLE t(x INTEGER)");
}

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(interrupt, .init = setup, .fini = teardown, .timeout = 120);

#define assert_ok(rc) HARNESS_ASSERT_OK(db, rc)

/* An interrupt in a call: the daemon stopped its request. */
#define assert_interrupted(rc)                                                 \
    do {                                                                       \
        int rc_ = (rc);                                                        \
        cr_assert_eq(rc_, SQLITED_INTERRUPTED, "rc %d (%s): %s", rc_,          \
                     sqlited_errname(db), sqlited_errmsg(db));                 \
        cr_assert_str_eq(sqlited_errname(db), "SQLITED_INTERRUPTED");          \
        cr_assert(strstr(sqlited_errmsg(db), "cancelled by the client"),       \
                  "message: %s", sqlited_errmsg(db));                          \
    } while (0)

/* ---------------------------------------------------------- interrupters */

/* SIGALRM every 100 ms, each calling sqlited_interrupt(): whichever comes
 * once the call waits stops it (one before is dropped, by design). */
static void on_alarm(int sig)
{
    (void)sig;
    sqlited_interrupt(db);
}

static void alarms_start(void)
{
    struct sigaction sa = {.sa_handler = on_alarm};
    sigemptyset(&sa.sa_mask);
    cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0);
    struct itimerval every = {.it_interval = {0, 100000},
                              .it_value = {0, 100000}};
    cr_assert_eq(setitimer(ITIMER_REAL, &every, NULL), 0);
}

static void alarms_stop(void)
{
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
}

/* A thread that calls sqlited_interrupt() every 100 ms until told to
 * stop. */
static atomic_bool thread_stop;
static pthread_t thread;

static void *interrupter(void *arg)
{
    (void)arg;
    while (!atomic_load(&thread_stop)) {
        harness_sleep_ms(100);
        sqlited_interrupt(db);
    }
    return NULL;
}

static void thread_start(void)
{
    atomic_store(&thread_stop, false);
    cr_assert_eq(pthread_create(&thread, NULL, interrupter, NULL), 0);
}

static void thread_stop_join(void)
{
    atomic_store(&thread_stop, true);
    pthread_join(thread, NULL);
}

/* The connection still answers, and the daemon's answer to each cancel
 * was skipped wherever it came. */
static void assert_usable(void)
{
    for (int i = 0; i < 3; i++) {
        assert_ok(sqlited_ping(db));
        cr_assert_eq(harness_query_int(db, "SELECT 6 * 7"), 42);
    }
}

/* ------------------------------------------------------------------ tests */

/* A query without end, stopped by the interrupts of @start: the call
 * returns, and the connection carries on. */
static void interrupt_query(void (*start)(void), void (*stop)(void))
{
    sqlited_rows *rows = NULL;
    start();
    int rc = sqlited_query(db, HARNESS_ENDLESS_SQL, NULL, &rows);
    stop();
    assert_interrupted(rc);
    cr_assert_null(rows);
    assert_usable();
}

Test(interrupt, from_a_signal_handler)
{
    interrupt_query(alarms_start, alarms_stop);
    cr_assert_eq(harness_stat(&d, "cancelled"), 1);
}

Test(interrupt, from_another_thread)
{
    interrupt_query(thread_start, thread_stop_join);
}

/* A long write stopped applies nothing; the connection writes on. */
Test(interrupt, long_write)
{
    thread_start();
    int rc = sqlited_exec(db, HARNESS_ENDLESS_WRITE, NULL, NULL);
    thread_stop_join();
    assert_interrupted(rc);
    harness_exec(db, "INSERT INTO t(x) VALUES (2)");
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 2);
}

/* Inside a transaction a stopped read leaves it open: what it wrote before
 * is still there, and it commits. */
Test(interrupt, transaction_stays_open)
{
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    harness_exec(db, "INSERT INTO t(x) VALUES (1)");
    alarms_start();
    int rc = sqlited_query(db, HARNESS_ENDLESS_SQL, NULL, &rows);
    alarms_stop();
    assert_interrupted(rc);
    cr_assert_gt(sqlited_tx_id(db), 0, "the transaction is gone");
    harness_exec(db, "INSERT INTO t(x) VALUES (2)");
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 3);
    assert_ok(sqlited_commit(db));
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 3);
}

/* sqlited_rows_next() waiting for the next chunk of a result: the daemon
 * ends the result, and the rows say so from then on. */
Test(interrupt, rows_next_waiting_for_a_chunk)
{
    teardown();
    db = harness_start_connected(
        &d, (const char *const[]){"--chunk-rows", "10", NULL});
    sqlited_rows *rows = NULL;
    /* Twenty-five rows at once, then none for minutes: the third chunk,
     * from row 21, takes that long (a chunk comes once the row after it is
     * known). */
    assert_ok(sqlited_query(
        db,
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 1000000000) SELECT x FROM c WHERE x <= 25 OR x = 999999999",
        NULL, &rows));
    for (int i = 1; i <= 20; i++) {
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW, "row %d", i);
        cr_assert_eq(sqlited_column_int64(rows, 0), i);
    }
    thread_start();
    int rc = sqlited_rows_next(rows);
    thread_stop_join();
    assert_interrupted(rc);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_INTERRUPTED);
    sqlited_rows_close(rows);
    assert_usable();
    cr_assert_eq(harness_stat(&d, "cursors_open"), 0);
}

/* An interrupt while no call waits is dropped: the next call runs to its
 * end (here about a second of work on a reader). */
Test(interrupt, between_calls_is_dropped)
{
    sqlited_interrupt(db);
    sqlited_interrupt(db);
    cr_assert_eq(harness_query_int(db, HARNESS_SLOW_SQL), 3000000);
    sqlited_interrupt(NULL); /* does nothing */
    assert_usable();
}

/* sqlited_receive(SQLITED_ANY) interrupted cancels every pending request
 * not answered yet. */
Test(interrupt, receive_any_cancels_every_pending)
{
    uint32_t a, b, got;
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_send_query(db, HARNESS_ENDLESS_SQL, NULL, &a));
    assert_ok(sqlited_send_query(db, HARNESS_ENDLESS_SQL, NULL, &b));
    thread_start();
    int rc = sqlited_receive(db, SQLITED_ANY, &got, &rows);
    thread_stop_join();
    assert_interrupted(rc);
    rc = sqlited_receive(db, SQLITED_ANY, &got, &rows);
    assert_interrupted(rc);
    cr_assert_eq(sqlited_pending(db), 0);
    assert_usable();
}

/* sqlited_cancel() of a pipelined request waiting for the writer: the
 * daemon answers it before the cancel, so the cancel's answer comes while
 * later calls wait, and is skipped. */
Test(interrupt, cancel_a_pipelined_request)
{
    struct harness_raw holder;
    harness_raw_open(&holder, &d);
    int64_t tx = harness_raw_begin(&holder, "immediate");

    uint32_t id, quick, got;
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_send_exec(db, "INSERT INTO t(x) VALUES (1)", NULL, &id));
    assert_ok(sqlited_send_query(db, "SELECT 7", NULL, &quick));
    assert_ok(sqlited_cancel(db, id));
    assert_interrupted(sqlited_receive(db, id, &got, NULL));
    cr_assert_eq(got, id);
    cr_assert(strstr(sqlited_errmsg(db), "before it ran"), "%s",
              sqlited_errmsg(db));
    assert_ok(sqlited_receive(db, quick, &got, &rows));
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 7);
    sqlited_rows_close(rows);

    /* Not pending (any more): misuse, nothing sent. */
    cr_assert_eq(sqlited_cancel(db, id), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_cancel(db, SQLITED_ANY), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_cancel(NULL, 1), SQLITED_EMISUSE);

    harness_raw_end_ok(&holder, "commit", tx);
    harness_raw_close(&holder);
    assert_usable();
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0,
                 "the cancelled write ran after all");
}

/* sqlited_cancel() of a request whose answer came in already sends nothing
 * and leaves its result to collect. */
Test(interrupt, cancel_after_the_answer)
{
    uint32_t id, got;
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_send_query(db, "SELECT 5", NULL, &id));
    assert_ok(sqlited_ping(db)); /* the answer comes in meanwhile */
    assert_ok(sqlited_cancel(db, id));
    assert_ok(sqlited_receive(db, id, &got, &rows));
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 5);
    sqlited_rows_close(rows);
    assert_usable();
}

/* A thread interrupting every few milliseconds while calls of every kind
 * run: each call returns its result or SQLITED_INTERRUPTED, never anything
 * else (the answers to the cancels are skipped wherever they come, and no
 * request ever gets a cancel's msgid); a write interrupted left nothing, a
 * write answered is there. */
static void *hammer(void *arg)
{
    (void)arg;
    while (!atomic_load(&thread_stop)) {
        harness_sleep_ms(2);
        sqlited_interrupt(db);
    }
    return NULL;
}

Test(interrupt, many_interrupts_keep_the_connection_in_step)
{
    enum { CALLS = 400 };
    int64_t sum = 0;
    int interrupted = 0, writes_interrupted = 0;
    uint32_t id;
    sqlited_params *p = harness_params_new();

    atomic_store(&thread_stop, false);
    cr_assert_eq(pthread_create(&thread, NULL, hammer, NULL), 0);
    for (int i = 1; i <= CALLS; i++) {
        sqlited_rows *rows = NULL;
        int rc;
        sqlited_params_clear(p);
        assert_ok(sqlited_params_add_int64(p, NULL, i));
        switch (i % 5) {
        case 0:
            rc = sqlited_exec(db, "INSERT INTO t(x) VALUES (?)", p, NULL);
            if (rc == 0)
                sum += i;
            break;
        case 1:
            rc = sqlited_query(db,
                               "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                               "SELECT x + 1 FROM c WHERE x < 100000) "
                               "SELECT count(*) + ? FROM c",
                               p, &rows);
            break;
        case 2:
            rc = sqlited_send_exec(db, "INSERT INTO t(x) VALUES (?)", p, &id);
            cr_assert_eq(rc, 0, "send: %s", sqlited_errmsg(db));
            rc = sqlited_receive(db, id, NULL, NULL);
            if (rc == 0)
                sum += i;
            break;
        case 3:
            rc = sqlited_ping(db);
            break;
        default:
            rc = sqlited_query(db, "SELECT ?", p, &rows);
            break;
        }
        if (rc == SQLITED_INTERRUPTED) {
            interrupted++;
            writes_interrupted += i % 5 == 0 || i % 5 == 2;
        } else
            cr_assert_eq(rc, 0, "call %d: rc %d (%s): %s", i, rc,
                         sqlited_errname(db), sqlited_errmsg(db));
        if (rows) {
            cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
            sqlited_rows_close(rows);
        }
    }
    thread_stop_join();
    sqlited_params_close(p);
    cr_log_info("%d of %d calls interrupted, %d of them writes", interrupted,
                CALLS, writes_interrupted);
    assert_usable();
    cr_assert_eq(harness_query_int(db, "SELECT coalesce(sum(x), 0) FROM t"),
                 sum, "a write interrupted was applied, or one answered not");
}
