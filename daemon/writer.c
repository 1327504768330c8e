#include "writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "clock.h"
#include "crash.h"
#include "db.h"
#include "log.h"
#include "maintenance.h"
#include "sqlited.h"

/* ------------------------------------------------------------ pending jobs
 *
 * Jobs taken from the queue wait in wr->pending (job->pending, list.h), in
 * arrival order, until their turn: a group commit takes them from the head;
 * while a transaction is open, only its own jobs leave. A group being run
 * is a chain through job->next, like the queue it came from.
 */

/* Appends the chain @jobs (job->next), in its order. */
static void pending_append(struct writer *wr, struct job *jobs)
{
    for (struct job *job = jobs, *next; job; job = next) {
        next = job->next;
        job->next = NULL;
        list_add_tail(&wr->pending, &job->pending);
    }
}

/* Puts the chain @jobs back at the head, in its order. */
static void pending_prepend(struct writer *wr, struct job *jobs)
{
    struct list *first = wr->pending.next;
    for (struct job *job = jobs, *next; job; job = next) {
        next = job->next;
        job->next = NULL;
        list_add_tail(first, &job->pending); /* before the old head */
    }
}

/* The job at the head; NULL: none. */
static struct job *pending_first(const struct writer *wr)
{
    return list_empty(&wr->pending)
               ? NULL
               : LIST_ITEM(wr->pending.next, struct job, pending);
}

static void finish(struct writer *wr, struct job *job)
{
    stats_sub(&wr->stats->writer_queue, 1);
    wr->done(job, wr->done_arg);
}

/* Appends @job to the list ending at *@tail. */
static void list_add(struct job ***tail, struct job *job)
{
    job->next = NULL;
    **tail = job;
    *tail = &job->next;
}

__attribute__((format(printf, 3, 4))) static void
fail(struct job *job, int code, const char *fmt, ...)
{
    char message[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    job_fail(job, code, message);
}

/* ------------------------------------------------------------ the file
 *
 * Nothing is written while the database's path names another file or none
 * (dbfile.h), and nothing committed meanwhile is acknowledged.
 */

/* Answers @job with SQLITED_DATABASE_GONE: the database file is not in
 * place. @committed: the job ran and committed before the check after its
 * COMMIT found the file gone, so what it wrote is in the file the daemon has
 * open, not in the one the path names, and must not be acknowledged. */
static void fail_gone(struct writer *wr, struct job *job, bool committed)
{
    char why[512];
    if (dbfile_failure(&wr->file, why, sizeof(why)) == NULL)
        snprintf(why, sizeof(why), "the database file is not in place");
    fail(job, SQLITED_DATABASE_GONE, "%s; %s", why,
         committed ? "what this request wrote went to the file the daemon "
                     "has open, not to the one at that path, so it is not "
                     "acknowledged"
                   : "writes are refused until it is back at that path, and "
                     "nothing of this request was applied");
}

/* Once the path names another file or none, the daemon's WAL must not stay
 * behind for that file to meet: at the next start (after a crash, say) its
 * frames would be applied to the wrong database. Folds the WAL into the
 * database file the daemon has open and truncates it to nothing. That needs
 * no transaction open and no reader in a snapshot, so it is tried again at
 * each check until it succeeds. The WAL is written through the descriptors
 * SQLite holds, never by path, so no other file is touched. */
static void secure_wal(struct writer *wr)
{
    struct worker *w = &wr->worker;

    if (!wr->file.failed) {
        wr->wal_secured = false;
        wr->wal_secure_next = 0;
        return;
    }
    /* Waiting for readers costs the writer up to 100 ms: once a second. */
    if (wr->wal_secured || !sqlite3_get_autocommit(w->db) ||
        (wr->wal_secure_next != 0 &&
         !clock_passed(wr->wal_secure_next, clock_now())))
        return;
    wr->wal_secure_next = clock_after_ms(DBFILE_CHECK_MS);
    struct checkpoint_result res;
    if (checkpoint_run(&wr->ckpt, SQLITE_CHECKPOINT_TRUNCATE,
                       clock_after_ms(100), &res) != SQLITE_OK ||
        res.busy)
        return;
    wr->wal_secured = true;
    int fd = dbfile_open_fd(&wr->file);
    if (fd >= 0)
        log_error("every write acknowledged so far is in the database file "
                  "the daemon has open (its WAL is folded in and empty): "
                  "copy it out before stopping the daemon, for instance "
                  "with: cp /proc/%ld/fd/%d %s.saved",
                  (long)getpid(), fd, wr->cfg->database);
    else
        log_error("every write acknowledged so far is in the database file "
                  "the daemon has open (its WAL is folded in and empty)");
}

/* Runs @job outside any transaction (VACUUM). */
static void run_alone(struct writer *wr, struct job *job)
{
    if (!dbfile_check_due(&wr->file)) {
        fail_gone(wr, job, false);
        return;
    }
    if (job->method == RPC_MIGRATE)
        migrate_run(&wr->worker, &wr->migration, job);
    else if (maintenance_writer_job(job))
        maintenance_run(&wr->worker, job);
    else
        execute_job(&wr->worker, job);
    if (!dbfile_verify(&wr->file))
        fail_gone(wr, job, true);
}

/* ------------------------------------------------------------ transactions
 */

/* PRAGMA foreign_keys=@on, outside a transaction (inside one it does
 * nothing). Not a prepared control statement: SQLite sets the flag when it
 * compiles the pragma, not when it runs it. */
static int set_foreign_keys(struct writer *wr, bool on)
{
    struct worker *w = &wr->worker;
    w->auth.internal = true;
    int rc = sqlite3_exec(
        w->db, on ? "PRAGMA foreign_keys=ON" : "PRAGMA foreign_keys=OFF", NULL,
        NULL, NULL);
    w->auth.internal = false;
    return rc;
}

/* Turns foreign keys back on after a transaction begun with them off: every
 * other client's writes count on them. Failing that (out of memory), the
 * writer would go on without them, so that is logged loudly. */
static void foreign_keys_on(struct writer *wr)
{
    if (set_foreign_keys(wr, true) != SQLITE_OK)
        log_error("cannot turn foreign keys back on after a transaction: %s",
                  sqlite3_errmsg(wr->worker.db));
}

/* Before the COMMIT of a transaction begun with foreign keys "at_commit":
 * PRAGMA foreign_key_check over the whole database, under @job's deadline.
 * Returns 0 when no row breaks a foreign key; otherwise answers @job with
 * why (SQLITE_CONSTRAINT_FOREIGNKEY naming the first row and the count, or
 * the error that stopped the check) and returns -1. */
static int tx_check_foreign_keys(struct writer *wr, struct job *job)
{
    struct worker *w = &wr->worker;
    sqlite3_stmt *st = NULL;
    char first[256] = "", parent[128] = "";
    uint64_t broken = 0;
    int rc;

    worker_begin(w, job);
    w->auth.internal = true;
    rc = sqlite3_prepare_v2(w->db, "PRAGMA foreign_key_check", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        if (broken++ > 0)
            continue;
        const char *table = (const char *)sqlite3_column_text(st, 0);
        const char *to = (const char *)sqlite3_column_text(st, 2);
        if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            snprintf(first, sizeof(first), "a row of %s", table ? table : "?");
        else
            snprintf(first, sizeof(first), "a row of %s (rowid %lld)",
                     table ? table : "?", sqlite3_column_int64(st, 1));
        snprintf(parent, sizeof(parent), "%s", to ? to : "?");
    }
    w->auth.internal = false;
    w->current = NULL;
    w->deadline = 0;
    if (rc != SQLITE_DONE) {
        char what[256];
        snprintf(what, sizeof(what), "%s", sqlite3_errmsg(w->db));
        sqlite3_finalize(st);
        if (w->cancel_seen) {
            worker_fail_cancelled(w, job, true);
        } else if (w->timed_out) {
            fail(job, SQLITED_TIMEOUT,
                 "the foreign key check before COMMIT passed the deadline, "
                 "so the transaction was rolled back");
            stats_add(&w->stats->timeouts, 1);
        } else {
            fail(job, rc,
                 "the foreign key check before COMMIT failed, so the "
                 "transaction was rolled back: %s",
                 what);
        }
        return -1;
    }
    sqlite3_finalize(st);
    if (broken == 0)
        return 0;
    if (broken == 1)
        fail(job, SQLITE_CONSTRAINT_FOREIGNKEY,
             "FOREIGN KEY constraint failed at COMMIT: %s refers to a row of "
             "%s that does not exist, so the transaction was rolled back (it "
             "was begun with foreign keys checked at its COMMIT)",
             first, parent);
    else
        fail(job, SQLITE_CONSTRAINT_FOREIGNKEY,
             "FOREIGN KEY constraint failed at COMMIT: %" PRIu64
             " rows refer to rows that do not exist, the first %s to a row "
             "of %s (PRAGMA foreign_key_check lists them), so the "
             "transaction was rolled back (it was begun with foreign keys "
             "checked at its COMMIT)",
             broken, first, parent);
    return -1;
}

__attribute__((format(printf, 2, 3))) static void tx_end(struct writer *wr,
                                                         const char *fmt, ...)
{
    uint64_t id = wr->tx.id;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wr->ended[id % WRITER_ENDED].why, sizeof(wr->ended[0].why), fmt,
              ap);
    va_end(ap);
    wr->ended[id % WRITER_ENDED].id = id;
    worker_rollback(&wr->worker);
    if (wr->tx.fks_at_commit)
        foreign_keys_on(wr);
    wr->tx.id = 0;
    wr->tx.owner = 0;
    wr->tx.fks_at_commit = false;
}

/* A job names a transaction that is not open. */
static void tx_answer_gone(struct writer *wr, struct job *job)
{
    uint64_t id = job->tx;
    if (id > atomic_load(&wr->last_tx)) {
        fail(job, SQLITED_BAD_REQUEST,
             "there is no transaction %" PRIu64 "; begin returns the id", id);
        return;
    }
    job->ended_tx = true;
    if (wr->ended[id % WRITER_ENDED].id == id)
        fail(job, SQLITED_TX_EXPIRED,
             "transaction %" PRIu64 " is no longer open: %s", id,
             wr->ended[id % WRITER_ENDED].why);
    else
        fail(job, SQLITED_TX_EXPIRED,
             "transaction %" PRIu64 " is no longer open", id);
}

static void tx_begin(struct writer *wr, struct job *job)
{
    struct worker *w = &wr->worker;

    if (!dbfile_check_due(&wr->file)) {
        fail_gone(wr, job, false);
        return;
    }
    /* Only outside a transaction does the pragma take effect. */
    if (job->fks_at_commit && set_foreign_keys(wr, false) != SQLITE_OK) {
        fail(job, sqlite3_extended_errcode(w->db),
             "cannot turn foreign keys off for the transaction: %s",
             sqlite3_errmsg(w->db));
        foreign_keys_on(wr);
        return;
    }
    w->deadline = job->deadline;
    w->current = job;
    int rc = worker_control(w, job->immediate ? CONTROL_BEGIN_IMMEDIATE
                                              : CONTROL_BEGIN_DEFERRED);
    w->deadline = 0;
    w->current = NULL;
    if (rc != SQLITE_OK && job->fks_at_commit)
        foreign_keys_on(wr);
    if ((rc & 0xff) == SQLITE_BUSY && worker_cancel_asked(job)) {
        worker_fail_cancelled(w, job, true); /* it waited for the lock */
        return;
    }
    if ((rc & 0xff) == SQLITE_BUSY) {
        worker_fail_busy(w, job);
        return;
    }
    if (rc != SQLITE_OK) {
        fail(job, rc, "%s", sqlite3_errmsg(w->db));
        return;
    }
    wr->tx.id = writer_next_tx(wr);
    wr->tx.owner = job->conn_id;
    wr->tx.fks_at_commit = job->fks_at_commit;
    wr->tx.idle_deadline =
        clock_after_ms(CONFIG_LIVE(wr->cfg, tx_idle_timeout_ms));
    wr->tx.max_deadline =
        clock_after_ms(CONFIG_LIVE(wr->cfg, tx_max_duration_ms));
    job->tx = wr->tx.id;
    job->opened_tx = true;
    stats_add(&wr->stats->tx_begun, 1);
    job_reply_int(job, (int64_t)wr->tx.id);
}

static void tx_commit(struct writer *wr, struct job *job)
{
    struct worker *w = &wr->worker;

    job->ended_tx = true;
    if (wr->tx.fks_at_commit && tx_check_foreign_keys(wr, job) != 0) {
        tx_end(wr, "its COMMIT found rows breaking a foreign key, so it was "
                   "rolled back");
        stats_add(&wr->stats->tx_rolled_back, 1);
        return;
    }
    w->deadline = job->deadline;
    int rc = worker_control(w, CONTROL_COMMIT);
    w->deadline = 0;
    if (rc == SQLITE_OK && !dbfile_verify(&wr->file)) {
        fail_gone(wr, job, true);
        tx_end(wr, "it was committed to a database file no longer at its "
                   "path, and not acknowledged");
        return;
    }
    if (rc == SQLITE_OK) {
        tx_end(wr, "it was committed");
        stats_add(&wr->stats->tx_committed, 1);
        job_reply_int(job, -1);
        return;
    }
    char what[320];
    snprintf(what, sizeof(what), "the COMMIT of a transaction failed: %s",
             sqlite3_errmsg(w->db));
    dbfile_report(sqlite3_extended_errcode(w->db), what);
    fail(job, sqlite3_extended_errcode(w->db),
         "COMMIT failed, so the transaction was rolled back: %s",
         sqlite3_errmsg(w->db));
    tx_end(wr, "its COMMIT failed and it was rolled back");
    stats_add(&wr->stats->tx_rolled_back, 1);
}

/* Ends the open transaction at its maximum duration. */
static void tx_expire(struct writer *wr)
{
    tx_end(wr,
           "it was open for longer than the maximum of %u ms "
           "(--tx-max-duration), so the daemon rolled it back",
           CONFIG_LIVE(wr->cfg, tx_max_duration_ms));
    stats_add(&wr->stats->tx_expired, 1);
}

/* Runs one job of the open transaction. */
static void tx_run(struct writer *wr, struct job *job)
{
    struct worker *w = &wr->worker;

    switch (job->method) {
    case RPC_COMMIT:
        tx_commit(wr, job);
        return;
    case RPC_ROLLBACK:
        job->ended_tx = true;
        if (job->internal) {
            tx_end(wr, "its connection closed, so it was rolled back");
            stats_add(&wr->stats->tx_expired, 1);
        } else {
            tx_end(wr, "it was rolled back");
            stats_add(&wr->stats->tx_rolled_back, 1);
        }
        job_reply_int(job, -1);
        return;
    default:
        break;
    }
    /* No statement keeps the transaction open past its maximum duration. */
    w->deadline_cap = wr->tx.max_deadline;
    w->in_tx = true;
    enum execute_result result = execute_job(w, job);
    w->in_tx = false;
    w->deadline_cap = 0;
    if (clock_passed(wr->tx.max_deadline, clock_now()) &&
        (w->timed_out || result == EXECUTE_LOST)) {
        fail(job, SQLITED_TX_EXPIRED,
             "transaction %" PRIu64 " reached its maximum duration of %u ms "
             "(--tx-max-duration) while this request ran: the daemon rolled "
             "it back",
             wr->tx.id, CONFIG_LIVE(wr->cfg, tx_max_duration_ms));
        job->ended_tx = true;
        tx_expire(wr);
        return;
    }
    if (result == EXECUTE_LOST) {
        tx_end(wr, "SQLite rolled it back when a request in it failed");
        job->ended_tx = true;
        stats_add(&wr->stats->tx_rolled_back, 1);
        return;
    }
    wr->tx.idle_deadline =
        clock_after_ms(CONFIG_LIVE(wr->cfg, tx_idle_timeout_ms));
}

/* With a transaction open: runs its next job, answers the jobs that need
 * not wait, and ends the transaction when it idled too long. Returns true
 * when it did anything. */
static bool serve_tx(struct writer *wr)
{
    int64_t now = clock_now();
    bool did = false;

    /* However busy its client keeps it, a transaction ends at its maximum
     * duration: its later requests get SQLITED_TX_EXPIRED. */
    if (clock_passed(wr->tx.max_deadline, now)) {
        tx_expire(wr);
        return true;
    }

    LIST_FOREACH (node, &wr->pending) {
        struct job *job = LIST_ITEM(node, struct job, pending);
        if (!job_dropped(job) && job->tx == wr->tx.id &&
            job->conn_id == wr->tx.owner) {
            list_remove(&job->pending);
            if (job_claim(job))
                tx_run(wr, job);
            finish(wr, job);
            return true;
        }
        /* Jobs of other connections wait for the transaction to end, unless
         * they are answered now. */
        if (!job_dropped(job) && job->tx == 0 && job->conn_id != wr->tx.owner &&
            !clock_passed(job->deadline, now))
            continue;
        list_remove(&job->pending);
        if (!job_claim(job)) {
            /* nothing to answer */
        } else if (job->tx == wr->tx.id) {
            fail(job, SQLITED_BAD_REQUEST,
                 "transaction %" PRIu64 " belongs to another connection",
                 job->tx);
        } else if (job->tx != 0) {
            tx_answer_gone(wr, job);
        } else if (job->conn_id == wr->tx.owner) {
            /* It would wait for its own connection's transaction. */
            fail(job, SQLITED_BAD_REQUEST,
                 job->method == RPC_BEGIN
                     ? "this connection already has transaction %" PRIu64
                       " open; commit or roll it back first"
                     : "this connection has transaction %" PRIu64
                       " open; send its writes with the option tx",
                 wr->tx.id);
        } else {
            worker_fail_timeout(&wr->worker, job);
        }
        finish(wr, job);
        did = true;
    }
    if (atomic_load(wr->worker.stop)) {
        tx_end(wr, "the daemon shut down");
        stats_add(&wr->stats->tx_expired, 1);
        return true;
    }
    if (clock_passed(wr->tx.idle_deadline, now)) {
        tx_end(wr,
               "it was idle for longer than %u ms, so the daemon rolled it "
               "back",
               CONFIG_LIVE(wr->cfg, tx_idle_timeout_ms));
        stats_add(&wr->stats->tx_expired, 1);
        return true;
    }
    return did;
}

/* When the writer must look again with a transaction open: at its idle
 * deadline or the first waiting job's deadline. */
static int64_t tx_wakeup(const struct writer *wr)
{
    int64_t at = wr->tx.idle_deadline;
    if (wr->tx.max_deadline != 0 && wr->tx.max_deadline < at)
        at = wr->tx.max_deadline;
    LIST_FOREACH (node, &wr->pending) {
        const struct job *job = LIST_ITEM(node, struct job, pending);
        if (job->deadline != 0 && (at == 0 || job->deadline < at))
            at = job->deadline;
    }
    return at;
}

/* ------------------------------------------------------------ group commit
 */

/* Opens the group's transaction, waiting for locks held by other processes
 * until the earliest deadline among its jobs; jobs whose deadline passes
 * meanwhile are answered and dropped from *@group. Returns false when no job
 * is left to run. */
static bool group_begin(struct writer *wr, struct job **group)
{
    struct worker *w = &wr->worker;

    for (bool waited = false;; waited = true) {
        int64_t now = clock_now(), deadline = 0;
        struct job **link = group;
        while (*link) {
            struct job *job = *link;
            bool expired = clock_passed(job->deadline, now);
            /* Claimed now: while the writer waits for the lock on its
             * behalf, the loop must not answer it at its deadline too
             * (the writer answers SQLITE_BUSY then, saying why). */
            if (!expired && job_claim(job) && !worker_cancel_asked(job)) {
                if (job->deadline != 0 &&
                    (deadline == 0 || job->deadline < deadline))
                    deadline = job->deadline;
                link = &job->next;
                continue;
            }
            *link = job->next;
            if (!job_claim(job))
                ; /* nothing to answer */
            else if (worker_cancel_asked(job))
                worker_fail_cancelled(w, job, false);
            else if (waited)
                worker_fail_busy(w, job);
            else
                worker_fail_timeout(w, job);
            finish(wr, job);
        }
        if (*group == NULL)
            return false;

        /* Should a deadline pass while BEGIN waits for another process's
         * lock, the loop answers SQLITE_BUSY, as the writer would. */
        for (struct job *job = *group; job; job = job->next)
            atomic_store(&job->waits_for_lock, true);
        w->deadline = deadline;
        w->waiting = *group; /* a cancel of one ends the wait */
        int rc = worker_control(w, CONTROL_BEGIN_IMMEDIATE);
        w->waiting = NULL;
        w->deadline = 0;
        for (struct job *job = *group; job; job = job->next)
            atomic_store(&job->waits_for_lock, false);
        if (rc == SQLITE_OK)
            return true;
        if ((rc & 0xff) == SQLITE_BUSY && !atomic_load(w->stop))
            continue; /* the busy handler waited until a deadline, or
                         until one of the jobs was cancelled */
        const char *message = sqlite3_errmsg(w->db);
        dbfile_report(sqlite3_extended_errcode(w->db), message);
        while (*group) {
            struct job *job = *group;
            *group = job->next;
            if (!job_claim(job))
                ; /* nothing to answer */
            else if (atomic_load(w->stop))
                fail(job, SQLITED_INTERRUPTED,
                     "interrupted: the daemon is shutting down");
            else
                fail(job, rc, "cannot begin a transaction: %s", message);
            finish(wr, job);
        }
        return false;
    }
}

/* Frees the replies of jobs that must run again. */
static void forget_replies(struct job *jobs)
{
    for (struct job *job = jobs; job; job = job->next) {
        free(job->reply);
        job->reply = NULL;
        job->reply_len = 0;
    }
}

/* Runs @group in one transaction, each job in its own savepoint, and
 * answers them all once COMMIT returned. A job that must run alone, and any
 * job SQLite's own rollback undid, goes back to the head of the queue. */
static void group_run(struct writer *wr, struct job *group)
{
    struct worker *w = &wr->worker;
    struct job *ran = NULL, **ran_tail = &ran, *job;
    uint64_t n = 0;

    if (!dbfile_check_due(&wr->file)) {
        while ((job = group) != NULL) {
            group = job->next;
            if (job_claim(job))
                fail_gone(wr, job, false);
            finish(wr, job);
        }
        return;
    }
    if (!group_begin(wr, &group))
        return;
    w->in_tx = w->grouped = true;
    while ((job = group) != NULL) {
        group = job->next;
        watchdog_busy(wr->watchdog); /* each job may take the interval */
        enum execute_result result = execute_job(w, job);
        if (result == EXECUTE_ALONE) {
            job->alone = true;
            job->next = group;
            pending_prepend(wr, job);
            group = NULL;
            break;
        }
        if (result == EXECUTE_LOST) {
            /* The jobs before it were undone with it: run them again. */
            w->in_tx = w->grouped = false;
            finish(wr, job);
            forget_replies(ran);
            pending_prepend(wr, group);
            pending_prepend(wr, ran);
            return;
        }
        list_add(&ran_tail, job);
        n++;
    }
    w->in_tx = w->grouped = false;

    int rc = worker_control(w, CONTROL_COMMIT);
    if (rc != SQLITE_OK) {
        char message[512];
        int code = sqlite3_extended_errcode(w->db);
        /* Once the disk failed, what it had taken before the error may
         * still be read back at the next start (a WAL frame written whose
         * sync failed): the client must not be told that nothing was. */
        if ((code & 0xff) == SQLITE_IOERR)
            snprintf(message, sizeof(message),
                     "COMMIT failed on an I/O error, so this request and the "
                     "others committed with it are not acknowledged and were "
                     "rolled back; what reached the disk before the error "
                     "may still be there after a restart: %s",
                     sqlite3_errmsg(w->db));
        else
            snprintf(message, sizeof(message),
                     "COMMIT failed, so nothing of this request or the "
                     "others committed with it was applied: %s",
                     sqlite3_errmsg(w->db));
        char what[320];
        snprintf(what, sizeof(what),
                 "a group commit failed (requests in it: %" PRIu64 "): %s", n,
                 sqlite3_errmsg(w->db));
        dbfile_report(code, what);
        worker_rollback(w);
        for (job = ran; job; job = job->next)
            if (!job_dropped(job))
                job_fail(job, code, message);
    } else if (!dbfile_verify(&wr->file)) {
        for (job = ran; job; job = job->next)
            if (!job_dropped(job))
                fail_gone(wr, job, true);
    } else if (n > 0) {
        stats_add(&wr->stats->groups, 1);
        stats_add(&wr->stats->group_requests, n);
        stats_max(&wr->stats->group_max, n);
        stats_group_size(wr->stats, n);
    }
    while ((job = ran) != NULL) {
        ran = job->next;
        finish(wr, job);
    }
}

/* True when @job may join a group. */
static bool groupable(const struct job *job)
{
    return job->tx == 0 && job->method != RPC_BEGIN && !job->alone &&
           job->probe == NULL;
}

/* With no transaction open: runs the job at the head of the queue, with as
 * many followers as make one group. */
static void serve_next(struct writer *wr)
{
    struct worker *w = &wr->worker;
    struct job *job = pending_first(wr);

    if (job_dropped(job) || !groupable(job)) {
        list_remove(&job->pending);
        if (!job_claim(job))
            ; /* nothing to answer */
        else if (job->tx != 0)
            tx_answer_gone(wr, job);
        else if (clock_passed(job->deadline, clock_now()))
            worker_fail_timeout(w, job);
        else if (job->method == RPC_BEGIN)
            tx_begin(wr, job);
        else if (job->checkpoint)
            checkpoint_job(&wr->ckpt, job);
        else
            run_alone(wr, job);
        finish(wr, job);
        return;
    }

    struct job *group = NULL, **tail = &group;
    unsigned count = 0;
    size_t bytes = 0;
    while ((job = pending_first(wr)) != NULL && groupable(job) &&
           count < wr->cfg->group_max &&
           (count == 0 || bytes + job->msg_len <= wr->cfg->group_bytes)) {
        list_remove(&job->pending);
        list_add(&tail, job);
        count++;
        bytes += job->msg_len;
    }
    group_run(wr, group);
}

/* ------------------------------------------------------------ the thread
 */

/* One turn of the writer's loop, without waiting: the file checks and the
 * checkpoint due between groups, then, with no transaction open, the job at
 * the head of the pending ones (with its group); with one open, its next
 * job. Returns true when it served a job or ended the transaction. */
static bool turn(struct writer *wr)
{
    bool did = false;

    watchdog_busy(wr->watchdog);
    dbfile_check_due(&wr->file);
    if (wr->tx.id == 0)
        secure_wal(wr);
    if (wr->tx.id == 0)
        checkpoint_between_groups(&wr->ckpt);
    int64_t started = clock_now();
    if (wr->tx.id == 0 && !list_empty(&wr->pending)) {
        serve_next(wr);
        did = true;
    } else if (wr->tx.id != 0) {
        did = serve_tx(wr);
    }
    if (did)
        worker_account(&wr->worker, started);
    return did;
}

bool writer_turn(struct writer *wr, struct job *jobs)
{
    for (struct job *job = jobs; job; job = job->next)
        stats_add(&wr->stats->writer_queue, 1);
    pending_append(wr, jobs);
    return turn(wr);
}

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    bool closed = false;

    crash_thread_init("sqlited-writer");
    wr->watchdog = watchdog_register("the writer");
    for (;;) {
        /* After a group, the jobs queued meanwhile join the pending ones
         * before the next group is made. */
        bool grouping = wr->tx.id == 0;
        if (turn(wr)) {
            if (grouping)
                pending_append(wr, job_queue_take_all(&wr->queue));
            continue;
        }
        if (closed) {
            if (wr->tx.id == 0)
                break;
            /* Cannot happen: a closing connection rolls back its
             * transaction before the queue is shut down. */
            tx_end(wr, "the daemon shut down");
            continue;
        }
        int64_t until =
            wr->tx.id != 0 ? tx_wakeup(wr) : checkpoint_wakeup(&wr->ckpt);
        int64_t check = dbfile_next_check(&wr->file);
        if (until == 0 || check < until)
            until = check;
        /* Waiting for work is not being stuck. */
        watchdog_idle(wr->watchdog);
        pending_append(wr, job_queue_wait_all(&wr->queue, until, &closed));
    }

    /* What follows at shutdown is bounded, and systemd no longer watches. */
    watchdog_unregister(wr->watchdog);
    wr->watchdog = NULL;

    /* SQLite removes the WAL and shared-memory files by path when the last
     * connection closes: once the path names another database, those files
     * may be that database's, so they stay. */
    if (!dbfile_check(&wr->file)) {
        int persist = 1;
        sqlite3_file_control(wr->worker.db, "main", SQLITE_FCNTL_PERSIST_WAL,
                             &persist);
        log_warn("leaving %s-wal and %s-shm in place: the path no longer "
                 "names the daemon's database",
                 wr->cfg->database, wr->cfg->database);
    }
    /* Leave a database that needs no WAL to be read: fold the log back in
     * and truncate it, so backups of the main file alone are complete. */
    struct checkpoint_result res;
    if (checkpoint_run(&wr->ckpt, SQLITE_CHECKPOINT_TRUNCATE,
                       clock_now() + CHECKPOINT_WAIT_MS * CLOCK_NS_PER_MS,
                       &res) == SQLITE_OK &&
        res.busy)
        log_warn("final checkpoint: another process holds a snapshot; the "
                 "WAL keeps %lld bytes",
                 (long long)res.after);
    return NULL;
}

int writer_init(struct writer *wr, const struct config *cfg,
                const atomic_bool *stop, struct stats *stats, job_done_fn *done,
                void *done_arg, checkpoint_release_fn *release, char *err,
                size_t errlen)
{
    sqlite3 *db;

    *wr = (struct writer){
        .done = done, .done_arg = done_arg, .cfg = cfg, .stats = stats};
    list_init(&wr->pending);
    if (db_open_writer(cfg, &db, err, errlen) != SQLITE_OK)
        return -1;
    if (dbfile_init(&wr->file, cfg->database, err, errlen) != 0) {
        db_close(db);
        return -1;
    }
    if (migrate_state_init(&wr->migration, &stats->migrations_pending) != 0) {
        snprintf(err, errlen, "cannot create the writer's migration state");
        dbfile_close(&wr->file);
        db_close(db);
        return -1;
    }
    if (worker_init(&wr->worker, db, true, cfg, stop, stats) != SQLITE_OK) {
        snprintf(err, errlen, "cannot prepare the writer's statements: %s",
                 sqlite3_errmsg(db));
        goto fail_db;
    }
    if (checkpoint_init(&wr->ckpt, &wr->worker, cfg, stats, release, done_arg,
                        err, errlen))
        goto fail_db;
    return 0;

fail_db:
    worker_close(&wr->worker);
    dbfile_close(&wr->file);
    migrate_state_close(&wr->migration);
    return -1;
}

void writer_close(struct writer *wr)
{
    checkpoint_close(&wr->ckpt);
    worker_close(&wr->worker);
    dbfile_close(&wr->file);
    migrate_state_close(&wr->migration);
}

int writer_start(struct writer *wr, const struct config *cfg,
                 const atomic_bool *stop, struct stats *stats,
                 job_done_fn *done, void *done_arg,
                 checkpoint_release_fn *release, char *err, size_t errlen)
{
    if (writer_init(wr, cfg, stop, stats, done, done_arg, release, err, errlen))
        return -1;
    if (job_queue_init(&wr->queue)) {
        snprintf(err, errlen, "cannot create the writer's queue");
        goto fail;
    }
    if (pthread_create(&wr->thread, NULL, writer_main, wr)) {
        snprintf(err, errlen, "cannot start the writer thread");
        job_queue_close(&wr->queue);
        goto fail;
    }
    wr->running = true;
    return 0;

fail:
    writer_close(wr);
    return -1;
}

void writer_submit(struct writer *wr, struct job *job)
{
    stats_add(&wr->stats->writer_queue, 1);
    job_queue_push(&wr->queue, job);
}

uint64_t writer_next_tx(struct writer *wr)
{
    return atomic_fetch_add(&wr->last_tx, 1) + 1;
}

void writer_wake(struct writer *wr)
{
    job_queue_wake(&wr->queue);
}

void writer_stop(struct writer *wr)
{
    if (!wr->running)
        return;
    job_queue_shutdown(&wr->queue);
    pthread_join(wr->thread, NULL);
    job_queue_close(&wr->queue);
    writer_close(wr);
    wr->running = false;
}
