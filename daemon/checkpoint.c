#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "sqlited.h"
#include "sqltext.h"

#define WAL_HEADER 32 /* bytes before the first frame */
#define FRAME_HEADER 24

static const char *const mode_names[] = {
    [SQLITE_CHECKPOINT_PASSIVE] = "PASSIVE",
    [SQLITE_CHECKPOINT_FULL] = "FULL",
    [SQLITE_CHECKPOINT_RESTART] = "RESTART",
    [SQLITE_CHECKPOINT_TRUNCATE] = "TRUNCATE",
};

/* SQLite calls this on the writer thread after each commit, with the number
 * of frames now in the WAL. Only counts: the writer checkpoints between
 * groups, never inside a commit. */
static int on_wal(void *arg, sqlite3 *db, const char *schema, int frames)
{
    struct checkpoint *cp = arg;
    (void)db;
    (void)schema;
    if (frames < cp->frames)
        cp->retry_frames = 0; /* the WAL started over */
    cp->frames = frames;
    cp->last_write = clock_now();
    cp->dirty = true;
    return SQLITE_OK;
}

/* The database's page size, which only VACUUM can change (and a checkpoint
 * follows VACUUM soon); 4096 if SQLite cannot say. */
static int64_t page_size(struct checkpoint *cp)
{
    sqlite3_stmt *st;
    int64_t size = 4096;
    cp->w->auth.internal = true;
    if (sqlite3_prepare_v2(cp->w->db, "PRAGMA page_size", -1, &st, NULL) ==
        SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
            size = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    cp->w->auth.internal = false;
    return size;
}

/* Bytes of WAL that @frames frames take. */
static int64_t frames_bytes(int64_t frames, int64_t page)
{
    return frames > 0 ? WAL_HEADER + frames * (page + FRAME_HEADER) : 0;
}

/* Size of the WAL file; 0 when there is none. */
static int64_t wal_file_size(const struct checkpoint *cp)
{
    struct stat st;
    return stat(cp->wal_path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int checkpoint_init(struct checkpoint *cp, struct worker *w,
                    const struct config *cfg, struct stats *stats,
                    checkpoint_release_fn *release, void *arg, char *err,
                    size_t errlen)
{
    size_t n = strlen(cfg->database);

    *cp = (struct checkpoint){.w = w,
                              .cfg = cfg,
                              .stats = stats,
                              .release = release,
                              .release_arg = arg};
    cp->wal_path = malloc(n + sizeof("-wal"));
    if (cp->wal_path == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(cp->wal_path, cfg->database, n);
    memcpy(cp->wal_path + n, "-wal", sizeof("-wal"));
    /* A WAL hook of our own replaces SQLite's automatic checkpoints (which
     * are one too); turn those off first all the same, so that nothing
     * depends on that detail. */
    sqlite3_wal_autocheckpoint(w->db, 0);
    sqlite3_wal_hook(w->db, on_wal, cp);
    /* A WAL left by the last run is written back at the first chance. */
    cp->dirty = wal_file_size(cp) > 0;
    cp->last_write = clock_now();
    cp->page = page_size(cp);
    return 0;
}

void checkpoint_close(struct checkpoint *cp)
{
    if (cp->w && cp->w->db)
        sqlite3_wal_hook(cp->w->db, NULL, NULL);
    free(cp->wal_path);
    cp->wal_path = NULL;
}

int checkpoint_run(struct checkpoint *cp, int mode, int64_t wait_until,
                   struct checkpoint_result *out)
{
    struct worker *w = cp->w;
    int log = -1, done = -1;

    *out = (struct checkpoint_result){.mode = mode};
    out->before = wal_file_size(cp);
    int64_t start = clock_now();
    /* The writer's busy handler waits, with backoff, until w->deadline. */
    w->deadline = wait_until;
    int rc = sqlite3_wal_checkpoint_v2(w->db, NULL, mode, &log, &done);
    w->deadline = 0;
    out->duration_ns = clock_now() - start;
    out->after = wal_file_size(cp);
    cp->page = page_size(cp);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        log_warn("%s checkpoint: %s", mode_names[mode], sqlite3_errmsg(w->db));
        return rc;
    }
    out->busy = rc == SQLITE_BUSY;
    out->log = log;
    out->done = done;
    if (!out->busy && mode >= SQLITE_CHECKPOINT_RESTART) {
        cp->frames = 0; /* the next commit starts the WAL over */
        cp->retry_frames = 0;
    }
    if (!out->busy && mode == SQLITE_CHECKPOINT_TRUNCATE)
        cp->dirty = false;

    struct stats *st = cp->stats;
    stats_add(&st->checkpoints, 1);
    if (out->busy || done < log)
        stats_add(&st->checkpoints_busy, 1);
    stats_set(&st->checkpoint_last_unix_ms, (uint64_t)unix_ms());
    stats_set(&st->checkpoint_last_duration_us,
              (uint64_t)(out->duration_ns / 1000));
    stats_set(&st->checkpoint_last_log_frames, (uint64_t)(log > 0 ? log : 0));
    stats_set(&st->checkpoint_last_checkpointed_frames,
              (uint64_t)(done > 0 ? done : 0));
    stats_set(&st->wal_bytes, (uint64_t)out->after);
    log_debug("%s checkpoint: %d of %d frames%s, WAL %lld -> %lld bytes, "
              "%lld us",
              mode_names[mode], done, log, out->busy ? " (busy)" : "",
              (long long)out->before, (long long)out->after,
              (long long)(out->duration_ns / 1000));
    return SQLITE_OK;
}

/* The WAL passed --wal-max-bytes and a PASSIVE checkpoint could not copy
 * it all: readers hold snapshots older than its end. Has the loop end the
 * oldest holder, and waits a little for it while checkpointing. */
static void escalate(struct checkpoint *cp, int64_t now, int64_t bytes)
{
    struct checkpoint_result res;

    if (cp->release)
        cp->release(cp->release_arg, now);
    int64_t until = now + (int64_t)CHECKPOINT_WAIT_MS * CLOCK_NS_PER_MS;
    if (checkpoint_run(cp, SQLITE_CHECKPOINT_TRUNCATE, until, &res) !=
        SQLITE_OK)
        return;
    if (res.busy) {
        static int64_t last_warned;
        cp->escalate_retry = clock_now() + CHECKPOINT_WAIT_MS * CLOCK_NS_PER_MS;
        /* Tried every 250 ms: said at most every 10 s. */
        if (last_warned != 0 && now - last_warned < 10 * INT64_C(1000000000))
            return;
        last_warned = now;
        log_warn("the WAL holds %lld bytes, over --wal-max-bytes %lld, and a "
                 "snapshot still keeps it from being checkpointed; the "
                 "oldest cursor or read is being ended",
                 (long long)bytes, (long long)cp->cfg->wal_max_bytes);
    } else {
        log_info("the WAL held %lld bytes, over --wal-max-bytes %lld: "
                 "checkpointed and truncated",
                 (long long)bytes, (long long)cp->cfg->wal_max_bytes);
    }
}

void checkpoint_between_groups(struct checkpoint *cp)
{
    const struct config *cfg = cp->cfg;
    struct checkpoint_result res;
    int64_t now;

    if (!cp->dirty)
        return;
    int64_t bytes = frames_bytes(cp->frames, cp->page);
    stats_set(&cp->stats->wal_bytes, (uint64_t)bytes);
    if (bytes >= cfg->wal_max_bytes) {
        now = clock_now();
        if (now < cp->escalate_retry)
            return;
        if (checkpoint_run(cp, SQLITE_CHECKPOINT_PASSIVE, now, &res) ==
                SQLITE_OK &&
            !res.busy && res.done >= res.log)
            return; /* the next commit starts the WAL over */
        escalate(cp, now, bytes);
        return;
    }
    if (bytes >= cfg->wal_checkpoint_bytes && cp->frames >= cp->retry_frames) {
        checkpoint_run(cp, SQLITE_CHECKPOINT_PASSIVE, clock_now(), &res);
        /* Readers may have kept it from finishing, or from letting the WAL
         * start over: try again once a quarter of the threshold more was
         * written, not after every group. */
        int64_t quarter =
            cfg->wal_checkpoint_bytes / 4 / (cp->page + FRAME_HEADER);
        cp->retry_frames = cp->frames + (int)(quarter > 0 ? quarter : 1);
        return;
    }
    if (cfg->wal_idle_timeout_ms == 0)
        return;
    now = clock_now();
    if (now - cp->last_write <
            (int64_t)cfg->wal_idle_timeout_ms * CLOCK_NS_PER_MS ||
        now < cp->idle_retry)
        return;
    /* Idle: fold the WAL back into the database and truncate it, without
     * waiting for readers; a cursor still open makes it try again later. */
    if (checkpoint_run(cp, SQLITE_CHECKPOINT_TRUNCATE, now, &res) !=
            SQLITE_OK ||
        res.busy)
        cp->idle_retry =
            now + (int64_t)cfg->wal_idle_timeout_ms * CLOCK_NS_PER_MS;
}

int64_t checkpoint_wakeup(const struct checkpoint *cp)
{
    if (!cp->dirty || cp->cfg->wal_idle_timeout_ms == 0)
        return 0;
    int64_t at = cp->last_write +
                 (int64_t)cp->cfg->wal_idle_timeout_ms * CLOCK_NS_PER_MS;
    return at > cp->idle_retry ? at : cp->idle_retry;
}

/* The answer to PRAGMA wal_checkpoint, shaped as SQLite's: one row of
 * busy, log, checkpointed; for exec, with its counts. */
static void pack_pragma(struct checkpoint *cp, struct job *job,
                        const struct checkpoint_result *res,
                        struct codec_buf *b)
{
    bool exec = job->method == RPC_EXEC;
    msgpack_pack_map(&b->pk, exec ? 4 : 2);
    codec_pack_cstr(b, "columns");
    msgpack_pack_array(&b->pk, 3);
    codec_pack_cstr(b, "busy");
    codec_pack_cstr(b, "log");
    codec_pack_cstr(b, "checkpointed");
    codec_pack_cstr(b, "rows");
    msgpack_pack_array(&b->pk, 1);
    msgpack_pack_array(&b->pk, 3);
    msgpack_pack_int(&b->pk, res->busy);
    msgpack_pack_int(&b->pk, res->log);
    msgpack_pack_int(&b->pk, res->done);
    if (exec) {
        codec_pack_cstr(b, "changes");
        msgpack_pack_int(&b->pk, 0);
        codec_pack_cstr(b, "last_insert_rowid");
        msgpack_pack_int64(&b->pk, sqlite3_last_insert_rowid(cp->w->db));
    }
}

static void pack_method(const struct checkpoint_result *res,
                        struct codec_buf *b)
{
    msgpack_pack_map(&b->pk, 7);
    codec_pack_cstr(b, "mode");
    codec_pack_cstr(b, mode_names[res->mode]);
    codec_pack_cstr(b, "busy");
    msgpack_pack_int(&b->pk, res->busy);
    codec_pack_cstr(b, "log_frames");
    msgpack_pack_int(&b->pk, res->log);
    codec_pack_cstr(b, "checkpointed_frames");
    msgpack_pack_int(&b->pk, res->done);
    codec_pack_cstr(b, "wal_bytes_before");
    msgpack_pack_int64(&b->pk, res->before);
    codec_pack_cstr(b, "wal_bytes_after");
    msgpack_pack_int64(&b->pk, res->after);
    codec_pack_cstr(b, "duration_ms");
    msgpack_pack_double(&b->pk, (double)res->duration_ns / 1e6);
}

void checkpoint_job(struct checkpoint *cp, struct job *job)
{
    struct checkpoint_result res;
    struct codec_buf b;
    char message[256];

    /* Waiting for readers holds up every write: not for long, and never
     * past the request's own deadline. */
    int64_t until = clock_now() + CHECKPOINT_WAIT_MS * CLOCK_NS_PER_MS;
    if (job->deadline != 0 && job->deadline < until)
        until = job->deadline;
    int rc = checkpoint_run(cp, job->checkpoint - 1, until, &res);
    if (rc != SQLITE_OK) {
        snprintf(message, sizeof(message), "checkpoint failed: %s",
                 sqlite3_errmsg(cp->w->db));
        job_fail(job, sqlite3_extended_errcode(cp->w->db), message);
        return;
    }
    codec_buf_init(&b, 0);
    if (job->method == RPC_CHECKPOINT)
        pack_method(&res, &b);
    else
        pack_pragma(cp, job, &res, &b);
    if (b.error == CODEC_BUF_OK)
        job_reply(job, b.data, b.len);
    else
        job_fail(job, SQLITED_INTERNAL, "out of memory");
    codec_buf_close(&b);
}

int checkpoint_parse_mode(const char *name, size_t len)
{
    for (int m = 0; m < (int)(sizeof(mode_names) / sizeof(*mode_names)); m++)
        if (strlen(mode_names[m]) == len &&
            sqlite3_strnicmp(name, mode_names[m], (int)len) == 0)
            return m;
    return -1;
}

/* Reads a mode at @p, bare or quoted, into *@mode; returns where it ends,
 * or NULL. */
static const char *parse_mode_word(const char *p, const char *end, int *mode)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    char quote = p < end && (*p == '\'' || *p == '"') ? *p : 0;
    const char *word = quote ? p + 1 : p;
    const char *q = word;
    while (q < end && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z')))
        q++;
    *mode = checkpoint_parse_mode(word, (size_t)(q - word));
    if (*mode < 0 || (quote && (q == end || *q++ != quote)))
        return NULL;
    return q;
}

int checkpoint_parse_pragma(const char *sql, size_t len)
{
    const char *end = sql + len, *p, *q;
    int mode = SQLITE_CHECKPOINT_PASSIVE;

    if ((p = sqltext_word(sql, end, "pragma")) == NULL)
        return -1;
    if ((q = sqltext_word(p, end, "main")) != NULL) {
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n'))
            q++;
        if (q == end || *q != '.')
            return -1;
        p = q + 1;
    }
    if ((p = sqltext_word(p, end, "wal_checkpoint")) == NULL)
        return -1;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    if (p < end && (*p == '(' || *p == '=')) {
        char open = *p;
        if ((p = parse_mode_word(p + 1, end, &mode)) == NULL)
            return -1;
        if (open == '(') {
            while (p < end && (*p == ' ' || *p == '\t' || *p == '\n'))
                p++;
            if (p == end || *p++ != ')')
                return -1;
        }
    }
    /* A ';' inside what was skipped would make this a script. */
    if (memchr(sql, ';', (size_t)(p - sql)) != NULL ||
        !sqltext_only_filler(p, end))
        return -1;
    return mode;
}
