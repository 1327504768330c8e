#include "writer.h"

#include <stdio.h>

#include "db.h"
#include "log.h"

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    struct job *job;

    while ((job = job_queue_pop(&wr->queue)) != NULL) {
        execute_job(&wr->worker, job);
        wr->done(job, wr->done_arg);
    }

    /* Leave a database that needs no WAL to be read: fold the log back in
     * and truncate it, so backups of the main file alone are complete. */
    int logged = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(
        wr->worker.db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &logged, &done);
    if (rc != SQLITE_OK)
        log_warn("final checkpoint: %s", sqlite3_errmsg(wr->worker.db));
    else
        log_debug("final checkpoint: %d of %d frames", done, logged);
    return NULL;
}

int writer_start(struct writer *wr, const struct config *cfg,
                 const atomic_bool *stop, job_done_fn *done, void *done_arg,
                 char *err, size_t errlen)
{
    sqlite3 *db;

    *wr = (struct writer){.done = done, .done_arg = done_arg};
    if (db_open_writer(cfg, &db, err, errlen) != SQLITE_OK)
        return -1;
    execute_init(&wr->worker, db, true, cfg->max_message_size, stop);
    if (job_queue_init(&wr->queue)) {
        snprintf(err, errlen, "cannot create the writer's queue");
        goto fail_db;
    }
    if (pthread_create(&wr->thread, NULL, writer_main, wr)) {
        snprintf(err, errlen, "cannot start the writer thread");
        goto fail_queue;
    }
    wr->running = true;
    return 0;

fail_queue:
    job_queue_close(&wr->queue);
fail_db:
    db_close(db);
    return -1;
}

void writer_submit(struct writer *wr, struct job *job)
{
    job_queue_push(&wr->queue, job);
}

void writer_stop(struct writer *wr)
{
    if (!wr->running)
        return;
    job_queue_shutdown(&wr->queue);
    pthread_join(wr->thread, NULL);
    job_queue_close(&wr->queue);
    db_close(wr->worker.db);
    wr->running = false;
}
