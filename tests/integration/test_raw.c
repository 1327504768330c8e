/* The wire protocol byte by byte, with no libsqlited in between: what
 * PROTOCOL.md promises any MessagePack-RPC client. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw conn;

static void setup(void)
{
    daemon_start(&d, NULL);
    harness_raw_open(&conn, &d);
}

static void teardown(void)
{
    harness_raw_close(&conn);
    daemon_cleanup(&d);
}

TestSuite(raw, .init = setup, .fini = teardown, .timeout = 60);

#define SEND(literal) harness_send(conn.fd, literal, sizeof(literal) - 1)

/* Reads one message and requires it to be exactly @want. */
static void expect_bytes_n(const char *want, size_t want_len)
{
    char *msg = NULL;
    size_t len = 0;
    int rc = harness_read_message(&conn.r, HARNESS_IO_TIMEOUT_MS, &msg, &len);
    cr_assert_eq(rc, 1, "no message: %d", rc);
    char *got_hex = harness_hex(msg, len),
         *want_hex = harness_hex(want, want_len);
    cr_assert(len == want_len && memcmp(msg, want, len) == 0,
              "got      %s\nexpected %s", got_hex, want_hex);
    free(got_hex);
    free(want_hex);
    free(msg);
}

/* The next message must be exactly the bytes of string @literal. */
#define expect_bytes(literal) expect_bytes_n(literal, sizeof(literal) - 1)

/* A ping on the suite's connection answers exactly [1, 99, nil, "pong"]. */
static void assert_ping_works(void)
{
    SEND("\x94\x00\x63\xa4ping\x90"); /* [0, 99, "ping", []] */
    expect_bytes("\x94\x01\x63\xc0\xa4pong");
}

/* Reads an error response to @msgid with @code, @name and @text in its
 * message. */
static void expect_error(uint32_t msgid, int code, const char *name,
                         const char *text)
{
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.kind, 1,
                 "expected a response, got a notification "
                 "(%s: %s)",
                 rep.name, rep.message);
    cr_assert_eq(rep.msgid, msgid);
    cr_assert(rep.is_error, "expected an error");
    cr_assert_eq(rep.code, code, "code %lld (%s: %s)", (long long)rep.code,
                 rep.name, rep.message);
    cr_assert(rep.has_primary, "the error has no primary code");
    cr_assert_eq(rep.primary, code < 0 ? code : (code & 0xff));
    cr_assert_str_eq(rep.name, name);
    cr_assert_not_null(strstr(rep.message, text), "message '%s' lacks '%s'",
                       rep.message, text);
    reply_free(&rep);
}

/* Reads an error notification [2, "error", [{...}]]. */
static void expect_notification(int code, const char *name)
{
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.kind, 2,
                 "expected a notification, got a response to "
                 "%u",
                 rep.msgid);
    cr_assert_str_eq(rep.method, "error");
    cr_assert(rep.is_error);
    cr_assert_eq(rep.code, code, "code %lld (%s: %s)", (long long)rep.code,
                 rep.name, rep.message);
    cr_assert_eq(rep.primary, code);
    cr_assert_str_eq(rep.name, name);
    cr_assert_str_neq(rep.message, "", "the notification has no message");
    reply_free(&rep);
}

static void assert_closed_by_daemon(void)
{
    cr_assert(harness_read_eof(&conn.r, HARNESS_IO_TIMEOUT_MS),
              "the daemon did not close the connection");
}

/* ------------------------------------------------------------ the methods */

Test(raw, hello)
{
    SEND("\x94\x00\x01\xa5hello\x90"); /* [0, 1, "hello", []] */
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.kind, 1);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "%s", rep.message);
    /* The first three bytes: a 4-array, type 1, msgid 1, nil error. */
    cr_assert_eq(memcmp(rep.msg, "\x94\x01\x01\xc0", 4), 0);

    struct codec_reader v;
    int64_t i;
    cr_assert(harness_map_find(rep.result, "server", &v));
    cr_assert(harness_read_str_eq(&v, "sqlited"));
    cr_assert(harness_map_find(rep.result, "version", &v));
    cr_assert(harness_read_str_eq(&v, SQLITED_VERSION));
    cr_assert(harness_map_find(rep.result, "protocol", &v));
    cr_assert_eq(codec_read_int64(&v, &i), 0);
    cr_assert_eq(i, 1);
    cr_assert(harness_map_find(rep.result, "sqlite_version", &v));
    cr_assert(harness_read_str_eq(&v, sqlite3_libversion()));

    struct codec_reader limits;
    cr_assert(harness_map_find(rep.result, "limits", &limits));
    static const struct {
        const char *key;
        int64_t value;
    } want[] = {
        {"max_message_size", 67108864}, {"max_depth", 16},
        {"max_items", 1048576},         {"max_sql_length", 16777216},
        {"max_params", 32766},          {"max_timeout_ms", 300000},
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        cr_assert(harness_map_find(limits, want[k].key, &v), "no limit %s",
                  want[k].key);
        cr_assert_eq(codec_read_int64(&v, &i), 0);
        cr_assert_eq(i, want[k].value, "%s is %lld", want[k].key, (long long)i);
    }
    reply_free(&rep);
}

Test(raw, ping)
{
    SEND("\x94\x00\x02\xa4ping\x90");
    expect_bytes("\x94\x01\x02\xc0\xa4pong");
}

/* msgid is echoed whatever its encoding, over its whole range. */
Test(raw, msgid_range)
{
    SEND("\x94\x00\x00\xa4ping\x90");
    expect_bytes("\x94\x01\x00\xc0\xa4pong");
    SEND("\x94\x00\xce\xff\xff\xff\xff\xa4ping\x90"); /* 2^32 - 1 */
    expect_bytes("\x94\x01\xce\xff\xff\xff\xff\xc0\xa4pong");
    /* 300 as uint16 and as a needlessly wide uint64: the daemon answers
     * with the shortest encoding. */
    SEND("\x94\x00\xcd\x01\x2c\xa4ping\x90");
    expect_bytes("\x94\x01\xcd\x01\x2c\xc0\xa4pong");
    SEND("\x94\x00\xcf\x00\x00\x00\x00\x00\x00\x01\x2c\xa4ping\x90");
    expect_bytes("\x94\x01\xcd\x01\x2c\xc0\xa4pong");
}

/* The session of PROTOCOL.md, byte for byte. */
Test(raw, query_with_params)
{
    /* [0, 2, "query", ["select ?", [42]]] */
    SEND("\x94\x00\x02\xa5query\x92\xa8select ?\x91\x2a");
    char *msg = NULL;
    size_t len = 0;
    cr_assert_eq(
        harness_read_message(&conn.r, HARNESS_IO_TIMEOUT_MS, &msg, &len), 1);
    /* [1, 2, nil, {"columns": ["?"], "rows": [[42]]}], with the rows
     * header in either of its encodings. (SQLite names the column of a bare
     * parameter "?"; PROTOCOL.md's example shows "select ?".) */
    static const char head[] = "\x94\x01\x02\xc0\x82\xa7"
                               "columns\x91\xa1?\xa4rows";
    size_t hl = sizeof(head) - 1;
    char *hex = harness_hex(msg, len);
    cr_assert(len > hl && memcmp(msg, head, hl) == 0, "got %s", hex);
    const char *rest = msg + hl;
    size_t rest_len = len - hl;
    bool short_form = rest_len == 3 && memcmp(rest, "\x91\x91\x2a", 3) == 0;
    bool long_form =
        rest_len == 7 && memcmp(rest, "\xdd\x00\x00\x00\x01\x91\x2a", 7) == 0;
    cr_assert(short_form || long_form, "got %s", hex);
    free(hex);
    free(msg);
}

Test(raw, query_named_params)
{
    /* [0, 4, "query", ["select :a * 10 + :b", {"a": 1, ":b": 2}]] */
    harness_pack_request(&conn.b, 4, "query", 2);
    codec_pack_cstr(&conn.b, "select :a * 10 + :b AS n");
    msgpack_pack_map(&conn.b.pk, 2);
    codec_pack_cstr(&conn.b, "a");
    msgpack_pack_int(&conn.b.pk, 1);
    codec_pack_cstr(&conn.b, ":b");
    msgpack_pack_int(&conn.b.pk, 2);
    harness_send_buf(conn.fd, &conn.b);

    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 4);
    cr_assert_not(rep.is_error, "%s", rep.message);
    struct codec_reader v;
    uint32_t n;
    cr_assert(harness_map_find(rep.result, "columns", &v));
    cr_assert_eq(codec_read_array(&v, &n), 0);
    cr_assert_eq(n, 1);
    cr_assert(harness_read_str_eq(&v, "n"));
    cr_assert_eq(harness_reply_int(&rep), 12);
    reply_free(&rep);
}

/* A REAL is always a float 64, so 1.0 stays a float; a float 32 parameter
 * is accepted. */
Test(raw, floats)
{
    /* [0, 5, "query", ["select 1.0, ?", [1.5f]]] */
    SEND("\x94\x00\x05\xa5query\x92\xadselect 1.0, ?\x91\xca\x3f\xc0\x00\x00");
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_not(rep.is_error, "%s", rep.message);
    uint32_t nrows, ncols;
    struct codec_reader row = harness_reply_rows(&rep, &nrows, &ncols);
    cr_assert_eq(ncols, 2);
    cr_assert_eq(memcmp(row.p, "\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", 9), 0,
                 "1.0 not sent as float 64: %s", harness_hex(row.p, 9));
    cr_assert_eq(memcmp(row.p + 9, "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 9),
                 0, "1.5 not sent as float 64: %s", harness_hex(row.p + 9, 9));
    reply_free(&rep);
}

Test(raw, exec_result)
{
    /* [0, 3, "exec", ["CREATE TABLE t(a)"]] */
    SEND("\x94\x00\x03\xa4"
         "exec\x91\xb1"
         "CREATE TABLE t(a)");
    expect_bytes("\x94\x01\x03\xc0\x82\xa7"
                 "changes\x00\xb1last_insert_rowid\x00");
    /* [0, 4, "exec", ["INSERT INTO t VALUES (?), (?)", [nil, "x"]]] */
    SEND("\x94\x00\x04\xa4"
         "exec\x92\xbdINSERT INTO t VALUES (?), (?)"
         "\x92\xc0\xa1x");
    expect_bytes("\x94\x01\x04\xc0\x82\xa7"
                 "changes\x02\xb1last_insert_rowid\x02");
}

/* Params may be absent or nil when the statement has none; options may be
 * nil or an empty map. */
Test(raw, optional_params_and_options)
{
    harness_pack_request(&conn.b, 1, "query", 2);
    codec_pack_cstr(&conn.b, "SELECT 1");
    msgpack_pack_nil(&conn.b.pk);
    harness_pack_request(&conn.b, 2, "query", 3);
    codec_pack_cstr(&conn.b, "SELECT 1");
    msgpack_pack_nil(&conn.b.pk);
    msgpack_pack_nil(&conn.b.pk);
    harness_pack_request(&conn.b, 3, "query", 3);
    codec_pack_cstr(&conn.b, "SELECT 1");
    msgpack_pack_array(&conn.b.pk, 0);
    msgpack_pack_map(&conn.b.pk, 0);
    harness_send_buf(conn.fd, &conn.b);
    bool seen[4] = {false};
    for (int i = 0; i < 3; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert(rep.msgid >= 1 && rep.msgid <= 3 && !seen[rep.msgid]);
        seen[rep.msgid] = true;
        cr_assert_not(rep.is_error, "msgid %u: %s: %s", rep.msgid, rep.name,
                      rep.message);
        reply_free(&rep);
    }
}

/* The error object of a SQLite error: extended code, primary code, name. */
Test(raw, sqlite_error_object)
{
    harness_pack_sql(&conn.b, 6, "exec",
                     "CREATE TABLE u(a UNIQUE); INSERT INTO u VALUES (1)");
    harness_send_buf(conn.fd, &conn.b);
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_not(rep.is_error, "%s", rep.message);
    reply_free(&rep);
    harness_pack_sql(&conn.b, 7, "exec", "INSERT INTO u VALUES (1)");
    harness_send_buf(conn.fd, &conn.b);
    expect_error(7, 2067, "SQLITE_CONSTRAINT_UNIQUE",
                 "UNIQUE constraint failed: u.a");
}

/* Two requests in one write, and one request in many writes. */
Test(raw, framing_across_writes)
{
    SEND("\x94\x00\x01\xa4ping\x90\x94\x00\x02\xa4ping\x90");
    expect_bytes("\x94\x01\x01\xc0\xa4pong");
    expect_bytes("\x94\x01\x02\xc0\xa4pong");
    static const char q[] = "\x94\x00\x03\xa5query\x91\xa8select 9";
    for (size_t i = 0; i < sizeof(q) - 1; i++)
        harness_send(conn.fd, q + i, 1);
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 3);
    cr_assert_not(rep.is_error, "%s", rep.message);
    reply_free(&rep);
}

/* A client that shuts down its writing side still gets its answers. */
Test(raw, half_closed_client_gets_answers)
{
    SEND("\x94\x00\x01\xa5query\x91\xa8select 9\x94\x00\x02\xa4ping\x90");
    cr_assert_eq(shutdown(conn.fd, SHUT_WR), 0);
    bool seen[3] = {false};
    for (int i = 0; i < 2; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert(rep.msgid == 1 || rep.msgid == 2);
        cr_assert_not(seen[rep.msgid]);
        seen[rep.msgid] = true;
        cr_assert_not(rep.is_error, "%s", rep.message);
        reply_free(&rep);
    }
    assert_closed_by_daemon();
}

/* -------------------------------------------------------- bad requests */

Test(raw, unknown_method)
{
    SEND("\x94\x00\x07\xa4nope\x90");
    expect_error(7, -1001, "SQLITED_UNKNOWN_METHOD", "nope");
    assert_ping_works();
}

Test(raw, params_not_an_array)
{
    /* [0, 8, "query", "select 1"] */
    SEND("\x94\x00\x08\xa5query\xa8select 1");
    expect_error(8, -1000, "SQLITED_BAD_REQUEST", "");
    assert_ping_works();
}

/* A request of the wrong size still gets its error by msgid. */
Test(raw, request_of_three_elements)
{
    SEND("\x93\x00\x09\xa4ping");
    expect_error(9, -1000, "SQLITED_BAD_REQUEST", "4");
    assert_ping_works();
}

/* Without a usable msgid, the error comes as a notification. */
Test(raw, request_without_a_msgid)
{
    SEND("\x94\x00\xa1x\xa4ping\x90"); /* msgid is a string */
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    SEND("\x94\x00\xff\xa4ping\x90"); /* msgid -1 */
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    SEND("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa4ping\x90"); /* 2^32 */
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    assert_ping_works();
}

Test(raw, message_not_an_array)
{
    SEND("\x05");
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    SEND("\xa3"
         "abc");
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    SEND("\x90");
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    SEND("\x80");
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    assert_ping_works();
}

Test(raw, unknown_message_type)
{
    SEND("\x94\x07\x01\xa4ping\x90");
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert(rep.is_error);
    cr_assert_eq(rep.code, -1000);
    cr_assert_str_eq(rep.name, "SQLITED_BAD_REQUEST");
    reply_free(&rep);
    assert_ping_works();
}

/* The daemon takes no notifications or responses from clients. */
Test(raw, notification_and_response_from_client)
{
    SEND("\x93\x02\xa4ping\x90");
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    SEND("\x94\x01\x01\xc0\xc0");
    expect_notification(-1000, "SQLITED_BAD_REQUEST");
    assert_ping_works();
}

Test(raw, hello_and_ping_take_no_params)
{
    SEND("\x94\x00\x01\xa5hello\x91\x01");
    expect_error(1, -1000, "SQLITED_BAD_REQUEST", "");
    SEND("\x94\x00\x02\xa4ping\x91\x01");
    expect_error(2, -1000, "SQLITED_BAD_REQUEST", "");
    assert_ping_works();
}

Test(raw, wrong_query_params)
{
    SEND("\x94\x00\x01\xa5query\x90"); /* no sql */
    expect_error(1, -1000, "SQLITED_BAD_REQUEST", "");
    SEND("\x94\x00\x02\xa5query\x91\x05"); /* sql is an int */
    expect_error(2, -1000, "SQLITED_BAD_REQUEST", "sql");
    SEND("\x94\x00\x03\xa4"
         "exec\x94\xa1x\xc0\xc0\xc0"); /* four params */
    expect_error(3, -1000, "SQLITED_BAD_REQUEST", "");
    SEND("\x94\x00\x04\xa5query\x92\xa8select ?\x05"); /* params an int */
    expect_error(4, -1000, "SQLITED_BAD_REQUEST", "");
    SEND("\x94\x00\x05\xa5query\x92\xa8select ?\x81\x01\x02"); /* int key */
    expect_error(5, -1000, "SQLITED_BAD_REQUEST", "");
    SEND("\x94\x00\x06\xa5query\x93\xa8select 1\xc0\x05"); /* options int */
    expect_error(6, -1000, "SQLITED_BAD_REQUEST", "");
    assert_ping_works();
}

Test(raw, invalid_utf8_in_sql)
{
    SEND("\x94\x00\x0b\xa5query\x91\xaaselect '\xff'");
    expect_error(11, -1000, "SQLITED_BAD_REQUEST", "UTF-8");
    /* An overlong encoding and a lone surrogate are not UTF-8 either. */
    SEND("\x94\x00\x0c\xa5query\x91\xabselect '\xc0\xaf'");
    expect_error(12, -1000, "SQLITED_BAD_REQUEST", "UTF-8");
    SEND("\x94\x00\x0d\xa5query\x91\xacselect '\xed\xa0\x80'");
    expect_error(13, -1000, "SQLITED_BAD_REQUEST", "UTF-8");
    assert_ping_works();
}

/* SQLite stops reading SQL at a NUL byte: what follows would be skipped in
 * silence, so the daemon refuses such text and runs none of it. */
Test(raw, nul_byte_in_sql)
{
    SEND("\x94\x00\x0b\xa4"
         "exec\x91\xb8"
         "create table t(x)\x00; drop");
    expect_error(11, -1000, "SQLITED_BAD_REQUEST", "NUL byte");
    SEND("\x94\x00\x0c\xa5query\x91\xabselect 1\x00;x");
    expect_error(12, -1000, "SQLITED_BAD_REQUEST", "NUL byte");
    assert_ping_works();
}

Test(raw, invalid_utf8_in_a_text_param)
{
    SEND("\x94\x00\x0e\xa5query\x92\xa8select ?\x91\xa2\xc3\x28");
    expect_error(14, -1000, "SQLITED_BAD_REQUEST", "UTF-8");
    /* The same bytes as bin are fine. */
    SEND("\x94\x00\x0f\xa5query\x92\xa8select ?\x91\xc4\x02\xc3\x28");
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 15);
    cr_assert_not(rep.is_error, "%s", rep.message);
    reply_free(&rep);
}

Test(raw, uint64_above_int64_max)
{
    SEND("\x94\x00\x10\xa5query\x92\xa8select ?"
         "\x91\xcf\x80\x00\x00\x00\x00\x00\x00\x00");
    expect_error(16, -1000, "SQLITED_BAD_REQUEST", "2^63");
    SEND("\x94\x00\x11\xa5query\x92\xa8select ?"
         "\x91\xcf\xff\xff\xff\xff\xff\xff\xff\xff");
    expect_error(17, -1000, "SQLITED_BAD_REQUEST", "2^63");
    /* INT64_MAX itself, sent as a uint64, is fine. */
    SEND("\x94\x00\x12\xa5query\x92\xa8select ?"
         "\x91\xcf\x7f\xff\xff\xff\xff\xff\xff\xff");
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 18);
    cr_assert_not(rep.is_error, "%s", rep.message);
    cr_assert_eq(harness_reply_int(&rep), INT64_MAX);
    reply_free(&rep);
}

/* The message names the value: by its position, or by its name. */
Test(raw, container_and_ext_params_refused)
{
    static const char must[] =
        "; a value must be nil, bool, int, float, str or bin";
    SEND("\x94\x00\x13\xa5query\x92\xa8select ?\x91\x92\x01\x02");
    expect_error(19, -1000, "SQLITED_BAD_REQUEST", "parameter 1 is an array");
    SEND("\x94\x00\x14\xa5query\x92\xa8select ?\x91\x81\xa1k\x01");
    expect_error(20, -1000, "SQLITED_BAD_REQUEST", "parameter 1 is a map");
    SEND("\x94\x00\x15\xa5query\x92\xa8select ?\x91\xd4\x01\x00");
    expect_error(21, -1000, "SQLITED_BAD_REQUEST", must);
    /* Also as a named value, and past the first. */
    SEND("\x94\x00\x16\xa5query\x92\xa9select :k\x81\xa1k\x90");
    expect_error(22, -1000, "SQLITED_BAD_REQUEST",
                 "parameter 'k' is an array; a value must be nil, bool, int, "
                 "float, str or bin");
    SEND("\x94\x00\x17\xa5query\x92\xaaselect ?,?\x92\x01\xd4\x01\x00");
    expect_error(23, -1000, "SQLITED_BAD_REQUEST",
                 "parameter 2 is an extension type; a value must be nil, "
                 "bool, int, float, str or bin");
    assert_ping_works();
}

Test(raw, unknown_option)
{
    harness_pack_request(&conn.b, 23, "query", 3);
    codec_pack_cstr(&conn.b, "SELECT 1");
    msgpack_pack_nil(&conn.b.pk);
    msgpack_pack_map(&conn.b.pk, 1);
    codec_pack_cstr(&conn.b, "timeout");
    msgpack_pack_int(&conn.b.pk, 5);
    harness_send_buf(conn.fd, &conn.b);
    expect_error(23, -1000, "SQLITED_BAD_REQUEST", "unknown option 'timeout'");
    assert_ping_works();
}

/* ---------------------------------------------------- broken framing */

Test(raw, byte_c1_closes_the_connection)
{
    SEND("\xc1");
    expect_notification(-1003, "SQLITED_PROTOCOL");
    assert_closed_by_daemon();
    /* The daemon carries on. */
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
}

/* Requests before the broken byte are answered, then the notification. */
Test(raw, requests_before_a_bad_byte_are_answered)
{
    SEND("\x94\x00\x01\xa4ping\x90\xc1\x94\x00\x02\xa4ping\x90");
    expect_bytes("\x94\x01\x01\xc0\xa4pong");
    expect_notification(-1003, "SQLITED_PROTOCOL");
    assert_closed_by_daemon();
}

/* A 5-byte message that declares 16 M elements: refused at once, without
 * the daemon allocating for them; other clients are served. */
Test(raw, huge_array_header)
{
    sqlited *other = harness_connect(&d);
    long rss_before = harness_rss_kb(d.pid);
    /* Not VmSize: a new malloc arena, which a thread may get whenever it
     * meets another in malloc (more often under load), takes 64 MiB of
     * address space without making it usable (harness_usable_kb()). */
    long usable_before = harness_usable_kb(d.pid);
    cr_assert_gt(rss_before, 0);
    SEND("\xdd\x01\x00\x00\x00");
    expect_notification(-1002, "SQLITED_TOO_LARGE");
    assert_closed_by_daemon();
    long rss_after = harness_rss_kb(d.pid);
    long usable_after = harness_usable_kb(d.pid);
    cr_assert_lt(rss_after - rss_before, 32 * 1024,
                 "RSS grew from %ld to %ld KiB", rss_before, rss_after);
    cr_assert_lt(usable_after - usable_before, 48 * 1024,
                 "usable address space grew from %ld to %ld KiB", usable_before,
                 usable_after);
    cr_assert_eq(sqlited_ping(other), 0);
    cr_assert_eq(harness_query_int(other, "SELECT 3"), 3);
    sqlited_close(other);
    sqlited *fresh = harness_connect(&d);
    cr_assert_eq(sqlited_ping(fresh), 0);
    sqlited_close(fresh);
}

/* Headers within the limits that declare far more than was sent: the
 * daemon waits for the bytes without reserving memory for them. */
Test(raw, large_declared_lengths_allocate_nothing)
{
    long rss_before = harness_rss_kb(d.pid);
    long usable_before = harness_usable_kb(d.pid);
    /* A ping first, in the same write: its answer shows the daemon has read
     * the header after it. */
    SEND("\x94\x00\x01\xa4ping\x90\xdd\x00\x0f\xff\xff");
    expect_bytes("\x94\x01\x01\xc0\xa4pong");
    struct harness_raw second;
    harness_raw_open(&second, &d);
    /* A string of 60 MiB, under the 64 MiB message limit. */
    harness_send(second.fd, "\x94\x00\x01\xa4ping\x90\xdb\x03\xc0\x00\x00", 12);
    char *msg = NULL;
    size_t len;
    cr_assert_eq(
        harness_read_message(&second.r, HARNESS_IO_TIMEOUT_MS, &msg, &len), 1);
    free(msg);
    long rss_after = harness_rss_kb(d.pid);
    long usable_after = harness_usable_kb(d.pid);
    cr_assert_lt(rss_after - rss_before, 32 * 1024,
                 "RSS grew from %ld to %ld KiB", rss_before, rss_after);
    cr_assert_lt(usable_after - usable_before, 48 * 1024,
                 "usable address space grew from %ld to %ld KiB", usable_before,
                 usable_after);
    sqlited *other = harness_connect(&d);
    cr_assert_eq(harness_query_int(other, "SELECT 4"), 4);
    sqlited_close(other);
    harness_raw_close(&second);
}

Test(raw, string_over_the_message_limit)
{
    SEND("\x94\x00\x01\xa5query\x91\xdb\x05\x00\x00\x00"); /* 80 MiB */
    expect_notification(-1002, "SQLITED_TOO_LARGE");
    assert_closed_by_daemon();
}

/* Nesting up to max_depth (16) is valid framing; one level more is not. */
Test(raw, nesting_depth)
{
    /* [0, 1, "query", ["select ?", [[...[]...]]]]: the request, its params
     * and the value are 3 levels, 12 more and the innermost empty array
     * make 16. */
    harness_pack_request(&conn.b, 1, "query", 2);
    codec_pack_cstr(&conn.b, "select ?");
    msgpack_pack_array(&conn.b.pk, 1);
    for (int i = 0; i < 12; i++)
        msgpack_pack_array(&conn.b.pk, 1);
    msgpack_pack_array(&conn.b.pk, 0);
    harness_send_buf(conn.fd, &conn.b);
    expect_error(1, -1000, "SQLITED_BAD_REQUEST", "array");
    assert_ping_works();

    /* Depth 17. */
    harness_pack_request(&conn.b, 2, "query", 2);
    codec_pack_cstr(&conn.b, "select ?");
    msgpack_pack_array(&conn.b.pk, 1);
    for (int i = 0; i < 13; i++)
        msgpack_pack_array(&conn.b.pk, 1);
    msgpack_pack_array(&conn.b.pk, 0);
    harness_send_buf(conn.fd, &conn.b);
    expect_notification(-1002, "SQLITED_TOO_LARGE");
    assert_closed_by_daemon();
}

/* "Without parameters (params absent, nil, or empty), sql may hold several
 * statements": an empty array or map counts as no parameters. */
Test(raw, exec_script_with_empty_params)
{
    harness_pack_request(&conn.b, 1, "exec", 2);
    codec_pack_cstr(&conn.b, "CREATE TABLE a(x); CREATE TABLE b(x)");
    msgpack_pack_array(&conn.b.pk, 0);
    harness_pack_request(&conn.b, 2, "exec", 2);
    codec_pack_cstr(&conn.b,
                    "INSERT INTO a VALUES (1); INSERT INTO b VALUES (2)");
    msgpack_pack_map(&conn.b.pk, 0);
    harness_send_buf(conn.fd, &conn.b);
    for (uint32_t id = 1; id <= 2; id++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_eq(rep.msgid, id);
        cr_assert_not(rep.is_error, "msgid %u: %s: %s", id, rep.name,
                      rep.message);
        reply_free(&rep);
    }
}

/* A map key names a parameter by all its bytes: "a\0x" is not "a". */
Test(raw, param_name_with_a_nul_byte)
{
    harness_pack_request(&conn.b, 1, "query", 2);
    codec_pack_cstr(&conn.b, "SELECT :a");
    msgpack_pack_map(&conn.b.pk, 1);
    codec_pack_str(&conn.b, "a\0x", 3);
    msgpack_pack_int(&conn.b.pk, 1);
    harness_send_buf(conn.fd, &conn.b);
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert(rep.is_error, "the key \"a\\0x\" was bound to :a");
    cr_assert_eq(rep.code, SQLITE_RANGE, "%lld %s: %s", (long long)rep.code,
                 rep.name, rep.message);
    reply_free(&rep);
}

/* Values of type TEXT come back as MessagePack str, which the MessagePack
 * spec defines as UTF-8 (strict decoders, such as msgpack-python by
 * default, refuse anything else). SQLite can hold TEXT that is not UTF-8
 * (written by another program, or made with CAST): the daemon must still
 * send valid UTF-8 str, or send such values some other way. */
Test(raw, text_results_are_valid_utf8)
{
    harness_pack_sql(&conn.b, 1, "query", "SELECT CAST(x'41ff42' AS TEXT)");
    harness_send_buf(conn.fd, &conn.b);
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "%s", rep.message);
    /* PROTOCOL.md, Values: TEXT that is not UTF-8 travels as bin, byte for
     * byte, since a str must be UTF-8. */
    uint32_t nrows, ncols;
    struct codec_reader row = harness_reply_rows(&rep, &nrows, &ncols);
    struct codec_value v;
    cr_assert_eq(codec_read(&row, &v), 0);
    cr_assert_eq(v.type, CODEC_BIN, "type %d", (int)v.type);
    cr_assert_eq(v.v.s.len, 3);
    cr_assert_eq(memcmp(v.v.s.ptr, "\x41\xff\x42", 3), 0, "%s",
                 harness_hex(v.v.s.ptr, v.v.s.len));
    /* Valid UTF-8 TEXT stays a str. */
    reply_free(&rep);
    harness_pack_sql(&conn.b, 2, "query", "SELECT CAST(x'41c3a942' AS TEXT)");
    harness_send_buf(conn.fd, &conn.b);
    harness_read_reply(&conn.r, &rep);
    cr_assert_not(rep.is_error, "%s", rep.message);
    row = harness_reply_rows(&rep, &nrows, &ncols);
    cr_assert_eq(codec_read(&row, &v), 0);
    cr_assert_eq(v.type, CODEC_STR, "type %d", (int)v.type);
    cr_assert_eq(v.v.s.len, 4);
    cr_assert_eq(memcmp(v.v.s.ptr,
                        "A\xc3\xa9"
                        "B",
                        4),
                 0);
    reply_free(&rep);
    assert_ping_works();
}
