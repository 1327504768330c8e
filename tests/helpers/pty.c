/* A pseudo-terminal driver for the shell's tests: see pty.h. */
#include "pty.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

static void grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need)
        cap2 *= 2;
    char *q = realloc(*buf, cap2);
    cr_assert_not_null(q, "pty: out of memory");
    *buf = q;
    *cap = cap2;
}

static void text_add(struct pty_proc *p, char c)
{
    grow(&p->text, &p->text_cap, p->text_len + 2);
    p->text[p->text_len++] = c;
    p->text[p->text_len] = '\0';
}

/* Moves the raw bytes not yet cleaned into the transcript, leaving an
 * escape sequence cut short by the end of what was read for the next call
 * (or dropping it once the output has ended). */
static void clean(struct pty_proc *p)
{
    const unsigned char *r = (const unsigned char *)p->raw;
    size_t i = p->raw_done, n = p->raw_len;

    while (i < n) {
        unsigned char c = r[i];
        if (c == '\r' || c == '\a') {
            i++;
            continue;
        }
        if (c != 0x1b) {
            text_add(p, (char)c);
            i++;
            continue;
        }
        size_t j = i + 1;
        if (j >= n)
            break;
        if (r[j] == '[') { /* CSI: parameters, then a final byte */
            for (j++; j < n && !(r[j] >= 0x40 && r[j] <= 0x7e); j++)
                ;
            if (j >= n)
                break;
            i = j + 1;
        } else if (r[j] == ']') { /* OSC: up to BEL or ESC \ */
            for (j++; j < n && r[j] != '\a' &&
                      !(r[j] == 0x1b && j + 1 < n && r[j + 1] == '\\');
                 j++)
                ;
            if (j >= n)
                break;
            i = j + (r[j] == '\a' ? 1 : 2);
        } else {
            i = j + 1;
        }
    }
    p->raw_done = p->eof ? n : i;
}

/* Reads what is there, waiting at most @timeout_ms for the first byte.
 * Sets p->eof when the terminal side is closed. */
static void pump(struct pty_proc *p, int timeout_ms)
{
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};

    if (p->eof || p->fd < 0)
        return;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return;
    for (;;) {
        grow(&p->raw, &p->raw_cap, p->raw_len + 4097);
        ssize_t got = read(p->fd, p->raw + p->raw_len, 4096);
        if (got > 0) {
            p->raw_len += (size_t)got;
            p->raw[p->raw_len] = '\0';
            continue;
        }
        if (got < 0 && errno == EINTR)
            continue;
        /* EIO (Linux) or 0: every descriptor of the terminal side is
         * closed. */
        if (got == 0 || errno != EAGAIN)
            p->eof = true;
        break;
    }
    clean(p);
}

/* Whether @name=... is set in @env. */
static bool env_has(const char *const *env, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return true;
    return false;
}

void pty_spawn(struct pty_proc *p, const char *const *argv,
               const char *const *env)
{
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    size_t nenv = 0, nadd = 0, k = 0;

    memset(p, 0, sizeof(*p));
    p->fd = -1;
    /* The environment is built before the fork: the child only execs. */
    while (environ[nenv])
        nenv++;
    while (env && env[nadd])
        nadd++;
    const char **envp = calloc(nenv + nadd + 2, sizeof(*envp));
    cr_assert_not_null(envp);
    for (size_t i = 0; i < nenv; i++) {
        const char *e = environ[i];
        const char *eq = strchr(e, '=');
        size_t len = eq ? (size_t)(eq - e) : strlen(e);
        char name[256];
        if (len >= sizeof(name))
            continue;
        memcpy(name, e, len);
        name[len] = '\0';
        if (env_has(env, name) || strcmp(name, "TERM") == 0 ||
            strcmp(name, "COLUMNS") == 0 || strcmp(name, "LINES") == 0)
            continue;
        envp[k++] = e;
    }
    if (!env_has(env, "TERM"))
        envp[k++] = "TERM=dumb";
    for (size_t i = 0; i < nadd; i++)
        envp[k++] = env[i];
    envp[k] = NULL;

    /* posix_openpt() rather than forkpty(): its <pty.h> would be this
     * file's own header on the tests' include path. */
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    cr_assert_geq(master, 0, "posix_openpt: %s", strerror(errno));
    cr_assert_eq(grantpt(master), 0, "grantpt: %s", strerror(errno));
    cr_assert_eq(unlockpt(master), 0, "unlockpt: %s", strerror(errno));
    const char *name = ptsname(master);
    cr_assert_not_null(name, "ptsname: %s", strerror(errno));
    int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    cr_assert_geq(slave, 0, "open %s: %s", name, strerror(errno));
    cr_assert_eq(ioctl(slave, TIOCSWINSZ, &ws), 0);

    pid_t pid = fork();
    cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* A session of its own, with the pty as its controlling terminal:
         * Ctrl-C typed there is its SIGINT. */
        if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0 ||
            dup2(slave, STDIN_FILENO) < 0 || dup2(slave, STDOUT_FILENO) < 0 ||
            dup2(slave, STDERR_FILENO) < 0)
            _exit(127);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execve(argv[0], (char *const *)argv, (char *const *)envp);
        dprintf(STDERR_FILENO, "pty: cannot run %s: %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    close(slave);
    p->fd = master;
    free(envp);
    p->pid = pid;
    p->started = true;
    fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) | O_NONBLOCK);
    grow(&p->text, &p->text_cap, 1);
    p->text[0] = '\0';
}

void pty_cli(struct pty_proc *p, struct daemon *d, const char *const *env,
             const char *const *args)
{
    const char *argv[32] = {SQLITED_CLI, "-s", d->sock_path};
    const char *envv[32];
    char home[160], hist[192];
    size_t n = 3, k = 0;

    for (size_t i = 0; args && args[i]; i++) {
        cr_assert_lt(n, 31);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    snprintf(home, sizeof(home), "HOME=%s", d->dir);
    snprintf(hist, sizeof(hist), "SQLITED_HISTORY=%s/history", d->dir);
    if (!env_has(env, "HOME"))
        envv[k++] = home;
    if (!env_has(env, "SQLITED_HISTORY"))
        envv[k++] = hist;
    for (size_t i = 0; env && env[i]; i++) {
        cr_assert_lt(k, 31);
        envv[k++] = env[i];
    }
    envv[k] = NULL;
    pty_spawn(p, argv, envv);
}

void pty_send(struct pty_proc *p, const char *keys)
{
    size_t len = strlen(keys), off = 0;
    int64_t deadline = harness_now_ms() + PTY_TIMEOUT_MS * harness_slowdown();

    while (off < len) {
        ssize_t w = write(p->fd, keys + off, len - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        cr_assert(w < 0 && (errno == EAGAIN || errno == EINTR),
                  "pty: cannot type %zu bytes: %s", len - off,
                  w < 0 ? strerror(errno) : "short write");
        cr_assert_lt(harness_now_ms(), deadline,
                     "pty: the program takes no input");
        /* The program does not read: drain its output meanwhile, so that
         * it is not stuck writing to us. */
        pump(p, 10);
    }
}

bool pty_wait_for(struct pty_proc *p, const char *text, int timeout_ms)
{
    int64_t deadline = harness_now_ms() + timeout_ms;
    size_t len = strlen(text), from = p->mark;

    for (;;) {
        const char *at = strstr(p->text + from, text);
        if (at) {
            p->mark = (size_t)(at - p->text) + len;
            return true;
        }
        /* Search only what is new next time (and the end of what was
         * there, where @text may begin): a program that prints without
         * end makes the transcript long. */
        if (p->text_len >= len && p->text_len - len + 1 > from)
            from = p->text_len - len + 1;
        int64_t left = deadline - harness_now_ms();
        if (left <= 0 || p->eof)
            return false;
        pump(p, left > 100 ? 100 : (int)left);
    }
}

char *pty_show(const struct pty_proc *p, size_t from)
{
    size_t n = p->text_len > from ? p->text_len - from : 0;
    char *s = malloc(n * 4 + 1), *o = s;

    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p->text[from + i];
        if (c == '\n')
            o += sprintf(o, "\\n");
        else if (c < 0x20 || c == 0x7f)
            o += sprintf(o, "\\x%02X", c);
        else
            *o++ = (char)c;
    }
    *o = '\0';
    return s;
}

void pty_expect(struct pty_proc *p, const char *text)
{
    if (pty_wait_for(p, text, PTY_TIMEOUT_MS * harness_slowdown()))
        return;
    char *want = strdup(text), *got = pty_show(p, p->mark);
    for (char *c = want; *c; c++)
        if (*c == '\n')
            *c = '|';
    cr_assert_fail("pty: never saw \"%s\" (newlines as |)%s; the "
                   "transcript from the mark:\n%s",
                   want, p->eof ? " before the program's output ended" : "",
                   got);
}

const char *pty_since_mark(struct pty_proc *p)
{
    pump(p, 0);
    return p->text + p->mark;
}

void pty_wait_running(struct pty_proc *p)
{
    int64_t deadline = harness_now_ms() + PTY_TIMEOUT_MS * harness_slowdown();
    struct termios t;

    /* On Linux the master side reports the terminal side's modes. */
    for (;;) {
        cr_assert_eq(tcgetattr(p->fd, &t), 0, "pty: tcgetattr: %s",
                     strerror(errno));
        if ((t.c_lflag & ICANON) && t.c_cc[VEOF] == _POSIX_VDISABLE)
            return;
        cr_assert_lt(harness_now_ms(), deadline,
                     "pty: the terminal never went canonical with Ctrl-D "
                     "an ordinary key (lflag %#o, VEOF %#x)",
                     (unsigned)t.c_lflag, (unsigned)t.c_cc[VEOF]);
        pump(p, 10);
    }
}

int pty_wait_exit(struct pty_proc *p)
{
    int64_t deadline = harness_now_ms() + PTY_TIMEOUT_MS * harness_slowdown();

    while (p->pid > 0) {
        int st;
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        cr_assert_neq(r, -1, "pty: waitpid: %s", strerror(errno));
        if (r == p->pid) {
            p->pid = 0;
            p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            break;
        }
        if (harness_now_ms() >= deadline) {
            char *got = pty_show(p, p->mark);
            cr_assert_fail("pty: the program did not exit; the transcript "
                           "from the mark:\n%s",
                           got);
        }
        pump(p, 50);
        if (p->eof)
            harness_sleep_ms(5); /* poll() no longer waits */
    }
    /* What it wrote before exiting, bounded: a child it left behind may
     * hold the terminal open. */
    for (int i = 0; i < 20 && !p->eof; i++)
        pump(p, 10);
    return p->status;
}

void pty_close(struct pty_proc *p)
{
    if (!p->started)
        return;
    p->started = false;
    if (p->pid > 0) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
        p->pid = 0;
    }
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    free(p->raw);
    free(p->text);
    p->raw = p->text = NULL;
    p->raw_len = p->raw_cap = p->raw_done = 0;
    p->text_len = p->text_cap = p->mark = 0;
}
