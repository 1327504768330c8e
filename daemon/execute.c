#include "execute.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "batch.h"
#include "bind.h"
#include "clock.h"
#include "log.h"
#include "result.h"
#include "run.h"
#include "sqlited.h"
#include "sqltext.h"

/* In a group, VACUUM cannot run: the job must run again alone. */
static bool must_run_alone(struct run *r, const char *sql, const char *end)
{
    enum rpc_method m = r->job->method;
    if (!r->w->grouped || (m != RPC_EXEC && m != RPC_QUERY) ||
        !sqltext_is_vacuum(sql, end))
        return false;
    r->alone = true;
    run_fail(r, SQLITED_INTERNAL, "VACUUM runs alone");
    return true;
}

/* Brings @w's copy of the schema up to date. Pragmas that read the schema
 * (foreign_key_list, index_info, ...) compile their answer from that copy
 * when prepared and, for a table or index it lacks, check no schema cookie
 * when run: on a reader that has not seen the writer's latest change they
 * answer no rows. Stepping a statement that reads the database checks the
 * cookie, and SQLite reloads a schema that changed. Errors are left to the
 * statement that follows. */
static void refresh_schema(struct worker *w)
{
    sqlite3_stmt *st;
    bool internal = w->auth.internal;

    w->auth.internal = true;
    if (sqlite3_prepare_v2(w->db, "SELECT 1 FROM sqlite_schema LIMIT 0", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    w->auth.internal = internal;
}

/* Prepares the next statement of [*sql, end). Returns SQLITE_OK with *st NULL
 * when only white space and comments are left. A pragma is prepared against
 * the current schema (refresh_schema()). */
static int prepare(struct run *r, const char **sql, const char *end,
                   sqlite3_stmt **st)
{
    const char *tail;
    *st = NULL;
    if (must_run_alone(r, *sql, end))
        return r->code;
    if (sqltext_is_pragma(*sql, end))
        refresh_schema(r->w);
    r->w->auth.denied[0] = '\0';
    int rc =
        sqlite3_prepare_v3(r->w->db, *sql, (int)(end - *sql), 0, st, &tail);
    if (rc != SQLITE_OK)
        return run_fail_sqlite(r, rc);
    *sql = tail;
    return SQLITE_OK;
}

/* Prepares the first statement of @req, or takes it from the cache when
 * the text was seen before. Sets *@tail after it; when only filler follows,
 * the statement is the whole text and goes back to the cache afterwards
 * (execute_release()). */
int execute_prepare_first(struct run *r, const struct sql_req *req,
                          sqlite3_stmt **st, const char **tail)
{
    struct worker *w = r->w;
    const char *end = req->sql + req->sql_len;

    *tail = req->sql;
    if (must_run_alone(r, req->sql, end))
        return r->code;
    *st = stmt_cache_take(&w->cache, req->sql, req->sql_len);
    w->auth.denied[0] = '\0';
    if (*st != NULL) {
        stats_add(&w->stats->stmt_cache_hits, 1);
        *tail = end;
        return SQLITE_OK;
    }
    if (prepare(r, tail, end, st) != SQLITE_OK)
        return r->code;
    if (*st != NULL && sqltext_only_filler(*tail, end))
        stats_add(&w->stats->stmt_cache_misses, 1);
    return SQLITE_OK;
}

/* Done with @st from execute_prepare_first(): keep it when it is @req's whole
 * text. A savepoint statement is never kept: taken from the cache, it would
 * skip the authorizer, which allows it only inside a transaction. Nor is a
 * pragma: its answer may be compiled in, from the schema as it was. */
void execute_release(struct run *r, const struct sql_req *req, sqlite3_stmt *st,
                     const char *tail)
{
    if (st != NULL && !r->w->auth.savepoints &&
        !sqltext_is_pragma(req->sql, req->sql + req->sql_len) &&
        sqltext_only_filler(tail, req->sql + req->sql_len))
        stmt_cache_put(&r->w->cache, req->sql, req->sql_len, st);
    else
        sqlite3_finalize(st);
}

/* One statement, the usual case: the reply is encoded straight into r->out. */
static enum execute_result run_one(struct run *r, const struct sql_req *req,
                                   sqlite3_stmt *st)
{
    if (!r->w->writer && !sqlite3_stmt_readonly(st)) {
        if (!r->w->read_tx)
            return EXECUTE_FORWARD;
        run_fail(r, SQLITE_READONLY,
                 "this statement writes, and transaction %" PRIu64
                 " is read-only (begun with read_only): nothing was "
                 "written; write outside it, or in a transaction begun "
                 "without read_only",
                 r->job->tx);
        return EXECUTE_DONE;
    }
    if (bind_params(r, req, st) != SQLITE_OK)
        return EXECUTE_DONE;

    bool counts = r->w->writer;
    int rc = result_step_first(r, st);
    int ncols = sqlite3_column_count(st);
    if (!counts && ncols > 0 && r->job->method == RPC_QUERY) {
        cursor_first_chunk(r, st, rc);
        return EXECUTE_DONE;
    }
    msgpack_pack_map(&r->out->pk, (ncols > 0 ? result_column_keys(r) : 0u) +
                                      (counts ? 2u : 0u));
    if (result_step_all(r, st, rc, r->out) == SQLITE_OK && counts)
        result_pack_counts(r, r->out);
    return EXECUTE_DONE;
}

/* A script: exec without parameters holding several statements, the first
 * already prepared in @st and the rest in [sql, end). The rows of the last
 * statement with result columns are kept aside until the end, since only
 * then is it known which one that is. */
static void run_script(struct run *r, const struct sql_req *req,
                       sqlite3_stmt *st, const char *sql, const char *end)
{
    struct codec_buf rows;
    bool has_rows = false;

    r->script = true;
    codec_buf_init(&rows, r->w->max_reply);
    for (;;) {
        int rc = bind_params(r, req, st);
        if (rc == SQLITE_OK) {
            rc = result_step_first(r, st);
            if (sqlite3_column_count(st) > 0) {
                codec_buf_reset(&rows);
                r->rows = r->bytes = 0;
                has_rows = true;
            }
            rc = result_step_all(r, st, rc, &rows);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_OK || sqltext_only_filler(sql, end))
            break;
        if (prepare(r, &sql, end, &st) != SQLITE_OK || st == NULL)
            break;
    }
    if (r->code == 0) {
        msgpack_pack_map(&r->out->pk, has_rows ? 4 : 2);
        codec_buf_append(r->out, rows.data, rows.len);
        result_pack_counts(r, r->out);
    }
    codec_buf_close(&rows);
}

/* Prepares @req's first statement and runs it alone or as a script; @one
 * refuses scripts (query). */
enum execute_result execute_run_sql(struct run *r, const struct sql_req *req,
                                    bool one)
{
    const char *end = req->sql + req->sql_len, *tail;
    sqlite3_stmt *st = NULL;
    enum execute_result result = EXECUTE_DONE;

    if (execute_prepare_first(r, req, &st, &tail) != SQLITE_OK)
        return EXECUTE_DONE;
    if (st == NULL) {
        run_fail(r, SQLITED_BAD_REQUEST, "no SQL statement in the text");
        return EXECUTE_DONE;
    }
    if (r->w->auth.savepoints && !sqltext_only_filler(tail, end))
        run_fail(r, SQLITED_BAD_REQUEST,
                 "SAVEPOINT, RELEASE and ROLLBACK TO must be sent alone: one "
                 "statement per request, not in a script");
    else if (sqltext_only_filler(tail, end))
        result = run_one(r, req, st);
    else if (one)
        run_fail(r, SQLITED_BAD_REQUEST,
                 "query takes exactly one statement; send a script with exec");
    else if (req->nparams > 0)
        run_fail(r, SQLITED_BAD_REQUEST,
                 "SQL with parameters must be exactly one statement");
    else {
        run_script(r, req, st, tail, end);
        return EXECUTE_DONE; /* it finalized @st */
    }
    if (st != r->cursor_st)
        execute_release(r, req, st, tail);
    return result;
}

/* explain: the rows of EXPLAIN QUERY PLAN, without its unused column. */
static void run_explain(struct run *r)
{
    static const char prefix[] = "EXPLAIN QUERY PLAN ";
    const size_t n = sizeof(prefix) - 1;
    const struct sql_req *req = &r->job->req;
    struct sql_req plan = *req;
    sqlite3_stmt *st = NULL;
    const char *tail;
    char *sql = malloc(n + req->sql_len);
    int rc;

    if (sql == NULL) {
        run_fail(r, SQLITE_NOMEM, "out of memory");
        return;
    }
    memcpy(sql, prefix, n);
    memcpy(sql + n, req->sql, req->sql_len);
    plan.sql = sql;
    plan.sql_len = (uint32_t)(n + req->sql_len);
    if (execute_prepare_first(r, &plan, &st, &tail) != SQLITE_OK)
        goto out;
    if (st == NULL || !sqltext_only_filler(tail, plan.sql + plan.sql_len) ||
        sqlite3_column_count(st) < 4) {
        run_fail(r, SQLITED_BAD_REQUEST, "explain takes exactly one statement");
        goto out;
    }
    if (plan.nparams > 0 && bind_params(r, &plan, st) != SQLITE_OK)
        goto out;
    msgpack_pack_map(&r->out->pk, 2);
    codec_pack_cstr(r->out, "columns");
    msgpack_pack_array(&r->out->pk, 3);
    codec_pack_cstr(r->out, "id");
    codec_pack_cstr(r->out, "parent");
    codec_pack_cstr(r->out, "detail");
    codec_pack_cstr(r->out, "rows");
    size_t at = codec_pack_array_later(r->out);
    uint32_t rows = 0;
    while ((rc = result_step(r, st)) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        msgpack_pack_array(&r->out->pk, 3);
        msgpack_pack_int64(&r->out->pk, sqlite3_column_int64(st, 0));
        msgpack_pack_int64(&r->out->pk, sqlite3_column_int64(st, 1));
        codec_pack_cstr(r->out, detail ? detail : "");
        rows++;
    }
    if (rc != SQLITE_DONE)
        run_fail_sqlite(r, rc);
    codec_patch_array(r->out, at, rows);
out:
    execute_release(r, &plan, st, tail);
    free(sql);
}

/* In a group commit, requests commit together: a deferred foreign key
 * violation one of them leaves must fail that request, not the COMMIT of
 * all. (Inside an interactive transaction it may still be mended before
 * commit, as SQLite intends.) */
void execute_check_deferred(struct run *r)
{
    int now = 0, high = 0;
    if (!r->w->grouped)
        return;
    sqlite3_db_status(r->w->db, SQLITE_DBSTATUS_DEFERRED_FKS, &now, &high, 0);
    if (now > 0)
        run_fail(
            r, SQLITE_CONSTRAINT_FOREIGNKEY,
            "FOREIGN KEY constraint failed: the request leaves %d deferred "
            "foreign key violation%s, and outside a transaction of begin "
            "and commit deferred constraints are checked at the end of "
            "each request",
            now, now == 1 ? "" : "s");
}

/* True when SQLite rolled back the transaction the job ran in. */
bool execute_tx_lost(const struct worker *w)
{
    return w->in_tx && sqlite3_get_autocommit(w->db);
}
static enum execute_result run(struct run *r)
{
    switch (r->job->method) {
    case RPC_BATCH:
        batch_run(r);
        return EXECUTE_DONE;
    case RPC_BULK:
        batch_run_bulk(r);
        return EXECUTE_DONE;
    case RPC_EXPLAIN:
        run_explain(r);
        return EXECUTE_DONE;
    default:
        return execute_run_sql(r, &r->job->req, r->job->method == RPC_QUERY);
    }
}

/* Runs the job once, in a savepoint when a transaction is open. A client's
 * own SAVEPOINT, RELEASE or ROLLBACK TO, sent alone inside an interactive
 * transaction, runs without one: the client's savepoint must outlive the
 * request (the daemon's RELEASE would release it with its own), and its
 * ROLLBACK TO would cancel the daemon's savepoint. */
static enum execute_result attempt(struct run *r)
{
    struct worker *w = r->w;
    enum rpc_method m = r->job->method;
    bool wrap = w->in_tx;
    int rc;

    w->auth.in_tx = w->in_tx && !w->grouped;
    w->auth.savepoints =
        w->auth.in_tx && (m == RPC_EXEC || m == RPC_QUERY) &&
        sqltext_is_savepoint(r->job->req.sql,
                             r->job->req.sql + r->job->req.sql_len);
    if (w->auth.savepoints)
        wrap = false;
    enum execute_result result = EXECUTE_DONE;
    if (wrap && (rc = worker_control(w, CONTROL_SAVEPOINT)) != SQLITE_OK) {
        run_fail(r, rc, "cannot open a savepoint: %s", sqlite3_errmsg(w->db));
        result = execute_tx_lost(w) ? EXECUTE_LOST : EXECUTE_DONE;
        goto out;
    }
    result = run(r);
    if (execute_tx_lost(w)) {
        result = EXECUTE_LOST;
        goto out;
    }
    if (r->code == 0 && result == EXECUTE_DONE)
        execute_check_deferred(r);
    if (wrap) {
        if (r->code != 0 || result != EXECUTE_DONE)
            worker_control(w, CONTROL_ROLLBACK_TO);
        worker_control(w, CONTROL_RELEASE);
    } else if (!w->in_tx && !w->read_tx && !sqlite3_get_autocommit(w->db)) {
        /* Cannot happen (the authorizer refuses transaction control), but a
         * transaction left open would swallow every later job. */
        worker_rollback(w);
        if (r->code == 0)
            run_fail(r, SQLITED_INTERNAL, "the SQL left a transaction open");
    }
    /* What cannot run inside a transaction says SQLITE_LOCKED there: in a
     * group, a single statement tries again alone. (A script would then run
     * unprotected by a savepoint.) PRAGMA wal_checkpoint, the known case,
     * never gets here: it is the checkpoint method's (checkpoint.c). */
    if (r->alone ||
        (w->grouped && (r->code & 0xff) == SQLITE_LOCKED && !r->script &&
         (r->job->method == RPC_EXEC || r->job->method == RPC_QUERY)))
        result = EXECUTE_ALONE;
out:
    w->auth.in_tx = w->auth.savepoints = false;
    return result;
}

/* Locks held by another process are waited out by the busy handler;
 * SQLITE_BUSY still comes back when SQLite cannot wait (a snapshot that went
 * stale), and then the whole job is tried again, as long as nothing of it
 * stayed applied. */
static bool worth_retrying(const struct run *r)
{
    return r->code > 0 && (r->code & 0xff) == SQLITE_BUSY &&
           r->code != SQLITE_BUSY_SNAPSHOT && (r->w->in_tx || !r->w->writer);
}

/* On a loop's connection, what a reader would finish where the loop may
 * not: a read stopped by the budget (or by the job's own deadline, or a
 * shutdown: the reader answers those as it would have anyway), one that met
 * a lock the loop must not wait for, or one that needs a cursor. */
static bool unfinished_on_loop(const struct run *r)
{
    int primary = r->code & 0xff;
    return r->handoff || r->w->timed_out || atomic_load(r->w->stop) ||
           primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

enum execute_result execute_job(struct worker *w, struct job *job)
{
    struct codec_buf out;
    struct run r;
    enum execute_result result;

    if (job->cursor != NULL) { /* fetch, close, a read-only tx's end */
        cursor_run(job);
        return EXECUTE_DONE;
    }
    if (!worker_claim(w, job))
        return EXECUTE_DONE;
    if (job->probe) {
        health_run(w, job);
        return EXECUTE_DONE;
    }
    /* A read-only client's query that turned out to write (a reader passed
     * it on). */
    if (w->writer && job->read_only) {
        access_refuse_write(job);
        return EXECUTE_DONE;
    }
    worker_begin(w, job);
    w->released = false;
    if (w->watch)
        atomic_store_explicit(&w->watch->started, clock_now(),
                              memory_order_relaxed);
    codec_buf_init(&out, w->max_reply);
    for (int i = 0;; i++) {
        r = (struct run){.w = w,
                         .job = job,
                         .out = &out,
                         .step = -1,
                         .max_rows = job->max_rows,
                         .max_bytes = job->max_bytes};
        w->auth.denied[0] = '\0';
        codec_buf_reset(&out);
        rpc_pack_response_head(&out, job->msgid);
        result = attempt(&r);
        if (result != EXECUTE_DONE || w->on_loop || !worth_retrying(&r) ||
            !worker_backoff(w, i))
            break;
    }
    if (w->watch)
        atomic_store_explicit(&w->watch->started, 0, memory_order_relaxed);
    w->current = NULL;
    w->deadline = 0;
    if (w->on_loop && result == EXECUTE_DONE && unfinished_on_loop(&r))
        result = EXECUTE_HANDOFF;
    if (r.code == 0 && out.error)
        run_fail_out(&r, &out);
    if (r.cursor_st != NULL)
        cursor_open(&r);

    if (result == EXECUTE_FORWARD || result == EXECUTE_ALONE ||
        result == EXECUTE_HANDOFF || atomic_load(&job->cancelled)) {
        codec_buf_close(&out);
        return result;
    }
    if (r.code == 0 && result == EXECUTE_LOST)
        run_fail(&r, SQLITED_INTERNAL, "SQLite rolled the transaction back");
    run_store_reply(&r, &out);
    codec_buf_close(&out);
    return result;
}
