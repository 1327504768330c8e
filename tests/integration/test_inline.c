/* Short reads answered on the I/O loop (README, "The daemon"; PROTOCOL.md,
 * "Threads"): the loop runs a query itself within --inline-budget, and
 * hands anything it cannot finish there (past the budget, a lock, a cursor,
 * a write) to the reader pool or the writer, whose answer is then exactly
 * what the pool alone gives. The stats count both. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* How long a test waits for something the daemon does meanwhile. */
#define POLL_MS 20000

/* A read of about a second of SQLite's work on this machine: far past a
 * budget of a millisecond, and its answer known. */
#define SLOW_ROWS 3000000
#define SLOW_SQL                                                               \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE "    \
    "x < 3000000) SELECT sum(x), count(*) FROM c"

static struct daemon d, d2;
static struct harness_raw a, b;

static void teardown(void)
{
    harness_raw_close(&a);
    harness_raw_close(&b);
    daemon_cleanup(&d);
    daemon_cleanup(&d2);
}

TestSuite(inline_read, .fini = teardown, .timeout = 120);

/* Starts @dm with @args and opens @c on it. */
static void start(struct daemon *dm, struct harness_raw *c,
                  const char *const *args)
{
    daemon_start(dm, args);
    harness_raw_open(c, dm);
}

/* Waits (bounded) until the stats counter @key of @dm reaches @want;
 * returns its last value. */
static int64_t wait_stat(struct daemon *dm, const char *key, int64_t want)
{
    int64_t n = 0, until = harness_now_ms() + POLL_MS;
    while ((n = harness_stat(dm, key)) < want && harness_now_ms() < until)
        harness_sleep_ms(10);
    return n;
}

/* Sends query @sql on @c as msgid @msgid, without waiting. */
static void send_query(struct harness_raw *c, uint32_t msgid, const char *sql)
{
    harness_pack_sql(&c->b, msgid, "query", sql);
    harness_send_buf(c->fd, &c->b);
}

/* Reads the answer to @msgid on @c: a result of one row of two integers. */
static void read_pair(struct harness_raw *c, uint32_t msgid, int64_t *x,
                      int64_t *y)
{
    struct reply rep;
    uint32_t nrows, ncols;
    harness_read_reply(&c->r, &rep);
    cr_assert_eq(rep.msgid, msgid);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    struct codec_reader row = harness_reply_rows(&rep, &nrows, &ncols);
    cr_assert_eq(nrows, 1);
    cr_assert_eq(ncols, 2);
    cr_assert_eq(codec_read_int64(&row, x), 0);
    cr_assert_eq(codec_read_int64(&row, y), 0);
    reply_free(&rep);
}

/* A read that runs past the budget is handed to a reader and answers what a
 * daemon that never reads inline answers. */
Test(inline_read, overrun_answers_as_the_pool_does)
{
    int64_t sum0, n0, sum1, n1;

    start(&d, &a, (const char *const[]){"--inline-budget", "0", NULL});
    start(&d2, &b, (const char *const[]){"--inline-budget", "1", NULL});
    send_query(&a, 1, SLOW_SQL);
    read_pair(&a, 1, &sum0, &n0);
    send_query(&b, 1, SLOW_SQL);
    read_pair(&b, 1, &sum1, &n1);

    cr_assert_eq(n0, SLOW_ROWS);
    cr_assert_eq(sum0, (int64_t)SLOW_ROWS * (SLOW_ROWS + 1) / 2);
    cr_assert_eq(sum1, sum0, "inline: %" PRId64 ", pool: %" PRId64, sum1, sum0);
    cr_assert_eq(n1, n0);
    cr_assert_eq(harness_stat(&d, "inline_reads"), 0);
    cr_assert_eq(harness_stat(&d, "inline_handoffs"), 0);
    cr_assert_eq(harness_stat(&d2, "inline_reads"), 0);
    cr_assert_eq(harness_stat(&d2, "inline_handoffs"), 1);
}

/* While a slow read runs, a ping on another connection of the same loop
 * is answered: the loop gave the read up at its budget. One I/O loop, so
 * that both connections are its. */
Test(inline_read, slow_read_does_not_hold_up_ping)
{
    static const char *const one_loop[] = {"--io-threads", "1", NULL};
    int64_t sum, n;
    struct reply rep;

    start(&d, &a, one_loop);
    harness_raw_open(&b, &d);
    send_query(&a, 1, SLOW_SQL);
    /* The loop took the read first, and gave it up. */
    cr_assert_eq(wait_stat(&d, "inline_handoffs", 1), 1);
    harness_pack_request(&b.b, 2, "ping", 0);
    harness_send_buf(b.fd, &b.b);
    harness_read_reply(&b.r, &rep);
    cr_assert_eq(rep.msgid, 2);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    struct pollfd p = {.fd = a.fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 0), 0,
                 "the slow read was answered before the ping: the loop "
                 "ran it to its end");
    read_pair(&a, 1, &sum, &n);
    cr_assert_eq(n, SLOW_ROWS);
    cr_assert_eq(harness_stat(&d, "inline_handoffs"), 1);
}

/* The -shm file's lock bytes (SQLite's WAL_WRITE_LOCK and WAL_RECOVER_LOCK)
 * and the first copy of its header, as another process holding them sees
 * them. */
#define SHM_LOCK_WRITE 120
#define SHM_LOCK_RECOVER 122
#define SHM_HEADER 48

struct shm_hold {
    int fd;
    unsigned char header[SHM_HEADER];
};

static void lock_byte(int fd, off_t at)
{
    struct flock fl = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = at, .l_len = 1};
    cr_assert_eq(fcntl(fd, F_SETLK, &fl), 0, "lock byte %lld: %s",
                 (long long)at, strerror(errno));
}

/* Plays another process caught running WAL recovery: the WAL index header
 * is torn (its two copies differ) and the recovery lock is held. A read
 * that begins now meets SQLITE_BUSY_RECOVERY until hold_end(). */
static void hold_start(struct shm_hold *h)
{
    char path[160];
    snprintf(path, sizeof(path), "%s-shm", d.db_path);
    h->fd = open(path, O_RDWR | O_CLOEXEC);
    cr_assert_geq(h->fd, 0, "open %s: %s", path, strerror(errno));
    lock_byte(h->fd, SHM_LOCK_WRITE);
    lock_byte(h->fd, SHM_LOCK_RECOVER);
    cr_assert_eq(pread(h->fd, h->header, SHM_HEADER, 0), SHM_HEADER);
    unsigned char torn[SHM_HEADER];
    memcpy(torn, h->header, SHM_HEADER);
    torn[8] ^= 0xff; /* iChange */
    cr_assert_eq(pwrite(h->fd, torn, SHM_HEADER, 0), SHM_HEADER);
}

/* Mends the header and lets go of the locks. */
static void hold_end(struct shm_hold *h)
{
    cr_assert_eq(pwrite(h->fd, h->header, SHM_HEADER, 0), SHM_HEADER);
    close(h->fd); /* releases the locks */
}

/* A read that meets a lock is handed to a reader, which waits it out; the
 * loop never waits. */
Test(inline_read, lock_hands_off)
{
    struct shm_hold h;
    struct reply rep;

    start(&d, &a, NULL);
    harness_raw_exec(&a, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2)",
                     NULL);
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t", NULL), 2);
    hold_start(&h);
    send_query(&a, 1, "SELECT count(*) FROM t");
    int64_t handoffs = wait_stat(&d, "inline_handoffs", 1);
    hold_end(&h);
    cr_assert_eq(handoffs, 1, "the read never left the loop");
    harness_read_reply(&a.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_eq(harness_reply_int(&rep), 2);
    reply_free(&rep);
}

/* More rows than a chunk: the loop hands the query to a reader, which
 * opens the cursor; the rest is fetched as always, and the loop's own
 * connection still answers afterwards. */
Test(inline_read, large_result_opens_a_cursor)
{
    struct reply rep;
    struct codec_reader v;
    int64_t id = 0;
    uint32_t rows = 0;

    start(&d, &a, (const char *const[]){"--chunk-rows", "10", NULL});
    harness_raw_exec(&a,
                     "CREATE TABLE t(x); WITH RECURSIVE c(x) AS (SELECT 1 "
                     "UNION ALL SELECT x + 1 FROM c WHERE x < 25) INSERT "
                     "INTO t SELECT x FROM c",
                     NULL);
    send_query(&a, 1, "SELECT x FROM t ORDER BY x");
    for (uint32_t msgid = 1;; msgid++) {
        harness_read_reply(&a.r, &rep);
        cr_assert_eq(rep.msgid, msgid);
        cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
        cr_assert(harness_map_find(rep.result, "rows", &v));
        uint32_t n;
        cr_assert_eq(codec_read_array(&v, &n), 0);
        rows += n;
        bool more = harness_map_find(rep.result, "cursor", &v);
        if (more)
            cr_assert_eq(codec_read_int64(&v, &id), 0);
        reply_free(&rep);
        if (!more)
            break;
        harness_pack_request(&a.b, msgid + 1, "fetch", 1);
        msgpack_pack_int64(&a.b.pk, id);
        harness_send_buf(a.fd, &a.b);
    }
    cr_assert_eq(rows, 25);
    cr_assert_gt(id, 0, "no cursor opened");
    cr_assert_eq(harness_stat(&d, "cursors_opened"), 1);
    cr_assert_eq(harness_stat(&d, "inline_handoffs"), 1);
    int64_t before = harness_stat(&d, "inline_reads");
    cr_assert_eq(harness_raw_query_int(&a, "SELECT max(x) FROM t", NULL), 25);
    cr_assert_eq(harness_stat(&d, "inline_reads"), before + 1);
}

/* A write sent as query leaves the loop for the writer, which applies it
 * and answers its RETURNING rows. */
Test(inline_read, write_sent_as_query_goes_to_the_writer)
{
    start(&d, &a, NULL);
    harness_raw_exec(&a, "CREATE TABLE t(x)", NULL);
    cr_assert_eq(
        harness_raw_query_int(&a, "INSERT INTO t VALUES (7) RETURNING x", NULL),
        7);
    cr_assert_eq(harness_raw_query_int(&a, "SELECT sum(x) FROM t", NULL), 7);
    cr_assert_eq(harness_stat(&d, "inline_handoffs"), 1);
    cr_assert_eq(harness_stat(&d, "inline_reads"), 1);
}

/* stats and the Prometheus metrics count the reads the loop answered and
 * the ones it handed off. */
Test(inline_read, stats_and_metrics_count_them)
{
    struct reply rep;
    const char *text;
    uint32_t len;
    char want[64];

    start(&d, &a, NULL);
    harness_raw_exec(&a, "CREATE TABLE t(x); INSERT INTO t VALUES (1)", NULL);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(harness_raw_query_int(&a, "SELECT x FROM t", NULL), 1);
    cr_assert_eq(
        harness_raw_query_int(&a, "INSERT INTO t VALUES (2) RETURNING x", NULL),
        2);
    cr_assert_eq(harness_stat(&d, "inline_reads"), 5);
    cr_assert_eq(harness_stat(&d, "inline_handoffs"), 1);

    harness_pack_request(&a.b, 9, "metrics", 0);
    harness_send_buf(a.fd, &a.b);
    harness_read_reply(&a.r, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert_eq(codec_read_str(&rep.result, &text, &len), 0);
    char *copy = strndup(text, len);
    snprintf(want, sizeof(want), "\nsqlited_inline_reads_total 5\n");
    cr_assert_not_null(strstr(copy, want), "no '%s' in the metrics", want + 1);
    snprintf(want, sizeof(want), "\nsqlited_inline_handoffs_total 1\n");
    cr_assert_not_null(strstr(copy, want), "no '%s' in the metrics", want + 1);
    free(copy);
    reply_free(&rep);
}

/* One row larger than a chunk is encoded by a reader, not on the loop, and
 * arrives whole. */
Test(inline_read, huge_row_is_handed_off)
{
    struct reply rep;
    uint32_t nrows, ncols;
    struct codec_value v;

    start(&d, &a, NULL);
    send_query(&a, 1, "SELECT zeroblob(3 << 20)");
    harness_read_reply(&a.r, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    struct codec_reader row = harness_reply_rows(&rep, &nrows, &ncols);
    cr_assert_eq(nrows, 1);
    cr_assert_eq(codec_read(&row, &v), 0);
    cr_assert_eq(v.type, CODEC_BIN);
    cr_assert_eq(v.v.s.len, 3u << 20);
    reply_free(&rep);
    cr_assert_eq(harness_stat(&d, "inline_handoffs"), 1);
    cr_assert_eq(harness_stat(&d, "inline_reads"), 0);
}

/* A read inside a client's interactive transaction runs on the writer's
 * connection and sees the transaction's own changes: the loop leaves it
 * alone. */
Test(inline_read, read_in_a_transaction_stays_with_the_writer)
{
    start(&d, &a, NULL);
    harness_raw_exec(&a, "CREATE TABLE t(x)", NULL);
    int64_t tx = harness_raw_begin(&a, NULL);
    harness_raw_exec(&a, "INSERT INTO t VALUES (5)",
                     &(struct harness_options){.tx = tx});
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t",
                                       &(struct harness_options){.tx = tx}),
                 1, "the read did not see its transaction's insert");
    cr_assert_eq(harness_stat(&d, "inline_reads"), 0);
    cr_assert_eq(harness_stat(&d, "inline_handoffs"), 0);
    cr_assert_eq(harness_raw_query_int(&a, "SELECT count(*) FROM t", NULL), 0,
                 "a read outside the transaction saw its insert");
    cr_assert_eq(harness_stat(&d, "inline_reads"), 1);
}
