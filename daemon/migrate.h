/* Schema migrations: the files of --migrations DIR, NNNN_name.up.sql with an
 * optional NNNN_name.down.sql, applied in order, each in one transaction
 * together with its row in schema_migrations (version, name, checksum: the
 * SHA-256 of the up file, applied_at).
 *
 * The daemon applies the pending ones at start-up, before it serves anyone;
 * the `migrate` method (up, down, status) runs on the writer, alone between
 * groups, so that two calls at once are carried out one after the other.
 */
#ifndef SQLITED_MIGRATE_H
#define SQLITED_MIGRATE_H

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

/* Carries out @action towards @version (MIGRATE_DEFAULT or a version) with
 * the files of @dir on @db, which must be outside any transaction. Each
 * migration runs in its own transaction with its row; the first that fails
 * stops the run, rolled back, leaving the database at the version before
 * it. When @out is not NULL the result map (PROTOCOL.md, migrate) is packed
 * into it. Returns 0, or an error code (a SQLite code, or SQLITED_BAD_REQUEST
 * for an impossible version) with a message naming the file in @err. */
int migrate_exec(sqlite3 *db, const char *dir, enum migrate_action action,
                 int64_t version, struct codec_buf *out, char *err,
                 size_t errlen);

/* At start-up: opens a read-write connection and applies every pending
 * migration of cfg->migrations, logging each. Returns 0, or -1 with the
 * error in @err. */
int migrate_startup(const struct config *cfg, char *err, size_t errlen);

/* The failure of the last `migrate up` or `down`, kept until one succeeds:
 * while it is set, health reports the daemon not ready (health.c). Written
 * by the writer thread, read from any thread. */
struct migrate_state {
    pthread_mutex_t mutex;
    atomic_bool failing;
    char failure[1024]; /* the error, naming the file */
};

/* Returns 0, or -1 when the mutex cannot be made. */
int migrate_state_init(struct migrate_state *m);
void migrate_state_close(struct migrate_state *m);

/* Copies the failure into @buf and returns it, or returns NULL when the last
 * migrate up or down succeeded (or none ran). Any thread. */
const char *migrate_failure(struct migrate_state *m, char *buf, size_t len);

/* The `migrate` method, on the writer's connection: job->req.sql is the
 * action ("up", "down", "status"), job->version the version. A failing up
 * or down is recorded in @state, and one that succeeds clears it. */
void migrate_run(struct worker *w, struct migrate_state *state,
                 struct job *job);

#endif /* SQLITED_MIGRATE_H */
