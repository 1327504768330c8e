/* The daemon's core without its loop, sockets or threads (see fuzz.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "cursor.h"
#include "db.h"
#include "fuzz.h"
#include "rpc.h"
#include "sqlited.h"

/* Every deadline is capped at this (a request may ask for none): an input
 * of endless recursive CTEs must still end quickly. */
#define FUZZ_TIMEOUT_MS 200

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void fuzz_check_answer(const char *msg, size_t len, uint32_t msgid)
{
    struct codec_reader r;
    struct rpc_message m;
    bool has_msgid;
    const char *why = NULL;

    codec_reader_init(&r, msg, len);
    if (codec_skip(&r) != 0 || !codec_at_end(&r))
        fuzz_fail("an answer of %zu bytes is not one MessagePack value", len);
    if (rpc_parse(msg, len, &m, &has_msgid, &why) != 0)
        fuzz_fail("an answer does not parse: %s", why);
    struct codec_reader err;
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (m.kind == RPC_RESPONSE) {
        if (msgid != UINT32_MAX && m.msgid != msgid)
            fuzz_fail("the answer to %u has msgid %u", msgid, m.msgid);
        if (verbose && !m.is_error)
            fprintf(stderr, "fuzz: %u: ok, %zu bytes\n", m.msgid, len);
        if (!m.is_error)
            return;
        err = m.error;
    } else if (m.kind == RPC_NOTIFICATION && m.method_len == 5 &&
               memcmp(m.method, "error", 5) == 0 && m.nparams == 1) {
        err = m.params;
    } else {
        fuzz_fail("an answer is neither a response nor an error notification");
    }
    int code;
    const char *name, *message;
    uint32_t name_len, message_len;
    if (rpc_read_error(&err, &code, &name, &name_len, &message, &message_len) !=
        0)
        fuzz_fail("an error object is malformed");
    if (verbose)
        fprintf(stderr, "fuzz: %u: %.*s: %.*s\n", m.msgid, (int)name_len, name,
                (int)message_len, message);
    if (message_len == 0 || name_len == 0 ||
        (name_len == 7 && memcmp(name, "UNKNOWN", 7) == 0))
        fuzz_fail("error %d has no name or no message", code);
    if (code == SQLITED_INTERNAL)
        fuzz_fail("SQLITED_INTERNAL: %.*s", (int)message_len, message);
}

static struct fuzz_core core;
static bool core_made;

static void remove_dir(void)
{
    char path[192];
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(path, sizeof(path), "%s%s", core.db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(core.dir);
}

struct fuzz_core *fuzz_core_get(void)
{
    struct fuzz_core *f = &core;

    if (core_made)
        return f;
    log_set_level(LOG_ERROR);
    /* On tmpfs when there is one: a fresh database per input costs less. */
    struct stat st;
    strcpy(f->dir, stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)
                       ? "/dev/shm/sqlited-fuzz-XXXXXX"
                       : "/tmp/sqlited-fuzz-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        fuzz_fail("mkdtemp: %s", strerror(errno));
    snprintf(f->db_path, sizeof(f->db_path), "%.80s/fuzz.db", f->dir);
    atexit(remove_dir);

    config_defaults(&f->cfg);
    f->cfg.database = f->db_path;
    f->cfg.synchronous = "OFF";
    f->cfg.timeout_ms = FUZZ_TIMEOUT_MS;
    f->cfg.max_message_size = 1u << 20;
    f->cfg.chunk_rows = 16; /* small results already need cursors */
    f->cfg.max_cursors = 4;
    f->srv.cfg = &f->cfg;
    f->srv.limits = (struct codec_limits){
        .max_message = f->cfg.max_message_size,
        .max_depth = RPC_MAX_DEPTH,
        .max_items = RPC_MAX_ITEMS,
    };
    f->srv.sqlite_version = "fuzz";
    f->conn.srv = &f->srv;
    f->srv.loops = &f->loop;
    f->srv.nloops = 1;
    f->loop.srv = &f->srv;
    metrics_init(&f->loop.metrics);
    list_init(&f->loop.conns);
    list_init(&f->loop.cursors);
    list_init(&f->loop.flush);
    f->conn.loop = &f->loop;
    f->conn.id = 1;
    /* As every client is when no allow- list is set. */
    f->conn.peer = (struct access_peer){
        .pid = -1, .level = ACCESS_OPERATOR, .rule = "no allow- list is set"};
    list_init(&f->conn.cursors);
    list_init(&f->conn.inflight);
    if (db_library_init(&f->cfg) != 0)
        fuzz_fail("cannot initialize SQLite");
    atomic_init(&f->stop, false);
    core_made = true;
    return f;
}

/* The writer answered a job (writer.h): what the loop thread does with
 * an answer, for the connection's transaction. */
static void written(struct job *job, void *arg)
{
    struct fuzz_core *f = arg;
    if (job->opened_tx)
        f->conn.tx = job->tx;
    if (job->ended_tx && job->tx == f->conn.tx)
        f->conn.tx = 0;
    if (job == f->writing)
        f->writing = NULL;
}

/* Empties the writer's database in place for the next input. A writer
 * opened for each input would cost about 10 ms in the kernel when its
 * directory watch (dbfile.c) is closed, four times what the rest of an
 * input costs. The writer's memory of earlier transactions goes too, so
 * that an input's transaction ids count from 1 whatever ran before it. */
static void reset_database(struct fuzz_core *f)
{
    struct worker *w = &f->writer.worker;

    stmt_cache_clear(&w->cache);
    w->auth.internal = true;
    sqlite3_db_config(w->db, SQLITE_DBCONFIG_RESET_DATABASE, 1, NULL);
    /* VACUUM would keep the auto_vacuum an input set. */
    int rc = sqlite3_exec(w->db, "PRAGMA auto_vacuum = NONE; VACUUM", NULL,
                          NULL, NULL);
    sqlite3_db_config(w->db, SQLITE_DBCONFIG_RESET_DATABASE, 0, NULL);
    w->auth.internal = false;
    if (rc != SQLITE_OK)
        fuzz_fail("cannot empty the database: %s", sqlite3_errmsg(w->db));
    f->writer.last_tx = 0;
    memset(f->writer.ended, 0, sizeof(f->writer.ended));
}

void fuzz_core_open(struct fuzz_core *f)
{
    char err[256];
    sqlite3 *db;

    if (f->writer_open) {
        reset_database(f);
    } else if (writer_init(&f->writer, &f->cfg, &f->stop, &f->srv.stats,
                           written, f, NULL, err, sizeof(err)) != 0) {
        fuzz_fail("cannot open the writer: %s", err);
    }
    f->writer_open = true;
    if (db_open_reader(&f->cfg, &db, err, sizeof(err)) != SQLITE_OK)
        fuzz_fail("cannot open the reader: %s", err);
    worker_init(&f->reader, db, false, &f->cfg, &f->stop, &f->srv.stats);
    f->conn.tx = 0;
    f->cursor_ids = 0;
}

/* Runs @job on the writer, one turn after another until it is answered:
 * the connection's requests run one at a time, so the writer never waits
 * for another's transaction. */
static void run_write(struct fuzz_core *f, struct job *job)
{
    job->next = NULL;
    f->writing = job;
    for (struct job *add = job; f->writing; add = NULL)
        if (!writer_turn(&f->writer, add))
            fuzz_fail("the writer left %s unanswered",
                      rpc_method_name(job->method));
}

static void unlink_cursor(struct cursor *cur)
{
    if (!list_linked(&cur->node))
        fuzz_fail("a cursor ended that was not open");
    list_remove(&cur->node);
    free(cur);
}

static unsigned count_cursors(const struct fuzz_core *f)
{
    unsigned n = 0;
    LIST_FOREACH (node, &f->conn.cursors)
        n++;
    return n;
}

void fuzz_core_run(struct fuzz_core *f, struct job *job)
{
    char err[256];

    switch (job->method) {
    case RPC_QUERY:
    case RPC_EXEC:
    case RPC_BATCH:
    case RPC_BULK:
    case RPC_EXPLAIN:
    case RPC_FETCH:
    case RPC_CLOSE:
    case RPC_BEGIN:
    case RPC_COMMIT:
    case RPC_ROLLBACK:
        break;
    default:
        /* Methods of other parts of the daemon (backup, say) are checked
         * (fuzz_request), not run. */
        job_reply(job, "\xc0", 1);
        return;
    }
    if (job->timeout_ms == 0 || job->timeout_ms > FUZZ_TIMEOUT_MS)
        job->timeout_ms = FUZZ_TIMEOUT_MS;
    job->deadline = clock_after_ms(job->timeout_ms);
    bool read =
        (job->method == RPC_QUERY && job->tx == 0 && !job->checkpoint) ||
        job->method == RPC_EXPLAIN || job->method == RPC_FETCH ||
        job->method == RPC_CLOSE;
    if (!read) {
        run_write(f, job);
        return;
    }
    if (job->method == RPC_QUERY)
        job->may_open_cursor = count_cursors(f) < CURSORS_PER_CONN;
    bool own = job->method != RPC_FETCH && job->method != RPC_CLOSE;
    if (own && f->reader.db == NULL &&
        worker_reopen(&f->reader, err, sizeof(err)) != SQLITE_OK)
        fuzz_fail("cannot reopen the reader: %s", err);
    if (execute_job(&f->reader, job) == EXECUTE_FORWARD) {
        run_write(f, job);
        return;
    }
    if (!own && job->cursor_ended) {
        unlink_cursor(job->cursor);
    } else if (job->method == RPC_QUERY && job->cursor) {
        /* Ids count from 1 in each input (the daemon's count through its
         * life), so that an input can name the cursors it opens. */
        job->cursor->id = ++f->cursor_ids;
        job->cursor->conn = &f->conn;
        list_add_head(&f->conn.cursors, &job->cursor->node);
    }
}

/* Runs @sql on the writer as the daemon's own statement; fails unless its
 * one row's first column is @want. */
static void expect_text(struct worker *w, const char *sql, const char *want)
{
    sqlite3_stmt *st;
    w->auth.internal = true;
    if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK)
        fuzz_fail("%s: %s", sql, sqlite3_errmsg(w->db));
    int rc = sqlite3_step(st);
    const char *got = (const char *)sqlite3_column_text(st, 0);
    if (rc != SQLITE_ROW || got == NULL || strcmp(got, want) != 0)
        fuzz_fail("%s gave '%s', not '%s'", sql, got ? got : "(no row)", want);
    sqlite3_finalize(st);
    w->auth.internal = false;
}

void fuzz_core_close(struct fuzz_core *f)
{
    while (!list_empty(&f->conn.cursors)) {
        struct job *job = conn_job_new(&f->conn, RPC_CLOSE, 0);
        if (job == NULL)
            fuzz_fail("out of memory");
        job->internal = true;
        job->cursor = LIST_ITEM(f->conn.cursors.next, struct cursor, node);
        fuzz_core_run(f, job);
        job_free(job);
    }
    /* As when a client leaves: its transaction is rolled back. */
    if (f->conn.tx != 0) {
        struct job *job = conn_job_new(&f->conn, RPC_ROLLBACK, 0);
        if (job == NULL)
            fuzz_fail("out of memory");
        job->tx = f->conn.tx;
        job->internal = true;
        run_write(f, job);
        job_free(job);
    }
    struct worker *w = &f->writer.worker;
    if (f->conn.tx != 0 || !sqlite3_get_autocommit(w->db))
        fuzz_fail("the writer's transaction cannot be rolled back");
    expect_text(w, "PRAGMA quick_check", "ok");
    expect_text(w, "PRAGMA foreign_keys", "1");
    expect_text(w, "PRAGMA journal_mode", "wal");
    /* Objects in the temp schema would outlive their request (issue 10,
     * hole 2). */
    expect_text(w, "SELECT count(*) FROM temp.sqlite_master", "0");
    if (f->reader.db)
        expect_text(&f->reader, "PRAGMA query_only", "1");
    worker_close(&f->reader);
    if (stats_get(&f->srv.stats.cursors_open) != 0)
        fuzz_fail("%llu cursors counted open after all were closed",
                  (unsigned long long)stats_get(&f->srv.stats.cursors_open));
}
