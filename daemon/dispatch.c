#include "dispatch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "rpc.h"
#include "server.h"
#include "sqlited.h"

/* A request being checked on the loop thread. */
struct request {
    struct conn *c;
    struct rpc_message m;
    enum rpc_method method;
    const char *msg;
    size_t len;
    char why[256];
};

typedef void handler_fn(struct request *req);

__attribute__((format(printf, 3, 4))) static int
reject(struct request *req, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req->why, sizeof(req->why), fmt, ap);
    va_end(ap);
    conn_send_error(req->c, req->m.msgid, code, req->why);
    return code;
}

/* Sends a reply whose result is @result[0..len), already encoded. */
static void reply(struct request *req, const char *result, size_t len)
{
    struct codec_buf b;
    codec_buf_init(&b, 0);
    rpc_pack_response_head(&b, req->m.msgid);
    codec_buf_append(&b, result, len);
    conn_send_encoded(req->c, &b);
    codec_buf_close(&b);
}

static int expect_no_params(struct request *req, const char *method)
{
    if (req->m.nparams == 0)
        return 0;
    return reject(req, SQLITED_BAD_REQUEST, "%s takes no params, %u given",
                  method, req->m.nparams);
}

static void handle_hello(struct request *req)
{
    if (expect_no_params(req, "hello") == 0)
        reply(req, req->c->srv->hello, req->c->srv->hello_len);
}

static void handle_ping(struct request *req)
{
    static const char pong[] = {'\xa4', 'p', 'o', 'n', 'g'};
    if (expect_no_params(req, "ping") == 0)
        reply(req, pong, sizeof(pong));
}

/* Checks one parameter value: only what SQLite can store is accepted.
 * @name is the map key, or NULL for positional parameter @index. */
static int check_value(struct request *req, struct codec_reader *r,
                       uint32_t index, const char *name, uint32_t name_len)
{
    struct codec_value v;
    char label[96];
    const char *problem = NULL;

    if (name)
        snprintf(label, sizeof(label), "parameter '%.*s'",
                 (int)(name_len > 64 ? 64 : name_len), name);
    else
        snprintf(label, sizeof(label), "parameter %u", index + 1);
    if (codec_read(r, &v))
        return reject(req, SQLITED_BAD_REQUEST, "%s is malformed", label);
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
    return reject(req, SQLITED_BAD_REQUEST,
                  "%s %s; a value must be nil, bool, int, float, str or bin",
                  label, problem);
}

/* Checks the params value (params[1]) and records it in @job. */
static int check_params(struct request *req, struct codec_reader *r,
                        struct job *job)
{
    struct codec_value v;
    if (codec_read(r, &v))
        return reject(req, SQLITED_BAD_REQUEST, "params[1] is malformed");
    if (v.type == CODEC_NIL)
        return 0;
    if (v.type != CODEC_ARRAY && v.type != CODEC_MAP)
        return reject(req, SQLITED_BAD_REQUEST,
                      "params[1] (the statement's parameters) must be an "
                      "array, a map or nil");
    if (v.v.n > RPC_MAX_PARAMS)
        return reject(req, SQLITED_TOO_LARGE,
                      "%u parameter values given; the limit is %d", v.v.n,
                      RPC_MAX_PARAMS);
    job->named = v.type == CODEC_MAP;
    job->nparams = v.v.n;
    job->params = *r; /* rebased onto the job's copy later */
    for (uint32_t i = 0; i < v.v.n; i++) {
        const char *key = NULL;
        uint32_t key_len = 0;
        if (job->named && codec_read_str(r, &key, &key_len))
            return reject(req, SQLITED_BAD_REQUEST,
                          "parameter names (the keys of params[1]) must be "
                          "strings");
        if (check_value(req, r, i, key, key_len))
            return -1;
    }
    return 0;
}

static int check_options(struct request *req, struct codec_reader *r)
{
    struct codec_value v;
    const char *key;
    uint32_t len;

    if (codec_read(r, &v))
        return reject(req, SQLITED_BAD_REQUEST, "params[2] is malformed");
    if (v.type == CODEC_NIL || (v.type == CODEC_MAP && v.v.n == 0))
        return 0;
    if (v.type != CODEC_MAP)
        return reject(req, SQLITED_BAD_REQUEST,
                      "params[2] (options) must be a map or nil");
    if (codec_read_str(r, &key, &len))
        return reject(req, SQLITED_BAD_REQUEST, "option names must be strings");
    return reject(req, SQLITED_BAD_REQUEST, "unknown option '%.*s'",
                  (int)(len > 64 ? 64 : len), key);
}

/* query and exec: [sql, params?, options?]. Checks everything that can be
 * checked without the database, then queues a job with its own copy of the
 * message for the writer or the reader pool. */
static void handle_sql(struct request *req)
{
    struct rpc_message *m = &req->m;
    struct codec_reader r = m->params;
    const char *name = rpc_method_name(req->method);
    const char *sql;
    uint32_t sql_len;

    if (m->nparams < 1 || m->nparams > 3) {
        reject(req, SQLITED_BAD_REQUEST,
               "%s takes [sql, params?, options?], %u params given", name,
               m->nparams);
        return;
    }
    if (codec_read_str(&r, &sql, &sql_len)) {
        reject(req, SQLITED_BAD_REQUEST, "params[0] (sql) must be a string");
        return;
    }
    if (sql_len == 0) {
        reject(req, SQLITED_BAD_REQUEST, "empty SQL");
        return;
    }
    if (sql_len > RPC_MAX_SQL_LENGTH) {
        reject(req, SQLITED_TOO_LARGE,
               "SQL text of %u bytes; the limit is %u bytes", sql_len,
               RPC_MAX_SQL_LENGTH);
        return;
    }
    if (!codec_utf8_valid(sql, sql_len)) {
        reject(req, SQLITED_BAD_REQUEST, "SQL text is not valid UTF-8");
        return;
    }
    /* SQLite stops reading at a NUL: whatever follows would be skipped in
     * silence. */
    if (memchr(sql, '\0', sql_len) != NULL) {
        reject(req, SQLITED_BAD_REQUEST, "SQL text contains a NUL byte");
        return;
    }

    struct job *job = job_new(req->c, req->method, m->msgid);
    if (job == NULL) {
        reject(req, SQLITED_INTERNAL, "out of memory");
        return;
    }
    if ((m->nparams >= 2 && check_params(req, &r, job)) ||
        (m->nparams >= 3 && check_options(req, &r))) {
        job_free(job);
        return;
    }

    /* The job outlives the read buffer: give it its own copy, and point its
     * SQL and parameters into that copy. */
    job->msg = malloc(req->len);
    if (job->msg == NULL) {
        job_free(job);
        reject(req, SQLITED_INTERNAL, "out of memory");
        return;
    }
    memcpy(job->msg, req->msg, req->len);
    job->sql = job->msg + (sql - req->msg);
    job->sql_len = sql_len;
    if (job->nparams > 0) {
        size_t at = (size_t)((const char *)job->params.p - req->msg);
        codec_reader_init(&job->params, job->msg + at, req->len - at);
    }

    struct server *s = req->c->srv;
    conn_track(req->c, job);
    if (req->method == RPC_QUERY)
        readers_submit(&s->readers, job);
    else
        writer_submit(&s->writer, job);
}

static handler_fn *const handlers[RPC_METHOD_COUNT] = {
    [RPC_HELLO] = handle_hello,
    [RPC_PING] = handle_ping,
    [RPC_QUERY] = handle_sql,
    [RPC_EXEC] = handle_sql,
};

void dispatch_message(struct conn *c, const char *msg, size_t len)
{
    struct request req = {.c = c, .msg = msg, .len = len};
    bool has_msgid = false;
    const char *why = NULL;

    int rc = rpc_parse(msg, len, &req.m, &has_msgid, &why);
    if (rc != 0) {
        if (has_msgid && req.m.kind == RPC_REQUEST)
            conn_send_error(c, req.m.msgid, rc, why);
        else
            conn_send_notification(c, rc, why);
        return;
    }
    if (req.m.kind != RPC_REQUEST) {
        conn_send_notification(c, SQLITED_BAD_REQUEST,
                               req.m.kind == RPC_RESPONSE
                                   ? "the daemon sent no request to respond to"
                                   : "the daemon takes no notifications; "
                                     "send requests");
        return;
    }
    req.method = rpc_method_lookup(req.m.method, req.m.method_len);
    if (req.method == RPC_METHOD_COUNT || handlers[req.method] == NULL) {
        bool printable = req.m.method_len <= 64 &&
                         codec_utf8_valid(req.m.method, req.m.method_len);
        reject(&req, SQLITED_UNKNOWN_METHOD, "no method named '%.*s'",
               printable ? (int)req.m.method_len : 3,
               printable ? req.m.method : "...");
        return;
    }
    if (c->srv->shutting_down) {
        reject(&req, SQLITED_SHUTTING_DOWN,
               "the daemon is shutting down and takes no new requests");
        return;
    }
    handlers[req.method](&req);
}
