#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "dbfile.h"
#include "migrate.h"
#include "readers.h"
#include "rpc.h"
#include "run.h"
#include "sqlited.h"
#include "state.h"
#include "writer.h"

/* What the reader found; written by the reader thread before it hands the
 * job back, read by the loop after it took the job back. */
struct health_read {
    bool done;        /* the checks ran (error says how they went) */
    char error[256];  /* "" when the database read fine */
    int64_t db_bytes; /* -1: unknown */
    int64_t wal_bytes;
    int64_t page_size, page_count, freelist_count;
    int quick; /* quick_check: 0 not run, 1 "ok", -1 problems */
    char quick_result[256];
};

/* What the writer found, likewise. */
struct health_write {
    bool done;
    bool readonly;
};

struct health_probe {
    struct server *s;
    struct io_loop *loop; /* it runs on, and its jobs come back to */
    uv_timer_t timer;     /* the deadline */
    bool quick;
    uint32_t timeout_ms;
    int64_t started, elapsed; /* clock.h nanoseconds */
    health_done_fn *done;
    void *arg;

    /* The loop's own. The jobs are compared, never followed: they are freed
     * as they come back. */
    const struct job *read_job, *write_job;
    unsigned out; /* jobs still at the workers */
    bool read_back, write_back;
    bool answered, timer_closed;
    char read_failure[256], write_failure[256]; /* from an error reply */

    struct health_read read;   /* the reader's, see above */
    struct health_write write; /* the writer's */
};

const char *health_status_name(enum health_status status)
{
    switch (status) {
    case HEALTH_OK:
        return "ok";
    case HEALTH_DEGRADED:
        return "degraded";
    default:
        return "failing";
    }
}

/* ------------------------------------------------------------- the workers
 */

__attribute__((format(printf, 3, 4))) static void say(char *buf, size_t size,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

/* Looks at the database file through its path, as a new process would:
 * this sees a file that was deleted, replaced (by a directory, say), made
 * unreadable or overwritten under the daemon, which its open connections,
 * holding the old file open, may not.
 *
 * The file is never opened for reading here: closing any descriptor of it
 * would drop every fcntl() lock SQLite holds on it in this process (POSIX
 * locks belong to the process and the file), and another process closing
 * its last connection to the database could then take it for unused,
 * checkpoint and delete the WAL the daemon writes to. So the path is opened
 * with O_PATH (closing that drops no lock) to see what it names, and when
 * that is the file the daemon holds, its header is read through @lock_fd,
 * db_claim()'s descriptor of it, which stays open while the daemon runs. */
static void check_file(const char *path, int lock_fd, char *error, size_t size)
{
    static const char magic[16] = "SQLite format 3";
    char header[100];
    struct stat st, held;

    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        say(error, size, "cannot open the database file %s: %s", path,
            strerror(errno));
        return;
    }
    if (fstat(fd, &st) != 0) {
        say(error, size, "cannot stat the database file %s: %s", path,
            strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        say(error, size, "the database file %s is no longer a regular file",
            path);
    } else if (access(path, R_OK) != 0) {
        say(error, size, "cannot open the database file %s: %s", path,
            strerror(errno));
    } else if (lock_fd < 0 || fstat(lock_fd, &held) != 0 ||
               held.st_dev != st.st_dev || held.st_ino != st.st_ino) {
        say(error, size,
            "the database file %s was deleted, renamed or replaced since the "
            "daemon opened it",
            path);
    } else {
        ssize_t n = pread(lock_fd, header, sizeof(header), 0);
        if (n < 0)
            say(error, size, "cannot read the database file %s: %s", path,
                strerror(errno));
        else if (n < (ssize_t)sizeof(header) ||
                 memcmp(header, magic, sizeof(magic)) != 0)
            say(error, size,
                "the database file %s does not start with the SQLite header: "
                "it is truncated or not a database",
                path);
    }
    close(fd);
}

/* Runs @sql, whose first column of the first row is an integer, on the
 * worker's connection. Returns SQLITE_OK with it in *@out, or the error. */
static int query_int(struct worker *w, const char *sql, int64_t *out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(w->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* PRAGMA quick_check, bounded by the worker's deadline (the progress
 * handler). Its rows are joined, within the buffer. */
static void quick_check(struct worker *w, struct health_read *rd)
{
    sqlite3_stmt *st;
    size_t len = 0;
    int rows = 0;
    bool ok = false;

    int rc = sqlite3_prepare_v2(w->db, "PRAGMA quick_check", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line == NULL)
            line = "";
        ok = rows == 0 && strcmp(line, "ok") == 0;
        if (len < sizeof(rd->quick_result) - 1)
            len += (size_t)snprintf(rd->quick_result + len,
                                    sizeof(rd->quick_result) - len, "%s%s",
                                    rows ? "; " : "", line);
        rows++;
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE) {
        rd->quick = ok && rows == 1 ? 1 : -1;
    } else {
        rd->quick = -1;
        if (w->timed_out)
            say(rd->quick_result, sizeof(rd->quick_result),
                "did not finish within the deadline");
        else
            say(rd->quick_result, sizeof(rd->quick_result), "%s",
                sqlite3_errmsg(w->db));
    }
    sqlite3_finalize(st);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static void run_read(struct worker *w, struct health_probe *p)
{
    struct health_read *rd = &p->read;
    const char *path = w->cfg->database;
    char wal[4096];
    int moved = 0;
    int64_t tables = 0;

    rd->db_bytes = file_size(path);
    snprintf(wal, sizeof(wal), "%s-wal", path);
    rd->wal_bytes = file_size(wal);
    if (rd->wal_bytes < 0)
        rd->wal_bytes = 0; /* none: everything is in the main file */
    check_file(path, p->s->db_lock, rd->error, sizeof(rd->error));
    if (rd->error[0] == '\0' &&
        sqlite3_file_control(w->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) ==
            SQLITE_OK &&
        moved)
        say(rd->error, sizeof(rd->error),
            "the database file %s was deleted, renamed or replaced since the "
            "daemon opened it",
            path);
    if (rd->error[0] == '\0') {
        int rc;
        if ((rc = query_int(w, "SELECT count(*) FROM sqlite_schema",
                            &tables)) != SQLITE_OK ||
            (rc = query_int(w, "PRAGMA page_size", &rd->page_size)) !=
                SQLITE_OK ||
            (rc = query_int(w, "PRAGMA page_count", &rd->page_count)) !=
                SQLITE_OK ||
            (rc = query_int(w, "PRAGMA freelist_count", &rd->freelist_count)) !=
                SQLITE_OK)
            say(rd->error, sizeof(rd->error), "reading the database failed: %s",
                w->timed_out ? "the deadline passed" : sqlite3_errmsg(w->db));
    }
    if (rd->error[0] == '\0' && p->quick)
        quick_check(w, rd);
    rd->done = true;
}

void health_run(struct worker *w, struct job *job)
{
    struct health_probe *p = job->probe;

    w->current = job;
    w->deadline = job->deadline;
    w->timed_out = false;
    if (w->writer) {
        /* The round trip through the queue is the check; that the
         * connection can write is one look more. */
        p->write.readonly = sqlite3_db_readonly(w->db, "main") == 1;
        p->write.done = true;
    } else {
        run_read(w, p);
    }
    w->current = NULL;
    w->deadline = 0;
}

/* ---------------------------------------------------------------- the loop
 */

/* The verdict: the worst status met, with the first reason given for it. */
struct verdict {
    enum health_status status;
    char reason[320];
};

__attribute__((format(printf, 3, 4))) static void
verdict_set(struct verdict *v, enum health_status status, const char *fmt, ...)
{
    va_list ap;
    if (status <= v->status)
        return;
    v->status = status;
    va_start(ap, fmt);
    vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
    va_end(ap);
}

/* Every condition that makes the daemon not ready, or worth a look, is
 * judged here, in one place: add new ones beside the others. */
static void health_judge(struct health_probe *p, struct verdict *v)
{
    struct server *s = p->s;
    const struct stats *st = &s->stats;
    char why[512];

    *v = (struct verdict){.status = HEALTH_OK, .reason = "ready"};

    /* The daemon as a whole. */
    if (atomic_load(&s->shutting_down))
        verdict_set(v, HEALTH_FAILING, "the daemon is shutting down");
    /* The start-up migrations: nothing but the probes is served yet. */
    if (migrate_progress(&s->writer.migration, why, sizeof(why)) != NULL)
        verdict_set(v, HEALTH_FAILING, "migrating: %s", why);
    /* The writer's own watch on the files (dbfile.h): while the path names
     * another file or none, writes are refused. */
    if (dbfile_failure(&s->writer.file, why, sizeof(why)) != NULL)
        verdict_set(v, HEALTH_FAILING, "%s", why);
    /* A migrate up or down failed: the schema is not the one the
     * application expects until one succeeds. */
    if (migrate_failure(&s->writer.migration, why, sizeof(why)) != NULL)
        verdict_set(v, HEALTH_FAILING, "migrations failing: %s", why);

    /* The read: a reader must serve it within the deadline. */
    if (!p->read_back)
        verdict_set(v, HEALTH_FAILING,
                    "no reader answered within %" PRIu32 " ms (%" PRIu64
                    " requests wait for a reader)",
                    p->timeout_ms,
                    (uint64_t)atomic_load_explicit(&st->reader_queue,
                                                   memory_order_relaxed));
    else if (!p->read.done)
        verdict_set(v, HEALTH_FAILING, "the health read failed: %s",
                    p->read_failure);
    else if (p->read.error[0])
        verdict_set(v, HEALTH_FAILING, "%s", p->read.error);
    else if (p->read.quick < 0)
        verdict_set(v, HEALTH_FAILING, "PRAGMA quick_check: %s",
                    p->read.quick_result);

    /* The writer: it may wait for an open transaction or a lock another
     * process holds, which is no reason to turn readers away. */
    if (p->write_back && p->write.done && p->write.readonly)
        verdict_set(v, HEALTH_FAILING,
                    "the database is read-only: every write fails");
    else if (!p->write_back)
        verdict_set(v, HEALTH_DEGRADED,
                    "the writer did not answer within %" PRIu32 " ms (%" PRIu64
                    " requests queued for it: a transaction open, or the "
                    "database locked by another process)",
                    p->timeout_ms,
                    (uint64_t)atomic_load_explicit(&st->writer_queue,
                                                   memory_order_relaxed));
    else if (!p->write.done)
        verdict_set(v, HEALTH_DEGRADED, "the writer's round trip failed: %s",
                    p->write_failure);

    if (p->elapsed > (int64_t)p->timeout_ms * CLOCK_NS_PER_MS / 2)
        verdict_set(v, HEALTH_DEGRADED,
                    "slow: the checks took %" PRId64
                    " ms, over half their deadline of %" PRIu32 " ms",
                    p->elapsed / CLOCK_NS_PER_MS, p->timeout_ms);
}

static void probe_maybe_free(struct health_probe *p)
{
    if (p->answered && p->timer_closed && p->out == 0)
        free(p);
}

static void on_timer_closed(uv_handle_t *handle)
{
    struct health_probe *p = handle->data;
    p->timer_closed = true;
    probe_maybe_free(p);
}

static void answer(struct health_probe *p)
{
    struct verdict v;

    p->answered = true;
    p->elapsed = clock_now() - p->started;
    uv_close((uv_handle_t *)&p->timer, on_timer_closed);
    health_judge(p, &v);
    struct health_report report = {
        .status = v.status, .reason = v.reason, .probe = p};
    p->done(&report, p->arg);
}

static void on_deadline(uv_timer_t *timer)
{
    answer(timer->data);
}

/* The message of the error reply a worker gave the job instead of running
 * it (its deadline passed in the queue, say). */
static void reply_failure(const struct job *job, char *buf, size_t size)
{
    struct rpc_message m;
    const char *why = NULL, *msg = NULL;
    uint32_t msg_len = 0;
    bool has_msgid;
    int code;

    say(buf, size, "no answer");
    if (job->reply == NULL ||
        rpc_parse(job->reply, job->reply_len, &m, &has_msgid, &why) != 0 ||
        !m.is_error)
        return;
    struct codec_reader r = m.error;
    if (rpc_read_error(&r, &code, NULL, NULL, &msg, &msg_len) == 0 && msg)
        say(buf, size, "%.*s", (int)msg_len, msg);
}

void health_job_done(struct job *job)
{
    struct health_probe *p = job->probe;

    if (job == p->read_job) {
        p->read_back = true;
        if (!p->read.done)
            reply_failure(job, p->read_failure, sizeof(p->read_failure));
    } else {
        p->write_back = true;
        if (!p->write.done)
            reply_failure(job, p->write_failure, sizeof(p->write_failure));
    }
    p->out--;
    job_free(job);
    if (!p->answered && p->read_back && p->write_back)
        answer(p);
    probe_maybe_free(p);
}

static struct job *probe_job(struct health_probe *p)
{
    struct job *job = job_new(RPC_HEALTH, 0);
    if (job) {
        job->probe = p;
        job->loop = p->loop;
        job->timeout_ms = p->timeout_ms;
        job->deadline = clock_after_ms(p->timeout_ms);
    }
    return job;
}

int health_probe_start(struct io_loop *l, bool quick, uint32_t timeout_ms,
                       health_done_fn *done, void *arg)
{
    struct server *s = l->srv;
    struct health_probe *p = calloc(1, sizeof(*p));
    struct job *rj = NULL, *wj = NULL;

    if (p != NULL)
        p->loop = l;
    if (p == NULL || (rj = probe_job(p)) == NULL ||
        (wj = probe_job(p)) == NULL) {
        job_free(rj);
        free(p);
        return -1;
    }
    p->s = s;
    p->quick = quick;
    p->timeout_ms = timeout_ms;
    p->started = clock_now();
    p->done = done;
    p->arg = arg;
    p->read_job = rj;
    p->write_job = wj;
    p->out = 2;
    uv_timer_init(&l->uv, &p->timer);
    p->timer.data = p;
    uv_timer_start(&p->timer, on_deadline, timeout_ms, 0);
    readers_submit(&s->readers, rj);
    /* The writer is busy with the start-up migrations: its round trip would
     * only wait for them, until the deadline. */
    char why[NAME_MAX + 64];
    if (migrate_progress(&s->writer.migration, why, sizeof(why)) != NULL) {
        say(p->write_failure, sizeof(p->write_failure),
            "skipped: the writer is applying the start-up migrations");
        p->write_back = true;
        p->write_job = NULL;
        p->out--;
        job_free(wj);
        return 0;
    }
    writer_submit(&s->writer, wj);
    return 0;
}

/* ---------------------------------------------------------------- the answer
 */

static void pack_key(struct codec_buf *b, const char *key)
{
    codec_pack_cstr(b, key);
}

/* An int, or nil when @known is false. */
static void pack_int_or_nil(struct codec_buf *b, const char *key, bool known,
                            int64_t value)
{
    pack_key(b, key);
    if (known)
        msgpack_pack_int64(&b->pk, value);
    else
        msgpack_pack_nil(&b->pk);
}

/* Unix time in ms, or nil for 0 (never). */
static void pack_moment(struct codec_buf *b, const char *key,
                        const atomic_uint_fast64_t *value)
{
    uint64_t v = atomic_load_explicit(value, memory_order_relaxed);
    pack_int_or_nil(b, key, v != 0, (int64_t)v);
}

/* "off" (no --migrations), "ok", "migrating: ..." (the start-up ones) or
 * "failing: ..." (the last migrate up or down). */
static void pack_migrations(struct codec_buf *b, const struct server *s)
{
    struct migrate_state *m = (struct migrate_state *)&s->writer.migration;
    char why[1024], line[1100];

    if (s->cfg->migrations == NULL)
        codec_pack_cstr(b, "off");
    else if (migrate_progress(m, why, sizeof(why)) != NULL) {
        snprintf(line, sizeof(line), "migrating: %s", why);
        codec_pack_cstr(b, line);
    } else if (migrate_failure(m, why, sizeof(why)) != NULL) {
        snprintf(line, sizeof(line), "failing: %s", why);
        codec_pack_cstr(b, line);
    } else
        codec_pack_cstr(b, "ok");
}

void health_pack(const struct health_report *report, struct codec_buf *b)
{
    const struct health_probe *p = report->probe;
    const struct server *s = p->s;
    const struct stats *st = &s->stats;
    const struct health_read *rd = &p->read;
    bool read = p->read_back && rd->done;

    msgpack_pack_map(&b->pk, 22);
    pack_key(b, "status");
    codec_pack_cstr(b, health_status_name(report->status));
    pack_key(b, "ready");
    if (report->status == HEALTH_FAILING)
        msgpack_pack_false(&b->pk);
    else
        msgpack_pack_true(&b->pk);
    pack_key(b, "reason");
    codec_pack_cstr(b, report->reason);
    pack_key(b, "version");
    codec_pack_cstr(b, SQLITED_VERSION);
    pack_key(b, "sqlite_version");
    codec_pack_cstr(b, sqlite3_libversion());
    pack_key(b, "uptime_ms");
    msgpack_pack_int64(&b->pk, (clock_now() - s->started) / CLOCK_NS_PER_MS);
    pack_key(b, "elapsed_ms");
    msgpack_pack_int64(&b->pk, p->elapsed / CLOCK_NS_PER_MS);
    pack_key(b, "database");
    codec_pack_cstr(b, s->cfg->database);
    /* What the reader found is read only once it is back. */
    bool facts = read && !rd->error[0];
    pack_int_or_nil(b, "database_bytes", read && rd->db_bytes >= 0,
                    read ? rd->db_bytes : 0);
    pack_int_or_nil(b, "wal_bytes", read, read ? rd->wal_bytes : 0);
    pack_int_or_nil(b, "page_size", facts, facts ? rd->page_size : 0);
    pack_int_or_nil(b, "page_count", facts, facts ? rd->page_count : 0);
    pack_int_or_nil(b, "freelist_count", facts, facts ? rd->freelist_count : 0);
    pack_key(b, "connections");
    msgpack_pack_uint32(&b->pk, server_connections(s));
    pack_key(b, "in_flight");
    msgpack_pack_uint32(&b->pk, metrics_in_flight(s));
    pack_key(b, "writer_queue");
    msgpack_pack_uint64(
        &b->pk, atomic_load_explicit(&st->writer_queue, memory_order_relaxed));
    pack_key(b, "reader_queue");
    msgpack_pack_uint64(
        &b->pk, atomic_load_explicit(&st->reader_queue, memory_order_relaxed));
    pack_key(b, "readers");
    msgpack_pack_uint32(&b->pk, s->readers.count);
    pack_moment(b, "last_checkpoint_ms", &st->checkpoint_last_unix_ms);
    pack_moment(b, "last_backup_ms", &st->last_backup_unix_ms);

    /* Each check: "ok", what went wrong, or (quick_check) "skipped". */
    pack_key(b, "checks");
    msgpack_pack_map(&b->pk, 4);
    pack_key(b, "read");
    if (!p->read_back)
        codec_pack_cstr(b, "no answer within the deadline");
    else if (!rd->done)
        codec_pack_cstr(b, p->read_failure);
    else
        codec_pack_cstr(b, rd->error[0] ? rd->error : "ok");
    pack_key(b, "write");
    if (!p->write_back)
        codec_pack_cstr(b, "no answer within the deadline");
    else if (!p->write.done)
        codec_pack_cstr(b, p->write_failure);
    else
        codec_pack_cstr(b, p->write.readonly ? "read-only" : "ok");
    pack_key(b, "quick_check");
    if (!p->quick || !read || rd->quick == 0)
        codec_pack_cstr(b, "skipped");
    else
        codec_pack_cstr(b, rd->quick > 0 ? "ok" : rd->quick_result);
    pack_key(b, "migrations");
    pack_migrations(b, s);
    pack_key(b, "timeout_ms");
    msgpack_pack_uint32(&b->pk, p->timeout_ms);
}
