/* cancel (PROTOCOL.md) of the operator methods while they run: backup,
 * vacuum, optimize, integrity, checkpoint and migrate. Each gets exactly one
 * answer; a backup stopped leaves no file behind, a vacuum or an ANALYZE
 * stopped changes nothing, and the daemon goes on serving. Those that are
 * not stopped once running (checkpoint, migrate) say so and finish.
 *
 * Work that lasts long enough to be cancelled comes from a database of a
 * few tens of MB, and the tests wait for a sign that the work runs (its
 * temporary file, its line in the daemon's log, a wait counted in the
 * stats) before they cancel it; never for a time. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw conn;
static sqlited *db;
static char bkdir[64]; /* --backup-dir, when a test has one */
static char mdir[64];  /* --migrations, when a test has one */

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &conn);
    for (char *dir = bkdir; dir; dir = dir == bkdir ? mdir : NULL) {
        char cmd[200];
        if (dir[0] == '\0')
            continue;
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
    }
}

TestSuite(cancel_ops, .fini = teardown, .timeout = 240);

/* Starts the daemon with @extra (NULL-terminated, may be NULL) and the log
 * at info, where the maintenance methods say when they start. */
static void start(const char *const *extra)
{
    const char *args[24] = {"--log-level", "info"};
    size_t n = 2;
    for (; extra && extra[n - 2]; n++)
        args[n] = extra[n - 2];
    args[n] = NULL;
    db = harness_start_with_raw(&d, &conn, args);
}

/* Rows of about 130 bytes with an index on b: @rows of them make a
 * database of @rows * 130 bytes or so, whose integrity_check, VACUUM and
 * backup take long enough (a second for 300,000 rows here) to be cancelled
 * while they run. */
static void fill(struct harness_raw *c, int rows)
{
    char sql[512];
    harness_raw_exec(c,
                     "CREATE TABLE big(id INTEGER PRIMARY KEY, a TEXT, b INT);"
                     "CREATE INDEX big_b ON big(b)",
                     NULL);
    snprintf(sql, sizeof(sql),
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
             "WHERE x < %d) INSERT INTO big(a, b) "
             "SELECT printf('%%0100d', x), x %% 1000 FROM c",
             rows);
    harness_raw_exec(
        c, sql,
        &(struct harness_options){.has_timeout = true, .timeout_ms = 0});
}

#define FILL_ROWS 300000

/* The messages of a request cancelled while it ran, and before. */
#define CANCELLED_RUNNING                                                      \
    "cancelled by the client (cancel) while it ran: it was interrupted and "   \
    "nothing of it was applied"
#define CANCELLED_BEFORE                                                       \
    "cancelled by the client (cancel) before it ran; nothing of it was "       \
    "applied"

/* The connection @c, and a new one, still serve requests. */
static void assert_serves(struct harness_raw *c)
{
    struct harness_raw other;
    cr_assert_eq(harness_raw_query_int(c, "SELECT 6 * 7", NULL), 42);
    harness_raw_open(&other, &d);
    cr_assert_eq(
        harness_raw_query_int(&other, "SELECT count(*) FROM big", NULL),
        FILL_ROWS);
    harness_raw_close(&other);
}

/* Waits until the daemon's log holds @text, looking every millisecond or
 * two: the tests cancel work as soon as its line says it began, while the
 * part that can be stopped runs (daemon_wait_log() looks every 20 ms). */
static void wait_log(const char *text)
{
    int64_t until = harness_now_ms() + 60000;
    for (;;) {
        char *log = daemon_log(&d);
        bool found = strstr(log, text) != NULL;
        free(log);
        if (found)
            return;
        cr_assert_lt(harness_now_ms(), until, "no '%s' in the daemon's log",
                     text);
        harness_sleep_ms(1);
    }
}

/* --------------------------------------------------------------- backup */

/* Sends backup [@name] as request @msgid on @c. */
static void send_backup(struct harness_raw *c, uint32_t msgid, const char *name)
{
    harness_pack_request(&c->b, msgid, "backup", 1);
    codec_pack_cstr(&c->b, name);
    harness_send_buf(c->fd, &c->b);
}

/* The name of the first file of the backup directory that begins with
 * @prefix and its size, or false when there is none. */
static bool find_in_backups(const char *prefix, char *name, size_t len,
                            int64_t *size)
{
    DIR *dir = opendir(bkdir);
    struct dirent *e;
    bool found = false;
    cr_assert_not_null(dir, "cannot list %s", bkdir);
    while (!found && (e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", bkdir, e->d_name);
        if (stat(path, &st) != 0)
            continue; /* removed meanwhile */
        snprintf(name, len, "%s", e->d_name);
        *size = st.st_size;
        found = true;
    }
    closedir(dir);
    return found;
}

/* Waits until the backup into @name writes its temporary copy and the copy
 * holds at least @bytes. */
static void wait_copy(const char *name, int64_t bytes)
{
    char prefix[128], tmp[256];
    int64_t size = -1, until = harness_now_ms() + 60000;
    snprintf(prefix, sizeof(prefix), ".%s.tmp-", name);
    while (!find_in_backups(prefix, tmp, sizeof(tmp), &size) || size < bytes) {
        cr_assert_lt(harness_now_ms(), until,
                     "the backup never wrote %lld bytes of its copy (%lld)",
                     (long long)bytes, (long long)size);
        harness_sleep_ms(2);
    }
}

/* Nothing of a backup into @name is in the backup directory: neither the
 * file nor a temporary copy of it. */
static void assert_no_backup(const char *name)
{
    char prefix[128], found[256];
    int64_t size;
    snprintf(prefix, sizeof(prefix), ".%s.tmp-", name);
    cr_assert_not(find_in_backups(name, found, sizeof(found), &size),
                  "%s/%s was left behind", bkdir, name);
    cr_assert_not(find_in_backups(prefix, found, sizeof(found), &size),
                  "%s/%s was left behind", bkdir, found);
}

/* Starts the daemon with a backup directory of the test's own, and fills
 * the database. */
static void setup_backups(void)
{
    snprintf(bkdir, sizeof(bkdir), "/tmp/sqlited-cancel-ops-XXXXXX");
    cr_assert_not_null(mkdtemp(bkdir));
    start((const char *const[]){"--backup-dir", bkdir, NULL});
    fill(&conn, FILL_ROWS);
}

/* Cancels backup request 1 into @name on conn, and checks that it was
 * abandoned and left nothing, and that the daemon serves and backs up
 * again. */
static void cancel_backup(const char *name)
{
    struct reply rep;
    int64_t cancelled = harness_stat(&d, "cancelled");
    int64_t failed = harness_stat(&d, "backups_failed");

    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "cancelled by the client (cancel) while it ran: the "
                         "backup was abandoned and its partial copy "
                         "removed; nothing was written to ");
    cr_assert(strstr(rep.message, name), "the message does not name %s: %s",
              name, rep.message);
    reply_free(&rep);
    assert_no_backup(name);
    cr_assert_eq(harness_stat(&d, "cancelled"), cancelled + 1);
    cr_assert_eq(harness_stat(&d, "backups_failed"), failed,
                 "a backup its client cancelled counted as failed");
    cr_assert_eq(harness_stat(&d, "backups"), 0);
    assert_serves(&conn);

    /* The backup thread is free again, and the same name can be used. */
    sqlited_backup_info info;
    HARNESS_ASSERT_OK(db, sqlited_backup(db, name, &info));
    cr_assert_gt(info.size, (uint64_t)FILL_ROWS * 100);
}

/* A backup cancelled while it copies pages. */
Test(cancel_ops, backup_while_copying)
{
    setup_backups();
    send_backup(&conn, 1, "copying.db");
    wait_copy("copying.db", 0);
    cancel_backup("copying.db");
}

/* A backup cancelled once its copy is whole, while the copy is checked
 * with integrity_check (the longest part): it is abandoned all the same,
 * not renamed into place. */
Test(cancel_ops, backup_while_its_copy_is_checked)
{
    setup_backups();
    int64_t bytes = harness_raw_query_int(&conn, "PRAGMA page_count", NULL) *
                    harness_raw_query_int(&conn, "PRAGMA page_size", NULL);
    send_backup(&conn, 1, "checked.db");
    wait_copy("checked.db", bytes);
    cancel_backup("checked.db");
}

/* A backup whose client goes away is abandoned and leaves nothing. */
Test(cancel_ops, backup_of_a_client_that_goes)
{
    setup_backups();
    send_backup(&conn, 1, "gone.db");
    wait_copy("gone.db", 0);
    harness_raw_close(&conn);
    int64_t until = harness_now_ms() + 60000;
    char found[256];
    int64_t size;
    while (find_in_backups(".gone.db.tmp-", found, sizeof(found), &size))
        cr_assert_lt(harness_now_ms(), until, "%s stays", found);
    assert_no_backup("gone.db");
    cr_assert_eq(harness_stat(&d, "backups_failed"), 0);
    harness_raw_open(&conn, &d);
    assert_serves(&conn);
    HARNESS_ASSERT_OK(db, sqlited_backup(db, "gone.db", NULL));
}

/* A backup waiting behind another is answered at once when cancelled, and
 * never runs; the one running goes on. */
Test(cancel_ops, backup_waiting_behind_another_never_runs)
{
    struct reply rep;
    setup_backups();
    send_backup(&conn, 1, "first.db");
    wait_copy("first.db", 0);
    send_backup(&conn, 2, "second.db");
    harness_cancel_and_read(&conn, 3, 2, true, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         CANCELLED_BEFORE);
    reply_free(&rep);
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "the first backup failed: %s: %s", rep.name,
                  rep.message);
    reply_free(&rep);
    assert_no_backup("second.db");
    cr_assert_eq(harness_stat(&d, "backups"), 1);
}

/* What sqlited_interrupt() needs to stop a backup: where it is, and the
 * connection to interrupt. */
struct interrupter {
    sqlited *db;
    const char *prefix; /* of the temporary copy to wait for */
    bool fired;
    pthread_t thread;
};

/* Waits (bounded) for the temporary copy, then interrupts: from a thread
 * of its own, as a signal handler would, while the call waits. No
 * assertions here: they belong to the test's thread. */
static void *interrupt_when_copying(void *arg)
{
    struct interrupter *it = arg;
    int64_t until = harness_now_ms() + 60000;
    while (!it->fired && harness_now_ms() < until) {
        DIR *dir = opendir(bkdir);
        struct dirent *e;
        while (dir && (e = readdir(dir)) != NULL)
            if (strncmp(e->d_name, it->prefix, strlen(it->prefix)) == 0)
                it->fired = true;
        if (dir)
            closedir(dir);
        if (!it->fired)
            harness_sleep_ms(1);
    }
    if (it->fired)
        sqlited_interrupt(it->db);
    return NULL;
}

/* sqlited_interrupt() during sqlited_backup() (Ctrl-C in a program that
 * backs up): the call returns SQLITED_INTERRUPTED, nothing is left, and
 * the connection backs up again. */
Test(cancel_ops, backup_interrupted_through_libsqlited)
{
    struct interrupter it = {.prefix = ".lib.db.tmp-"};
    sqlited_backup_info info;
    setup_backups();
    it.db = db;
    cr_assert_eq(pthread_create(&it.thread, NULL, interrupt_when_copying, &it),
                 0);
    int rc = sqlited_backup(db, "lib.db", &info);
    pthread_join(it.thread, NULL);
    cr_assert(it.fired, "the backup never wrote its copy");
    HARNESS_ASSERT_ERROR(db, rc, SQLITED_INTERRUPTED,
                         "the backup was abandoned and its partial copy "
                         "removed; nothing was written to ");
    assert_no_backup("lib.db");
    HARNESS_ASSERT_OK(db, sqlited_backup(db, "lib.db", &info));
    cr_assert_gt(info.size, (uint64_t)FILL_ROWS * 100);
}

/* ---------------------------------------------------------- maintenance */

/* Sends @method [{"timeout_ms": 0, ...}] as request @msgid on @c: no
 * deadline, so that only a cancel stops it. "analyze" is optimize with
 * {"analyze": true}; integrity runs the full integrity_check. */
static void send_maintenance(struct harness_raw *c, uint32_t msgid,
                             const char *method)
{
    bool integrity = strcmp(method, "integrity") == 0;
    bool analyze = strcmp(method, "analyze") == 0;
    harness_pack_request(&c->b, msgid, analyze ? "optimize" : method, 1);
    msgpack_pack_map(&c->b.pk, integrity || analyze ? 2 : 1);
    codec_pack_cstr(&c->b, "timeout_ms");
    msgpack_pack_int64(&c->b.pk, 0);
    if (integrity) {
        codec_pack_cstr(&c->b, "check");
        codec_pack_cstr(&c->b, "full");
    }
    if (analyze) {
        codec_pack_cstr(&c->b, "analyze");
        msgpack_pack_true(&c->b.pk);
    }
    harness_send_buf(c->fd, &c->b);
}

/* What VACUUM would change: the pages of the database and those free. */
struct pages {
    int64_t count, free;
};

static struct pages pages_now(struct harness_raw *c)
{
    return (struct pages){
        .count = harness_raw_query_int(c, "PRAGMA page_count", NULL),
        .free = harness_raw_query_int(c, "PRAGMA freelist_count", NULL)};
}

/* Frees a few thousand pages for VACUUM to reclaim. */
static struct pages make_free_pages(struct harness_raw *c)
{
    harness_raw_exec(c,
                     "CREATE TABLE waste AS SELECT * FROM big LIMIT 50000;"
                     "DROP TABLE waste",
                     NULL);
    struct pages p = pages_now(c);
    cr_assert_gt(p.free, 100, "only %lld free pages", (long long)p.free);
    return p;
}

static void assert_pages(struct harness_raw *c, struct pages want)
{
    struct pages now = pages_now(c);
    cr_assert_eq(now.count, want.count,
                 "the database has %lld pages, %lld before: the vacuum was "
                 "applied",
                 (long long)now.count, (long long)want.count);
    cr_assert_eq(now.free, want.free, "%lld free pages, %lld before",
                 (long long)now.free, (long long)want.free);
}

/* A vacuum cancelled while it copies the database changes nothing. */
Test(cancel_ops, vacuum_while_it_runs)
{
    struct reply rep;
    start(NULL);
    fill(&conn, FILL_ROWS);
    struct pages before = make_free_pages(&conn);
    int64_t cancelled = harness_stat(&d, "cancelled");

    send_maintenance(&conn, 1, "vacuum");
    wait_log("vacuum: started on");
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "VACUUM: " CANCELLED_RUNNING);
    reply_free(&rep);
    assert_pages(&conn, before);
    cr_assert_eq(harness_stat(&d, "cancelled"), cancelled + 1);
    assert_serves(&conn);

    sqlited_vacuum_info info;
    HARNESS_ASSERT_OK(db, sqlited_vacuum(db, &info));
    cr_assert_gt(info.reclaimed, 0, "the writer did not vacuum afterwards");
}

/* A vacuum whose client goes away is stopped the same way. */
Test(cancel_ops, vacuum_of_a_client_that_goes)
{
    start(NULL);
    fill(&conn, FILL_ROWS);
    struct pages before = make_free_pages(&conn);

    send_maintenance(&conn, 1, "vacuum");
    wait_log("vacuum: started on");
    harness_raw_close(&conn);
    free(daemon_wait_log(&d, "VACUUM: the client went away"));
    harness_raw_open(&conn, &d);
    assert_pages(&conn, before);
    assert_serves(&conn);
}

/* Holds the write lock from outside the daemon, as another process would
 * (the test, through SQLite directly). */
static sqlite3 *lock_from_outside(void)
{
    sqlite3 *other;
    cr_assert_eq(
        sqlite3_open_v2(d.db_path, &other, SQLITE_OPEN_READWRITE, NULL),
        SQLITE_OK);
    cr_assert_eq(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(other));
    return other;
}

static void unlock_from_outside(sqlite3 *other)
{
    cr_assert_eq(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
}

/* Waits until the daemon's busy handler has waited at least once more than
 * @before times: the work is waiting for the lock. */
static void wait_busy_retry(int64_t before)
{
    int64_t until = harness_now_ms() + 60000;
    while (harness_stat(&d, "busy_retries") <= before) {
        cr_assert_lt(harness_now_ms(), until, "the work never met the lock");
        harness_sleep_ms(1);
    }
}

/* vacuum, and optimize with analyze, waiting for the write lock another
 * process holds are answered at once when cancelled, and never run. */
Test(cancel_ops, vacuum_and_analyze_waiting_for_another_process)
{
    struct reply rep;
    start(NULL);
    fill(&conn, 20000);
    struct pages before = make_free_pages(&conn);
    sqlite3 *other = lock_from_outside();

    int64_t retries = harness_stat(&d, "busy_retries");
    send_maintenance(&conn, 1, "vacuum");
    wait_busy_retry(retries);
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "VACUUM: " CANCELLED_BEFORE);
    reply_free(&rep);

    retries = harness_stat(&d, "busy_retries");
    send_maintenance(&conn, 3, "analyze");
    wait_busy_retry(retries);
    harness_cancel_and_read(&conn, 4, 3, true, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "ANALYZE: " CANCELLED_BEFORE);
    reply_free(&rep);

    unlock_from_outside(other);
    assert_pages(&conn, before);
    cr_assert_eq(harness_raw_query_int(&conn,
                                       "SELECT count(*) FROM sqlite_schema "
                                       "WHERE name = 'sqlite_stat1'",
                                       NULL),
                 0, "ANALYZE ran after all");
}

/* integrity on the only reader, cancelled while it runs: the reader is
 * free again at once. */
Test(cancel_ops, integrity_while_it_runs)
{
    struct reply rep;
    start(
        (const char *const[]){"--readers", "1", "--inline-budget", "0", NULL});
    fill(&conn, FILL_ROWS);
    int64_t cancelled = harness_stat(&d, "cancelled");

    send_maintenance(&conn, 1, "integrity");
    wait_log("integrity: PRAGMA integrity_check started");
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         "PRAGMA integrity_check(100): " CANCELLED_RUNNING);
    reply_free(&rep);
    cr_assert_eq(harness_stat(&d, "cancelled"), cancelled + 1);
    assert_serves(&conn);
}

/* integrity whose client goes away stops, and the reader serves others. */
Test(cancel_ops, integrity_of_a_client_that_goes)
{
    start(
        (const char *const[]){"--readers", "1", "--inline-budget", "0", NULL});
    fill(&conn, FILL_ROWS);

    send_maintenance(&conn, 1, "integrity");
    wait_log("integrity: PRAGMA integrity_check started");
    harness_raw_close(&conn);
    char *rest = daemon_wait_log(
        &d, "PRAGMA integrity_check(100): the client went away");
    cr_assert_null(strstr(rest, "integrity: PRAGMA integrity_check done"),
                   "the check ran to its end: %s", rest);
    free(rest);
    harness_raw_open(&conn, &d);
    assert_serves(&conn);
}

/* ----------------------------------------------------------- checkpoint */

/* Sends checkpoint [@mode] as request @msgid on @c. */
static void send_checkpoint(struct harness_raw *c, uint32_t msgid,
                            const char *mode)
{
    harness_pack_request(&c->b, msgid, "checkpoint", 1);
    codec_pack_cstr(&c->b, mode);
    harness_send_buf(c->fd, &c->b);
}

/* Makes t(x) hold 1 and 2, and returns a reader of another process (the
 * test, through SQLite directly) on the snapshot that holds only 1: a FULL
 * checkpoint waits for it. */
static sqlite3 *reader_behind(void)
{
    sqlite3 *reader;
    harness_raw_exec(&conn, "CREATE TABLE t(x); INSERT INTO t VALUES (1)",
                     NULL);
    cr_assert_eq(
        sqlite3_open_v2(d.db_path, &reader, SQLITE_OPEN_READONLY, NULL),
        SQLITE_OK);
    cr_assert_eq(
        sqlite3_exec(reader, "BEGIN; SELECT count(*) FROM t", NULL, NULL, NULL),
        SQLITE_OK, "%s", sqlite3_errmsg(reader));
    harness_raw_exec(&conn, "INSERT INTO t VALUES (2)", NULL);
    return reader;
}

/* A checkpoint is not stopped once it runs: cancelled while a FULL one
 * waits for a reader on an older snapshot, it answers its result. */
Test(cancel_ops, checkpoint_running_answers_its_result)
{
    struct reply rep;
    start(NULL);
    sqlite3 *reader = reader_behind();

    int64_t retries = harness_stat(&d, "busy_retries");
    send_checkpoint(&conn, 1, "FULL");
    wait_busy_retry(retries);
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    cr_assert_not(rep.is_error, "the checkpoint failed: %s: %s", rep.name,
                  rep.message);
    cr_assert_eq(harness_result_int(rep.result, "busy"), 1);
    reply_free(&rep);
    sqlite3_close(reader);
    cr_assert_eq(harness_raw_query_int(&conn, "SELECT sum(x) FROM t", NULL), 3);
}

/* A checkpoint whose client goes away while it waits for a reader ends as
 * it would have (busy: it could not pass the reader; its answer dropped),
 * and the daemon goes on. */
Test(cancel_ops, checkpoint_of_a_client_that_goes)
{
    start(NULL);
    sqlite3 *reader = reader_behind();

    int64_t retries = harness_stat(&d, "busy_retries");
    int64_t busy = harness_stat(&d, "checkpoints_busy");
    send_checkpoint(&conn, 1, "FULL");
    wait_busy_retry(retries);
    harness_raw_close(&conn);
    /* It ends once its wait for the reader does, which it could not pass:
     * counted as a checkpoint that could not copy everything. */
    int64_t until = harness_now_ms() + 60000;
    while (harness_stat(&d, "checkpoints_busy") == busy) {
        cr_assert_lt(harness_now_ms(), until, "the checkpoint never ended");
        harness_sleep_ms(1);
    }
    sqlite3_close(reader);
    harness_raw_open(&conn, &d);
    cr_assert_eq(harness_raw_query_int(&conn, "SELECT sum(x) FROM t", NULL), 3);
}

/* A checkpoint still waiting for the writer (busy with another client's
 * transaction) is answered at once when cancelled, and never runs. */
Test(cancel_ops, checkpoint_waiting_never_runs)
{
    struct harness_raw other;
    struct reply rep;
    start(NULL);
    harness_raw_exec(&conn, "CREATE TABLE t(x); INSERT INTO t VALUES (1)",
                     NULL);
    harness_raw_open(&other, &d);
    int64_t tx = harness_raw_begin(&other, NULL);
    int64_t checkpoints = harness_stat(&d, "checkpoints");

    send_checkpoint(&conn, 1, "TRUNCATE");
    harness_assert_no_reply(&conn.r, 300,
                            "the checkpoint behind the "
                            "transaction");
    harness_cancel_and_read(&conn, 2, 1, true, &rep);
    harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                         CANCELLED_BEFORE);
    reply_free(&rep);
    harness_raw_end_ok(&other, "rollback", tx);
    harness_raw_close(&other);
    cr_assert_eq(harness_stat(&d, "checkpoints"), checkpoints);
}

/* -------------------------------------------------------------- migrate */

/* A migration that takes a second or so: three million rows. */
#define SLOW_MIGRATION                                                         \
    "CREATE TABLE m(x INTEGER);\n"                                             \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < 3000000) INSERT INTO m SELECT x FROM c;\n"

/* Starts the daemon on an empty migrations directory, then puts the slow
 * migration in it (so that it is not applied at start-up). */
static void start_with_migrations(void)
{
    snprintf(mdir, sizeof(mdir), "/tmp/sqlited-cancel-ops-XXXXXX");
    cr_assert_not_null(mkdtemp(mdir));
    start((const char *const[]){"--migrations", mdir, NULL});
    harness_put_file(mdir, "0001_slow.up.sql", SLOW_MIGRATION);
    harness_put_file(mdir, "0001_slow.down.sql", "DROP TABLE m;\n");
}

/* Sends migrate ["up"] as request @msgid on @c and waits until the
 * migration runs. */
static void migrate_up_running(struct harness_raw *c, uint32_t msgid)
{
    harness_pack_request(&c->b, msgid, "migrate", 1);
    codec_pack_cstr(&c->b, "up");
    harness_send_buf(c->fd, &c->b);
    int64_t until = harness_now_ms() + 60000;
    while (harness_stat(&d, "migrations_pending") == 0) {
        cr_assert_lt(harness_now_ms(), until, "the migration never ran");
        harness_sleep_ms(1);
    }
}

/* migrate finishes what it began: a cancel finds nothing to stop, and the
 * migration is applied whole. */
Test(cancel_ops, migrate_running_is_not_stopped)
{
    struct reply rep;
    start_with_migrations();
    migrate_up_running(&conn, 1);
    harness_cancel_and_read(&conn, 2, 1, false, &rep);
    cr_assert_not(rep.is_error, "migrate failed: %s: %s", rep.name,
                  rep.message);
    cr_assert_eq(harness_result_int(rep.result, "to"), 1);
    reply_free(&rep);
    cr_assert_eq(harness_raw_query_int(&conn, "SELECT count(*) FROM m", NULL),
                 3000000);
    cr_assert_eq(harness_stat(&d, "migrations_pending"), 0);
}

/* A migration whose client goes away is applied whole all the same. */
Test(cancel_ops, migrate_of_a_client_that_goes)
{
    start_with_migrations();
    migrate_up_running(&conn, 1);
    harness_raw_close(&conn);
    free(daemon_wait_log(&d, "0001_slow.up.sql applied: version 1"));
    harness_raw_open(&conn, &d);
    cr_assert_eq(harness_raw_query_int(&conn, "SELECT count(*) FROM m", NULL),
                 3000000);
}

/* Nor is a migrate waiting for the writer (busy with another client's
 * transaction) cancelled: it runs once the writer is free. */
Test(cancel_ops, migrate_waiting_is_not_cancelled)
{
    struct harness_raw other;
    struct reply rep;
    start_with_migrations();
    harness_raw_open(&other, &d);
    int64_t tx = harness_raw_begin(&other, NULL);

    harness_pack_request(&conn.b, 1, "migrate", 1);
    codec_pack_cstr(&conn.b, "up");
    harness_send_buf(conn.fd, &conn.b);
    harness_assert_no_reply(&conn.r, 300, "the migrate behind the transaction");
    harness_send_cancel(&conn, 2, 1);
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 2);
    cr_assert_not(harness_cancel_result(&rep), "cancel found the migrate");
    reply_free(&rep);

    harness_raw_end_ok(&other, "rollback", tx);
    harness_raw_close(&other);
    harness_read_reply(&conn.r, &rep);
    cr_assert_eq(rep.msgid, 1);
    cr_assert_not(rep.is_error, "migrate failed: %s: %s", rep.name,
                  rep.message);
    cr_assert_eq(harness_result_int(rep.result, "to"), 1);
    reply_free(&rep);
    conn.last_msgid = 2;
    cr_assert_eq(harness_raw_query_int(&conn, "SELECT count(*) FROM m", NULL),
                 3000000);
}
