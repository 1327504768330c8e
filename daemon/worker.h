/* A worker: one thread's own SQLite connection, with the handlers every
 * statement on it passes (authorizer, progress, busy), its statement cache,
 * and the daemon's transaction statements on the writer's.
 *
 * The writer, each reader and each cursor own one struct worker and never
 * share its connection. A worker is started with worker_init(), given a new
 * connection with worker_reopen() when its last one went to a cursor, and
 * ended with worker_close(); each job enters it through worker_claim() and
 * worker_begin().
 */
#ifndef SQLITED_WORKER_H
#define SQLITED_WORKER_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "authorizer.h"
#include "config.h"
#include "job.h"
#include "stats.h"
#include "stmt_cache.h"

/* The daemon's own transaction statements, prepared once on the writer. */
enum control {
    CONTROL_BEGIN_DEFERRED,
    CONTROL_BEGIN_IMMEDIATE,
    CONTROL_COMMIT,
    CONTROL_ROLLBACK,
    CONTROL_SAVEPOINT,
    CONTROL_RELEASE,
    CONTROL_ROLLBACK_TO,
    CONTROL_COUNT
};

/* A reader's running job, as the loop thread sees it when the WAL is over
 * its limit and the oldest holder of a snapshot must end (checkpoint.h). */
struct worker_watch {
    atomic_int_fast64_t started; /* clock.h time the running job began; 0:
                                    none */
    atomic_int_fast64_t release_before; /* interrupt a job that began
                                           before this (clock.h); 0: none */
};

struct worker {
    sqlite3 *db;
    bool writer;  /* the read-write connection */
    bool on_loop; /* an I/O loop's own (inline_read.h): never waits, never
                     opens a cursor; what it cannot finish within its budget
                     is handed off (EXECUTE_HANDOFF) */
    const struct config *cfg;
    size_t max_reply;        /* bytes; a larger result is SQLITED_TOO_LARGE */
    struct stmt_cache cache; /* of db */
    const atomic_bool *stop; /* set when running statements must end */
    struct stats *stats;
    struct job *current;  /* the job running now, for the handlers */
    struct job *waiting;  /* the writer's: the group (linked by next) whose
                             BEGIN waits for another process's lock */
    int64_t deadline;     /* the current job's (clock.h); 0: none */
    int64_t deadline_cap; /* the writer's: an earlier end for every job (the
                             transaction's maximum duration); 0: none */
    bool timed_out;       /* the progress handler stopped at the deadline */
    bool cancel_seen;     /* the progress handler stopped it: its client sent
                             cancel (job->cancel_asked) */
    bool released; /* the progress handler stopped it for the WAL limit */
    struct worker_watch *watch; /* readers' (readers.c); NULL otherwise */
    bool in_tx;                 /* a transaction is open: jobs get savepoints */
    bool read_tx; /* holds a read-only transaction (snapshot.h): a statement
                     that writes is refused, not passed on to the writer,
                     and a result's cursor keeps to this connection */
    bool grouped; /* in a group commit: VACUUM must run alone */
    struct authorizer auth;
    sqlite3_stmt *control[CONTROL_COUNT]; /* writer only */
    /* SQLite's memory for this connection (page cache, schema, prepared
     * statements), as of its last job: read by the loop for the metrics. */
    atomic_uint_fast64_t sqlite_memory;
    /* The schema's and the statements' part of it, and when it was last
     * measured (clock.h; 0: not yet, for this connection). */
    uint64_t measured_bytes;
    int64_t measured_at;
};

/* Prepares @w to run jobs on @db: installs its handlers and, for the writer,
 * prepares the control statements. Returns SQLITE_OK or an error code. */
int worker_init(struct worker *w, sqlite3 *db, bool writer,
                const struct config *cfg, const atomic_bool *stop,
                struct stats *stats);

/* Books the work the worker did since @started (a clock_now() value) in
 * the stats: its busy time, and its connection's page-cache hits, misses
 * and writes since the last call (sqlite3_db_status, per connection:
 * SQLite's global statistics are off, see db.c), and sets
 * w->sqlite_memory: the page cache's as of now, the schema's and the
 * prepared statements' as of their last measure, at most a second
 * ago when the worker ran a job since. @started 0 books no busy time (the
 * loop's connection, whose time is the loop's). The worker's thread only. */
void worker_account(struct worker *w, int64_t started);

/* Finalizes the worker's statements and closes its connection. */
void worker_close(struct worker *w);

/* Gives a reader whose connection went to a cursor a new one. Returns
 * SQLITE_OK or an error, with a message in @err. */
int worker_reopen(struct worker *w, char *err, size_t errlen);

/* Runs control statement @c. BEGIN IMMEDIATE and COMMIT wait for locks held
 * by other processes until w->deadline. Returns SQLITE_OK or the error,
 * with its message in sqlite3_errmsg(w->db). */
int worker_control(struct worker *w, enum control c);

/* Rolls back the open transaction, if any; a failure is logged. */
void worker_rollback(struct worker *w);

/* Answers @job with SQLITED_TIMEOUT: its deadline passed before it ran. */
void worker_fail_timeout(struct worker *w, struct job *job);

/* Claims @job for @w: false, with the job answered (SQLITED_TIMEOUT, or
 * SQLITED_INTERRUPTED when its client cancelled it) or dropped (its client
 * left, or the loop answered it), when it must not run. */
bool worker_claim(struct worker *w, struct job *job);

/* Makes @job the worker's current one: its deadline, capped by the
 * worker's (an interactive transaction's maximum duration), is what the
 * progress handler enforces. */
void worker_begin(struct worker *w, struct job *job);

/* Answers @job with SQLITE_BUSY: the database stayed locked by another
 * process until its deadline. */
void worker_fail_busy(struct worker *w, struct job *job);

/* Answers @job with SQLITED_INTERRUPTED: its client cancelled it, before it
 * ran (@running false) or while it ran. */
void worker_fail_cancelled(struct worker *w, struct job *job, bool running);

/* True when the client of @job asked to cancel it. */
bool worker_cancel_asked(const struct job *job);

/* Sleeps before retry @attempt (0, 1, ...) of work that met a lock held by
 * another process. Returns false, without sleeping, when the work must give
 * up instead: its deadline has passed, its client left or cancelled it (or
 * cancelled one of the group waiting), or the daemon is stopping. Never
 * sleeps past the deadline. */
bool worker_backoff(struct worker *w, int attempt);

#endif /* SQLITED_WORKER_H */
