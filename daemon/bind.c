#include "bind.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlited.h"

/* Binds one value read from the request. The loop thread has checked types
 * already; anything else here is a defect, refused all the same. Text and
 * blobs are bound in place (SQLITE_STATIC): the request outlives the step. */
static int bind_value(struct run *r, struct codec_reader *params,
                      sqlite3_stmt *st, int i)
{
    struct codec_value v;
    if (codec_read(params, &v))
        return run_fail(r, SQLITED_BAD_REQUEST, "parameter %d is malformed", i);
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
        return run_fail(r, SQLITED_BAD_REQUEST,
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
int bind_params(struct run *r, const struct sql_req *req, sqlite3_stmt *st)
{
    struct codec_reader params = req->params;
    int count = sqlite3_bind_parameter_count(st);
    char label[16];
    int rc;

    if (!req->named) {
        if ((uint32_t)count != req->nparams)
            return run_fail(r, SQLITE_RANGE,
                            "the statement has %d parameter%s but %u value%s "
                            "given",
                            count, count == 1 ? "" : "s", req->nparams,
                            req->nparams == 1 ? " was" : "s were");
        for (int i = 1; i <= count; i++)
            if ((rc = bind_value(r, &params, st, i)) != SQLITE_OK)
                return r->code ? rc : run_fail_sqlite(r, rc);
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
            return run_fail(r, SQLITED_BAD_REQUEST,
                            "parameter names must be strings");
        int i = named_index(st, key, len);
        if (i < 0)
            return run_fail(r, SQLITE_NOMEM, "out of memory");
        if (i == 0)
            return run_fail(r, SQLITE_RANGE,
                            "the statement has no parameter named '%.*s'",
                            (int)(len > 64 ? 64 : len), key);
        if (seen[i / 8] & (1u << (i % 8)))
            return run_fail(r, SQLITE_RANGE, "parameter '%s' is given twice",
                            param_label(st, i, label, sizeof(label)));
        seen[i / 8] |= (uint8_t)(1u << (i % 8));
        if ((rc = bind_value(r, &params, st, i)) != SQLITE_OK)
            return r->code ? rc : run_fail_sqlite(r, rc);
    }
    for (int i = 1; i <= count; i++)
        if (!(seen[i / 8] & (1u << (i % 8))))
            return run_fail(r, SQLITE_RANGE,
                            "no value given for parameter '%s'",
                            param_label(st, i, label, sizeof(label)));
    return SQLITE_OK;
}

/* Reads one parameter list (nil, an array or a map, checked by the loop
 * thread) into @req and moves @r past it. */
int bind_read_params(struct run *r, struct codec_reader *rd,
                     struct sql_req *req)
{
    struct codec_value v;
    req->nparams = 0;
    req->named = false;
    if (codec_read(rd, &v))
        return run_fail(r, SQLITED_BAD_REQUEST, "malformed parameters");
    if (v.type == CODEC_NIL)
        return SQLITE_OK;
    req->named = v.type == CODEC_MAP;
    req->nparams = v.v.n;
    req->params = *rd;
    for (uint32_t i = 0; i < v.v.n * (req->named ? 2u : 1u); i++)
        if (codec_skip(rd))
            return run_fail(r, SQLITED_BAD_REQUEST, "malformed parameters");
    return SQLITE_OK;
}
