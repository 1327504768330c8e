#include "run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbfile.h"
#include "sqlited.h"

int run_fail(struct run *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    r->code = code;
    return code;
}

/* Records the connection's last error. SQLITE_INTERRUPT caused by our own
 * progress handler is reported as what it is. */
int run_fail_sqlite(struct run *r, int rc)
{
    struct worker *w = r->w;
    /* A reader (pool or loop) cannot have applied anything: saying so of
     * a SELECT would only puzzle. */
    const char *undone =
        w->writer ? "it was interrupted and nothing of it was applied"
                  : "the read was interrupted";
    if ((rc & 0xff) == SQLITE_INTERRUPT && w->cancel_seen)
        return run_fail(r, SQLITED_INTERRUPTED, JOB_CANCELLED_WHILE "%s",
                        undone);
    if ((rc & 0xff) == SQLITE_INTERRUPT && w->released)
        return run_fail(
            r, SQLITED_INTERRUPTED,
            "interrupted: the WAL passed its limit (--wal-max-bytes, "
            "%lld bytes) and this read held the oldest snapshot, "
            "which kept checkpoints from completing; run it again",
            (long long)w->cfg->wal_max_bytes);
    if ((rc & 0xff) == SQLITE_INTERRUPT && w->timed_out)
        return run_fail(
            r, SQLITED_TIMEOUT,
            "the request's deadline (%u ms) passed while it ran: %s",
            r->job->timeout_ms, undone);
    if ((rc & 0xff) == SQLITE_INTERRUPT && atomic_load(w->stop))
        return run_fail(
            r, SQLITED_INTERRUPTED,
            "interrupted: the daemon is shutting down and its grace "
            "period is over");
    int code = sqlite3_extended_errcode(w->db);
    if (code == SQLITE_OK)
        code = rc;
    dbfile_report(code, sqlite3_errmsg(w->db));
    /* A refusal is the cause whatever SQLite reports: SQLITE_ERROR "not
     * authorized to use function", or SQLITE_SCHEMA when the schema changed
     * under the statement that was refused. */
    if (w->auth.denied[0])
        return run_fail(r, w->auth.denied_code, "%s", w->auth.denied);
    if ((code & 0xff) == SQLITE_READONLY && w->cfg->read_only)
        return run_fail(r, code,
                        "%s: the daemon serves %s read-only (--read-only), so "
                        "writes are refused",
                        sqlite3_errmsg(w->db), w->cfg->database);
    if (code == SQLITE_BUSY_SNAPSHOT)
        return run_fail(
            r, code,
            "%s: another process wrote to the database since this "
            "transaction began reading, so it cannot write; roll it "
            "back and try again, or begin it immediate",
            sqlite3_errmsg(w->db));
    if ((code & 0xff) == SQLITE_BUSY)
        return run_fail(
            r, code,
            "%s: the database stayed locked by another process until "
            "the request's deadline (%u ms)",
            sqlite3_errmsg(w->db), r->job->timeout_ms);
    return run_fail(r, code, "%s", sqlite3_errmsg(w->db));
}

int run_fail_out(struct run *r, const struct codec_buf *out)
{
    if (out->error == CODEC_BUF_LIMIT)
        return run_fail(r, SQLITED_TOO_LARGE,
                        "the result is larger than the maximum message size "
                        "(%zu bytes); select fewer rows or columns",
                        r->w->max_reply);
    return run_fail(r, SQLITE_NOMEM, "out of memory encoding the result");
}

/* Prefixes the recorded error with the step that failed. */
void run_fail_step(struct run *r, uint32_t i)
{
    char prefix[16];
    int n = snprintf(prefix, sizeof(prefix), "step %u: ", i);
    size_t keep = sizeof(r->message) - (size_t)n - 1;
    memmove(r->message + n, r->message, keep);
    memcpy(r->message, prefix, (size_t)n);
    r->message[sizeof(r->message) - 1] = '\0';
    r->step = i;
}

static void count_timeout(struct worker *w, int code)
{
    if (code == SQLITED_TIMEOUT)
        stats_add(&w->stats->timeouts, 1);
    else if (code == SQLITED_INTERRUPTED && w->cancel_seen)
        stats_add(&w->stats->cancelled, 1);
}

/* Stores the job's reply: the encoding in @out, or r->code's error. */
void run_store_reply(struct run *r, struct codec_buf *out)
{
    if (r->code == 0 && out->error)
        run_fail_out(r, out);
    if (r->code != 0) {
        job_fail_step(r->job, r->code, r->message, r->step);
        count_timeout(r->w, r->code);
    } else {
        free(r->job->reply);
        r->job->reply = codec_buf_steal(out, &r->job->reply_len);
    }
    job_account_reply(r->job);
}
