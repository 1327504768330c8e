#include "maintenance.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "codec.h"
#include "log.h"
#include "sqlited.h"

bool maintenance_writer_job(const struct job *job)
{
    return job->method == RPC_OPTIMIZE || job->method == RPC_VACUUM ||
           job->method == RPC_MIGRATE;
}

/* Gives @job the worker's connection: its deadline, its cancellation, and
 * the authorizer's leave (the daemon's own statements). Returns false, with
 * the job answered (or not, if its client left), when it must not run. */
static bool enter(struct worker *w, struct job *job)
{
    if (!worker_claim(w, job))
        return false;
    worker_begin(w, job);
    w->auth.internal = true;
    return true;
}

static void leave(struct worker *w)
{
    w->auth.internal = false;
    w->current = NULL;
    w->deadline = 0;
}

/* Answers @job with the connection's error from @what, into @message too;
 * an interruption by the progress handler, and a cancel that ended a wait
 * for another process's lock, are told as what they were. */
static void fail_message(struct worker *w, struct job *job, int rc,
                         const char *what, char *message, size_t size)
{
    int code = sqlite3_extended_errcode(w->db);

    if (code == SQLITE_OK)
        code = rc;
    /* The busy handler gives up on a cancel while the work waits for the
     * write lock another process holds: it never began. */
    if ((rc & 0xff) == SQLITE_BUSY && worker_cancel_asked(job)) {
        snprintf(message, size, "%s: %s", what, JOB_CANCELLED_BEFORE);
        job_fail(job, SQLITED_INTERRUPTED, message);
        stats_add(&w->stats->cancelled, 1);
        return;
    }
    if ((rc & 0xff) == SQLITE_INTERRUPT && w->cancel_seen) {
        snprintf(message, size, "%s: %s", what, JOB_CANCELLED_RUNNING);
        job_fail(job, SQLITED_INTERRUPTED, message);
        stats_add(&w->stats->cancelled, 1);
        return;
    }
    if ((rc & 0xff) == SQLITE_INTERRUPT && atomic_load(&job->cancelled)) {
        /* Nobody reads the answer: the log line is what remains. */
        snprintf(message, size,
                 "%s: the client went away: it was interrupted and nothing "
                 "of it was applied",
                 what);
        job_fail(job, SQLITED_INTERRUPTED, message);
        return;
    }
    if ((rc & 0xff) == SQLITE_INTERRUPT && w->timed_out) {
        snprintf(message, size,
                 "%s: the request's deadline (%u ms) passed while it ran, so "
                 "it was interrupted (set timeout_ms, 0 for none)",
                 what, job->timeout_ms);
        job_fail(job, SQLITED_TIMEOUT, message);
        stats_add(&w->stats->timeouts, 1);
        return;
    }
    if ((rc & 0xff) == SQLITE_INTERRUPT && atomic_load(w->stop)) {
        snprintf(message, size, "%s: interrupted: the daemon is shutting down",
                 what);
        job_fail(job, SQLITED_INTERRUPTED, message);
        return;
    }
    snprintf(message, size, "%s: %s", what, sqlite3_errmsg(w->db));
    job_fail(job, code, message);
}

/* fail_message(), and the log line that says how the work ended. */
static void fail_db(struct worker *w, struct job *job, int rc, const char *what)
{
    char message[512];

    fail_message(w, job, rc, what, message, sizeof(message));
    log_info("%s", message);
}

/* Runs @sql, which returns at most one integer, into *@out (may be NULL). */
static int run_int(struct worker *w, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(w->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (out)
            *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void reply(struct job *job, struct codec_buf *out)
{
    if (out->error == CODEC_BUF_OK)
        job_reply(job, out->data, out->len);
    else
        job_fail(job, SQLITED_INTERNAL, "out of memory");
    codec_buf_close(out);
}

static uint64_t ms_since(int64_t start)
{
    return (uint64_t)((clock_now() - start) / CLOCK_NS_PER_MS);
}

/* optimize: PRAGMA optimize, or with analyze a full ANALYZE. */
static void run_optimize(struct worker *w, struct job *job)
{
    struct codec_buf out;
    int64_t start = clock_now();
    const char *sql = job->full ? "ANALYZE" : "PRAGMA optimize";
    log_info("optimize: %s started", sql);
    int rc = run_int(w, sql, NULL);

    if (rc != SQLITE_OK) {
        fail_db(w, job, rc, sql);
        return;
    }
    codec_buf_init(&out, 0);
    msgpack_pack_map(&out.pk, 2);
    codec_pack_cstr(&out, "analyze");
    if (job->full)
        msgpack_pack_true(&out.pk);
    else
        msgpack_pack_false(&out.pk);
    codec_pack_cstr(&out, "duration_ms");
    msgpack_pack_uint64(&out.pk, ms_since(start));
    reply(job, &out);
    log_info("optimize: %s done in %" PRIu64 " ms", sql, ms_since(start));
}

/* vacuum: the database's size (pages times page size) before and after.
 * The file itself shrinks when the WAL holding the new pages is next
 * checkpointed. */
static void run_vacuum(struct worker *w, struct job *job)
{
    struct codec_buf out;
    int64_t start = clock_now();
    int64_t page_size = 0, before = 0, after = 0;
    int rc;

    if ((rc = run_int(w, "PRAGMA page_size", &page_size)) != SQLITE_OK ||
        (rc = run_int(w, "PRAGMA page_count", &before)) != SQLITE_OK) {
        fail_db(w, job, rc, "reading the database's size");
        return;
    }
    log_info("vacuum: started on %" PRId64 " pages of %" PRId64 " bytes",
             before, page_size);
    if ((rc = run_int(w, "VACUUM", NULL)) != SQLITE_OK) {
        fail_db(w, job, rc, "VACUUM");
        return;
    }
    if ((rc = run_int(w, "PRAGMA page_count", &after)) != SQLITE_OK) {
        fail_db(w, job, rc, "reading the database's size");
        return;
    }
    uint64_t size_before = (uint64_t)(before * page_size);
    uint64_t size_after = (uint64_t)(after * page_size);
    codec_buf_init(&out, 0);
    msgpack_pack_map(&out.pk, 4);
    codec_pack_cstr(&out, "size_before");
    msgpack_pack_uint64(&out.pk, size_before);
    codec_pack_cstr(&out, "size_after");
    msgpack_pack_uint64(&out.pk, size_after);
    codec_pack_cstr(&out, "reclaimed");
    msgpack_pack_uint64(
        &out.pk, size_before > size_after ? size_before - size_after : 0);
    codec_pack_cstr(&out, "duration_ms");
    msgpack_pack_uint64(&out.pk, ms_since(start));
    reply(job, &out);
    log_info("vacuum: done in %" PRIu64 " ms, %" PRIu64 " bytes reclaimed",
             ms_since(start),
             size_before > size_after ? size_before - size_after : 0);
}

void maintenance_run(struct worker *w, struct job *job)
{
    if (!enter(w, job))
        return;
    if (job->method == RPC_VACUUM)
        run_vacuum(w, job);
    else
        run_optimize(w, job);
    leave(w);
}

void maintenance_integrity(struct worker *w, struct job *job)
{
    struct codec_buf out;
    sqlite3_stmt *st;
    char sql[64];
    const char *pragma = job->full ? "integrity_check" : "quick_check";
    uint32_t n = 0;
    bool ok = true;
    int rc;

    if (!enter(w, job))
        return;
    snprintf(sql, sizeof(sql), "PRAGMA %s(%d)", pragma,
             MAINTENANCE_MAX_PROBLEMS);
    int64_t start = clock_now();
    log_info("integrity: PRAGMA %s started", pragma);
    rc = sqlite3_prepare_v2(w->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        fail_db(w, job, rc, sql);
        leave(w);
        return;
    }
    codec_buf_init(&out, w->max_reply);
    msgpack_pack_map(&out.pk, 3);
    codec_pack_cstr(&out, "check");
    codec_pack_cstr(&out, job->full ? "full" : "quick");
    codec_pack_cstr(&out, "problems");
    size_t problems = codec_pack_array_later(&out);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") == 0)
            continue;
        ok = false;
        codec_pack_cstr(&out, line ? line : "");
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        codec_buf_close(&out);
        fail_db(w, job, rc, sql);
        leave(w);
        return;
    }
    codec_patch_array(&out, problems, n);
    codec_pack_cstr(&out, "ok");
    if (ok)
        msgpack_pack_true(&out.pk);
    else
        msgpack_pack_false(&out.pk);
    leave(w);
    reply(job, &out);
    log_info("integrity: PRAGMA %s done in %" PRIu64 " ms, %" PRIu32
             " problems",
             pragma, ms_since(start), n);
}
