/* Deadlines and options (PROTOCOL.md, Options): a request still running at
 * its deadline is interrupted, rolled back and answered SQLITED_TIMEOUT, and
 * the daemon and the connection carry on; options are checked strictly. */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

/* Options with a deadline of @ms. */
#define WITHIN(ms)                                                             \
    (&(struct harness_options){.has_timeout = true, .timeout_ms = (ms)})

/* How long a timed-out request may take to be answered: far above its
 * deadline, only so that a daemon that ignores deadlines fails instead of
 * hanging. */
#define PROMPT_MS 5000

static struct daemon d;
static struct harness_raw conn;
static sqlited *db;

static void start(const char *const *extra_args)
{
    db = harness_start_with_raw(&d, &conn, extra_args);
    harness_exec(db, "CREATE TABLE t(x INTEGER)");
}

static void setup(void)
{
    start(NULL);
}

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &conn);
}

TestSuite(deadline, .init = setup, .fini = teardown, .timeout = 60);

/* What the error says of a request stopped while it ran: a read only that
 * it was interrupted, a write also that nothing of it was applied. */
#define READ_STOPPED "passed while it ran: the read was interrupted"
#define WRITE_STOPPED                                                          \
    "passed while it ran: it was interrupted and nothing of it was applied"

/* Reads the answer to @msgid on @c, which must be SQLITED_TIMEOUT with a
 * message that says @says, and checks it came within PROMPT_MS of
 * @sent_ms. */
static void expect_timeout(struct harness_raw *c, uint32_t msgid,
                           int64_t sent_ms, const char *says)
{
    struct reply rep;
    harness_read_reply(&c->r, &rep);
    int64_t took = harness_now_ms() - sent_ms;
    cr_assert_eq(rep.msgid, msgid);
    harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT", says);
    reply_free(&rep);
    cr_assert_lt(took, PROMPT_MS, "SQLITED_TIMEOUT came after %lld ms",
                 (long long)took);
}

/* The connection and the daemon still work. */
static void assert_carries_on(struct harness_raw *c)
{
    cr_assert_eq(harness_raw_query_int(c, "SELECT 6 * 7", NULL), 42);
    uint32_t msgid = ++c->last_msgid;
    struct reply rep;
    harness_pack_request(&c->b, msgid, "ping", 0);
    harness_raw_call(c, msgid, &rep);
    struct codec_reader res = rep.result;
    cr_assert(harness_read_str_eq(&res, "pong"));
    reply_free(&rep);
    cr_assert_eq(sqlited_ping(db), 0);
}

Test(deadline, slow_query_times_out)
{
    struct harness_stats before, after;
    harness_stats(&d, &before);
    int64_t sent = harness_now_ms();
    harness_pack_sql_options(&conn.b, 1, "query", HARNESS_ENDLESS_SQL,
                             WITHIN(200));
    harness_send_buf(conn.fd, &conn.b);
    expect_timeout(&conn, 1, sent, READ_STOPPED);
    assert_carries_on(&conn);
    harness_stats(&d, &after);
    cr_assert_eq(after.timeouts, before.timeouts + 1);
}

/* A write interrupted at its deadline applies nothing, not even its first
 * statement, and the writer goes on with the others' writes. */
Test(deadline, slow_write_times_out)
{
    struct harness_raw other;
    harness_raw_open(&other, &d);
    struct harness_stats before, after;
    harness_stats(&d, &before);
    int64_t sent = harness_now_ms();
    harness_pack_sql_options(&conn.b, 1, "exec", HARNESS_ENDLESS_WRITE,
                             WITHIN(200));
    harness_send_buf(conn.fd, &conn.b);
    /* Queued behind the slow write, without a deadline of its own. */
    harness_pack_sql(&other.b, 1, "exec", "INSERT INTO t(x) VALUES (2)");
    harness_send_buf(other.fd, &other.b);

    expect_timeout(&conn, 1, sent, WRITE_STOPPED);
    struct reply rep;
    harness_read_reply(&other.r, &rep);
    cr_assert_not(rep.is_error, "the other write: %s: %s", rep.name,
                  rep.message);
    reply_free(&rep);
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (3)", NULL);
    assert_carries_on(&conn);

    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 2);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 5);
    harness_stats(&d, &after);
    cr_assert_eq(after.timeouts, before.timeouts + 1);
    harness_raw_close(&other);
}

/* A batch whose deadline passes in one of its steps fails whole, with an
 * error that names the step. */
Test(deadline, slow_batch_step_times_out)
{
    static const char *const steps[] = {"INSERT INTO t(x) VALUES (10)",
                                        HARNESS_ENDLESS_WRITE};
    int64_t sent = harness_now_ms();
    harness_pack_batch_sql(&conn.b, 1, steps, 2, WITHIN(200));
    harness_send_buf(conn.fd, &conn.b);
    struct reply rep;
    harness_read_reply(&conn.r, &rep);
    cr_assert_lt(harness_now_ms() - sent, PROMPT_MS);
    cr_assert_eq(rep.msgid, 1);
    harness_assert_error(&rep, SQLITED_TIMEOUT, "SQLITED_TIMEOUT", "step 1: ");
    cr_assert(rep.has_step && rep.step == 1, "the error does not name step 1");
    reply_free(&rep);
    assert_carries_on(&conn);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
}

/* A write whose deadline passes while it waits (here behind an interactive
 * transaction) is answered SQLITED_TIMEOUT at its deadline and never
 * runs. */
Test(deadline, write_waiting_past_its_deadline_never_runs)
{
    teardown();
    start((const char *const[]){"--tx-idle-timeout", "60000", NULL});
    struct harness_raw holder;
    harness_raw_open(&holder, &d);
    int64_t tx = harness_raw_begin(&holder, NULL);
    harness_raw_exec(&holder, "INSERT INTO t(x) VALUES (1)",
                     &(struct harness_options){.tx = tx});

    int64_t sent = harness_now_ms();
    harness_pack_sql_options(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (2)",
                             WITHIN(300));
    harness_send_buf(conn.fd, &conn.b);
    expect_timeout(&conn, 1, sent, "passed before it could run");

    harness_raw_end_ok(&holder, "commit", tx);
    /* Sent after the commit, so answered after anything still queued. */
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (3)", NULL);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 4,
                 "the timed-out write ran after all");
    struct harness_stats s;
    harness_stats(&d, &s);
    cr_assert_eq(s.timeouts, 1);
    harness_raw_close(&holder);
}

/* --timeout sets the default deadline, which hello reports; timeout_ms 0
 * lifts it for one request (up to --max-timeout). */
Test(deadline, default_deadline_from_the_command_line)
{
    struct reply rep;
    struct codec_reader limits;
    harness_pack_request(&conn.b, 1, "hello", 0);
    harness_raw_call(&conn, 1, &rep);
    cr_assert(harness_map_find(rep.result, "limits", &limits));
    cr_assert_eq(harness_result_int(limits, "timeout_ms"), 30000);
    reply_free(&rep);

    teardown();
    start((const char *const[]){"--timeout", "200", NULL});
    harness_pack_request(&conn.b, 1, "hello", 0);
    harness_raw_call(&conn, 1, &rep);
    cr_assert(harness_map_find(rep.result, "limits", &limits));
    cr_assert_eq(harness_result_int(limits, "timeout_ms"), 200);
    reply_free(&rep);

    int64_t sent = harness_now_ms();
    harness_pack_sql(&conn.b, 2, "query", HARNESS_ENDLESS_SQL);
    harness_send_buf(conn.fd, &conn.b);
    expect_timeout(&conn, 2, sent, READ_STOPPED);
    /* Through libsqlited, which sends no options. */
    int rc = sqlited_exec(db, HARNESS_ENDLESS_WRITE, NULL, NULL);
    cr_assert_eq(rc, SQLITED_TIMEOUT, "rc %d %s: %s", rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);

    /* About a second of work, well past the default deadline. */
    cr_assert_eq(harness_raw_query_int(&conn, HARNESS_SLOW_SQL, WITHIN(0)),
                 3000000);
}

/* Options that are well formed and in range are accepted. */
Test(deadline, valid_options_are_accepted)
{
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (1)", WITHIN(0));
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (2)", WITHIN(86400000));
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (3)", WITHIN(5000));
    /* Options nil, and an empty map. */
    harness_raw_exec(&conn, "INSERT INTO t(x) VALUES (4)", NULL);
    harness_pack_request(&conn.b, 100, "exec", 3);
    codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
    msgpack_pack_array(&conn.b.pk, 1);
    msgpack_pack_int64(&conn.b.pk, 5);
    msgpack_pack_map(&conn.b.pk, 0);
    struct reply rep;
    harness_raw_call(&conn, 100, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    cr_assert_eq(
        harness_raw_query_int(&conn, "SELECT sum(x) FROM t", WITHIN(1000)), 15);
}

/* An unknown option, or one of the wrong type or range, is refused with
 * SQLITED_BAD_REQUEST naming it, and nothing runs. The options are given as
 * their MessagePack bytes. */
Test(deadline, bad_options_are_refused)
{
    static const struct {
        const char *bytes; /* a map, or another value in place of one */
        size_t len;
        const char *names; /* what the message must name */
    } cases[] = {
#define BAD(literal, names) {literal, sizeof(literal) - 1, names}
        BAD("\x81\xaatimeout_ms\xff", "timeout_ms"), /* -1 */
        BAD("\x81\xaatimeout_ms\xd2\x80\x00\x00\x00", "timeout_ms"),
        BAD("\x81\xaatimeout_ms\xa3"
            "200",
            "timeout_ms"), /* "200" */
        BAD("\x81\xaatimeout_ms\xce\x05\x26\x5c\x01", "timeout_ms"),
        BAD("\x81\xaatimeout_ms\xcb\x3f\xf8\0\0\0\0\0\0", "timeout_ms"),
        BAD("\x81\xa7timeout\xcd\x03\xe8", "timeout"), /* misspelt */
        BAD("\x81\xa4"
            "fast\xc3",
            "fast"),
        BAD("\x81\xa2tx\x00", "tx"), /* 0 */
        BAD("\x81\xa2tx\xff", "tx"), /* -1 */
        BAD("\x81\xa2tx\xa1"
            "1",
            "tx"),
        BAD("\x91\xcd\x03\xe8", NULL), /* an array */
        BAD("\xa3"
            "abc",
            NULL),         /* a string */
        BAD("\x2a", NULL), /* 42 */
#undef BAD
    };
    static const char *const methods[] = {"exec", "query"};
    uint32_t msgid = 0;
    for (size_t m = 0; m < 2; m++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            msgid++;
            harness_pack_request(&conn.b, msgid, methods[m], 3);
            codec_pack_cstr(&conn.b, m == 0 ? "INSERT INTO t(x) VALUES (1)"
                                            : "INSERT INTO t(x) VALUES (2) "
                                              "RETURNING x");
            msgpack_pack_nil(&conn.b.pk);
            codec_buf_append(&conn.b, cases[i].bytes, cases[i].len);
            struct reply rep;
            harness_raw_call(&conn, msgid, &rep);
            cr_assert(rep.is_error, "%s: options case %zu accepted", methods[m],
                      i);
            cr_assert_eq(rep.code, SQLITED_BAD_REQUEST,
                         "%s: options case %zu: %lld %s: %s", methods[m], i,
                         (long long)rep.code, rep.name, rep.message);
            harness_assert_error(&rep, SQLITED_BAD_REQUEST,
                                 "SQLITED_BAD_REQUEST", cases[i].names);
            reply_free(&rep);
        }
    }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    /* "atomic" is batch's alone... and batch checks its options too. */
    harness_pack_request(&conn.b, 1000, "batch", 2);
    msgpack_pack_array(&conn.b.pk, 1);
    msgpack_pack_array(&conn.b.pk, 1);
    codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (3)");
    codec_buf_append(&conn.b, cases[0].bytes, cases[0].len);
    struct reply rep;
    harness_raw_call(&conn, 1000, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "timeout_ms");
    reply_free(&rep);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 0);
    assert_carries_on(&conn);
}
