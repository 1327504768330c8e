#include "dispatch.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "checkpoint.h"
#include "clock.h"
#include "conn.h"
#include "cursor.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "route.h"
#include "rpc.h"
#include "snapshot.h"
#include "sqlited.h"
#include "state.h"

/* A request being checked on the loop thread. Checking sends and queues
 * nothing: it ends with either an answer in @answer or a job in @job, which
 * dispatch_message() then acts on. */
struct request {
    struct conn *c;
    struct rpc_message m;
    enum rpc_method method;
    const char *msg;
    size_t len;
    int64_t step;    /* the batch step or bulk set being checked; -1: none */
    int64_t started; /* clock_now() when read, for the metrics */
    char why[256];
    struct codec_buf *answer; /* the encoded answer, when there is one */
    struct job *job;          /* the job to queue, when checks passed */
};

typedef void handler_fn(struct request *req);

__attribute__((format(printf, 3, 4))) static int
reject(struct request *req, int code, const char *fmt, ...)
{
    int n = 0;
    va_list ap;
    if (req->step >= 0)
        n = snprintf(req->why, sizeof(req->why), "step %" PRId64 ": ",
                     req->step);
    va_start(ap, fmt);
    vsnprintf(req->why + n, sizeof(req->why) - (size_t)n, fmt, ap);
    va_end(ap);
    rpc_pack_error_response_at(req->answer, req->m.msgid, code, req->why,
                               req->step);
    metrics_request(&req->c->loop->metrics, req->method, code, req->started);
    return code;
}

/* Answers with a result, @result[0..len), already encoded. */
static void reply(struct request *req, const char *result, size_t len)
{
    rpc_pack_response_head(req->answer, req->m.msgid);
    codec_buf_append(req->answer, result, len);
    metrics_request(&req->c->loop->metrics, req->method, 0, req->started);
}

static int expect_no_params(struct request *req, const char *method)
{
    if (req->m.nparams == 0)
        return 0;
    return reject(req, SQLITED_BAD_REQUEST, "%s takes no params, %u given",
                  method, req->m.nparams);
}

/* Appends to @b the result of `hello` for a client that may do @access
 * (access.h's level names): encoded at each call, since SIGHUP may change
 * the timeouts it tells. */
static void pack_hello(const struct server *s, struct codec_buf *b,
                       const char *access)
{
    msgpack_pack_map(&b->pk, 6);
    codec_pack_cstr(b, "server");
    codec_pack_cstr(b, "sqlited");
    codec_pack_cstr(b, "version");
    codec_pack_cstr(b, SQLITED_VERSION);
    codec_pack_cstr(b, "protocol");
    msgpack_pack_int(&b->pk, SQLITED_PROTOCOL_VERSION);
    codec_pack_cstr(b, "sqlite_version");
    codec_pack_cstr(b, s->sqlite_version);
    codec_pack_cstr(b, "limits");
    msgpack_pack_map(&b->pk, 14);
    codec_pack_cstr(b, "max_message_size");
    msgpack_pack_uint64(&b->pk, s->limits.max_message);
    codec_pack_cstr(b, "max_depth");
    msgpack_pack_uint32(&b->pk, s->limits.max_depth);
    codec_pack_cstr(b, "max_items");
    msgpack_pack_uint32(&b->pk, s->limits.max_items);
    codec_pack_cstr(b, "max_sql_length");
    msgpack_pack_uint32(&b->pk, RPC_MAX_SQL_LENGTH);
    codec_pack_cstr(b, "max_params");
    msgpack_pack_uint32(&b->pk, RPC_MAX_PARAMS);
    codec_pack_cstr(b, "timeout_ms");
    msgpack_pack_uint32(&b->pk, CONFIG_LIVE(s->cfg, timeout_ms));
    codec_pack_cstr(b, "max_timeout_ms");
    msgpack_pack_uint32(&b->pk, CONFIG_LIVE(s->cfg, max_timeout_ms));
    codec_pack_cstr(b, "tx_idle_timeout_ms");
    msgpack_pack_uint32(&b->pk, CONFIG_LIVE(s->cfg, tx_idle_timeout_ms));
    codec_pack_cstr(b, "tx_max_duration_ms");
    msgpack_pack_uint32(&b->pk, CONFIG_LIVE(s->cfg, tx_max_duration_ms));
    codec_pack_cstr(b, "chunk_rows");
    msgpack_pack_uint32(&b->pk, s->cfg->chunk_rows);
    codec_pack_cstr(b, "chunk_bytes");
    msgpack_pack_uint64(&b->pk, s->cfg->chunk_bytes);
    codec_pack_cstr(b, "cursor_idle_timeout_ms");
    msgpack_pack_uint32(&b->pk, CONFIG_LIVE(s->cfg, cursor_idle_timeout_ms));
    codec_pack_cstr(b, "cursor_max_age_ms");
    msgpack_pack_uint32(&b->pk, CONFIG_LIVE(s->cfg, cursor_max_age_ms));
    codec_pack_cstr(b, "max_cursors");
    msgpack_pack_uint32(&b->pk, CONFIG_LIVE(s->cfg, max_cursors));
    codec_pack_cstr(b, "access");
    codec_pack_cstr(b, access);
}

static void handle_hello(struct request *req)
{
    if (expect_no_params(req, "hello") != 0)
        return;
    rpc_pack_response_head(req->answer, req->m.msgid);
    pack_hello(req->c->srv, req->answer, access_level_name(req->c->peer.level));
    metrics_request(&req->c->loop->metrics, req->method, 0, req->started);
}

static void handle_ping(struct request *req)
{
    static const char pong[] = {'\xa4', 'p', 'o', 'n', 'g'};
    if (expect_no_params(req, "ping") == 0)
        reply(req, pong, sizeof(pong));
}

static void handle_stats(struct request *req)
{
    struct stats *st = &req->c->srv->stats;
    struct codec_buf b;

    if (expect_no_params(req, "stats") != 0)
        return;
    codec_buf_init(&b, 0);
#define STATS_COUNT(name) +1
    msgpack_pack_map(&b.pk, 2 + METRICS_STATS_ENTRIES STATS_COUNTERS(
                                    STATS_COUNT) STATS_GAUGES(STATS_COUNT));
#undef STATS_COUNT
    codec_pack_cstr(&b, "connections");
    msgpack_pack_uint32(&b.pk, server_connections(req->c->srv));
    char last_backup[BACKUP_PATH_MAX];
    backup_last_path(&req->c->srv->backup, last_backup, sizeof(last_backup));
    codec_pack_cstr(&b, "last_backup_path");
    codec_pack_cstr(&b, last_backup);
#define STATS_PACK(name)                                                       \
    codec_pack_cstr(&b, #name);                                                \
    msgpack_pack_uint64(&b.pk, stats_get(&st->name));
    STATS_COUNTERS(STATS_PACK)
    STATS_GAUGES(STATS_PACK)
#undef STATS_PACK
    metrics_pack_stats(req->c->srv, &b);
    if (b.error == CODEC_BUF_OK)
        reply(req, b.data, b.len);
    else
        reject(req, SQLITED_INTERNAL, "out of memory");
    codec_buf_close(&b);
}

/* Checks one parameter value: only what SQLite can store is accepted.
 * @name is the map key, or NULL for positional parameter @index. */
static int check_value(struct request *req, struct codec_reader *r,
                       uint32_t index, const char *name, uint32_t name_len)
{
    struct codec_value v;
    char label[96];
    const char *problem = NULL; /* NULL: malformed */

    if (codec_read(r, &v))
        goto bad;
    switch (v.type) {
    case CODEC_NIL:
    case CODEC_BOOL:
    case CODEC_INT:
    case CODEC_FLOAT:
    case CODEC_BIN:
        return 0;
    case CODEC_STR:
        if (codec_utf8_valid(v.v.s.ptr, v.v.s.len))
            return 0;
        problem = "is not valid UTF-8 (send bytes as bin)";
        break;
    case CODEC_UINT:
        problem = "is an integer above 2^63-1, which SQLite cannot store";
        break;
    case CODEC_ARRAY:
        problem = "is an array";
        break;
    case CODEC_MAP:
        problem = "is a map";
        break;
    case CODEC_EXT:
        problem = "is an extension type";
        break;
    }
bad:
    /* The label is built only here: formatting it for every value costs a
     * point read a few percent of its CPU. */
    if (name)
        snprintf(label, sizeof(label), "parameter '%.*s'",
                 (int)(name_len > 64 ? 64 : name_len), name);
    else
        snprintf(label, sizeof(label), "parameter %u", index + 1);
    if (problem == NULL)
        return reject(req, SQLITED_BAD_REQUEST, "%s is malformed", label);
    return reject(req, SQLITED_BAD_REQUEST,
                  "%s %s; a value must be nil, bool, int, float, str or bin",
                  label, problem);
}

/* Checks a parameter list (@what names it) and records it in @out. */
static int check_params(struct request *req, struct codec_reader *r,
                        const char *what, struct sql_req *out)
{
    struct codec_value v;
    if (codec_read(r, &v))
        return reject(req, SQLITED_BAD_REQUEST, "%s is malformed", what);
    if (v.type == CODEC_NIL)
        return 0;
    if (v.type != CODEC_ARRAY && v.type != CODEC_MAP)
        return reject(req, SQLITED_BAD_REQUEST,
                      "%s (the statement's parameters) must be an array, a "
                      "map or nil",
                      what);
    if (v.v.n > RPC_MAX_PARAMS)
        return reject(req, SQLITED_TOO_LARGE,
                      "%u parameter values given; the limit is %d", v.v.n,
                      RPC_MAX_PARAMS);
    out->named = v.type == CODEC_MAP;
    out->nparams = v.v.n;
    out->params = *r;
    for (uint32_t i = 0; i < v.v.n; i++) {
        const char *key = NULL;
        uint32_t key_len = 0;
        if (out->named && codec_read_str(r, &key, &key_len))
            return reject(req, SQLITED_BAD_REQUEST,
                          "parameter names (the keys of %s) must be strings",
                          what);
        if (check_value(req, r, i, key, key_len))
            return -1;
    }
    return 0;
}

/* Checks SQL text (@what names it) and records it in @out. */
static int check_sql(struct request *req, struct codec_reader *r,
                     const char *what, struct sql_req *out)
{
    const char *sql;
    uint32_t len;

    if (codec_read_str(r, &sql, &len))
        return reject(req, SQLITED_BAD_REQUEST, "%s (sql) must be a string",
                      what);
    if (len == 0)
        return reject(req, SQLITED_BAD_REQUEST, "empty SQL");
    if (len > RPC_MAX_SQL_LENGTH)
        return reject(req, SQLITED_TOO_LARGE,
                      "SQL text of %u bytes; the limit is %u bytes", len,
                      RPC_MAX_SQL_LENGTH);
    if (!codec_utf8_valid(sql, len))
        return reject(req, SQLITED_BAD_REQUEST, "SQL text is not valid UTF-8");
    /* SQLite stops reading at a NUL: whatever follows would be skipped in
     * silence. */
    if (memchr(sql, '\0', len) != NULL)
        return reject(req, SQLITED_BAD_REQUEST, "SQL text contains a NUL byte");
    out->sql = sql;
    out->sql_len = len;
    return 0;
}

/* Reads an option whose value must be an integer in [min, max]. */
static int option_int(struct request *req, struct codec_reader *r,
                      const char *name, int64_t min, int64_t max, int64_t *out)
{
    struct codec_value v;
    if (codec_read(r, &v) || v.type != CODEC_INT || v.v.i < min || v.v.i > max)
        return reject(req, SQLITED_BAD_REQUEST,
                      "option %s must be an integer from %" PRId64
                      " to %" PRId64,
                      name, min, max);
    *out = v.v.i;
    return 0;
}

/* Checks the options map (params[@at]) and records them in @job. */
static int check_options(struct request *req, struct codec_reader *r,
                         unsigned at, struct job *job)
{
    struct codec_value v;
    int64_t i;

    if (codec_read(r, &v))
        return reject(req, SQLITED_BAD_REQUEST, "params[%u] is malformed", at);
    if (v.type == CODEC_NIL)
        return 0;
    if (v.type != CODEC_MAP)
        return reject(req, SQLITED_BAD_REQUEST,
                      "params[%u] (options) must be a map or nil", at);
    for (uint32_t k = 0; k < v.v.n; k++) {
        const char *key;
        uint32_t len;
        struct codec_value b;
        if (codec_read_str(r, &key, &len))
            return reject(req, SQLITED_BAD_REQUEST,
                          "option names must be strings");
        if (len == 10 && memcmp(key, "timeout_ms", len) == 0) {
            if (option_int(req, r, "timeout_ms", 0, RPC_MAX_TIMEOUT_MS, &i))
                return -1;
            job->timeout_ms = (uint32_t)i;
        } else if (len == 2 && memcmp(key, "tx", len) == 0) {
            if (option_int(req, r, "tx", 1, INT64_MAX, &i))
                return -1;
            job->tx = (uint64_t)i;
        } else if (len == 8 && memcmp(key, "max_rows", len) == 0 &&
                   req->method == RPC_QUERY) {
            if (option_int(req, r, "max_rows", 1, INT64_MAX, &i))
                return -1;
            job->max_rows = (uint64_t)i;
        } else if (len == 9 && memcmp(key, "max_bytes", len) == 0 &&
                   req->method == RPC_QUERY) {
            if (option_int(req, r, "max_bytes", 1, INT64_MAX, &i))
                return -1;
            job->max_bytes = (uint64_t)i;
        } else if (len == 9 && memcmp(key, "decltypes", len) == 0 &&
                   req->method == RPC_QUERY) {
            if (codec_read(r, &b) || b.type != CODEC_BOOL)
                return reject(req, SQLITED_BAD_REQUEST,
                              "option decltypes must be true or false");
            job->decltypes = b.v.b;
        } else if (len == 6 && memcmp(key, "atomic", len) == 0 &&
                   req->method == RPC_BATCH) {
            if (codec_read(r, &b) || b.type != CODEC_BOOL)
                return reject(req, SQLITED_BAD_REQUEST,
                              "option atomic must be true or false");
            job->atomic = b.v.b;
        } else {
            return reject(
                req, SQLITED_BAD_REQUEST, "unknown option '%.*s' for %s",
                (int)(len > 64 ? 64 : len), key, rpc_method_name(req->method));
        }
    }
    return 0;
}

/* Makes a job for the request, with its own copy of the message (the read
 * buffer is reused), and sets @r on the copy's first param. */
static struct job *job_for(struct request *req, struct codec_reader *r)
{
    struct job *job = conn_job_new(req->c, req->method, req->m.msgid);
    if (job) {
        job->started = req->started;
        job->msg = malloc(req->len);
    }
    if (job == NULL || job->msg == NULL) {
        job_free(job);
        reject(req, SQLITED_INTERNAL, "out of memory");
        return NULL;
    }
    memcpy(job->msg, req->msg, req->len);
    job->msg_len = req->len;
    job->timeout_ms = CONFIG_LIVE(req->c->srv->cfg, timeout_ms);
    job->atomic = true;
    size_t at = (size_t)((const char *)req->m.params.p - req->msg);
    codec_reader_init(r, job->msg + at, req->len - at);
    return job;
}

static int check_snapshot(struct request *req, struct job *job);

/* The request passed its checks: @job is what dispatch_message() queues,
 * unless it names a read-only transaction it may not run in. */
static void submit(struct request *req, struct job *job)
{
    if (job->tx != 0 && check_snapshot(req, job) != 0) {
        job_free(job);
        return;
    }
    if (job->method == RPC_EXPLAIN && job->tx != 0 && job->snapshot == NULL) {
        reject(req, SQLITED_BAD_REQUEST,
               "explain runs on a reader: its option tx may only name a "
               "read-only transaction of this connection, and %" PRIu64
               " is none",
               job->tx);
        job_free(job);
        return;
    }
    req->job = job;
}

/* The probe of a health request answered: its job carries the reply. */
static void on_health_answer(const struct health_report *report, void *arg)
{
    struct job *job = arg;
    struct codec_buf b;

    codec_buf_init(&b, 0);
    health_pack(report, &b);
    if (b.error == CODEC_BUF_OK)
        job_reply(job, b.data, b.len);
    codec_buf_close(&b); /* no reply: the connection closes (conn_send) */
    dispatch_job_done(job);
}

/* A read the loop may answer itself (route.h): runs it on the loop's own
 * connection within the budget and sends the answer. Returns ROUTE_LOOP
 * when it did, or where the job goes instead. */
static enum route run_inline(struct conn *c, struct job *job)
{
    struct inline_reader *ir = &c->loop->inline_reader;

    if (!inline_read_on(ir))
        return route_decide(job, ROUTE_HANDED_OFF);
    /* A large answer must fit in the connection's share and --max-memory,
     * as a reader's does (job_account_reply()); conn_send() then holds
     * what waits to be written, as for any answer. */
    job->mem = &c->mem;
    enum inline_result result = inline_read_run(ir, job);
    memory_sub(&c->mem, job->mem_built);
    job->mem = NULL;
    job->mem_built = 0;
    switch (result) {
    case INLINE_ANSWERED:
        metrics_reply(&c->loop->metrics, job->method, job->reply,
                      job->reply_len, job->started);
        conn_send(c, job);
        return ROUTE_LOOP;
    case INLINE_WRITES:
        return route_decide(job, ROUTE_WRITES);
    default:
        return route_decide(job, ROUTE_HANDED_OFF);
    }
}

/* Sends a checked job to the thread that runs it (route.h decides). */
static void route(struct conn *c, struct job *job)
{
    struct server *s = c->srv;
    enum route to = route_decide(job, ROUTE_NEW);

    if (to == ROUTE_HEALTH) {
        /* It holds the connection's place until the probe answers. */
        conn_track(c, job);
        if (health_probe_start(c->loop, job->full, job->timeout_ms,
                               on_health_answer, job) != 0) {
            job_fail(job, SQLITED_INTERNAL, "out of memory");
            dispatch_job_done(job);
        }
        return;
    }
    if (to == ROUTE_BACKUP) {
        conn_submit(c, job, to);
        return;
    }
    /* No request runs, or waits, without end: 0 and anything longer mean
     * the daemon's cap. */
    uint32_t max_timeout_ms = CONFIG_LIVE(s->cfg, max_timeout_ms);
    if (job->timeout_ms == 0 || job->timeout_ms > max_timeout_ms)
        job->timeout_ms = max_timeout_ms;
    job->deadline = clock_after_ms(job->timeout_ms);
    if (job->method == RPC_FETCH || job->method == RPC_CLOSE) {
        cursor_start(job); /* the cursor's reader, or its end */
        return;
    }
    if (job->snapshot != NULL) {
        snapshot_start(job); /* its read-only transaction's connection */
        return;
    }
    if (job->method == RPC_BEGIN) {
        c->begins++;
        c->read_only_begins += job->read_only_tx;
    }
    if (to == ROUTE_LOOP)
        to = run_inline(c, job);
    if (to == ROUTE_LOOP)
        return; /* answered */
    /* A query to a reader may open a cursor: count it against the
     * connection's share until its answer shows whether it did. */
    if (to == ROUTE_READERS && job->method == RPC_QUERY)
        cursor_reserve(c, job);
    conn_submit(c, job, to);
}

/* Checks the number of params: from @min to @max. */
static int expect_params(struct request *req, unsigned min, unsigned max,
                         const char *shape)
{
    if (req->m.nparams >= min && req->m.nparams <= max)
        return 0;
    return reject(req, SQLITED_BAD_REQUEST, "%s takes %s, %u params given",
                  rpc_method_name(req->method), shape, req->m.nparams);
}

/* query and exec: [sql, params?, options?]. Checks everything that can be
 * checked without the database, then queues the job. */
static void handle_sql(struct request *req)
{
    struct codec_reader r;
    struct job *job;

    if (expect_params(req, 1, 3, "[sql, params?, options?]") ||
        (job = job_for(req, &r)) == NULL)
        return;
    if (check_sql(req, &r, "params[0]", &job->req) ||
        (req->m.nparams >= 2 &&
         check_params(req, &r, "params[1]", &job->req)) ||
        (req->m.nparams >= 3 && check_options(req, &r, 2, job))) {
        job_free(job);
        return;
    }
    /* PRAGMA wal_checkpoint alone is the checkpoint method in SQLite's
     * shape: it runs on the writer between groups, like the method. */
    if (job->tx == 0 && job->req.nparams == 0) {
        int mode = checkpoint_parse_pragma(job->req.sql, job->req.sql_len);
        if (mode >= 0) {
            job->checkpoint = mode + 1;
            job->alone = true;
        }
    }
    submit(req, job);
}

/* checkpoint: [mode?] */
static void handle_checkpoint(struct request *req)
{
    struct codec_reader r;
    struct job *job;
    struct codec_value mode = {.type = CODEC_NIL};
    int m = SQLITE_CHECKPOINT_PASSIVE;

    if (expect_params(req, 0, 1, "[mode?]") || (job = job_for(req, &r)) == NULL)
        return;
    if (req->m.nparams == 1 && codec_read(&r, &mode) != 0)
        mode.type = CODEC_EXT; /* malformed: refused below */
    if (mode.type == CODEC_STR)
        m = checkpoint_parse_mode(mode.v.s.ptr, mode.v.s.len);
    if ((mode.type != CODEC_NIL && mode.type != CODEC_STR) || m < 0) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (mode) must be \"PASSIVE\", \"FULL\", "
               "\"RESTART\" or \"TRUNCATE\"");
        job_free(job);
        return;
    }
    job->checkpoint = m + 1;
    job->alone = true;
    submit(req, job);
}

/* batch: [[[sql, params?], ...], options?] */
static void handle_batch(struct request *req)
{
    struct codec_reader r;
    struct job *job;

    if (expect_params(req, 1, 2, "[steps, options?]") ||
        (job = job_for(req, &r)) == NULL)
        return;
    if (codec_read_array(&r, &job->nitems) || job->nitems == 0) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (steps) must be a non-empty array of [sql, "
               "params?]");
        job_free(job);
        return;
    }
    job->items = r;
    for (uint32_t i = 0; i < job->nitems; i++) {
        struct sql_req step = {0};
        uint32_t n;
        req->step = i;
        if (codec_read_array(&r, &n) || n < 1 || n > 2) {
            reject(req, SQLITED_BAD_REQUEST,
                   "a step must be an array [sql, params?]");
            job_free(job);
            return;
        }
        if (check_sql(req, &r, "step[0]", &step) ||
            (n == 2 && check_params(req, &r, "step[1]", &step))) {
            job_free(job);
            return;
        }
    }
    req->step = -1;
    if (req->m.nparams >= 2 && check_options(req, &r, 1, job)) {
        job_free(job);
        return;
    }
    submit(req, job);
}

/* bulk: [sql, [params, ...], options?] */
static void handle_bulk(struct request *req)
{
    struct codec_reader r;
    struct job *job;

    if (expect_params(req, 2, 3, "[sql, sets, options?]") ||
        (job = job_for(req, &r)) == NULL)
        return;
    if (check_sql(req, &r, "params[0]", &job->req))
        goto fail;
    if (codec_read_array(&r, &job->nitems) || job->nitems == 0) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[1] (sets) must be a non-empty array of parameter "
               "lists");
        goto fail;
    }
    job->items = r;
    for (uint32_t i = 0; i < job->nitems; i++) {
        struct sql_req set = {0};
        req->step = i;
        if (check_params(req, &r, "the set", &set))
            goto fail;
    }
    req->step = -1;
    if (req->m.nparams >= 3 && check_options(req, &r, 2, job))
        goto fail;
    submit(req, job);
    return;
fail:
    job_free(job);
}

static bool str_is(const struct codec_value *v, const char *word)
{
    return v->type == CODEC_STR && v->v.s.len == strlen(word) &&
           strncasecmp(v->v.s.ptr, word, v->v.s.len) == 0;
}

/* begin's options map, params[@at]: {"read_only": bool, "foreign_keys":
 * "at_commit"}. */
static int check_begin_options(struct request *req, struct codec_reader *r,
                               unsigned at, struct job *job)
{
    struct codec_value v, b;

    if (codec_read(r, &v) || (v.type != CODEC_MAP && v.type != CODEC_NIL))
        return reject(req, SQLITED_BAD_REQUEST,
                      "params[%u] (options) must be a map or nil", at);
    for (uint32_t k = 0; v.type == CODEC_MAP && k < v.v.n; k++) {
        const char *key;
        uint32_t len;
        if (codec_read_str(r, &key, &len))
            return reject(req, SQLITED_BAD_REQUEST,
                          "option names must be strings");
        if (len == 9 && memcmp(key, "read_only", len) == 0) {
            if (codec_read(r, &b) || b.type != CODEC_BOOL)
                return reject(req, SQLITED_BAD_REQUEST,
                              "option read_only must be true or false");
            job->read_only_tx = b.v.b;
        } else if (len == 12 && memcmp(key, "foreign_keys", len) == 0) {
            if (codec_read(r, &b) || !str_is(&b, "at_commit"))
                return reject(req, SQLITED_BAD_REQUEST,
                              "option foreign_keys must be \"at_commit\" "
                              "(checked at COMMIT only)");
            job->fks_at_commit = true;
        } else {
            return reject(req, SQLITED_BAD_REQUEST,
                          "unknown option '%.*s' for begin",
                          (int)(len > 64 ? 64 : len), key);
        }
    }
    return 0;
}

/* begin: [mode?, options?], or [options]: mode "deferred" or "immediate",
 * options {"read_only": true} for a read-only transaction (snapshot.h),
 * {"foreign_keys": "at_commit"} for a writer's transaction whose foreign
 * keys are checked at its COMMIT only (writer.c). */
static void handle_begin(struct request *req)
{
    struct codec_reader r, at;
    struct job *job;
    struct codec_value mode = {.type = CODEC_NIL};
    char why[256];
    int code;

    if (expect_params(req, 0, 2, "[mode?, options?]") ||
        (job = job_for(req, &r)) == NULL)
        return;
    at = r;
    if (req->m.nparams >= 1 && codec_read(&r, &mode) != 0)
        mode.type = CODEC_EXT; /* malformed: refused below */
    if (mode.type == CODEC_MAP && req->m.nparams == 1) {
        /* [options]: the mode is left out. */
        if (check_begin_options(req, &at, 0, job))
            goto fail;
        mode.type = CODEC_NIL;
    } else if (mode.type != CODEC_NIL && !str_is(&mode, "deferred") &&
               !str_is(&mode, "immediate")) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (mode) must be \"deferred\", \"immediate\" or nil, "
               "or the options map ({\"read_only\": true})");
        goto fail;
    } else if (req->m.nparams == 2 && check_begin_options(req, &r, 1, job)) {
        goto fail;
    }
    job->immediate = str_is(&mode, "immediate");
    if (job->immediate && job->read_only_tx) {
        reject(req, SQLITED_BAD_REQUEST,
               "a read-only transaction takes no write lock: mode "
               "\"immediate\" and read_only do not go together");
        goto fail;
    }
    if (job->fks_at_commit && job->read_only_tx) {
        reject(req, SQLITED_BAD_REQUEST,
               "a read-only transaction writes nothing: read_only and "
               "foreign_keys \"at_commit\" do not go together");
        goto fail;
    }
    if ((code = snapshot_check_begin(req->c, job->read_only_tx, why,
                                     sizeof(why))) != 0) {
        reject(req, code, "%s", why);
        goto fail;
    }
    submit(req, job);
    return;
fail:
    job_free(job);
}

/* A request naming a transaction (the option tx, or commit's and
 * rollback's param): when it is the connection's read-only one, or one
 * that ended, snapshot_take() decides; the writer decides the rest. */
static int check_snapshot(struct request *req, struct job *job)
{
    char why[320];
    int code = snapshot_take(req->c, job, why, sizeof(why));
    return code == 0 ? 0 : reject(req, code, "%s", why);
}

/* commit and rollback: [tx] */
static void handle_end(struct request *req)
{
    struct codec_reader r;
    struct job *job;
    int64_t tx;

    if (expect_params(req, 1, 1, "[tx]") || (job = job_for(req, &r)) == NULL)
        return;
    if (codec_read_int64(&r, &tx) || tx < 1) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (tx) must be the positive id begin returned");
        job_free(job);
        return;
    }
    job->tx = (uint64_t)tx;
    submit(req, job);
}

/* explain: [sql, params?, options?] */
static void handle_explain(struct request *req)
{
    struct codec_reader r;
    struct job *job;

    if (expect_params(req, 1, 3, "[sql, params?, options?]") ||
        (job = job_for(req, &r)) == NULL)
        return;
    if (check_sql(req, &r, "params[0]", &job->req) ||
        (req->m.nparams >= 2 &&
         check_params(req, &r, "params[1]", &job->req)) ||
        (req->m.nparams >= 3 && check_options(req, &r, 2, job))) {
        job_free(job);
        return;
    }
    submit(req, job);
}

/* fetch and close: [cursor] */
static void handle_cursor(struct request *req)
{
    struct codec_reader r;
    struct job *job;
    int64_t id;
    char why[256];
    int code;

    if (expect_params(req, 1, 1, "[cursor]") ||
        (job = job_for(req, &r)) == NULL)
        return;
    if (codec_read_int64(&r, &id) || id < 1) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (cursor) must be the positive id a query returned");
    } else if ((code = cursor_take(req->c, job, (uint64_t)id, why,
                                   sizeof(why))) != 0) {
        reject(req, code, "%s", why);
    } else {
        submit(req, job);
        return;
    }
    job_free(job);
}

/* cancel: [msgid] -- stops this connection's request @msgid, if it is
 * still unanswered (conn_cancel()). Answered here, at once, with
 * {"cancelled": bool}; the request gets its own answer. */
static void handle_cancel(struct request *req)
{
    static const char yes[] = "\x81\xa9"
                              "cancelled\xc3",
                      no[] = "\x81\xa9"
                             "cancelled\xc2";
    struct codec_reader r = req->m.params;
    uint32_t msgid;

    if (expect_params(req, 1, 1, "[msgid]"))
        return;
    if (codec_read_uint32(&r, &msgid)) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (msgid) must be the msgid of a request sent on "
               "this connection, 0 to 4294967295");
        return;
    }
    if (conn_cancel(req->c, msgid))
        reply(req, yes, sizeof(yes) - 1);
    else
        reply(req, no, sizeof(no) - 1);
}

/* metrics: [] -- the Prometheus text (metrics.h), as a str. */
static void handle_metrics(struct request *req)
{
    struct codec_buf text, b;

    if (expect_no_params(req, "metrics") != 0)
        return;
    codec_buf_init(&text, 0);
    codec_buf_init(&b, 0);
    metrics_render(req->c->srv, &text);
    codec_pack_str(&b, text.data ? text.data : "", text.len);
    if (text.error == CODEC_BUF_OK && b.error == CODEC_BUF_OK)
        reply(req, b.data, b.len);
    else
        reject(req, SQLITED_INTERNAL, "out of memory");
    codec_buf_close(&b);
    codec_buf_close(&text);
}

/* health: [options?], options {"check": "quick", "timeout_ms": N}. The job
 * never goes to a worker: route() starts the probe (health.h), whose answer
 * completes it. */
static void handle_health(struct request *req)
{
    struct codec_reader r = req->m.params;
    struct codec_value v;
    bool quick = false;
    int64_t timeout = HEALTH_TIMEOUT_MS;

    if (expect_params(req, 0, 1, "[options?]"))
        return;
    if (req->m.nparams == 1) {
        if (codec_read(&r, &v) || (v.type != CODEC_MAP && v.type != CODEC_NIL))
            return (void)reject(req, SQLITED_BAD_REQUEST,
                                "params[0] (options) must be a map or nil");
        for (uint32_t k = 0; v.type == CODEC_MAP && k < v.v.n; k++) {
            const char *key;
            uint32_t len;
            struct codec_value c;
            if (codec_read_str(&r, &key, &len))
                return (void)reject(req, SQLITED_BAD_REQUEST,
                                    "option names must be strings");
            if (len == 5 && memcmp(key, "check", 5) == 0) {
                if (codec_read(&r, &c) ||
                    (!str_is(&c, "quick") && !str_is(&c, "basic")))
                    return (void)reject(req, SQLITED_BAD_REQUEST,
                                        "option check must be \"basic\" or "
                                        "\"quick\"");
                quick = str_is(&c, "quick");
            } else if (len == 10 && memcmp(key, "timeout_ms", 10) == 0) {
                if (option_int(req, &r, "timeout_ms", 1, HEALTH_MAX_TIMEOUT_MS,
                               &timeout))
                    return;
            } else {
                return (void)reject(req, SQLITED_BAD_REQUEST,
                                    "unknown option '%.*s' for health",
                                    (int)(len > 64 ? 64 : len), key);
            }
        }
    }
    struct job *job = conn_job_new(req->c, RPC_HEALTH, req->m.msgid);
    if (job == NULL) {
        reject(req, SQLITED_INTERNAL, "out of memory");
        return;
    }
    job->started = req->started;
    job->full = quick;
    job->timeout_ms = (uint32_t)timeout;
    submit(req, job);
}

/* backup: [dest?]. The path is checked against the backup directory on the
 * backup thread, which walks the file system; here only its form. */
static void handle_backup(struct request *req)
{
    struct codec_reader r;
    struct job *job;
    struct codec_value dest = {.type = CODEC_NIL};

    if (expect_params(req, 0, 1, "[dest?]"))
        return;
    if (req->c->srv->cfg->backup_dir == NULL) {
        reject(req, SQLITED_BAD_REQUEST,
               "backups are off: start the daemon with --backup-dir DIR "
               "(the directory backups are confined to)");
        return;
    }
    if ((job = job_for(req, &r)) == NULL)
        return;
    if (req->m.nparams == 1 && codec_read(&r, &dest) != 0)
        dest.type = CODEC_EXT; /* malformed: refused below */
    if (dest.type != CODEC_NIL &&
        (dest.type != CODEC_STR || dest.v.s.len == 0 ||
         dest.v.s.len >= PATH_MAX ||
         !codec_utf8_valid(dest.v.s.ptr, dest.v.s.len) ||
         memchr(dest.v.s.ptr, '\0', dest.v.s.len) != NULL)) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (dest) must be nil or a non-empty path without NUL "
               "bytes, shorter than %d bytes",
               PATH_MAX);
        job_free(job);
        return;
    }
    /* The destination is the job's "SQL": a string inside its message. */
    if (dest.type == CODEC_STR) {
        job->req.sql = dest.v.s.ptr;
        job->req.sql_len = dest.v.s.len;
    }
    job->timeout_ms = 0; /* a backup takes as long as the copy takes */
    submit(req, job);
}

/* optimize, vacuum, integrity: [options?]. optimize takes "analyze" (true:
 * a full ANALYZE), integrity "check" ("quick" or "full"); all take
 * "timeout_ms". optimize and vacuum run alone on the writer, integrity on a
 * reader. */
static void handle_maintenance(struct request *req)
{
    struct codec_reader r;
    struct codec_value v;
    struct job *job;
    const char *name = rpc_method_name(req->method);

    if (expect_params(req, 0, 1, "[options?]") ||
        (job = job_for(req, &r)) == NULL)
        return;
    job->full = req->method == RPC_INTEGRITY; /* integrity_check by default */
    if (req->m.nparams == 1 && codec_read(&r, &v) != 0)
        goto malformed;
    if (req->m.nparams == 0 || v.type == CODEC_NIL)
        goto ok;
    if (v.type != CODEC_MAP)
        goto malformed;
    for (uint32_t k = 0; k < v.v.n; k++) {
        const char *key;
        uint32_t len;
        struct codec_value o;
        int64_t ms;
        if (codec_read_str(&r, &key, &len))
            goto malformed;
        if (len == 10 && memcmp(key, "timeout_ms", len) == 0) {
            if (option_int(req, &r, "timeout_ms", 0, RPC_MAX_TIMEOUT_MS, &ms))
                goto fail;
            job->timeout_ms = (uint32_t)ms;
        } else if (len == 7 && memcmp(key, "analyze", len) == 0 &&
                   req->method == RPC_OPTIMIZE) {
            if (codec_read(&r, &o) || o.type != CODEC_BOOL) {
                reject(req, SQLITED_BAD_REQUEST,
                       "option analyze must be true or false");
                goto fail;
            }
            job->full = o.v.b;
        } else if (len == 5 && memcmp(key, "check", len) == 0 &&
                   req->method == RPC_INTEGRITY) {
            if (codec_read(&r, &o) ||
                (!str_is(&o, "quick") && !str_is(&o, "full"))) {
                reject(req, SQLITED_BAD_REQUEST,
                       "option check must be \"quick\" or \"full\"");
                goto fail;
            }
            job->full = str_is(&o, "full");
        } else {
            reject(req, SQLITED_BAD_REQUEST, "unknown option '%.*s' for %s",
                   (int)(len > 64 ? 64 : len), key, name);
            goto fail;
        }
    }
ok:
    job->alone = req->method != RPC_INTEGRITY;
    submit(req, job);
    return;
malformed:
    reject(req, SQLITED_BAD_REQUEST,
           "params[0] (options) of %s must be a map "
           "or nil",
           name);
fail:
    job_free(job);
}

/* migrate: [action, version?], action "up", "down" or "status". A writer
 * job that runs alone, so that migrations never interleave. */
static void handle_migrate(struct request *req)
{
    struct codec_reader r;
    struct codec_value action, version = {.type = CODEC_NIL};
    struct job *job;

    if (expect_params(req, 1, 2, "[action, version?]"))
        return;
    if (req->c->srv->cfg->migrations == NULL) {
        reject(req, SQLITED_BAD_REQUEST,
               "migrations are off: start the daemon with --migrations DIR "
               "(the directory of the migration files)");
        return;
    }
    if ((job = job_for(req, &r)) == NULL)
        return;
    if (codec_read(&r, &action) != 0 ||
        (!str_is(&action, "up") && !str_is(&action, "down") &&
         !str_is(&action, "status"))) {
        reject(req, SQLITED_BAD_REQUEST,
               "params[0] (action) must be \"up\", \"down\" or "
               "\"status\"");
        goto fail;
    }
    if (req->m.nparams == 2 && codec_read(&r, &version) != 0)
        version.type = CODEC_EXT; /* malformed: refused below */
    if (version.type != CODEC_NIL &&
        (version.type != CODEC_INT || version.v.i < 0 ||
         str_is(&action, "status"))) {
        reject(req, SQLITED_BAD_REQUEST,
               str_is(&action, "status")
                   ? "migrate status takes no version"
                   : "params[1] (version) must be nil or an integer >= 0");
        goto fail;
    }
    /* The action is the job's "SQL": a string inside its message. */
    job->req.sql = action.v.s.ptr;
    job->req.sql_len = action.v.s.len;
    job->version = version.type == CODEC_INT ? version.v.i : -1;
    job->timeout_ms = 0; /* a migration takes as long as it takes */
    job->alone = true;
    submit(req, job);
    return;
fail:
    job_free(job);
}

static handler_fn *const handlers[RPC_METHOD_COUNT] = {
    [RPC_MIGRATE] = handle_migrate,
    [RPC_HEALTH] = handle_health,
    [RPC_METRICS] = handle_metrics,
    [RPC_OPTIMIZE] = handle_maintenance,
    [RPC_VACUUM] = handle_maintenance,
    [RPC_INTEGRITY] = handle_maintenance,
    [RPC_BACKUP] = handle_backup,
    [RPC_EXPLAIN] = handle_explain,
    [RPC_FETCH] = handle_cursor,
    [RPC_CLOSE] = handle_cursor,
    [RPC_HELLO] = handle_hello,
    [RPC_PING] = handle_ping,
    [RPC_STATS] = handle_stats,
    [RPC_QUERY] = handle_sql,
    [RPC_EXEC] = handle_sql,
    [RPC_BATCH] = handle_batch,
    [RPC_BULK] = handle_bulk,
    [RPC_BEGIN] = handle_begin,
    [RPC_COMMIT] = handle_end,
    [RPC_ROLLBACK] = handle_end,
    [RPC_CHECKPOINT] = handle_checkpoint,
    [RPC_CANCEL] = handle_cancel,
};

/* While the start-up migrations run, the schema is changing under every
 * read and write: only what tells an operator how the daemon is doing is
 * answered. */
static bool answers_while_migrating(enum rpc_method method)
{
    return method == RPC_HELLO || method == RPC_PING || method == RPC_HEALTH ||
           method == RPC_STATS || method == RPC_METRICS;
}

struct job *dispatch_check(struct conn *c, const char *msg, size_t len,
                           struct codec_buf *answer)
{
    struct request req = {.c = c,
                          .msg = msg,
                          .len = len,
                          .step = -1,
                          .method = RPC_METHOD_COUNT,
                          .started = clock_now(),
                          .answer = answer};
    bool has_msgid = false;
    const char *why = NULL;

    int rc = rpc_parse_framed(msg, len, &req.m, &has_msgid, &why);
    if (rc != 0) {
        if (has_msgid && req.m.kind == RPC_REQUEST) {
            rpc_pack_error_response(answer, req.m.msgid, rc, why);
            metrics_request(&c->loop->metrics, req.method, rc, req.started);
        } else {
            rpc_pack_error_notification(answer, rc, why);
        }
        return NULL;
    }
    if (req.m.kind != RPC_REQUEST) {
        rpc_pack_error_notification(
            answer, SQLITED_BAD_REQUEST,
            req.m.kind == RPC_RESPONSE
                ? "the daemon sent no request to respond to"
                : "the daemon takes no notifications; send requests");
        return NULL;
    }
    req.method = rpc_method_lookup(req.m.method, req.m.method_len);
    if (req.method == RPC_METHOD_COUNT || handlers[req.method] == NULL) {
        bool printable = req.m.method_len <= 64 &&
                         codec_utf8_valid(req.m.method, req.m.method_len);
        reject(&req, SQLITED_UNKNOWN_METHOD, "no method named '%.*s'",
               printable ? (int)req.m.method_len : 3,
               printable ? req.m.method : "...");
        return NULL;
    }
    if (atomic_load(&c->srv->shutting_down)) {
        reject(&req, SQLITED_SHUTTING_DOWN,
               "the daemon is shutting down and takes no new requests");
        return NULL;
    }
    char denial[256];
    /* A client that may only read may still take a read snapshot: begin,
     * commit and rollback are judged once it is known whether they are a
     * read-only transaction's. */
    bool snapshot_method = req.method == RPC_BEGIN ||
                           req.method == RPC_COMMIT ||
                           req.method == RPC_ROLLBACK;
    int denied = 0;
    if (!snapshot_method || c->peer.level >= ACCESS_WRITE)
        denied =
            access_check_method(&c->peer, req.method, denial, sizeof(denial));
    if (denied != 0) {
        reject(&req, denied, "%s", denial);
        return NULL;
    }
    char progress[NAME_MAX + 64];
    if (!answers_while_migrating(req.method) &&
        migrate_progress(&c->srv->writer.migration, progress,
                         sizeof(progress)) != NULL) {
        reject(&req, SQLITED_NOT_READY,
               "not ready: the start-up migrations are running (%s); until "
               "they are applied only hello, ping, health, stats and "
               "metrics are answered",
               progress);
        return NULL;
    }
    handlers[req.method](&req);
    if (req.job && snapshot_method && !req.job->read_only_tx &&
        req.job->snapshot == NULL &&
        (denied = access_check_method(&c->peer, req.method, denial,
                                      sizeof(denial))) != 0) {
        job_free(req.job);
        req.job = NULL;
        codec_buf_reset(answer);
        reject(&req, denied, "%s", denial);
        return NULL;
    }
    if (req.job && c->peer.level < ACCESS_WRITE) {
        req.job->read_only = c->peer.rule;
        req.job->peer = c->peer;
    }
    return req.job;
}

void dispatch_message(struct conn *c, const char *msg, size_t len)
{
    struct codec_buf answer;
    codec_buf_init(&answer, 0);
    struct job *job = dispatch_check(c, msg, len, &answer);
    if (job)
        route(c, job);
    else if (answer.len > 0 || answer.error != CODEC_BUF_OK)
        conn_send_encoded(c, &answer);
    codec_buf_close(&answer);
}

/* The client has gone: roll its transaction back now, rather than let it
 * hold up every writer until its idle timeout. The job, the daemon's own,
 * goes where route_decide() sends a rollback, and keeps the connection
 * alive until it is back. */
static void end_tx(struct conn *c)
{
    if (c->tx == 0)
        return;
    struct job *job = conn_job_new(c, RPC_ROLLBACK, 0);
    if (job == NULL) {
        log_error("out of memory: transaction %" PRIu64
                  " ends at its idle timeout",
                  c->tx);
        return;
    }
    job->tx = c->tx;
    job->internal = true;
    c->tx = 0;
    conn_submit(c, job, route_decide(job, ROUTE_NEW));
}

void dispatch_conn_closing(struct conn *c)
{
    end_tx(c);
    cursor_close_all(c);
}

void dispatch_job_done(struct job *job)
{
    struct conn *c = job->conn;

    if (job->method == RPC_BEGIN) {
        c->begins--;
        c->read_only_begins -= job->read_only_tx;
    }
    if (job->opened_tx)
        c->tx = job->tx;
    if (job->ended_tx && job->tx == c->tx)
        c->tx = 0;
    cursor_job_done(c, job);
    if (c->closing)
        end_tx(c); /* a begin answered after the client left */
    conn_complete(job);
}
