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
