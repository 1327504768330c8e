/* MessagePack-RPC messages of sqlited: see rpc.h and protocol/PROTOCOL.md. */
#include "rpc.h"

#include <limits.h>
#include <string.h>

#include "sqlited.h"

/* ------------------------------------------------------------------ methods
 */

static const struct {
    const char *name;
    size_t len;
} methods[] = {
#define RPC_METHOD_ENTRY(id, name) [RPC_##id] = {name, sizeof(name) - 1},
    RPC_METHODS(RPC_METHOD_ENTRY)
#undef RPC_METHOD_ENTRY
};

enum rpc_method rpc_method_lookup(const char *name, size_t len)
{
    for (int m = 0; m < RPC_METHOD_COUNT; m++)
        if (methods[m].len == len && memcmp(methods[m].name, name, len) == 0)
            return (enum rpc_method)m;
    return RPC_METHOD_COUNT;
}

const char *rpc_method_name(enum rpc_method m)
{
    if ((unsigned)m >= RPC_METHOD_COUNT)
        return "unknown";
    return methods[m].name;
}

/* ---------------------------------------------------------------- envelopes
 */

/* Skips the @count values left in the envelope and requires that nothing
 * follows them: the decoder delivers exactly one object, but rpc_parse() is
 * safe on any bytes. With @framed (rpc_parse_framed()), the decoder's word
 * is taken. Returns NULL or the reason. */
static const char *check_rest(struct codec_reader r, uint32_t count,
                              bool framed)
{
    if (framed)
        return NULL;
    for (uint32_t i = 0; i < count; i++)
        if (codec_skip(&r) != 0)
            return "message is truncated";
    if (!codec_at_end(&r))
        return "message has bytes after its end";
    return NULL;
}

/* Reads "method, params" of a request or notification. */
static const char *parse_call(struct codec_reader *r, struct rpc_message *m,
                              bool framed)
{
    if (codec_read_str(r, &m->method, &m->method_len) != 0)
        return "method must be a string";
    if (codec_read_array(r, &m->nparams) != 0)
        return "params must be an array";
    m->params = *r;
    return check_rest(*r, m->nparams, framed);
}

/* Reads "error, result" of a response. */
static const char *parse_reply(struct codec_reader *r, struct rpc_message *m,
                               bool framed)
{
    struct codec_reader at = *r;
    struct codec_value v;

    if (codec_read(r, &v) != 0)
        return "message is truncated";
    if (v.type != CODEC_NIL && v.type != CODEC_MAP)
        return "error must be nil or a map";
    m->error = at;
    m->is_error = v.type == CODEC_MAP;
    *r = at;
    if (codec_skip(r) != 0)
        return "message is truncated";
    m->result = *r;
    return check_rest(*r, 1, framed);
}

static int parse(const char *msg, size_t len, struct rpc_message *m,
                 bool *has_msgid, const char **why, bool framed)
{
    struct codec_reader r;
    uint32_t n;
    int64_t type;
    const char *reason;
    bool dummy_has;
    const char *dummy_why;

    if (has_msgid == NULL)
        has_msgid = &dummy_has;
    if (why == NULL)
        why = &dummy_why;
    memset(m, 0, sizeof(*m));
    *has_msgid = false;
    *why = NULL;
    codec_reader_init(&r, msg, len);

    if (codec_read_array(&r, &n) != 0) {
        reason = "message is not an array";
        goto fail;
    }
    if (n == 0) {
        reason = "message is an empty array";
        goto fail;
    }
    if (codec_read_int64(&r, &type) != 0) {
        reason = "message type must be an integer";
        goto fail;
    }

    switch (type) {
    case RPC_REQUEST:
    case RPC_RESPONSE:
        /* The msgid comes first, even from an envelope of the wrong size,
         * so that the error reply can still be addressed to it. */
        if (n >= 2 && codec_read_uint32(&r, &m->msgid) == 0) {
            m->kind = (enum rpc_kind)type;
            *has_msgid = true;
        }
        if (n != 4) {
            reason = type == RPC_REQUEST
                         ? "request must be an array of 4 elements"
                         : "response must be an array of 4 elements";
            goto fail;
        }
        if (!*has_msgid) {
            reason = "msgid must be an unsigned 32-bit integer";
            goto fail;
        }
        reason = type == RPC_REQUEST ? parse_call(&r, m, framed)
                                     : parse_reply(&r, m, framed);
        break;
    case RPC_NOTIFICATION:
        if (n != 3) {
            reason = "notification must be an array of 3 elements";
            goto fail;
        }
        m->kind = RPC_NOTIFICATION;
        reason = parse_call(&r, m, framed);
        break;
    default:
        reason = "unknown message type";
        break;
    }
    if (reason == NULL)
        return 0;

fail:
    *why = reason;
    return SQLITED_BAD_REQUEST;
}

int rpc_parse(const char *msg, size_t len, struct rpc_message *m,
              bool *has_msgid, const char **why)
{
    return parse(msg, len, m, has_msgid, why, false);
}

int rpc_parse_framed(const char *msg, size_t len, struct rpc_message *m,
                     bool *has_msgid, const char **why)
{
    return parse(msg, len, m, has_msgid, why, true);
}

/* ----------------------------------------------------------------- encoders
 */

void rpc_pack_request_head(struct codec_buf *b, uint32_t msgid,
                           const char *method, uint32_t nparams)
{
    msgpack_pack_array(&b->pk, 4);
    msgpack_pack_int(&b->pk, RPC_REQUEST);
    msgpack_pack_uint32(&b->pk, msgid);
    codec_pack_cstr(b, method);
    msgpack_pack_array(&b->pk, nparams);
}

void rpc_pack_response_head(struct codec_buf *b, uint32_t msgid)
{
    codec_pack_array(b, 4);
    codec_pack_int64(b, RPC_RESPONSE);
    codec_pack_int64(b, msgid);
    codec_pack_nil(b);
}

void rpc_pack_error_response(struct codec_buf *b, uint32_t msgid, int code,
                             const char *message)
{
    rpc_pack_error_response_at(b, msgid, code, message, -1);
}

void rpc_pack_error_response_at(struct codec_buf *b, uint32_t msgid, int code,
                                const char *message, int64_t step)
{
    msgpack_pack_array(&b->pk, 4);
    msgpack_pack_int(&b->pk, RPC_RESPONSE);
    msgpack_pack_uint32(&b->pk, msgid);
    rpc_pack_error_at(b, code, message, step);
    msgpack_pack_nil(&b->pk);
}

void rpc_pack_error_notification(struct codec_buf *b, int code,
                                 const char *message)
{
    msgpack_pack_array(&b->pk, 3);
    msgpack_pack_int(&b->pk, RPC_NOTIFICATION);
    codec_pack_cstr(b, "error");
    msgpack_pack_array(&b->pk, 1);
    rpc_pack_error(b, code, message);
}

void rpc_pack_error(struct codec_buf *b, int code, const char *message)
{
    rpc_pack_error_at(b, code, message, -1);
}

/* A NULL @message sends the code's description. */
void rpc_pack_error_at(struct codec_buf *b, int code, const char *message,
                       int64_t step)
{
    msgpack_pack_map(&b->pk, step >= 0 ? 5 : 4);
    codec_pack_cstr(b, "code");
    msgpack_pack_int(&b->pk, code);
    codec_pack_cstr(b, "primary");
    msgpack_pack_int(&b->pk, code > 0 ? code & 0xff : code);
    codec_pack_cstr(b, "name");
    codec_pack_cstr(b, rpc_code_name(code));
    codec_pack_cstr(b, "message");
    codec_pack_cstr(b, message != NULL ? message : rpc_code_text(code));
    if (step >= 0) {
        codec_pack_cstr(b, "step");
        msgpack_pack_int64(&b->pk, step);
    }
}

static bool key_is(const char *key, uint32_t len, const char *want)
{
    return len == strlen(want) && memcmp(key, want, len) == 0;
}

/* Any out-parameter may be NULL. A "name" or "message" that is not a string
 * counts as absent; @r is left after the map on success, unmoved on failure.
 */
int rpc_read_error(struct codec_reader *r, int *code, const char **name,
                   uint32_t *name_len, const char **message,
                   uint32_t *message_len)
{
    struct codec_reader start = *r;
    const char *s_name = NULL, *s_message = NULL;
    uint32_t n, name_n = 0, message_n = 0;
    bool has_code = false;
    int64_t value = 0;

    if (codec_read_map(r, &n) != 0)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        uint32_t key_len;

        if (codec_read_str(r, &key, &key_len) != 0) {
            if (codec_skip(r) != 0) /* a key of another type: unknown */
                goto fail;
            key = "";
            key_len = 0;
        }
        if (key_is(key, key_len, "code")) {
            if (codec_read_int64(r, &value) != 0 || value < INT_MIN ||
                value > INT_MAX)
                goto fail;
            has_code = true;
            continue;
        }
        if (key_is(key, key_len, "name") &&
            codec_read_str(r, &s_name, &name_n) == 0)
            continue;
        if (key_is(key, key_len, "message") &&
            codec_read_str(r, &s_message, &message_n) == 0)
            continue;
        if (codec_skip(r) != 0)
            goto fail;
    }
    if (!has_code)
        goto fail;

    if (code != NULL)
        *code = (int)value;
    if (name != NULL)
        *name = s_name;
    if (name_len != NULL)
        *name_len = name_n;
    if (message != NULL)
        *message = s_message;
    if (message_len != NULL)
        *message_len = message_n;
    return 0;

fail:
    *r = start;
    return -1;
}

/* ------------------------------------------------------------ result codes
 *
 * This is data, not a call into libsqlite3: the client library does not link
 * it. tests/unit/test_rpc.c checks every entry against sqlite3_errstr().
 */

/* SQLite 3.40 primary result codes: X(NAME, value, description), with the
 * wording of sqlite3_errstr(). Its table has no text for INTERNAL, EMPTY,
 * NOLFS and FORMAT, so for those it says "unknown error", and so do we. */
#define SQLITE_PRIMARY_MAP(X)                                                  \
    X(OK, 0, "not an error")                                                   \
    X(ERROR, 1, "SQL logic error")                                             \
    X(INTERNAL, 2, "unknown error")                                            \
    X(PERM, 3, "access permission denied")                                     \
    X(ABORT, 4, "query aborted")                                               \
    X(BUSY, 5, "database is locked")                                           \
    X(LOCKED, 6, "database table is locked")                                   \
    X(NOMEM, 7, "out of memory")                                               \
    X(READONLY, 8, "attempt to write a readonly database")                     \
    X(INTERRUPT, 9, "interrupted")                                             \
    X(IOERR, 10, "disk I/O error")                                             \
    X(CORRUPT, 11, "database disk image is malformed")                         \
    X(NOTFOUND, 12, "unknown operation")                                       \
    X(FULL, 13, "database or disk is full")                                    \
    X(CANTOPEN, 14, "unable to open database file")                            \
    X(PROTOCOL, 15, "locking protocol")                                        \
    X(EMPTY, 16, "unknown error")                                              \
    X(SCHEMA, 17, "database schema has changed")                               \
    X(TOOBIG, 18, "string or blob too big")                                    \
    X(CONSTRAINT, 19, "constraint failed")                                     \
    X(MISMATCH, 20, "datatype mismatch")                                       \
    X(MISUSE, 21, "bad parameter or other API misuse")                         \
    X(NOLFS, 22, "unknown error")                                              \
    X(AUTH, 23, "authorization denied")                                        \
    X(FORMAT, 24, "unknown error")                                             \
    X(RANGE, 25, "column index out of range")                                  \
    X(NOTADB, 26, "file is not a database")                                    \
    X(NOTICE, 27, "notification message")                                      \
    X(WARNING, 28, "warning message")                                          \
    X(ROW, 100, "another row available")                                       \
    X(DONE, 101, "no more rows available")

/* SQLite 3.40 extended result codes: X(NAME, PRIMARY, n) is
 * SQLITE_NAME = (SQLITE_PRIMARY | (n << 8)), as sqlite3.h defines them. */
#define SQLITE_EXTENDED_MAP(X)                                                 \
    X(ERROR_MISSING_COLLSEQ, ERROR, 1)                                         \
    X(ERROR_RETRY, ERROR, 2)                                                   \
    X(ERROR_SNAPSHOT, ERROR, 3)                                                \
    X(IOERR_READ, IOERR, 1)                                                    \
    X(IOERR_SHORT_READ, IOERR, 2)                                              \
    X(IOERR_WRITE, IOERR, 3)                                                   \
    X(IOERR_FSYNC, IOERR, 4)                                                   \
    X(IOERR_DIR_FSYNC, IOERR, 5)                                               \
    X(IOERR_TRUNCATE, IOERR, 6)                                                \
    X(IOERR_FSTAT, IOERR, 7)                                                   \
    X(IOERR_UNLOCK, IOERR, 8)                                                  \
    X(IOERR_RDLOCK, IOERR, 9)                                                  \
    X(IOERR_DELETE, IOERR, 10)                                                 \
    X(IOERR_BLOCKED, IOERR, 11)                                                \
    X(IOERR_NOMEM, IOERR, 12)                                                  \
    X(IOERR_ACCESS, IOERR, 13)                                                 \
    X(IOERR_CHECKRESERVEDLOCK, IOERR, 14)                                      \
    X(IOERR_LOCK, IOERR, 15)                                                   \
    X(IOERR_CLOSE, IOERR, 16)                                                  \
    X(IOERR_DIR_CLOSE, IOERR, 17)                                              \
    X(IOERR_SHMOPEN, IOERR, 18)                                                \
    X(IOERR_SHMSIZE, IOERR, 19)                                                \
    X(IOERR_SHMLOCK, IOERR, 20)                                                \
    X(IOERR_SHMMAP, IOERR, 21)                                                 \
    X(IOERR_SEEK, IOERR, 22)                                                   \
    X(IOERR_DELETE_NOENT, IOERR, 23)                                           \
    X(IOERR_MMAP, IOERR, 24)                                                   \
    X(IOERR_GETTEMPPATH, IOERR, 25)                                            \
    X(IOERR_CONVPATH, IOERR, 26)                                               \
    X(IOERR_VNODE, IOERR, 27)                                                  \
    X(IOERR_AUTH, IOERR, 28)                                                   \
    X(IOERR_BEGIN_ATOMIC, IOERR, 29)                                           \
    X(IOERR_COMMIT_ATOMIC, IOERR, 30)                                          \
    X(IOERR_ROLLBACK_ATOMIC, IOERR, 31)                                        \
    X(IOERR_DATA, IOERR, 32)                                                   \
    X(IOERR_CORRUPTFS, IOERR, 33)                                              \
    X(LOCKED_SHAREDCACHE, LOCKED, 1)                                           \
    X(LOCKED_VTAB, LOCKED, 2)                                                  \
    X(BUSY_RECOVERY, BUSY, 1)                                                  \
    X(BUSY_SNAPSHOT, BUSY, 2)                                                  \
    X(BUSY_TIMEOUT, BUSY, 3)                                                   \
    X(CANTOPEN_NOTEMPDIR, CANTOPEN, 1)                                         \
    X(CANTOPEN_ISDIR, CANTOPEN, 2)                                             \
    X(CANTOPEN_FULLPATH, CANTOPEN, 3)                                          \
    X(CANTOPEN_CONVPATH, CANTOPEN, 4)                                          \
    X(CANTOPEN_DIRTYWAL, CANTOPEN, 5)                                          \
    X(CANTOPEN_SYMLINK, CANTOPEN, 6)                                           \
    X(CORRUPT_VTAB, CORRUPT, 1)                                                \
    X(CORRUPT_SEQUENCE, CORRUPT, 2)                                            \
    X(CORRUPT_INDEX, CORRUPT, 3)                                               \
    X(READONLY_RECOVERY, READONLY, 1)                                          \
    X(READONLY_CANTLOCK, READONLY, 2)                                          \
    X(READONLY_ROLLBACK, READONLY, 3)                                          \
    X(READONLY_DBMOVED, READONLY, 4)                                           \
    X(READONLY_CANTINIT, READONLY, 5)                                          \
    X(READONLY_DIRECTORY, READONLY, 6)                                         \
    X(ABORT_ROLLBACK, ABORT, 2)                                                \
    X(CONSTRAINT_CHECK, CONSTRAINT, 1)                                         \
    X(CONSTRAINT_COMMITHOOK, CONSTRAINT, 2)                                    \
    X(CONSTRAINT_FOREIGNKEY, CONSTRAINT, 3)                                    \
    X(CONSTRAINT_FUNCTION, CONSTRAINT, 4)                                      \
    X(CONSTRAINT_NOTNULL, CONSTRAINT, 5)                                       \
    X(CONSTRAINT_PRIMARYKEY, CONSTRAINT, 6)                                    \
    X(CONSTRAINT_TRIGGER, CONSTRAINT, 7)                                       \
    X(CONSTRAINT_UNIQUE, CONSTRAINT, 8)                                        \
    X(CONSTRAINT_VTAB, CONSTRAINT, 9)                                          \
    X(CONSTRAINT_ROWID, CONSTRAINT, 10)                                        \
    X(CONSTRAINT_PINNED, CONSTRAINT, 11)                                       \
    X(CONSTRAINT_DATATYPE, CONSTRAINT, 12)                                     \
    X(NOTICE_RECOVER_WAL, NOTICE, 1)                                           \
    X(NOTICE_RECOVER_ROLLBACK, NOTICE, 2)                                      \
    X(WARNING_AUTOINDEX, WARNING, 1)                                           \
    X(AUTH_USER, AUTH, 1)                                                      \
    X(OK_LOAD_PERMANENTLY, OK, 1)                                              \
    X(OK_SYMLINK, OK, 2)

enum {
#define PRIMARY_ENUM(name, value, text) PRIMARY_##name = (value),
    SQLITE_PRIMARY_MAP(PRIMARY_ENUM)
#undef PRIMARY_ENUM
};

#define EXTENDED_CODE(primary, n) (PRIMARY_##primary | ((n) << 8))

/* Negated errno values sit above SQLITED_* codes, which start at -1000. */
static bool is_errno(int code)
{
    return code < 0 && code > -1000;
}

/* A switch rather than a search: the compiler refuses duplicate values, so
 * a typo in the tables cannot map two names to one code. */
const char *rpc_code_name(int code)
{
    const char *name;

    switch (code) {
#define PRIMARY_NAME(name, value, text)                                        \
    case value:                                                                \
        return "SQLITE_" #name;
        SQLITE_PRIMARY_MAP(PRIMARY_NAME)
#undef PRIMARY_NAME
#define EXTENDED_NAME(name, primary, n)                                        \
    case EXTENDED_CODE(primary, n):                                            \
        return "SQLITE_" #name;
        SQLITE_EXTENDED_MAP(EXTENDED_NAME)
#undef EXTENDED_NAME
#define SQLITED_NAME(name, value, text)                                        \
    case value:                                                                \
        return "SQLITED_" #name;
        SQLITED_ERRNO_MAP(SQLITED_NAME)
#undef SQLITED_NAME
    }
    if (is_errno(code) && (name = strerrorname_np(-code)) != NULL)
        return name;
    return "UNKNOWN";
}

const char *rpc_code_text(int code)
{
    const char *text;

    /* The one extended code with a text of its own in sqlite3_errstr(). */
    if (code == EXTENDED_CODE(ABORT, 2))
        return "abort due to ROLLBACK";
    switch (code) {
#define PRIMARY_TEXT(name, value, text)                                        \
    case value:                                                                \
        return text;
        SQLITE_PRIMARY_MAP(PRIMARY_TEXT)
#undef PRIMARY_TEXT
#define EXTENDED_TEXT(name, primary, n)                                        \
    case EXTENDED_CODE(primary, n):                                            \
        return rpc_code_text(PRIMARY_##primary);
        SQLITE_EXTENDED_MAP(EXTENDED_TEXT)
#undef EXTENDED_TEXT
#define SQLITED_TEXT(name, value, text)                                        \
    case value:                                                                \
        return text;
        SQLITED_ERRNO_MAP(SQLITED_TEXT)
#undef SQLITED_TEXT
    }
    if (is_errno(code) && (text = strerrordesc_np(-code)) != NULL)
        return text;
    return "unknown error";
}

int rpc_response_error(const char *msg, size_t len, const char **message,
                       uint32_t *message_len)
{
    struct codec_reader r;
    struct codec_value v;
    uint32_t n;
    int code;

    *message = NULL;
    *message_len = 0;
    if (msg == NULL)
        return 0;
    codec_reader_init(&r, msg, len);
    if (codec_read_array(&r, &n) || n != 4 || codec_read(&r, &v) ||
        codec_read(&r, &v) || r.p >= r.end || *r.p == 0xc0)
        return 0;
    if (rpc_read_error(&r, &code, NULL, NULL, message, message_len) != 0)
        return 0;
    return code;
}
