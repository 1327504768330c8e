/* The daemon's own start-up: the permissions of the files it creates, one
 * daemon per database, what it refuses to start on and how it says so, its
 * socket at shutdown, and its signals. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(startup, .fini = teardown, .timeout = 60);

static mode_t file_mode(const char *path)
{
    struct stat st;
    cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

/* The database, its -wal and its -shm have mode @want. */
static void assert_db_files_mode(mode_t want)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[160];
        snprintf(path, sizeof(path), "%s%s", d.db_path, suffixes[i]);
        mode_t got = file_mode(path);
        cr_assert_eq(got, want, "%s: mode %04o, expected %04o", path, got,
                     want);
    }
}

/* Runs the daemon binary with @args (NULL-terminated) and expects it to
 * exit with @status, saying @text on stderr. */
static void assert_start_fails(const char *const *args, int status,
                               const char *text)
{
    const char *argv[24] = {harness_daemon_bin()};
    size_t n = 1;
    for (; args[n - 1] != NULL && n < 23; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, status, "%s %s: status %d, stderr: %s", args[0],
                 args[1] ? args[1] : "", o.status, o.err);
    cr_assert_not_null(strstr(o.err, text), "%s: stderr '%s' lacks '%s'",
                       args[0], o.err, text);
    harness_output_free(&o);
}

/* ---------------------------------------------------------- file modes */

/* Whatever the umask, the files are the owner's alone. */
Test(startup, database_files_are_owner_only_by_default)
{
    mode_t old = umask(0);
    daemon_start(&d, NULL);
    umask(old);
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    assert_db_files_mode(0600);
}

Test(startup, file_mode_flag)
{
    mode_t old = umask(077);
    daemon_start(&d, (const char *const[]){"--file-mode", "0640", NULL});
    umask(old);
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    assert_db_files_mode(0640);
}

/* An existing database keeps its permissions: the operator chose them. */
Test(startup, an_existing_database_keeps_its_mode)
{
    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    cr_assert_eq(chmod(d.db_path, 0660), 0);
    daemon_restart(&d, (const char *const[]){"--file-mode", "0600", NULL});
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    cr_assert_eq(file_mode(d.db_path), 0660);
}

Test(startup, bad_file_modes_are_refused)
{
    static const char *const values[] = {"0400", "999",  "rw",
                                         "-600", "1777", ""};
    for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++)
        assert_start_fails(
            (const char *const[]){"--file-mode", values[i], NULL}, 2,
            "for --file-mode");
}

/* ---------------------------------------------------------- flag errors */

/* The flag's name, not its value, where the flag belongs. */
Test(startup, flag_errors_name_the_flag)
{
    assert_start_fails((const char *const[]){"--readers", "0", NULL}, 2,
                       "invalid value '0' for --readers");
    assert_start_fails((const char *const[]){"-r", "0", NULL}, 2,
                       "invalid value '0' for --readers");
    assert_start_fails((const char *const[]){"--readers=0", NULL}, 2,
                       "invalid value '0' for --readers");
    assert_start_fails((const char *const[]){"--timeout", "-5", NULL}, 2,
                       "invalid value '-5' for --timeout");
}

/* --io-threads takes 1 to 64 loops; the error says so. */
Test(startup, bad_io_threads_are_refused)
{
    static const char *const values[] = {"0", "65", "-1", "two", "", "2x"};
    char want[128];
    for (size_t i = 0; i < sizeof(values) / sizeof(*values); i++) {
        snprintf(want, sizeof(want),
                 "invalid value '%s' for --io-threads: the number of I/O "
                 "threads, an integer from 1 to 64",
                 values[i]);
        assert_start_fails(
            (const char *const[]){"--io-threads", values[i], NULL}, 2, want);
    }
}

/* ------------------------------------------------------ socket at exit */

/* After the socket file was removed and a second daemon's socket took its
 * path, stopping the first daemon must leave the second one's socket. */
Test(startup, shutdown_leaves_another_daemons_socket)
{
    static struct daemon other;
    daemon_start(&d, NULL);
    daemon_start(&other, NULL);
    cr_assert_eq(rename(other.sock_path, d.sock_path), 0, "%s",
                 strerror(errno));
    cr_assert_eq(daemon_stop(&d), 0);
    struct stat st;
    cr_assert_eq(lstat(d.sock_path, &st), 0,
                 "the first daemon removed the second one's socket");
    int fd = harness_raw_connect_path(d.sock_path);
    cr_assert_geq(fd, 0, "the second daemon is unreachable: %s", strerror(-fd));
    close(fd);
    char *log = daemon_log(&d);
    cr_assert_not_null(strstr(log, "is no longer the socket this daemon "
                                   "bound"),
                       "%s", log);
    free(log);
    daemon_cleanup(&other);
}

/* Its own socket it removes. */
Test(startup, shutdown_removes_its_own_socket)
{
    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    cr_assert(harness_wait_gone(d.sock_path, 1000));
}

/* ---------------------------------------------------------------- crashes */

/* The id of @pid's thread named @comm (/proc/PID/task/TID/comm), or 0. */
static pid_t find_thread(pid_t pid, const char *comm)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *dir = opendir(path);
    cr_assert_not_null(dir, "%s: %s", path, strerror(errno));
    pid_t found = 0;
    struct dirent *e;
    while (found == 0 && (e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[384], name[32] = "";
        snprintf(file, sizeof(file), "%s/%s/comm", path, e->d_name);
        FILE *f = fopen(file, "re");
        if (f == NULL)
            continue;
        if (fgets(name, sizeof(name), f) != NULL) {
            name[strcspn(name, "\n")] = '\0';
            if (strcmp(name, comm) == 0)
                found = (pid_t)atoi(e->d_name);
        }
        fclose(f);
    }
    closedir(dir);
    return found;
}

/* The thread of @pid named @comm, waiting up to 10 s for it: each thread
 * names itself when it starts, which may come after the daemon answers. */
static pid_t wait_thread(pid_t pid, const char *comm)
{
    pid_t tid = 0;
    for (int i = 0; i < 1000 && (tid = find_thread(pid, comm)) == 0; i++)
        harness_sleep_ms(10);
    return tid;
}

/* A fault in a worker thread used to kill the daemon silently: the
 * workers blocked every signal. It is now logged with the thread's name and
 * a backtrace, and the daemon still dies of the signal (a core dump, or the
 * sanitizer's report). The fault is sent from here with tgkill: the daemon
 * has no way to crash on purpose. */
Test(startup, a_crash_in_a_worker_is_logged_with_its_thread_and_backtrace)
{
    struct rlimit no_core = {0, 0};
    cr_assert_eq(setrlimit(RLIMIT_CORE, &no_core), 0);
    daemon_start(&d, NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    cr_assert_gt(wait_thread(d.pid, "sqlited-loop"), 0);
    cr_assert_gt(wait_thread(d.pid, "sqlited-rdr-0"), 0);
    pid_t tid = wait_thread(d.pid, "sqlited-writer");
    cr_assert_gt(tid, 0, "no thread named sqlited-writer");
    cr_assert_eq(syscall(SYS_tgkill, d.pid, tid, SIGSEGV), 0, "%s",
                 strerror(errno));
    int status = daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS);
    char *log = daemon_log(&d);
    if (harness_measures_memory())
        cr_assert_eq(status, 128 + SIGSEGV, "status %d; stderr:\n%s", status,
                     log);
    else /* the sanitizer's handler reports the signal and exits */
        cr_assert(status > 0, "status %d; stderr:\n%s", status, log);
    const char *crash = strstr(log, "crash: SIGSEGV in thread sqlited-writer");
    cr_assert_not_null(crash, "stderr:\n%s", log);
    const char *trace = strstr(crash, "backtrace:\n");
    cr_assert_not_null(trace, "stderr:\n%s", log);
    cr_assert_not_null(strstr(trace, "[0x"), "no frame in the backtrace:\n%s",
                       log);
    free(log);
    /* A sanitizer's report of this very signal is expected: empty the log
     * so that the cleanup does not take it for a defect. */
    cr_assert_eq(truncate(d.log_path, 0), 0);
}

/* ---------------------------------------------- one daemon per database */

/* A second daemon on the same database with its own socket: refused before
 * it binds anything, naming the first one's pid. */
Test(startup, second_daemon_on_the_same_database_refuses)
{
    daemon_start(&d, NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    char other_sock[160], link[160], pid[32];
    snprintf(other_sock, sizeof(other_sock), "%s/other.sock", d.dir);
    snprintf(pid, sizeof(pid), "(pid %d)", (int)d.pid);
    assert_start_fails((const char *const[]){"--database", d.db_path,
                                             "--socket", other_sock, NULL},
                       1, pid);
    assert_start_fails((const char *const[]){"--database", d.db_path,
                                             "--socket", other_sock, NULL},
                       1, "is already serving");
    cr_assert_neq(access(other_sock, F_OK), 0, "the second daemon bound %s",
                  other_sock);
    /* The same file by another path is the same database. */
    snprintf(link, sizeof(link), "%s/link.db", d.dir);
    cr_assert_eq(symlink(d.db_path, link), 0);
    assert_start_fails(
        (const char *const[]){"--database", link, "--socket", other_sock, NULL},
        1, pid);
    /* The first daemon serves on, unharmed. */
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT x FROM t"), 1);
    sqlited_close(db);
    /* Once it stopped, the file is free again. */
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, NULL);
}

/* --------------------------------------------------- unwritable databases */

/* Runs the daemon as user nobody on @db with its socket in a directory
 * nobody may write, expecting it to refuse with @text on stderr. */
static void assert_refused_as_nobody(const char *db, const char *text)
{
    char sockdir[160], sock[200];
    snprintf(sockdir, sizeof(sockdir), "%s/nobody", d.dir);
    mkdir(sockdir, 0777);
    cr_assert_eq(chmod(sockdir, 0777), 0);
    cr_assert_eq(chmod(d.dir, 0755), 0);
    snprintf(sock, sizeof(sock), "%s/s.sock", sockdir);
    const char *argv[] = {"/usr/bin/setpriv",
                          "--reuid=65534",
                          "--regid=65534",
                          "--clear-groups",
                          harness_daemon_bin(),
                          "--database",
                          db,
                          "--socket",
                          sock,
                          NULL};
    struct harness_output o;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 1, "status %d, stderr: %s", o.status, o.err);
    cr_assert_not_null(strstr(o.err, text), "stderr '%s' lacks '%s'", o.err,
                       text);
    cr_assert_not_null(strstr(o.err, "--read-only"), "%s", o.err);
    harness_output_free(&o);
}

/* It used to say "ready" and then fail every write. (Run as nobody: root
 * may write any file.) */
Test(startup, a_database_it_cannot_write_is_refused)
{
    if (access("/usr/bin/setpriv", X_OK) != 0 || geteuid() != 0)
        cr_skip_test("needs root and setpriv to run the daemon as nobody");
    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    char text[300];
    /* The file: root's, 0644. */
    cr_assert_eq(chmod(d.db_path, 0644), 0);
    snprintf(text, sizeof(text),
             "cannot write the database %s: Permission "
             "denied",
             d.db_path);
    assert_refused_as_nobody(d.db_path, text);
    /* The directory: the file is nobody's, but SQLite could not create its
     * -wal and -shm beside it (a clean stop checkpointed the -wal). */
    char side[200];
    snprintf(side, sizeof(side), "%s-wal", d.db_path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", d.db_path);
    unlink(side);
    cr_assert_eq(chown(d.db_path, 65534, 65534), 0);
    cr_assert_eq(chmod(d.db_path, 0600), 0);
    snprintf(text, sizeof(text), "cannot write in the directory %s", d.dir);
    assert_refused_as_nobody(d.db_path, text);
    cr_assert_eq(chown(d.db_path, 0, 0), 0);
}

/* With --read-only, reads are served and writes fail, saying why. */
Test(startup, read_only_serves_reads_and_refuses_writes)
{
    daemon_start(&d, NULL);
    harness_exec_fresh(&d, "CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--read-only", NULL});
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, "SELECT x FROM t"), 1);
    int rc = sqlited_exec(db, "INSERT INTO t VALUES (2)", NULL, NULL);
    cr_assert_eq(rc & 0xff, SQLITE_READONLY, "rc %d %s: %s", rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    cr_assert_not_null(strstr(sqlited_errmsg(db), "read-only (--read-only)"),
                       "%s", sqlited_errmsg(db));
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
    sqlited_close(db);
    /* A database that is not there is not created. */
    cr_assert_eq(daemon_stop(&d), 0);
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/missing.db", d.dir);
    assert_start_fails((const char *const[]){"--read-only", "--database",
                                             missing, "--socket", d.sock_path,
                                             NULL},
                       1, "No such file or directory");
    cr_assert_neq(access(missing, F_OK), 0);
}

/* A file that is not a database: the path and the cause. */
Test(startup, errors_name_the_path_and_the_cause)
{
    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    char junk[160], text[300];
    snprintf(junk, sizeof(junk), "%s/junk.db", d.dir);
    FILE *f = fopen(junk, "we");
    cr_assert_not_null(f);
    for (int i = 0; i < 256; i++)
        fputs("this is not a database file, just text. ", f);
    fclose(f);
    snprintf(text, sizeof(text),
             "cannot use the database %s: file is not a database", junk);
    assert_start_fails((const char *const[]){"--database", junk, "--socket",
                                             d.sock_path, NULL},
                       1, text);
    snprintf(text, sizeof(text),
             "cannot use the database %s: it is a "
             "directory",
             d.dir);
    assert_start_fails((const char *const[]){"--database", d.dir, "--socket",
                                             d.sock_path, NULL},
                       1, text);
    cr_assert_neq(access(d.sock_path, F_OK), 0, "a socket was left behind");
}

/* ---------------------------------------------------------------- SIGHUP */

/* SIGHUP used to kill the daemon (exit 129, socket left behind). */
Test(startup, sighup_with_the_log_on_stderr_says_so)
{
    daemon_start(&d, (const char *const[]){"--log-level", "info", NULL});
    daemon_signal(&d, SIGHUP);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
    cr_assert_eq(daemon_wait(&d, 200), -1, "SIGHUP ended the daemon");
    char *log = NULL;
    for (int64_t end = harness_now_ms() + 10000; harness_now_ms() < end;
         harness_sleep_ms(20)) {
        free(log);
        log = daemon_log(&d);
        if (strstr(log, "there is no log file to reopen"))
            break;
    }
    cr_assert_not_null(strstr(log, "SIGHUP: the log goes to stderr"), "%s",
                       log);
    free(log);
}

/* With --log-file, SIGHUP reopens it: after a rotation the daemon writes to
 * a new file at the path. */
Test(startup, sighup_reopens_the_log_file)
{
    char path[160], rotated[160];
    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    snprintf(path, sizeof(path), "%s/sqlited.log", d.dir);
    snprintf(rotated, sizeof(rotated), "%s/sqlited.log.1", d.dir);
    daemon_restart(&d, (const char *const[]){"--log-file", path, "--log-level",
                                             "info", NULL});
    cr_assert_eq(rename(path, rotated), 0, "%s", strerror(errno));
    daemon_signal(&d, SIGHUP);
    char *log = NULL;
    for (int64_t end = harness_now_ms() + 10000; harness_now_ms() < end;
         harness_sleep_ms(20)) {
        FILE *f = fopen(path, "re");
        if (f == NULL)
            continue;
        free(log);
        log = calloc(1, 4096);
        size_t n = fread(log, 1, 4095, f);
        (void)n;
        fclose(f);
        if (strstr(log, "reopened"))
            break;
    }
    cr_assert_not_null(log, "no new log file at %s", path);
    cr_assert_not_null(strstr(log, "SIGHUP: reopened the log file"), "%s", log);
    free(log);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
    FILE *f = fopen(rotated, "re");
    cr_assert_not_null(f);
    char old[4096] = "";
    size_t n = fread(old, 1, sizeof(old) - 1, f);
    old[n] = '\0';
    fclose(f);
    cr_assert_not_null(strstr(old, "ready"), "the old file: %s", old);
}
