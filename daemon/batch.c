#include "batch.h"

#include "bind.h"
#include "execute.h"
#include "result.h"
#include "sqlited.h"
#include "sqltext.h"

/* batch: each step [sql, params?] in order. Atomic, the first failure fails
 * the job (and its savepoint undoes the steps before); otherwise each step
 * has a savepoint of its own and its error is reported in "errors". */
void batch_run(struct run *r)
{
    struct job *job = r->job;
    struct codec_reader steps = job->items;
    struct codec_buf errors;

    codec_buf_init(&errors, r->w->max_reply);
    msgpack_pack_map(&r->out->pk, 2);
    codec_pack_cstr(r->out, "results");
    msgpack_pack_array(&r->out->pk, job->nitems);
    for (uint32_t i = 0; i < job->nitems; i++) {
        struct sql_req req = {0};
        uint32_t n;
        if (codec_read_array(&steps, &n) ||
            codec_read_str(&steps, &req.sql, &req.sql_len) ||
            (n > 1 && bind_read_params(r, &steps, &req) != SQLITE_OK)) {
            run_fail(r, SQLITED_BAD_REQUEST, "malformed step");
            run_fail_step(r, i);
            break;
        }
        size_t mark = r->out->len;
        r->changes = 0;
        if (!job->atomic)
            worker_control(r->w, CONTROL_SAVEPOINT);
        execute_run_sql(r, &req, false);
        if (r->code == 0 && !job->atomic)
            execute_check_deferred(r);
        if (r->code != 0 && (job->atomic || execute_tx_lost(r->w))) {
            run_fail_step(r, i);
            break;
        }
        if (r->code != 0) {
            worker_control(r->w, CONTROL_ROLLBACK_TO);
            codec_buf_truncate(r->out, mark);
            msgpack_pack_nil(&r->out->pk);
            rpc_pack_error(&errors, r->code, r->message);
            r->code = 0;
        } else {
            msgpack_pack_nil(&errors.pk);
        }
        if (!job->atomic)
            worker_control(r->w, CONTROL_RELEASE);
    }
    if (r->code == 0) {
        codec_pack_cstr(r->out, "errors");
        msgpack_pack_array(&r->out->pk, job->nitems);
        if (errors.error)
            run_fail_out(r, &errors);
        codec_buf_append(r->out, errors.data, errors.len);
    }
    codec_buf_close(&errors);
}

/* bulk: one statement, prepared once, run for each parameter set. */
void batch_run_bulk(struct run *r)
{
    struct job *job = r->job;
    struct codec_reader sets = job->items;
    const char *end = job->req.sql + job->req.sql_len, *tail;
    sqlite3_stmt *st = NULL;

    if (execute_prepare_first(r, &job->req, &st, &tail) != SQLITE_OK)
        return;
    if (st == NULL || !sqltext_only_filler(tail, end) ||
        sqlite3_column_count(st) > 0)
        run_fail(r, SQLITED_BAD_REQUEST,
                 st == NULL ? "no SQL statement in the text"
                 : sqlite3_column_count(st) > 0
                     ? "bulk takes a statement that returns no rows; use batch "
                       "for RETURNING or SELECT"
                     : "bulk takes exactly one statement");
    for (uint32_t i = 0; r->code == 0 && i < job->nitems; i++) {
        struct sql_req req;
        if (bind_read_params(r, &sets, &req) == SQLITE_OK &&
            bind_params(r, &req, st) == SQLITE_OK)
            result_step_all(r, st, result_step_first(r, st),
                            r->out); /* adds changes */
        if (r->code != 0)
            run_fail_step(r, i);
        sqlite3_reset(st);
    }
    execute_release(r, &job->req, st, tail);
    if (r->code == 0) {
        msgpack_pack_map(&r->out->pk, 2);
        result_pack_counts(r, r->out);
    }
}
