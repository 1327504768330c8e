/* Start a real sqlited daemon for a test, and talk to it (see harness.h). */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_ARGS 64

int64_t harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline)
{
    int64_t left = deadline - harness_now_ms();
    return left < 0 ? 0 : (int)left;
}

void harness_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000,
                          .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* ---------------------------------------------------------------- spawning
 *
 * Everything the child needs is prepared before fork(), so that between
 * fork() and exec() it only makes async-signal-safe calls.
 */

/* An environment for children: ours, without anything that would make the
 * daemon think systemd started it, plus @extra (may be NULL) and @more
 * (NULL-terminated, may be NULL). */
static char **child_environ(const char *extra, const char *const *more)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (more && more[m])
        m++;
    char **env = calloc(n + m + 2, sizeof(*env));
    cr_assert_not_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        if (strncmp(e, "NOTIFY_SOCKET=", 14) == 0 ||
            strncmp(e, "LISTEN_FDS=", 11) == 0 ||
            strncmp(e, "LISTEN_PID=", 11) == 0 ||
            strncmp(e, "LISTEN_FDNAMES=", 15) == 0 ||
            strncmp(e, "WATCHDOG_USEC=", 14) == 0 ||
            strncmp(e, "WATCHDOG_PID=", 13) == 0)
            continue;
        env[k++] = environ[i];
    }
    if (extra)
        env[k++] = (char *)extra;
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)more[i];
    env[k] = NULL;
    return env;
}

/* Runs in the child after fork(): dies with the test process, sets up the
 * standard descriptors (and fd 3 when @listen_fd is not -1, as systemd's
 * socket activation does, writing the child's pid into @pid_slot), and
 * execs. Never returns. */
static void child_exec(pid_t parent, int in_fd, int out_fd, int err_fd,
                       int listen_fd, char *pid_slot, const char *const *argv,
                       char **env)
{
    /* A test that crashes or times out must not leave a daemon behind. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    /* Restore what a test process may have changed. */
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
        _exit(127);
    if (listen_fd >= 0) {
        if (listen_fd == 3) {
            if (fcntl(3, F_SETFD, 0) < 0)
                _exit(127);
        } else if (dup2(listen_fd, 3) < 0) {
            _exit(127);
        }
        /* The pid in decimal, by hand: snprintf is not async-signal-safe. */
        char digits[16];
        int n = 0;
        for (unsigned long pid = (unsigned long)getpid(); pid; pid /= 10)
            digits[n++] = (char)('0' + pid % 10);
        while (n > 0)
            *pid_slot++ = digits[--n];
        *pid_slot = '\0';
    }
    execve(argv[0], (char *const *)argv, env);
    _exit(127);
}

/* What the harness writes into the log of a daemon that did not stop. */
#define HUNG_ON_STOP "harness: sqlited did not stop on SIGTERM"

/* The words of $SQLITED_TEST_WRAPPER (split at spaces), the first resolved
 * through $PATH; NULL-terminated, empty when it is unset. */
static const char *const *wrapper_argv(void)
{
    static char *words[32];
    static char path[4096];
    static bool parsed;
    if (parsed)
        return (const char *const *)words;
    parsed = true;
    const char *env = getenv("SQLITED_TEST_WRAPPER");
    char *copy = env ? strdup(env) : NULL;
    size_t n = 0;
    char *save = NULL;
    for (char *w = copy ? strtok_r(copy, " \t", &save) : NULL;
         w && n < sizeof(words) / sizeof(words[0]) - 1;
         w = strtok_r(NULL, " \t", &save))
        words[n++] = w;
    words[n] = NULL;
    if (n > 0 && strchr(words[0], '/') == NULL) {
        const char *dirs = getenv("PATH");
        char *list = strdup(dirs ? dirs : "/usr/bin:/bin");
        char *save_dir = NULL;
        for (char *dir = list ? strtok_r(list, ":", &save_dir) : NULL; dir;
             dir = strtok_r(NULL, ":", &save_dir)) {
            snprintf(path, sizeof(path), "%s/%s", dir, words[0]);
            if (access(path, X_OK) == 0) {
                words[0] = path;
                break;
            }
        }
        free(list);
    }
    return (const char *const *)words;
}

bool harness_wrapped(void)
{
    return wrapper_argv()[0] != NULL;
}

/* Valgrind runs the daemon some 20 to 50 times slower; TSan's build (the
 * daemon that make tsan names in $SQLITED_TEST_DAEMON) about 3 times. */
int harness_slowdown(void)
{
    const char *bin = getenv("SQLITED_TEST_DAEMON");
    if (harness_wrapped())
        return 6;
    return bin && bin[0] ? 3 : 1;
}

bool harness_measures_memory(void)
{
#ifdef __SANITIZE_ADDRESS__
    return false;
#else
    const char *bin = getenv("SQLITED_TEST_DAEMON");
    return (bin == NULL || bin[0] == '\0') && !harness_wrapped();
#endif
}

const char *harness_daemon_bin(void)
{
    const char *bin = getenv("SQLITED_TEST_DAEMON");
    return bin && bin[0] ? bin : SQLITED_BIN;
}

void daemon_argv(const struct daemon *d, const char *const *extra_args,
                 const char **argv, size_t max)
{
    size_t n = 0;
    for (const char *const *w = wrapper_argv(); *w; w++) {
        cr_assert_lt(n, max - 1, "too many wrapper words");
        argv[n++] = *w;
    }
    const char *base[] = {
        harness_daemon_bin(), "--database",  d->db_path, "--socket",
        d->sock_path,         "--log-level", "warn"};
    size_t nbase = sizeof(base) / sizeof(base[0]);
    /* With a configuration file, the file sets the level: a flag would
     * override it, also when SIGHUP reads the file again. */
    for (size_t i = 0; extra_args && extra_args[i]; i++)
        if (strcmp(extra_args[i], "--config") == 0)
            nbase -= 2;
    for (size_t i = 0; i < nbase; i++) {
        cr_assert_lt(n, max - 1);
        argv[n++] = base[i];
    }
    for (size_t i = 0; extra_args && extra_args[i]; i++) {
        cr_assert_lt(n, max - 1, "too many daemon arguments");
        argv[n++] = extra_args[i];
    }
    argv[n] = NULL;
}

static void daemon_make_dir(struct daemon *d)
{
    memset(d, 0, sizeof(*d));
    d->notify_fd = -1;
    strcpy(d->dir, "/tmp/sqlited-test-XXXXXX");
    cr_assert_not_null(mkdtemp(d->dir), "mkdtemp: %s", strerror(errno));
    d->has_dir = true;
    snprintf(d->db_path, sizeof(d->db_path), "%s/test.db", d->dir);
    snprintf(d->sock_path, sizeof(d->sock_path), "%s/sqlited.sock", d->dir);
    snprintf(d->notify_path, sizeof(d->notify_path), "%s/notify.sock", d->dir);
    snprintf(d->log_path, sizeof(d->log_path), "%s/daemon.log", d->dir);

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, d->notify_path);
    d->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(d->notify_fd, 0, "socket: %s", strerror(errno));
    cr_assert_eq(bind(d->notify_fd, (struct sockaddr *)&addr, sizeof(addr)), 0,
                 "bind %s: %s", d->notify_path, strerror(errno));
}

/* Discards datagrams left from an earlier run (STOPPING=1, say). */
static void drain_notify(struct daemon *d)
{
    char buf[1024];
    while (recv(d->notify_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

/* Whether the datagram @s holds the line @line. */
static bool has_line(const char *s, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = s; (p = strstr(p, line)) != NULL; p++)
        if ((p == s || p[-1] == '\n') && (p[len] == '\0' || p[len] == '\n'))
            return true;
    return false;
}

static bool has_ready_line(const char *s)
{
    return has_line(s, "READY=1");
}

/* Reads the datagrams the daemon sent so far, waiting up to @wait_ms for
 * the first: records READY=1 and the last STATUS= line in @d. */
static void read_notify(struct daemon *d, int wait_ms)
{
    struct pollfd pfd = {.fd = d->notify_fd, .events = POLLIN};
    if (poll(&pfd, 1, wait_ms) <= 0)
        return;
    char buf[4096];
    ssize_t n;
    while ((n = recv(d->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
        buf[n] = '\0';
        if (has_ready_line(buf))
            d->ready = true;
        if (has_line(buf, "WATCHDOG=1"))
            d->watchdog_pings++;
        static const struct {
            const char *line;
            char letter;
        } told[] = {{"READY=1", 'R'}, {"WATCHDOG=1", 'W'}, {"STOPPING=1", 'S'}};
        for (size_t i = 0; i < sizeof(told) / sizeof(told[0]); i++) {
            size_t len = strlen(d->notified);
            if (has_line(buf, told[i].line) && len + 1 < sizeof(d->notified))
                d->notified[len] = told[i].letter;
        }
        for (const char *p = buf; (p = strstr(p, "STATUS=")) != NULL; p++)
            if (p == buf || p[-1] == '\n')
                snprintf(d->status, sizeof(d->status), "%.*s",
                         (int)strcspn(p + 7, "\n"), p + 7);
    }
}

bool daemon_notified_ready(struct daemon *d)
{
    if (!d->ready)
        read_notify(d, 0);
    return d->ready;
}

/* Waits (bounded) until @d is ready (READY=1) or, when @serving, until it
 * accepts connections on its socket, and returns true; fails the test if it
 * exits first, unless @may_exit: then returns false. */
static bool wait_started(struct daemon *d, bool serving, bool may_exit)
{
    int64_t deadline =
        harness_now_ms() + HARNESS_READY_TIMEOUT_MS * harness_slowdown();
    for (;;) {
        int status;
        pid_t w = waitpid(d->pid, &status, WNOHANG);
        if (w == d->pid) {
            d->pid = 0;
            if (may_exit)
                return false;
            char *log = daemon_log(d);
            cr_assert_fail("sqlited exited with status %d before it was "
                           "%s; its stderr:\n%s",
                           status_code(status), serving ? "serving" : "ready",
                           log);
        }
        int left = remaining_ms(deadline);
        if (left == 0) {
            char *log = daemon_log(d);
            daemon_kill(d);
            cr_assert_fail("sqlited not %s after %d ms; its stderr:\n%s",
                           serving ? "serving" : "ready",
                           HARNESS_READY_TIMEOUT_MS * harness_slowdown(), log);
        }
        if (serving) {
            int fd = harness_raw_connect_path(d->sock_path);
            if (fd >= 0) {
                close(fd);
                return true;
            }
            harness_sleep_ms(5);
            continue;
        }
        read_notify(d, left < 20 ? left : 20);
        if (d->ready)
            return true;
    }
}

void daemon_wait_ready(struct daemon *d)
{
    cr_assert_gt(d->pid, 0, "the daemon is not running");
    wait_started(d, false, false);
}

bool daemon_wait_watchdog(struct daemon *d, int timeout_ms)
{
    unsigned seen = d->watchdog_pings;
    int64_t deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        int left = remaining_ms(deadline);
        read_notify(d, left < 20 ? left : 20);
        if (d->watchdog_pings != seen)
            return true;
        if (remaining_ms(deadline) == 0)
            return false;
    }
}

/* Starts the daemon and waits for it as wait_started() does (@serving,
 * @may_exit), returning what that returns. */
static bool daemon_spawn(struct daemon *d, const char *const *extra_args,
                         const char *const *more_env, int listen_fd,
                         bool serving, bool may_exit)
{
    const char *argv[MAX_ARGS];
    char notify_env[160];
    char listen_fds_env[] = "LISTEN_FDS=1";
    char listen_pid_env[32] = "LISTEN_PID=";

    cr_assert_eq(d->pid, 0, "the daemon is already running");
    daemon_argv(d, extra_args, argv, MAX_ARGS);
    snprintf(notify_env, sizeof(notify_env), "NOTIFY_SOCKET=%s",
             d->notify_path);
    char **env = child_environ(notify_env, more_env);
    if (listen_fd >= 0) {
        size_t n = 0;
        while (env[n])
            n++;
        char **grown = realloc(env, (n + 3) * sizeof(*env));
        cr_assert_not_null(grown);
        env = grown;
        env[n++] = listen_fds_env;
        env[n++] = listen_pid_env;
        env[n] = NULL;
    }
    int log_fd =
        open(d->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert_geq(log_fd, 0, "open %s: %s", d->log_path, strerror(errno));
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    cr_assert_geq(null_fd, 0);
    drain_notify(d);
    d->ready = false;
    d->watchdog_pings = 0;
    d->status[0] = '\0';
    memset(d->notified, 0, sizeof(d->notified));

    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(parent, null_fd, null_fd, log_fd, listen_fd,
                   listen_pid_env + strlen("LISTEN_PID="), argv, env);
    d->pid = pid;
    close(log_fd);
    close(null_fd);
    free(env);

    /* Wait for READY=1 (or the socket), watching for an early exit. */
    return wait_started(d, serving, may_exit);
}

void daemon_start(struct daemon *d, const char *const *extra_args)
{
    daemon_make_dir(d);
    daemon_spawn(d, extra_args, NULL, -1, false, false);
}

bool daemon_try_start(struct daemon *d, const char *const *extra_args)
{
    daemon_make_dir(d);
    return daemon_spawn(d, extra_args, NULL, -1, false, true);
}

void daemon_start_env(struct daemon *d, const char *const *env,
                      const char *const *extra_args)
{
    daemon_make_dir(d);
    daemon_spawn(d, extra_args, env, -1, false, false);
}

void daemon_start_activated(struct daemon *d, const char *const *extra_args)
{
    daemon_make_dir(d);
    int fd = harness_listen(d->sock_path, 64);
    daemon_spawn(d, extra_args, NULL, fd, false, false);
    close(fd);
}

void daemon_restart(struct daemon *d, const char *const *extra_args)
{
    cr_assert(d->has_dir, "daemon_restart before daemon_start");
    daemon_spawn(d, extra_args, NULL, -1, false, false);
}

void daemon_restart_serving(struct daemon *d, const char *const *extra_args)
{
    cr_assert(d->has_dir, "daemon_restart_serving before daemon_start");
    daemon_spawn(d, extra_args, NULL, -1, true, false);
}

void daemon_signal(struct daemon *d, int sig)
{
    cr_assert_gt(d->pid, 0, "the daemon is not running");
    cr_assert_eq(kill(d->pid, sig), 0, "kill: %s", strerror(errno));
}

int daemon_wait(struct daemon *d, int timeout_ms)
{
    if (d->pid <= 0)
        return -1;
    int64_t deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t w = waitpid(d->pid, &status, WNOHANG);
        if (w == d->pid) {
            d->pid = 0;
            return status_code(status);
        }
        if (w < 0 && errno != EINTR) {
            d->pid = 0;
            return -1;
        }
        if (remaining_ms(deadline) == 0)
            return -1;
        harness_sleep_ms(5);
    }
}

/* Appends to the daemon's log what each of its threads is doing (through
 * gdb, when there is one), under a line that daemon_cleanup() reports. */
static void log_hung_threads(const struct daemon *d)
{
    char cmd[1024];
    FILE *log = fopen(d->log_path, "ae");
    if (log) {
        fprintf(log, "%s; its threads:\n", HUNG_ON_STOP);
        fclose(log);
    }
    snprintf(cmd, sizeof(cmd),
             "command -v gdb >/dev/null && timeout 60 gdb -batch -nx -p %d "
             "-ex 'thread apply all bt' >> '%s' 2>&1",
             (int)d->pid, d->log_path);
    if (system(cmd) != 0)
        return; /* no gdb: the line above says what happened */
}

int daemon_stop(struct daemon *d)
{
    if (d->pid <= 0)
        return -1;
    kill(d->pid, SIGTERM);
    int code = daemon_wait(d, HARNESS_STOP_TIMEOUT_MS * harness_slowdown());
    if (code < 0 && d->pid > 0) {
        log_hung_threads(d);
        daemon_kill(d);
    }
    return code;
}

void daemon_kill(struct daemon *d)
{
    if (d->pid <= 0)
        return;
    kill(d->pid, SIGKILL);
    int status;
    while (waitpid(d->pid, &status, 0) < 0 && errno == EINTR)
        ;
    d->pid = 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Signs that the daemon hit a defect a sanitizer or libuv caught, or that
 * it hung on SIGTERM. */
static const char *const log_alarms[] = {
    HUNG_ON_STOP,
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "ERROR: ThreadSanitizer",
    "WARNING: ThreadSanitizer",
    "runtime error:",
    "event loop not clean",
    /* memcheck's, under SQLITED_TEST_WRAPPER="valgrind ...": they show even
     * when the daemon is killed before its exit status could. */
    "Invalid read of size",
    "Invalid write of size",
    "Invalid free",
    "uninitialised value",
    "depends on uninitialised",
};

void daemon_cleanup(struct daemon *d)
{
    /* A daemon still running is stopped the way an operator would, so that
     * every test also checks that it stops cleanly. */
    int status = 0;
    bool timed_out = false;
    if (d->pid > 0) {
        status = daemon_stop(d);
        timed_out = status < 0;
    }
    char *log = d->has_dir ? daemon_log(d) : NULL;
    if (d->notify_fd >= 0 && d->has_dir) {
        close(d->notify_fd);
        d->notify_fd = -1;
    }
    if (d->has_dir) {
        nftw(d->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        d->has_dir = false;
    }
    if (log == NULL)
        return;
    const char *alarm = NULL;
    for (size_t i = 0; i < sizeof(log_alarms) / sizeof(log_alarms[0]); i++)
        if (strstr(log, log_alarms[i]))
            alarm = log_alarms[i];
    cr_assert_not(timed_out, "sqlited did not stop on SIGTERM; its stderr:\n%s",
                  log);
    cr_assert_eq(status, 0,
                 "sqlited exited with status %d on SIGTERM; its stderr:\n%s",
                 status, log);
    cr_assert_null(alarm, "sqlited reported \"%s\"; its stderr:\n%s", alarm,
                   log);
    free(log);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    cr_assert_not_null(buf);
    buf[0] = '\0';
    if (f == NULL)
        return buf;
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

char *daemon_log(const struct daemon *d)
{
    return read_file(d->log_path);
}

char *daemon_wait_log(const struct daemon *d, const char *text)
{
    int64_t deadline = harness_now_ms() + HARNESS_IO_TIMEOUT_MS;
    for (;;) {
        char *log = daemon_log(d);
        char *at = strstr(log, text);
        if (at) {
            char *rest = strdup(at);
            free(log);
            cr_assert_not_null(rest);
            return rest;
        }
        if (harness_now_ms() >= deadline)
            cr_assert_fail("no '%s' in the daemon's log:\n%s", text, log);
        free(log);
        harness_sleep_ms(20);
    }
}

/* -------------------------------------------------------------- processes */

struct capture {
    int fd;
    char *data;
    size_t len, cap;
};

static void capture_read(struct capture *c)
{
    if (c->cap - c->len < 4096) {
        c->cap = c->cap ? c->cap * 2 : 8192;
        c->data = realloc(c->data, c->cap);
        cr_assert_not_null(c->data);
    }
    ssize_t n = read(c->fd, c->data + c->len, c->cap - c->len - 1);
    if (n > 0) {
        c->len += (size_t)n;
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(c->fd);
        c->fd = -1;
    }
}

void harness_run(const char *const *argv, const char *stdin_data,
                 int timeout_ms, struct harness_output *o)
{
    int in[2], out[2], err[2];

    memset(o, 0, sizeof(*o));
    cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(err, O_CLOEXEC), 0);
    char **env = child_environ(NULL, NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0)
        child_exec(parent, in[0], out[1], err[1], -1, NULL, argv, env);
    free(env);
    close(in[0]);
    close(out[1]);
    close(err[1]);

    int64_t deadline = harness_now_ms() + timeout_ms;
    const char *feed = stdin_data ? stdin_data : "";
    size_t feed_left = strlen(feed);
    int in_fd = in[1];
    fcntl(in_fd, F_SETFL, O_NONBLOCK);
    if (feed_left == 0) {
        close(in_fd);
        in_fd = -1;
    }
    struct capture cout = {.fd = out[0]}, cerr = {.fd = err[0]};
    bool timed_out = false;
    while (cout.fd >= 0 || cerr.fd >= 0) {
        struct pollfd pfd[3] = {{.fd = cout.fd, .events = POLLIN},
                                {.fd = cerr.fd, .events = POLLIN},
                                {.fd = in_fd, .events = POLLOUT}};
        int left = remaining_ms(deadline);
        if (left == 0) {
            timed_out = true;
            break;
        }
        if (poll(pfd, 3, left) <= 0)
            continue;
        if (pfd[0].revents)
            capture_read(&cout);
        if (pfd[1].revents)
            capture_read(&cerr);
        if (in_fd >= 0 && pfd[2].revents) {
            ssize_t n = write(in_fd, feed, feed_left);
            if (n > 0) {
                feed += n;
                feed_left -= (size_t)n;
            }
            if (feed_left == 0 || (n < 0 && errno != EAGAIN)) {
                close(in_fd);
                in_fd = -1;
            }
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    if (cout.fd >= 0)
        close(cout.fd);
    if (cerr.fd >= 0)
        close(cerr.fd);

    int status = 0;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (timed_out || remaining_ms(deadline) == 0) {
            timed_out = true;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        harness_sleep_ms(5);
    }
    o->status = timed_out ? -1 : status_code(status);
    o->out = cout.data ? cout.data : calloc(1, 1);
    o->out_len = cout.len;
    o->out[o->out_len] = '\0';
    o->err = cerr.data ? cerr.data : calloc(1, 1);
    o->err_len = cerr.len;
    o->err[o->err_len] = '\0';
}

void harness_cli(struct daemon *d, struct harness_output *o,
                 const char *stdin_data, const char *const *args)
{
    const char *argv[32] = {SQLITED_CLI, "-s", d->sock_path};
    size_t n = 3;
    for (size_t i = 0; args[i]; i++) {
        cr_assert_lt(n, 31);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    harness_run(argv, stdin_data, HARNESS_RUN_TIMEOUT_MS, o);
}

void harness_output_free(struct harness_output *o)
{
    free(o->out);
    free(o->err);
    o->out = o->err = NULL;
}

long harness_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            sscanf(line + flen + 1, "%ld", &kb);
            break;
        }
    fclose(f);
    return kb;
}

long harness_rss_kb(pid_t pid)
{
    return harness_status_kb(pid, "VmRSS");
}

long harness_usable_kb(pid_t pid)
{
    char path[64], line[512], perms[8];
    unsigned long start, end;
    long kb = 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 &&
            strncmp(perms, "---", 3) != 0)
            kb += (long)((end - start) >> 10);
        /* The rest of a line longer than the buffer (a long path). */
        while (strchr(line, '\n') == NULL && fgets(line, sizeof(line), f))
            ;
    }
    fclose(f);
    return kb;
}

bool harness_wait_gone(const char *path, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    struct stat st;
    while (lstat(path, &st) == 0) {
        if (remaining_ms(deadline) == 0)
            return false;
        harness_sleep_ms(5);
    }
    return errno == ENOENT;
}

/* ------------------------------------------------------------ libsqlited */

/* One insert of (w->id, @seq); returns 0 or the failed call's code. */
static int writer_insert(struct harness_writer *w, sqlited *db,
                         sqlited_params *p, int seq)
{
    sqlited_params_clear(p);
    if (sqlited_params_add_int64(p, NULL, w->id) ||
        sqlited_params_add_int64(p, NULL, seq)) {
        snprintf(w->failure, sizeof(w->failure), "client %d: params", w->id);
        return SQLITED_EMISUSE;
    }
    int rc;
    if (w->as_query) {
        sqlited_rows *rows = NULL;
        rc = sqlited_query(db, w->sql, p, &rows);
        sqlited_rows_close(rows);
    } else {
        rc = sqlited_exec(db, w->sql, p, NULL);
    }
    if (rc != 0)
        snprintf(w->failure, sizeof(w->failure), "client %d: row %d: %d %s: %s",
                 w->id, seq, rc, sqlited_errname(db), sqlited_errmsg(db));
    else if (sqlited_changes(db) != 1)
        snprintf(w->failure, sizeof(w->failure),
                 "client %d: row %d: %lld "
                 "changes",
                 w->id, seq, (long long)sqlited_changes(db));
    return rc != 0 ? rc : sqlited_changes(db) != 1 ? SQLITED_EPROTO : 0;
}

static void *writer_main(void *arg)
{
    struct harness_writer *w = arg;
    sqlited *db = NULL;
    sqlited_params *p = NULL;
    w->rc = sqlited_open(w->sock_path, HARNESS_IO_TIMEOUT_MS, &db);
    if (w->rc != 0) {
        snprintf(w->failure, sizeof(w->failure), "client %d: open: %d %s",
                 w->id, w->rc, sqlited_strerror(w->rc));
        return NULL;
    }
    w->rc = sqlited_params_open(&p);
    if (w->rc != 0)
        snprintf(w->failure, sizeof(w->failure), "client %d: params_open: %d",
                 w->id, w->rc);
    for (int seq = 0; w->rc == 0 && seq < w->count; seq++) {
        w->rc = writer_insert(w, db, p, seq);
        if (w->rc == 0)
            __atomic_store_n(&w->acked, seq + 1, __ATOMIC_RELEASE);
    }
    sqlited_params_close(p);
    sqlited_close(db);
    return NULL;
}

void harness_writer_start(struct harness_writer *w)
{
    cr_assert_eq(pthread_create(&w->thread, NULL, writer_main, w), 0);
}

void harness_writer_join(struct harness_writer *w)
{
    pthread_join(w->thread, NULL);
}

int harness_writer_acked(struct harness_writer *w)
{
    return __atomic_load_n(&w->acked, __ATOMIC_ACQUIRE);
}

sqlited *harness_connect(struct daemon *d)
{
    sqlited *db = NULL;
    int rc = sqlited_open(d->sock_path, HARNESS_IO_TIMEOUT_MS, &db);
    cr_assert_eq(rc, 0, "sqlited_open(%s): %d %s", d->sock_path, rc,
                 sqlited_strerror(rc));
    cr_assert_not_null(db);
    return db;
}

sqlited *harness_start_connected(struct daemon *d,
                                 const char *const *extra_args)
{
    daemon_start(d, extra_args);
    return harness_connect(d);
}

void harness_cleanup_connected(struct daemon *d, sqlited **db)
{
    sqlited_close(*db);
    *db = NULL;
    daemon_cleanup(d);
}

sqlited_params *harness_params_new(void)
{
    sqlited_params *p = NULL;
    cr_assert_eq(sqlited_params_open(&p), 0);
    cr_assert_not_null(p);
    return p;
}

void harness_exec(sqlited *db, const char *sql)
{
    int rc = sqlited_exec(db, sql, NULL, NULL);
    cr_assert_eq(rc, 0, "exec(%s): %d %s: %s", sql, rc, sqlited_errname(db),
                 sqlited_errmsg(db));
}

void harness_exec_fresh(struct daemon *d, const char *sql)
{
    sqlited *db = harness_connect(d);
    harness_exec(db, sql);
    sqlited_close(db);
}

sqlited_rows *harness_query(sqlited *db, const char *sql,
                            sqlited_params *params)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, sql, params, &rows);
    cr_assert_eq(rc, 0, "query(%s): %d %s: %s", sql, rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    return rows;
}

int64_t harness_query_int(sqlited *db, const char *sql)
{
    sqlited_rows *rows = harness_query(db, sql, NULL);
    cr_assert_eq(sqlited_rows_column_count(rows), 1, "query(%s)", sql);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW, "query(%s): no row",
                 sql);
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_INTEGER,
                 "query(%s): not an integer", sql);
    int64_t v = sqlited_column_int64(rows, 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE, "query(%s): more rows",
                 sql);
    sqlited_rows_close(rows);
    return v;
}

/* -------------------------------------------------------------- raw socket */

int harness_raw_connect_path(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int harness_raw_connect(struct daemon *d)
{
    int fd = harness_raw_connect_path(d->sock_path);
    cr_assert_geq(fd, 0, "connect %s: %s", d->sock_path, strerror(-fd));
    return fd;
}

int harness_listen(const char *path, int backlog)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(path), sizeof(addr.sun_path), "path too long: %s",
                 path);
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0,
                 "bind %s: %s", path, strerror(errno));
    cr_assert_eq(listen(fd, backlog), 0, "listen %s: %s", path,
                 strerror(errno));
    return fd;
}

int harness_try_send(int fd, const void *data, size_t len)
{
    const char *p = data;
    int64_t deadline = harness_now_ms() + HARNESS_IO_TIMEOUT_MS;
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int left = remaining_ms(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        int n = poll(&pfd, 1, left);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n <= 0)
            continue;
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void harness_send(int fd, const void *data, size_t len)
{
    int rc = harness_try_send(fd, data, len);
    cr_assert_eq(rc, 0, "send of %zu bytes: %s", len, strerror(-rc));
}

void harness_send_buf(int fd, struct codec_buf *b)
{
    cr_assert_eq(b->error, CODEC_BUF_OK, "encoding the request failed");
    harness_send(fd, b->data, b->len);
    codec_buf_reset(b);
}

void harness_pack_request(struct codec_buf *b, uint32_t msgid,
                          const char *method, uint32_t nparams)
{
    msgpack_pack_array(&b->pk, 4);
    msgpack_pack_uint32(&b->pk, 0);
    msgpack_pack_uint32(&b->pk, msgid);
    msgpack_pack_str(&b->pk, strlen(method));
    msgpack_pack_str_body(&b->pk, method, strlen(method));
    msgpack_pack_array(&b->pk, nparams);
}

void harness_pack_sql(struct codec_buf *b, uint32_t msgid, const char *method,
                      const char *sql)
{
    harness_pack_request(b, msgid, method, 1);
    msgpack_pack_str(&b->pk, strlen(sql));
    msgpack_pack_str_body(&b->pk, sql, strlen(sql));
}

void harness_reader_init(struct harness_reader *r, int fd)
{
    /* Looser than the daemon's limits: the tests check what the daemon
     * sends, not what it would accept. */
    static const struct codec_limits limits = {
        .max_message = (size_t)1 << 30,
        .max_depth = CODEC_DEPTH_CEILING,
        .max_items = UINT32_MAX,
    };
    r->fd = fd;
    codec_decoder_init(&r->dec, &limits);
}

void harness_reader_close(struct harness_reader *r)
{
    codec_decoder_close(&r->dec);
}

int harness_read_message(struct harness_reader *r, int timeout_ms, char **msg,
                         size_t *len)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    for (;;) {
        const char *m;
        size_t n;
        int status = codec_decoder_next(&r->dec, &m, &n);
        if (status == CODEC_MESSAGE) {
            *msg = malloc(n ? n : 1);
            cr_assert_not_null(*msg);
            memcpy(*msg, m, n);
            *len = n;
            return 1;
        }
        if (status != CODEC_NEED_MORE)
            return -EPROTO;

        struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
        int left = remaining_ms(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        int p = poll(&pfd, 1, left);
        if (p < 0 && errno != EINTR)
            return -errno;
        if (p <= 0)
            continue;
        char *space;
        size_t room;
        cr_assert_eq(codec_decoder_reserve(&r->dec, 64 * 1024, &space, &room),
                     0);
        ssize_t got = recv(r->fd, space, room, MSG_DONTWAIT);
        if (got < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -errno;
        }
        if (got == 0)
            return codec_decoder_pending(&r->dec) == 0 ? 0 : -EPROTO;
        codec_decoder_commit(&r->dec, (size_t)got);
    }
}

bool harness_read_eof(struct harness_reader *r, int timeout_ms)
{
    char *msg = NULL;
    size_t len;
    int rc = harness_read_message(r, timeout_ms, &msg, &len);
    free(msg);
    return rc == 0 || rc == -ECONNRESET;
}

void harness_raw_open(struct harness_raw *c, struct daemon *d)
{
    c->fd = harness_raw_connect(d);
    harness_reader_init(&c->r, c->fd);
    codec_buf_init(&c->b, 0);
    c->is_open = true;
}

void harness_raw_close(struct harness_raw *c)
{
    if (!c->is_open)
        return;
    codec_buf_close(&c->b);
    harness_reader_close(&c->r);
    close(c->fd);
    c->fd = -1;
    c->is_open = false;
}

sqlited *harness_start_with_raw(struct daemon *d, struct harness_raw *c,
                                const char *const *extra_args)
{
    sqlited *db = harness_start_connected(d, extra_args);
    harness_raw_open(c, d);
    return db;
}

void harness_cleanup_with_raw(struct daemon *d, sqlited **db,
                              struct harness_raw *c)
{
    harness_raw_close(c);
    harness_cleanup_connected(d, db);
}

static void copy_str(char *dst, size_t cap, const char *s, uint32_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* Reads an error object {code, primary, name, message} into @rep. */
static int parse_error_object(struct codec_reader *r, struct reply *rep,
                              char *why, size_t why_len)
{
    uint32_t n;
    bool has_code = false;
    if (codec_read_map(r, &n)) {
        snprintf(why, why_len, "the error is not a map");
        return -1;
    }
    rep->is_error = true;
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        uint32_t key_len;
        if (codec_read_str(r, &key, &key_len)) {
            snprintf(why, why_len, "an error key is not a string");
            return -1;
        }
        struct codec_value v;
        if (codec_read(r, &v) ||
            (v.type == CODEC_ARRAY || v.type == CODEC_MAP)) {
            snprintf(why, why_len, "error value is malformed or a container");
            return -1;
        }
        if (key_len == 4 && memcmp(key, "code", 4) == 0) {
            if (v.type != CODEC_INT) {
                snprintf(why, why_len, "error code is not an integer");
                return -1;
            }
            rep->code = v.v.i;
            has_code = true;
        } else if (key_len == 7 && memcmp(key, "primary", 7) == 0) {
            if (v.type != CODEC_INT) {
                snprintf(why, why_len, "error primary is not an integer");
                return -1;
            }
            rep->primary = v.v.i;
            rep->has_primary = true;
        } else if (key_len == 4 && memcmp(key, "name", 4) == 0) {
            if (v.type != CODEC_STR) {
                snprintf(why, why_len, "error name is not a string");
                return -1;
            }
            copy_str(rep->name, sizeof(rep->name), v.v.s.ptr, v.v.s.len);
        } else if (key_len == 7 && memcmp(key, "message", 7) == 0) {
            if (v.type != CODEC_STR) {
                snprintf(why, why_len, "error message is not a string");
                return -1;
            }
            copy_str(rep->message, sizeof(rep->message), v.v.s.ptr, v.v.s.len);
        } else if (key_len == 4 && memcmp(key, "step", 4) == 0) {
            if (v.type != CODEC_INT) {
                snprintf(why, why_len, "error step is not an integer");
                return -1;
            }
            rep->step = v.v.i;
            rep->has_step = true;
        }
    }
    if (!has_code) {
        snprintf(why, why_len, "the error has no code");
        return -1;
    }
    return 0;
}

int harness_parse_reply(char *msg, size_t len, struct reply *rep, char *why,
                        size_t why_len)
{
    struct codec_reader r;
    struct codec_value v;
    uint32_t n;

    memset(rep, 0, sizeof(*rep));
    rep->msg = msg;
    rep->len = len;
    codec_reader_init(&r, msg, len);
    if (codec_read_array(&r, &n) || (n != 3 && n != 4)) {
        snprintf(why, why_len, "not an array of 3 or 4");
        return -1;
    }
    int64_t kind;
    if (codec_read_int64(&r, &kind) || kind != (n == 4 ? 1 : 2)) {
        snprintf(why, why_len, "bad kind for an array of %u", n);
        return -1;
    }
    rep->kind = (int)kind;
    if (n == 4) {
        if (codec_read_uint32(&r, &rep->msgid)) {
            snprintf(why, why_len, "msgid is not a uint32");
            return -1;
        }
        struct codec_reader at = r;
        if (codec_read(&r, &v)) {
            snprintf(why, why_len, "error value is malformed");
            return -1;
        }
        if (v.type != CODEC_NIL) {
            r = at;
            if (parse_error_object(&r, rep, why, why_len))
                return -1;
        }
        rep->result = r;
        if (codec_read(&r, &v) || (rep->is_error && v.type != CODEC_NIL)) {
            snprintf(why, why_len, "result missing, or not nil with an error");
            return -1;
        }
        r = rep->result;
        if (codec_skip(&r) || !codec_at_end(&r)) {
            snprintf(why, why_len, "bytes after the result");
            return -1;
        }
        return 0;
    }
    const char *method;
    uint32_t mlen;
    if (codec_read_str(&r, &method, &mlen)) {
        snprintf(why, why_len, "notification method is not a string");
        return -1;
    }
    copy_str(rep->method, sizeof(rep->method), method, mlen);
    if (codec_read_array(&r, &n) || n < 1) {
        snprintf(why, why_len, "notification params is not a non-empty array");
        return -1;
    }
    rep->result = r;
    if (parse_error_object(&r, rep, why, why_len))
        return -1;
    return 0;
}

void harness_read_reply(struct harness_reader *r, struct reply *rep)
{
    harness_read_reply_within(r, HARNESS_IO_TIMEOUT_MS, rep);
}

void harness_read_reply_within(struct harness_reader *r, int timeout_ms,
                               struct reply *rep)
{
    char *msg = NULL;
    size_t len = 0;
    char why[128];

    memset(rep, 0, sizeof(*rep));
    int rc = harness_read_message(r, timeout_ms, &msg, &len);
    cr_assert_eq(rc, 1, "no reply from the daemon within %d ms: %s", timeout_ms,
                 rc == 0 ? "end of stream" : strerror(-rc));
    if (harness_parse_reply(msg, len, rep, why, sizeof(why)) != 0) {
        char *hex = harness_hex(msg, len);
        cr_assert_fail("malformed reply (%s): %s", why, hex);
    }
}

void reply_free(struct reply *rep)
{
    free(rep->msg);
    rep->msg = NULL;
}

struct codec_reader harness_reply_rows(const struct reply *rep, uint32_t *nrows,
                                       uint32_t *ncols)
{
    struct codec_reader rows;
    cr_assert_not(rep->is_error, "msgid %u: %s: %s", rep->msgid, rep->name,
                  rep->message);
    cr_assert(harness_map_find(rep->result, "rows", &rows), "msgid %u: no rows",
              rep->msgid);
    cr_assert_eq(codec_read_array(&rows, nrows), 0, "msgid %u: rows",
                 rep->msgid);
    cr_assert_gt(*nrows, 0, "msgid %u: no row", rep->msgid);
    cr_assert_eq(codec_read_array(&rows, ncols), 0, "msgid %u: row",
                 rep->msgid);
    return rows;
}

int64_t harness_reply_int(const struct reply *rep)
{
    uint32_t nrows, ncols;
    int64_t v;
    struct codec_reader row = harness_reply_rows(rep, &nrows, &ncols);
    cr_assert_eq(nrows, 1, "msgid %u", rep->msgid);
    cr_assert_eq(ncols, 1, "msgid %u", rep->msgid);
    cr_assert_eq(codec_read_int64(&row, &v), 0, "msgid %u: not an int",
                 rep->msgid);
    return v;
}

bool harness_map_find(struct codec_reader map, const char *key,
                      struct codec_reader *value)
{
    uint32_t n;
    size_t key_len = strlen(key);
    if (codec_read_map(&map, &n))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t len;
        if (codec_read_str(&map, &k, &len))
            return false;
        if (len == key_len && memcmp(k, key, len) == 0) {
            *value = map;
            return true;
        }
        if (codec_skip(&map))
            return false;
    }
    return false;
}

bool harness_read_str_eq(struct codec_reader *r, const char *want)
{
    const char *s;
    uint32_t len;
    if (codec_read_str(r, &s, &len))
        return false;
    return len == strlen(want) && memcmp(s, want, len) == 0;
}

char *harness_hex(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t shown = len > 512 ? 512 : len;
    char *out = malloc(shown * 3 + 8);
    cr_assert_not_null(out);
    size_t k = 0;
    for (size_t i = 0; i < shown; i++)
        k += (size_t)sprintf(out + k, "%02x ", p[i]);
    if (shown < len)
        k += (size_t)sprintf(out + k, "...");
    out[k] = '\0';
    return out;
}

void harness_read_error(struct codec_reader *r, struct reply *err)
{
    char why[128];
    memset(err, 0, sizeof(*err));
    struct codec_reader at = *r;
    if (parse_error_object(r, err, why, sizeof(why)) != 0) {
        char *hex = harness_hex(at.p, (size_t)(at.end - at.p));
        cr_assert_fail("malformed error object (%s): %s", why, hex);
    }
}

void harness_assert_error(const struct reply *rep, int64_t code,
                          const char *name, const char *text)
{
    cr_assert(rep->is_error, "msgid %u: expected %s, got success", rep->msgid,
              name);
    cr_assert_eq(rep->code, code, "msgid %u: code %lld (%s: %s), expected %lld",
                 rep->msgid, (long long)rep->code, rep->name, rep->message,
                 (long long)code);
    cr_assert(rep->has_primary, "the error has no primary code");
    cr_assert_eq(rep->primary, code < 0 ? code : (code & 0xff),
                 "primary %lld for code %lld", (long long)rep->primary,
                 (long long)code);
    cr_assert_str_eq(rep->name, name);
    cr_assert_str_neq(rep->message, "", "%s without a message", name);
    if (text)
        cr_assert_not_null(strstr(rep->message, text),
                           "message '%s' lacks '%s'", rep->message, text);
}

int64_t harness_result_int(struct codec_reader map, const char *key)
{
    struct codec_reader v;
    int64_t i;
    cr_assert(harness_map_find(map, key, &v), "no \"%s\" in the result", key);
    cr_assert_eq(codec_read_int64(&v, &i), 0, "\"%s\" is not an integer", key);
    return i;
}

/* ----------------------------------------------------- write path methods */

void harness_pack_options(struct codec_buf *b, const struct harness_options *o)
{
    size_t n = o ? (size_t)o->has_timeout + (o->tx != 0) + o->has_atomic : 0;
    if (n == 0) {
        msgpack_pack_nil(&b->pk);
        return;
    }
    msgpack_pack_map(&b->pk, n);
    if (o->has_timeout) {
        codec_pack_cstr(b, "timeout_ms");
        msgpack_pack_int64(&b->pk, o->timeout_ms);
    }
    if (o->tx != 0) {
        codec_pack_cstr(b, "tx");
        msgpack_pack_int64(&b->pk, o->tx);
    }
    if (o->has_atomic) {
        codec_pack_cstr(b, "atomic");
        if (o->atomic)
            msgpack_pack_true(&b->pk);
        else
            msgpack_pack_false(&b->pk);
    }
}

void harness_pack_sql_options(struct codec_buf *b, uint32_t msgid,
                              const char *method, const char *sql,
                              const struct harness_options *o)
{
    harness_pack_request(b, msgid, method, 3);
    codec_pack_cstr(b, sql);
    msgpack_pack_nil(&b->pk);
    harness_pack_options(b, o);
}

void harness_pack_batch_sql(struct codec_buf *b, uint32_t msgid,
                            const char *const *sqls, uint32_t n,
                            const struct harness_options *o)
{
    harness_pack_request(b, msgid, "batch", 2);
    msgpack_pack_array(&b->pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_array(&b->pk, 1);
        codec_pack_cstr(b, sqls[i]);
    }
    harness_pack_options(b, o);
}

void harness_pack_begin(struct codec_buf *b, uint32_t msgid, const char *mode)
{
    harness_pack_request(b, msgid, "begin", mode ? 1 : 0);
    if (mode)
        codec_pack_cstr(b, mode);
}

void harness_pack_tx_end(struct codec_buf *b, uint32_t msgid,
                         const char *method, int64_t tx)
{
    harness_pack_request(b, msgid, method, 1);
    msgpack_pack_int64(&b->pk, tx);
}

void harness_raw_call(struct harness_raw *c, uint32_t msgid, struct reply *rep)
{
    harness_send_buf(c->fd, &c->b);
    harness_read_reply(&c->r, rep);
    cr_assert_eq(rep->kind, 1,
                 "expected the response to %u, got a "
                 "notification (%s: %s)",
                 msgid, rep->name, rep->message);
    cr_assert_eq(rep->msgid, msgid, "expected the response to %u, got %u",
                 msgid, rep->msgid);
}

void harness_raw_sql(struct harness_raw *c, const char *method, const char *sql,
                     const struct harness_options *o, struct reply *rep)
{
    uint32_t msgid = ++c->last_msgid;
    harness_pack_sql_options(&c->b, msgid, method, sql, o);
    harness_raw_call(c, msgid, rep);
}

int64_t harness_raw_exec(struct harness_raw *c, const char *sql,
                         const struct harness_options *o)
{
    struct reply rep;
    harness_raw_sql(c, "exec", sql, o, &rep);
    cr_assert_not(rep.is_error, "exec(%s): %s: %s", sql, rep.name, rep.message);
    int64_t changes = harness_result_int(rep.result, "changes");
    reply_free(&rep);
    return changes;
}

int64_t harness_raw_query_int(struct harness_raw *c, const char *sql,
                              const struct harness_options *o)
{
    struct reply rep;
    harness_raw_sql(c, "query", sql, o, &rep);
    cr_assert_not(rep.is_error, "query(%s): %s: %s", sql, rep.name,
                  rep.message);
    int64_t v = harness_reply_int(&rep);
    reply_free(&rep);
    return v;
}

int64_t harness_raw_begin(struct harness_raw *c, const char *mode)
{
    struct reply rep;
    int64_t tx;
    uint32_t msgid = ++c->last_msgid;
    harness_pack_begin(&c->b, msgid, mode);
    harness_raw_call(c, msgid, &rep);
    cr_assert_not(rep.is_error, "begin: %s: %s", rep.name, rep.message);
    struct codec_reader res = rep.result;
    cr_assert_eq(codec_read_int64(&res, &tx), 0,
                 "begin did not answer an integer");
    cr_assert_gt(tx, 0, "begin answered the id %lld", (long long)tx);
    reply_free(&rep);
    return tx;
}

void harness_raw_tx_end(struct harness_raw *c, const char *method, int64_t tx,
                        struct reply *rep)
{
    uint32_t msgid = ++c->last_msgid;
    harness_pack_tx_end(&c->b, msgid, method, tx);
    harness_raw_call(c, msgid, rep);
}

void harness_raw_end_ok(struct harness_raw *c, const char *method, int64_t tx)
{
    struct reply rep;
    struct codec_value v;
    harness_raw_tx_end(c, method, tx, &rep);
    cr_assert_not(rep.is_error, "%s(%lld): %s: %s", method, (long long)tx,
                  rep.name, rep.message);
    struct codec_reader res = rep.result;
    cr_assert(codec_read(&res, &v) == 0 && v.type == CODEC_NIL,
              "%s answered a result other than nil", method);
    reply_free(&rep);
}

void harness_assert_no_reply(struct harness_reader *r, int ms, const char *what)
{
    char *msg = NULL;
    size_t len = 0;
    int rc = harness_read_message(r, ms, &msg, &len);
    if (rc == 1) {
        char *hex = harness_hex(msg, len);
        cr_assert_fail("%s: answered within %d ms: %s", what, ms, hex);
    }
    cr_assert_eq(rc, -ETIMEDOUT, "%s: %s", what,
                 rc == 0 ? "the daemon closed the connection" : strerror(-rc));
}

int64_t harness_stat(struct daemon *d, const char *key)
{
    struct harness_raw c = {0};
    struct codec_reader v;
    struct reply rep;
    int64_t n = -1;

    harness_raw_open(&c, d);
    harness_pack_request(&c.b, 1, "stats", 0);
    harness_send_buf(c.fd, &c.b);
    harness_read_reply(&c.r, &rep);
    cr_assert_not(rep.is_error, "stats: %s", rep.message);
    cr_assert(harness_map_find(rep.result, key, &v), "stats has no %s", key);
    cr_assert_eq(codec_read_int64(&v, &n), 0, "stats %s is not an int", key);
    reply_free(&rep);
    harness_raw_close(&c);
    return n;
}

void harness_stats(struct daemon *d, struct harness_stats *s)
{
    static const struct {
        const char *key;
        size_t offset;
    } keys[] = {
#define KEY(name) {#name, offsetof(struct harness_stats, name)}
        KEY(groups),       KEY(group_requests), KEY(group_max),
        KEY(busy_retries), KEY(timeouts),       KEY(tx_begun),
        KEY(tx_committed), KEY(tx_rolled_back), KEY(tx_expired),
#undef KEY
    };
    struct harness_raw c = {0};
    struct reply rep;
    harness_raw_open(&c, d);
    harness_pack_request(&c.b, 1, "stats", 0);
    harness_raw_call(&c, 1, &rep);
    cr_assert_not(rep.is_error, "stats: %s: %s", rep.name, rep.message);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        int64_t v = harness_result_int(rep.result, keys[i].key);
        cr_assert_geq(v, 0, "stats: %s is %lld", keys[i].key, (long long)v);
        memcpy((char *)s + keys[i].offset, &v, sizeof(v));
    }
    reply_free(&rep);
    harness_raw_close(&c);
}

void harness_put_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
}

void harness_pack_cancel(struct harness_raw *c, uint32_t msgid, uint32_t target)
{
    harness_pack_request(&c->b, msgid, "cancel", 1);
    msgpack_pack_uint32(&c->b.pk, target);
}

void harness_send_cancel(struct harness_raw *c, uint32_t msgid, uint32_t target)
{
    harness_pack_cancel(c, msgid, target);
    harness_send_buf(c->fd, &c->b);
}

bool harness_cancel_result(const struct reply *rep)
{
    struct codec_reader v;
    struct codec_value b;
    cr_assert_not(rep->is_error, "cancel failed: %s: %s", rep->name,
                  rep->message);
    cr_assert(harness_map_find(rep->result, "cancelled", &v),
              "the answer to cancel has no \"cancelled\"");
    cr_assert_eq(codec_read(&v, &b), 0);
    cr_assert_eq(b.type, CODEC_BOOL, "\"cancelled\" is not a bool");
    return b.v.b;
}

void harness_cancel_and_read(struct harness_raw *c, uint32_t msgid,
                             uint32_t target, bool found, struct reply *rep)
{
    bool got_cancel = false, got_target = false;
    harness_send_cancel(c, msgid, target);
    while (!got_cancel || !got_target) {
        struct reply r;
        harness_read_reply(&c->r, &r);
        cr_assert_eq(r.kind, 1, "a notification: %s: %s", r.name, r.message);
        if (r.msgid == msgid && !got_cancel) {
            cr_assert_eq(harness_cancel_result(&r), found,
                         "cancel of request %u answered %s", target,
                         found ? "false" : "true");
            got_cancel = true;
            reply_free(&r);
        } else if (r.msgid == target && !got_target) {
            *rep = r;
            got_target = true;
        } else {
            cr_assert_fail("an answer to request %u", r.msgid);
        }
    }
    if (msgid > c->last_msgid)
        c->last_msgid = msgid;
}
