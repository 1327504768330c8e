/* Schema migrations: the files of --migrations DIR, NNNN_name.up.sql with an
 * optional NNNN_name.down.sql, applied in order, each in one transaction
 * together with its row in schema_migrations (version, name, checksum: the
 * SHA-256 of the up file, applied_at).
 *
 * The daemon applies the pending ones at start-up, as the writer's first
 * job, answering meanwhile only what tells operators it is migrating; the
 * `migrate` method (up, down, status) runs on the writer, alone between
 * groups, so that two calls at once are carried out one after the other.
 */
#ifndef SQLITED_MIGRATE_H
#define SQLITED_MIGRATE_H

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "config.h"
#include "execute.h"
#include "job.h"

enum migrate_action { MIGRATE_STATUS, MIGRATE_UP, MIGRATE_DOWN };

/* No version given: up to the latest, or down by one. */
#define MIGRATE_DEFAULT INT64_C(-1)

struct migrate_state;

/* Carries out @action towards @version (MIGRATE_DEFAULT or a version) with
 * the files of @dir on @db, which must be outside any transaction. Each
 * migration runs in its own transaction with its row; the first that fails
 * stops the run, rolled back, leaving the database at the version before
 * it. When @out is not NULL the result map (PROTOCOL.md, migrate) is packed
 * into it; when @progress is not NULL the migration being applied is
 * recorded there as the run goes (migrate_progress()). Returns 0, or an
 * error code (a SQLite code, or SQLITED_BAD_REQUEST for an impossible
 * version) with a message naming the file in @err. */
int migrate_exec(sqlite3 *db, const char *dir, enum migrate_action action,
                 int64_t version, struct codec_buf *out,
                 struct migrate_state *progress, char *err, size_t errlen);

/* What the writer's migrations are doing, for any thread to read.
 *
 * The failure of the last `migrate up` or `down`, kept until one succeeds:
 * while it is set, health reports the daemon not ready (health.c).
 *
 * The start-up migrations: from migrate_startup_job() until the loop thread
 * takes that job back (migrate_startup_done()), the daemon is "migrating":
 * it answers only hello, ping, health, stats and metrics (dispatch.c), and
 * health says which migration is being applied. Written by the writer
 * thread (and the loop thread at both ends), read from any thread. */
struct migrate_state {
    pthread_mutex_t mutex;
    atomic_bool failing;
    char failure[1024];   /* the error, naming the file */
    atomic_bool starting; /* the start-up migrations have not ended */
    /* Under the mutex: the run in progress. */
    int64_t pending;             /* migrations left, the one applied too */
    char applying[NAME_MAX + 1]; /* its file, without .up.sql; "" if none */
    atomic_uint_fast64_t *gauge; /* stats: pending, 0 when no run goes on */
};

/* @gauge: the `stats` figure that follows m->pending. Returns 0, or -1 when
 * the mutex cannot be made. */
int migrate_state_init(struct migrate_state *m, atomic_uint_fast64_t *gauge);
void migrate_state_close(struct migrate_state *m);

/* Copies the failure into @buf and returns it, or returns NULL when the last
 * migrate up or down succeeded (or none ran). Any thread. */
const char *migrate_failure(struct migrate_state *m, char *buf, size_t len);

/* While the start-up migrations run, writes where they are into @buf ("2
 * pending, applying 0003_orders", or "checking the migration files" before
 * the first) and returns it; otherwise returns NULL. Any thread; one atomic
 * load when they do not run. */
const char *migrate_progress(struct migrate_state *m, char *buf, size_t len);

/* The job that applies every pending migration at start-up: it goes to the
 * writer before any client's (its conn is NULL) and marks the daemon
 * migrating until migrate_startup_done(). Returns NULL when out of
 * memory. */
struct job *migrate_startup_job(struct migrate_state *m);

/* The loop thread took the start-up job back: ends the migrating state and
 * frees @job. Returns 0 when every migration applied, or -1 with the error
 * (naming the file, with SQLite's message) in @err. */
int migrate_startup_done(struct migrate_state *m, struct job *job, char *err,
                         size_t errlen);

/* The `migrate` method, on the writer's connection: job->req.sql is the
 * action ("up", "down", "status"), job->version the version. A failing up
 * or down is recorded in @state, and one that succeeds clears it. */
void migrate_run(struct worker *w, struct migrate_state *state,
                 struct job *job);

#endif /* SQLITED_MIGRATE_H */
