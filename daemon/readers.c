#include "readers.h"

#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "crash.h"
#include "db.h"
#include "log.h"
#include "maintenance.h"
#include "route.h"
#include "run.h"
#include "sqlited.h"

struct reader_arg {
    struct readers *rd;
    struct worker *w;
};

static void *reader_main(void *arg)
{
    struct readers *rd = ((struct reader_arg *)arg)->rd;
    struct worker *w = ((struct reader_arg *)arg)->w;
    struct job *job;
    bool failing = false; /* cannot reopen: logged once, not per job */

    char name[16];
    snprintf(name, sizeof(name), "sqlited-rdr-%u",
             (unsigned)(w - rd->workers) % 1000);
    crash_thread_init(name);
    free(arg);
    while ((job = job_queue_pop(&rd->queue)) != NULL) {
        char err[768];
        stats_sub(&rd->stats->reader_queue, 1);
        /* The last query gave this reader's connection to a cursor. A fetch
         * or close needs none: it uses its cursor's. */
        bool own = job->cursor == NULL && job->snapshot == NULL;
        /* A new connection would open whatever file the path names now:
         * not while that is another database than the writer's. */
        char why[512];
        if (own && w->db == NULL &&
            dbfile_failure(&rd->writer->file, why, sizeof(why)) != NULL) {
            snprintf(err, sizeof(err),
                     "%s; a read that needs a new connection to it is "
                     "refused until it is back",
                     why);
            if (job_claim(job))
                job_fail(job, SQLITED_DATABASE_GONE, err);
            rd->done(job, rd->done_arg);
            continue;
        }
        if (own && w->db == NULL && worker_reopen(w, err, sizeof(err)) != 0) {
            if (!failing)
                log_error("reader: %s", err);
            failing = true;
            if (job_claim(job))
                job_fail(job, SQLITED_INTERNAL, err);
            rd->done(job, rd->done_arg);
            continue;
        }
        if (own && failing) {
            log_info("reader: its database connection is open again");
            failing = false;
        }
        int64_t started = clock_now();
        if (job->method == RPC_INTEGRITY) {
            maintenance_integrity(w, job);
            rd->done(job, rd->done_arg);
        } else if (job->method == RPC_BEGIN) {
            snapshot_begin(w, job, rd->writer);
            rd->done(job, rd->done_arg);
        } else if (job->snapshot != NULL && job->cursor == NULL) {
            /* A read in a read-only transaction, on its connection: a
             * statement that writes is refused there, never forwarded. */
            snapshot_run(job);
            rd->done(job, rd->done_arg);
        } else if (execute_job(w, job) == EXECUTE_FORWARD &&
                   route_decide(job, ROUTE_WRITES) == ROUTE_WRITER) {
            /* Nothing of it ran: until the writer takes it, its deadline
             * is the loop's again. */
            job_unclaim(job);
            writer_submit(rd->writer, job);
        } else
            rd->done(job, rd->done_arg);
        worker_account(w, started);
    }
    return NULL;
}

int readers_start(struct readers *rd, const struct config *cfg,
                  struct writer *writer, const atomic_bool *stop,
                  struct stats *stats, job_done_fn *done, void *done_arg,
                  char *err, size_t errlen)
{
    *rd = (struct readers){
        .writer = writer, .stats = stats, .done = done, .done_arg = done_arg};
    rd->workers = calloc(cfg->readers, sizeof(*rd->workers));
    rd->threads = calloc(cfg->readers, sizeof(*rd->threads));
    rd->watches = calloc(cfg->readers, sizeof(*rd->watches));
    if (rd->workers == NULL || rd->threads == NULL || rd->watches == NULL ||
        job_queue_init(&rd->queue)) {
        snprintf(err, errlen, "out of memory starting the readers");
        free(rd->workers);
        free(rd->threads);
        free(rd->watches);
        *rd = (struct readers){0};
        return -1;
    }
    for (unsigned i = 0; i < cfg->readers; i++) {
        sqlite3 *db;
        struct reader_arg *arg = malloc(sizeof(*arg));
        if (arg == NULL) {
            snprintf(err, errlen, "out of memory starting the readers");
            goto fail;
        }
        if (db_open_reader(cfg, &db, err, errlen) != SQLITE_OK) {
            free(arg);
            goto fail;
        }
        worker_init(&rd->workers[i], db, false, cfg, stop, stats);
        rd->workers[i].watch = &rd->watches[i];
        *arg = (struct reader_arg){.rd = rd, .w = &rd->workers[i]};
        if (pthread_create(&rd->threads[i], NULL, reader_main, arg)) {
            snprintf(err, errlen, "cannot start reader thread %u", i);
            free(arg);
            db_close(db);
            goto fail;
        }
        rd->count++;
    }
    return 0;

fail:
    readers_stop(rd);
    return -1;
}

void readers_submit(struct readers *rd, struct job *job)
{
    stats_add(&rd->stats->reader_queue, 1);
    job_queue_push(&rd->queue, job);
}

int readers_oldest(struct readers *rd, int64_t before, int64_t *started)
{
    int oldest = -1;
    for (unsigned i = 0; i < rd->count; i++) {
        int64_t at =
            atomic_load_explicit(&rd->watches[i].started, memory_order_relaxed);
        if (at != 0 && at < before && (oldest < 0 || at < *started)) {
            oldest = (int)i;
            *started = at;
        }
    }
    return oldest;
}

void readers_release(struct readers *rd, unsigned i, int64_t before)
{
    atomic_store_explicit(&rd->watches[i].release_before, before,
                          memory_order_relaxed);
}

void readers_stop(struct readers *rd)
{
    if (rd->workers == NULL)
        return;
    job_queue_shutdown(&rd->queue);
    for (unsigned i = 0; i < rd->count; i++) {
        pthread_join(rd->threads[i], NULL);
        worker_close(&rd->workers[i]);
    }
    job_queue_close(&rd->queue);
    free(rd->workers);
    free(rd->threads);
    free(rd->watches);
    rd->workers = NULL;
    rd->threads = NULL;
    rd->watches = NULL;
    rd->count = 0;
}
