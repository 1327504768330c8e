/* Another process holding the database's write lock (PROTOCOL.md,
 * Options): the daemon retries until the request's deadline, then answers
 * SQLITE_BUSY with nothing applied, and carries on. The test process plays
 * that other process, through SQLite directly, from a thread of its own. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <semaphore.h>
#include <sqlite3.h>
#include <stdio.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw conn;
static sqlited *db;

static void setup(void)
{
    db = harness_start_with_raw(&d, &conn, NULL);
    harness_exec(db, "CREATE TABLE t(x INTEGER)");
}

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &conn);
}

TestSuite(busy, .init = setup, .fini = teardown, .timeout = 60);

/* A thread that opens the database file, takes the write lock with BEGIN
 * IMMEDIATE, inserts 100, holds the lock @hold_ms and commits. */
struct locker {
    const char *path;
    int hold_ms;
    sem_t held; /* posted once the lock is taken, or the attempt failed */
    char failure[256];
    pthread_t thread;
};

static void *locker_main(void *arg)
{
    struct locker *l = arg;
    sqlite3 *ext = NULL;
    char *err = NULL;
    int rc = sqlite3_open_v2(l->path, &ext, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(ext, "BEGIN IMMEDIATE; INSERT INTO t VALUES (100)",
                          NULL, NULL, &err);
    if (rc != SQLITE_OK) {
        snprintf(l->failure, sizeof(l->failure), "taking the lock: %d %s", rc,
                 err ? err : sqlite3_errmsg(ext));
        sqlite3_free(err);
        sqlite3_close(ext);
        sem_post(&l->held);
        return NULL;
    }
    sem_post(&l->held);
    harness_sleep_ms(l->hold_ms);
    rc = sqlite3_exec(ext, "COMMIT", NULL, NULL, &err);
    if (rc != SQLITE_OK)
        snprintf(l->failure, sizeof(l->failure), "COMMIT: %d %s", rc,
                 err ? err : "");
    sqlite3_free(err);
    sqlite3_close(ext);
    return NULL;
}

/* Starts @l holding the lock for @hold_ms and returns once it holds it. */
static void locker_start(struct locker *l, int hold_ms)
{
    l->path = d.db_path;
    l->hold_ms = hold_ms;
    l->failure[0] = '\0';
    cr_assert_eq(sem_init(&l->held, 0, 0), 0);
    cr_assert_eq(pthread_create(&l->thread, NULL, locker_main, l), 0);
    while (sem_wait(&l->held) != 0)
        ;
    cr_assert_str_empty(l->failure, "%s", l->failure);
}

static void locker_join(struct locker *l)
{
    pthread_join(l->thread, NULL);
    sem_destroy(&l->held);
    cr_assert_str_empty(l->failure, "%s", l->failure);
}

/* A lock held for a moment is waited out: the write, sent while it is held,
 * succeeds, and the daemon counts its waits. */
Test(busy, short_lock_is_retried)
{
    struct locker l;
    locker_start(&l, 300);
    harness_raw_exec(&conn, "INSERT INTO t VALUES (1)", NULL);
    locker_join(&l);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 2);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 101);
    struct harness_stats s;
    harness_stats(&d, &s);
    cr_assert_gt(s.busy_retries, 0, "the write never waited for the lock");
}

/* A lock held past the request's deadline: SQLITE_BUSY, nothing of the
 * request applied, and the daemon healthy afterwards. */
Test(busy, lock_past_deadline_is_busy)
{
    struct locker l;
    locker_start(&l, 1500);
    struct reply rep;
    harness_raw_sql(
        &conn, "exec", "INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)",
        &(struct harness_options){.has_timeout = true, .timeout_ms = 300},
        &rep);
    harness_assert_error(&rep, SQLITE_BUSY, "SQLITE_BUSY", NULL);
    reply_free(&rep);
    locker_join(&l);

    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1,
                 "the timed-out write left rows behind");
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 100);
    cr_assert_eq(sqlited_ping(db), 0);
    harness_raw_exec(&conn, "INSERT INTO t VALUES (3)", NULL);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 103);
    struct harness_stats s;
    harness_stats(&d, &s);
    cr_assert_gt(s.busy_retries, 0);
}

/* Same for a batch: the whole batch waits and fails together. */
Test(busy, batch_past_deadline_applies_nothing)
{
    struct locker l;
    locker_start(&l, 1500);
    static const char *const steps[] = {"INSERT INTO t VALUES (1)",
                                        "INSERT INTO t VALUES (2)"};
    harness_pack_batch_sql(
        &conn.b, 1, steps, 2,
        &(struct harness_options){.has_timeout = true, .timeout_ms = 300});
    struct reply rep;
    harness_raw_call(&conn, 1, &rep);
    harness_assert_error(&rep, SQLITE_BUSY, "SQLITE_BUSY", NULL);
    reply_free(&rep);
    locker_join(&l);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 100);
}
