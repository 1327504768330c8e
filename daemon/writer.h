/* The writer thread: owns the only read-write connection. It commits the
 * write requests queued at each moment together (group commit) and runs the
 * interactive transactions. */
#ifndef SQLITED_WRITER_H
#define SQLITED_WRITER_H

#include <pthread.h>
#include <stdatomic.h>

#include "checkpoint.h"
#include "config.h"
#include "dbfile.h"
#include "execute.h"
#include "job.h"
#include "list.h"
#include "migrate.h"
#include "stats.h"
#include "watchdog.h"

/* Called on the worker's thread with each finished job. */
typedef void job_done_fn(struct job *job, void *arg);

/* How many ended transactions the writer remembers, to tell a client why
 * its transaction is gone. */
#define WRITER_ENDED 64

struct writer {
    struct worker worker;
    struct job_queue queue;
    struct checkpoint ckpt;
    pthread_t thread;
    job_done_fn *done;
    void *done_arg;
    const struct config *cfg;
    struct stats *stats;
    bool running;
    /* The database's files: whether its path still names them. Read
     * dbfile_failure() from any thread. */
    struct dbfile file;
    /* The last migrate up or down that failed, until one succeeds. Read
     * migrate_failure() from any thread. */
    struct migrate_state migration;
    /* The last transaction id given, by the writer or by a reader to a
     * read-only transaction (writer_next_tx()). */
    atomic_uint_fast64_t last_tx;

    /* The writer thread's own. */
    struct watchdog_slot *watchdog; /* busy from each job's start until it
                                       waits for work (watchdog.h) */
    struct list pending;     /* taken from the queue, not run (job->pending) */
    bool wal_secured;        /* the file is gone and the WAL was emptied */
    int64_t wal_secure_next; /* when to try emptying it again; 0: now */
    struct {
        uint64_t id;    /* 0: none open */
        uint64_t owner; /* the conn_id of its connection (job.h) */
        int64_t idle_deadline;
        int64_t max_deadline; /* --tx-max-duration after it began; 0: none */
        bool fks_at_commit;   /* foreign keys off until its COMMIT checks
                                 them (begin's foreign_keys "at_commit") */
    } tx;
    struct {
        uint64_t id;
        char why[112];
    } ended[WRITER_ENDED];
};

/* Opens the read-write connection (creating the database, switching it to
 * WAL) and starts the thread. @release (may be NULL) is called on the
 * writer thread when the WAL is over its limit (checkpoint.h). Returns 0,
 * or -1 with a message in @err. */
int writer_start(struct writer *wr, const struct config *cfg,
                 const atomic_bool *stop, struct stats *stats,
                 job_done_fn *done, void *done_arg,
                 checkpoint_release_fn *release, char *err, size_t errlen);

/* Queues @job; thread-safe. */
void writer_submit(struct writer *wr, struct job *job);

/* A new transaction id, never given before in the daemon's life: the
 * writer's transactions and the readers' read-only ones share the series,
 * so that an id names one transaction. Thread-safe. */
uint64_t writer_next_tx(struct writer *wr);

/* Makes the thread look at the stop flag now; thread-safe. */
void writer_wake(struct writer *wr);

/* Finishes the queued jobs, checkpoints the WAL into the database file,
 * closes the connection and joins the thread. */
void writer_stop(struct writer *wr);

/* The writer without its thread and queue, driven one turn at a time by
 * the caller (the unit tests and the fuzzers): the same code serves the
 * jobs as on the writer thread, on the caller's thread. */

/* Opens the read-write connection on @cfg->database as writer_start()
 * does, with its checkpointing and file checks, but starts no thread and
 * makes no queue: writer_submit(), writer_wake() and writer_stop() are not
 * for such a writer. @done is called with each finished job from inside
 * writer_turn(). Every pointer is borrowed until writer_close(). Returns 0,
 * or -1 with a message in @err. */
int writer_init(struct writer *wr, const struct config *cfg,
                const atomic_bool *stop, struct stats *stats, job_done_fn *done,
                void *done_arg, checkpoint_release_fn *release, char *err,
                size_t errlen);

/* Puts @jobs (a list linked by next, in order; NULL: none), which the
 * writer owns until @done hands each back, behind the jobs waiting, then
 * takes one turn of the writer thread's loop, without waiting:
 * - with no transaction open, the first waiting job runs alone (begin,
 *   checkpoint, maintenance, a job of a transaction no longer open, one
 *   whose client is gone or whose deadline passed) or with the groupable
 *   jobs behind it (up to --group-max and --group-bytes) in one group
 *   commit, each in a savepoint of its own: one that fails leaves nothing
 *   and the others commit; a VACUUM goes back to the head, to run alone at
 *   the next turn;
 * - with a transaction open, the transaction's next job runs; the jobs of
 *   other connections wait for it to end, and those answered without
 *   running (their deadline passed, their client is gone, they name
 *   another transaction) are answered.
 * Returns true when it served a job or ended the transaction; false when
 * nothing can be served now (no job waits, or only jobs waiting for another
 * connection's transaction). The caller's thread stands for the writer
 * thread: never call it on a writer started with writer_start(). */
bool writer_turn(struct writer *wr, struct job *jobs);

/* Closes what writer_init() opened. The jobs still waiting stay the
 * caller's. */
void writer_close(struct writer *wr);

#endif /* SQLITED_WRITER_H */
