/* Issue 10, hole 5: no client can make the WAL grow without bound. A
 * cursor fetched just often enough not to idle out, or a long read, pins a
 * snapshot that keeps checkpoints from completing; past --wal-max-bytes the
 * daemon ends the oldest such holder, and a cursor older than
 * --cursor-max-age ends anyway. Small limits make the attack quick. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

enum {
    CHECKPOINT_BYTES = 64 * 1024,
    MAX_BYTES = 256 * 1024,
    WRITERS = 4,
    ROWS = 2500, /* per writer, of about a kilobyte: 10 MB in all */
};

static struct daemon d;
static struct harness_raw c;
static sqlited *db;
static struct harness_writer w[WRITERS];

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &c);
}

TestSuite(wal_limit, .fini = teardown, .timeout = 120);

static const char *const limits[] = {"--wal-checkpoint-bytes",
                                     "65536",
                                     "--wal-max-bytes",
                                     "262144",
                                     "--chunk-rows",
                                     "10",
                                     "--cursor-idle-timeout",
                                     "60000",
                                     NULL};

static int64_t wal_size(void)
{
    char path[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s-wal", d.db_path);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* A table to write to, and one of 5,000 rows to hold a cursor on. */
static void start(const char *const *args)
{
    db = harness_start_with_raw(&d, &c, args);
    harness_exec(db, "CREATE TABLE t(id INTEGER, seq INTEGER, "
                     "pad BLOB DEFAULT (randomblob(1000)));"
                     "CREATE TABLE big(x INTEGER);"
                     "INSERT INTO big WITH RECURSIVE n(i) AS (SELECT 1 UNION "
                     "ALL SELECT i + 1 FROM n WHERE i < 5000) SELECT i FROM n");
}

static void start_writers(void)
{
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct harness_writer){.sock_path = d.sock_path,
                                       .sql = "INSERT INTO t(id, seq) "
                                              "VALUES (?, ?)",
                                       .id = i,
                                       .count = ROWS};
        harness_writer_start(&w[i]);
    }
}

static bool writers_done(void)
{
    for (int i = 0; i < WRITERS; i++)
        if (harness_writer_acked(&w[i]) < ROWS)
            return false;
    return true;
}

static void join_writers(void)
{
    for (int i = 0; i < WRITERS; i++) {
        harness_writer_join(&w[i]);
        cr_assert_eq(w[i].rc, 0, "writer %d: %s", i, w[i].failure);
    }
}

/* Opens a cursor on big with a query on @c; returns its id. */
static uint64_t open_cursor(void)
{
    struct reply rep;
    struct codec_reader v;
    int64_t id;
    harness_raw_sql(&c, "query", "SELECT x FROM big", NULL, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert(harness_map_find(rep.result, "cursor", &v), "no cursor");
    cr_assert_eq(codec_read_int64(&v, &id), 0);
    reply_free(&rep);
    return (uint64_t)id;
}

/* Fetches the next chunk of cursor @id into @rep. */
static void fetch(uint64_t id, struct reply *rep)
{
    uint32_t msgid = ++c.last_msgid;
    harness_pack_request(&c.b, msgid, "fetch", 1);
    msgpack_pack_uint64(&c.b.pk, id);
    harness_raw_call(&c, msgid, rep);
}

/* Waits (bounded) until the idle daemon has truncated its WAL. */
static void assert_wal_truncated(void)
{
    int64_t deadline = harness_now_ms() + 20000;
    while (wal_size() > 0 && harness_now_ms() < deadline)
        harness_sleep_ms(20);
    cr_assert_eq(wal_size(), 0, "the WAL kept %lld bytes",
                 (long long)wal_size());
}

/* The attack: a cursor fetched every 100 ms (well inside its idle timeout)
 * while 4 clients write. The daemon closes it once the WAL passes
 * --wal-max-bytes, the client's next fetch says why, the WAL stays bounded
 * and shrinks once the cursor is gone. */
Test(wal_limit, cursor_ended_when_the_wal_passes_its_limit)
{
    struct reply rep;
    int64_t max = 0, next_fetch = 0;
    bool ended = false;

    start(limits);
    uint64_t id = open_cursor();
    start_writers();
    while (!writers_done()) {
        int64_t size = wal_size();
        if (size > max)
            max = size;
        if (!ended && harness_now_ms() >= next_fetch) {
            fetch(id, &rep);
            if (rep.is_error) {
                harness_assert_error(
                    &rep, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                    "is not open: the daemon closed it when the WAL passed its "
                    "limit (--wal-max-bytes, 262144 bytes), since it held the "
                    "oldest snapshot");
                ended = true;
            }
            reply_free(&rep);
            next_fetch = harness_now_ms() + 100;
        }
        harness_sleep_ms(1);
    }
    join_writers();
    cr_assert(ended, "the cursor was never ended");
    /* The limit, plus what is written while the cursor is being closed
     * (the writer waits for that instead of writing, normally a group). */
    cr_log_info("the WAL reached %lld bytes at most", (long long)max);
    cr_assert_leq(max, 2 * MAX_BYTES,
                  "the WAL reached %lld bytes; --wal-max-bytes is %d",
                  (long long)max, MAX_BYTES);
    cr_assert_geq(harness_stat(&d, "snapshots_released"), 1);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"),
                 WRITERS * ROWS);
    assert_wal_truncated();
}

/* A read that runs long on a reader pins its snapshot too: it is
 * interrupted, with an error naming the WAL limit. */
Test(wal_limit, long_read_interrupted_when_the_wal_passes_its_limit)
{
    struct reply rep;
    struct harness_raw reader = {0};
    int64_t max = 0;

    start(limits);
    harness_raw_open(&reader, &d);
    /* The subquery on big opens a read transaction, held until the count
     * ends, minutes later. */
    harness_pack_sql_options(
        &reader.b, 1, "query",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 1000000000) SELECT count(*) FROM c "
        "WHERE x > (SELECT count(*) FROM big)",
        &(struct harness_options){.has_timeout = true, .timeout_ms = 100000});
    harness_send_buf(reader.fd, &reader.b);
    harness_sleep_ms(200); /* it is running */
    start_writers();
    while (!writers_done()) {
        int64_t size = wal_size();
        if (size > max)
            max = size;
        harness_sleep_ms(1);
    }
    join_writers();
    harness_read_reply(&reader.r, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "interrupted: the WAL passed its limit "
                         "(--wal-max-bytes, 262144 bytes) and this read held "
                         "the oldest snapshot");
    reply_free(&rep);
    harness_raw_close(&reader);
    cr_log_info("the WAL reached %lld bytes at most", (long long)max);
    cr_assert_leq(max, 2 * MAX_BYTES,
                  "the WAL reached %lld bytes; --wal-max-bytes is %d",
                  (long long)max, MAX_BYTES);
    assert_wal_truncated();
}

/* A cursor fetched often enough never idles out, but it ends at
 * --cursor-max-age whatever the WAL. */
Test(wal_limit, cursor_ends_at_its_maximum_age)
{
    struct reply rep;
    bool ended = false;

    start((const char *const[]){"--cursor-max-age", "500", "--chunk-rows", "1",
                                NULL});
    uint32_t msgid = ++c.last_msgid;
    struct codec_reader lim;
    harness_pack_request(&c.b, msgid, "hello", 0);
    harness_raw_call(&c, msgid, &rep);
    cr_assert(harness_map_find(rep.result, "limits", &lim));
    cr_assert_eq(harness_result_int(lim, "cursor_max_age_ms"), 500);
    reply_free(&rep);

    uint64_t id = open_cursor();
    int64_t deadline = harness_now_ms() + 30000;
    while (!ended && harness_now_ms() < deadline) {
        fetch(id, &rep);
        if (rep.is_error) {
            harness_assert_error(
                &rep, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                "is not open: the daemon closed it when it had been open for "
                "500 ms, its --cursor-max-age");
            ended = true;
        }
        reply_free(&rep);
        harness_sleep_ms(50);
    }
    cr_assert(ended, "the cursor was still open after 30 s");
    cr_assert_eq(harness_stat(&d, "cursors_aged_out"), 1);
    cr_assert_eq(harness_stat(&d, "cursors_expired"), 0);
}

/* An idle cursor's next fetch says it idled out. */
Test(wal_limit, idle_cursor_says_why)
{
    struct reply rep;

    start((const char *const[]){"--cursor-idle-timeout", "100", "--chunk-rows",
                                "10", NULL});
    uint64_t id = open_cursor();
    int64_t deadline = harness_now_ms() + 20000;
    while (harness_stat(&d, "cursors_expired") == 0 &&
           harness_now_ms() < deadline)
        harness_sleep_ms(20);
    fetch(id, &rep);
    harness_assert_error(&rep, SQLITED_CURSOR_EXPIRED, "SQLITED_CURSOR_EXPIRED",
                         "is not open: the daemon closed it when no fetch came "
                         "for 100 ms (its --cursor-idle-timeout)");
    reply_free(&rep);
}
