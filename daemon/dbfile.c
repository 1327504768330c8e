#include "dbfile.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rpc.h"

static const char *const suffix[DBFILE_KINDS] = {"", "-wal", "-shm"};
static const char *const label[DBFILE_KINDS] = {"database file", "WAL file",
                                                "shared-memory file"};

static void set_failure(struct dbfile *f, const char *why)
{
    pthread_mutex_lock(&f->mutex);
    snprintf(f->failure, sizeof(f->failure), "%s", why ? why : "");
    pthread_mutex_unlock(&f->mutex);
    atomic_store(&f->failing, why != NULL);
}

int dbfile_init(struct dbfile *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->inotify = -1;
    pthread_mutex_init(&f->mutex, NULL);
    atomic_init(&f->failing, false);
    for (int k = 0; k < DBFILE_KINDS; k++) {
        size_t n = strlen(path) + strlen(suffix[k]) + 1;
        if ((f->path[k] = malloc(n)) == NULL) {
            snprintf(err, errlen, "out of memory");
            dbfile_close(f);
            return -1;
        }
        snprintf(f->path[k], n, "%s%s", path, suffix[k]);
        struct stat st;
        if (stat(f->path[k], &st) == 0) {
            f->id[k].known = true;
            f->id[k].dev = st.st_dev;
            f->id[k].ino = st.st_ino;
        } else if (k == DBFILE_MAIN) {
            snprintf(err, errlen, "cannot stat %s: %s", path, strerror(errno));
            dbfile_close(f);
            return -1;
        }
    }
    f->next_check = clock_after_ms(DBFILE_CHECK_MS);

    /* Watched before anything can change unseen: the stats above come
     * first, so a change between the two is caught by the next check. */
    f->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    char *copy = strdup(path);
    if (f->inotify >= 0 &&
        (copy == NULL ||
         inotify_add_watch(f->inotify, dirname(copy),
                           IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                               IN_DELETE_SELF | IN_MOVE_SELF) < 0)) {
        log_warn("cannot watch the directory of %s (%s): its files are "
                 "checked with stat after every commit instead",
                 path, strerror(errno));
        close(f->inotify);
        f->inotify = -1;
    }
    free(copy);
    return 0;
}

void dbfile_close(struct dbfile *f)
{
    if (f->inotify >= 0)
        close(f->inotify);
    f->inotify = -1;
    for (int k = 0; k < DBFILE_KINDS; k++) {
        free(f->path[k]);
        f->path[k] = NULL;
    }
    pthread_mutex_destroy(&f->mutex);
}

/* Looks at file @k. Returns true when the path names the file remembered
 * (or a WAL or shared-memory file not seen yet is not there yet); else
 * writes why into @why. */
static bool check_one(struct dbfile *f, int k, char *why, size_t len)
{
    struct stat st;
    if (stat(f->path[k], &st) != 0) {
        int err = errno;
        if (!f->id[k].known && err == ENOENT)
            return true;
        if (err == ENOENT)
            snprintf(why, len,
                     "the %s %s was deleted or moved away while the daemon "
                     "had it open",
                     label[k], f->path[k]);
        else
            snprintf(why, len, "cannot check the %s %s: %s", label[k],
                     f->path[k], strerror(err));
        return false;
    }
    if (!f->id[k].known) {
        f->id[k].known = true;
        f->id[k].dev = st.st_dev;
        f->id[k].ino = st.st_ino;
        return true;
    }
    if (st.st_dev == f->id[k].dev && st.st_ino == f->id[k].ino)
        return true;
    snprintf(why, len,
             "the %s %s was replaced while the daemon had it open: the path "
             "names inode %" PRIuMAX " now, the daemon has inode %" PRIuMAX,
             label[k], f->path[k], (uintmax_t)st.st_ino,
             (uintmax_t)f->id[k].ino);
    return false;
}

bool dbfile_check(struct dbfile *f)
{
    char why[sizeof(f->failure)] = "";
    bool ok = true;
    for (int k = 0; k < DBFILE_KINDS && ok; k++)
        ok = check_one(f, k, why, sizeof(why));
    f->next_check = clock_after_ms(DBFILE_CHECK_MS);

    char old[sizeof(f->failure)];
    if (!ok && f->failed && dbfile_failure(f, old, sizeof(old)) &&
        strcmp(old, why) == 0)
        return false; /* as before: logged already */
    if (!ok) {
        set_failure(f, why);
        f->failed = true;
        log_error("%s: writes are refused (SQLITED_DATABASE_GONE) until it "
                  "is back at that path",
                  why);
        return false;
    }
    if (f->failed) {
        set_failure(f, NULL);
        f->failed = false;
        log_warn("the database file %s and its WAL are in place again: "
                 "writes are accepted again",
                 f->path[DBFILE_MAIN]);
    }
    return true;
}

/* True when the directory's watch has events waiting (it saw a change), or
 * cannot tell; drains them. */
static bool dir_changed(struct dbfile *f)
{
    if (f->inotify < 0)
        return true;
    bool changed = false;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(f->inotify, buf, sizeof(buf))) > 0)
        changed = true;
    if (n < 0 && errno != EAGAIN && errno != EINTR)
        changed = true;
    return changed;
}

bool dbfile_verify(struct dbfile *f)
{
    if (f->failed || dir_changed(f))
        return dbfile_check(f);
    return true;
}

bool dbfile_check_due(struct dbfile *f)
{
    if (f->failed || clock_passed(f->next_check, clock_now()))
        return dbfile_check(f);
    return true;
}

int64_t dbfile_next_check(const struct dbfile *f)
{
    return f->next_check;
}

const char *dbfile_failure(struct dbfile *f, char *buf, size_t len)
{
    if (!atomic_load(&f->failing))
        return NULL;
    pthread_mutex_lock(&f->mutex);
    snprintf(buf, len, "%s", f->failure);
    pthread_mutex_unlock(&f->mutex);
    return buf;
}

int dbfile_open_fd(const struct dbfile *f)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL)
        return -1;
    int found = -1;
    struct dirent *e;
    while (found < 0 && (e = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        struct stat st;
        if (*end != '\0' || end == e->d_name || fd == dirfd(dir) ||
            fstat((int)fd, &st) != 0)
            continue;
        if (S_ISREG(st.st_mode) && st.st_dev == f->id[DBFILE_MAIN].dev &&
            st.st_ino == f->id[DBFILE_MAIN].ino)
            found = (int)fd;
    }
    closedir(dir);
    return found;
}

/* ------------------------------------------------------- SQLite's error log
 */

/* What the operator is told about, one rate limit each. */
static struct {
    int primary;
    const char *what;
    int64_t last; /* clock_now() of the last line; 0: none yet */
    uint64_t left_out;
} kinds[] = {
    {SQLITE_FULL, "disk full", 0, 0},
    {SQLITE_IOERR, "I/O error", 0, 0},
    {SQLITE_CORRUPT, "database corruption", 0, 0},
    {SQLITE_NOTADB, "database corruption", 0, 0},
};
static pthread_mutex_t kinds_mutex = PTHREAD_MUTEX_INITIALIZER;

#define LOG_INTERVAL_NS (1000 * CLOCK_NS_PER_MS)

static const char *log_path = "the database";

void dbfile_report(int code, const char *what)
{
    size_t k = 0;
    while (k < sizeof(kinds) / sizeof(kinds[0]) &&
           kinds[k].primary != (code & 0xff))
        k++;
    if (k == sizeof(kinds) / sizeof(kinds[0]))
        return;

    int64_t now = clock_now();
    uint64_t left_out = 0;
    pthread_mutex_lock(&kinds_mutex);
    bool quiet = kinds[k].last != 0 && now - kinds[k].last < LOG_INTERVAL_NS;
    if (quiet) {
        kinds[k].left_out++;
    } else {
        kinds[k].last = now;
        left_out = kinds[k].left_out;
        kinds[k].left_out = 0;
    }
    pthread_mutex_unlock(&kinds_mutex);
    if (quiet)
        return;
    if (left_out > 0)
        log_error("%s on %s (%s, %d): %s (and %" PRIu64
                  " more reports of this kind since the last, not logged)",
                  kinds[k].what, log_path, rpc_code_name(code), code, what,
                  left_out);
    else
        log_error("%s on %s (%s, %d): %s", kinds[k].what, log_path,
                  rpc_code_name(code), code, what);
}

/* SQLite's error log; may be called on any thread. */
static void sqlite_log(void *arg, int code, const char *msg)
{
    (void)arg;
    /* "statement aborts at 5: [SQL] message": the SQL is a client's, and
     * may hold its data; the message after it is what matters. */
    char text[256];
    const char *sql = strstr(msg, ": [");
    const char *after = NULL;
    for (const char *p = sql; p && (p = strstr(p, "] ")) != NULL; p++)
        after = p + 2;
    if (strncmp(msg, "statement aborts at ", 20) == 0 && sql && after)
        snprintf(text, sizeof(text), "%.*s: %s", (int)(sql - msg), msg, after);
    else
        snprintf(text, sizeof(text), "%s", msg);
    dbfile_report(code, text);
}

int dbfile_log_init(const char *path)
{
    log_path = path;
    return sqlite3_config(SQLITE_CONFIG_LOG, sqlite_log, NULL);
}
