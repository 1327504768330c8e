#include "execute.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authorizer.h"
#include "clock.h"
#include "cursor.h"
#include "db.h"
#include "dbfile.h"
#include "health.h"
#include "log.h"
#include "sqlited.h"

/* How many virtual-machine steps pass between two looks at the stop flags:
 * small enough to stop a runaway query within microseconds, large enough to
 * cost nothing measurable. */
#define PROGRESS_STEPS 1000

/* Busy waits: the first retry after about 1 ms, doubling up to 100 ms,
 * each drawn from [d/2, 3d/2) so that waiters do not retry in lockstep. */
#define BACKOFF_FIRST_NS (CLOCK_NS_PER_MS)
#define BACKOFF_MAX_NS (100 * CLOCK_NS_PER_MS)

/* Cursor ids, unique in the daemon's life. */
static atomic_uint_fast64_t cursor_ids;

/* The state of one job's execution. */
struct run {
    struct worker *w;
    struct job *job;
    struct codec_buf *out;
    int64_t total_before;         /* total changes before the statement */
    uint64_t rows, bytes;         /* of the result so far */
    uint64_t max_rows, max_bytes; /* the query's limits; 0: none */
    sqlite3_stmt *cursor_st;      /* rows left for a cursor to send */
    uint64_t cursor_id;
    int64_t changes; /* rows changed by the statements themselves */
    bool alone;      /* met VACUUM inside a group */
    bool script;     /* ran several statements */
    int code;        /* the error, when a step failed */
    int64_t step;    /* the batch step or bulk set that failed; -1: none */
    char message[512];
};

static const char *const control_sql[CONTROL_COUNT] = {
    [CONTROL_BEGIN_DEFERRED] = "BEGIN DEFERRED",
    [CONTROL_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [CONTROL_COMMIT] = "COMMIT",
    [CONTROL_ROLLBACK] = "ROLLBACK",
    [CONTROL_SAVEPOINT] = "SAVEPOINT sqlited",
    [CONTROL_RELEASE] = "RELEASE sqlited",
    [CONTROL_ROLLBACK_TO] = "ROLLBACK TO sqlited",
};

/* True when the loop asked to end the running job: the WAL is over its
 * limit and this job holds the oldest snapshot. */
static bool must_release(const struct worker *w)
{
    if (w->watch == NULL)
        return false;
    int64_t before =
        atomic_load_explicit(&w->watch->release_before, memory_order_relaxed);
    int64_t started =
        atomic_load_explicit(&w->watch->started, memory_order_relaxed);
    return before != 0 && started != 0 && started < before;
}

static int progress(void *arg)
{
    struct worker *w = arg;
    if (w->current && atomic_load(&w->current->cancelled))
        return 1;
    if (must_release(w)) {
        w->released = true;
        return 1;
    }
    if (clock_passed(w->deadline, clock_now())) {
        w->timed_out = true;
        return 1;
    }
    return atomic_load(w->stop);
}

/* Sleeps before retry @attempt (0, 1, ...) of work that met a lock held by
 * another process. Returns false, without sleeping, when the work must give
 * up instead: its deadline has passed, its client left, or the daemon is
 * stopping. Never sleeps past the deadline. */
static bool backoff(struct worker *w, int attempt)
{
    int64_t now = clock_now();
    if (clock_passed(w->deadline, now) || atomic_load(w->stop) ||
        (w->current && atomic_load(&w->current->cancelled)))
        return false;
    int64_t delay = BACKOFF_FIRST_NS << (attempt < 7 ? attempt : 7);
    if (delay > BACKOFF_MAX_NS)
        delay = BACKOFF_MAX_NS;
    delay = delay / 2 + (int64_t)((uint64_t)random() % (uint64_t)delay);
    if (w->deadline != 0 && now + delay > w->deadline)
        delay = w->deadline - now;
    struct timespec ts = {.tv_sec = delay / 1000000000,
                          .tv_nsec = delay % 1000000000};
    nanosleep(&ts, NULL);
    stats_add(&w->stats->busy_retries, 1);
    return true;
}

/* SQLite's busy handler: keep waiting, with backoff, until the deadline. */
static int busy(void *arg, int count)
{
    return backoff(arg, count);
}

/* Makes @db the worker's connection, with the worker's handlers. */
static void attach(struct worker *w, sqlite3 *db)
{
    w->db = db;
    stmt_cache_init(&w->cache, w->cfg->statement_cache);
    sqlite3_progress_handler(db, PROGRESS_STEPS, progress, w);
    authorizer_install(&w->auth, db, w->cfg);
    sqlite3_busy_handler(db, busy, w);
}

int execute_init(struct worker *w, sqlite3 *db, bool writer,
                 const struct config *cfg, const atomic_bool *stop,
                 struct stats *stats)
{
    *w = (struct worker){.writer = writer,
                         .cfg = cfg,
                         .max_reply = cfg->max_message_size,
                         .stop = stop,
                         .stats = stats};
    attach(w, db);
    if (!writer)
        return SQLITE_OK;
    w->auth.internal = true;
    for (int c = 0; c < CONTROL_COUNT; c++) {
        int rc =
            sqlite3_prepare_v3(db, control_sql[c], -1,
                               SQLITE_PREPARE_PERSISTENT, &w->control[c], NULL);
        if (rc != SQLITE_OK) {
            w->auth.internal = false;
            return rc;
        }
    }
    w->auth.internal = false;
    return SQLITE_OK;
}

void execute_account(struct worker *w, int64_t started)
{
    static const struct {
        int op;
        size_t offset;
    } counted[] = {
        {SQLITE_DBSTATUS_CACHE_HIT, offsetof(struct stats, page_cache_hits)},
        {SQLITE_DBSTATUS_CACHE_MISS, offsetof(struct stats, page_cache_misses)},
        {SQLITE_DBSTATUS_CACHE_WRITE,
         offsetof(struct stats, page_cache_writes)},
    };
    static const int memory[] = {SQLITE_DBSTATUS_CACHE_USED,
                                 SQLITE_DBSTATUS_SCHEMA_USED,
                                 SQLITE_DBSTATUS_STMT_USED};
    int cur, high;
    uint64_t used = 0;

    stats_add(w->writer ? &w->stats->writer_busy_ns : &w->stats->reader_busy_ns,
              (uint64_t)(clock_now() - started));
    if (w->db == NULL)
        return; /* its connection went to a cursor */
    for (size_t i = 0; i < sizeof(counted) / sizeof(*counted); i++)
        if (sqlite3_db_status(w->db, counted[i].op, &cur, &high, 1) ==
                SQLITE_OK &&
            cur > 0)
            stats_add(
                (atomic_uint_fast64_t *)((char *)w->stats + counted[i].offset),
                (uint64_t)cur);
    for (size_t i = 0; i < sizeof(memory) / sizeof(*memory); i++)
        if (sqlite3_db_status(w->db, memory[i], &cur, &high, 0) == SQLITE_OK &&
            cur > 0)
            used += (uint64_t)cur;
    atomic_store_explicit(&w->sqlite_memory, used, memory_order_relaxed);
}

void execute_close(struct worker *w)
{
    stmt_cache_clear(&w->cache);
    for (int c = 0; c < CONTROL_COUNT; c++)
        sqlite3_finalize(w->control[c]);
    db_close(w->db);
    w->db = NULL;
}

int execute_reopen(struct worker *w, char *err, size_t errlen)
{
    sqlite3 *db;
    int rc = db_open_reader(w->cfg, &db, err, errlen);
    /* Not execute_init(): rewriting the whole worker would race with the
     * loop, which reads its sqlite_memory at any time. */
    if (rc == SQLITE_OK)
        attach(w, db);
    return rc;
}

/* The progress handler is off meanwhile: neither a deadline nor a shutdown
 * may interrupt the daemon's own COMMIT or ROLLBACK. */
int execute_control(struct worker *w, enum control c)
{
    sqlite3_stmt *st = w->control[c];
    sqlite3_progress_handler(w->db, 0, NULL, NULL);
    w->auth.internal = true;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    w->auth.internal = false;
    sqlite3_progress_handler(w->db, PROGRESS_STEPS, progress, w);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Should the rollback fail, every later job on this connection would run
 * inside the stale transaction, so that is logged loudly. */
void execute_rollback(struct worker *w)
{
    if (sqlite3_get_autocommit(w->db))
        return;
    if (execute_control(w, CONTROL_ROLLBACK) != SQLITE_OK ||
        !sqlite3_get_autocommit(w->db))
        log_error("cannot roll back a transaction: %s", sqlite3_errmsg(w->db));
}

__attribute__((format(printf, 3, 4))) static int fail(struct run *r, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof(r->message), fmt, ap);
    va_end(ap);
    r->code = code;
    return code;
}

/* Records the connection's last error. SQLITE_INTERRUPT caused by our own
 * progress handler is reported as what it is. */
static int fail_sqlite(struct run *r, int rc)
{
    struct worker *w = r->w;
    if ((rc & 0xff) == SQLITE_INTERRUPT && w->released)
        return fail(r, SQLITED_INTERRUPTED,
                    "interrupted: the WAL passed its limit (--wal-max-bytes, "
                    "%lld bytes) and this read held the oldest snapshot, "
                    "which kept checkpoints from completing; run it again",
                    (long long)w->cfg->wal_max_bytes);
    if ((rc & 0xff) == SQLITE_INTERRUPT && w->timed_out)
        return fail(r, SQLITED_TIMEOUT,
                    "the request's deadline (%u ms) passed while it ran: it "
                    "was interrupted and nothing of it was applied",
                    r->job->timeout_ms);
    if ((rc & 0xff) == SQLITE_INTERRUPT && atomic_load(w->stop))
        return fail(r, SQLITED_INTERRUPTED,
                    "interrupted: the daemon is shutting down and its grace "
                    "period is over");
    int code = sqlite3_extended_errcode(w->db);
    if (code == SQLITE_OK)
        code = rc;
    dbfile_report(code, sqlite3_errmsg(w->db));
    /* A refusal is the cause whatever SQLite reports: SQLITE_ERROR "not
     * authorized to use function", or SQLITE_SCHEMA when the schema changed
     * under the statement that was refused. */
    if (w->auth.denied[0])
        return fail(r, w->auth.denied_code, "%s", w->auth.denied);
    if ((code & 0xff) == SQLITE_READONLY && w->cfg->read_only)
        return fail(r, code,
                    "%s: the daemon serves %s read-only (--read-only), so "
                    "writes are refused",
                    sqlite3_errmsg(w->db), w->cfg->database);
    if (code == SQLITE_BUSY_SNAPSHOT)
        return fail(r, code,
                    "%s: another process wrote to the database since this "
                    "transaction began reading, so it cannot write; roll it "
                    "back and try again, or begin it immediate",
                    sqlite3_errmsg(w->db));
    if ((code & 0xff) == SQLITE_BUSY)
        return fail(r, code,
                    "%s: the database stayed locked by another process until "
                    "the request's deadline (%u ms)",
                    sqlite3_errmsg(w->db), r->job->timeout_ms);
    return fail(r, code, "%s", sqlite3_errmsg(w->db));
}

/* Skips what SQLite's tokenizer skips between statements: white space,
 * semicolons and comments. Returns where the next statement starts. */
static const char *skip_filler(const char *p, const char *end)
{
    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r' ||
            *p == ';') {
            p++;
        } else if (*p == '-' && p + 1 < end && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (*p == '/' && p + 1 < end && p[1] == '*') {
            for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/');)
                p++;
            p = p < end ? p + 2 : end; /* an open comment runs to the end */
        } else {
            return p;
        }
    }
    return end;
}

static bool only_filler(const char *p, const char *end)
{
    return skip_filler(p, end) == end;
}

bool execute_only_filler(const char *p, const char *end)
{
    return only_filler(p, end);
}

const char *execute_word(const char *p, const char *end, const char *word)
{
    const size_t n = strlen(word);
    p = skip_filler(p, end);
    if ((size_t)(end - p) < n || sqlite3_strnicmp(p, word, (int)n) != 0)
        return NULL;
    p += n;
    if (p < end &&
        (*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
         (*p >= 'A' && *p <= 'Z') || (unsigned char)*p >= 0x80))
        return NULL;
    return p;
}

/* True when the statement at @p starts with the keyword @word. */
static bool starts_with(const char *p, const char *end, const char *word)
{
    return execute_word(p, end, word) != NULL;
}

/* True when the statement at @p is VACUUM, which cannot run inside a
 * transaction. */
static bool is_vacuum(const char *p, const char *end)
{
    return starts_with(p, end, "vacuum");
}

/* True when the statement at @p is a PRAGMA. */
static bool is_pragma(const char *p, const char *end)
{
    return starts_with(p, end, "pragma");
}

/* True when the statement at @p may be SAVEPOINT, RELEASE or ROLLBACK TO
 * (a plain ROLLBACK the authorizer refuses all the same). */
static bool is_savepoint(const char *p, const char *end)
{
    return starts_with(p, end, "savepoint") || starts_with(p, end, "release") ||
           starts_with(p, end, "rollback");
}

/* ------------------------------------------------------------------ binding
 */

/* Binds one value read from the request. The loop thread has checked types
 * already; anything else here is a defect, refused all the same. Text and
 * blobs are bound in place (SQLITE_STATIC): the request outlives the step. */
static int bind_value(struct run *r, struct codec_reader *params,
                      sqlite3_stmt *st, int i)
{
    struct codec_value v;
    if (codec_read(params, &v))
        return fail(r, SQLITED_BAD_REQUEST, "parameter %d is malformed", i);
    switch (v.type) {
    case CODEC_NIL:
        return sqlite3_bind_null(st, i);
    case CODEC_BOOL:
        return sqlite3_bind_int64(st, i, v.v.b ? 1 : 0);
    case CODEC_INT:
        return sqlite3_bind_int64(st, i, v.v.i);
    case CODEC_FLOAT:
        return sqlite3_bind_double(st, i, v.v.f);
    case CODEC_STR:
        return sqlite3_bind_text64(st, i, v.v.s.ptr, v.v.s.len, SQLITE_STATIC,
                                   SQLITE_UTF8);
    case CODEC_BIN:
        /* A NULL pointer would bind NULL, not an empty blob. */
        if (v.v.s.len == 0)
            return sqlite3_bind_zeroblob(st, i, 0);
        return sqlite3_bind_blob64(st, i, v.v.s.ptr, v.v.s.len, SQLITE_STATIC);
    default:
        return fail(r, SQLITED_BAD_REQUEST,
                    "parameter %d has a type that cannot be bound", i);
    }
}

/* Finds the statement's index for map key @key: the full name (":id") or
 * the bare name ("id") with any of SQLite's three named prefixes. */
static int named_index(sqlite3_stmt *st, const char *key, uint32_t len)
{
    /* A NUL inside the key would cut it short and name another parameter. */
    if (memchr(key, '\0', len) != NULL)
        return 0;
    char small[128];
    char *name = len + 2 <= sizeof(small) ? small : malloc(len + 2);
    if (name == NULL)
        return -1;
    int index = 0;
    memcpy(name + 1, key, len);
    name[len + 1] = '\0';
    if (len > 0 && strchr(":@$?", key[0]))
        index = sqlite3_bind_parameter_index(st, name + 1);
    for (const char *p = ":@$"; index == 0 && *p; p++) {
        name[0] = *p;
        index = sqlite3_bind_parameter_index(st, name);
    }
    if (name != small)
        free(name);
    return index;
}

static const char *param_label(sqlite3_stmt *st, int i, char *buf, size_t n)
{
    const char *name = sqlite3_bind_parameter_name(st, i);
    if (name)
        return name;
    snprintf(buf, n, "?%d", i);
    return buf;
}

/* Binds @req's parameters to @st, refusing any mismatch between the values
 * given and the parameters the statement has. */
static int bind_params(struct run *r, const struct sql_req *req,
                       sqlite3_stmt *st)
{
    struct codec_reader params = req->params;
    int count = sqlite3_bind_parameter_count(st);
    char label[16];
    int rc;

    if (!req->named) {
        if ((uint32_t)count != req->nparams)
            return fail(r, SQLITE_RANGE,
                        "the statement has %d parameter%s but %u value%s "
                        "given",
                        count, count == 1 ? "" : "s", req->nparams,
                        req->nparams == 1 ? " was" : "s were");
        for (int i = 1; i <= count; i++)
            if ((rc = bind_value(r, &params, st, i)) != SQLITE_OK)
                return r->code ? rc : fail_sqlite(r, rc);
        return SQLITE_OK;
    }

    /* Named: every key must name a parameter, and every parameter must be
     * named exactly once. count <= RPC_MAX_PARAMS (SQLITE_LIMIT_VARIABLE_NUMBER
     * is set to it), so the bitmap fits on the stack. */
    uint8_t seen[(RPC_MAX_PARAMS + 8) / 8] = {0};
    for (uint32_t k = 0; k < req->nparams; k++) {
        const char *key;
        uint32_t len;
        if (codec_read_str(&params, &key, &len))
            return fail(r, SQLITED_BAD_REQUEST,
                        "parameter names must be strings");
        int i = named_index(st, key, len);
        if (i < 0)
            return fail(r, SQLITE_NOMEM, "out of memory");
        if (i == 0)
            return fail(r, SQLITE_RANGE,
                        "the statement has no parameter named '%.*s'",
                        (int)(len > 64 ? 64 : len), key);
        if (seen[i / 8] & (1u << (i % 8)))
            return fail(r, SQLITE_RANGE, "parameter '%s' is given twice",
                        param_label(st, i, label, sizeof(label)));
        seen[i / 8] |= (uint8_t)(1u << (i % 8));
        if ((rc = bind_value(r, &params, st, i)) != SQLITE_OK)
            return r->code ? rc : fail_sqlite(r, rc);
    }
    for (int i = 1; i <= count; i++)
        if (!(seen[i / 8] & (1u << (i % 8))))
            return fail(r, SQLITE_RANGE, "no value given for parameter '%s'",
                        param_label(st, i, label, sizeof(label)));
    return SQLITE_OK;
}

/* ----------------------------------------------------------------- stepping
 */

static int pack_row(struct run *r, sqlite3_stmt *st, int ncols,
                    struct codec_buf *out)
{
    msgpack_pack_array(&out->pk, (size_t)ncols);
    for (int i = 0; i < ncols; i++) {
        switch (sqlite3_column_type(st, i)) {
        case SQLITE_INTEGER:
            msgpack_pack_int64(&out->pk, sqlite3_column_int64(st, i));
            break;
        case SQLITE_FLOAT:
            msgpack_pack_double(&out->pk, sqlite3_column_double(st, i));
            break;
        case SQLITE_TEXT: {
            const char *s = (const char *)sqlite3_column_text(st, i);
            size_t n = (size_t)sqlite3_column_bytes(st, i);
            if (s == NULL)
                return fail(r, SQLITE_NOMEM, "out of memory");
            /* SQLite stores whatever bytes it is given as TEXT. A str must
             * be UTF-8 or strict decoders reject the whole reply, so other
             * bytes travel as bin: nothing is lost, and the type says so. */
            if (codec_utf8_valid(s, n)) {
                codec_pack_str(out, s, n);
            } else {
                msgpack_pack_bin(&out->pk, n);
                msgpack_pack_bin_body(&out->pk, s, n);
            }
            break;
        }
        case SQLITE_BLOB: {
            const void *b = sqlite3_column_blob(st, i);
            int n = sqlite3_column_bytes(st, i);
            msgpack_pack_bin(&out->pk, (size_t)n);
            if (n > 0)
                msgpack_pack_bin_body(&out->pk, b, (size_t)n);
            break;
        }
        default:
            msgpack_pack_nil(&out->pk);
            break;
        }
    }
    return SQLITE_OK;
}

static int fail_out(struct run *r, const struct codec_buf *out)
{
    if (out->error == CODEC_BUF_LIMIT)
        return fail(r, SQLITED_TOO_LARGE,
                    "the result is larger than the maximum message size "
                    "(%zu bytes); select fewer rows or columns",
                    r->w->max_reply);
    return fail(r, SQLITE_NOMEM, "out of memory encoding the result");
}

/* Whether the answer of @r carries "decltypes" beside "columns" (a query
 * that asked for them). */
static bool wants_decltypes(const struct run *r)
{
    return r->job->method == RPC_QUERY && r->job->decltypes;
}

/* The number of map entries pack_columns() appends. */
static unsigned column_keys(const struct run *r)
{
    return wants_decltypes(r) ? 3u : 2u;
}

/* Appends the "columns" entry, the "decltypes" entry when the query asked
 * for it (nil for a column that is no table column), and the key "rows" of
 * a result map: column_keys() entries. */
static int pack_columns(struct run *r, sqlite3_stmt *st, int ncols,
                        struct codec_buf *out)
{
    codec_pack_cstr(out, "columns");
    msgpack_pack_array(&out->pk, (size_t)ncols);
    for (int i = 0; i < ncols; i++) {
        const char *name = sqlite3_column_name(st, i);
        if (name == NULL)
            return fail(r, SQLITE_NOMEM, "out of memory");
        codec_pack_cstr(out, name);
    }
    if (wants_decltypes(r)) {
        codec_pack_cstr(out, "decltypes");
        msgpack_pack_array(&out->pk, (size_t)ncols);
        for (int i = 0; i < ncols; i++) {
            const char *type = sqlite3_column_decltype(st, i);
            if (type == NULL)
                msgpack_pack_nil(&out->pk);
            else
                codec_pack_cstr(out, type);
        }
    }
    codec_pack_cstr(out, "rows");
    return SQLITE_OK;
}

static int step(struct run *r, sqlite3_stmt *st)
{
    r->w->auth.stepping = true;
    int rc = sqlite3_step(st);
    r->w->auth.stepping = false;
    return rc;
}

/* The first step of @st. Only after it are @st's columns known: SQLite
 * prepares a statement again there when the schema changed since it was
 * prepared (by another client, or since it went into the cache). */
static int step_first(struct run *r, sqlite3_stmt *st)
{
    r->total_before = sqlite3_total_changes64(r->w->db);
    return step(r, st);
}

/* Appends the array of @st's rows to @out, stepping on from where @st is:
 * @rc is what its last step returned (SQLITE_ROW: it stands on the first row
 * to send; SQLITE_DONE or an error: it is finished), or 0. With @chunk,
 * stops once the chunk is full and sets *@more when a row is left, on which
 * @st then stands. Enforces the job's max_rows and max_bytes over all the
 * chunks of the result (r->rows, r->bytes). */
static int pack_rows(struct run *r, sqlite3_stmt *st, int rc, bool chunk,
                     bool *more, struct codec_buf *out)
{
    const struct config *cfg = r->w->cfg;
    int ncols = sqlite3_column_count(st);
    size_t at = codec_pack_array_later(out), start = out->len;
    uint32_t n = 0;

    *more = false;
    for (;; rc = 0) {
        if (rc == 0)
            rc = step(r, st);
        if (rc != SQLITE_ROW)
            break;
        if (chunk &&
            (n >= cfg->chunk_rows || out->len - start >= cfg->chunk_bytes)) {
            *more = true;
            break;
        }
        if (r->max_rows && r->rows >= r->max_rows)
            return fail(r, SQLITED_TOO_LARGE,
                        "the result has more than %" PRIu64 " rows (max_rows)",
                        r->max_rows);
        if (pack_row(r, st, ncols, out) != SQLITE_OK)
            return r->code;
        if (out->error)
            return fail_out(r, out);
        n++;
        r->rows++;
        if (r->max_bytes && r->bytes + (out->len - start) > r->max_bytes)
            return fail(r, SQLITED_TOO_LARGE,
                        "the result's rows take more than %" PRIu64
                        " bytes (max_bytes)",
                        r->max_bytes);
    }
    if (!*more && rc != SQLITE_DONE)
        return fail_sqlite(r, rc);
    r->bytes += out->len - start;
    codec_patch_array(out, at, n);
    return out->error ? fail_out(r, out) : SQLITE_OK;
}

/* Steps @st, whose first step returned @rc, to its end. When it has result
 * columns, appends the two map entries "columns" and "rows" to @out. Counts
 * the rows it changed. */
static int step_all(struct run *r, sqlite3_stmt *st, int rc,
                    struct codec_buf *out)
{
    sqlite3 *db = r->w->db;
    int ncols = sqlite3_column_count(st);
    bool more;

    if (ncols > 0) {
        if (pack_columns(r, st, ncols, out) != SQLITE_OK ||
            pack_rows(r, st, rc, false, &more, out) != SQLITE_OK)
            return r->code;
    } else {
        while (rc == SQLITE_ROW)
            rc = step(r, st);
        if (rc != SQLITE_DONE)
            return fail_sqlite(r, rc);
    }
    /* sqlite3_changes64() keeps the count of the last INSERT, UPDATE or
     * DELETE, whatever ran since: only trust it when this statement changed
     * something. */
    if (sqlite3_total_changes64(db) != r->total_before)
        r->changes += sqlite3_changes64(db);
    return out->error ? fail_out(r, out) : SQLITE_OK;
}

static void pack_counts(struct run *r, struct codec_buf *out)
{
    codec_pack_cstr(out, "changes");
    msgpack_pack_int64(&out->pk, r->changes);
    codec_pack_cstr(out, "last_insert_rowid");
    msgpack_pack_int64(&out->pk, sqlite3_last_insert_rowid(r->w->db));
}

/* In a group, VACUUM cannot run: the job must run again alone. */
static bool must_run_alone(struct run *r, const char *sql, const char *end)
{
    enum rpc_method m = r->job->method;
    if (!r->w->grouped || (m != RPC_EXEC && m != RPC_QUERY) ||
        !is_vacuum(sql, end))
        return false;
    r->alone = true;
    fail(r, SQLITED_INTERNAL, "VACUUM runs alone");
    return true;
}

/* Brings @w's copy of the schema up to date. Pragmas that read the schema
 * (foreign_key_list, index_info, ...) compile their answer from that copy
 * when prepared and, for a table or index it lacks, check no schema cookie
 * when run: on a reader that has not seen the writer's latest change they
 * answer no rows. Stepping a statement that reads the database checks the
 * cookie, and SQLite reloads a schema that changed. Errors are left to the
 * statement that follows. */
static void refresh_schema(struct worker *w)
{
    sqlite3_stmt *st;
    bool internal = w->auth.internal;

    w->auth.internal = true;
    if (sqlite3_prepare_v2(w->db, "SELECT 1 FROM sqlite_schema LIMIT 0", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    w->auth.internal = internal;
}

/* Prepares the next statement of [*sql, end). Returns SQLITE_OK with *st NULL
 * when only white space and comments are left. A pragma is prepared against
 * the current schema (refresh_schema()). */
static int prepare(struct run *r, const char **sql, const char *end,
                   sqlite3_stmt **st)
{
    const char *tail;
    *st = NULL;
    if (must_run_alone(r, *sql, end))
        return r->code;
    if (is_pragma(*sql, end))
        refresh_schema(r->w);
    r->w->auth.denied[0] = '\0';
    int rc =
        sqlite3_prepare_v3(r->w->db, *sql, (int)(end - *sql), 0, st, &tail);
    if (rc != SQLITE_OK)
        return fail_sqlite(r, rc);
    *sql = tail;
    return SQLITE_OK;
}

/* Prepares the first statement of @req, or takes it from the cache when
 * the text was seen before. Sets *@tail after it; when only filler follows,
 * the statement is the whole text and goes back to the cache afterwards
 * (release()). */
static int prepare_first(struct run *r, const struct sql_req *req,
                         sqlite3_stmt **st, const char **tail)
{
    struct worker *w = r->w;
    const char *end = req->sql + req->sql_len;

    *tail = req->sql;
    if (must_run_alone(r, req->sql, end))
        return r->code;
    *st = stmt_cache_take(&w->cache, req->sql, req->sql_len);
    w->auth.denied[0] = '\0';
    if (*st != NULL) {
        stats_add(&w->stats->stmt_cache_hits, 1);
        *tail = end;
        return SQLITE_OK;
    }
    if (prepare(r, tail, end, st) != SQLITE_OK)
        return r->code;
    if (*st != NULL && only_filler(*tail, end))
        stats_add(&w->stats->stmt_cache_misses, 1);
    return SQLITE_OK;
}

/* Done with @st from prepare_first(): keep it when it is @req's whole text.
 * A savepoint statement is never kept: taken from the cache, it would skip
 * the authorizer, which allows it only inside a transaction. Nor is a
 * pragma: its answer may be compiled in, from the schema as it was. */
static void release(struct run *r, const struct sql_req *req, sqlite3_stmt *st,
                    const char *tail)
{
    if (st != NULL && !r->w->auth.savepoints &&
        !is_pragma(req->sql, req->sql + req->sql_len) &&
        only_filler(tail, req->sql + req->sql_len))
        stmt_cache_put(&r->w->cache, req->sql, req->sql_len, st);
    else
        sqlite3_finalize(st);
}

/* A reader's query: the first chunk of rows goes into the reply; when rows
 * are left (and a cursor may still be opened), @st stays with them for a
 * cursor (r->cursor_st) and the reply says "cursor". */
static void run_chunked(struct run *r, sqlite3_stmt *st, int rc)
{
    struct codec_buf *out = r->out;
    struct worker *w = r->w;
    int ncols = sqlite3_column_count(st);
    bool more;

    size_t map = codec_pack_map_later(out);
    if (pack_columns(r, st, ncols, out) != SQLITE_OK)
        return;
    /* Reserve a cursor up front: one is needed if the rows overflow the
     * chunk, and none may be left then. */
    bool reserved =
        r->job->may_open_cursor &&
        stats_add_below(&w->stats->cursors_open, w->cfg->max_cursors);
    if (pack_rows(r, st, rc, true, &more, out) != SQLITE_OK || !more) {
        if (reserved)
            stats_sub(&w->stats->cursors_open, 1);
        if (r->code == 0)
            codec_patch_map(out, map, column_keys(r));
        return;
    }
    if (!reserved) {
        if (r->job->may_open_cursor)
            fail(r, SQLITED_TOO_MANY_CURSORS,
                 "the result needs a cursor, but the daemon has all of its "
                 "%u open (--max-cursors); read other results to their end "
                 "or close them",
                 w->cfg->max_cursors);
        else
            fail(r, SQLITED_TOO_MANY_CURSORS,
                 "the result needs a cursor, but this connection holds %d "
                 "open already; read them to their end or close them",
                 CURSORS_PER_CONN);
        return;
    }
    r->cursor_st = st;
    r->cursor_id = atomic_fetch_add(&cursor_ids, 1) + 1;
    codec_pack_cstr(out, "cursor");
    msgpack_pack_uint64(&out->pk, r->cursor_id);
    codec_patch_map(out, map, column_keys(r) + 1);
}

/* One statement, the usual case: the reply is encoded straight into r->out. */
static enum execute_result run_one(struct run *r, const struct sql_req *req,
                                   sqlite3_stmt *st)
{
    if (!r->w->writer && !sqlite3_stmt_readonly(st))
        return EXECUTE_FORWARD;
    if (bind_params(r, req, st) != SQLITE_OK)
        return EXECUTE_DONE;

    bool counts = r->w->writer;
    int rc = step_first(r, st);
    int ncols = sqlite3_column_count(st);
    if (!counts && ncols > 0 && r->job->method == RPC_QUERY) {
        run_chunked(r, st, rc);
        return EXECUTE_DONE;
    }
    msgpack_pack_map(&r->out->pk,
                     (ncols > 0 ? column_keys(r) : 0u) + (counts ? 2u : 0u));
    if (step_all(r, st, rc, r->out) == SQLITE_OK && counts)
        pack_counts(r, r->out);
    return EXECUTE_DONE;
}

/* A script: exec without parameters holding several statements, the first
 * already prepared in @st and the rest in [sql, end). The rows of the last
 * statement with result columns are kept aside until the end, since only
 * then is it known which one that is. */
static void run_script(struct run *r, const struct sql_req *req,
                       sqlite3_stmt *st, const char *sql, const char *end)
{
    struct codec_buf rows;
    bool has_rows = false;

    r->script = true;
    codec_buf_init(&rows, r->w->max_reply);
    for (;;) {
        int rc = bind_params(r, req, st);
        if (rc == SQLITE_OK) {
            rc = step_first(r, st);
            if (sqlite3_column_count(st) > 0) {
                codec_buf_reset(&rows);
                r->rows = r->bytes = 0;
                has_rows = true;
            }
            rc = step_all(r, st, rc, &rows);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (rc != SQLITE_OK || only_filler(sql, end))
            break;
        if (prepare(r, &sql, end, &st) != SQLITE_OK || st == NULL)
            break;
    }
    if (r->code == 0) {
        msgpack_pack_map(&r->out->pk, has_rows ? 4 : 2);
        codec_buf_append(r->out, rows.data, rows.len);
        pack_counts(r, r->out);
    }
    codec_buf_close(&rows);
}

/* Prepares @req's first statement and runs it alone or as a script; @one
 * refuses scripts (query). */
static enum execute_result run_sql(struct run *r, const struct sql_req *req,
                                   bool one)
{
    const char *end = req->sql + req->sql_len, *tail;
    sqlite3_stmt *st = NULL;
    enum execute_result result = EXECUTE_DONE;

    if (prepare_first(r, req, &st, &tail) != SQLITE_OK)
        return EXECUTE_DONE;
    if (st == NULL) {
        fail(r, SQLITED_BAD_REQUEST, "no SQL statement in the text");
        return EXECUTE_DONE;
    }
    if (r->w->auth.savepoints && !only_filler(tail, end))
        fail(r, SQLITED_BAD_REQUEST,
             "SAVEPOINT, RELEASE and ROLLBACK TO must be sent alone: one "
             "statement per request, not in a script");
    else if (only_filler(tail, end))
        result = run_one(r, req, st);
    else if (one)
        fail(r, SQLITED_BAD_REQUEST,
             "query takes exactly one statement; send a script with exec");
    else if (req->nparams > 0)
        fail(r, SQLITED_BAD_REQUEST,
             "SQL with parameters must be exactly one statement");
    else {
        run_script(r, req, st, tail, end);
        return EXECUTE_DONE; /* it finalized @st */
    }
    if (st != r->cursor_st)
        release(r, req, st, tail);
    return result;
}

/* explain: the rows of EXPLAIN QUERY PLAN, without its unused column. */
static void run_explain(struct run *r)
{
    static const char prefix[] = "EXPLAIN QUERY PLAN ";
    const size_t n = sizeof(prefix) - 1;
    const struct sql_req *req = &r->job->req;
    struct sql_req plan = *req;
    sqlite3_stmt *st = NULL;
    const char *tail;
    char *sql = malloc(n + req->sql_len);
    int rc;

    if (sql == NULL) {
        fail(r, SQLITE_NOMEM, "out of memory");
        return;
    }
    memcpy(sql, prefix, n);
    memcpy(sql + n, req->sql, req->sql_len);
    plan.sql = sql;
    plan.sql_len = (uint32_t)(n + req->sql_len);
    if (prepare_first(r, &plan, &st, &tail) != SQLITE_OK)
        goto out;
    if (st == NULL || !only_filler(tail, plan.sql + plan.sql_len) ||
        sqlite3_column_count(st) < 4) {
        fail(r, SQLITED_BAD_REQUEST, "explain takes exactly one statement");
        goto out;
    }
    if (plan.nparams > 0 && bind_params(r, &plan, st) != SQLITE_OK)
        goto out;
    msgpack_pack_map(&r->out->pk, 2);
    codec_pack_cstr(r->out, "columns");
    msgpack_pack_array(&r->out->pk, 3);
    codec_pack_cstr(r->out, "id");
    codec_pack_cstr(r->out, "parent");
    codec_pack_cstr(r->out, "detail");
    codec_pack_cstr(r->out, "rows");
    size_t at = codec_pack_array_later(r->out);
    uint32_t rows = 0;
    while ((rc = step(r, st)) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        msgpack_pack_array(&r->out->pk, 3);
        msgpack_pack_int64(&r->out->pk, sqlite3_column_int64(st, 0));
        msgpack_pack_int64(&r->out->pk, sqlite3_column_int64(st, 1));
        codec_pack_cstr(r->out, detail ? detail : "");
        rows++;
    }
    if (rc != SQLITE_DONE)
        fail_sqlite(r, rc);
    codec_patch_array(r->out, at, rows);
out:
    release(r, &plan, st, tail);
    free(sql);
}

/* Reads one parameter list (nil, an array or a map, checked by the loop
 * thread) into @req and moves @r past it. */
static int read_params(struct run *r, struct codec_reader *rd,
                       struct sql_req *req)
{
    struct codec_value v;
    req->nparams = 0;
    req->named = false;
    if (codec_read(rd, &v))
        return fail(r, SQLITED_BAD_REQUEST, "malformed parameters");
    if (v.type == CODEC_NIL)
        return SQLITE_OK;
    req->named = v.type == CODEC_MAP;
    req->nparams = v.v.n;
    req->params = *rd;
    for (uint32_t i = 0; i < v.v.n * (req->named ? 2u : 1u); i++)
        if (codec_skip(rd))
            return fail(r, SQLITED_BAD_REQUEST, "malformed parameters");
    return SQLITE_OK;
}

/* Prefixes the recorded error with the step that failed. */
static void fail_step(struct run *r, uint32_t i)
{
    char prefix[16];
    int n = snprintf(prefix, sizeof(prefix), "step %u: ", i);
    size_t keep = sizeof(r->message) - (size_t)n - 1;
    memmove(r->message + n, r->message, keep);
    memcpy(r->message, prefix, (size_t)n);
    r->message[sizeof(r->message) - 1] = '\0';
    r->step = i;
}

/* In a group commit, requests commit together: a deferred foreign key
 * violation one of them leaves must fail that request, not the COMMIT of
 * all. (Inside an interactive transaction it may still be mended before
 * commit, as SQLite intends.) */
static void check_deferred(struct run *r)
{
    int now = 0, high = 0;
    if (!r->w->grouped)
        return;
    sqlite3_db_status(r->w->db, SQLITE_DBSTATUS_DEFERRED_FKS, &now, &high, 0);
    if (now > 0)
        fail(r, SQLITE_CONSTRAINT_FOREIGNKEY,
             "FOREIGN KEY constraint failed: the request leaves %d deferred "
             "foreign key violation%s, and outside a transaction of begin "
             "and commit deferred constraints are checked at the end of "
             "each request",
             now, now == 1 ? "" : "s");
}

/* True when SQLite rolled back the transaction the job ran in. */
static bool tx_lost(const struct worker *w)
{
    return w->in_tx && sqlite3_get_autocommit(w->db);
}

/* batch: each step [sql, params?] in order. Atomic, the first failure fails
 * the job (and its savepoint undoes the steps before); otherwise each step
 * has a savepoint of its own and its error is reported in "errors". */
static void run_batch(struct run *r)
{
    struct job *job = r->job;
    struct codec_reader steps = job->items;
    struct codec_buf errors;

    codec_buf_init(&errors, r->w->max_reply);
    msgpack_pack_map(&r->out->pk, 2);
    codec_pack_cstr(r->out, "results");
    msgpack_pack_array(&r->out->pk, job->nitems);
    for (uint32_t i = 0; i < job->nitems; i++) {
        struct sql_req req = {0};
        uint32_t n;
        if (codec_read_array(&steps, &n) ||
            codec_read_str(&steps, &req.sql, &req.sql_len) ||
            (n > 1 && read_params(r, &steps, &req) != SQLITE_OK)) {
            fail(r, SQLITED_BAD_REQUEST, "malformed step");
            fail_step(r, i);
            break;
        }
        size_t mark = r->out->len;
        r->changes = 0;
        if (!job->atomic)
            execute_control(r->w, CONTROL_SAVEPOINT);
        run_sql(r, &req, false);
        if (r->code == 0 && !job->atomic)
            check_deferred(r);
        if (r->code != 0 && (job->atomic || tx_lost(r->w))) {
            fail_step(r, i);
            break;
        }
        if (r->code != 0) {
            execute_control(r->w, CONTROL_ROLLBACK_TO);
            codec_buf_truncate(r->out, mark);
            msgpack_pack_nil(&r->out->pk);
            rpc_pack_error(&errors, r->code, r->message);
            r->code = 0;
        } else {
            msgpack_pack_nil(&errors.pk);
        }
        if (!job->atomic)
            execute_control(r->w, CONTROL_RELEASE);
    }
    if (r->code == 0) {
        codec_pack_cstr(r->out, "errors");
        msgpack_pack_array(&r->out->pk, job->nitems);
        if (errors.error)
            fail_out(r, &errors);
        codec_buf_append(r->out, errors.data, errors.len);
    }
    codec_buf_close(&errors);
}

/* bulk: one statement, prepared once, run for each parameter set. */
static void run_bulk(struct run *r)
{
    struct job *job = r->job;
    struct codec_reader sets = job->items;
    const char *end = job->req.sql + job->req.sql_len, *tail;
    sqlite3_stmt *st = NULL;

    if (prepare_first(r, &job->req, &st, &tail) != SQLITE_OK)
        return;
    if (st == NULL || !only_filler(tail, end) || sqlite3_column_count(st) > 0)
        fail(r, SQLITED_BAD_REQUEST,
             st == NULL ? "no SQL statement in the text"
             : sqlite3_column_count(st) > 0
                 ? "bulk takes a statement that returns no rows; use batch "
                   "for RETURNING or SELECT"
                 : "bulk takes exactly one statement");
    for (uint32_t i = 0; r->code == 0 && i < job->nitems; i++) {
        struct sql_req req;
        if (read_params(r, &sets, &req) == SQLITE_OK &&
            bind_params(r, &req, st) == SQLITE_OK)
            step_all(r, st, step_first(r, st), r->out); /* adds changes */
        if (r->code != 0)
            fail_step(r, i);
        sqlite3_reset(st);
    }
    release(r, &job->req, st, tail);
    if (r->code == 0) {
        msgpack_pack_map(&r->out->pk, 2);
        pack_counts(r, r->out);
    }
}

static enum execute_result run(struct run *r)
{
    switch (r->job->method) {
    case RPC_BATCH:
        run_batch(r);
        return EXECUTE_DONE;
    case RPC_BULK:
        run_bulk(r);
        return EXECUTE_DONE;
    case RPC_EXPLAIN:
        run_explain(r);
        return EXECUTE_DONE;
    default:
        return run_sql(r, &r->job->req, r->job->method == RPC_QUERY);
    }
}

/* Runs the job once, in a savepoint when a transaction is open. A client's
 * own SAVEPOINT, RELEASE or ROLLBACK TO, sent alone inside an interactive
 * transaction, runs without one: the client's savepoint must outlive the
 * request (the daemon's RELEASE would release it with its own), and its
 * ROLLBACK TO would cancel the daemon's savepoint. */
static enum execute_result attempt(struct run *r)
{
    struct worker *w = r->w;
    enum rpc_method m = r->job->method;
    bool wrap = w->in_tx;
    int rc;

    w->auth.in_tx = w->in_tx && !w->grouped;
    w->auth.savepoints =
        w->auth.in_tx && (m == RPC_EXEC || m == RPC_QUERY) &&
        is_savepoint(r->job->req.sql, r->job->req.sql + r->job->req.sql_len);
    if (w->auth.savepoints)
        wrap = false;
    enum execute_result result = EXECUTE_DONE;
    if (wrap && (rc = execute_control(w, CONTROL_SAVEPOINT)) != SQLITE_OK) {
        fail(r, rc, "cannot open a savepoint: %s", sqlite3_errmsg(w->db));
        result = tx_lost(w) ? EXECUTE_LOST : EXECUTE_DONE;
        goto out;
    }
    result = run(r);
    if (tx_lost(w)) {
        result = EXECUTE_LOST;
        goto out;
    }
    if (r->code == 0 && result == EXECUTE_DONE)
        check_deferred(r);
    if (wrap) {
        if (r->code != 0 || result != EXECUTE_DONE)
            execute_control(w, CONTROL_ROLLBACK_TO);
        execute_control(w, CONTROL_RELEASE);
    } else if (!w->in_tx && !sqlite3_get_autocommit(w->db)) {
        /* Cannot happen (the authorizer refuses transaction control), but a
         * transaction left open would swallow every later job. */
        execute_rollback(w);
        if (r->code == 0)
            fail(r, SQLITED_INTERNAL, "the SQL left a transaction open");
    }
    /* What cannot run inside a transaction says SQLITE_LOCKED there: in a
     * group, a single statement tries again alone. (A script would then run
     * unprotected by a savepoint.) PRAGMA wal_checkpoint, the known case,
     * never gets here: it is the checkpoint method's (checkpoint.c). */
    if (r->alone ||
        (w->grouped && (r->code & 0xff) == SQLITE_LOCKED && !r->script &&
         (r->job->method == RPC_EXEC || r->job->method == RPC_QUERY)))
        result = EXECUTE_ALONE;
out:
    w->auth.in_tx = w->auth.savepoints = false;
    return result;
}

/* Locks held by another process are waited out by the busy handler;
 * SQLITE_BUSY still comes back when SQLite cannot wait (a snapshot that went
 * stale), and then the whole job is tried again, as long as nothing of it
 * stayed applied. */
static bool worth_retrying(const struct run *r)
{
    return r->code > 0 && (r->code & 0xff) == SQLITE_BUSY &&
           r->code != SQLITE_BUSY_SNAPSHOT && (r->w->in_tx || !r->w->writer);
}

static void count_timeout(struct worker *w, int code)
{
    if (code == SQLITED_TIMEOUT)
        stats_add(&w->stats->timeouts, 1);
}

/* Gives the rows left in r->cursor_st to a new cursor, with the reader's
 * connection (and nothing else of it: its cached statements are dropped).
 * On failure the reserved cursor is given back. */
static void open_cursor(struct run *r)
{
    struct worker *w = r->w;
    struct cursor *cur = NULL;

    if (r->code == 0 && !atomic_load(&r->job->cancelled))
        cur = calloc(1, sizeof(*cur));
    if (cur == NULL) {
        if (r->code == 0 && !atomic_load(&r->job->cancelled))
            fail(r, SQLITE_NOMEM, "out of memory opening a cursor");
        sqlite3_finalize(r->cursor_st);
        stats_sub(&w->stats->cursors_open, 1);
        return;
    }
    stmt_cache_clear(&w->cache);
    execute_init(&cur->w, w->db, false, w->cfg, w->stop, w->stats);
    cur->st = r->cursor_st;
    /* Its text and blob parameters are bound in place: keep their bytes. */
    cur->msg = r->job->msg;
    r->job->msg = NULL;
    cur->id = r->cursor_id;
    cur->rows = r->rows;
    cur->bytes = r->bytes;
    cur->max_rows = r->max_rows;
    cur->max_bytes = r->max_bytes;
    w->db = NULL;
    r->job->cursor = cur;
    stats_add(&w->stats->cursors_opened, 1);
}

/* Ends a cursor: its statement and its connection go. */
static void close_cursor(struct cursor *cur, struct job *job)
{
    sqlite3_finalize(cur->st);
    cur->st = NULL;
    free(cur->msg);
    cur->msg = NULL;
    execute_close(&cur->w);
    stats_sub(&cur->w.stats->cursors_open, 1);
    job->cursor_ended = true;
}

/* Stores the job's reply: the encoding in @out, or r->code's error. */
static void store_reply(struct run *r, struct codec_buf *out)
{
    if (r->code == 0 && out->error)
        fail_out(r, out);
    if (r->code != 0) {
        job_fail_step(r->job, r->code, r->message, r->step);
        count_timeout(r->w, r->code);
    } else {
        free(r->job->reply);
        r->job->reply = codec_buf_steal(out, &r->job->reply_len);
    }
    job_account_reply(r->job);
}

/* fetch: the cursor's next chunk. close: the end of it. Either runs on the
 * cursor's own connection, whichever reader thread takes the job. */
static void execute_cursor(struct job *job)
{
    struct cursor *cur = job->cursor;
    struct worker *w = &cur->w;
    struct codec_buf out;
    bool more = false;

    if (job->method == RPC_CLOSE || atomic_load(&job->cancelled)) {
        if (job->method == RPC_CLOSE) {
            close_cursor(cur, job);
            if (!job->internal)
                job_reply(job, "\xc0", 1); /* nil */
        }
        return;
    }
    if (clock_passed(job->deadline, clock_now())) {
        execute_fail_timeout(w, job);
        close_cursor(cur, job); /* like any failed fetch */
        return;
    }
    struct run r = {.w = w,
                    .job = job,
                    .out = &out,
                    .step = -1,
                    .rows = cur->rows,
                    .bytes = cur->bytes,
                    .max_rows = cur->max_rows,
                    .max_bytes = cur->max_bytes};
    w->current = job;
    w->deadline = job->deadline;
    w->timed_out = false;
    codec_buf_init(&out, w->max_reply);
    rpc_pack_response_head(&out, job->msgid);
    size_t map = codec_pack_map_later(&out);
    codec_pack_cstr(&out, "rows");
    if (pack_rows(&r, cur->st, SQLITE_ROW, true, &more, &out) == SQLITE_OK &&
        more) {
        codec_pack_cstr(&out, "cursor");
        msgpack_pack_uint64(&out.pk, cur->id);
    }
    codec_patch_map(&out, map, more ? 2 : 1);
    w->current = NULL;
    w->deadline = 0;
    cur->rows = r.rows;
    cur->bytes = r.bytes;
    if (r.code != 0 || !more)
        close_cursor(cur, job);
    store_reply(&r, &out);
    codec_buf_close(&out);
}

enum execute_result execute_job(struct worker *w, struct job *job)
{
    struct codec_buf out;
    struct run r;
    enum execute_result result;

    if (job->method == RPC_FETCH || job->method == RPC_CLOSE) {
        execute_cursor(job);
        return EXECUTE_DONE;
    }
    if (!execute_claim(w, job))
        return EXECUTE_DONE;
    if (job->probe) {
        health_run(w, job);
        return EXECUTE_DONE;
    }
    execute_begin(w, job);
    w->released = false;
    if (w->watch)
        atomic_store_explicit(&w->watch->started, clock_now(),
                              memory_order_relaxed);
    codec_buf_init(&out, w->max_reply);
    for (int i = 0;; i++) {
        r = (struct run){.w = w,
                         .job = job,
                         .out = &out,
                         .step = -1,
                         .max_rows = job->max_rows,
                         .max_bytes = job->max_bytes};
        w->auth.denied[0] = '\0';
        codec_buf_reset(&out);
        rpc_pack_response_head(&out, job->msgid);
        result = attempt(&r);
        if (result != EXECUTE_DONE || !worth_retrying(&r) || !backoff(w, i))
            break;
    }
    if (w->watch)
        atomic_store_explicit(&w->watch->started, 0, memory_order_relaxed);
    w->current = NULL;
    w->deadline = 0;
    if (r.code == 0 && out.error)
        fail_out(&r, &out);
    if (r.cursor_st != NULL)
        open_cursor(&r);

    if (result == EXECUTE_FORWARD || result == EXECUTE_ALONE ||
        atomic_load(&job->cancelled)) {
        codec_buf_close(&out);
        return result;
    }
    if (r.code == 0 && result == EXECUTE_LOST)
        fail(&r, SQLITED_INTERNAL, "SQLite rolled the transaction back");
    store_reply(&r, &out);
    codec_buf_close(&out);
    return result;
}

bool execute_claim(struct worker *w, struct job *job)
{
    if (!job_claim(job))
        return false;
    if (clock_passed(job->deadline, clock_now())) {
        execute_fail_timeout(w, job);
        return false;
    }
    return true;
}

void execute_begin(struct worker *w, struct job *job)
{
    w->current = job;
    w->deadline = job->deadline;
    if (w->deadline_cap != 0 &&
        (w->deadline == 0 || w->deadline_cap < w->deadline))
        w->deadline = w->deadline_cap;
    w->timed_out = false;
}

void execute_fail_timeout(struct worker *w, struct job *job)
{
    job_fail_timeout(job);
    count_timeout(w, SQLITED_TIMEOUT);
}

void execute_fail_busy(struct worker *w, struct job *job)
{
    (void)w;
    job_fail_busy(job);
}
