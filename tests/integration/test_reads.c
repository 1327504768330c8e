/* Reads at scale, over the raw protocol: large results in chunks through
 * cursors (fetch, close, idle expiry, snapshots, --max-cursors), clients
 * that stop reading, the query options max_rows and max_bytes, the
 * statement cache, explain, and --max-connections (PROTOCOL.md, "query",
 * "explain", "stats" and "Limits").
 *
 * libsqlited only sets tables up; every read under test goes over a
 * harness_raw connection, so these tests do not depend on how the library
 * streams. Each test starts its own daemon with the flags it needs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

/* A bound on "answered promptly": far above what a ping or a one-row write
 * takes on an idle daemon, far below the work it must not wait behind. */
#define PROMPT_MS (2000 * harness_slowdown())

/* How long a test polls for something the daemon does in the background
 * (closing a cursor, freeing a connection). */
#define POLL_MS 10000

/* msgids the helpers use for their own requests. */
#define STATS_MSGID 900001
#define PING_MSGID 900002

static struct daemon d;
static struct harness_raw conn;

static void start(const char *const *args)
{
    daemon_start(&d, args);
    harness_raw_open(&conn, &d);
}

static void teardown(void)
{
    harness_raw_close(&conn);
    daemon_cleanup(&d);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ------------------------------------------------------------- requests */

/* Appends [0, @msgid, "query", [@sql, nil, {@opt: @value}]], or
 * [0, @msgid, "query", [@sql]] when @opt is NULL. */
static void pack_query(struct codec_buf *b, uint32_t msgid, const char *sql,
                       const char *opt, int64_t value)
{
    harness_pack_request(b, msgid, "query", opt ? 3 : 1);
    codec_pack_cstr(b, sql);
    if (opt == NULL)
        return;
    msgpack_pack_nil(&b->pk);
    msgpack_pack_map(&b->pk, 1);
    codec_pack_cstr(b, opt);
    msgpack_pack_int64(&b->pk, value);
}

static void send_query(struct harness_raw *c, uint32_t msgid, const char *sql)
{
    pack_query(&c->b, msgid, sql, NULL, 0);
    harness_send_buf(c->fd, &c->b);
}

/* Sends [0, @msgid, @method, [@id]]: fetch or close. */
static void send_cursor_call(struct harness_raw *c, uint32_t msgid,
                             const char *method, uint64_t id)
{
    harness_pack_request(&c->b, msgid, method, 1);
    msgpack_pack_uint64(&c->b.pk, id);
    harness_send_buf(c->fd, &c->b);
}

/* Reads the next message on @c, which must be the response to @msgid. */
static void read_answer(struct harness_raw *c, uint32_t msgid,
                        struct reply *rep)
{
    harness_read_reply(&c->r, rep);
    cr_assert_eq(rep->kind, 1,
                 "expected the answer to %u, got a notification (%s: %s)",
                 msgid, rep->name, rep->message);
    cr_assert_eq(rep->msgid, msgid, "expected the answer to %u, got %u", msgid,
                 rep->msgid);
}

/* Checks that @rep is an error with @code, @name and @text in its
 * message, and frees it. */
static void check_error(struct reply *rep, int64_t code, const char *name,
                        const char *text)
{
    cr_assert(rep->is_error, "msgid %u: expected %s, got a result", rep->msgid,
              name);
    cr_assert_eq(rep->code, code, "msgid %u: code %lld (%s: %s), expected %s",
                 rep->msgid, (long long)rep->code, rep->name, rep->message,
                 name);
    cr_assert_str_eq(rep->name, name);
    cr_assert_not_null(strstr(rep->message, text),
                       "msgid %u: message '%s' lacks '%s'", rep->msgid,
                       rep->message, text);
    reply_free(rep);
}

/* The next message on @c must be an error answering @msgid. */
static void expect_error(struct harness_raw *c, uint32_t msgid, int64_t code,
                         const char *name, const char *text)
{
    struct reply rep;
    read_answer(c, msgid, &rep);
    check_error(&rep, code, name, text);
}

/* The next message on @c must answer @msgid with a nil result. */
static void expect_nil(struct harness_raw *c, uint32_t msgid)
{
    struct reply rep;
    struct codec_value v;
    read_answer(c, msgid, &rep);
    cr_assert_not(rep.is_error, "msgid %u: %s: %s", msgid, rep.name,
                  rep.message);
    cr_assert_eq(codec_read(&rep.result, &v), 0);
    cr_assert_eq(v.type, CODEC_NIL, "msgid %u: the result is not nil", msgid);
    reply_free(&rep);
}

/* --------------------------------------------------------------- results */

/* A compact text form of MessagePack values, for comparing results in
 * assertions: [[1,"a",nil,bin(3)]]. */
struct text {
    char s[4096];
    size_t len;
};

__attribute__((format(printf, 2, 3))) static void text_add(struct text *t,
                                                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->s + t->len, sizeof(t->s) - t->len, fmt, ap);
    va_end(ap);
    cr_assert(n >= 0 && (size_t)n < sizeof(t->s) - t->len,
              "the text form of a value is too long");
    t->len += (size_t)n;
}

/* Appends the text form of the next value of @r to @t. */
static void render(struct codec_reader *r, struct text *t)
{
    struct codec_value v;
    cr_assert_eq(codec_read(r, &v), 0, "a malformed value");
    switch (v.type) {
    case CODEC_NIL:
        text_add(t, "nil");
        break;
    case CODEC_BOOL:
        text_add(t, "%s", v.v.b ? "true" : "false");
        break;
    case CODEC_INT:
        text_add(t, "%" PRId64, v.v.i);
        break;
    case CODEC_UINT:
        text_add(t, "%" PRIu64, v.v.u);
        break;
    case CODEC_FLOAT:
        text_add(t, "%g", v.v.f);
        break;
    case CODEC_STR:
        text_add(t, "\"%.*s\"", (int)v.v.s.len, v.v.s.ptr);
        break;
    case CODEC_BIN:
        text_add(t, "bin(%u)", v.v.s.len);
        break;
    case CODEC_ARRAY:
    case CODEC_MAP:
        text_add(t, v.type == CODEC_ARRAY ? "[" : "{");
        for (uint32_t i = 0; i < v.v.n; i++) {
            if (i > 0)
                text_add(t, ",");
            if (v.type == CODEC_MAP) {
                render(r, t);
                text_add(t, ":");
            }
            render(r, t);
        }
        text_add(t, v.type == CODEC_ARRAY ? "]" : "}");
        break;
    case CODEC_EXT:
        text_add(t, "ext");
        break;
    }
}

/* Checks that the result map of @rep holds @key, whose text form is
 * @want. */
static void expect_key(const struct reply *rep, const char *key,
                       const char *want)
{
    struct codec_reader v;
    struct text t = {.len = 0};
    cr_assert_not(rep->is_error, "msgid %u: %s: %s", rep->msgid, rep->name,
                  rep->message);
    cr_assert(harness_map_find(rep->result, key, &v), "msgid %u: no '%s'",
              rep->msgid, key);
    render(&v, &t);
    cr_assert_str_eq(t.s, want, "msgid %u: %s is %s, expected %s", rep->msgid,
                     key, t.s, want);
}

/* One chunk of a result: the answer to a query or to a fetch. */
struct chunk {
    uint32_t nrows;
    struct codec_reader rows; /* on the first row */
    uint64_t cursor;          /* 0: the last chunk */
};

static void parse_chunk(const struct reply *rep, struct chunk *ch)
{
    struct codec_reader v;
    int64_t id;
    cr_assert_not(rep->is_error, "msgid %u: %s: %s", rep->msgid, rep->name,
                  rep->message);
    cr_assert(harness_map_find(rep->result, "rows", &v), "msgid %u: no rows",
              rep->msgid);
    cr_assert_eq(codec_read_array(&v, &ch->nrows), 0,
                 "msgid %u: rows is not an array", rep->msgid);
    ch->rows = v;
    ch->cursor = 0;
    if (harness_map_find(rep->result, "cursor", &v)) {
        cr_assert_eq(codec_read_int64(&v, &id), 0,
                     "msgid %u: cursor is not an integer", rep->msgid);
        cr_assert_gt(id, 0, "msgid %u: cursor %lld", rep->msgid, (long long)id);
        ch->cursor = (uint64_t)id;
    }
}

/* Reads the first chunk, which must answer query @msgid and carry a
 * cursor, and returns that cursor; *@nrows (may be NULL) receives its row
 * count. */
static uint64_t read_first_chunk(struct harness_raw *c, uint32_t msgid,
                                 uint32_t *nrows)
{
    struct reply rep;
    struct chunk ch;
    read_answer(c, msgid, &rep);
    parse_chunk(&rep, &ch);
    cr_assert_neq(ch.cursor, 0, "msgid %u: the result came whole (%u rows)",
                  msgid, ch.nrows);
    if (nrows)
        *nrows = ch.nrows;
    reply_free(&rep);
    return ch.cursor;
}

/* Reads the next integer of a row. */
static int64_t next_int(struct codec_reader *r)
{
    int64_t v;
    cr_assert_eq(codec_read_int64(r, &v), 0, "not an integer");
    return v;
}

/* How a whole result went, read with read_all(). */
struct outcome {
    uint64_t rows;
    uint32_t chunks;
    uint32_t largest;   /* rows in the largest chunk */
    uint64_t cursor;    /* the last cursor given; 0: none */
    struct reply error; /* when .is_error: the error that ended it */
};

/* Reads the answer to query @msgid, sent already on @c, then fetches
 * (msgids @msgid + 1, ...) while a cursor is given, until the last chunk or
 * an error. Rows whose first value is an integer must count up by one from
 * the first. The caller frees o->error when it is set. */
static void read_all(struct harness_raw *c, uint32_t msgid, struct outcome *o)
{
    struct reply rep;
    int64_t first = 0;
    memset(o, 0, sizeof(*o));
    read_answer(c, msgid, &rep);
    for (;;) {
        struct chunk ch;
        if (rep.is_error) {
            o->error = rep;
            return;
        }
        parse_chunk(&rep, &ch);
        o->chunks++;
        if (ch.nrows > o->largest)
            o->largest = ch.nrows;
        for (uint32_t i = 0; i < ch.nrows; i++) {
            uint32_t ncols;
            int64_t v;
            cr_assert_eq(codec_read_array(&ch.rows, &ncols), 0);
            struct codec_reader at = ch.rows;
            if (ncols > 0 && codec_read_int64(&at, &v) == 0) {
                if (o->rows == 0)
                    first = v;
                cr_assert_eq(v, first + (int64_t)o->rows,
                             "row %llu is %lld: a row missing or repeated",
                             (unsigned long long)o->rows, (long long)v);
            }
            for (uint32_t k = 0; k < ncols; k++)
                cr_assert_eq(codec_skip(&ch.rows), 0);
            o->rows++;
        }
        reply_free(&rep);
        if (ch.cursor == 0)
            return;
        o->cursor = ch.cursor;
        send_cursor_call(c, ++msgid, "fetch", ch.cursor);
        read_answer(c, msgid, &rep);
    }
}

/* ----------------------------------------------------------- the daemon */

/* Creates table big(id INTEGER PRIMARY KEY, pad BLOB): ids 0 to @n - 1,
 * each pad @pad zero bytes. */
static void make_big(int64_t n, int pad)
{
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE big(id INTEGER PRIMARY KEY, pad BLOB);"
             "WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c "
             "WHERE x < %" PRId64 ") INSERT INTO big SELECT x, zeroblob(%d) "
             "FROM c",
             n - 1, pad);
    harness_exec_fresh(&d, sql);
}

/* The counter @key of `stats`, asked over @c. */
static int64_t read_stat(struct harness_raw *c, const char *key)
{
    struct reply rep;
    struct codec_reader v;
    int64_t n;
    harness_pack_request(&c->b, STATS_MSGID, "stats", 0);
    harness_send_buf(c->fd, &c->b);
    read_answer(c, STATS_MSGID, &rep);
    cr_assert_not(rep.is_error, "stats: %s: %s", rep.name, rep.message);
    cr_assert(harness_map_find(rep.result, key, &v), "stats has no '%s'", key);
    cr_assert_eq(codec_read_int64(&v, &n), 0, "stats: %s is not an int", key);
    cr_assert_geq(n, 0, "stats: %s is %lld", key, (long long)n);
    reply_free(&rep);
    return n;
}

/* Polls `stats` over @c until @key is from @lo to @hi; returns its last
 * value. */
static int64_t wait_stat(struct harness_raw *c, const char *key, int64_t lo,
                         int64_t hi)
{
    int64_t deadline = harness_now_ms() + POLL_MS;
    for (;;) {
        int64_t n = read_stat(c, key);
        if ((n >= lo && n <= hi) || harness_now_ms() > deadline)
            return n;
        sleep_ms(10);
    }
}

/* The daemon's RSS in KiB, or -1 when it cannot be measured meaningfully
 * (under a sanitizer). */
static long daemon_rss_kb(void)
{
    if (!harness_measures_memory())
        return -1;
    long kb = harness_rss_kb(d.pid);
    cr_assert_gt(kb, 0, "cannot read the daemon's RSS");
    return kb;
}

/* Unless memory is not measured, checks that @now_kb is less than @bound_kb
 * above @base_kb. */
static void assert_rss_growth(long base_kb, long now_kb, long bound_kb,
                              const char *what)
{
    if (base_kb < 0)
        return;
    cr_assert_lt(now_kb - base_kb, bound_kb,
                 "%s: the daemon's RSS grew from %ld to %ld KiB (bound: %ld "
                 "KiB)",
                 what, base_kb, now_kb, bound_kb);
}

/* ---------------------------------------------------------------- cursors */

TestSuite(cursor, .fini = teardown, .timeout = 60);

/* A million rows through query and fetch: every row arrives once, in
 * order; no chunk is larger than --chunk-rows; and the daemon holds one
 * chunk at a time, not the result (about 100 MiB of MessagePack). A minute
 * or more against a daemon under TSan. */
Test(cursor, million_rows_in_chunks, .timeout = 240)
{
    enum { N = 1000000, CHUNK = 1000, PAD = 100 };
    start((const char *const[]){"--chunk-rows", "1000", NULL});
    make_big(N, PAD);

    struct reply rep;
    harness_pack_request(&conn.b, 1, "hello", 0);
    harness_send_buf(conn.fd, &conn.b);
    read_answer(&conn, 1, &rep);
    struct codec_reader limits, v;
    cr_assert(harness_map_find(rep.result, "limits", &limits));
    cr_assert(harness_map_find(limits, "chunk_rows", &v));
    cr_assert_eq(next_int(&v), CHUNK);
    reply_free(&rep);

    long base = daemon_rss_kb(), peak = base;
    uint32_t msgid = 2, chunks = 0;
    int64_t next = 0;
    send_query(&conn, msgid, "SELECT id, pad FROM big ORDER BY id");
    read_answer(&conn, msgid, &rep);
    expect_key(&rep, "columns", "[\"id\",\"pad\"]");
    for (;;) {
        struct chunk ch;
        parse_chunk(&rep, &ch);
        chunks++;
        cr_assert_leq(ch.nrows, CHUNK, "chunk %u has %u rows", chunks,
                      ch.nrows);
        /* Rows of about 100 bytes never fill --chunk-bytes (1 MiB): every
         * chunk but the last ends at --chunk-rows. */
        if (ch.cursor)
            cr_assert_eq(ch.nrows, CHUNK, "chunk %u has %u rows", chunks,
                         ch.nrows);
        for (uint32_t i = 0; i < ch.nrows; i++, next++) {
            uint32_t ncols;
            struct codec_value pad;
            cr_assert_eq(codec_read_array(&ch.rows, &ncols), 0);
            cr_assert_eq(ncols, 2);
            int64_t id = next_int(&ch.rows);
            cr_assert_eq(id, next, "row %lld has id %lld", (long long)next,
                         (long long)id);
            cr_assert_eq(codec_read(&ch.rows, &pad), 0);
            cr_assert(pad.type == CODEC_BIN && pad.v.s.len == PAD,
                      "row %lld: pad is not a %d-byte blob", (long long)next,
                      PAD);
        }
        uint64_t cursor = ch.cursor;
        reply_free(&rep);
        if (base >= 0) {
            long now = harness_rss_kb(d.pid);
            peak = now > peak ? now : peak;
        }
        if (cursor == 0)
            break;
        send_cursor_call(&conn, ++msgid, "fetch", cursor);
        read_answer(&conn, msgid, &rep);
    }
    cr_assert_eq(next, N, "%lld rows of %d arrived", (long long)next, N);
    cr_assert_eq(chunks, N / CHUNK);
    cr_assert_eq(read_stat(&conn, "cursors_opened"), 1);
    cr_assert_eq(read_stat(&conn, "cursors_open"), 0,
                 "a cursor read to its end is still open");
    assert_rss_growth(base, peak, 64 * 1024, "reading 1,000,000 rows");
}

/* fetch (msgid @msgid) and close (@msgid + 1) of cursor @id over @c both
 * fail: the cursor is not open there. */
static void expect_cursor_gone(struct harness_raw *c, uint32_t msgid,
                               uint64_t id)
{
    send_cursor_call(c, msgid, "fetch", id);
    expect_error(c, msgid, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                 "not open");
    send_cursor_call(c, msgid + 1, "close", id);
    expect_error(c, msgid + 1, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                 "not open");
}

/* fetch carries on where the last chunk ended; close abandons the rest and
 * answers nil; a cursor read to its end or closed is expired. */
Test(cursor, fetch_and_close)
{
    start((const char *const[]){"--chunk-rows", "10", NULL});
    make_big(100, 1);

    struct outcome o;
    send_query(&conn, 1, "SELECT id FROM big");
    read_all(&conn, 1, &o); /* fetches with msgids 2 to 10 */
    cr_assert_not(o.error.is_error, "%s: %s", o.error.name, o.error.message);
    cr_assert_eq(o.rows, 100);
    cr_assert_eq(o.chunks, 10);
    cr_assert_eq(o.largest, 10);
    send_cursor_call(&conn, 11, "fetch", o.cursor);
    expect_error(&conn, 11, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                 "not open");

    send_query(&conn, 20, "SELECT id FROM big");
    uint64_t id = read_first_chunk(&conn, 20, NULL);
    cr_assert_eq(read_stat(&conn, "cursors_open"), 1);
    send_cursor_call(&conn, 21, "close", id);
    expect_nil(&conn, 21);
    cr_assert_eq(read_stat(&conn, "cursors_open"), 0);
    expect_cursor_gone(&conn, 22, id);
    cr_assert_eq(read_stat(&conn, "cursors_opened"), 2);
}

/* Reads the answer to fetch @msgid: a chunk of @n rows of one integer
 * each, counting up from @first. */
static void expect_fetched(struct harness_raw *c, uint32_t msgid, int64_t first,
                           uint32_t n)
{
    struct reply rep;
    struct chunk ch;
    read_answer(c, msgid, &rep);
    parse_chunk(&rep, &ch);
    cr_assert_eq(ch.nrows, n, "msgid %u: %u rows", msgid, ch.nrows);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ncols;
        cr_assert_eq(codec_read_array(&ch.rows, &ncols), 0);
        cr_assert_eq(next_int(&ch.rows), first + i, "msgid %u: row %u", msgid,
                     i);
    }
    reply_free(&rep);
}

/* Starts the daemon with chunks of 10 rows, and opens on the suite's
 * connection (msgid 1) a cursor on ids 0 to 99, its first chunk read.
 * Returns the cursor. */
static uint64_t start_with_cursor(void)
{
    start((const char *const[]){"--chunk-rows", "10", NULL});
    make_big(100, 1);
    send_query(&conn, 1, "SELECT id FROM big");
    return read_first_chunk(&conn, 1, NULL);
}

/* fetch and close with params that are not one positive cursor id are bad
 * requests, and leave the cursor as it was. */
Test(cursor, bad_params)
{
    uint64_t id = start_with_cursor();

    static const char *const methods[] = {"fetch", "close"};
    uint32_t msgid = 10;
    for (int m = 0; m < 2; m++) {
        struct codec_buf *b = &conn.b;
        harness_pack_request(b, ++msgid, methods[m], 0);
        harness_send_buf(conn.fd, b);
        expect_error(&conn, msgid, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                     "[cursor]");
        harness_pack_request(b, ++msgid, methods[m], 2);
        msgpack_pack_uint64(&b->pk, id);
        msgpack_pack_uint64(&b->pk, id);
        harness_send_buf(conn.fd, b);
        expect_error(&conn, msgid, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                     "[cursor]");
        for (int kind = 0; kind < 5; kind++) {
            harness_pack_request(b, ++msgid, methods[m], 1);
            if (kind == 0)
                msgpack_pack_int64(&b->pk, 0);
            else if (kind == 1)
                msgpack_pack_int64(&b->pk, -(int64_t)id);
            else if (kind == 2)
                codec_pack_cstr(b, "1");
            else if (kind == 3)
                msgpack_pack_nil(&b->pk);
            else
                msgpack_pack_double(&b->pk, (double)id);
            harness_send_buf(conn.fd, b);
            expect_error(&conn, msgid, SQLITED_BAD_REQUEST,
                         "SQLITED_BAD_REQUEST", "cursor");
        }
        /* Well formed, but no such cursor. */
        send_cursor_call(&conn, ++msgid, methods[m], id + 1000);
        expect_error(&conn, msgid, SQLITED_CURSOR_EXPIRED,
                     "SQLITED_CURSOR_EXPIRED", "not open");
    }
    send_cursor_call(&conn, ++msgid, "fetch", id);
    expect_fetched(&conn, msgid, 10, 10);
}

/* A cursor belongs to the connection that opened it: to any other, it is
 * not open, and what that one tries leaves it alone. */
Test(cursor, belongs_to_its_connection)
{
    uint64_t id = start_with_cursor();

    struct harness_raw other = {0};
    harness_raw_open(&other, &d);
    expect_cursor_gone(&other, 2, id);
    harness_raw_close(&other);

    send_cursor_call(&conn, 4, "fetch", id);
    expect_fetched(&conn, 4, 10, 10);
}

/* PROTOCOL.md: "One fetch per cursor at a time." A second fetch sent
 * before the first is answered is refused as busy; it takes no rows. */
Test(cursor, one_fetch_at_a_time)
{
    uint64_t id = start_with_cursor();

    /* Both in one write, so the daemon reads the second while the first is
     * still with a reader. */
    harness_pack_request(&conn.b, 2, "fetch", 1);
    msgpack_pack_uint64(&conn.b.pk, id);
    harness_pack_request(&conn.b, 3, "fetch", 1);
    msgpack_pack_uint64(&conn.b.pk, id);
    harness_send_buf(conn.fd, &conn.b);
    bool seen[4] = {false};
    for (int i = 0; i < 2; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_eq(rep.kind, 1);
        cr_assert(rep.msgid == 2 || rep.msgid == 3, "msgid %u", rep.msgid);
        cr_assert_not(seen[rep.msgid], "msgid %u answered twice", rep.msgid);
        seen[rep.msgid] = true;
        if (rep.msgid == 3) {
            check_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                        "busy");
            continue;
        }
        struct chunk ch;
        parse_chunk(&rep, &ch);
        cr_assert_eq(ch.nrows, 10);
        uint32_t ncols;
        cr_assert_eq(codec_read_array(&ch.rows, &ncols), 0);
        cr_assert_eq(next_int(&ch.rows), 10);
        reply_free(&rep);
    }
    send_cursor_call(&conn, 4, "fetch", id);
    expect_fetched(&conn, 4, 20, 10);
}

/* Rows come from one snapshot: what another client writes while the cursor
 * is open (inserts, updates, deletes) is not seen by it, and is seen by a
 * new query. */
Test(cursor, reads_one_snapshot)
{
    start((const char *const[]){"--chunk-rows", "10", NULL});
    make_big(50, 1);
    send_query(&conn, 1, "SELECT id, pad FROM big ORDER BY id");
    uint64_t id = read_first_chunk(&conn, 1, NULL);

    harness_exec_fresh(&d, "INSERT INTO big SELECT id + 50, x'02' FROM big;"
                           "UPDATE big SET pad = x'01' WHERE id < 50;"
                           "DELETE FROM big WHERE id = 30");

    int64_t next = 10;
    uint32_t msgid = 1;
    while (id != 0) {
        struct reply rep;
        struct chunk ch;
        send_cursor_call(&conn, ++msgid, "fetch", id);
        read_answer(&conn, msgid, &rep);
        parse_chunk(&rep, &ch);
        for (uint32_t i = 0; i < ch.nrows; i++, next++) {
            uint32_t ncols;
            struct codec_value pad;
            cr_assert_eq(codec_read_array(&ch.rows, &ncols), 0);
            cr_assert_eq(next_int(&ch.rows), next, "a row of another snapshot");
            cr_assert_eq(codec_read(&ch.rows, &pad), 0);
            cr_assert(pad.type == CODEC_BIN && pad.v.s.len == 1 &&
                          pad.v.s.ptr[0] == 0,
                      "row %lld: the cursor sees the update", (long long)next);
        }
        id = ch.cursor;
        reply_free(&rep);
    }
    cr_assert_eq(next, 50, "the cursor ended at row %lld", (long long)next);

    struct outcome o;
    send_query(&conn, 100, "SELECT id FROM big WHERE id > 30 ORDER BY id");
    read_all(&conn, 100, &o);
    cr_assert_not(o.error.is_error, "%s: %s", o.error.name, o.error.message);
    cr_assert_eq(o.rows, 69, "a new query sees %llu rows",
                 (unsigned long long)o.rows);
    struct reply rep;
    send_query(&conn, 200, "SELECT count(*) FROM big WHERE pad = x'01'");
    read_answer(&conn, 200, &rep);
    cr_assert_eq(harness_reply_int(&rep), 49);
    reply_free(&rep);
}

/* --max-cursors 1: while one cursor is open, a result larger than a chunk
 * is refused with SQLITED_TOO_MANY_CURSORS (it is never built whole), one
 * that fits a chunk still comes; once the cursor closes, results stream
 * again. */
Test(cursor, past_max_cursors_large_results_are_refused)
{
    start((const char *const[]){"--chunk-rows", "10", "--max-cursors", "1",
                                NULL});
    make_big(100, 1);
    send_query(&conn, 1, "SELECT id FROM big");
    uint64_t id = read_first_chunk(&conn, 1, NULL);

    struct harness_raw other = {0};
    harness_raw_open(&other, &d);
    send_query(&other, 2, "SELECT id FROM big");
    expect_error(&other, 2, SQLITED_TOO_MANY_CURSORS,
                 "SQLITED_TOO_MANY_CURSORS", "--max-cursors");
    struct outcome o;
    send_query(&other, 3, "SELECT id FROM big WHERE id < 10");
    read_all(&other, 3, &o);
    cr_assert_not(o.error.is_error, "%s: %s", o.error.name, o.error.message);
    cr_assert_eq(o.chunks, 1, "the result came in %u chunks", o.chunks);
    cr_assert_eq(o.rows, 10);
    harness_raw_close(&other);
    cr_assert_eq(read_stat(&conn, "cursors_open"), 1);

    send_cursor_call(&conn, 4, "close", id);
    expect_nil(&conn, 4);
    send_query(&conn, 5, "SELECT id FROM big");
    read_first_chunk(&conn, 5, NULL);
}

/* One connection holds at most 8 cursors: its ninth large result is
 * refused, naming the connection, while another connection still gets a
 * cursor. */
Test(cursor, cursors_per_connection)
{
    start((const char *const[]){"--chunk-rows", "10", NULL});
    make_big(100, 1);
    for (uint32_t i = 1; i <= 8; i++) {
        send_query(&conn, i, "SELECT id FROM big");
        read_first_chunk(&conn, i, NULL);
    }
    send_query(&conn, 9, "SELECT id FROM big");
    expect_error(&conn, 9, SQLITED_TOO_MANY_CURSORS, "SQLITED_TOO_MANY_CURSORS",
                 "this connection");

    struct harness_raw other = {0};
    harness_raw_open(&other, &d);
    send_query(&other, 1, "SELECT id FROM big");
    read_first_chunk(&other, 1, NULL);
    harness_raw_close(&other);
}

/* A chunk also ends once it holds --chunk-bytes: with rows of about 1 KiB
 * and chunks of 4 KiB, no chunk holds more than 5 rows (the row that
 * fills a chunk is its last). */
Test(cursor, chunk_bytes)
{
    start((const char *const[]){"--chunk-bytes", "4096", NULL});
    make_big(100, 1000);
    struct outcome o;
    send_query(&conn, 1, "SELECT id, pad FROM big");
    read_all(&conn, 1, &o);
    cr_assert_not(o.error.is_error, "%s: %s", o.error.name, o.error.message);
    cr_assert_eq(o.rows, 100);
    cr_assert_leq(o.largest, 5, "a chunk of %u rows of 1 KiB", o.largest);
    cr_assert_geq(o.chunks, 20, "%u chunks", o.chunks);
}

/* A cursor nobody fetches from for --cursor-idle-timeout is closed, its
 * snapshot and memory released: for a client that stopped fetching and for
 * clients that never read their socket. (A first chunk of 5,000 rows of
 * about 100 bytes is more than a socket buffer holds: the daemon's writes
 * to those clients stay pending.) */
Test(cursor, idle_cursors_expire)
{
    enum { QUIET = 16 };
    start((const char *const[]){"--chunk-rows", "5000", "--cursor-idle-timeout",
                                "300", NULL});
    make_big(10000, 100);
    struct reply rep;
    send_query(&conn, 1, "SELECT count(*) FROM big");
    read_answer(&conn, 1, &rep);
    cr_assert_eq(harness_reply_int(&rep), 10000);
    reply_free(&rep);
    long base = daemon_rss_kb();

    struct harness_raw quiet[QUIET] = {0};
    for (int i = 0; i < QUIET; i++) {
        harness_raw_open(&quiet[i], &d);
        send_query(&quiet[i], 1, "SELECT id, pad FROM big");
    }
    send_query(&conn, 2, "SELECT id, pad FROM big");
    uint64_t id = read_first_chunk(&conn, 2, NULL);

    int64_t expired = wait_stat(&conn, "cursors_expired", QUIET + 1, INT64_MAX);
    cr_assert_eq(expired, QUIET + 1, "%lld cursors expired",
                 (long long)expired);
    cr_assert_eq(wait_stat(&conn, "cursors_open", 0, 0), 0);
    expect_cursor_gone(&conn, 3, id);

    for (int i = 0; i < QUIET; i++) {
        uint64_t qid = read_first_chunk(&quiet[i], 1, NULL);
        send_cursor_call(&quiet[i], 2, "fetch", qid);
        expect_error(&quiet[i], 2, SQLITED_CURSOR_EXPIRED,
                     "SQLITED_CURSOR_EXPIRED", "not open");
        harness_raw_close(&quiet[i]);
    }
    cr_assert_eq(wait_stat(&conn, "connections", 1, 1), 1);
    assert_rss_growth(base, daemon_rss_kb(), 32 * 1024,
                      "after every cursor expired");
    /* The daemon still streams. */
    struct outcome o;
    send_query(&conn, 10, "SELECT id FROM big");
    read_all(&conn, 10, &o);
    cr_assert_not(o.error.is_error, "%s: %s", o.error.name, o.error.message);
    cr_assert_eq(o.rows, 10000);
}

/* A connection's cursors end with it, whether it read their first chunk or
 * not; they do not count as expired. */
Test(cursor, disconnect_ends_cursors)
{
    start((const char *const[]){"--chunk-rows", "10", "--cursor-idle-timeout",
                                "600000", NULL});
    make_big(1000, 1);
    struct harness_raw other = {0};
    harness_raw_open(&other, &d);
    send_query(&other, 1, "SELECT id FROM big");
    read_first_chunk(&other, 1, NULL);
    send_query(&other, 2, "SELECT id FROM big");
    read_first_chunk(&other, 2, NULL);
    send_query(&other, 3, "SELECT id FROM big"); /* its answer is not read */
    cr_assert_eq(wait_stat(&conn, "cursors_open", 3, 3), 3);

    harness_raw_close(&other);
    cr_assert_eq(wait_stat(&conn, "cursors_open", 0, 0), 0,
                 "the cursors of a closed connection are still open");
    cr_assert_eq(read_stat(&conn, "cursors_expired"), 0);

    /* A client that leaves before its query is answered: whether or not
     * the query ran, no cursor outlives it. */
    harness_raw_open(&other, &d);
    send_query(&other, 1, "SELECT id FROM big");
    harness_raw_close(&other);
    sleep_ms(200);
    cr_assert_eq(wait_stat(&conn, "cursors_open", 0, 0), 0);
}

/* ----------------------------------------------------------- slow clients */

TestSuite(slow_client, .fini = teardown, .timeout = 60);

/* Pings over @c; returns how long the answer took, in ms. */
static int64_t ping_ms(struct harness_raw *c)
{
    struct reply rep;
    int64_t t0 = harness_now_ms();
    harness_pack_request(&c->b, PING_MSGID, "ping", 0);
    harness_send_buf(c->fd, &c->b);
    read_answer(c, PING_MSGID, &rep);
    int64_t took = harness_now_ms() - t0;
    struct codec_reader r = rep.result;
    cr_assert(!rep.is_error && harness_read_str_eq(&r, "pong"), "no pong");
    reply_free(&rep);
    return took;
}

/* Runs @sql, a query or exec whose result is one integer, over @c; checks
 * it is @want and returns how long it took, in ms. */
static int64_t timed_int(struct harness_raw *c, uint32_t msgid,
                         const char *method, const char *sql, int64_t want)
{
    struct reply rep;
    int64_t t0 = harness_now_ms();
    harness_pack_sql(&c->b, msgid, method, sql);
    harness_send_buf(c->fd, &c->b);
    read_answer(c, msgid, &rep);
    int64_t took = harness_now_ms() - t0;
    cr_assert_eq(harness_reply_int(&rep), want, "%s", sql);
    reply_free(&rep);
    return took;
}

/* Other clients still get answers promptly: a ping, a query and a write
 * (into table w(v), which the test made) over @c. */
static void assert_others_served(struct harness_raw *c)
{
    int64_t took = ping_ms(c);
    cr_assert_lt(took, PROMPT_MS, "a ping took %lld ms", (long long)took);
    took = timed_int(c, 1, "query", "SELECT 6 * 7", 42);
    cr_assert_lt(took, PROMPT_MS, "a query took %lld ms", (long long)took);
    took =
        timed_int(c, 2, "exec", "INSERT INTO w(v) VALUES (1) RETURNING v", 1);
    cr_assert_lt(took, PROMPT_MS, "a write took %lld ms", (long long)took);
}

/* Clients that opened large results and then stopped (some fetch no
 * more, some never read their socket, whose first chunk of about 500 KiB
 * the daemon cannot write) hold cursors, not the daemon: other clients'
 * pings, queries and writes are answered promptly, and the stalled cursors
 * are still there to fetch from afterwards. */
Test(slow_client, stalled_cursors_do_not_hold_up_others)
{
    enum { STALLED = 8, CHUNK = 5000 };
    start((const char *const[]){"--readers", "2", "--chunk-rows", "5000",
                                "--cursor-idle-timeout", "600000", NULL});
    make_big(100000, 100);
    harness_exec_fresh(&d, "CREATE TABLE w(v)");

    struct harness_raw stalled[STALLED] = {0};
    uint64_t ids[STALLED] = {0};
    for (int i = 0; i < STALLED; i++) {
        harness_raw_open(&stalled[i], &d);
        send_query(&stalled[i], 1, "SELECT id, pad FROM big");
    }
    /* Half of them read their first chunk and stop fetching; the others
     * read nothing. */
    for (int i = 0; i < STALLED; i += 2)
        ids[i] = read_first_chunk(&stalled[i], 1, NULL);
    cr_assert_eq(wait_stat(&conn, "cursors_open", STALLED, STALLED), STALLED);

    for (int round = 0; round < 5; round++)
        assert_others_served(&conn);
    cr_assert_eq(read_stat(&conn, "cursors_open"), STALLED);

    /* The stalled clients can carry on where they stopped. */
    for (int i = 0; i < STALLED; i++) {
        if (ids[i] == 0)
            ids[i] = read_first_chunk(&stalled[i], 1, NULL);
        send_cursor_call(&stalled[i], 2, "fetch", ids[i]);
        struct reply rep;
        struct chunk ch;
        read_answer(&stalled[i], 2, &rep);
        parse_chunk(&rep, &ch);
        uint32_t ncols;
        cr_assert_eq(codec_read_array(&ch.rows, &ncols), 0);
        cr_assert_eq(next_int(&ch.rows), CHUNK);
        reply_free(&rep);
        harness_raw_close(&stalled[i]);
    }
    cr_assert_eq(wait_stat(&conn, "cursors_open", 0, 0), 0);
}

/* A client that pipelines many large-result queries and reads none of the
 * answers is slowed down (PROTOCOL.md, Limits): past 32 requests in flight
 * or 16 MiB of answers unwritten, the daemon stops reading it.
 *
 * Each result here is about 20 MiB (20,000 rows of 1 KiB). Streamed, what
 * the daemon may hold for the client is bounded whatever the result size:
 * the 16 MiB, plus the 32 requests in flight at a chunk (1 MiB) each, plus,
 * for each of those 48 cursors, its own SQLite connection with up to 2 MiB
 * of page cache (--cache-size's default): 144 MiB. */
#define FLOOD_N 200
#define FLOOD_RSS_BOUND_KB (160 * 1024)

/* Starts the daemon with @max_cursors and has a client in @flood pipeline
 * FLOOD_N queries of the whole of big without reading. Returns the
 * daemon's RSS growth once it has run what the client's bounds let it run
 * (-1 when not measured), having checked that other clients are served
 * promptly then, and, with @early, while the daemon works on the flood
 * too. */
static long flood_unread(struct harness_raw *flood, const char *max_cursors,
                         bool early)
{
    /* Cursors idle for as long as the test may take (a minute under TSan),
     * so that none expires and frees its slot for a later query. */
    start((const char *const[]){"--readers", "2", "--max-cursors", max_cursors,
                                "--cursor-idle-timeout", "600000", NULL});
    make_big(20000, 1000);
    harness_exec_fresh(&d, "CREATE TABLE w(v)");
    long base = daemon_rss_kb();

    harness_raw_open(flood, &d);
    for (uint32_t id = 1; id <= FLOOD_N; id++)
        pack_query(&flood->b, id, "SELECT id, pad FROM big", NULL, 0);
    harness_send_buf(flood->fd, &flood->b);
    if (early)
        assert_others_served(&conn);

    /* Settled: neither the cursors opened nor the RSS moved in 300 ms. */
    int64_t opened = -1, deadline = harness_now_ms() + POLL_MS;
    long rss = -2;
    for (;;) {
        sleep_ms(300);
        int64_t opened_now = read_stat(&conn, "cursors_opened");
        long rss_now = daemon_rss_kb();
        if ((opened_now == opened && rss_now == rss) ||
            harness_now_ms() > deadline)
            break;
        opened = opened_now;
        rss = rss_now;
    }
    for (int round = 0; round < 5; round++)
        assert_others_served(&conn);
    return base < 0 ? -1 : rss - base;
}

Test(slow_client, pipelined_large_results_unread)
{
    struct harness_raw flood = {0};
    long growth = flood_unread(&flood, "256", true);
    int64_t opened = read_stat(&conn, "cursors_opened");
    cr_assert_lt(opened, FLOOD_N,
                 "the daemon ran all %d queries of a client that reads "
                 "nothing",
                 FLOOD_N);
    if (growth >= 0)
        cr_assert_lt(growth, FLOOD_RSS_BOUND_KB,
                     "%d unread results of 20 MiB grew the daemon's RSS by "
                     "%ld KiB",
                     FLOOD_N, growth);

    /* Reading, the client gets every answer: a first chunk with a cursor
     * for the first 8 (a connection's share), SQLITED_TOO_MANY_CURSORS for
     * the others, none of them built whole. */
    bool seen[FLOOD_N + 1] = {false};
    int cursors = 0;
    for (int i = 0; i < FLOOD_N; i++) {
        struct reply rep;
        struct chunk ch;
        harness_read_reply(&flood.r, &rep);
        cr_assert_eq(rep.kind, 1);
        cr_assert(rep.msgid >= 1 && rep.msgid <= FLOOD_N && !seen[rep.msgid],
                  "msgid %u", rep.msgid);
        seen[rep.msgid] = true;
        if (rep.is_error) {
            cr_assert_eq(rep.code, SQLITED_TOO_MANY_CURSORS, "msgid %u: %s",
                         rep.msgid, rep.message);
        } else {
            parse_chunk(&rep, &ch);
            cr_assert_neq(ch.cursor, 0, "msgid %u: %u rows and no cursor",
                          rep.msgid, ch.nrows);
            cursors++;
        }
        reply_free(&rep);
    }
    cr_assert_eq(cursors, 8, "%d cursors for one connection", cursors);
    harness_raw_close(&flood);
    cr_assert_eq(wait_stat(&conn, "cursors_open", 0, 0), 0);
}

/* The same flood when no cursor is free (--max-cursors 0 here): no result
 * is built whole (each is refused after its first chunk), and the daemon
 * holds none of them. Memory per connection is bounded whatever the result
 * size (DESIGN.md).
 *
 * Other clients are checked only once the daemon has settled: while it
 * builds the flood's results, the readers work through them first, and
 * how long that takes (about a second here) depends on the machine. */
Test(slow_client, pipelined_whole_results_unread)
{
    struct harness_raw flood = {0};
    long growth = flood_unread(&flood, "0", false);
    if (growth >= 0)
        cr_assert_lt(growth, FLOOD_RSS_BOUND_KB,
                     "%d unread results of 20 MiB, sent whole, grew the "
                     "daemon's RSS by %ld KiB",
                     FLOOD_N, growth);
    harness_raw_close(&flood);
    assert_others_served(&conn);
}

/* Reads run side by side: with --readers 2, a query that counts for
 * seconds on one reader delays neither a ping, nor a write, nor a quick
 * query, all answered while it still runs. (Its answer may take a minute on
 * a loaded machine with a daemon under TSan.) */
Test(slow_client, long_query_does_not_delay_others, .timeout = 180)
{
    start((const char *const[]){"--readers", "2", NULL});
    harness_exec_fresh(&d, "CREATE TABLE w(v)");

    struct harness_raw slow = {0};
    harness_raw_open(&slow, &d);
    pack_query(&slow.b, 1,
               "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM "
               "c WHERE x < 10000000) SELECT count(*) FROM c",
               "timeout_ms", 600000);
    harness_send_buf(slow.fd, &slow.b);
    sleep_ms(50); /* let a reader take it */

    for (int round = 0; round < 3; round++)
        assert_others_served(&conn);
    struct pollfd pfd = {.fd = slow.fd, .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 0), 0,
                 "the long query was answered before the others were "
                 "served; this test proves nothing on a machine this fast");

    struct reply rep;
    harness_read_reply_within(&slow.r, 150000, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_eq(harness_reply_int(&rep), 10000000);
    reply_free(&rep);
    harness_raw_close(&slow);
}

/* --------------------------------------------------------- query options */

TestSuite(query_limits, .fini = teardown, .timeout = 60);

/* Sends query @msgid of @sql with the option @opt = @value on the suite's
 * connection and reads the whole result. */
static void query_all(uint32_t msgid, const char *sql, const char *opt,
                      int64_t value, struct outcome *o)
{
    pack_query(&conn.b, msgid, sql, opt, value);
    harness_send_buf(conn.fd, &conn.b);
    read_all(&conn, msgid, o);
}

/* A query with the limit @opt, and how it must end. */
struct limit_case {
    const char *sql;
    int64_t value; /* of @opt */
    bool over;     /* it ends with SQLITED_TOO_LARGE naming @opt */
    uint32_t n;    /* over: the chunks sent before the error; else: rows */
};

/* Runs each of @cases over the suite's connection and reads its result to
 * the end: every chunk sent before the limit was crossed, then the error.
 * The error ends the cursor as reading to the end does. */
static void run_limit_cases(const char *opt, const struct limit_case *cases,
                            size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct limit_case *t = &cases[i];
        struct outcome o;
        query_all((uint32_t)(i * 100 + 1), t->sql, opt, t->value, &o);
        if (!t->over) {
            cr_assert_not(o.error.is_error, "%s with %s %lld: %s: %s", t->sql,
                          opt, (long long)t->value, o.error.name,
                          o.error.message);
            cr_assert_eq(o.rows, t->n, "%s with %s %lld: %llu rows", t->sql,
                         opt, (long long)t->value, (unsigned long long)o.rows);
        } else {
            cr_assert(o.error.is_error, "%s with %s %lld: %llu rows, no error",
                      t->sql, opt, (long long)t->value,
                      (unsigned long long)o.rows);
            cr_assert_eq(o.chunks, t->n,
                         "%s with %s %lld: the error came after %u chunks",
                         t->sql, opt, (long long)t->value, o.chunks);
            check_error(&o.error, SQLITED_TOO_LARGE, "SQLITED_TOO_LARGE", opt);
        }
        cr_assert_eq(read_stat(&conn, "cursors_open"), 0);
    }
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* 25 rows in chunks of 10: max_rows crossed in the first chunk, in a later
 * one, or not at all. */
Test(query_limits, max_rows)
{
    start((const char *const[]){"--chunk-rows", "10", NULL});
    make_big(25, 1);
    static const struct limit_case cases[] = {
        {"SELECT id FROM big", 5, true, 0},
        {"SELECT id FROM big", 15, true, 1},
        {"SELECT id FROM big", 24, true, 2},
        {"SELECT id FROM big", 25, false, 25},
        {"SELECT id FROM big", 1000, false, 25},
        {"SELECT id FROM big WHERE id < 20", 20, false, 20},
        {"SELECT id FROM big WHERE id < 10", 10, false, 10},
        {"SELECT 1", 1, false, 1},
        {"SELECT 1 WHERE 0", 1, false, 0},
    };
    run_limit_cases("max_rows", cases, COUNT(cases));
}

/* max_bytes counts the MessagePack of the rows over all chunks. Each row
 * here is [id, 100-byte blob] with id < 128: 1 + 1 + 2 + 100 = 104
 * bytes, 2,600 for all 25. */
Test(query_limits, max_bytes)
{
    start((const char *const[]){"--chunk-rows", "10", NULL});
    make_big(25, 100);
    static const struct limit_case cases[] = {
        {"SELECT id, pad FROM big", 500, true, 0},
        {"SELECT id, pad FROM big", 1500, true, 1},
        {"SELECT id, pad FROM big", 2599, true, 2},
        {"SELECT id, pad FROM big", 2600, false, 25},
        {"SELECT id, pad FROM big WHERE id = 3", 104, false, 1},
        {"SELECT id, pad FROM big WHERE id = 3", 103, true, 0},
    };
    run_limit_cases("max_bytes", cases, COUNT(cases));
}

/* The limits hold for a result that fits one chunk and needs no cursor. */
Test(query_limits, whole_results)
{
    start((const char *const[]){"--chunk-rows", "100", NULL});
    make_big(25, 100);
    static const struct limit_case rows[] = {
        {"SELECT id FROM big", 24, true, 0},
        {"SELECT id FROM big", 25, false, 25},
    };
    static const struct limit_case bytes[] = {
        {"SELECT id, pad FROM big", 2599, true, 0},
        {"SELECT id, pad FROM big", 2600, false, 25},
    };
    run_limit_cases("max_rows", rows, COUNT(rows));
    run_limit_cases("max_bytes", bytes, COUNT(bytes));
    cr_assert_eq(read_stat(&conn, "cursors_opened"), 0);
}

/* max_rows and max_bytes take an integer >= 1; anything else is a bad
 * request naming the option. */
Test(query_limits, invalid_values)
{
    start(NULL);
    static const char *const opts[] = {"max_rows", "max_bytes"};
    uint32_t msgid = 0;
    for (int k = 0; k < 2; k++) {
        for (int kind = 0; kind < 7; kind++) {
            struct codec_buf *b = &conn.b;
            harness_pack_request(b, ++msgid, "query", 3);
            codec_pack_cstr(b, "SELECT 1");
            msgpack_pack_nil(&b->pk);
            msgpack_pack_map(&b->pk, 1);
            codec_pack_cstr(b, opts[k]);
            switch (kind) {
            case 0:
                msgpack_pack_int64(&b->pk, 0);
                break;
            case 1:
                msgpack_pack_int64(&b->pk, -1);
                break;
            case 2:
                msgpack_pack_int64(&b->pk, INT64_MIN);
                break;
            case 3:
                codec_pack_cstr(b, "10");
                break;
            case 4:
                msgpack_pack_double(&b->pk, 10.0);
                break;
            case 5:
                msgpack_pack_nil(&b->pk);
                break;
            default:
                msgpack_pack_true(&b->pk);
                break;
            }
            harness_send_buf(conn.fd, b);
            expect_error(&conn, msgid, SQLITED_BAD_REQUEST,
                         "SQLITED_BAD_REQUEST", opts[k]);
        }
    }
    /* The connection still works, and a valid limit is taken. */
    static const struct limit_case valid[] = {{"SELECT 1", 1000, false, 1}};
    run_limit_cases("max_bytes", valid, COUNT(valid));
}

/* The options are query's only: on exec, batch or bulk they are unknown. */
Test(query_limits, not_for_writes)
{
    start(NULL);
    static const char *const opts[] = {"max_rows", "max_bytes"};
    uint32_t msgid = 0;
    for (int k = 0; k < 2; k++) {
        struct codec_buf *b = &conn.b;
        harness_pack_request(b, ++msgid, "exec", 3);
        codec_pack_cstr(b, "SELECT 1");
        msgpack_pack_nil(&b->pk);
        msgpack_pack_map(&b->pk, 1);
        codec_pack_cstr(b, opts[k]);
        msgpack_pack_int64(&b->pk, 5);
        harness_send_buf(conn.fd, b);
        expect_error(&conn, msgid, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                     "unknown option");

        harness_pack_request(b, ++msgid, "batch", 2);
        msgpack_pack_array(&b->pk, 1);
        msgpack_pack_array(&b->pk, 1);
        codec_pack_cstr(b, "SELECT 1");
        msgpack_pack_map(&b->pk, 1);
        codec_pack_cstr(b, opts[k]);
        msgpack_pack_int64(&b->pk, 5);
        harness_send_buf(conn.fd, b);
        expect_error(&conn, msgid, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                     "unknown option");
    }
}

/* -------------------------------------------------------- statement cache */

TestSuite(stmt_cache, .fini = teardown, .timeout = 60);

/* Runs @sql over the suite's connection with @method (query or exec) and
 * the one parameter @param, and checks that its rows read @want. */
static void expect_rows_param(uint32_t msgid, const char *method,
                              const char *sql, int64_t param, const char *want)
{
    struct reply rep;
    harness_pack_request(&conn.b, msgid, method, 2);
    codec_pack_cstr(&conn.b, sql);
    msgpack_pack_array(&conn.b.pk, 1);
    msgpack_pack_int64(&conn.b.pk, param);
    harness_send_buf(conn.fd, &conn.b);
    read_answer(&conn, msgid, &rep);
    expect_key(&rep, "rows", want);
    reply_free(&rep);
}

/* Runs @sql with @method and checks its columns and rows. */
static void expect_result(uint32_t msgid, const char *method, const char *sql,
                          const char *columns, const char *rows)
{
    struct reply rep;
    harness_pack_sql(&conn.b, msgid, method, sql);
    harness_send_buf(conn.fd, &conn.b);
    read_answer(&conn, msgid, &rep);
    expect_key(&rep, "columns", columns);
    expect_key(&rep, "rows", rows);
    reply_free(&rep);
}

/* The same SQL five times, on the one reader and on the writer: the first
 * prepares it, the others find it in the cache, whatever the parameters. */
static void repeat_statements(uint32_t *msgid)
{
    for (int i = 0; i < 5; i++) {
        char want[32];
        snprintf(want, sizeof(want), "[[%d]]", i * 10);
        expect_rows_param(++*msgid, "query", "SELECT ? * 10", i, want);
        snprintf(want, sizeof(want), "[[%d]]", i);
        expect_rows_param(++*msgid, "exec",
                          "INSERT INTO t(v) VALUES (?) RETURNING v", i, want);
    }
}

Test(stmt_cache, repeated_sql_hits)
{
    start((const char *const[]){"--readers", "1", NULL});
    harness_exec_fresh(&d, "CREATE TABLE t(v)");
    uint32_t msgid = 0;
    int64_t hits = read_stat(&conn, "stmt_cache_hits");
    int64_t misses = read_stat(&conn, "stmt_cache_misses");
    repeat_statements(&msgid);
    hits = read_stat(&conn, "stmt_cache_hits") - hits;
    misses = read_stat(&conn, "stmt_cache_misses") - misses;
    cr_assert_geq(hits, 8, "%lld cache hits for 2 statements run 5 times",
                  (long long)hits);
    cr_assert_geq(misses, 2, "%lld cache misses for 2 new statements",
                  (long long)misses);
}

Test(stmt_cache, disabled)
{
    start((const char *const[]){"--readers", "1", "--statement-cache", "0",
                                NULL});
    harness_exec_fresh(&d, "CREATE TABLE t(v)");
    uint32_t msgid = 0;
    repeat_statements(&msgid);
    cr_assert_eq(read_stat(&conn, "stmt_cache_hits"), 0);
}

/* A cached SELECT * follows the schema: after a column is added, or the
 * table dropped and made anew, it returns the table's columns as they are
 * now; while the table is gone, it fails as SQLite says. */
static void schema_changes(const char *method)
{
    harness_exec_fresh(&d, "CREATE TABLE t(a, b); INSERT INTO t VALUES (1, 2)");
    int64_t hits = read_stat(&conn, "stmt_cache_hits");
    expect_result(1, method, "SELECT * FROM t", "[\"a\",\"b\"]", "[[1,2]]");
    expect_result(2, method, "SELECT * FROM t", "[\"a\",\"b\"]", "[[1,2]]");
    cr_assert_gt(read_stat(&conn, "stmt_cache_hits"), hits,
                 "the statement was not cached");

    harness_exec_fresh(&d, "ALTER TABLE t ADD COLUMN c DEFAULT 7");
    expect_result(3, method, "SELECT * FROM t", "[\"a\",\"b\",\"c\"]",
                  "[[1,2,7]]");

    harness_exec_fresh(&d, "DROP TABLE t; CREATE TABLE t(x TEXT);"
                           "INSERT INTO t VALUES ('hi')");
    expect_result(4, method, "SELECT * FROM t", "[\"x\"]", "[[\"hi\"]]");

    harness_exec_fresh(&d, "DROP TABLE t");
    harness_pack_sql(&conn.b, 5, method, "SELECT * FROM t");
    harness_send_buf(conn.fd, &conn.b);
    expect_error(&conn, 5, 1, "SQLITE_ERROR", "no such table");
    harness_exec_fresh(&d, "CREATE TABLE t(y, z); INSERT INTO t VALUES (3, 4)");
    expect_result(6, method, "SELECT * FROM t", "[\"y\",\"z\"]", "[[3,4]]");
}

Test(stmt_cache, schema_change_on_a_reader)
{
    start((const char *const[]){"--readers", "1", NULL});
    schema_changes("query");
}

Test(stmt_cache, schema_change_on_the_writer)
{
    start(NULL);
    schema_changes("exec");
}

/* ---------------------------------------------------------------- explain */

TestSuite(explain, .fini = teardown, .timeout = 60);

static void send_explain(uint32_t msgid, const char *sql)
{
    harness_pack_sql(&conn.b, msgid, "explain", sql);
    harness_send_buf(conn.fd, &conn.b);
}

/* Reads the answer to explain @msgid, checks its columns, and requires a
 * row whose detail holds @text. */
static void expect_plan(uint32_t msgid, const char *text)
{
    struct reply rep;
    struct codec_reader rows;
    uint32_t n;
    bool found = false;
    read_answer(&conn, msgid, &rep);
    expect_key(&rep, "columns", "[\"id\",\"parent\",\"detail\"]");
    cr_assert(harness_map_find(rep.result, "rows", &rows));
    cr_assert_eq(codec_read_array(&rows, &n), 0);
    cr_assert_gt(n, 0, "an empty plan");
    struct text plan = {.len = 0};
    for (uint32_t i = 0; i < n; i++) {
        uint32_t ncols;
        const char *detail;
        uint32_t len;
        struct codec_reader row = rows;
        cr_assert_eq(codec_read_array(&row, &ncols), 0);
        cr_assert_eq(ncols, 3);
        next_int(&row);
        next_int(&row);
        cr_assert_eq(codec_read_str(&row, &detail, &len), 0);
        if (memmem(detail, len, text, strlen(text)))
            found = true;
        render(&rows, &plan);
    }
    cr_assert(found, "no step of the plan %s mentions '%s'", plan.s, text);
    reply_free(&rep);
}

Test(explain, plans)
{
    start(NULL);
    harness_exec_fresh(&d, "CREATE TABLE users(id INTEGER PRIMARY KEY, "
                           "email TEXT, name TEXT);"
                           "CREATE INDEX users_email ON users(email)");

    harness_pack_request(&conn.b, 1, "explain", 2);
    codec_pack_cstr(&conn.b, "SELECT name FROM users WHERE email = ?");
    msgpack_pack_array(&conn.b.pk, 1);
    codec_pack_cstr(&conn.b, "ada@example.com");
    harness_send_buf(conn.fd, &conn.b);
    expect_plan(1, "USING INDEX users_email");
    /* Without params: they count as NULL. */
    send_explain(2, "SELECT name FROM users WHERE email = ?");
    expect_plan(2, "USING INDEX users_email");
    send_explain(3, "SELECT name FROM users WHERE id = 5");
    expect_plan(3, "INTEGER PRIMARY KEY");
    send_explain(4, "SELECT * FROM users WHERE name = 'x'");
    expect_plan(4, "SCAN users");
}

/* explain plans a write without running it. */
Test(explain, does_not_run_the_statement)
{
    start(NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(id INTEGER PRIMARY KEY, v);"
                           "INSERT INTO t VALUES (1, 'a')");
    send_explain(1, "DELETE FROM t WHERE id = 1");
    expect_plan(1, "INTEGER PRIMARY KEY");
    send_explain(2, "UPDATE t SET v = 'b'");
    expect_plan(2, "SCAN t");
    expect_result(3, "query", "SELECT * FROM t", "[\"id\",\"v\"]",
                  "[[1,\"a\"]]");
}

Test(explain, errors)
{
    start(NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(v)");
    send_explain(1, "SELECT 1; SELECT 2");
    expect_error(&conn, 1, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "one statement");
    send_explain(2, "SELEC 1");
    expect_error(&conn, 2, 1, "SQLITE_ERROR", "syntax error");
    send_explain(3, "SELECT * FROM nope");
    expect_error(&conn, 3, 1, "SQLITE_ERROR", "no such table");
    send_explain(4, "");
    expect_error(&conn, 4, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST", "empty");
    harness_pack_request(&conn.b, 5, "explain", 4);
    codec_pack_cstr(&conn.b, "SELECT 1");
    msgpack_pack_nil(&conn.b.pk);
    msgpack_pack_nil(&conn.b.pk);
    msgpack_pack_nil(&conn.b.pk);
    harness_send_buf(conn.fd, &conn.b);
    expect_error(&conn, 5, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "[sql, params?, options?]");
    harness_pack_request(&conn.b, 6, "explain", 2);
    codec_pack_cstr(&conn.b, "SELECT * FROM t WHERE v = ?");
    msgpack_pack_array(&conn.b.pk, 2);
    msgpack_pack_int64(&conn.b.pk, 1);
    msgpack_pack_int64(&conn.b.pk, 2);
    harness_send_buf(conn.fd, &conn.b);
    expect_error(&conn, 6, 25, "SQLITE_RANGE", "2 values");
}

/* ------------------------------------------------------- max-connections */

TestSuite(conn_limit, .fini = teardown, .timeout = 60);

/* Opens a raw connection and reads what the daemon says to a ping on it:
 * true for pong, false for the error notification of a refused connection
 * (which the daemon then closes). */
static bool try_connection(struct harness_raw *c)
{
    struct reply rep;
    harness_raw_open(c, &d);
    harness_pack_request(&c->b, PING_MSGID, "ping", 0);
    if (harness_try_send(c->fd, c->b.data, c->b.len) != 0) {
        codec_buf_reset(&c->b);
        harness_raw_close(c);
        return false;
    }
    codec_buf_reset(&c->b);
    harness_read_reply(&c->r, &rep);
    if (rep.kind == 1) {
        struct codec_reader r = rep.result;
        cr_assert(harness_read_str_eq(&r, "pong"));
        reply_free(&rep);
        return true;
    }
    cr_assert_str_eq(rep.method, "error");
    cr_assert_eq(rep.code, SQLITED_TOO_MANY_CONNECTIONS, "%lld %s: %s",
                 (long long)rep.code, rep.name, rep.message);
    cr_assert_str_eq(rep.name, "SQLITED_TOO_MANY_CONNECTIONS");
    cr_assert_eq(rep.primary, SQLITED_TOO_MANY_CONNECTIONS);
    cr_assert_not_null(strstr(rep.message, "max-connections"), "%s",
                       rep.message);
    reply_free(&rep);
    cr_assert(harness_read_eof(&c->r, HARNESS_IO_TIMEOUT_MS),
              "the daemon did not close a refused connection");
    harness_raw_close(c);
    return false;
}

Test(conn_limit, over_the_limit_is_refused)
{
    start((const char *const[]){"--max-connections", "2", NULL});
    struct harness_raw second = {0}, third = {0};
    ping_ms(&conn); /* the first is accepted before the others connect */
    cr_assert(try_connection(&second), "the second connection was refused");

    cr_assert_not(try_connection(&third), "a third connection was served");
    cr_assert_eq(read_stat(&conn, "connections_refused"), 1);
    cr_assert_eq(wait_stat(&conn, "connections", 2, 2), 2);
    cr_assert_not(try_connection(&third), "a third connection was served");
    cr_assert_eq(read_stat(&conn, "connections_refused"), 2);

    /* Once one leaves, a new connection is served. */
    harness_raw_close(&second);
    int64_t deadline = harness_now_ms() + POLL_MS;
    bool served;
    while (!(served = try_connection(&third)) && harness_now_ms() < deadline)
        sleep_ms(10);
    cr_assert(served, "no connection served after one of two closed");
    ping_ms(&third);
    harness_raw_close(&third);
}

/* ------------------------------------------------------------- decltypes */

TestSuite(query_decltypes, .fini = teardown, .timeout = 60);

/* Sends a query of @sql with the option decltypes set to @on. */
static void send_decltypes_query(uint32_t msgid, const char *sql, bool on)
{
    struct codec_buf *b = &conn.b;
    harness_pack_request(b, msgid, "query", 3);
    codec_pack_cstr(b, sql);
    msgpack_pack_nil(&b->pk);
    msgpack_pack_map(&b->pk, 1);
    codec_pack_cstr(b, "decltypes");
    if (on)
        msgpack_pack_true(&b->pk);
    else
        msgpack_pack_false(&b->pk);
    harness_send_buf(conn.fd, b);
}

/* The option decltypes adds the declared type of each result column beside
 * "columns", nil for an expression, in the first chunk of a cursor's result
 * too; without it (or false) the answer has no "decltypes". */
Test(query_decltypes, declared_types)
{
    start((const char *const[]){"--chunk-rows", "2", NULL});
    harness_exec_fresh(&d, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
                           "ts timestamp, name Varchar(20), n);"
                           "INSERT INTO t VALUES (1, 'x', 'a', 1), "
                           "(2, 'y', 'b', 2), (3, 'z', 'c', 3)");
    const char *sql = "SELECT id, ts, name, n, id + 1 AS e FROM t WHERE id = 1";
    struct reply rep;

    send_decltypes_query(1, sql, true);
    read_answer(&conn, 1, &rep);
    expect_key(&rep, "columns", "[\"id\",\"ts\",\"name\",\"n\",\"e\"]");
    expect_key(&rep, "decltypes",
               "[\"INTEGER\",\"timestamp\",\"Varchar(20)\",nil,nil]");
    expect_key(&rep, "rows", "[[1,\"x\",\"a\",1,2]]");
    reply_free(&rep);

    /* Three rows in chunks of two: the first chunk opens a cursor. */
    send_decltypes_query(2, "SELECT ts FROM t ORDER BY id", true);
    read_answer(&conn, 2, &rep);
    expect_key(&rep, "decltypes", "[\"timestamp\"]");
    expect_key(&rep, "rows", "[[\"x\"],[\"y\"]]");
    struct chunk ch;
    parse_chunk(&rep, &ch);
    cr_assert_neq(ch.cursor, 0, "no cursor for the rest of the rows");
    reply_free(&rep);
    send_cursor_call(&conn, 3, "close", ch.cursor);
    expect_nil(&conn, 3);

    struct codec_reader v;
    send_decltypes_query(4, sql, false);
    read_answer(&conn, 4, &rep);
    expect_key(&rep, "rows", "[[1,\"x\",\"a\",1,2]]");
    cr_assert_not(harness_map_find(rep.result, "decltypes", &v));
    reply_free(&rep);
    send_query(&conn, 5, sql);
    read_answer(&conn, 5, &rep);
    cr_assert_not(harness_map_find(rep.result, "decltypes", &v));
    reply_free(&rep);
}

/* A query that the writer runs (it changes rows) carries decltypes too. */
Test(query_decltypes, on_the_writer)
{
    start(NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(id INTEGER PRIMARY KEY, d date)");
    struct reply rep;
    send_decltypes_query(1,
                         "INSERT INTO t VALUES (7, '2026-12-03') "
                         "RETURNING id, d, 1",
                         true);
    read_answer(&conn, 1, &rep);
    expect_key(&rep, "decltypes", "[\"INTEGER\",\"date\",nil]");
    expect_key(&rep, "rows", "[[7,\"2026-12-03\",1]]");
    expect_key(&rep, "changes", "1");
    reply_free(&rep);
}

/* decltypes takes true or false; anything else is a bad request naming it,
 * and it is a query option only. */
Test(query_decltypes, invalid_values)
{
    start(NULL);
    struct codec_buf *b = &conn.b;
    harness_pack_request(b, 1, "query", 3);
    codec_pack_cstr(b, "SELECT 1");
    msgpack_pack_nil(&b->pk);
    msgpack_pack_map(&b->pk, 1);
    codec_pack_cstr(b, "decltypes");
    msgpack_pack_int64(&b->pk, 1);
    harness_send_buf(conn.fd, b);
    expect_error(&conn, 1, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "option decltypes must be true or false");
    harness_pack_request(b, 2, "exec", 3);
    codec_pack_cstr(b, "SELECT 1");
    msgpack_pack_nil(&b->pk);
    msgpack_pack_map(&b->pk, 1);
    codec_pack_cstr(b, "decltypes");
    msgpack_pack_true(&b->pk);
    harness_send_buf(conn.fd, b);
    expect_error(&conn, 2, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "unknown option 'decltypes' for exec");
}
