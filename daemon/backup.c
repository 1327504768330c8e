#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "codec.h"
#include "crash.h"
#include "db.h"
#include "log.h"
#include "rpc.h"
#include "sqlited.h"

/* What one backup produced, or why it failed. */
struct outcome {
    char path[BACKUP_PATH_MAX]; /* the copy's path, as the operator sees it */
    uint64_t size;              /* bytes */
    uint64_t pages;
    uint64_t duration_ms;
    int code;     /* 0, a SQLite code or a SQLITED_* code */
    bool stopped; /* by its client: cancelled, or the client went away */
    char message[BACKUP_PATH_MAX + 256];
};

/* A backup being taken, for SQLite's progress handler on its copy. */
struct backup_run {
    struct backup *b;
    struct job *job; /* NULL: a scheduled backup */
};

__attribute__((format(printf, 3, 4))) static int
fail(struct outcome *o, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->message, sizeof(o->message), fmt, ap);
    va_end(ap);
    o->code = code;
    return code;
}

/* ------------------------------------------------------------ destinations
 */

/* Where a backup goes: an open directory inside the backup directory and a
 * file name in it. */
struct dest {
    int dirfd;
    char dir[PATH_MAX];      /* that directory's path */
    char leaf[NAME_MAX + 1]; /* the file name */
};

/* Opens the directories of @rel (a path relative to the backup directory)
 * one by one, refusing "..", symbolic links and anything that is not a
 * directory, so that nothing can lead the copy out of the backup directory.
 * The last component is the file name: it must not exist. */
static int dest_resolve(struct backup *b, const char *rel, size_t len,
                        struct dest *d, struct outcome *o)
{
    char comp[NAME_MAX + 1];
    size_t at = 0;

    d->dirfd = dup(b->dirfd);
    if (d->dirfd < 0)
        return fail(o, SQLITE_IOERR, "cannot open %s: %s", b->dir,
                    strerror(errno));
    snprintf(d->dir, sizeof(d->dir), "%s", b->dir);
    for (;;) {
        size_t end = at;
        while (end < len && rel[end] != '/')
            end++;
        size_t n = end - at;
        bool last = end == len;
        if (n > NAME_MAX - 32)
            return fail(o, SQLITED_BAD_REQUEST,
                        "backup destination: the name '%.*s' is too long",
                        (int)(n > 64 ? 64 : n), rel + at);
        memcpy(comp, rel + at, n);
        comp[n] = '\0';
        if (strcmp(comp, "..") == 0)
            return fail(o, SQLITED_BAD_REQUEST,
                        "backup destination '%.*s' contains '..': it must "
                        "stay inside the backup directory %s",
                        (int)len, rel, b->dir);
        if (last) {
            if (n == 0 || strcmp(comp, ".") == 0)
                return fail(o, SQLITED_BAD_REQUEST,
                            "backup destination '%.*s' names a directory, "
                            "not a file",
                            (int)len, rel);
            break;
        }
        at = end + 1;
        if (n == 0 || strcmp(comp, ".") == 0)
            continue;
        int fd = openat(d->dirfd, comp,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            return fail(o, SQLITED_BAD_REQUEST, "backup destination: %s/%s %s",
                        d->dir, comp,
                        e == ELOOP || e == ENOTDIR
                            ? "is a symbolic link or not a directory: a "
                              "backup stays inside the backup directory"
                        : e == ENOENT ? "does not exist"
                                      : strerror(e));
        }
        close(d->dirfd);
        d->dirfd = fd;
        size_t dl = strlen(d->dir);
        snprintf(d->dir + dl, sizeof(d->dir) - dl, "/%s", comp);
    }
    snprintf(d->leaf, sizeof(d->leaf), "%s", comp);

    struct stat st;
    if (fstatat(d->dirfd, d->leaf, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return fail(o, SQLITED_BAD_REQUEST,
                    "backup destination %s/%s already exists%s; choose "
                    "another name",
                    d->dir, d->leaf,
                    S_ISLNK(st.st_mode) ? " (a symbolic link)" : "");
    if (errno != ENOENT)
        return fail(o, SQLITE_IOERR, "cannot look at %s/%s: %s", d->dir,
                    d->leaf, strerror(errno));
    return 0;
}

/* The destination asked for, relative to the backup directory: an absolute
 * path must lie inside it (as configured, or as its real path). */
static int dest_open(struct backup *b, const char *asked, size_t len,
                     struct dest *d, struct outcome *o)
{
    if (asked[0] == '/') {
        const char *dirs[] = {b->dir, b->cfg->backup_dir};
        for (int i = 0; i < 2; i++) {
            size_t n = strlen(dirs[i]);
            while (n > 1 && dirs[i][n - 1] == '/')
                n--;
            if (len > n + 1 && memcmp(asked, dirs[i], n) == 0 &&
                asked[n] == '/')
                return dest_resolve(b, asked + n + 1, len - n - 1, d, o);
        }
        return fail(o, SQLITED_BAD_REQUEST,
                    "backup destination %.*s is outside the backup "
                    "directory %s",
                    (int)len, asked, b->dir);
    }
    return dest_resolve(b, asked, len, d, o);
}

/* A name of the daemon's in the backup directory: the time in UTC, to the
 * millisecond, and a counter should that name be taken. */
static int dest_default(struct backup *b, const char *prefix, struct dest *d,
                        struct outcome *o)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    d->dirfd = dup(b->dirfd);
    if (d->dirfd < 0)
        return fail(o, SQLITE_IOERR, "cannot open %s: %s", b->dir,
                    strerror(errno));
    snprintf(d->dir, sizeof(d->dir), "%s", b->dir);
    for (unsigned n = 0;; n++) {
        struct stat st;
        if (n == 0)
            snprintf(d->leaf, sizeof(d->leaf), "%s%s-%03ld.db", prefix, stamp,
                     ts.tv_nsec / 1000000);
        else
            snprintf(d->leaf, sizeof(d->leaf), "%s%s-%03ld-%u.db", prefix,
                     stamp, ts.tv_nsec / 1000000, n);
        if (fstatat(d->dirfd, d->leaf, &st, AT_SYMLINK_NOFOLLOW) != 0)
            return 0;
    }
}

/* ------------------------------------------------------------- the copy
 */

static int exec_sql(sqlite3 *db, const char *sql, struct outcome *o,
                    const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail(o, sqlite3_extended_errcode(db), "%s: %s", what,
             msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

/* Runs PRAGMA integrity_check on the copy; its first problems go into the
 * error. */
static int check_copy(sqlite3 *db, struct outcome *o)
{
    sqlite3_stmt *st;
    int rc =
        sqlite3_prepare_v2(db, "PRAGMA integrity_check(10)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(o, rc, "checking the copy: %s", sqlite3_errmsg(db));
    size_t n = 0;
    char problems[512] = "";
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *line = (const char *)sqlite3_column_text(st, 0);
        if (line && strcmp(line, "ok") == 0)
            continue;
        n += (size_t)snprintf(problems + n,
                              n < sizeof(problems) ? sizeof(problems) - n : 0,
                              "%s%s", n ? "; " : "", line ? line : "?");
        if (n >= sizeof(problems))
            n = sizeof(problems);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail(o, rc, "checking the copy: %s", sqlite3_errmsg(db));
    if (n > 0)
        return fail(o, SQLITE_CORRUPT,
                    "the copy failed PRAGMA integrity_check, so it was "
                    "removed: %s",
                    problems);
    return 0;
}

static bool abandoned(struct backup *b, struct job *job)
{
    return atomic_load(b->stop) || (job && (atomic_load(&job->cancelled) ||
                                            atomic_load(&job->cancel_asked)));
}

/* The outcome of a backup given up because abandoned() said so: its client
 * cancelled it or went away, or the daemon is stopping. */
static int fail_abandoned(struct backup *b, struct job *job, struct outcome *o)
{
    if (job && atomic_load(&job->cancelled)) {
        o->stopped = true;
        return fail(o, SQLITED_INTERRUPTED,
                    "the client went away: the backup was abandoned");
    }
    if (job && atomic_load(&job->cancel_asked)) {
        o->stopped = true;
        stats_add(&b->stats->cancelled, 1);
        return fail(o, SQLITED_INTERRUPTED,
                    "cancelled by the client (cancel) while it ran: the "
                    "backup was abandoned and its partial copy removed; "
                    "nothing was written to %s",
                    o->path);
    }
    return fail(o, SQLITED_INTERRUPTED,
                "interrupted: the daemon is shutting down; the backup was "
                "abandoned and its partial copy removed");
}

/* How many virtual-machine steps of the copy's check pass between two
 * looks at whether the backup was abandoned. */
#define BACKUP_CHECK_STEPS 1000

/* SQLite's progress handler on the copy while it is checked: a backup
 * abandoned meanwhile stops its check. */
static int check_progress(void *arg)
{
    struct backup_run *run = arg;
    return abandoned(run->b, run->job);
}

/* Copies the source, in steps, from the snapshot of one read transaction,
 * into the empty database @dst. */
static int copy_pages(struct backup *b, struct job *job, sqlite3 *dst,
                      struct outcome *o)
{
    if (exec_sql(b->src, "BEGIN; SELECT count(*) FROM sqlite_schema", o,
                 "cannot start reading the database") != SQLITE_OK)
        return o->code;
    sqlite3_backup *bk = sqlite3_backup_init(dst, "main", b->src, "main");
    if (bk == NULL) {
        fail(o, sqlite3_extended_errcode(dst), "cannot start the backup: %s",
             sqlite3_errmsg(dst));
        sqlite3_exec(b->src, "ROLLBACK", NULL, NULL, NULL);
        return o->code;
    }
    int rc;
    for (;;) {
        rc = sqlite3_backup_step(bk, BACKUP_STEP_PAGES);
        if (rc == SQLITE_DONE)
            break;
        if (abandoned(b, job)) {
            fail_abandoned(b, job, o);
            break;
        }
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (rc != SQLITE_OK) {
            fail(o, sqlite3_extended_errcode(dst), "backup step: %s",
                 sqlite3_errmsg(dst));
            break;
        }
    }
    o->pages = (uint64_t)sqlite3_backup_pagecount(bk);
    int frc = sqlite3_backup_finish(bk);
    sqlite3_exec(b->src, "COMMIT", NULL, NULL, NULL);
    if (o->code == 0 && frc != SQLITE_OK)
        fail(o, frc, "finishing the backup: %s", sqlite3_errmsg(dst));
    return o->code;
}

/* Removes the temporary file and whatever SQLite left beside it. */
static void remove_temp(int dirfd, const char *tmp)
{
    static const char *const suffixes[] = {"", "-journal", "-wal", "-shm"};
    char name[NAME_MAX + 16];
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
        snprintf(name, sizeof(name), "%s%s", tmp, suffixes[i]);
        unlinkat(dirfd, name, 0);
    }
}

/* Takes one backup into @d. The copy is written under a temporary name in
 * the same directory, checked, fsynced (file and directory), and only then
 * renamed into place: a crash never leaves a file under the final name that
 * is not a whole, checked copy. */
static void take(struct backup *b, struct job *job, struct dest *d,
                 struct outcome *o)
{
    char tmp[NAME_MAX + 1], tmp_path[BACKUP_PATH_MAX];
    sqlite3 *dst = NULL;
    int64_t started = clock_now();

    snprintf(tmp, sizeof(tmp), ".%.*s.tmp-%ld-%u", NAME_MAX - 40, d->leaf,
             (long)getpid(), b->seq++);
    snprintf(o->path, sizeof(o->path), "%s/%s", d->dir, d->leaf);
    snprintf(tmp_path, sizeof(tmp_path), "%s/%s", d->dir, tmp);

    /* Created here, 0600 and exclusively, so that SQLite opens a file that
     * is ours (it would create it 0644); its journals take its mode. */
    int fd = openat(d->dirfd, tmp,
                    O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fail(o, SQLITE_CANTOPEN, "cannot create %s: %s", tmp_path,
             strerror(errno));
        return;
    }
    close(fd);

    int rc = sqlite3_open_v2(tmp_path, &dst,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    if (rc != SQLITE_OK) {
        fail(o, rc, "cannot open %s: %s", tmp_path,
             dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
        goto fail;
    }
    if (copy_pages(b, job, dst, o) != 0)
        goto fail;
    /* Checking the copy takes longer than making it: a backup abandoned
     * meanwhile stops there too. */
    struct backup_run run = {.b = b, .job = job};
    sqlite3_progress_handler(dst, BACKUP_CHECK_STEPS, check_progress, &run);
    /* The copy carries the source's WAL mode in its header: make it a
     * self-contained file, readable without a -wal or -shm beside it. */
    if (exec_sql(dst, "PRAGMA journal_mode=DELETE", o,
                 "cannot take the copy out of WAL mode") != SQLITE_OK ||
        check_copy(dst, o) != 0) {
        if (abandoned(b, job))
            fail_abandoned(b, job, o);
        goto fail;
    }
    sqlite3_progress_handler(dst, 0, NULL, NULL);
    if (sqlite3_close(dst) != SQLITE_OK) {
        fail(o, SQLITE_IOERR, "cannot close %s: %s", tmp_path,
             sqlite3_errmsg(dst));
        sqlite3_close_v2(dst);
        dst = NULL;
        goto fail;
    }
    dst = NULL;

    fd = openat(d->dirfd, tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fsync(fd) != 0 || fstat(fd, &st) != 0) {
        fail(o, SQLITE_IOERR_FSYNC, "cannot sync %s: %s", tmp_path,
             strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    close(fd);
    o->size = (uint64_t)st.st_size;
    /* The last moment a backup may be abandoned: once renamed, it is
     * whole and is answered as such. */
    if (abandoned(b, job)) {
        fail_abandoned(b, job, o);
        goto fail;
    }
    if (renameat2(d->dirfd, tmp, d->dirfd, d->leaf, RENAME_NOREPLACE) != 0) {
        fail(o, SQLITE_IOERR, "cannot rename %s to %s: %s", tmp_path, o->path,
             strerror(errno));
        goto fail;
    }
    if (fsync(d->dirfd) != 0)
        log_warn("backup: cannot sync the directory %s: %s", d->dir,
                 strerror(errno));
    o->duration_ms = (uint64_t)((clock_now() - started) / CLOCK_NS_PER_MS);
    return;

fail:
    if (dst)
        sqlite3_close_v2(dst);
    remove_temp(d->dirfd, tmp);
}

/* ------------------------------------------------------------- rotation
 */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True for the names of scheduled backups: the prefix, then only digits and
 * dashes, then ".db". */
static bool is_auto_name(const char *name)
{
    size_t p = strlen(BACKUP_AUTO_PREFIX), n = strlen(name);
    if (n <= p + 3 || strncmp(name, BACKUP_AUTO_PREFIX, p) != 0 ||
        strcmp(name + n - 3, ".db") != 0)
        return false;
    for (size_t i = p; i < n - 3; i++)
        if ((name[i] < '0' || name[i] > '9') && name[i] != '-')
            return false;
    return true;
}

/* Keeps the newest cfg->backup_keep scheduled backups and removes the
 * older ones: only regular files named as the daemon names them. */
static void rotate(struct backup *b)
{
    unsigned keep = CONFIG_LIVE(b->cfg, backup_keep);
    int fd = dup(b->dirfd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;

    if (keep == 0)
        goto out;
    if (dir == NULL) {
        log_warn("backup: cannot list %s: %s", b->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(dir);
    while ((e = readdir(dir)) != NULL) {
        struct stat st;
        if (!is_auto_name(e->d_name) ||
            fstatat(b->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **grown = realloc(names, ncap * sizeof(*names));
            if (grown == NULL)
                goto out;
            names = grown;
            cap = ncap;
        }
        if ((names[n] = strdup(e->d_name)) == NULL)
            goto out;
        n++;
    }
    qsort(names, n, sizeof(*names), by_name);
    for (size_t i = 0; i + keep < n; i++) {
        if (unlinkat(b->dirfd, names[i], 0) == 0)
            log_info("backup: removed %s/%s (--backup-keep %u)", b->dir,
                     names[i], keep);
        else
            log_warn("backup: cannot remove %s/%s: %s", b->dir, names[i],
                     strerror(errno));
    }
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (dir)
        closedir(dir);
}

/* True for the temporary names take() gives: ".NAME.tmp-PID-N", and the
 * journals SQLite puts beside them (-journal, -wal, -shm). */
static bool is_temp_name(const char *name)
{
    const char *t = name[0] == '.' ? strstr(name, ".tmp-") : NULL;
    if (t == NULL || t == name)
        return false;
    t += 5;
    for (int part = 0; part < 2; part++) {
        if (*t < '0' || *t > '9')
            return false;
        while (*t >= '0' && *t <= '9')
            t++;
        if (part == 0 && *t++ != '-')
            return false;
    }
    return *t == '\0' || strcmp(t, "-journal") == 0 || strcmp(t, "-wal") == 0 ||
           strcmp(t, "-shm") == 0;
}

/* Removes the temporary files of backups that a crash interrupted: never a
 * whole copy (those are renamed before the backup answers), and only names
 * of the daemon's. */
static void remove_stale(struct backup *b)
{
    int fd = dup(b->dirfd);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;

    if (dir == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((e = readdir(dir)) != NULL) {
        struct stat st;
        if (!is_temp_name(e->d_name) ||
            fstatat(b->dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (unlinkat(b->dirfd, e->d_name, 0) == 0)
            log_info("backup: removed %s/%s, left by a backup that was "
                     "interrupted",
                     b->dir, e->d_name);
    }
    closedir(dir);
}

/* ------------------------------------------------------------- the thread
 */

static void record(struct backup *b, const struct outcome *o)
{
    struct timespec now;
    if (o->code != 0) {
        if (!o->stopped)
            stats_add(&b->stats->backups_failed, 1);
        return;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    stats_add(&b->stats->backups, 1);
    stats_set(&b->stats->last_backup_unix_ms,
              (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000);
    stats_set(&b->stats->last_backup_duration_ms, o->duration_ms);
    stats_set(&b->stats->last_backup_bytes, o->size);
    pthread_mutex_lock(&b->last_mutex);
    snprintf(b->last_path, sizeof(b->last_path), "%s", o->path);
    pthread_mutex_unlock(&b->last_mutex);
}

/* One backup: into the destination @asked[0..len) (NULL: a name of the
 * daemon's with @prefix). */
static void run_one(struct backup *b, struct job *job, const char *asked,
                    size_t len, const char *prefix, struct outcome *o)
{
    struct dest d = {.dirfd = -1};

    if (asked ? dest_open(b, asked, len, &d, o) == 0
              : dest_default(b, prefix, &d, o) == 0)
        take(b, job, &d, o);
    if (d.dirfd >= 0)
        close(d.dirfd);
    record(b, o);
}

static void answer(struct job *job, const struct outcome *o)
{
    struct codec_buf out;

    if (o->code != 0) {
        job_fail(job, o->code, o->message);
        return;
    }
    codec_buf_init(&out, 0);
    msgpack_pack_map(&out.pk, 4);
    codec_pack_cstr(&out, "path");
    codec_pack_cstr(&out, o->path);
    codec_pack_cstr(&out, "size");
    msgpack_pack_uint64(&out.pk, o->size);
    codec_pack_cstr(&out, "pages");
    msgpack_pack_uint64(&out.pk, o->pages);
    codec_pack_cstr(&out, "duration_ms");
    msgpack_pack_uint64(&out.pk, o->duration_ms);
    if (out.error == CODEC_BUF_OK)
        job_reply(job, out.data, out.len);
    else
        job_fail(job, SQLITED_INTERNAL, "out of memory");
    codec_buf_close(&out);
}

static void scheduled(struct backup *b)
{
    struct outcome o = {0};
    run_one(b, NULL, NULL, 0, BACKUP_AUTO_PREFIX, &o);
    if (o.code != 0) {
        log_error("scheduled backup failed: %s", o.message);
        return;
    }
    log_info("scheduled backup: %s (%" PRIu64 " bytes, %" PRIu64 " ms)", o.path,
             o.size, o.duration_ms);
    rotate(b);
}

static void *backup_main(void *arg)
{
    struct backup *b = arg;
    bool closed = false;

    crash_thread_init("sqlited-backup");
    while (!closed) {
        struct job *job = job_queue_wait_all(&b->queue, b->next_at, &closed);
        while (job) {
            struct job *next = job->next;
            struct outcome o = {0};
            if (job_claim(job)) {
                job->ran_on = JOB_RAN_BACKUP;
                run_one(b, job, job->req.sql, job->req.sql_len,
                        BACKUP_NAME_PREFIX, &o);
                if (!atomic_load(&job->cancelled))
                    answer(job, &o);
            }
            b->done(job, b->done_arg);
            job = next;
        }
        /* SIGHUP changed the interval: the next backup is one new
         * interval from now. */
        uint64_t interval_ns =
            CONFIG_LIVE(b->cfg, backup_interval_ms) * CLOCK_NS_PER_MS;
        if (atomic_exchange(&b->rescheduled, false))
            b->next_at = interval_ns ? clock_now() + (int64_t)interval_ns : 0;
        if (!closed && b->next_at != 0 &&
            clock_passed(b->next_at, clock_now())) {
            scheduled(b);
            b->next_at = clock_now() + (int64_t)interval_ns;
        }
    }
    return NULL;
}

void backup_reschedule(struct backup *b)
{
    if (!b->running)
        return;
    atomic_store(&b->rescheduled, true);
    job_queue_wake(&b->queue);
}

int backup_start(struct backup *b, const struct config *cfg,
                 const atomic_bool *stop, struct stats *stats,
                 job_done_fn *done, void *done_arg, char *err, size_t errlen)
{
    *b = (struct backup){.cfg = cfg,
                         .stats = stats,
                         .stop = stop,
                         .done = done,
                         .done_arg = done_arg,
                         .dirfd = -1};
    if (cfg->backup_dir == NULL)
        return 0;
    if (mkdir(cfg->backup_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "--backup-dir %s: cannot create it: %s",
                 cfg->backup_dir, strerror(errno));
        return -1;
    }
    b->dirfd = open(cfg->backup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (b->dirfd < 0 || realpath(cfg->backup_dir, b->dir) == NULL) {
        snprintf(err, errlen, "--backup-dir %s: %s", cfg->backup_dir,
                 strerror(errno));
        goto fail;
    }
    remove_stale(b);
    if (db_open_reader(cfg, &b->src, err, errlen) != SQLITE_OK)
        goto fail;
    if (job_queue_init(&b->queue) != 0) {
        snprintf(err, errlen, "cannot create the backup queue");
        goto fail;
    }
    pthread_mutex_init(&b->last_mutex, NULL);
    if (cfg->backup_interval_ms > 0)
        b->next_at =
            clock_now() + (int64_t)cfg->backup_interval_ms * CLOCK_NS_PER_MS;
    if (pthread_create(&b->thread, NULL, backup_main, b) != 0) {
        snprintf(err, errlen, "cannot start the backup thread");
        pthread_mutex_destroy(&b->last_mutex);
        job_queue_close(&b->queue);
        goto fail;
    }
    b->running = true;
    return 0;

fail:
    db_close(b->src);
    b->src = NULL;
    if (b->dirfd >= 0)
        close(b->dirfd);
    b->dirfd = -1;
    return -1;
}

void backup_submit(struct backup *b, struct job *job)
{
    job_queue_push(&b->queue, job);
}

void backup_last_path(struct backup *b, char *out, size_t size)
{
    if (!b->running) {
        if (size)
            out[0] = '\0';
        return;
    }
    pthread_mutex_lock(&b->last_mutex);
    snprintf(out, size, "%s", b->last_path);
    pthread_mutex_unlock(&b->last_mutex);
}

void backup_stop(struct backup *b)
{
    if (!b->running)
        return;
    job_queue_shutdown(&b->queue);
    pthread_join(b->thread, NULL);
    job_queue_close(&b->queue);
    pthread_mutex_destroy(&b->last_mutex);
    db_close(b->src);
    b->src = NULL;
    close(b->dirfd);
    b->dirfd = -1;
    b->running = false;
}
