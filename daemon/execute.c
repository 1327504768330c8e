#include "execute.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sqlited.h"

/* How many virtual-machine steps pass between two looks at the stop flags:
 * small enough to stop a runaway query within microseconds, large enough to
 * cost nothing measurable. */
#define PROGRESS_STEPS 1000

/* The state of one job's execution. */
struct run {
    struct worker *w;
    struct job *job;
    struct codec_buf *out;
    int64_t changes; /* rows changed by the statements themselves */
    int code;        /* the error, when a step failed */
    char message[512];
};

static int progress(void *arg)
{
    struct worker *w = arg;
    if (w->current && atomic_load(&w->current->cancelled))
        return 1;
    return atomic_load(w->stop);
}

/* Pragmas a client may give an argument to. The daemon's connections serve
 * every client, so a pragma that changes a connection (journal_mode away from
 * WAL, CHECK constraints off, a heap limit, ...) would change it for all the
 * others: only these are allowed, which change the database file itself
 * (user_version), last one transaction (defer_foreign_keys), or merely take
 * an argument (table_info). Reading any pragma is allowed. */
static const char *const pragmas_with_argument[] = {
    "application_id",    "auto_vacuum",      "defer_foreign_keys",
    "foreign_key_check", "foreign_key_list", "incremental_vacuum",
    "index_info",        "index_list",       "index_xinfo",
    "integrity_check",   "optimize",         "page_size",
    "quick_check",       "table_info",       "table_list",
    "table_xinfo",       "user_version",     "wal_checkpoint",
};

static bool pragma_allowed(const char *name)
{
    size_t n = sizeof(pragmas_with_argument) / sizeof(*pragmas_with_argument);
    for (size_t i = 0; i < n; i++)
        if (sqlite3_stricmp(name, pragmas_with_argument[i]) == 0)
            return true;
    return false;
}

/* Refuses what would outlive the request on a connection other clients
 * share, or reach beyond the one database the daemon serves, and records
 * why: SQLite itself would only say "not authorized". */
static int authorize(void *arg, int action, const char *a, const char *b,
                     const char *db, const char *trigger)
{
    struct worker *w = arg;
    (void)trigger;

    switch (action) {
    case SQLITE_PRAGMA:
        if (b == NULL || pragma_allowed(a))
            return SQLITE_OK;
        snprintf(w->denied, sizeof(w->denied),
                 "PRAGMA %s cannot be set by a client: it would change the "
                 "connection every client shares (reading it is allowed)",
                 a);
        return SQLITE_DENY;
    case SQLITE_ATTACH:
        /* VACUUM attaches a scratch database, named "", while it runs. */
        if (w->stepping && a != NULL && a[0] == '\0')
            return SQLITE_OK;
        snprintf(w->denied, sizeof(w->denied), "%s",
                 w->stepping ? "VACUUM INTO is not allowed: clients cannot "
                               "write files on the daemon's host"
                             : "ATTACH is not allowed: the daemon serves one "
                               "database");
        return SQLITE_DENY;
    case SQLITE_DETACH:
        snprintf(w->denied, sizeof(w->denied),
                 "DETACH is not allowed: the daemon serves one database");
        return SQLITE_DENY;
    case SQLITE_CREATE_VTABLE:
        if (db == NULL || sqlite3_stricmp(db, "temp") != 0)
            return SQLITE_OK;
        /* fall through */
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
        snprintf(w->denied, sizeof(w->denied),
                 "temporary tables, views, indexes and triggers are not "
                 "allowed: they would outlive the request on a connection "
                 "other clients share");
        return SQLITE_DENY;
    default:
        return SQLITE_OK;
    }
}

void execute_init(struct worker *w, sqlite3 *db, bool writer, size_t max_reply,
                  const atomic_bool *stop)
{
    *w = (struct worker){
        .db = db, .writer = writer, .max_reply = max_reply, .stop = stop};
    sqlite3_progress_handler(db, PROGRESS_STEPS, progress, w);
    sqlite3_set_authorizer(db, authorize, w);
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
    if ((rc & 0xff) == SQLITE_INTERRUPT && atomic_load(r->w->stop))
        return fail(r, SQLITED_INTERRUPTED,
                    "interrupted: the daemon is shutting down and its grace "
                    "period is over");
    int code = sqlite3_extended_errcode(r->w->db);
    if (code == SQLITE_OK)
        code = rc;
    if (code == SQLITE_AUTH && r->w->denied[0])
        return fail(r, code, "%s", r->w->denied);
    return fail(r, code, "%s", sqlite3_errmsg(r->w->db));
}

/* Skips what SQLite's tokenizer skips between statements: white space,
 * semicolons and comments. Returns true when nothing else is left. */
static bool only_filler(const char *p, const char *end)
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
            return false;
        }
    }
    return true;
}

/* ------------------------------------------------------------------ binding
 */

/* Binds one value read from the request. The loop thread has checked types
 * already; anything else here is a defect, refused all the same. Text and
 * blobs are bound in place (SQLITE_STATIC): the request outlives the step. */
static int bind_value(struct run *r, sqlite3_stmt *st, int i)
{
    struct codec_value v;
    if (codec_read(&r->job->params, &v))
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

/* Binds the job's parameters to @st, refusing any mismatch between the values
 * given and the parameters the statement has. */
static int bind_params(struct run *r, sqlite3_stmt *st)
{
    struct job *job = r->job;
    int count = sqlite3_bind_parameter_count(st);
    char label[16];
    int rc;

    if (!job->named) {
        if ((uint32_t)count != job->nparams)
            return fail(r, SQLITE_RANGE,
                        "the statement has %d parameter%s but %u value%s "
                        "given",
                        count, count == 1 ? "" : "s", job->nparams,
                        job->nparams == 1 ? " was" : "s were");
        for (int i = 1; i <= count; i++)
            if ((rc = bind_value(r, st, i)) != SQLITE_OK)
                return r->code ? rc : fail_sqlite(r, rc);
        return SQLITE_OK;
    }

    /* Named: every key must name a parameter, and every parameter must be
     * named exactly once. count <= RPC_MAX_PARAMS (SQLITE_LIMIT_VARIABLE_NUMBER
     * is set to it), so the bitmap fits on the stack. */
    uint8_t seen[(RPC_MAX_PARAMS + 8) / 8] = {0};
    for (uint32_t k = 0; k < job->nparams; k++) {
        const char *key;
        uint32_t len;
        if (codec_read_str(&job->params, &key, &len))
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
        if ((rc = bind_value(r, st, i)) != SQLITE_OK)
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

/* Steps @st to its end. When it has result columns, appends the two map
 * entries "columns" and "rows" to @out. Counts the rows it changed. */
static int step_all(struct run *r, sqlite3_stmt *st, struct codec_buf *out)
{
    sqlite3 *db = r->w->db;
    int ncols = sqlite3_column_count(st);
    size_t rows_at = 0;
    uint32_t nrows = 0;
    int64_t before = sqlite3_total_changes64(db);
    int rc;

    if (ncols > 0) {
        codec_pack_cstr(out, "columns");
        msgpack_pack_array(&out->pk, (size_t)ncols);
        for (int i = 0; i < ncols; i++) {
            const char *name = sqlite3_column_name(st, i);
            if (name == NULL)
                return fail(r, SQLITE_NOMEM, "out of memory");
            codec_pack_cstr(out, name);
        }
        codec_pack_cstr(out, "rows");
        rows_at = codec_pack_array_later(out);
    }
    for (;;) {
        r->w->stepping = true;
        rc = sqlite3_step(st);
        r->w->stepping = false;
        if (rc != SQLITE_ROW)
            break;
        if (ncols == 0)
            continue;
        if (pack_row(r, st, ncols, out) != SQLITE_OK)
            return r->code;
        if (out->error)
            return fail_out(r, out);
        nrows++;
    }
    if (rc != SQLITE_DONE)
        return fail_sqlite(r, rc);
    if (ncols > 0)
        codec_patch_array(out, rows_at, nrows);
    /* sqlite3_changes64() keeps the count of the last INSERT, UPDATE or
     * DELETE, whatever ran since: only trust it when this statement changed
     * something. */
    if (sqlite3_total_changes64(db) != before)
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

/* Prepares the next statement of [*sql, end). Returns SQLITE_OK with *st NULL
 * when only white space and comments are left. */
static int prepare(struct run *r, const char **sql, const char *end,
                   sqlite3_stmt **st)
{
    const char *tail;
    int rc =
        sqlite3_prepare_v3(r->w->db, *sql, (int)(end - *sql), 0, st, &tail);
    if (rc != SQLITE_OK)
        return fail_sqlite(r, rc);
    *sql = tail;
    return SQLITE_OK;
}

/* One statement, the usual case: the reply is encoded straight into r->out. */
static enum execute_result run_one(struct run *r, sqlite3_stmt *st)
{
    if (!r->w->writer && !sqlite3_stmt_readonly(st))
        return EXECUTE_FORWARD;
    if (bind_params(r, st) != SQLITE_OK)
        return EXECUTE_DONE;

    bool counts = r->w->writer;
    int ncols = sqlite3_column_count(st);
    msgpack_pack_map(&r->out->pk, (ncols > 0 ? 2u : 0u) + (counts ? 2u : 0u));
    if (step_all(r, st, r->out) == SQLITE_OK && counts)
        pack_counts(r, r->out);
    return EXECUTE_DONE;
}

/* A script: exec without parameters holding several statements, the first
 * already prepared in @st and the rest in [sql, end). The rows of the last
 * statement with result columns are kept aside until the end, since only
 * then is it known which one that is. */
static void run_script(struct run *r, sqlite3_stmt *st, const char *sql,
                       const char *end)
{
    struct codec_buf rows;
    bool has_rows = false;

    codec_buf_init(&rows, r->w->max_reply);
    for (;;) {
        int rc = bind_params(r, st);
        if (rc == SQLITE_OK && sqlite3_column_count(st) > 0) {
            codec_buf_reset(&rows);
            has_rows = true;
        }
        if (rc == SQLITE_OK)
            rc = step_all(r, st, &rows);
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

/* Prepares the job's first statement and runs it alone or as a script. */
static enum execute_result run(struct run *r)
{
    struct job *job = r->job;
    const char *sql = job->sql, *end = job->sql + job->sql_len;
    sqlite3_stmt *st = NULL;
    enum execute_result result = EXECUTE_DONE;

    if (prepare(r, &sql, end, &st) != SQLITE_OK)
        return EXECUTE_DONE;
    if (st == NULL) {
        fail(r, SQLITED_BAD_REQUEST, "no SQL statement in the text");
        return EXECUTE_DONE;
    }
    if (only_filler(sql, end))
        result = run_one(r, st);
    else if (job->method == RPC_QUERY)
        fail(r, SQLITED_BAD_REQUEST,
             "query takes exactly one statement; send a script with exec");
    else if (job->nparams > 0)
        fail(r, SQLITED_BAD_REQUEST,
             "exec with parameters takes exactly one statement");
    else {
        run_script(r, st, sql, end);
        return EXECUTE_DONE; /* it finalized @st */
    }
    sqlite3_finalize(st);
    return result;
}

/* Ends the open transaction. The progress handler is off meanwhile: a
 * shutdown in progress must not interrupt the rollback itself. Should the
 * rollback still fail, every later job on this connection would run inside
 * the stale transaction, so that is logged loudly. */
static void rollback(struct worker *w)
{
    sqlite3_progress_handler(w->db, 0, NULL, NULL);
    int rc = sqlite3_exec(w->db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_progress_handler(w->db, PROGRESS_STEPS, progress, w);
    if (rc != SQLITE_OK || !sqlite3_get_autocommit(w->db))
        log_error("cannot roll back a transaction left open: %s",
                  sqlite3_errmsg(w->db));
}

enum execute_result execute_job(struct worker *w, struct job *job)
{
    struct codec_buf out;
    struct run r = {.w = w, .job = job, .out = &out};
    enum execute_result result = EXECUTE_DONE;
    struct codec_reader params = job->params;

    if (atomic_load(&job->cancelled))
        return EXECUTE_DONE;
    w->current = job;
    w->denied[0] = '\0';
    codec_buf_init(&out, w->max_reply);
    rpc_pack_response_head(&out, job->msgid);

    result = run(&r);

    w->current = NULL; /* nothing below may be interrupted for this job */
    /* Transaction control belongs to the daemon: SQL must not leave a
     * transaction open on a connection that other clients' requests use. */
    if (!sqlite3_get_autocommit(w->db)) {
        rollback(w);
        if (r.code == 0)
            fail(&r, SQLITED_BAD_REQUEST,
                 w->writer ? "the SQL left a transaction open, so it was "
                             "rolled back; end a script's BEGIN with COMMIT"
                           : "transaction control (BEGIN, COMMIT, ...) is not "
                             "allowed in query");
    }
    job->params = params; /* a forwarded job binds again on the writer */

    if (result == EXECUTE_FORWARD || atomic_load(&job->cancelled)) {
        codec_buf_close(&out);
        return result;
    }
    if (r.code == 0 && out.error)
        fail_out(&r, &out);
    if (r.code != 0) {
        job_fail(job, r.code, r.message);
    } else {
        free(job->reply);
        job->reply = codec_buf_steal(&out, &job->reply_len);
    }
    codec_buf_close(&out);
    return EXECUTE_DONE;
}
