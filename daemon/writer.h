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
#include "migrate.h"
#include "stats.h"

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

    /* The writer thread's own. */
    struct job *pending, *pending_tail; /* taken from the queue, not run */
    uint64_t last_tx;                   /* the last transaction id given */
    bool wal_secured;        /* the file is gone and the WAL was emptied */
    int64_t wal_secure_next; /* when to try emptying it again; 0: now */
    struct {
        uint64_t id;    /* 0: none open */
        uint64_t owner; /* the conn_id of its connection (job.h) */
        int64_t idle_deadline;
        int64_t max_deadline; /* --tx-max-duration after it began; 0: none */
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

/* Makes the thread look at the stop flag now; thread-safe. */
void writer_wake(struct writer *wr);

/* Finishes the queued jobs, checkpoints the WAL into the database file,
 * closes the connection and joins the thread. */
void writer_stop(struct writer *wr);

#endif /* SQLITED_WRITER_H */
