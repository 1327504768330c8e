/* WAL checkpoints: the daemon's own (threshold, idle truncate), the
 * checkpoint method in each mode, PRAGMA wal_checkpoint as the same
 * mechanism, sqlited_checkpoint() and sqlited-cli checkpoint. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw c;
static sqlited *db;

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &c);
}

TestSuite(checkpoint, .fini = teardown, .timeout = 120);

/* Size of the daemon's WAL file; 0 when there is none. */
static int64_t wal_size(void)
{
    char path[160];
    struct stat st;
    snprintf(path, sizeof(path), "%s-wal", d.db_path);
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Calls checkpoint with @mode (NULL: no params) and stores the response. */
static void call_checkpoint(const char *mode, struct reply *rep)
{
    uint32_t msgid = ++c.last_msgid;
    harness_pack_request(&c.b, msgid, "checkpoint", mode ? 1 : 0);
    if (mode)
        msgpack_pack_str_with_body(&c.b.pk, mode, strlen(mode));
    harness_raw_call(&c, msgid, rep);
}

/* Some writes, so that the WAL holds frames. */
static void write_some(void)
{
    harness_exec(db, "CREATE TABLE IF NOT EXISTS t(x);"
                     "INSERT INTO t WITH RECURSIVE c(i) AS (SELECT 1 UNION "
                     "ALL SELECT i + 1 FROM c WHERE i < 50) "
                     "SELECT randomblob(1000) FROM c");
}

Test(checkpoint, method_in_each_mode)
{
    static const char *const modes[] = {"PASSIVE", "full", "Restart",
                                        "TRUNCATE"};
    static const char *const names[] = {"PASSIVE", "FULL", "RESTART",
                                        "TRUNCATE"};
    struct reply rep;

    db = harness_start_with_raw(&d, &c, NULL);
    for (int i = 0; i < 4; i++) {
        write_some();
        int64_t before = wal_size();
        cr_assert_gt(before, 0, "the writes left no WAL");
        call_checkpoint(modes[i], &rep);
        cr_assert_not(rep.is_error, "%s: %s %s", modes[i], rep.name,
                      rep.message);
        struct codec_reader v;
        cr_assert(harness_map_find(rep.result, "mode", &v));
        cr_assert(harness_read_str_eq(&v, names[i]), "%s: mode", modes[i]);
        cr_assert_eq(harness_result_int(rep.result, "busy"), 0);
        int64_t log = harness_result_int(rep.result, "log_frames");
        int64_t done = harness_result_int(rep.result, "checkpointed_frames");
        cr_assert_eq(done, log, "%s: %lld of %lld frames", modes[i],
                     (long long)done, (long long)log);
        cr_assert_eq(harness_result_int(rep.result, "wal_bytes_before"),
                     before);
        cr_assert(harness_map_find(rep.result, "duration_ms", &v));
        int64_t after = harness_result_int(rep.result, "wal_bytes_after");
        if (i == 3) {
            cr_assert_eq(after, 0, "TRUNCATE left %lld bytes",
                         (long long)after);
            cr_assert_eq(wal_size(), 0);
        } else {
            cr_assert_gt(log, 0, "%s: no frames in the WAL", modes[i]);
        }
        reply_free(&rep);
    }
    cr_assert_geq(harness_stat(&d, "checkpoints"), 4);
    cr_assert_gt(harness_stat(&d, "checkpoint_last_unix_ms"), 0);
    cr_assert_eq(harness_stat(&d, "checkpoint_last_log_frames"), 0);

    /* No params is PASSIVE. */
    call_checkpoint(NULL, &rep);
    cr_assert_not(rep.is_error, "%s %s", rep.name, rep.message);
    struct codec_reader v;
    cr_assert(harness_map_find(rep.result, "mode", &v));
    cr_assert(harness_read_str_eq(&v, "PASSIVE"));
    reply_free(&rep);
}

Test(checkpoint, bad_mode_refused)
{
    struct reply rep;

    db = harness_start_with_raw(&d, &c, NULL);
    call_checkpoint("SOMETIMES", &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "params[0] (mode) must be \"PASSIVE\", \"FULL\", "
                         "\"RESTART\" or \"TRUNCATE\"");
    reply_free(&rep);

    uint32_t msgid = ++c.last_msgid;
    harness_pack_request(&c.b, msgid, "checkpoint", 1);
    msgpack_pack_int(&c.b.pk, 3);
    harness_raw_call(&c, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "params[0] (mode) must be");
    reply_free(&rep);

    msgid = ++c.last_msgid;
    harness_pack_request(&c.b, msgid, "checkpoint", 2);
    msgpack_pack_nil(&c.b.pk);
    msgpack_pack_nil(&c.b.pk);
    harness_raw_call(&c, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "checkpoint takes [mode?], 2 params given");
    reply_free(&rep);
}

/* PRAGMA wal_checkpoint is the checkpoint method with SQLite's answer: it
 * runs between groups and is counted like the method. */
Test(checkpoint, pragma_is_the_method)
{
    struct reply rep;
    static const char *const forms[] = {
        "PRAGMA wal_checkpoint(TRUNCATE)",
        " pragma main.wal_checkpoint = 'truncate' ; -- done",
        "/* x */ PRAGMA wal_checkpoint(\"TRUNCATE\");",
    };

    db = harness_start_with_raw(&d, &c, NULL);
    for (int i = 0; i < 3; i++) {
        write_some();
        cr_assert_gt(wal_size(), 0);
        int64_t before = harness_stat(&d, "checkpoints");
        harness_raw_sql(&c, i == 1 ? "exec" : "query", forms[i], NULL, &rep);
        cr_assert_not(rep.is_error, "%s: %s %s", forms[i], rep.name,
                      rep.message);
        uint32_t nrows, ncols;
        struct codec_reader row = harness_reply_rows(&rep, &nrows, &ncols);
        cr_assert_eq(nrows, 1);
        cr_assert_eq(ncols, 3);
        int64_t busy;
        cr_assert_eq(codec_read_int64(&row, &busy), 0);
        cr_assert_eq(busy, 0);
        struct codec_reader cols;
        cr_assert(harness_map_find(rep.result, "columns", &cols));
        uint32_t n;
        cr_assert_eq(codec_read_array(&cols, &n), 0);
        cr_assert(harness_read_str_eq(&cols, "busy"));
        cr_assert(harness_read_str_eq(&cols, "log"));
        cr_assert(harness_read_str_eq(&cols, "checkpointed"));
        reply_free(&rep);
        cr_assert_eq(wal_size(), 0, "%s left a WAL", forms[i]);
        cr_assert_eq(harness_stat(&d, "checkpoints"), before + 1);
    }

    /* Anywhere else it would not run alone: refused, naming the way. */
    static const char *const refused[] = {
        "SELECT 1; PRAGMA wal_checkpoint",
        "PRAGMA wal_checkpoint(SOMETIMES)",
        "PRAGMA temp.wal_checkpoint",
    };
    for (int i = 0; i < 3; i++) {
        harness_raw_sql(&c, "exec", refused[i], NULL, &rep);
        harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                             "PRAGMA wal_checkpoint runs only as a request "
                             "of its own");
        reply_free(&rep);
    }
    int64_t tx = harness_raw_begin(&c, NULL);
    harness_raw_sql(&c, "query", "PRAGMA wal_checkpoint",
                    &(struct harness_options){.tx = tx}, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "or use the checkpoint method");
    reply_free(&rep);
    harness_raw_end_ok(&c, "rollback", tx);
}

/* issue 11: the WAL stays under its threshold, plus the frames of one
 * group, while 8 clients write. Without the daemon's checkpoints it grows
 * by every row (SQLite's own would let it reach 4 MiB). */
Test(checkpoint, wal_bounded_under_8_writers)
{
    enum { WRITERS = 8, ROWS = 1200, THRESHOLD = 256 * 1024 };
    static struct harness_writer w[WRITERS];
    /* A group holds at most one request per client, each one row of about
     * a kilobyte: with the pages of the tree above it, far less than this. */
    const int64_t margin = 128 * 1024;

    db = harness_start_with_raw(
        &d, &c,
        (const char *const[]){"--wal-checkpoint-bytes", "262144", NULL});
    harness_exec(db, "CREATE TABLE t(id INTEGER, seq INTEGER, "
                     "pad BLOB DEFAULT (randomblob(1000)))");
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct harness_writer){.sock_path = d.sock_path,
                                       .sql = "INSERT INTO t(id, seq) "
                                              "VALUES (?, ?)",
                                       .id = i,
                                       .count = ROWS};
        harness_writer_start(&w[i]);
    }
    int64_t max = 0;
    for (;;) {
        int64_t size = wal_size();
        if (size > max)
            max = size;
        int done = 0;
        for (int i = 0; i < WRITERS; i++)
            done += harness_writer_acked(&w[i]) == ROWS;
        if (done == WRITERS)
            break;
        harness_sleep_ms(1);
    }
    for (int i = 0; i < WRITERS; i++) {
        harness_writer_join(&w[i]);
        cr_assert_eq(w[i].rc, 0, "writer %d: %s", i, w[i].failure);
    }
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"),
                 WRITERS * ROWS);
    cr_log_info("the WAL reached %lld bytes at most", (long long)max);
    cr_assert_leq(max, THRESHOLD + margin,
                  "the WAL reached %lld bytes; threshold %d + margin %lld",
                  (long long)max, THRESHOLD, (long long)margin);
    /* About 10 MB were written: the threshold was passed many times. */
    cr_assert_geq(harness_stat(&d, "checkpoints"), 4);
}

/* A database idle for --wal-idle-timeout has its WAL truncated. */
Test(checkpoint, idle_truncates_the_wal)
{
    db = harness_start_with_raw(
        &d, &c, (const char *const[]){"--wal-idle-timeout", "100", NULL});
    write_some();
    /* The file is truncated a moment before the checkpoint is counted. */
    int64_t deadline = harness_now_ms() + 20000;
    while ((wal_size() > 0 || harness_stat(&d, "checkpoints") == 0) &&
           harness_now_ms() < deadline)
        harness_sleep_ms(20);
    cr_assert_eq(wal_size(), 0, "the WAL kept %lld bytes",
                 (long long)wal_size());
    cr_assert_geq(harness_stat(&d, "checkpoints"), 1);
}

/* The library call and the CLI subcommand. */
Test(checkpoint, client_and_cli)
{
    sqlited_checkpoint_info info;
    struct harness_output o;

    db = harness_start_with_raw(&d, &c, NULL);
    write_some();
    memset(&info, 0xff, sizeof(info));
    HARNESS_ASSERT_OK(
        db, sqlited_checkpoint(db, SQLITED_CHECKPOINT_PASSIVE, &info));
    cr_assert_eq(info.busy, 0);
    cr_assert_gt(info.log_frames, 0);
    cr_assert_eq(info.checkpointed_frames, info.log_frames);
    cr_assert_gt(info.wal_bytes_before, 0);
    cr_assert_geq(info.duration_ms, 0);
    cr_assert_eq(sqlited_checkpoint(db, 7, &info), SQLITED_EMISUSE);
    cr_assert_str_eq(sqlited_errmsg(db), "unknown checkpoint mode 7");

    write_some();
    const char *argv[] = {SQLITED_CLI, "-s",     d.sock_path, "checkpoint",
                          "truncate",  "--json", NULL};
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "status %d, stderr: %s", o.status, o.err);
    cr_assert(strstr(o.out, "{\"mode\": \"TRUNCATE\", \"busy\": 0, ") == o.out,
              "printed: %s", o.out);
    cr_assert(strstr(o.out, "\"wal_bytes_after\": 0, ") != NULL, "printed: %s",
              o.out);
    cr_assert_eq(wal_size(), 0);
    harness_output_free(&o);

    const char *plain[] = {SQLITED_CLI, "-s", d.sock_path, "checkpoint", NULL};
    harness_run(plain, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "status %d, stderr: %s", o.status, o.err);
    cr_assert(strncmp(o.out, "PASSIVE checkpoint: ", 20) == 0, "printed: %s",
              o.out);
    harness_output_free(&o);

    const char *bad[] = {SQLITED_CLI,  "-s",    d.sock_path,
                         "checkpoint", "often", NULL};
    harness_run(bad, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2);
    cr_assert(strstr(o.err, "unknown checkpoint mode (PASSIVE, FULL, RESTART, "
                            "TRUNCATE): often") != NULL,
              "stderr: %s", o.err);
    harness_output_free(&o);
}
