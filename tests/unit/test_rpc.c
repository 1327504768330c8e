/* Unit tests of protocol/rpc.c: envelopes, errors, code names, methods. */
#include <criterion/criterion.h>
#include <errno.h>
#include <sqlite3.h>
#include <string.h>

#include "rpc.h"
#include "sqlited.h"

/* A string literal as bytes and length, NULs included. */
#define BYTES(literal) literal, sizeof(literal) - 1

/* Parses the bytes in @b, which must hold one envelope. */
static int parse(const struct codec_buf *b, struct rpc_message *m,
                 bool *has_msgid, const char **why)
{
    cr_assert_eq(b->error, CODEC_BUF_OK);
    return rpc_parse(b->data, b->len, m, has_msgid, why);
}

static void expect_str(const char *s, uint32_t len, const char *want)
{
    cr_assert_eq(len, strlen(want), "got \"%.*s\", want \"%s\"", (int)len, s,
                 want);
    cr_assert_eq(memcmp(s, want, len), 0);
}

Test(rpc, parse_request)
{
    struct codec_buf b;
    struct rpc_message m;
    bool has_msgid;
    const char *why, *s;
    uint32_t len;
    int64_t i;

    codec_buf_init(&b, 0);
    rpc_pack_request_head(&b, 4000000000u, "query", 2);
    msgpack_pack_int(&b.pk, 42);
    codec_pack_cstr(&b, "select ?");
    cr_assert_eq(parse(&b, &m, &has_msgid, &why), 0);
    cr_assert_null(why);
    cr_assert(has_msgid);
    cr_assert_eq(m.kind, RPC_REQUEST);
    cr_assert_eq(m.msgid, 4000000000u);
    expect_str(m.method, m.method_len, "query");
    cr_assert_eq(rpc_method_lookup(m.method, m.method_len), RPC_QUERY);
    cr_assert_eq(m.nparams, 2);
    cr_assert_eq(codec_read_int64(&m.params, &i), 0);
    cr_assert_eq(i, 42);
    cr_assert_eq(codec_read_str(&m.params, &s, &len), 0);
    expect_str(s, len, "select ?");
    cr_assert(codec_at_end(&m.params));
    codec_buf_close(&b);
}

Test(rpc, parse_response)
{
    struct codec_buf b;
    struct rpc_message m;
    bool has_msgid;
    const char *why;
    uint32_t n;

    codec_buf_init(&b, 0);
    rpc_pack_response_head(&b, 7);
    msgpack_pack_array(&b.pk, 1);
    msgpack_pack_true(&b.pk);
    cr_assert_eq(parse(&b, &m, &has_msgid, &why), 0);
    cr_assert(has_msgid);
    cr_assert_eq(m.kind, RPC_RESPONSE);
    cr_assert_eq(m.msgid, 7);
    cr_assert_not(m.is_error);
    cr_assert_eq(*m.error.p, 0xc0); /* on the nil */
    cr_assert_eq(codec_read_array(&m.result, &n), 0);
    cr_assert_eq(n, 1);
    codec_buf_close(&b);
}

/* On a message the decoder delivered, rpc_parse_framed() finds what
 * rpc_parse() finds, without walking the params or the result again; the
 * checks of the envelope itself stay. */
Test(rpc, framed_parse_finds_the_same)
{
    struct codec_buf b;
    struct rpc_message m, f;
    bool has_msgid;
    const char *why;

    codec_buf_init(&b, 0);
    rpc_pack_request_head(&b, 9, "query", 2);
    codec_pack_cstr(&b, "select ?");
    msgpack_pack_array(&b.pk, 2);
    msgpack_pack_int(&b.pk, 1);
    codec_pack_cstr(&b, "two");
    cr_assert_eq(rpc_parse(b.data, b.len, &m, &has_msgid, &why), 0);
    cr_assert_eq(rpc_parse_framed(b.data, b.len, &f, &has_msgid, &why), 0);
    cr_assert_eq(f.kind, RPC_REQUEST);
    cr_assert_eq(f.msgid, 9);
    expect_str(f.method, f.method_len, "query");
    cr_assert_eq(f.nparams, 2);
    cr_assert_eq(f.params.p, m.params.p);
    cr_assert_eq(f.params.end, m.params.end);

    codec_buf_reset(&b);
    rpc_pack_response_head(&b, 10);
    msgpack_pack_map(&b.pk, 1);
    codec_pack_cstr(&b, "rows");
    msgpack_pack_array(&b.pk, 0);
    cr_assert_eq(rpc_parse(b.data, b.len, &m, &has_msgid, &why), 0);
    cr_assert_eq(rpc_parse_framed(b.data, b.len, &f, &has_msgid, &why), 0);
    cr_assert_eq(f.kind, RPC_RESPONSE);
    cr_assert_eq(f.msgid, 10);
    cr_assert_not(f.is_error);
    cr_assert_eq(f.result.p, m.result.p);
    cr_assert_eq(f.result.end, b.data + b.len);

    /* The envelope is still checked. */
    codec_buf_reset(&b);
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_int(&b.pk, 1);
    msgpack_pack_int(&b.pk, 11);
    msgpack_pack_nil(&b.pk);
    cr_assert_eq(rpc_parse_framed(b.data, b.len, &f, &has_msgid, &why),
                 SQLITED_BAD_REQUEST);
    cr_assert_str_eq(why, "response must be an array of 4 elements");
    codec_buf_close(&b);
}

Test(rpc, parse_notification)
{
    struct codec_buf b;
    struct rpc_message m;
    bool has_msgid = true;
    const char *why;

    codec_buf_init(&b, 0);
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_int(&b.pk, 2);
    codec_pack_cstr(&b, "ping");
    msgpack_pack_array(&b.pk, 0);
    cr_assert_eq(parse(&b, &m, &has_msgid, &why), 0);
    cr_assert_not(has_msgid);
    cr_assert_eq(m.kind, RPC_NOTIFICATION);
    expect_str(m.method, m.method_len, "ping");
    cr_assert_eq(m.nparams, 0);
    cr_assert(codec_at_end(&m.params));
    codec_buf_close(&b);
}

Test(rpc, msgid_in_any_integer_encoding)
{
    static const struct {
        const char *bytes;
        size_t len;
        uint32_t msgid;
    } cases[] = {
        {BYTES("\x94\x00\x07\xa4ping\x90"), 7},
        {BYTES("\x94\x00\xcc\x07\xa4ping\x90"), 7},
        {BYTES("\x94\x00\xcd\x00\x07\xa4ping\x90"), 7},
        {BYTES("\x94\x00\xce\x00\x00\x00\x07\xa4ping\x90"), 7},
        {BYTES("\x94\x00\xcf\x00\x00\x00\x00\x00\x00\x00\x07\xa4ping\x90"), 7},
        {BYTES("\x94\x00\xd0\x07\xa4ping\x90"), 7},
        {BYTES("\x94\x00\xd3\x00\x00\x00\x00\x00\x00\x00\x07\xa4ping\x90"), 7},
        {BYTES("\x94\x00\xce\xff\xff\xff\xff\xa4ping\x90"), UINT32_MAX},
    };
    struct rpc_message m;
    bool has_msgid;
    const char *why;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(
            rpc_parse(cases[i].bytes, cases[i].len, &m, &has_msgid, &why), 0,
            "case %zu: %s", i, why);
        cr_assert_eq(m.msgid, cases[i].msgid, "case %zu", i);
    }
}

Test(rpc, each_failure_has_its_reason)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *why;
        bool has_msgid;
    } cases[] = {
        {BYTES("\x01"), "message is not an array", false},
        {BYTES(""), "message is not an array", false},
        {BYTES("\x90"), "message is an empty array", false},
        {BYTES("\x94\xa1x\x01\xa1m\x90"), "message type must be an integer",
         false},
        {BYTES("\x94\x07\x01\xa1m\x90"), "unknown message type", false},
        {BYTES("\x94\xff\x01\xa1m\x90"), "unknown message type", false},
        {BYTES("\x91\x00"), "request must be an array of 4 elements", false},
        {BYTES("\x93\x00\x05\xa1m"), "request must be an array of 4 elements",
         true},
        {BYTES("\x95\x00\x05\xa1m\x90\xc0"),
         "request must be an array of 4 elements", true},
        {BYTES("\x94\x00\xff\xa1m\x90"),
         "msgid must be an unsigned 32-bit integer", false},
        {BYTES("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1m\x90"),
         "msgid must be an unsigned 32-bit integer", false},
        {BYTES("\x94\x00\xa1\x35\xa1m\x90"),
         "msgid must be an unsigned 32-bit integer", false},
        {BYTES("\x94\x00\x05\x03\x90"), "method must be a string", true},
        {BYTES("\x94\x00\x05\xa1m\x80"), "params must be an array", true},
        {BYTES("\x93\x01\x05\xc0"), "response must be an array of 4 elements",
         true},
        {BYTES("\x94\x01\x05\x03\xc0"), "error must be nil or a map", true},
        {BYTES("\x92\x02\xa1m"), "notification must be an array of 3 elements",
         false},
        {BYTES("\x93\x02\x03\x90"), "method must be a string", false},
        {BYTES("\x93\x02\xa1m\x03"), "params must be an array", false},
        {BYTES("\x94\x00\x05\xa1m\x92\x01"), "message is truncated", true},
        {BYTES("\x94\x01\x05\xc0"), "message is truncated", true},
        {BYTES("\x94\x00\x05\xa1m\x90\x00"), "message has bytes after its end",
         true},
    };
    struct rpc_message m;
    bool has_msgid;
    const char *why;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = rpc_parse(cases[i].bytes, cases[i].len, &m, &has_msgid, &why);

        cr_assert_eq(rc, SQLITED_BAD_REQUEST, "case %zu: rc %d", i, rc);
        cr_assert_str_eq(why, cases[i].why, "case %zu", i);
        cr_assert_eq(has_msgid, cases[i].has_msgid, "case %zu", i);
        if (has_msgid)
            cr_assert_eq(m.msgid, 5, "case %zu", i);
    }
}

Test(rpc, error_response_round_trip)
{
    struct codec_buf b;
    struct rpc_message m;
    bool has_msgid;
    const char *why, *name, *message;
    uint32_t name_len, message_len;
    int code;

    codec_buf_init(&b, 0);
    rpc_pack_error_response(&b, 9, 2067, "UNIQUE constraint failed: t.x");
    cr_assert_eq(parse(&b, &m, &has_msgid, &why), 0);
    cr_assert_eq(m.kind, RPC_RESPONSE);
    cr_assert_eq(m.msgid, 9);
    cr_assert(m.is_error);
    cr_assert_eq(rpc_read_error(&m.error, &code, &name, &name_len, &message,
                                &message_len),
                 0);
    cr_assert_eq(code, 2067);
    expect_str(name, name_len, "SQLITE_CONSTRAINT_UNIQUE");
    expect_str(message, message_len, "UNIQUE constraint failed: t.x");
    /* The reader is left on the result, which is nil. */
    cr_assert_eq(m.error.p, m.result.p);
    cr_assert_eq(*m.result.p, 0xc0);
    codec_buf_close(&b);
}

/* Reads the error object at @r key by key, to check layout and order. */
static void expect_error_object(struct codec_reader *r, int code, int primary,
                                const char *name, const char *message)
{
    static const char *const keys[] = {"code", "primary", "name", "message"};
    const char *s;
    uint32_t n, len;
    int64_t i;

    cr_assert_eq(codec_read_map(r, &n), 0);
    cr_assert_eq(n, 4);
    for (int k = 0; k < 4; k++) {
        cr_assert_eq(codec_read_str(r, &s, &len), 0);
        expect_str(s, len, keys[k]);
        if (k < 2) {
            cr_assert_eq(codec_read_int64(r, &i), 0);
            cr_assert_eq(i, k == 0 ? code : primary, "%s", keys[k]);
        } else {
            cr_assert_eq(codec_read_str(r, &s, &len), 0);
            expect_str(s, len, k == 2 ? name : message);
        }
    }
}

Test(rpc, error_object_layout)
{
    struct codec_buf b;
    struct codec_reader r;

    codec_buf_init(&b, 0);
    rpc_pack_error(&b, 2067, "dup");
    rpc_pack_error(&b, SQLITED_TIMEOUT, "too slow");
    rpc_pack_error(&b, 101, NULL);
    cr_assert_eq(b.error, CODEC_BUF_OK);
    codec_reader_init(&r, b.data, b.len);
    expect_error_object(&r, 2067, 19, "SQLITE_CONSTRAINT_UNIQUE", "dup");
    expect_error_object(&r, -1005, -1005, "SQLITED_TIMEOUT", "too slow");
    expect_error_object(&r, 101, 101, "SQLITE_DONE", "no more rows available");
    cr_assert(codec_at_end(&r));
    codec_buf_close(&b);
}

Test(rpc, error_notification)
{
    struct codec_buf b;
    struct rpc_message m;
    bool has_msgid;
    const char *why;
    int code;

    codec_buf_init(&b, 0);
    rpc_pack_error_notification(&b, SQLITED_TOO_LARGE,
                                "message exceeds the limit of 64 bytes");
    cr_assert_eq(parse(&b, &m, &has_msgid, &why), 0);
    cr_assert_eq(m.kind, RPC_NOTIFICATION);
    expect_str(m.method, m.method_len, "error");
    cr_assert_eq(m.nparams, 1);
    expect_error_object(&m.params, SQLITED_TOO_LARGE, SQLITED_TOO_LARGE,
                        "SQLITED_TOO_LARGE",
                        "message exceeds the limit of 64 bytes");
    cr_assert(codec_at_end(&m.params));
    codec_buf_close(&b);

    /* And through rpc_read_error(). */
    codec_buf_init(&b, 0);
    rpc_pack_error_notification(&b, SQLITED_PROTOCOL, "bad");
    cr_assert_eq(parse(&b, &m, &has_msgid, &why), 0);
    cr_assert_eq(rpc_read_error(&m.params, &code, NULL, NULL, NULL, NULL), 0);
    cr_assert_eq(code, SQLITED_PROTOCOL);
    codec_buf_close(&b);
}

Test(rpc, read_error_needs_an_integer_code_and_skips_unknown_keys)
{
    struct codec_reader r;
    const char *name, *message;
    uint32_t name_len, message_len;
    int code = 0;

    /* {"extra": [1, {"x": 2}], 7: nil, "code": -2, "name": 3} */
    codec_reader_init(&r, BYTES("\x84\xa5"
                                "extra\x92\x01\x81\xa1x\x02\x07\xc0"
                                "\xa4"
                                "code\xfe\xa4name\x03"));
    cr_assert_eq(
        rpc_read_error(&r, &code, &name, &name_len, &message, &message_len), 0);
    cr_assert_eq(code, -2);
    cr_assert_null(name, "a name that is not a string is absent");
    cr_assert_eq(name_len, 0);
    cr_assert_null(message);
    cr_assert_eq(message_len, 0);
    cr_assert(codec_at_end(&r));

    /* No code, a code that is not an integer, not a map, truncated. */
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {BYTES("\x81\xa4name\xa1x")},
        {BYTES("\x81\xa4"
               "code\xa1x")},
        {BYTES("\x81\xa4"
               "code\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00")},
        {BYTES("\x81\xa4"
               "code\xcf\x00\x00\x00\x01\x00\x00\x00\x00")},
        {BYTES("\x91\x01")},
        {BYTES("\xc0")},
        {BYTES("\x82\xa4"
               "code\x01")},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        codec_reader_init(&r, bad[i].bytes, bad[i].len);
        cr_assert_eq(rpc_read_error(&r, &code, NULL, NULL, NULL, NULL), -1,
                     "case %zu", i);
        cr_assert_eq((const char *)r.p, bad[i].bytes, "case %zu moved", i);
    }
}

Test(rpc, code_names_and_texts)
{
    cr_assert_str_eq(rpc_code_name(2067), "SQLITE_CONSTRAINT_UNIQUE");
    cr_assert_str_eq(rpc_code_text(2067), "constraint failed");
    cr_assert_str_eq(rpc_code_name(19), "SQLITE_CONSTRAINT");
    cr_assert_str_eq(rpc_code_name(0), "SQLITE_OK");
    cr_assert_str_eq(rpc_code_name(100), "SQLITE_ROW");
    cr_assert_str_eq(rpc_code_text(100), "another row available");
    cr_assert_str_eq(rpc_code_name(516), "SQLITE_ABORT_ROLLBACK");
    cr_assert_str_eq(rpc_code_text(516), "abort due to ROLLBACK");
    cr_assert_str_eq(rpc_code_name(SQLITED_TIMEOUT), "SQLITED_TIMEOUT");
    cr_assert_str_eq(rpc_code_text(SQLITED_TIMEOUT), "request deadline passed");
    cr_assert_str_eq(rpc_code_name(-ECONNREFUSED), "ECONNREFUSED");
    cr_assert_str_eq(rpc_code_text(-ECONNREFUSED), "Connection refused");
    cr_assert_str_eq(rpc_code_name(-ENOMEM), "ENOMEM");
    cr_assert_str_eq(rpc_code_name(123456), "UNKNOWN");
    cr_assert_str_eq(rpc_code_text(123456), "unknown error");
    cr_assert_str_eq(rpc_code_name(-999), "UNKNOWN");
    cr_assert_str_eq(rpc_code_name(-1500), "UNKNOWN");
    cr_assert_str_eq(rpc_code_name(INT_MIN), "UNKNOWN");
    cr_assert_str_eq(rpc_code_text(INT_MIN), "unknown error");
    cr_assert_str_eq(rpc_code_name(29), "UNKNOWN");
    cr_assert_str_eq(rpc_code_name(19 | (13 << 8)), "UNKNOWN");
}

Test(rpc, every_sqlited_code_has_its_name_and_text)
{
#define CHECK_SQLITED(name, value, text)                                       \
    cr_assert_str_eq(rpc_code_name(value), "SQLITED_" #name);                  \
    cr_assert_str_eq(rpc_code_text(value), text);
    SQLITED_ERRNO_MAP(CHECK_SQLITED)
#undef CHECK_SQLITED
}

/* Every result code sqlite3.h (3.40) defines, spelled with its macros so
 * that names and values come from SQLite itself. */
#define SQLITE_CODES(X)                                                        \
    X(SQLITE_OK)                                                               \
    X(SQLITE_ERROR)                                                            \
    X(SQLITE_INTERNAL)                                                         \
    X(SQLITE_PERM)                                                             \
    X(SQLITE_ABORT)                                                            \
    X(SQLITE_BUSY)                                                             \
    X(SQLITE_LOCKED)                                                           \
    X(SQLITE_NOMEM)                                                            \
    X(SQLITE_READONLY)                                                         \
    X(SQLITE_INTERRUPT)                                                        \
    X(SQLITE_IOERR)                                                            \
    X(SQLITE_CORRUPT)                                                          \
    X(SQLITE_NOTFOUND)                                                         \
    X(SQLITE_FULL)                                                             \
    X(SQLITE_CANTOPEN)                                                         \
    X(SQLITE_PROTOCOL)                                                         \
    X(SQLITE_EMPTY)                                                            \
    X(SQLITE_SCHEMA)                                                           \
    X(SQLITE_TOOBIG)                                                           \
    X(SQLITE_CONSTRAINT)                                                       \
    X(SQLITE_MISMATCH)                                                         \
    X(SQLITE_MISUSE)                                                           \
    X(SQLITE_NOLFS)                                                            \
    X(SQLITE_AUTH)                                                             \
    X(SQLITE_FORMAT)                                                           \
    X(SQLITE_RANGE)                                                            \
    X(SQLITE_NOTADB)                                                           \
    X(SQLITE_NOTICE)                                                           \
    X(SQLITE_WARNING)                                                          \
    X(SQLITE_ROW)                                                              \
    X(SQLITE_DONE)                                                             \
    X(SQLITE_ERROR_MISSING_COLLSEQ)                                            \
    X(SQLITE_ERROR_RETRY)                                                      \
    X(SQLITE_ERROR_SNAPSHOT)                                                   \
    X(SQLITE_IOERR_READ)                                                       \
    X(SQLITE_IOERR_SHORT_READ)                                                 \
    X(SQLITE_IOERR_WRITE)                                                      \
    X(SQLITE_IOERR_FSYNC)                                                      \
    X(SQLITE_IOERR_DIR_FSYNC)                                                  \
    X(SQLITE_IOERR_TRUNCATE)                                                   \
    X(SQLITE_IOERR_FSTAT)                                                      \
    X(SQLITE_IOERR_UNLOCK)                                                     \
    X(SQLITE_IOERR_RDLOCK)                                                     \
    X(SQLITE_IOERR_DELETE)                                                     \
    X(SQLITE_IOERR_BLOCKED)                                                    \
    X(SQLITE_IOERR_NOMEM)                                                      \
    X(SQLITE_IOERR_ACCESS)                                                     \
    X(SQLITE_IOERR_CHECKRESERVEDLOCK)                                          \
    X(SQLITE_IOERR_LOCK)                                                       \
    X(SQLITE_IOERR_CLOSE)                                                      \
    X(SQLITE_IOERR_DIR_CLOSE)                                                  \
    X(SQLITE_IOERR_SHMOPEN)                                                    \
    X(SQLITE_IOERR_SHMSIZE)                                                    \
    X(SQLITE_IOERR_SHMLOCK)                                                    \
    X(SQLITE_IOERR_SHMMAP)                                                     \
    X(SQLITE_IOERR_SEEK)                                                       \
    X(SQLITE_IOERR_DELETE_NOENT)                                               \
    X(SQLITE_IOERR_MMAP)                                                       \
    X(SQLITE_IOERR_GETTEMPPATH)                                                \
    X(SQLITE_IOERR_CONVPATH)                                                   \
    X(SQLITE_IOERR_VNODE)                                                      \
    X(SQLITE_IOERR_AUTH)                                                       \
    X(SQLITE_IOERR_BEGIN_ATOMIC)                                               \
    X(SQLITE_IOERR_COMMIT_ATOMIC)                                              \
    X(SQLITE_IOERR_ROLLBACK_ATOMIC)                                            \
    X(SQLITE_IOERR_DATA)                                                       \
    X(SQLITE_IOERR_CORRUPTFS)                                                  \
    X(SQLITE_LOCKED_SHAREDCACHE)                                               \
    X(SQLITE_LOCKED_VTAB)                                                      \
    X(SQLITE_BUSY_RECOVERY)                                                    \
    X(SQLITE_BUSY_SNAPSHOT)                                                    \
    X(SQLITE_BUSY_TIMEOUT)                                                     \
    X(SQLITE_CANTOPEN_NOTEMPDIR)                                               \
    X(SQLITE_CANTOPEN_ISDIR)                                                   \
    X(SQLITE_CANTOPEN_FULLPATH)                                                \
    X(SQLITE_CANTOPEN_CONVPATH)                                                \
    X(SQLITE_CANTOPEN_DIRTYWAL)                                                \
    X(SQLITE_CANTOPEN_SYMLINK)                                                 \
    X(SQLITE_CORRUPT_VTAB)                                                     \
    X(SQLITE_CORRUPT_SEQUENCE)                                                 \
    X(SQLITE_CORRUPT_INDEX)                                                    \
    X(SQLITE_READONLY_RECOVERY)                                                \
    X(SQLITE_READONLY_CANTLOCK)                                                \
    X(SQLITE_READONLY_ROLLBACK)                                                \
    X(SQLITE_READONLY_DBMOVED)                                                 \
    X(SQLITE_READONLY_CANTINIT)                                                \
    X(SQLITE_READONLY_DIRECTORY)                                               \
    X(SQLITE_ABORT_ROLLBACK)                                                   \
    X(SQLITE_CONSTRAINT_CHECK)                                                 \
    X(SQLITE_CONSTRAINT_COMMITHOOK)                                            \
    X(SQLITE_CONSTRAINT_FOREIGNKEY)                                            \
    X(SQLITE_CONSTRAINT_FUNCTION)                                              \
    X(SQLITE_CONSTRAINT_NOTNULL)                                               \
    X(SQLITE_CONSTRAINT_PRIMARYKEY)                                            \
    X(SQLITE_CONSTRAINT_TRIGGER)                                               \
    X(SQLITE_CONSTRAINT_UNIQUE)                                                \
    X(SQLITE_CONSTRAINT_VTAB)                                                  \
    X(SQLITE_CONSTRAINT_ROWID)                                                 \
    X(SQLITE_CONSTRAINT_PINNED)                                                \
    X(SQLITE_CONSTRAINT_DATATYPE)                                              \
    X(SQLITE_NOTICE_RECOVER_WAL)                                               \
    X(SQLITE_NOTICE_RECOVER_ROLLBACK)                                          \
    X(SQLITE_WARNING_AUTOINDEX)                                                \
    X(SQLITE_AUTH_USER)                                                        \
    X(SQLITE_OK_LOAD_PERMANENTLY)                                              \
    X(SQLITE_OK_SYMLINK)

static const struct {
    const char *name;
    int code;
} sqlite_codes[] = {
#define SQLITE_CODE(c) {#c, c},
    SQLITE_CODES(SQLITE_CODE)
#undef SQLITE_CODE
};

Test(rpc, sqlite_codes_match_sqlite3_errstr)
{
    size_t count = sizeof(sqlite_codes) / sizeof(sqlite_codes[0]);
    size_t known = 0;

    cr_assert_eq(count, 106);
    for (size_t i = 0; i < count; i++) {
        int code = sqlite_codes[i].code;

        cr_assert_str_eq(rpc_code_name(code), sqlite_codes[i].name);
        cr_assert_str_eq(rpc_code_text(code), sqlite3_errstr(code), "%s",
                         sqlite_codes[i].name);
    }
    /* The same set: no other code in the range of extended codes has a
     * name. */
    for (int code = 0; code < 1 << 16; code++)
        if (strcmp(rpc_code_name(code), "UNKNOWN") != 0)
            known++;
    cr_assert_eq(known, count);
}

Test(rpc, method_lookup)
{
    static const struct {
        enum rpc_method id;
        const char *name;
    } methods[] = {
#define METHOD(id, name) {RPC_##id, name},
        RPC_METHODS(METHOD)
#undef METHOD
    };
    size_t count = sizeof(methods) / sizeof(methods[0]);

    cr_assert_eq(count, RPC_METHOD_COUNT);
    for (size_t i = 0; i < count; i++) {
        cr_assert_eq(
            rpc_method_lookup(methods[i].name, strlen(methods[i].name)),
            methods[i].id, "%s", methods[i].name);
        cr_assert_str_eq(rpc_method_name(methods[i].id), methods[i].name);
    }
    cr_assert_eq(rpc_method_lookup("query", 5), RPC_QUERY);
    cr_assert_eq(rpc_method_lookup("nope", 4), RPC_METHOD_COUNT);
    cr_assert_eq(rpc_method_lookup("pin", 3), RPC_METHOD_COUNT);
    cr_assert_eq(rpc_method_lookup("pingx", 5), RPC_METHOD_COUNT);
    cr_assert_eq(rpc_method_lookup("PING", 4), RPC_METHOD_COUNT);
    cr_assert_eq(rpc_method_lookup("", 0), RPC_METHOD_COUNT);
    /* Not NUL-terminated: only the given length counts. */
    cr_assert_eq(rpc_method_lookup("pingpong", 4), RPC_PING);
    cr_assert_str_eq(rpc_method_name(RPC_METHOD_COUNT), "unknown");
}
