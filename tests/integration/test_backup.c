/* backup: online copies under load, confinement to --backup-dir, scheduled
 * backups and their rotation, and the README's restore procedure. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char bkdir[160];

/* Starts the daemon with --backup-dir DIR/bk and @extra (NULL-terminated
 * pairs after it, may be NULL). */
static void start_with_backups(const char *const *extra)
{
    const char *args[16] = {"--backup-dir", NULL};
    size_t n = 2;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    /* The directory is known only once the harness made it: start, learn
     * it, then start again with the flag pointing inside it. */
    daemon_start(&d, NULL);
    snprintf(bkdir, sizeof(bkdir), "%s/bk", d.dir);
    cr_assert_eq(daemon_stop(&d), 0);
    args[1] = bkdir;
    daemon_restart(&d, args);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(backup, .fini = teardown, .timeout = 120);

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Number of entries of @dir whose names start with @prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    int n = 0;
    cr_assert_not_null(dp, "cannot list %s", dir);
    while ((e = readdir(dp)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(dp);
    return n;
}

/* Opens a copy directly with SQLite, read-only. */
static sqlite3 *open_copy(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    cr_assert_eq(rc, SQLITE_OK, "open %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    return db;
}

static int64_t copy_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
                 "%s: %s", sql, sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql,
                 sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void assert_integrity_ok(sqlite3 *db)
{
    sqlite3_stmt *st;
    cr_assert_eq(
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

#define WRITERS 8

/* A copy taken while 8 clients write holds every row acknowledged before
 * the backup began, and passes integrity_check. */
Test(backup, consistent_under_writers)
{
    struct harness_writer w[WRITERS];
    int before[WRITERS];
    sqlited_backup_info info;

    start_with_backups(NULL);
    sqlited *db = harness_connect(&d);
    /* About 8 MB of pages, so that the copy takes many steps. */
    harness_exec(db, "CREATE TABLE w(id INTEGER, seq INTEGER, "
                     "PRIMARY KEY(id, seq));"
                     "CREATE TABLE ballast(b BLOB);"
                     "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c WHERE x < 2000) INSERT INTO ballast SELECT "
                     "randomblob(4000) FROM c");
    memset(w, 0, sizeof(w));
    for (int i = 0; i < WRITERS; i++) {
        w[i].sock_path = d.sock_path;
        w[i].sql = "INSERT INTO w VALUES (?, ?)";
        w[i].id = i;
        w[i].count = 100000;
        harness_writer_start(&w[i]);
    }
    /* Every writer is under way before the backup begins. */
    for (int i = 0; i < WRITERS; i++) {
        int64_t until = harness_now_ms() + 60000;
        while (harness_writer_acked(&w[i]) < 20 && harness_now_ms() < until &&
               w[i].failure[0] == '\0')
            harness_sleep_ms(5);
        cr_assert_geq(harness_writer_acked(&w[i]), 20, "writer %d: %s", i,
                      w[i].failure);
    }
    for (int i = 0; i < WRITERS; i++)
        before[i] = harness_writer_acked(&w[i]);
    int rc = sqlited_backup(db, "under-load.db", &info);
    HARNESS_ASSERT_OK(db, rc);
    char *got_path = strdup(info.path); /* owned by db */
    /* The writers went on while the copy was taken. */
    int after = 0;
    for (int i = 0; i < WRITERS; i++)
        after += harness_writer_acked(&w[i]) - before[i];
    sqlited_close(db);
    daemon_stop(&d); /* the writers fail once it is gone */
    for (int i = 0; i < WRITERS; i++)
        harness_writer_join(&w[i]);
    cr_assert_gt(after, 0, "no write was acknowledged during the backup");

    char path[256];
    snprintf(path, sizeof(path), "%s/under-load.db", bkdir);
    cr_assert_str_eq(got_path, path);
    free(got_path);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq((uint64_t)st.st_size, info.size);
    cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
    cr_assert_gt(info.pages, 2000);

    sqlite3 *copy = open_copy(path);
    assert_integrity_ok(copy);
    cr_assert_eq(copy_int(copy, "SELECT count(*) FROM ballast"), 2000);
    for (int i = 0; i < WRITERS; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM w WHERE id = %d AND seq < %d", i,
                 before[i]);
        cr_assert_eq(copy_int(copy, sql), before[i],
                     "writer %d: rows acknowledged before the backup are "
                     "missing",
                     i);
    }
    sqlite3_close(copy);
    /* Nothing but the copy: no temporary file left behind. */
    cr_assert_eq(count_prefixed(bkdir, "."), 2); /* "." and ".." */
}

/* A destination outside the backup directory is refused, and nothing is
 * written there. */
Test(backup, refuses_paths_outside)
{
    char outside[512], link[512], through[512], sub[256];
    sqlited_backup_info info;

    start_with_backups(NULL);
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");

    /* Absolute, outside. */
    snprintf(outside, sizeof(outside), "%s/outside.db", d.dir);
    cr_assert_eq(sqlited_backup(db, outside, &info), SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "is outside the backup directory"),
              "%s", sqlited_errmsg(db));
    cr_assert_not(exists(outside));

    /* "..", relative and inside an absolute path. */
    cr_assert_eq(sqlited_backup(db, "../dotdot.db", &info),
                 SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "contains '..'"), "%s",
              sqlited_errmsg(db));
    snprintf(outside, sizeof(outside), "%s/../dotdot2.db", bkdir);
    cr_assert_eq(sqlited_backup(db, outside, &info), SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "contains '..'"), "%s",
              sqlited_errmsg(db));
    snprintf(outside, sizeof(outside), "%s/dotdot.db", d.dir);
    cr_assert_not(exists(outside));
    snprintf(outside, sizeof(outside), "%s/dotdot2.db", d.dir);
    cr_assert_not(exists(outside));

    /* A symbolic link in the backup directory to a directory outside. */
    snprintf(sub, sizeof(sub), "%s/elsewhere", d.dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(link, sizeof(link), "%s/link", bkdir);
    cr_assert_eq(symlink(sub, link), 0);
    cr_assert_eq(sqlited_backup(db, "link/escape.db", &info),
                 SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "is a symbolic link"), "%s",
              sqlited_errmsg(db));
    snprintf(through, sizeof(through), "%s/link/escape2.db", bkdir);
    cr_assert_eq(sqlited_backup(db, through, &info), SQLITED_BAD_REQUEST);
    cr_assert_eq(count_prefixed(sub, ""), 2, "something was written in %s",
                 sub);

    /* A symbolic link as the file itself is not followed either. */
    snprintf(through, sizeof(through), "%s/victim.db", sub);
    snprintf(link, sizeof(link), "%s/file-link.db", bkdir);
    cr_assert_eq(symlink(through, link), 0);
    cr_assert_eq(sqlited_backup(db, "file-link.db", &info),
                 SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "already exists"), "%s",
              sqlited_errmsg(db));
    cr_assert_not(exists(through));

    /* A subdirectory that is really inside works, and the connection
     * stayed usable throughout. */
    snprintf(sub, sizeof(sub), "%s/daily", bkdir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    HARNESS_ASSERT_OK(db, sqlited_backup(db, "daily/ok.db", &info));
    snprintf(through, sizeof(through), "%s/ok.db", sub);
    cr_assert_str_eq(info.path, through);
    cr_assert(exists(through));
    sqlited_close(db);
}

/* Without --backup-dir there are no backups, and the error says which flag
 * turns them on. */
Test(backup, needs_backup_dir)
{
    sqlited *db = harness_start_connected(&d, NULL);
    cr_assert_eq(sqlited_backup(db, NULL, NULL), SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "--backup-dir"), "%s",
              sqlited_errmsg(db));
    sqlited_close(db);
}

/* Scheduled backups every second, keeping 2: the oldest go, and files the
 * daemon did not name stay. The stats name the last one. */
Test(backup, scheduled_rotation)
{
    char path[256];

    start_with_backups((const char *const[]){"--backup-interval", "1",
                                             "--backup-keep", "2", NULL});
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    /* Files of the operator's, one of them named almost like ours. */
    const char *theirs[] = {"sqlited-auto-mine.db", "notes.txt",
                            "sqlited-20200101-000000-000.db"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", bkdir, theirs[i]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    int64_t until = harness_now_ms() + 60000;
    while (harness_stat(&d, "backups") < 4 && harness_now_ms() < until)
        harness_sleep_ms(100);
    cr_assert_geq(harness_stat(&d, "backups"), 4);
    cr_assert_eq(harness_stat(&d, "backups_failed"), 0);
    cr_assert_gt(harness_stat(&d, "last_backup_unix_ms"), 0);
    cr_assert_gt(harness_stat(&d, "last_backup_bytes"), 0);
    cr_assert_eq(daemon_stop(&d), 0);

    /* Two of ours (plus the operator's lookalike), the others untouched. */
    cr_assert_eq(count_prefixed(bkdir, "sqlited-auto-2"), 2);
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s", bkdir, theirs[i]);
        cr_assert(exists(path), "%s was removed", theirs[i]);
    }
}

/* The restore procedure of README.md: stop the daemon, copy the backup
 * over the database (and remove its -wal and -shm), start it again. */
Test(backup, restore)
{
    sqlited_backup_info info;
    char cmd[1024];

    start_with_backups(NULL);
    sqlited *db = harness_connect(&d);
    harness_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3)");
    HARNESS_ASSERT_OK(db, sqlited_backup(db, "before.db", &info));
    char *saved = strdup(info.path);
    harness_exec(db, "INSERT INTO t VALUES (4); DELETE FROM t WHERE x = 1");
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);

    snprintf(cmd, sizeof(cmd), "cp '%s' '%s' && rm -f '%s-wal' '%s-shm'", saved,
             d.db_path, d.db_path, d.db_path);
    cr_assert_eq(system(cmd), 0);
    free(saved);
    const char *args[] = {"--backup-dir", bkdir, NULL};
    daemon_restart(&d, args);
    db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT group_concat(x) = '1,2,3' "
                                       "FROM (SELECT x FROM t ORDER BY x)"),
                 1);
    sqlited_close(db);
}

/* Temporary files left by a backup a crash interrupted are removed at
 * start-up; anything else stays. */
Test(backup, removes_interrupted_temporaries)
{
    static const char *const stale[] = {".a.db.tmp-123-0",
                                        ".a.db.tmp-123-0-journal"};
    static const char *const kept[] = {".a.db.tmp-x-0", "a.db.tmp-1-2",
                                       ".hidden", "real.db"};
    char path[512];

    start_with_backups(NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", bkdir, stale[i]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", bkdir, kept[i]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fclose(f);
    }
    const char *args[] = {"--backup-dir", bkdir, NULL};
    daemon_restart(&d, args);
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "%s/%s", bkdir, stale[i]);
        cr_assert_not(exists(path), "%s was left", stale[i]);
    }
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", bkdir, kept[i]);
        cr_assert(exists(path), "%s was removed", kept[i]);
    }
}

/* sqlited-cli backup: the path on one line, or JSON; stats names it. */
Test(backup, cli)
{
    struct harness_output o;

    start_with_backups(NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(x)");
    const char *argv[] = {SQLITED_CLI, "-s",     d.sock_path, "--json",
                          "backup",    "cli.db", NULL};
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    char want[512];
    snprintf(want, sizeof(want), "{\"path\": \"%s/cli.db\", \"size\": ", bkdir);
    cr_assert(strncmp(o.out, want, strlen(want)) == 0, "%s", o.out);
    cr_assert(strstr(o.out, "\"duration_ms\": "), "%s", o.out);
    harness_output_free(&o);
    cr_assert_eq(harness_stat(&d, "backups"), 1);

    /* A refused destination: exit status 1, the daemon's message. */
    argv[3] = "backup";
    argv[4] = "../out.db";
    argv[5] = NULL;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 1);
    cr_assert(strstr(o.err, "SQLITED_BAD_REQUEST: backup destination"), "%s",
              o.err);
    harness_output_free(&o);
    cr_assert_eq(harness_stat(&d, "backups"), 1);
}

/* The name of the first entry of @dir holding @part, into @name; false
 * when there is none. */
static bool find_entry(const char *dir, const char *part, char *name,
                       size_t size)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    bool found = false;
    if (dp == NULL)
        return false;
    while (!found && (e = readdir(dp)) != NULL)
        if (strstr(e->d_name, part)) {
            snprintf(name, size, "%s", e->d_name);
            found = true;
        }
    closedir(dp);
    return found;
}

/* A backup interrupted by a shutdown (with --shutdown-grace 0, SIGTERM
 * interrupts work in flight at once) never leaves a file that looks complete:
 * its client is told it was interrupted, the temporary copy is removed and
 * nothing takes the destination's name. Should the copy win the race and finish
 * first, it must then be whole. */
Test(backup, interrupted_at_shutdown_leaves_no_partial_copy)
{
    struct harness_raw c = {0};
    struct reply rep;
    char path[512], tmp[256];

    /* The grace period ends at once: the signal interrupts work in flight. */
    start_with_backups((const char *const[]){"--shutdown-grace", "0", NULL});
    sqlited *db = harness_connect(&d);
    /* About 64 MiB: a copy that takes a while, even on a fast machine. */
    harness_exec(db, "CREATE TABLE big(b)");
    harness_exec(db, "INSERT INTO big SELECT randomblob(4000) FROM "
                     "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c WHERE x < 16000) SELECT x FROM c)");
    sqlited_close(db);

    harness_raw_open(&c, &d);
    harness_pack_request(&c.b, 1, "backup", 1);
    codec_pack_cstr(&c.b, "cut.db");
    harness_send_buf(c.fd, &c.b);
    int64_t deadline = harness_now_ms() + HARNESS_IO_TIMEOUT_MS;
    bool copying;
    snprintf(path, sizeof(path), "%s/cut.db", bkdir);
    while (!(copying = find_entry(bkdir, ".tmp-", tmp, sizeof(tmp))) &&
           !exists(path) && harness_now_ms() < deadline)
        ;
    daemon_signal(&d, SIGTERM);
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 0);
    if (rep.is_error) {
        harness_assert_error(&rep, SQLITED_INTERRUPTED, "SQLITED_INTERRUPTED",
                             "interrupted: the daemon is shutting down");
        cr_assert_not(exists(path), "an interrupted backup left %s", path);
    } else {
        cr_log_warn("the backup finished before the shutdown interrupted it "
                    "(copying seen: %d): only its completeness was checked",
                    copying);
        sqlite3 *copy = open_copy(path);
        assert_integrity_ok(copy);
        cr_assert_eq(copy_int(copy, "SELECT count(*) FROM big"), 16000);
        sqlite3_close(copy);
    }
    reply_free(&rep);
    harness_raw_close(&c);
    cr_assert_not(find_entry(bkdir, ".tmp-", tmp, sizeof(tmp)),
                  "the backup's temporary file %s was left", tmp);
}
