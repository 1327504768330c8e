#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Atomic: a SIGHUP may change the level while threads log. */
static atomic_int max_level = LOG_INFO;
static const char *log_path; /* the log file; NULL: stderr as inherited */
/* stderr goes to systemd's journal: 1, no: 0, not known yet: -1. */
static atomic_int journal = -1;

static const struct {
    const char *name;
    const char *prefix; /* sd-daemon.h's SD_ERR, SD_WARNING, ... */
} levels[] = {
    [LOG_ERROR] = {"error", "<3>"},
    [LOG_WARN] = {"warn", "<4>"},
    [LOG_INFO] = {"info", "<6>"},
    [LOG_DEBUG] = {"debug", "<7>"},
};

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&max_level, (int)level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load_explicit(&max_level,
                                                memory_order_relaxed);
}

/* Whether stderr is systemd's journal: systemd sets JOURNAL_STREAM to the
 * device and inode of the stream it connected to stderr ("dev:ino"). The
 * variable alone is not enough: a child of a service inherits it with a
 * stderr of its own (a shell's redirection, a pipe). */
static bool stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2 ||
        fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

int log_parse_level(const char *name, enum log_level *level)
{
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
        if (strcmp(name, levels[i].name) == 0) {
            *level = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

const char *log_level_name(enum log_level level)
{
    return levels[level].name;
}

/* Points stderr at @path, opened for appending. */
static int redirect(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int rc = dup2(fd, STDERR_FILENO) < 0 ? -1 : 0;
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

int log_open(const char *path)
{
    if (redirect(path) != 0)
        return -1;
    log_path = path;
    atomic_store(&journal, 0); /* a file, not systemd's journal */
    return 0;
}

void log_reopen(void)
{
    if (log_path == NULL) {
        log_info("SIGHUP: the log goes to stderr, there is no log file to "
                 "reopen");
        return;
    }
    if (redirect(log_path) != 0) {
        log_error("SIGHUP: cannot reopen the log file %s: %s; logging on to "
                  "the old one",
                  log_path, strerror(errno));
        return;
    }
    log_info("SIGHUP: reopened the log file %s", log_path);
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load_explicit(&max_level, memory_order_relaxed))
        return;
    /* One buffer, one write(2): lines from different threads never mix. */
    char line[1024];
    int n, j = atomic_load_explicit(&journal, memory_order_relaxed);
    if (j < 0) {
        j = stderr_is_journal();
        atomic_store_explicit(&journal, j, memory_order_relaxed);
    }
    if (j) {
        /* The journal stamps the time itself and takes the priority from
         * sd-daemon.h's prefix (SD_ERR is "<3>"). */
        n = snprintf(line, sizeof(line),
                     "%ssqlited: %s: ", levels[level].prefix,
                     levels[level].name);
    } else {
        /* Local time with its offset, to the millisecond:
         * 2026-12-03T15:04:05.123+0000 */
        struct timespec ts;
        struct tm tm;
        char zone[8];
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        strftime(zone, sizeof(zone), "%z", &tm);
        n += snprintf(line + n, sizeof(line) - (size_t)n,
                      ".%03ld%s sqlited: %s: ", ts.tv_nsec / 1000000, zone,
                      levels[level].name);
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t rc = write(STDERR_FILENO, line, len);
    (void)rc; /* nowhere left to report a failed log write */
}
