/* Run one request's SQL on a connection and encode its reply.
 *
 * Used by the writer and the reader threads alike; each owns one struct
 * worker and never shares its connection. The writer also drives its
 * transactions through here (execute_control), so that every statement on a
 * connection passes the same authorizer, progress and busy handlers.
 */
#ifndef SQLITED_EXECUTE_H
#define SQLITED_EXECUTE_H

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
    bool writer; /* the read-write connection */
    const struct config *cfg;
    size_t max_reply;        /* bytes; a larger result is SQLITED_TOO_LARGE */
    struct stmt_cache cache; /* of db */
    const atomic_bool *stop; /* set when running statements must end */
    struct stats *stats;
    struct job *current;  /* the job running now, for the handlers */
    int64_t deadline;     /* the current job's (clock.h); 0: none */
    int64_t deadline_cap; /* the writer's: an earlier end for every job (the
                             transaction's maximum duration); 0: none */
    bool timed_out;       /* the progress handler stopped at the deadline */
    bool released; /* the progress handler stopped it for the WAL limit */
    struct worker_watch *watch; /* readers' (readers.c); NULL otherwise */
    bool in_tx;                 /* a transaction is open: jobs get savepoints */
    bool grouped;               /* in a group commit: VACUUM must run alone */
    struct authorizer auth;
    sqlite3_stmt *control[CONTROL_COUNT]; /* writer only */
    /* SQLite's memory for this connection (page cache, schema, prepared
     * statements), as of its last job: read by the loop for the metrics. */
    atomic_uint_fast64_t sqlite_memory;
};

/* Prepares @w to run jobs on @db: installs its handlers and, for the writer,
 * prepares the control statements. Returns SQLITE_OK or an error code. */
int execute_init(struct worker *w, sqlite3 *db, bool writer,
                 const struct config *cfg, const atomic_bool *stop,
                 struct stats *stats);

/* Books the work the worker did since @started (a clock_now() value) in
 * the stats: its busy time, and its connection's page-cache hits, misses
 * and writes since the last call (sqlite3_db_status, per connection:
 * SQLite's global statistics are off, see db.c), and sets
 * w->sqlite_memory. The worker's thread only. */
void execute_account(struct worker *w, int64_t started);

/* Finalizes the worker's statements and closes its connection. */
void execute_close(struct worker *w);

/* Gives a reader whose connection went to a cursor a new one. Returns
 * SQLITE_OK or an error, with a message in @err. */
int execute_reopen(struct worker *w, char *err, size_t errlen);

enum execute_result {
    EXECUTE_DONE,    /* job->reply holds the answer (NULL: nobody waits) */
    EXECUTE_FORWARD, /* a reader met a statement that writes: give the job to
                        the writer */
    EXECUTE_ALONE,   /* in a group, the job holds VACUUM: nothing of it was
                        applied; run it again outside any transaction */
    EXECUTE_LOST,    /* the job failed (its reply says why) and SQLite rolled
                        back the whole open transaction with it */
};

/* Runs @job (query, exec, batch, bulk, explain; on a reader also fetch and
 * close, which use their cursor's connection) on @w's connection and stores
 * the encoded response, success or error, in job->reply. A reader's query
 * whose rows do not fit one chunk opens a cursor (job->cursor) and gives it
 * the reader's connection: w->db is then NULL until execute_reopen(). Inside a
 * transaction (w->in_tx) the job runs in its own savepoint, so a failed job
 * leaves nothing behind. A job that was cancelled gets no reply; one whose
 * deadline has passed gets SQLITED_TIMEOUT without running. */
enum execute_result execute_job(struct worker *w, struct job *job);

/* Runs control statement @c. BEGIN IMMEDIATE and COMMIT wait for locks held
 * by other processes until w->deadline. Returns SQLITE_OK or the error,
 * with its message in sqlite3_errmsg(w->db). */
int execute_control(struct worker *w, enum control c);

/* Rolls back the open transaction, if any; a failure is logged. */
void execute_rollback(struct worker *w);

/* Answers @job with SQLITED_TIMEOUT: its deadline passed before it ran. */
void execute_fail_timeout(struct worker *w, struct job *job);

/* Claims @job for @w: false, with the job answered (SQLITED_TIMEOUT) or
 * dropped (its client left, or the loop answered it), when it must not run. */
bool execute_claim(struct worker *w, struct job *job);

/* Makes @job the worker's current one: its deadline, capped by the
 * worker's (an interactive transaction's maximum duration), is what the
 * progress handler enforces. */
void execute_begin(struct worker *w, struct job *job);

/* Answers @job with SQLITE_BUSY: the database stayed locked by another
 * process until its deadline. */
void execute_fail_busy(struct worker *w, struct job *job);

/* True when [@p, @end) holds only what SQLite skips between statements:
 * white space, semicolons and comments. */
bool execute_only_filler(const char *p, const char *end);

/* Skips filler at @p and matches the keyword or identifier @word there,
 * ignoring case. Returns where the word ends, or NULL when it is not there
 * (or is only the start of a longer word). */
const char *execute_word(const char *p, const char *end, const char *word);

#endif /* SQLITED_EXECUTE_H */
