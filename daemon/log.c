#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static enum log_level max_level = LOG_INFO;
static const char *log_path; /* the log file; NULL: stderr as inherited */
static int journal = -1;     /* stderr goes to systemd's journal: 1, no: 0 */

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
    max_level = level;
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
    journal = 0; /* a file, not systemd's journal */
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
    if (level > max_level)
        return;
    /* One buffer, one write(2): lines from different threads never mix. */
    char line[1024];
    /* systemd sets JOURNAL_STREAM when stderr is the journal, which then
     * takes the priority from the prefix; anywhere else it is noise. */
    if (journal < 0)
        journal = getenv("JOURNAL_STREAM") != NULL;
    int n = snprintf(line, sizeof(line),
                     "%ssqlited: %s: ", journal ? levels[level].prefix : "",
                     levels[level].name);
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
