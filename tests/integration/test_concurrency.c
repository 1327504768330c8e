/* Many clients at once, each on its own connection in its own thread.
 *
 * Criterion's assertions must run on the test's main thread, so the client
 * threads record the first thing that went wrong and the main thread
 * asserts on it. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

enum { THREADS = 8, REQUESTS = 1000 };

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(concurrency, .init = setup, .fini = teardown, .timeout = 60);

struct client {
    pthread_t thread;
    int id;
    const char *sock;
    int inserted;
    int checked;
    char failure[512]; /* empty while all is well */
};

__attribute__((format(printf, 2, 3))) static int fail(struct client *c,
                                                      const char *fmt, ...)
{
    va_list ap;
    if (c->failure[0])
        return -1;
    va_start(ap, fmt);
    vsnprintf(c->failure, sizeof(c->failure), fmt, ap);
    va_end(ap);
    return -1;
}

/* Runs @sql with @p and expects exactly one integer back. */
static int query_int(struct client *c, sqlited *db, const char *sql,
                     sqlited_params *p, int64_t *out)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, sql, p, &rows);
    if (rc != 0)
        return fail(c, "client %d: %s: %d %s: %s", c->id, sql, rc,
                    sqlited_errname(db), sqlited_errmsg(db));
    if (sqlited_rows_count(rows) != 1 ||
        sqlited_rows_next(rows) != SQLITED_ROW ||
        sqlited_column_type(rows, 0) != SQLITED_INTEGER) {
        sqlited_rows_close(rows);
        return fail(c, "client %d: %s: not one integer", c->id, sql);
    }
    *out = sqlited_column_int64(rows, 0);
    rc = sqlited_rows_next(rows);
    sqlited_rows_close(rows);
    if (rc != SQLITED_DONE)
        return fail(c, "client %d: %s: more than one row", c->id, sql);
    return 0;
}

/* Each client inserts rows (c->id, i) of its own, reads back a row it
 * inserted, and counts its rows; every answer is checked against what the
 * client itself did, which no other client can change. */
static int client_run(struct client *c, sqlited *db, sqlited_params *p)
{
    for (int i = 0; i < REQUESTS; i++) {
        int64_t v = -1;
        int rc;
        sqlited_params_clear(p);
        switch (i % 4) {
        case 0:
        case 1: {
            char text[64];
            snprintf(text, sizeof(text), "client %d row %d", c->id, i);
            if (sqlited_params_add_int64(p, ":t", c->id) ||
                sqlited_params_add_int64(p, ":i", i) ||
                sqlited_params_add_text(p, ":v", text, -1))
                return fail(c, "client %d: params", c->id);
            rc = sqlited_exec(
                db, "INSERT INTO items(t, i, v) VALUES (:t, :i, :v)", p, NULL);
            if (rc != 0)
                return fail(c, "client %d: insert %d: %d %s: %s", c->id, i, rc,
                            sqlited_errname(db), sqlited_errmsg(db));
            if (sqlited_changes(db) != 1)
                return fail(c, "client %d: insert %d: %lld changes", c->id, i,
                            (long long)sqlited_changes(db));
            if (sqlited_last_insert_rowid(db) <= 0)
                return fail(c, "client %d: insert %d: rowid %lld", c->id, i,
                            (long long)sqlited_last_insert_rowid(db));
            c->inserted++;
            break;
        }
        case 2: {
            /* The row inserted two requests ago: acknowledged, so visible. */
            int want = i - 2;
            if (sqlited_params_add_int64(p, NULL, c->id) ||
                sqlited_params_add_int64(p, NULL, want))
                return fail(c, "client %d: params", c->id);
            sqlited_rows *rows = NULL;
            rc = sqlited_query(db,
                               "SELECT i, v FROM items WHERE t = ? AND "
                               "i = ?",
                               p, &rows);
            if (rc != 0)
                return fail(c, "client %d: read %d: %d %s: %s", c->id, want, rc,
                            sqlited_errname(db), sqlited_errmsg(db));
            char text[64];
            snprintf(text, sizeof(text), "client %d row %d", c->id, want);
            bool ok = sqlited_rows_count(rows) == 1 &&
                      sqlited_rows_next(rows) == SQLITED_ROW &&
                      sqlited_column_int64(rows, 0) == want &&
                      sqlited_column_text(rows, 1) &&
                      strcmp(sqlited_column_text(rows, 1), text) == 0;
            sqlited_rows_close(rows);
            if (!ok)
                return fail(c, "client %d: row %d read back wrong", c->id,
                            want);
            break;
        }
        default:
            if (sqlited_params_add_int64(p, NULL, c->id))
                return fail(c, "client %d: params", c->id);
            if (query_int(c, db, "SELECT count(*) FROM items WHERE t = ?", p,
                          &v))
                return -1;
            if (v != c->inserted)
                return fail(c, "client %d: counted %lld rows, inserted %d",
                            c->id, (long long)v, c->inserted);
            break;
        }
        c->checked++;
    }
    return 0;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    sqlited *db = NULL;
    sqlited_params *p = NULL;
    int rc = sqlited_open(c->sock, HARNESS_IO_TIMEOUT_MS, &db);
    if (rc != 0) {
        fail(c, "client %d: open: %d %s", c->id, rc, sqlited_strerror(rc));
        return NULL;
    }
    if (sqlited_params_open(&p) != 0)
        fail(c, "client %d: params_open", c->id);
    else
        client_run(c, db, p);
    sqlited_params_close(p);
    sqlited_close(db);
    return NULL;
}

Test(concurrency, mixed_clients)
{
    sqlited *db = harness_connect(&d);
    /* No unique key: a row stored twice would show up in the counts below
     * instead of being refused. */
    harness_exec(db, "CREATE TABLE items(id INTEGER PRIMARY KEY, "
                     "t INTEGER NOT NULL, i INTEGER NOT NULL, "
                     "v TEXT NOT NULL)");
    struct client clients[THREADS];
    memset(clients, 0, sizeof(clients));
    for (int k = 0; k < THREADS; k++) {
        clients[k].id = k;
        clients[k].sock = d.sock_path;
        cr_assert_eq(
            pthread_create(&clients[k].thread, NULL, client_main, &clients[k]),
            0);
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(clients[k].thread, NULL);
    for (int k = 0; k < THREADS; k++) {
        cr_assert_str_empty(clients[k].failure, "%s", clients[k].failure);
        cr_assert_eq(clients[k].checked, REQUESTS);
        cr_assert_eq(clients[k].inserted, REQUESTS / 2);
    }

    int64_t total = (int64_t)THREADS * REQUESTS / 2;
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM items"), total);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM (SELECT DISTINCT "
                                       "t, i FROM items)"),
                 total);
    /* Each client's rows are exactly i = 0, 1, 4, 5, 8, 9, ... */
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM items "
                                       "WHERE i % 4 NOT IN (0, 1) OR i < 0 "
                                       "OR i >= 1000 OR t < 0 OR t >= 8"),
                 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM items WHERE v != "
                                       "'client ' || t || ' row ' || i"),
                 0);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
}

/* Many connections open at once, all served. */
Test(concurrency, many_connections)
{
    enum { N = 200 };
    static sqlited *conns[N];
    for (int i = 0; i < N; i++)
        conns[i] = harness_connect(&d);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sqlited_ping(conns[i]), 0, "connection %d", i);
        cr_assert_eq(harness_query_int(conns[i], "SELECT 5"), 5);
    }
    for (int i = 0; i < N; i++)
        sqlited_close(conns[i]);
    cr_assert_eq(daemon_stop(&d), 0);
}

struct counter_client {
    pthread_t thread;
    const char *sock;
    int id;
    char failure[256];
};

/* Each thread increments one shared counter 200 times with an UPDATE: the
 * writer serialises them, so none is lost. */
static void *counter_main(void *arg)
{
    struct counter_client *c = arg;
    sqlited *db = NULL;
    int rc = sqlited_open(c->sock, HARNESS_IO_TIMEOUT_MS, &db);
    if (rc != 0) {
        snprintf(c->failure, sizeof(c->failure), "open: %d", rc);
        return NULL;
    }
    for (int i = 0; i < 200; i++) {
        rc = sqlited_exec(db, "UPDATE counter SET n = n + 1", NULL, NULL);
        if (rc != 0 || sqlited_changes(db) != 1) {
            snprintf(c->failure, sizeof(c->failure),
                     "client %d: update %d: %d %s", c->id, i, rc,
                     sqlited_errmsg(db));
            break;
        }
    }
    sqlited_close(db);
    return NULL;
}

Test(concurrency, no_lost_updates)
{
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE counter(n INTEGER);"
                     "INSERT INTO counter VALUES (0)");
    struct counter_client clients[THREADS];
    memset(clients, 0, sizeof(clients));
    for (int k = 0; k < THREADS; k++) {
        clients[k].sock = d.sock_path;
        clients[k].id = k;
        cr_assert_eq(
            pthread_create(&clients[k].thread, NULL, counter_main, &clients[k]),
            0);
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(clients[k].thread, NULL);
    for (int k = 0; k < THREADS; k++)
        cr_assert_str_empty(clients[k].failure, "%s", clients[k].failure);
    cr_assert_eq(harness_query_int(db, "SELECT n FROM counter"), THREADS * 200);
    sqlited_close(db);
}
