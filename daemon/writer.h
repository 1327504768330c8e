/* The writer thread: owns the only read-write connection and runs every
 * write, in the order received. */
#ifndef SQLITED_WRITER_H
#define SQLITED_WRITER_H

#include <pthread.h>
#include <stdatomic.h>

#include "config.h"
#include "execute.h"
#include "job.h"

/* Called on the worker's thread with each finished job. */
typedef void job_done_fn(struct job *job, void *arg);

struct writer {
    struct worker worker;
    struct job_queue queue;
    pthread_t thread;
    job_done_fn *done;
    void *done_arg;
    bool running;
};

/* Opens the read-write connection (creating the database, switching it to
 * WAL) and starts the thread. Returns 0, or -1 with a message in @err. */
int writer_start(struct writer *wr, const struct config *cfg,
                 const atomic_bool *stop, job_done_fn *done, void *done_arg,
                 char *err, size_t errlen);

/* Queues @job; thread-safe. */
void writer_submit(struct writer *wr, struct job *job);

/* Finishes the queued jobs, checkpoints the WAL into the database file,
 * closes the connection and joins the thread. */
void writer_stop(struct writer *wr);

#endif /* SQLITED_WRITER_H */
