/* Checkpoint the WAL: when, how, and on demand.
 *
 * The daemon owns checkpointing. SQLite's automatic checkpoints are off on
 * every connection (wal_autocheckpoint=0, and readers never checkpoint); the
 * writer thread calls in here between groups, with no transaction open, and
 * this module decides:
 *
 * - once the WAL holds --wal-checkpoint-bytes, a PASSIVE checkpoint, which
 *   never waits: it copies what no reader still needs. When it copied
 *   everything, the next commit starts the WAL over from its beginning and
 *   cuts the file down to journal_size_limit (the same size);
 * - once the WAL passes --wal-max-bytes (readers holding old snapshots kept
 *   the PASSIVE ones from finishing), it asks the loop thread to end the
 *   oldest snapshot holder (a cursor, or a long read) and runs a TRUNCATE
 *   checkpoint that waits for readers at most CHECKPOINT_WAIT_MS, so group
 *   commit is never held up for long; it tries again every
 *   CHECKPOINT_WAIT_MS while the WAL stays over the limit;
 * - once no write came for --wal-idle-timeout, a TRUNCATE checkpoint that
 *   does not wait, which leaves a WAL of 0 bytes.
 *
 * The `checkpoint` method, and a request that is exactly PRAGMA
 * wal_checkpoint, run through checkpoint_job(): one mechanism for all.
 * Everything here runs on the writer thread, but checkpoint_parse_pragma()
 * and checkpoint_parse_mode(), which are pure.
 */
#ifndef SQLITED_CHECKPOINT_H
#define SQLITED_CHECKPOINT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "execute.h"
#include "job.h"
#include "stats.h"

/* How long a checkpoint that waits for readers (FULL, RESTART, TRUNCATE)
 * may hold the writer, automatic or on demand: writes queue meanwhile. */
#define CHECKPOINT_WAIT_MS 250

/* Called on the writer thread when the WAL passed --wal-max-bytes and could
 * not be checkpointed: end the oldest holder of a snapshot taken before
 * @before (clock.h). Must not block. */
typedef void checkpoint_release_fn(void *arg, int64_t before);

struct checkpoint {
    struct worker *w; /* the writer's */
    const struct config *cfg;
    struct stats *stats;
    checkpoint_release_fn *release; /* may be NULL */
    void *release_arg;
    char *wal_path; /* the database's path + "-wal" */

    int64_t page;       /* the database's page size */
    int frames;         /* in the WAL after the last commit (the WAL hook) */
    int retry_frames;   /* no automatic PASSIVE again before this many */
    int64_t last_write; /* clock.h time of the last commit; 0: none */
    bool dirty;         /* written since the WAL was last truncated */
    int64_t idle_retry; /* an idle TRUNCATE that failed: not before */
    int64_t escalate_retry; /* the last escalation failed: not before */
};

/* What one checkpoint did. */
struct checkpoint_result {
    int mode;  /* SQLITE_CHECKPOINT_* */
    bool busy; /* it could not finish: readers, or another process */
    int log;   /* frames in the WAL, as sqlite3_wal_checkpoint_v2 says */
    int done;  /* frames of it in the database file */
    int64_t before, after; /* bytes of the WAL file */
    int64_t duration_ns;
};

/* Sets up checkpointing on the writer's connection @w->db: automatic
 * checkpoints off, the WAL hook on. @release (may be NULL) and @arg are
 * kept. Returns 0 or -1 with a message in @err. */
int checkpoint_init(struct checkpoint *cp, struct worker *w,
                    const struct config *cfg, struct stats *stats,
                    checkpoint_release_fn *release, void *arg, char *err,
                    size_t errlen);

/* Frees what checkpoint_init() allocated. */
void checkpoint_close(struct checkpoint *cp);

/* Between groups, with no transaction open: runs the checkpoint the WAL's
 * size or an idle database calls for, if any. Cheap when none is due. */
void checkpoint_between_groups(struct checkpoint *cp);

/* When the writer, idle, must look again (an idle TRUNCATE is due); 0: no
 * need. */
int64_t checkpoint_wakeup(const struct checkpoint *cp);

/* Runs a checkpoint in mode @mode (SQLITE_CHECKPOINT_*) now, waiting for
 * readers until @wait_until (clock.h; a time already passed: no wait), and
 * records it in the stats. Returns SQLITE_OK (busy or not, see @out) or a
 * SQLite error, with its message in sqlite3_errmsg(). */
int checkpoint_run(struct checkpoint *cp, int mode, int64_t wait_until,
                   struct checkpoint_result *out);

/* Runs @job, the checkpoint method or a PRAGMA wal_checkpoint request
 * (job->checkpoint), and stores its reply. */
void checkpoint_job(struct checkpoint *cp, struct job *job);

/* The mode named @name[0..len) (PASSIVE, FULL, RESTART, TRUNCATE, any
 * case), or -1. */
int checkpoint_parse_mode(const char *name, size_t len);

/* The mode of @sql[0..len) when it is exactly one PRAGMA wal_checkpoint
 * (schema main or none; mode in parentheses, after '=', or none: PASSIVE),
 * with only white space, comments and a ';' around it; else -1. */
int checkpoint_parse_pragma(const char *sql, size_t len);

#endif /* SQLITED_CHECKPOINT_H */
