#include "snapshot.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "conn.h"
#include "cursor.h"
#include "execute.h"
#include "run.h"
#include "sqlited.h"
#include "state.h"
#include "writer.h"

int snapshot_check_begin(struct conn *c, bool read_only, char *why, size_t len)
{
    if (c->snapshot != NULL) {
        snprintf(why, len,
                 "this connection already has read-only transaction %" PRIu64
                 " open; commit or roll it back first",
                 c->snapshot->id);
        return SQLITED_BAD_REQUEST;
    }
    if (c->read_only_begins > 0 || (read_only && c->begins > 0)) {
        snprintf(why, len,
                 "this connection's earlier begin is still running; a "
                 "connection has at most one transaction");
        return SQLITED_BAD_REQUEST;
    }
    if (read_only && c->tx != 0) {
        snprintf(why, len,
                 "this connection already has transaction %" PRIu64
                 " open; commit or roll it back first",
                 c->tx);
        return SQLITED_BAD_REQUEST;
    }
    return 0;
}

/* Writes into @buf why read-only transaction @id ended, as the daemon's
 * ring remembers it; false when it does not remember @id. */
static bool explain_ended(struct conn *c, uint64_t id, char *buf, size_t len)
{
    const struct config *cfg = c->srv->cfg;
    const char *prefix = "transaction";

    switch (cursor_ended_why(id, true)) {
    case CURSOR_WHY_COMMIT:
        snprintf(buf, len, "%s %" PRIu64 " is no longer open: it was committed",
                 prefix, id);
        return true;
    case CURSOR_WHY_ROLLBACK:
        snprintf(buf, len,
                 "%s %" PRIu64 " is no longer open: it was rolled back", prefix,
                 id);
        return true;
    case CURSOR_WHY_IDLE:
        snprintf(buf, len,
                 "%s %" PRIu64 " is no longer open: it was idle for longer "
                 "than %u ms (--tx-idle-timeout), so the daemon ended it",
                 prefix, id, CONFIG_LIVE(cfg, tx_idle_timeout_ms));
        return true;
    case CURSOR_WHY_AGE:
        snprintf(buf, len,
                 "%s %" PRIu64 " is no longer open: it was open for longer "
                 "than the maximum of %u ms (--tx-max-duration), so the "
                 "daemon ended it",
                 prefix, id, CONFIG_LIVE(cfg, tx_max_duration_ms));
        return true;
    case CURSOR_WHY_WAL:
        snprintf(buf, len,
                 "%s %" PRIu64 " is no longer open: the WAL passed its limit "
                 "(--wal-max-bytes, %lld bytes) while this read-only "
                 "transaction held the oldest snapshot, which kept "
                 "checkpoints from completing, so the daemon ended it; begin "
                 "again for a newer snapshot",
                 prefix, id, (long long)cfg->wal_max_bytes);
        return true;
    default:
        return false;
    }
}

int snapshot_take(struct conn *c, struct job *job, char *why, size_t len)
{
    struct cursor *tx = c->snapshot;

    if (job->tx == 0 || job->tx == c->tx)
        return 0; /* the connection's transaction of the writer */
    if (tx == NULL || tx->id != job->tx) {
        if (explain_ended(c, job->tx, why, len))
            return SQLITED_TX_EXPIRED;
        if (!cursor_tx_open(job->tx))
            return 0; /* the writer's, or unknown: the writer answers */
        snprintf(why, len,
                 "transaction %" PRIu64 " belongs to another connection",
                 job->tx);
        return SQLITED_BAD_REQUEST;
    }
    switch (job->method) {
    case RPC_QUERY:
    case RPC_EXPLAIN:
    case RPC_COMMIT:
    case RPC_ROLLBACK:
        job->snapshot = tx;
        return 0;
    default:
        snprintf(why, len,
                 "transaction %" PRIu64 " is read-only (begun with "
                 "read_only), and %s may write: nothing of it ran. Send "
                 "writes outside it, or in a transaction begun without "
                 "read_only",
                 tx->id, rpc_method_name(job->method));
        return SQLITE_READONLY;
    }
}

void snapshot_start(struct job *job)
{
    struct cursor *tx = job->snapshot;
    struct conn *c = job->conn;

    if (job->method == RPC_COMMIT || job->method == RPC_ROLLBACK) {
        cursor_end_tx(tx, job,
                      job->method == RPC_COMMIT ? CURSOR_WHY_COMMIT
                                                : CURSOR_WHY_ROLLBACK);
        return;
    }
    /* Its result may need a cursor, on the transaction's connection. */
    if (job->method == RPC_QUERY)
        cursor_reserve(c, job);
    conn_track(c, job);
    cursor_submit_in(tx, job);
}

/* ------------------------------------------------- the worker side */

void snapshot_run(struct job *job)
{
    struct worker *w = cursor_worker(job->snapshot);
    uint64_t id = job->tx;

    w->timed_out = false;
    execute_job(w, job);
    if (w->timed_out && w->deadline_cap != 0 &&
        clock_passed(w->deadline_cap, clock_now()) &&
        !atomic_load(&job->cancelled)) {
        char why[256];
        snprintf(why, sizeof(why),
                 "transaction %" PRIu64 " reached its maximum duration "
                 "(--tx-max-duration) while this request ran: the daemon "
                 "interrupted it and ends the transaction",
                 id);
        job_fail(job, SQLITED_TX_EXPIRED, why);
    }
}

/* Starts a read transaction on @w's connection: BEGIN alone takes no
 * snapshot, the first read does. Waits for a lock (a WAL being recovered
 * by another process) until the job's deadline. */
static int start_read(struct worker *w)
{
    int rc;
    for (int attempt = 0;; attempt++) {
        w->auth.internal = true;
        rc = sqlite3_exec(w->db, "BEGIN DEFERRED; PRAGMA main.schema_version",
                          NULL, NULL, NULL);
        w->auth.internal = false;
        if (rc == SQLITE_OK)
            return SQLITE_OK;
        rc = sqlite3_extended_errcode(w->db);
        if (!sqlite3_get_autocommit(w->db))
            sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
        if ((rc & 0xff) != SQLITE_BUSY || !worker_backoff(w, attempt))
            return rc;
    }
}

void snapshot_begin(struct worker *w, struct job *job, struct writer *wr)
{
    if (!worker_claim(w, job))
        return;
    worker_begin(w, job);
    if (!stats_add_below(&w->stats->cursors_open,
                         CONFIG_LIVE(w->cfg, max_cursors))) {
        job_fail(job, SQLITED_TOO_MANY_CURSORS,
                 "a read-only transaction holds a snapshot as a cursor does, "
                 "and the daemon has all of its --max-cursors open; commit "
                 "or roll back other read-only transactions, or read other "
                 "results to their end, then begin again");
        goto out;
    }
    int rc = start_read(w);
    struct cursor *tx = rc == SQLITE_OK ? calloc(1, sizeof(*tx)) : NULL;
    if (tx == NULL) {
        char why[320];
        if (rc == SQLITE_OK) {
            sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
            rc = SQLITE_NOMEM;
        }
        if (w->timed_out)
            snprintf(why, sizeof(why),
                     "the request's deadline (%u ms) passed before the "
                     "snapshot could be taken",
                     job->timeout_ms);
        else
            snprintf(why, sizeof(why), "cannot take a snapshot: %s",
                     rc == SQLITE_NOMEM ? "out of memory"
                                        : sqlite3_errmsg(w->db));
        job_fail(job, w->timed_out ? SQLITED_TIMEOUT : rc, why);
        stats_sub(&w->stats->cursors_open, 1);
        goto out;
    }
    /* The connection, with its read transaction, is the transaction's
     * now; the reader opens another for its next job. */
    stmt_cache_clear(&w->cache);
    worker_init(&tx->w, w->db, false, w->cfg, w->stop, w->stats);
    tx->w.read_tx = true;
    tx->w.watch = &tx->watch;
    /* No read in it runs past its maximum duration. */
    uint32_t max_ms = CONFIG_LIVE(w->cfg, tx_max_duration_ms);
    tx->w.deadline_cap = max_ms ? clock_after_ms(max_ms) : 0;
    w->db = NULL;
    tx->is_tx = true;
    tx->id = writer_next_tx(wr);
    job->cursor = tx;
    job->tx = tx->id;
    stats_add(&w->stats->tx_read_only_begun, 1);
    stats_add(&w->stats->tx_read_only_open, 1);
    job_reply_int(job, (int64_t)tx->id);
out:
    w->current = NULL;
    w->deadline = 0;
}
