/* libsqlited's pipelining: requests sent with sqlited_send_query() and
 * sqlited_send_exec() and collected with sqlited_receive(), by id or as they
 * come, against a real daemon. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* Each test starts its own daemon (harness_start_connected()), some with
 * flags of their own. */
static struct daemon d;
static sqlited *db;

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(client_pipeline, .fini = teardown, .timeout = 60);

#define assert_ok(rc) HARNESS_ASSERT_OK(db, rc)

/* The integers 1 to 95 in column x: ten chunks of a daemon started with
 * --chunk-rows 10. */
#define STREAM_SQL                                                             \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < 95) SELECT x FROM c"

/* Sends "SELECT ?1 * 10, 'q' || ?1" with ?1 = @i and returns its id, which
 * must be new: not 0 and none of @ids[0..i). */
static uint32_t send_numbered(int i, const uint32_t *ids)
{
    sqlited_params *p = harness_params_new();
    uint32_t id = 0;

    cr_assert_eq(sqlited_params_add_int64(p, NULL, i), 0);
    assert_ok(sqlited_send_query(db, "SELECT ?1 * 10, 'q' || ?1", p, &id));
    sqlited_params_close(p);
    cr_assert_neq(id, 0);
    for (int j = 0; j < i; j++)
        cr_assert_neq(ids[j], id, "requests %d and %d share id %" PRIu32, j, i,
                      id);
    return id;
}

/* Checks that @rows is the result of send_numbered(@i), and closes it. */
static void assert_numbered(sqlited_rows *rows, int i)
{
    char want[16];

    cr_assert_not_null(rows);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), i * 10,
                 "request %d got %" PRId64, i, sqlited_column_int64(rows, 0));
    snprintf(want, sizeof(want), "q%d", i);
    cr_assert_str_eq(sqlited_column_text(rows, 1), want);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);
}

/* The index of @id in @ids[0..n); fails the test when it is not there. */
static int index_of(const uint32_t *ids, int n, uint32_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return i;
    cr_assert_fail("id %" PRIu32 " was never sent", id);
    return -1;
}

/* Collects every pending request with SQLITED_ANY, their ids @ids[0..n):
 * each must come once, and @check(rows, i) checks (and closes) the result
 * of request i. */
static void receive_all(const uint32_t *ids, int n,
                        void (*check)(sqlited_rows *, int))
{
    bool *seen = calloc((size_t)n, sizeof(*seen));

    cr_assert_not_null(seen);
    for (int k = 0; k < n; k++) {
        sqlited_rows *rows = NULL;
        uint32_t got = 0;
        assert_ok(sqlited_receive(db, SQLITED_ANY, &got, &rows));
        int i = index_of(ids, n, got);
        cr_assert(!seen[i], "request %d collected twice", i);
        seen[i] = true;
        check(rows, i);
        cr_assert_eq(sqlited_pending(db), (unsigned)(n - k - 1));
    }
    free(seen);
}

/* ---------------------------------------------------------- collecting */

/* Sixteen queries in flight, collected last first: each result is the one
 * of its own request, and the answers that come first wait their turn. */
Test(client_pipeline, sixteen_collected_in_reverse)
{
    enum { N = 16 };
    uint32_t ids[N];

    db = harness_start_connected(&d, NULL);
    for (int i = 0; i < N; i++) {
        ids[i] = send_numbered(i, ids);
        cr_assert_eq(sqlited_pending(db), (unsigned)i + 1);
    }
    for (int i = N - 1; i >= 0; i--) {
        sqlited_rows *rows = NULL;
        uint32_t got = 0;
        assert_ok(sqlited_receive(db, ids[i], &got, &rows));
        cr_assert_eq(got, ids[i]);
        assert_numbered(rows, i);
        cr_assert_eq(sqlited_pending(db), (unsigned)i);
    }
    cr_assert_eq(sqlited_errcode(db), 0);
}

/* The same sixteen collected as they come. */
Test(client_pipeline, sixteen_collected_as_they_come)
{
    enum { N = 16 };
    uint32_t ids[N];

    db = harness_start_connected(&d, NULL);
    for (int i = 0; i < N; i++)
        ids[i] = send_numbered(i, ids);
    receive_all(ids, N, assert_numbered);
}

/* Inside a transaction requests run in the order sent, so by the time the
 * last one is answered every earlier answer has come: SQLITED_ANY takes
 * them, earliest first, without reading any more. The daemon is killed to
 * prove it: answers that came are collected after the connection is gone. */
Test(client_pipeline, answers_received_survive_the_daemon)
{
    enum { N = 8 };
    uint32_t ids[N];

    db = harness_start_connected(&d, NULL);
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    for (int i = 0; i < N; i++)
        ids[i] = send_numbered(i, ids);
    sqlited_rows *rows = NULL;
    assert_ok(sqlited_receive(db, ids[N - 1], NULL, &rows));
    assert_numbered(rows, N - 1);

    daemon_kill(&d);
    for (int i = 0; i < N - 1; i++) {
        uint32_t got = 0;
        assert_ok(sqlited_receive(db, SQLITED_ANY, &got, &rows));
        cr_assert_eq(got, ids[i], "collected %" PRIu32 " for request %d", got,
                     i);
        assert_numbered(rows, i);
    }
    cr_assert_eq(sqlited_pending(db), 0);
    cr_assert_lt(sqlited_ping(db), 0);
}

/* Execs and queries mixed. The execs run in the order sent, so their
 * rowids follow it; collecting an exec sets sqlited_changes() and
 * sqlited_last_insert_rowid() to its own counts, whatever order the results
 * are collected in. */
Test(client_pipeline, execs_and_queries_mixed)
{
    enum { N = 5 };
    uint32_t exec_id[N], query_id[N];
    sqlited_params *p = harness_params_new();

    db = harness_start_connected(&d, NULL);
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
    for (int i = 0; i < N; i++) {
        char v[16];
        snprintf(v, sizeof(v), "v%d", i);
        sqlited_params_clear(p);
        cr_assert_eq(sqlited_params_add_text(p, NULL, v, -1), 0);
        assert_ok(sqlited_send_exec(
            db, "INSERT INTO t(v) VALUES (?) RETURNING id, v", p, &exec_id[i]));
        sqlited_params_clear(p);
        cr_assert_eq(sqlited_params_add_int64(p, NULL, i), 0);
        assert_ok(sqlited_send_query(db, "SELECT ? + 1000", p, &query_id[i]));
    }
    sqlited_params_close(p);
    cr_assert_eq(sqlited_pending(db), 2 * N);

    for (int i = N - 1; i >= 0; i--) {
        sqlited_rows *rows = NULL;
        char v[16];
        assert_ok(sqlited_receive(db, exec_id[i], NULL, &rows));
        cr_assert_eq(sqlited_changes(db), 1);
        cr_assert_eq(sqlited_last_insert_rowid(db), i + 1,
                     "exec %d inserted rowid %" PRId64, i,
                     sqlited_last_insert_rowid(db));
        cr_assert_eq(sqlited_rows_changes(rows), 1);
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
        cr_assert_eq(sqlited_column_int64(rows, 0), i + 1);
        snprintf(v, sizeof(v), "v%d", i);
        cr_assert_str_eq(sqlited_column_text(rows, 1), v);
        sqlited_rows_close(rows);

        /* A query leaves the counts of the last exec in place. */
        assert_ok(sqlited_receive(db, query_id[i], NULL, &rows));
        cr_assert_eq(sqlited_last_insert_rowid(db), i + 1);
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
        cr_assert_eq(sqlited_column_int64(rows, 0), 1000 + i);
        sqlited_rows_close(rows);
    }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), N);
}

/* One request fails on the daemon (a duplicate key, a syntax error): its
 * receive returns the error, with the daemon's message, and the others
 * succeed on a connection that stays usable. */
Test(client_pipeline, an_error_among_successes)
{
    uint32_t first, dup, second, bad, query;
    sqlited_rows *rows = (sqlited_rows *)&rows;

    db = harness_start_connected(&d, NULL);
    harness_exec(db, "CREATE TABLE t(k INTEGER UNIQUE)");
    assert_ok(sqlited_send_exec(db, "INSERT INTO t VALUES (1)", NULL, &first));
    assert_ok(sqlited_send_exec(db, "INSERT INTO t VALUES (1)", NULL, &dup));
    assert_ok(sqlited_send_exec(db, "INSERT INTO t VALUES (2)", NULL, &second));
    assert_ok(sqlited_send_query(db, "SELEC 1", NULL, &bad));
    assert_ok(sqlited_send_query(db, "SELECT 42", NULL, &query));

    int rc = sqlited_receive(db, dup, NULL, &rows);
    cr_assert_eq(rc, 2067 /* SQLITE_CONSTRAINT_UNIQUE */, "rc %d %s: %s", rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    cr_assert_null(rows);
    cr_assert_eq(sqlited_errcode(db), 2067);
    cr_assert_str_eq(sqlited_errname(db), "SQLITE_CONSTRAINT_UNIQUE");
    cr_assert(strstr(sqlited_errmsg(db), "UNIQUE constraint failed: t.k"), "%s",
              sqlited_errmsg(db));

    rc = sqlited_receive(db, bad, NULL, &rows);
    cr_assert_eq(rc, 1 /* SQLITE_ERROR */, "rc %d %s", rc, sqlited_errmsg(db));
    cr_assert(strstr(sqlited_errmsg(db), "syntax error"), "%s",
              sqlited_errmsg(db));

    assert_ok(sqlited_receive(db, first, NULL, NULL));
    cr_assert_eq(sqlited_last_insert_rowid(db), 1);
    assert_ok(sqlited_receive(db, second, NULL, NULL));
    cr_assert_eq(sqlited_last_insert_rowid(db), 2);
    assert_ok(sqlited_receive(db, query, NULL, &rows));
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 42);
    sqlited_rows_close(rows);

    cr_assert_eq(sqlited_pending(db), 0);
    assert_ok(sqlited_ping(db));
    cr_assert_eq(harness_query_int(db, "SELECT group_concat(k) = '1,2' FROM t"),
                 1);
}

/* ------------------------------------------------------- flow control */

/* A request of the flood below: 4 KiB of parameters in, 64 KiB out. */
#define FLOOD_PAD 4096
#define FLOOD_ANSWER 65536
#define FLOOD_SQL "SELECT ?1, length(?2), zeroblob(65536)"

static void assert_flood_answer(sqlited_rows *rows, int i)
{
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), i);
    cr_assert_eq(sqlited_column_int64(rows, 1), FLOOD_PAD);
    cr_assert_eq(sqlited_column_bytes(rows, 2), FLOOD_ANSWER);
    sqlited_rows_close(rows);
}

/* A thousand such requests, all sent before anything is collected: about
 * 64 MiB of answers, far past what the daemon queues (16 MiB) and the
 * socket holds. The daemon then stops reading until the client reads, so a
 * send that only waited for room to write would wait forever; the sends
 * take the answers in while they wait. */
Test(client_pipeline, thousand_sent_before_any_receive)
{
    enum { N = 1000 };
    uint32_t *ids = calloc(N, sizeof(*ids));
    char *pad = malloc(FLOOD_PAD);
    sqlited_params *p = harness_params_new();

    cr_assert(ids && pad);
    memset(pad, 'x', FLOOD_PAD);
    db = harness_start_connected(&d, NULL);
    for (int i = 0; i < N; i++) {
        sqlited_params_clear(p);
        cr_assert_eq(sqlited_params_add_int64(p, NULL, i), 0);
        cr_assert_eq(sqlited_params_add_text(p, NULL, pad, FLOOD_PAD), 0);
        assert_ok(sqlited_send_query(db, FLOOD_SQL, p, &ids[i]));
    }
    cr_assert_eq(sqlited_pending(db), N);
    receive_all(ids, N, assert_flood_answer);
    free(pad);
    free(ids);
    sqlited_params_close(p);
}

/* ---------------------------------------------- other calls in between */

/* Synchronous calls made while requests are pending get their own answer;
 * the pending answers that come meanwhile wait for their receive. In a
 * transaction the order is fixed: the pending queries are answered before
 * the synchronous query sent after them. */
Test(client_pipeline, sync_calls_while_pending)
{
    enum { N = 4 };
    uint32_t slow, ids[N];
    sqlited_rows *rows = NULL;

    db = harness_start_connected(&d, NULL);
    /* A ping is answered at once, before a slow query sent ahead of it. */
    assert_ok(sqlited_send_query(db, HARNESS_SLOW_SQL, NULL, &slow));
    assert_ok(sqlited_ping(db));
    cr_assert_eq(harness_query_int(db, "SELECT 7"), 7);
    assert_ok(sqlited_receive(db, slow, NULL, &rows));
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 3000000);
    sqlited_rows_close(rows);

    assert_ok(sqlited_begin(db, SQLITED_TX_IMMEDIATE));
    harness_exec(db, "CREATE TABLE t(x)");
    for (int i = 0; i < N; i++)
        ids[i] = send_numbered(i, ids);
    cr_assert_eq(harness_query_int(db, "SELECT 8"), 8);
    assert_ok(sqlited_exec(db, "INSERT INTO t VALUES (1), (2)", NULL, NULL));
    cr_assert_eq(sqlited_changes(db), 2);
    assert_ok(sqlited_commit(db));
    assert_ok(sqlited_ping(db));
    cr_assert_eq(sqlited_pending(db), N);
    receive_all(ids, N, assert_numbered);
}

/* A pipelined query whose result streams (more rows than a chunk) is read
 * to its end with sqlited_rows_next(), whose fetches are synchronous calls
 * made while other requests are pending; those are collected afterwards.
 * Collected with rows NULL, a streaming result's cursor is closed. */
Test(client_pipeline, streaming_result_while_pending)
{
    enum { N = 4 };
    uint32_t stream, ids[N], dropped;
    sqlited_rows *rows = NULL;
    int rc;

    db = harness_start_connected(
        &d, (const char *const[]){"--chunk-rows", "10", NULL});
    assert_ok(sqlited_send_query(db, STREAM_SQL, NULL, &stream));
    for (int i = 0; i < N; i++)
        ids[i] = send_numbered(i, ids);
    assert_ok(sqlited_receive(db, stream, NULL, &rows));
    cr_assert_eq(sqlited_rows_count(rows), 10, "the first chunk holds %" PRIu64,
                 sqlited_rows_count(rows));
    int64_t n = 0;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        n++;
        cr_assert_eq(sqlited_column_int64(rows, 0), n);
    }
    cr_assert_eq(rc, SQLITED_DONE, "after %" PRId64 " rows: %d %s", n, rc,
                 sqlited_errmsg(db));
    cr_assert_eq(n, 95);
    sqlited_rows_close(rows);
    cr_assert_eq(sqlited_pending(db), N);
    receive_all(ids, N, assert_numbered);

    assert_ok(sqlited_send_query(db, STREAM_SQL, NULL, &dropped));
    assert_ok(sqlited_receive(db, dropped, NULL, NULL));
    cr_assert_eq(harness_stat(&d, "cursors_open"), 0);
    cr_assert_eq(harness_stat(&d, "cursors_opened"), 2);
}

/* ----------------------------------------------------------- misuse */

Test(client_pipeline, misuse)
{
    uint32_t id = 99, got = 99, other;
    sqlited_rows *rows = (sqlited_rows *)&rows;

    db = harness_start_connected(&d, NULL);
    cr_assert_eq(sqlited_receive(db, SQLITED_ANY, &got, &rows),
                 SQLITED_EMISUSE);
    cr_assert_eq(got, 0);
    cr_assert_null(rows);
    cr_assert_str_eq(sqlited_errmsg(db), "no request is pending");

    cr_assert_eq(sqlited_send_query(db, NULL, NULL, &id), SQLITED_EMISUSE);
    cr_assert_eq(id, 0);
    cr_assert_str_eq(sqlited_errmsg(db), "sql is NULL");
    cr_assert_eq(sqlited_send_exec(db, "SELECT 1", NULL, NULL),
                 SQLITED_EMISUSE);
    cr_assert_str_eq(sqlited_errmsg(db), "id is NULL");
    cr_assert_eq(sqlited_send_query(NULL, "SELECT 1", NULL, &id),
                 SQLITED_EMISUSE);
    cr_assert_eq(sqlited_receive(NULL, SQLITED_ANY, NULL, NULL),
                 SQLITED_EMISUSE);
    cr_assert_eq(sqlited_pending(NULL), 0);
    cr_assert_eq(sqlited_pending(db), 0);

    /* An id never sent, with others pending: nothing collected. */
    assert_ok(sqlited_send_query(db, "SELECT 1", NULL, &id));
    assert_ok(sqlited_send_query(db, "SELECT 2", NULL, &other));
    got = 99;
    cr_assert_eq(sqlited_receive(db, other + 1, &got, NULL), SQLITED_EMISUSE);
    cr_assert_eq(got, 0);
    char want[64];
    snprintf(want, sizeof(want), "request %" PRIu32 " is not pending",
             other + 1);
    cr_assert_str_eq(sqlited_errmsg(db), want);
    cr_assert_eq(sqlited_pending(db), 2);

    /* Collected once, and not twice. */
    assert_ok(sqlited_receive(db, id, &got, NULL));
    cr_assert_eq(got, id);
    cr_assert_eq(sqlited_receive(db, id, &got, NULL), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_pending(db), 1);
    assert_ok(sqlited_receive(db, SQLITED_ANY, &got, NULL));
    cr_assert_eq(got, other);
    assert_ok(sqlited_ping(db));
}

/* A request over the daemon's message limit is refused before it is sent:
 * nothing is pending and the connection stays usable. */
Test(client_pipeline, request_too_large)
{
    static char sql[10000];
    uint32_t id = 99;

    db = harness_start_connected(
        &d, (const char *const[]){"--max-message-size", "8192", NULL});
    memset(sql, ' ', sizeof(sql) - 1);
    memcpy(sql, "SELECT 1", 8);
    cr_assert_eq(sqlited_send_query(db, sql, NULL, &id), SQLITED_TOO_LARGE);
    cr_assert_eq(id, 0);
    cr_assert_eq(sqlited_pending(db), 0);
    assert_ok(sqlited_send_query(db, "SELECT 1", NULL, &id));
    assert_ok(sqlited_receive(db, id, NULL, NULL));
}

/* ------------------------------------------------------ a daemon gone */

/* The daemon dies with requests pending: the receive that finds it gone
 * says so, every other pending request then fails at once with
 * SQLITED_ECLOSED, each collected once, and nothing is pending after. */
Test(client_pipeline, daemon_killed_with_requests_pending)
{
    enum { N = 6 };
    uint32_t ids[N], id = 99;
    bool seen[N] = {false};

    db = harness_start_connected(&d, NULL);
    for (int i = 0; i < N; i++)
        assert_ok(sqlited_send_query(db, HARNESS_ENDLESS_SQL, NULL, &ids[i]));
    daemon_kill(&d);

    for (int k = 0; k < N; k++) {
        sqlited_rows *rows = (sqlited_rows *)&rows;
        uint32_t got = 0;
        int rc =
            sqlited_receive(db, k == 0 ? ids[N - 1] : SQLITED_ANY, &got, &rows);
        if (k == 0)
            cr_assert(rc == SQLITED_ECLOSED || (rc < 0 && rc > -1000),
                      "%d (%s): expected SQLITED_ECLOSED or a negated errno",
                      rc, sqlited_codename(rc));
        else
            cr_assert_eq(rc, SQLITED_ECLOSED, "receive %d: %d (%s)", k, rc,
                         sqlited_codename(rc));
        cr_assert_eq(sqlited_errcode(db), rc);
        cr_assert_null(rows);
        int i = index_of(ids, N, got);
        cr_assert(!seen[i], "request %d collected twice", i);
        seen[i] = true;
        /* Without SQLITED_ANY, the request asked for; with it, the
         * earliest sent. */
        cr_assert_eq(i, k == 0 ? N - 1 : k - 1);
        cr_assert_eq(sqlited_pending(db), (unsigned)(N - k - 1));
    }
    cr_assert_eq(sqlited_receive(db, SQLITED_ANY, NULL, NULL), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_send_query(db, "SELECT 1", NULL, &id),
                 SQLITED_ECLOSED);
    cr_assert_eq(id, 0);
    cr_assert_eq(sqlited_pending(db), 0);
}

/* sqlited_close() with requests pending, some answered and stashed, frees
 * them all (the sanitizer build checks for leaks). */
Test(client_pipeline, close_with_requests_pending)
{
    enum { N = 8 };
    uint32_t ids[N], slow;

    db = harness_start_connected(&d, NULL);
    assert_ok(sqlited_begin(db, SQLITED_TX_DEFERRED));
    for (int i = 0; i < N; i++)
        ids[i] = send_numbered(i, ids);
    assert_ok(sqlited_send_query(db, HARNESS_SLOW_SQL, NULL, &slow));
    assert_ok(sqlited_receive(db, ids[N - 1], NULL, NULL));
    cr_assert_eq(sqlited_pending(db), N);
    sqlited_close(db);
    db = NULL;
}
