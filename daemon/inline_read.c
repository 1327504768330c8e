#include "inline_read.h"

#include "clock.h"
#include "db.h"
#include "execute.h"

int inline_read_init(struct inline_reader *ir, const struct config *cfg,
                     const atomic_bool *stop, struct stats *stats, char *err,
                     size_t errlen)
{
    sqlite3 *db;

    *ir = (struct inline_reader){0};
    if (cfg->inline_budget_ms == 0)
        return 0;
    if (db_open_reader(cfg, &db, err, errlen) != SQLITE_OK)
        return -1;
    worker_init(&ir->w, db, false, cfg, stop, stats);
    /* A lock is never waited for on the loop: SQLITE_BUSY at once. */
    sqlite3_busy_handler(db, NULL, NULL);
    ir->w.on_loop = true;
    ir->budget_ns = (int64_t)cfg->inline_budget_ms * CLOCK_NS_PER_MS;
    return 0;
}

void inline_read_close(struct inline_reader *ir)
{
    if (ir->w.db != NULL)
        worker_close(&ir->w);
    ir->budget_ns = 0;
}

bool inline_read_on(const struct inline_reader *ir)
{
    return ir->budget_ns > 0;
}

/* Resets whatever statement still runs on @db, so that the connection holds
 * no read transaction, and so no WAL snapshot, until its next job. The
 * statement cache resets what it takes back; this catches the rest (a
 * statement stopped by the budget or on a full chunk). */
static void end_read(sqlite3 *db)
{
    if (sqlite3_txn_state(db, NULL) == SQLITE_TXN_NONE)
        return;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st != NULL;
         st = sqlite3_next_stmt(db, st))
        if (sqlite3_stmt_busy(st))
            sqlite3_reset(st);
}

enum inline_result inline_read_run(struct inline_reader *ir, struct job *job)
{
    struct worker *w = &ir->w;

    w->deadline_cap = clock_now() + ir->budget_ns;
    enum execute_result result = execute_job(w, job);
    w->deadline_cap = 0;
    end_read(w->db);
    worker_account(w, 0);
    switch (result) {
    case EXECUTE_DONE:
        stats_add(&w->stats->inline_reads, 1);
        return INLINE_ANSWERED;
    case EXECUTE_FORWARD:
        job_unclaim(job);
        stats_add(&w->stats->inline_handoffs, 1);
        return INLINE_WRITES;
    default:
        job_unclaim(job);
        stats_add(&w->stats->inline_handoffs, 1);
        return INLINE_HANDOFF;
    }
}
