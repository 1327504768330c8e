#include "worker.h"

#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "db.h"
#include "log.h"

/* How many virtual-machine steps pass between two looks at the stop flags:
 * small enough to stop a runaway query within microseconds, large enough to
 * cost nothing measurable. */
#define PROGRESS_STEPS 1000

/* Busy waits: the first retry after about 1 ms, doubling up to 100 ms,
 * each drawn from [d/2, 3d/2) so that waiters do not retry in lockstep. */
#define BACKOFF_FIRST_NS (CLOCK_NS_PER_MS)
#define BACKOFF_MAX_NS (100 * CLOCK_NS_PER_MS)

/* How often a worker measures its connection's schema and statements:
 * SQLite measures them by walking every schema object and statement, which
 * cost a point read 14 % of its instructions when done for every job. */
#define WORKER_MEASURE_NS (1000 * CLOCK_NS_PER_MS)

static const char *const control_sql[CONTROL_COUNT] = {
    [CONTROL_BEGIN_DEFERRED] = "BEGIN DEFERRED",
    [CONTROL_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [CONTROL_COMMIT] = "COMMIT",
    [CONTROL_ROLLBACK] = "ROLLBACK",
    [CONTROL_SAVEPOINT] = "SAVEPOINT sqlited",
    [CONTROL_RELEASE] = "RELEASE sqlited",
    [CONTROL_ROLLBACK_TO] = "ROLLBACK TO sqlited",
};

/* True when the loop asked to end the running job: the WAL is over its
 * limit and this job holds the oldest snapshot. */
static bool must_release(const struct worker *w)
{
    if (w->watch == NULL)
        return false;
    int64_t before =
        atomic_load_explicit(&w->watch->release_before, memory_order_relaxed);
    int64_t started =
        atomic_load_explicit(&w->watch->started, memory_order_relaxed);
    return before != 0 && started != 0 && started < before;
}

static int progress(void *arg)
{
    struct worker *w = arg;
    if (w->current && atomic_load(&w->current->cancelled))
        return 1;
    if (w->current && worker_cancel_asked(w->current)) {
        w->cancel_seen = true;
        return 1;
    }
    if (must_release(w)) {
        w->released = true;
        return 1;
    }
    if (clock_passed(w->deadline, clock_now())) {
        w->timed_out = true;
        return 1;
    }
    return atomic_load(w->stop);
}

/* Sleeps before retry @attempt (0, 1, ...) of work that met a lock held by
 * another process. Returns false, without sleeping, when the work must give
 * up instead: its deadline has passed, its client left or cancelled it (or
 * cancelled one of the group waiting), or the daemon is stopping. Never
 * sleeps past the deadline. */
bool worker_backoff(struct worker *w, int attempt)
{
    int64_t now = clock_now();
    if (clock_passed(w->deadline, now) || atomic_load(w->stop) ||
        (w->current && (atomic_load(&w->current->cancelled) ||
                        worker_cancel_asked(w->current))))
        return false;
    for (const struct job *job = w->waiting; job; job = job->next)
        if (worker_cancel_asked(job))
            return false;
    int64_t delay = BACKOFF_FIRST_NS << (attempt < 7 ? attempt : 7);
    if (delay > BACKOFF_MAX_NS)
        delay = BACKOFF_MAX_NS;
    delay = delay / 2 + (int64_t)((uint64_t)random() % (uint64_t)delay);
    if (w->deadline != 0 && now + delay > w->deadline)
        delay = w->deadline - now;
    struct timespec ts = {.tv_sec = delay / 1000000000,
                          .tv_nsec = delay % 1000000000};
    nanosleep(&ts, NULL);
    stats_add(&w->stats->busy_retries, 1);
    return true;
}

/* SQLite's busy handler: keep waiting, with backoff, until the deadline. */
static int busy(void *arg, int count)
{
    return worker_backoff(arg, count);
}

/* Makes @db the worker's connection, with the worker's handlers. */
static void attach(struct worker *w, sqlite3 *db)
{
    w->db = db;
    stmt_cache_init(&w->cache, w->cfg->statement_cache);
    sqlite3_progress_handler(db, PROGRESS_STEPS, progress, w);
    authorizer_install(&w->auth, db, w->cfg);
    sqlite3_busy_handler(db, busy, w);
}

int worker_init(struct worker *w, sqlite3 *db, bool writer,
                const struct config *cfg, const atomic_bool *stop,
                struct stats *stats)
{
    *w = (struct worker){.writer = writer,
                         .cfg = cfg,
                         .max_reply = cfg->max_message_size,
                         .stop = stop,
                         .stats = stats};
    attach(w, db);
    if (!writer)
        return SQLITE_OK;
    w->auth.internal = true;
    for (int c = 0; c < CONTROL_COUNT; c++) {
        int rc =
            sqlite3_prepare_v3(db, control_sql[c], -1,
                               SQLITE_PREPARE_PERSISTENT, &w->control[c], NULL);
        if (rc != SQLITE_OK) {
            w->auth.internal = false;
            return rc;
        }
    }
    w->auth.internal = false;
    return SQLITE_OK;
}

void worker_account(struct worker *w, int64_t started)
{
    static const struct {
        int op;
        size_t offset;
    } counted[] = {
        {SQLITE_DBSTATUS_CACHE_HIT, offsetof(struct stats, page_cache_hits)},
        {SQLITE_DBSTATUS_CACHE_MISS, offsetof(struct stats, page_cache_misses)},
        {SQLITE_DBSTATUS_CACHE_WRITE,
         offsetof(struct stats, page_cache_writes)},
    };
    static const int measured[] = {SQLITE_DBSTATUS_SCHEMA_USED,
                                   SQLITE_DBSTATUS_STMT_USED};
    int cur, high;
    int64_t now = clock_now();

    if (started != 0)
        stats_add(w->writer ? &w->stats->writer_busy_ns
                            : &w->stats->reader_busy_ns,
                  (uint64_t)(now - started));
    if (w->db == NULL)
        return; /* its connection went to a cursor */
    for (size_t i = 0; i < sizeof(counted) / sizeof(*counted); i++)
        if (sqlite3_db_status(w->db, counted[i].op, &cur, &high, 1) ==
                SQLITE_OK &&
            cur > 0)
            stats_add(
                (atomic_uint_fast64_t *)((char *)w->stats + counted[i].offset),
                (uint64_t)cur);
    if (w->measured_at == 0 || now - w->measured_at >= WORKER_MEASURE_NS) {
        w->measured_bytes = 0;
        for (size_t i = 0; i < sizeof(measured) / sizeof(*measured); i++)
            if (sqlite3_db_status(w->db, measured[i], &cur, &high, 0) ==
                    SQLITE_OK &&
                cur > 0)
                w->measured_bytes += (uint64_t)cur;
        w->measured_at = now;
    }
    uint64_t used = w->measured_bytes;
    if (sqlite3_db_status(w->db, SQLITE_DBSTATUS_CACHE_USED, &cur, &high, 0) ==
            SQLITE_OK &&
        cur > 0)
        used += (uint64_t)cur;
    atomic_store_explicit(&w->sqlite_memory, used, memory_order_relaxed);
}

void worker_close(struct worker *w)
{
    stmt_cache_clear(&w->cache);
    for (int c = 0; c < CONTROL_COUNT; c++)
        sqlite3_finalize(w->control[c]);
    db_close(w->db);
    w->db = NULL;
}

int worker_reopen(struct worker *w, char *err, size_t errlen)
{
    sqlite3 *db;
    int rc = db_open_reader(w->cfg, &db, err, errlen);
    /* Not worker_init(): rewriting the whole worker would race with the
     * loop, which reads its sqlite_memory at any time. */
    if (rc == SQLITE_OK) {
        attach(w, db);
        w->measured_at = 0;
    }
    return rc;
}

/* The progress handler is off meanwhile: neither a deadline nor a shutdown
 * may interrupt the daemon's own COMMIT or ROLLBACK. */
int worker_control(struct worker *w, enum control c)
{
    sqlite3_stmt *st = w->control[c];
    sqlite3_progress_handler(w->db, 0, NULL, NULL);
    w->auth.internal = true;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    w->auth.internal = false;
    sqlite3_progress_handler(w->db, PROGRESS_STEPS, progress, w);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Should the rollback fail, every later job on this connection would run
 * inside the stale transaction, so that is logged loudly. */
void worker_rollback(struct worker *w)
{
    if (sqlite3_get_autocommit(w->db))
        return;
    if (worker_control(w, CONTROL_ROLLBACK) != SQLITE_OK ||
        !sqlite3_get_autocommit(w->db))
        log_error("cannot roll back a transaction: %s", sqlite3_errmsg(w->db));
}

bool worker_claim(struct worker *w, struct job *job)
{
    if (!job_claim(job))
        return false;
    if (worker_cancel_asked(job)) {
        worker_fail_cancelled(w, job, false);
        return false;
    }
    if (clock_passed(job->deadline, clock_now())) {
        worker_fail_timeout(w, job);
        return false;
    }
    return true;
}

bool worker_cancel_asked(const struct job *job)
{
    return atomic_load_explicit(&job->cancel_asked, memory_order_relaxed);
}

void worker_fail_cancelled(struct worker *w, struct job *job, bool running)
{
    job_fail_cancelled(job, running);
    stats_add(&w->stats->cancelled, 1);
}

void worker_begin(struct worker *w, struct job *job)
{
    job->ran_on = w->writer    ? JOB_RAN_WRITER
                  : w->on_loop ? JOB_RAN_LOOP
                               : JOB_RAN_READER;
    w->current = job;
    w->deadline = job->deadline;
    if (w->deadline_cap != 0 &&
        (w->deadline == 0 || w->deadline_cap < w->deadline))
        w->deadline = w->deadline_cap;
    w->timed_out = false;
    w->cancel_seen = false;
}

void worker_fail_timeout(struct worker *w, struct job *job)
{
    job_fail_timeout(job);
    stats_add(&w->stats->timeouts, 1);
}

void worker_fail_busy(struct worker *w, struct job *job)
{
    (void)w;
    job_fail_busy(job);
}
