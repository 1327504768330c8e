/* The reader threads: each owns one read-only connection; together they
 * serve queries in parallel, taking them in arrival order. */
#ifndef SQLITED_READERS_H
#define SQLITED_READERS_H

#include "writer.h"

struct readers {
    struct worker *workers;
    struct worker_watch *watches; /* one per worker */
    pthread_t *threads;
    unsigned count; /* threads started */
    struct job_queue queue;
    struct writer *writer; /* takes queries that turn out to write */
    struct stats *stats;
    job_done_fn *done;
    void *done_arg;
};

/* Opens cfg->readers read-only connections and starts a thread for each.
 * Start the writer first. Returns 0, or -1 with a message in @err. */
int readers_start(struct readers *rd, const struct config *cfg,
                  struct writer *writer, const atomic_bool *stop,
                  struct stats *stats, job_done_fn *done, void *done_arg,
                  char *err, size_t errlen);

/* Queues @job for the next free reader; thread-safe. */
void readers_submit(struct readers *rd, struct job *job);

/* For the loop thread, when the WAL is over its limit: the reader whose
 * running job began earliest, before @before (clock.h), or -1 when none
 * did; *@started receives when it began. */
int readers_oldest(struct readers *rd, int64_t before, int64_t *started);

/* Interrupts reader @i's running job if it began before @before: it fails
 * with SQLITED_INTERRUPTED, naming the WAL limit. Thread-safe. */
void readers_release(struct readers *rd, unsigned i, int64_t before);

/* Finishes the queued jobs, then joins the threads and closes the
 * connections. Stop the readers before the writer: they may forward to it. */
void readers_stop(struct readers *rd);

#endif /* SQLITED_READERS_H */
