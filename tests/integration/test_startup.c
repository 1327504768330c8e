/* The daemon's own start-up: the permissions of the files it creates, one
 * daemon per database, what it refuses to start on and how it says so, its
 * socket at shutdown, and its signals. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
    cr_assert_gt(find_thread(d.pid, "sqlited-loop"), 0);
    cr_assert_gt(find_thread(d.pid, "sqlited-rdr-0"), 0);
    pid_t tid = find_thread(d.pid, "sqlited-writer");
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
