/* The sqlited client of the benchmark: every workload through libsqlited. */
#include "bench.h"

#include <stdlib.h>

#include "sqlited.h"

struct sq {
    sqlited *db;
    sqlited_params *params;
    sqlited_params *bulk; /* a bulk round's values, built once */
};

static int sq_fail(struct client *c, const char *what, int rc)
{
    struct sq *q = c->conn;
    return load_fail(c, "%s: %s: %s", what, sqlited_codename(rc),
                     q && q->db ? sqlited_errmsg(q->db) : sqlited_strerror(rc));
}

/* A call's outcome as a client_op's: a broken connection ends the client,
 * any other error is counted. */
static int sq_outcome(struct client *c, const char *what, int rc)
{
    if (rc == 0)
        return 0;
    sq_fail(c, what, rc);
    return rc == SQLITED_ECLOSED || rc == SQLITED_EPROTO ||
                   (rc < 0 && rc > -1000)
               ? -1
               : 1;
}

static int sq_open(struct client *c)
{
    struct sq *q = calloc(1, sizeof(*q));
    int rc;

    if (!q)
        return load_fail(c, "out of memory");
    c->conn = q;
    rc = sqlited_open(c->spec->socket_path, 10000, &q->db);
    if (rc)
        return sq_fail(c, "sqlited_open", rc);
    if (sqlited_params_open(&q->params) || sqlited_params_open(&q->bulk))
        return load_fail(c, "out of memory");
    if (c->spec->workload == W_BULK) {
        uint64_t n = spec_units_per_op(c->spec);
        for (uint64_t i = 0; i < n; i++)
            if (sqlited_params_add_text(q->bulk, NULL, VALUE_TEXT, -1))
                return load_fail(c, "out of memory");
    }
    return 0;
}

static void sq_close(struct client *c)
{
    struct sq *q = c->conn;

    if (!q)
        return;
    sqlited_params_close(q->params);
    sqlited_params_close(q->bulk);
    sqlited_close(q->db);
    free(q);
}

/* Reads the one row a point read returns, checking it is the one asked. */
static int point_check(struct client *c, sqlited_rows *rows, int64_t key)
{
    int rc = sqlited_rows_next(rows);

    if (rc != SQLITED_ROW || sqlited_column_int64(rows, 0) != key ||
        !sqlited_column_text(rows, 1)) {
        sqlited_rows_close(rows);
        return load_fail(c, "point read of %lld: no such row", (long long)key);
    }
    sqlited_rows_close(rows);
    return 0;
}

static int op_ping(struct client *c)
{
    struct sq *q = c->conn;
    return sq_outcome(c, "ping", sqlited_ping(q->db));
}

static int op_point(struct client *c)
{
    struct sq *q = c->conn;
    int64_t key = (int64_t)load_random(c, TABLE_ROWS) + 1;
    sqlited_rows *rows;
    int rc;

    sqlited_params_clear(q->params);
    sqlited_params_add_int64(q->params, NULL, key);
    rc = sq_outcome(c, "query",
                    sqlited_query(q->db, POINT_SQL, q->params, &rows));
    if (rc)
        return rc;
    return point_check(c, rows, key);
}

static int op_insert(struct client *c)
{
    struct sq *q = c->conn;

    sqlited_params_clear(q->params);
    sqlited_params_add_text(q->params, NULL, VALUE_TEXT, -1);
    return sq_outcome(c, "exec",
                      sqlited_exec(q->db, INSERT_SQL, q->params, NULL));
}

static int op_mixed(struct client *c)
{
    return load_random(c, 10) == 0 ? op_insert(c) : op_point(c);
}

static int op_bulk(struct client *c)
{
    struct sq *q = c->conn;
    return sq_outcome(c, "exec_many",
                      sqlited_exec_many(q->db, INSERT_SQL, q->bulk, 1));
}

static int op_stream(struct client *c)
{
    struct sq *q = c->conn;
    sqlited_rows *rows;
    uint64_t n = 0;
    int rc =
        sq_outcome(c, "query", sqlited_query(q->db, STREAM_SQL, NULL, &rows));

    if (rc)
        return rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        if (sqlited_column_int64(rows, 0) <= 0 || !sqlited_column_text(rows, 1))
            break;
        n++;
    }
    sqlited_rows_close(rows);
    if (rc != SQLITED_DONE || n != STREAM_ROWS)
        return load_fail(c, "stream ended after %llu rows: %s",
                         (unsigned long long)n, sqlited_codename(rc));
    return 0;
}

/* Point reads with PIPELINE_DEPTH requests in flight: whenever one answer
 * comes, whichever it is, the next request goes out. Each is timed from
 * its send to its answer. */
static int run_pipelined(struct client *c)
{
    struct sq *q = c->conn;
    struct {
        uint32_t id;
        int64_t key, sent_ns;
    } flight[PIPELINE_DEPTH] = {{0}};

    for (;;) {
        bool sending = load_running(c);
        for (int i = 0; sending && i < PIPELINE_DEPTH; i++) {
            if (flight[i].id)
                continue;
            flight[i].key = (int64_t)load_random(c, TABLE_ROWS) + 1;
            flight[i].sent_ns = now_ns();
            sqlited_params_clear(q->params);
            sqlited_params_add_int64(q->params, NULL, flight[i].key);
            int rc =
                sqlited_send_query(q->db, POINT_SQL, q->params, &flight[i].id);
            if (rc)
                return sq_fail(c, "sqlited_send_query", rc);
        }
        if (sqlited_pending(q->db) == 0)
            return 0;

        sqlited_rows *rows;
        uint32_t got = 0;
        int rc = sqlited_receive(q->db, SQLITED_ANY, &got, &rows);
        int i = 0;
        if (sq_outcome(c, "sqlited_receive", rc) < 0)
            return -1;
        while (i < PIPELINE_DEPTH && flight[i].id != got)
            i++;
        if (i == PIPELINE_DEPTH)
            return load_fail(c, "an answer to request %u, never sent",
                             (unsigned)got);
        flight[i].id = 0;
        if (rc == 0 && point_check(c, rows, flight[i].key))
            return -1;
        load_record(c, flight[i].sent_ns, rc == 0);
    }
}

static int sq_run(struct client *c)
{
    static const client_op ops[W_COUNT] = {
        [W_PING] = op_ping,          [W_POINT] = op_point,
        [W_INSERT_FULL] = op_insert, [W_INSERT_NORMAL] = op_insert,
        [W_BULK] = op_bulk,          [W_MIXED] = op_mixed,
        [W_STREAM] = op_stream,
    };

    if (c->spec->workload == W_PIPELINED)
        return run_pipelined(c);
    return load_loop(c, ops[c->spec->workload]);
}

const struct client_ops sqlited_client_ops = {sq_open, sq_run, sq_close};
