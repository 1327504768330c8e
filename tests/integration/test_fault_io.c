/* I/O errors and a full disk underneath the daemon: the requests they meet
 * get the documented error, nothing acknowledged is lost, and the daemon
 * serves on once the fault clears.
 *
 * The faults come from tests/fault/faultvfs.c, a SQLite VFS the daemon
 * loads with LD_PRELOAD, told what to fail through a file this test
 * rewrites while the daemon runs; a full disk also from a real one, a
 * 2 MiB tmpfs, when the test runs as root. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;
static struct harness_raw raw;
static char fault_dir[64]; /* holds the spec file */
static char fault_path[128];
static char mnt[64]; /* the tmpfs, when mounted */
static bool mounted;

/* Makes every daemon this test starts load the fault VFS, reading its spec
 * from fault_path (empty: no fault). */
static void preload_faults(void)
{
    snprintf(fault_dir, sizeof(fault_dir), "/tmp/sqlited-fault-XXXXXX");
    cr_assert_not_null(mkdtemp(fault_dir), "mkdtemp: %s", strerror(errno));
    snprintf(fault_path, sizeof(fault_path), "%s/spec", fault_dir);
    FILE *f = fopen(fault_path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(access(SQLITED_FAULTVFS, R_OK), 0, "%s: %s", SQLITED_FAULTVFS,
                 strerror(errno));
    setenv("LD_PRELOAD", SQLITED_FAULTVFS, 1);
    setenv("SQLITED_FAULT_FILE", fault_path, 1);
    /* Under ASan the preloaded library comes before the sanitizer's
     * runtime, which is fine here: it replaces no allocator. */
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof(opts), "%s%sverify_asan_link_order=0",
             asan ? asan : "", asan && *asan ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
}

/* Replaces the spec the daemon's VFS reads, atomically. */
static void set_fault(const char *spec)
{
    char tmp[160];
    snprintf(tmp, sizeof(tmp), "%s.new", fault_path);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(spec, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rename(tmp, fault_path), 0);
}

static void setup(void)
{
    preload_faults();
    db = harness_start_with_raw(&d, &raw, NULL);
    harness_exec(db, "CREATE TABLE t(x INTEGER PRIMARY KEY, pad BLOB)");
}

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &raw);
    if (mounted && umount2(mnt, MNT_DETACH) != 0)
        fprintf(stderr, "cannot unmount %s: %s\n", mnt, strerror(errno));
    if (mnt[0])
        rmdir(mnt);
    if (fault_dir[0]) {
        char tmp[160];
        snprintf(tmp, sizeof(tmp), "%s.new", fault_path);
        unlink(tmp);
        unlink(fault_path);
        rmdir(fault_dir);
    }
}

TestSuite(fault_io, .init = setup, .fini = teardown, .timeout = 60);

static void insert_rows(int from, int to)
{
    for (int x = from; x <= to; x++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "INSERT INTO t(x) VALUES (%d)", x);
        harness_exec(db, sql);
    }
}

static int64_t count_rows(int from, int to)
{
    char sql[96];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM t WHERE x BETWEEN %d AND %d", from, to);
    return harness_query_int(db, sql);
}

/* Sends inserts of x = @from .. @to on the raw connection at once, so that
 * the writer finds them queued together, and reads their answers into
 * @reps (in msgid order). */
static void send_inserts(int from, int to, struct reply *reps)
{
    int n = to - from + 1;
    for (int i = 0; i < n; i++) {
        char sql[64];
        snprintf(sql, sizeof(sql), "INSERT INTO t(x) VALUES (%d)", from + i);
        harness_pack_sql(&raw.b, 1000 + (uint32_t)i, "exec", sql);
    }
    harness_send_buf(raw.fd, &raw.b);
    struct reply rep;
    for (int i = 0; i < n; i++) {
        harness_read_reply(&raw.r, &rep);
        cr_assert_eq(rep.kind, 1);
        cr_assert(rep.msgid >= 1000 && rep.msgid < 1000 + (uint32_t)n);
        reps[rep.msgid - 1000] = rep;
    }
}

/* Restarts the daemon without the fault VFS (a clean stop, unless @kill)
 * and reconnects db. */
static void restart_without_faults(bool kill)
{
    sqlited_close(db);
    db = NULL;
    if (kill)
        daemon_kill(&d);
    else
        cr_assert_eq(daemon_stop(&d), 0);
    unsetenv("LD_PRELOAD");
    unsetenv("SQLITED_FAULT_FILE");
    daemon_restart(&d, NULL);
    db = harness_connect(&d);
}

static void wait_log(const char *text)
{
    free(daemon_wait_log(&d, text));
}

/* Every write to the WAL fails: every request of the group gets the I/O
 * error, none of it is applied, the rows acknowledged before survive, and
 * writes work again once the fault clears, without a restart. */
Test(fault_io, write_error_fails_the_group)
{
    insert_rows(1, 10);
    set_fault("write:1+:ioerr:wal");
    struct reply reps[5];
    send_inserts(11, 15, reps);
    for (int i = 0; i < 5; i++) {
        harness_assert_error(&reps[i], SQLITE_IOERR_WRITE, "SQLITE_IOERR_WRITE",
                             "COMMIT failed on an I/O error, so this request "
                             "and the others committed with it are not "
                             "acknowledged");
        reply_free(&reps[i]);
    }
    char line[256];
    snprintf(line, sizeof(line), "I/O error on %s (SQLITE_IOERR_WRITE, 778)",
             d.db_path);
    wait_log(line);
    cr_assert_eq(count_rows(1, 15), 10);
    set_fault("");
    insert_rows(16, 20);
    restart_without_faults(false);
    cr_assert_eq(count_rows(1, 10), 10);
    cr_assert_eq(count_rows(11, 15), 0);
    cr_assert_eq(count_rows(16, 20), 5);
}

/* One sync of the WAL fails: the group it belonged to gets the I/O error,
 * the others are acknowledged, and every acknowledged row is there after a
 * crash. (The failed group's rows may be there too: its frames were
 * written, only their sync failed.) */
Test(fault_io, sync_error_fails_the_group)
{
    insert_rows(1, 10);
    set_fault("sync:1:ioerr:wal");
    struct reply reps[8];
    send_inserts(11, 18, reps);
    int failed = 0;
    for (int i = 0; i < 8; i++) {
        if (reps[i].is_error) {
            harness_assert_error(&reps[i], SQLITE_IOERR_FSYNC,
                                 "SQLITE_IOERR_FSYNC",
                                 "may still be there after a restart");
            failed++;
        }
    }
    cr_assert_geq(failed, 1, "the failing sync failed no request");
    insert_rows(21, 30);
    restart_without_faults(true);
    cr_assert_eq(count_rows(1, 10), 10);
    cr_assert_eq(count_rows(21, 30), 10);
    for (int i = 0; i < 8; i++) {
        if (!reps[i].is_error)
            cr_assert_eq(count_rows(11 + i, 11 + i), 1, "row %d acknowledged",
                         11 + i);
        reply_free(&reps[i]);
    }
    sqlited_rows *rows = harness_query(db, "PRAGMA integrity_check", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 0), "ok");
    sqlited_rows_close(rows);
}

/* Reads fail: the query gets the I/O error, and the daemon answers it again
 * once they work. */
Test(fault_io, read_error_fails_the_query)
{
    /* One reader, whose schema is read before the fault: SQLite drops an
     * I/O error met while it re-reads a stale schema, and answers "no such
     * table" instead (schemaIsValid() in prepare.c). */
    sqlited_close(db);
    db = NULL;
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--readers", "1", NULL});
    db = harness_connect(&d);
    harness_raw_close(&raw);
    harness_raw_open(&raw, &d);
    cr_assert_eq(count_rows(1, 10), 0);
    /* The writes make the reader's cache stale, so the query reads. */
    insert_rows(1, 10);
    set_fault("read:1+:ioerr");
    struct reply rep;
    harness_raw_sql(&raw, "query", "SELECT count(*) FROM t", NULL, &rep);
    harness_assert_error(&rep, SQLITE_IOERR_READ, "SQLITE_IOERR_READ",
                         "disk I/O error");
    reply_free(&rep);
    set_fault("");
    cr_assert_eq(count_rows(1, 10), 10);
    insert_rows(11, 12);
    cr_assert_eq(count_rows(1, 12), 12);
}

/* Inserts rows of @pad bytes from x = @from on until one fails, which must
 * be with SQLITE_FULL (at most @max tries). Returns the first x that
 * failed. */
static int insert_until_full(int from, int max, int pad)
{
    for (int x = from; x < from + max; x++) {
        char sql[96];
        struct reply rep;
        snprintf(sql, sizeof(sql),
                 "INSERT INTO t(x, pad) VALUES (%d, zeroblob(%d))", x, pad);
        harness_raw_sql(&raw, "exec", sql, NULL, &rep);
        if (rep.is_error) {
            harness_assert_error(&rep, SQLITE_FULL, "SQLITE_FULL",
                                 "database or disk is full");
            reply_free(&rep);
            return x;
        }
        reply_free(&rep);
    }
    cr_assert_fail("%d inserts of %d bytes and the disk is not full", max, pad);
    return -1;
}

/* The fault VFS says the disk is full: writes fail with SQLITE_FULL, the
 * log says so, and writes work again once there is room. */
Test(fault_io, disk_full_vfs)
{
    insert_rows(1, 10);
    set_fault("write:1+:full");
    int x = insert_until_full(11, 1, 100);
    char line[256];
    snprintf(line, sizeof(line), "disk full on %s (SQLITE_FULL, 13)",
             d.db_path);
    wait_log(line);
    cr_assert_eq(count_rows(1, x), 10);
    set_fault("");
    insert_rows(x, x + 4);
    restart_without_faults(false);
    cr_assert_eq(count_rows(1, 10), 10);
    cr_assert_eq(count_rows(x, x + 4), 5);
}

/* Fills @dir's filesystem with a file @name; returns its path. */
static void fill(const char *dir, const char *name, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    static const char block[4096];
    while (write(fd, block, sizeof(block)) > 0)
        ;
    cr_assert_eq(errno, ENOSPC, "filling %s: %s", path, strerror(errno));
    close(fd);
}

/* A real full disk: the database on a 2 MiB tmpfs, filled. Writes fail with
 * SQLITE_FULL, reads go on, nothing acknowledged is lost, and once space is
 * freed writes succeed again without a restart. */
Test(fault_io, disk_full_tmpfs)
{
    if (geteuid() != 0)
        cr_skip_test("mounting a tmpfs needs root; disk_full_vfs covers a "
                     "full disk through the fault VFS");
    snprintf(mnt, sizeof(mnt), "/tmp/sqlited-full-XXXXXX");
    cr_assert_not_null(mkdtemp(mnt));
    if (mount("tmpfs", mnt, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m") != 0)
        cr_skip_test("cannot mount a tmpfs: %s", strerror(errno));
    mounted = true;

    /* This test's daemon serves a database on the tmpfs. */
    sqlited_close(db);
    db = NULL;
    cr_assert_eq(daemon_stop(&d), 0);
    unsetenv("LD_PRELOAD");
    char path[128];
    snprintf(path, sizeof(path), "%s/full.db", mnt);
    const char *const args[] = {"--database", path, NULL};
    daemon_restart(&d, args);
    db = harness_connect(&d);
    harness_raw_close(&raw);
    harness_raw_open(&raw, &d);
    harness_exec(db, "CREATE TABLE t(x INTEGER PRIMARY KEY, pad BLOB)");
    insert_rows(1, 10);

    char filler[128];
    fill(mnt, "filler", filler, sizeof(filler));
    int x = insert_until_full(11, 1000, 8192);
    char line[256];
    snprintf(line, sizeof(line), "disk full on %s (SQLITE_FULL, 13)", path);
    wait_log(line);
    cr_assert_eq(count_rows(1, x), x - 1);

    cr_assert_eq(unlink(filler), 0);
    insert_rows(x, x + 9);
    sqlited_close(db);
    db = NULL;
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, args);
    db = harness_connect(&d);
    cr_assert_eq(count_rows(1, x + 9), x + 9);
    sqlited_close(db);
    db = NULL;
    /* Unmounted in the teardown, once the daemon is gone. */
    cr_assert_eq(daemon_stop(&d), 0);
}
