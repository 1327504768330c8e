/* Group commit (PROTOCOL.md, Group commit): the writer commits the writes
 * of many clients in one transaction, each in its own savepoint, so one
 * client's failure is its own and every acknowledged write is there. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;

static void start(const char *const *extra_args)
{
    daemon_start(&d, extra_args);
    harness_exec_fresh(&d, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
                           "c INTEGER NOT NULL, seq INTEGER NOT NULL)");
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(group, .init = setup, .fini = teardown, .timeout = 60);

/* Runs @n writer threads, each inserting @rows rows (c, seq) into t one
 * request at a time, and fails the test unless every row was
 * acknowledged. */
static void run_writers(int n, int rows)
{
    struct harness_writer w[16];
    cr_assert_leq(n, 16);
    memset(w, 0, sizeof(w));
    for (int k = 0; k < n; k++) {
        w[k].sock_path = d.sock_path;
        w[k].sql = "INSERT INTO t(c, seq) VALUES (?, ?)";
        w[k].id = k;
        w[k].count = rows;
        harness_writer_start(&w[k]);
    }
    for (int k = 0; k < n; k++)
        harness_writer_join(&w[k]);
    for (int k = 0; k < n; k++) {
        cr_assert_str_empty(w[k].failure, "%s", w[k].failure);
        cr_assert_eq(w[k].acked, rows);
    }
}

/* Every row of every client is there, once, and each client's rows were
 * committed in the order it sent them: the rowid order of a client's rows
 * is their seq order. */
static void assert_rows(sqlited *db, int n, int rows)
{
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"),
                 (int64_t)n * rows);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM "
                                       "(SELECT DISTINCT c, seq FROM t)"),
                 (int64_t)n * rows);
    cr_assert_eq(harness_query_int(db, "SELECT count(DISTINCT c) FROM t"), n);
    int64_t misplaced = harness_query_int(
        db, "SELECT count(*) FROM (SELECT seq, row_number() OVER "
            "(PARTITION BY c ORDER BY id) - 1 AS pos FROM t) WHERE pos != seq");
    cr_assert_eq(misplaced, 0,
                 "%lld rows committed out of their client's order",
                 (long long)misplaced);
}

/* run_writers(), assert_rows(), and the daemon's stats afterwards in
 * @s. */
static void write_and_check(int n, int rows, struct harness_stats *s)
{
    run_writers(n, rows);
    sqlited *db = harness_connect(&d);
    assert_rows(db, n, rows);
    sqlited_close(db);
    harness_stats(&d, s);
}

/* 16 clients, each writing 500 rows one request at a time: requests that
 * wait while the writer commits are committed together. */
Test(group, concurrent_writers_share_commits)
{
    enum { CLIENTS = 16, ROWS = 500 };
    struct harness_stats s;
    write_and_check(CLIENTS, ROWS, &s);
    cr_assert_geq(s.group_requests, CLIENTS * ROWS,
                  "group_requests %lld for %d writes",
                  (long long)s.group_requests, CLIENTS * ROWS);
    cr_assert_gt(s.group_max, 1, "no group held more than one request");
    cr_assert_lt(s.groups, s.group_requests,
                 "%lld groups for %lld requests: none was shared",
                 (long long)s.groups, (long long)s.group_requests);
    cr_assert_leq(s.group_max, s.group_requests);
}

/* --group-max 1: every request commits alone, and all still arrive in
 * order. */
Test(group, group_max_one_commits_alone)
{
    enum { CLIENTS = 8, ROWS = 100 };
    daemon_cleanup(&d);
    start((const char *const[]){"--group-max", "1", NULL});
    struct harness_stats s;
    write_and_check(CLIENTS, ROWS, &s);
    cr_assert_eq(s.group_max, 1);
    cr_assert_eq(s.groups, s.group_requests);
    cr_assert_geq(s.group_requests, CLIENTS * ROWS);
}

/* Many clients pipeline inserts at once, some of which hit a UNIQUE key
 * that is already taken. Those fail with SQLITE_CONSTRAINT_UNIQUE, alone:
 * every other insert, committed in the same groups, is there, and nothing
 * of the failed ones (each a script whose first insert is fine) is. */
Test(group, failure_is_isolated_within_group)
{
    enum { CONNS = 8, PER_CONN = 250, BAD_EVERY = 5 };
    static struct harness_raw conns[CONNS];
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE u(id INTEGER PRIMARY KEY, "
                     "k INTEGER NOT NULL UNIQUE)");
    /* The keys the bad inserts repeat. */
    harness_exec(db, "INSERT INTO u(k) VALUES (-1), (-2), (-3)");

    for (int c = 0; c < CONNS; c++)
        harness_raw_open(&conns[c], &d);
    /* Each connection's requests go out in one write, and every connection
     * is sent before any answer is read: the writer finds many queued. */
    for (int c = 0; c < CONNS; c++) {
        for (uint32_t i = 0; i < PER_CONN; i++) {
            char sql[128];
            int64_t k = c * 1000 + (int64_t)i;
            if (i % BAD_EVERY == 0)
                snprintf(sql, sizeof(sql),
                         "INSERT INTO u(k) VALUES (%lld); "
                         "INSERT INTO u(k) VALUES (%d)",
                         (long long)k, -1 - (int)(i % 3));
            else
                snprintf(sql, sizeof(sql), "INSERT INTO u(k) VALUES (%lld)",
                         (long long)k);
            harness_pack_sql(&conns[c].b, i + 1, "exec", sql);
        }
        harness_send_buf(conns[c].fd, &conns[c].b);
    }

    int failed = 0;
    for (int c = 0; c < CONNS; c++) {
        bool seen[PER_CONN + 1] = {false};
        for (int n = 0; n < PER_CONN; n++) {
            struct reply rep;
            harness_read_reply(&conns[c].r, &rep);
            cr_assert_eq(rep.kind, 1);
            cr_assert(rep.msgid >= 1 && rep.msgid <= PER_CONN &&
                          !seen[rep.msgid],
                      "connection %d: msgid %u", c, rep.msgid);
            seen[rep.msgid] = true;
            uint32_t i = rep.msgid - 1;
            if (i % BAD_EVERY == 0) {
                harness_assert_error(&rep, 2067, "SQLITE_CONSTRAINT_UNIQUE",
                                     "UNIQUE constraint failed: u.k");
                failed++;
            } else {
                cr_assert_not(rep.is_error, "connection %d, insert %u: %s: %s",
                              c, i, rep.name, rep.message);
                cr_assert_eq(harness_result_int(rep.result, "changes"), 1);
            }
            reply_free(&rep);
        }
        harness_raw_close(&conns[c]);
    }
    int good = CONNS * PER_CONN - failed;
    cr_assert_eq(failed, CONNS * PER_CONN / BAD_EVERY);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM u WHERE k >= 0"),
                 good);
    /* Exactly the keys of the good inserts. */
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM u WHERE k >= 0 "
                                       "AND (k % 1000 >= 250 OR "
                                       "k % 1000 % 5 = 0 OR k / 1000 >= 8)"),
                 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM u WHERE k < 0"),
                 3);
    sqlited_close(db);

    /* The bad inserts really shared groups with good ones. */
    struct harness_stats s;
    harness_stats(&d, &s);
    cr_assert_gt(s.group_max, 1, "no group held more than one request");
}
