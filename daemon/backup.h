/* Online backups: a consistent copy of the database, taken on a thread of
 * its own, checked, and moved into the backup directory only once whole.
 *
 * The backup thread owns a read-only connection to the database. For each
 * backup it opens a read transaction on it and copies the pages with
 * SQLite's backup API, a few hundred at a time, from that one WAL snapshot:
 * the copy holds exactly the transactions committed before it began, the
 * writer is never held (in WAL mode readers and the writer do not block each
 * other), and the copy never restarts however much is written meanwhile (a
 * backup restarts only when its source changes between steps, and a held
 * snapshot does not). The price: while it runs, checkpoints cannot move the
 * pages written after the snapshot into the database file, so the WAL may
 * grow by what is written during the backup.
 */
#ifndef SQLITED_BACKUP_H
#define SQLITED_BACKUP_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "stats.h"
#include "writer.h"

/* Pages copied by one sqlite3_backup_step(). */
#define BACKUP_STEP_PAGES 256

/* Room for a backup's path: a directory and a file name in it. */
#define BACKUP_PATH_MAX (PATH_MAX + NAME_MAX + 2)

/* Names the daemon gives: "sqlited-YYYYMMDD-HHMMSS-mmm.db" (UTC) for a
 * backup asked for without a name, "sqlited-auto-..." for scheduled ones.
 * Only the scheduled ones are rotated. */
#define BACKUP_NAME_PREFIX "sqlited-"
#define BACKUP_AUTO_PREFIX "sqlited-auto-"

struct backup {
    const struct config *cfg;
    struct stats *stats;
    const atomic_bool *stop;
    job_done_fn *done;
    void *done_arg;
    struct job_queue queue;
    pthread_t thread;
    bool running;
    int dirfd;               /* the backup directory, opened at start */
    char dir[PATH_MAX];      /* its real path */
    sqlite3 *src;            /* the thread's read-only connection */
    unsigned seq;            /* numbers temporary names */
    int64_t next_at;         /* clock of the next scheduled backup; 0: none */
    atomic_bool rescheduled; /* SIGHUP changed backup-interval */

    /* The last backup's path, for `stats`; its figures are in stats. */
    pthread_mutex_t last_mutex;
    char last_path[BACKUP_PATH_MAX];
};

/* Opens (creating it 0700 if missing) cfg->backup_dir and the source
 * connection, and starts the thread. Start the writer first (the database
 * must be in WAL mode). Does nothing, successfully, when cfg->backup_dir is
 * NULL. Returns 0, or -1 with a message in @err. */
int backup_start(struct backup *b, const struct config *cfg,
                 const atomic_bool *stop, struct stats *stats,
                 job_done_fn *done, void *done_arg, char *err, size_t errlen);

/* Queues a `backup` job; thread-safe. job->req.sql[0..sql_len) is the
 * destination asked for, or NULL for a name of the daemon's. */
void backup_submit(struct backup *b, struct job *job);

/* Copies the last backup's path into @out (empty when none); thread-safe,
 * and holds a lock only for the copy. */
void backup_last_path(struct backup *b, char *out, size_t size);

/* SIGHUP changed the configuration: the thread takes the backup-interval
 * and backup-keep now in force (the next scheduled backup is one interval
 * from now). Does nothing without a backup thread (no --backup-dir). */
void backup_reschedule(struct backup *b);

/* Finishes the queued jobs (a backup running when the daemon's stop flag is
 * set is abandoned, its temporary file removed), joins the thread, closes
 * the connection and the directory. Accepts a backup never started. */
void backup_stop(struct backup *b);

#endif /* SQLITED_BACKUP_H */
