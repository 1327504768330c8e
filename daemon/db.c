#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dbfile.h"
#include "rpc.h"

/* Runs pragma @sql and, when @expect is not NULL, checks the text of the
 * first row it returns (journal_mode answers with the mode it got). */
static int pragma(sqlite3 *db, const char *sql, const char *expect, char *err,
                  size_t errlen)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s (%s)", sqlite3_errmsg(db), sql);
        return rc;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(st, 0);
        if (expect && (got == NULL || strcmp(got, expect) != 0)) {
            snprintf(err, errlen, "%s answered '%s', need '%s'", sql,
                     got ? got : "NULL", expect);
            sqlite3_finalize(st);
            return SQLITE_ERROR;
        }
        expect = NULL;
    }
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "%s (%s)", sqlite3_errmsg(db), sql);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Settings common to the writer and the readers. */
int db_library_init(const struct config *cfg)
{
    /* Disk-full and I/O errors are logged when they happen (dbfile.h). */
    int rc = dbfile_log_init(cfg->database);
    if (rc != SQLITE_OK)
        return rc;
    /* Without memory statistics, SQLite's allocator takes no global mutex:
     * otherwise every allocation of every reader and of the writer goes
     * through one lock, and they wait on each other in the kernel. */
    rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return rc == SQLITE_OK ? sqlite3_initialize() : rc;
}

static int configure(sqlite3 *db, const struct config *cfg, char *err,
                     size_t errlen)
{
    char sql[96];
    int rc;

    sqlite3_extended_result_codes(db, 1);
    /* While the daemon starts (switching to WAL, say), wait a while for a
     * process that holds the database; later the workers' busy handler
     * waits each request's own deadline instead. */
    sqlite3_busy_timeout(db, 5000);
    /* Clients must not load code into the daemon, nor write to the schema
     * tables directly and corrupt the database. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, RPC_MAX_SQL_LENGTH);
    /* No value larger than a message can carry: a result holding one could
     * never be sent, and building it would cost a worker that much memory. */
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH,
                  cfg->max_message_size > INT32_MAX
                      ? INT32_MAX
                      : (int)cfg->max_message_size);
    sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, RPC_MAX_PARAMS);

    /* The daemon owns checkpointing (checkpoint.h): no connection of it
     * checkpoints on its own. */
    if ((rc = pragma(db, "PRAGMA foreign_keys=ON", NULL, err, errlen)) ||
        (rc = pragma(db, "PRAGMA temp_store=MEMORY", NULL, err, errlen)) ||
        (rc = pragma(db, "PRAGMA wal_autocheckpoint=0", NULL, err, errlen)))
        return rc;
    snprintf(sql, sizeof(sql), "PRAGMA cache_size=%lld",
             (long long)cfg->cache_size);
    if ((rc = pragma(db, sql, NULL, err, errlen)))
        return rc;
    snprintf(sql, sizeof(sql), "PRAGMA mmap_size=%lld",
             (long long)cfg->mmap_size);
    return pragma(db, sql, NULL, err, errlen);
}

static int open_db(const struct config *cfg, int flags, sqlite3 **out,
                   char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    *out = NULL;
    int rc = sqlite3_open_v2(
        cfg->database, &db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
        NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open the database %s: %s", cfg->database,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return rc;
    }
    char why[400];
    rc = configure(db, cfg, why, sizeof(why));
    if (rc != SQLITE_OK) {
        /* "file is not a database (PRAGMA cache_size=-2000)": the first
         * statement that reads the file is where SQLite finds out. */
        snprintf(err, errlen, "cannot use the database %s: %s", cfg->database,
                 why);
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return SQLITE_OK;
}

/* Creates the database file, empty, with permissions @mode exactly
 * (whatever the umask) unless it exists; SQLite then gives its -wal and -shm
 * the database's permissions. Its own default would be 0644: readable by
 * every user of the host. An existing file keeps its permissions. Returns
 * 0, or -1 with a message in @err. */
static int create_file(const char *path, mode_t mode, char *err, size_t errlen)
{
    int fd =
        open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 && errno == EEXIST)
        return 0;
    if (fd < 0 || fchmod(fd, mode) != 0) {
        snprintf(err, errlen, "cannot create the database %s: %s", path,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(path);
        }
        return -1;
    }
    close(fd);
    return 0;
}

int db_open_writer(const struct config *cfg, sqlite3 **out, char *err,
                   size_t errlen)
{
    char sql[64];
    sqlite3 *db;
    /* The daemon created the file in db_claim() already, with its mode;
     * CREATE serves callers that do not claim it (the fuzzers' core). */
    int rc =
        open_db(cfg,
                cfg->read_only ? SQLITE_OPEN_READONLY
                               : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                &db, err, errlen);
    if (rc != SQLITE_OK)
        return rc;
    snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", cfg->synchronous);
    /* Read-only, the database stays in the journal mode it is in. */
    if ((!cfg->read_only &&
         (rc = pragma(db, "PRAGMA journal_mode=WAL", "wal", err, errlen))) ||
        (rc = pragma(db, sql, NULL, err, errlen))) {
        char why[400];
        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "cannot use the database %s: %s", cfg->database,
                 why);
        sqlite3_close(db);
        return rc;
    }
    /* When the WAL starts over after a checkpoint, its file is cut down to
     * the checkpoint threshold: a burst that grew it does not keep the disk
     * space for good. */
    snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit=%lld",
             (long long)cfg->wal_checkpoint_bytes);
    if ((rc = pragma(db, sql, NULL, err, errlen))) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return SQLITE_OK;
}

int db_open_reader(const struct config *cfg, sqlite3 **out, char *err,
                   size_t errlen)
{
    sqlite3 *db;
    int rc = open_db(cfg, SQLITE_OPEN_READONLY, &db, err, errlen);
    if (rc != SQLITE_OK)
        return rc;
    if ((rc = pragma(db, "PRAGMA query_only=ON", NULL, err, errlen))) {
        sqlite3_close(db);
        return rc;
    }
    /* Readers never checkpoint, not even the last one to close. */
    sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    *out = db;
    return SQLITE_OK;
}

/* The pid of the process holding a flock() on the file @st describes, from
 * /proc/locks; 0 when not found. */
static long lock_holder(const struct stat *st)
{
    FILE *f = fopen("/proc/locks", "re");
    char line[256];
    long pid = 0;
    if (f == NULL)
        return 0;
    while (pid == 0 && fgets(line, sizeof(line), f) != NULL) {
        char kind[16];
        long holder;
        unsigned maj, min;
        unsigned long ino;
        /* "1: FLOCK  ADVISORY  WRITE 20961 fe:00:10953076 0 EOF" */
        if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%lu", kind, &holder, &maj,
                   &min, &ino) == 5 &&
            strcmp(kind, "FLOCK") == 0 && maj == major(st->st_dev) &&
            min == minor(st->st_dev) && ino == (unsigned long)st->st_ino)
            pid = holder;
    }
    fclose(f);
    return pid;
}

/* Checks that the daemon can write the database @path and create its -wal
 * and -shm beside it (or write them where they are). Returns 0, or -1 with
 * a message in @err. */
static int check_writable(const char *path, char *err, size_t errlen)
{
    static const char hint[] = "to serve it read-only, start with --read-only";
    char dir[4096], wal[4200], shm[4200];

    if (faccessat(AT_FDCWD, path, R_OK | W_OK, AT_EACCESS) != 0) {
        snprintf(err, errlen, "cannot write the database %s: %s; %s", path,
                 strerror(errno), hint);
        return -1;
    }
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) == 0)
        return 0;
    int cause = errno;
    snprintf(wal, sizeof(wal), "%s-wal", path);
    snprintf(shm, sizeof(shm), "%s-shm", path);
    if (faccessat(AT_FDCWD, wal, R_OK | W_OK, AT_EACCESS) == 0 &&
        faccessat(AT_FDCWD, shm, R_OK | W_OK, AT_EACCESS) == 0)
        return 0;
    snprintf(err, errlen,
             "cannot write in the directory %s, where SQLite keeps the "
             "database's -wal and -shm files: %s; %s",
             dir, strerror(cause), hint);
    return -1;
}

int db_claim(const struct config *cfg, int *lock_fd, char *err, size_t errlen)
{
    const char *path = cfg->database;
    struct stat st = {0};

    *lock_fd = -1;
    if (!cfg->read_only && create_file(path, cfg->file_mode, err, errlen) != 0)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the database %s: %s", path,
                 strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "cannot use the database %s: %s", path,
                 S_ISDIR(st.st_mode)   ? "it is a directory"
                 : S_ISREG(st.st_mode) ? strerror(errno)
                                       : "it is not a regular file");
        close(fd);
        return -1;
    }
    /* flock(), not fcntl(): SQLite's own locks on the file are fcntl()
     * locks, which the two kinds never conflict with, and which closing
     * any descriptor of the file would drop; a flock() belongs to this
     * descriptor alone. On the file itself, not on a lock file beside it,
     * so that the same database reached by another path (a symlink, a hard
     * link) is the same lock. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int cause = errno;
        long pid = cause == EWOULDBLOCK ? lock_holder(&st) : 0;
        if (cause != EWOULDBLOCK)
            snprintf(err, errlen, "cannot lock the database %s: %s", path,
                     strerror(cause));
        else if (pid > 0)
            snprintf(err, errlen,
                     "another sqlited (pid %ld) is already serving %s: one "
                     "daemon per database; stop that one first",
                     pid, path);
        else
            snprintf(err, errlen,
                     "another sqlited is already serving %s (it holds the "
                     "database's lock): one daemon per database",
                     path);
        close(fd);
        return -1;
    }
    if (!cfg->read_only && check_writable(path, err, errlen) != 0) {
        close(fd);
        return -1;
    }
    *lock_fd = fd;
    return 0;
}

void db_release(int lock_fd)
{
    if (lock_fd >= 0)
        close(lock_fd);
}

void db_close(sqlite3 *db)
{
    /* Every statement is finalized by its user; close_v2 would hide a leak. */
    if (db && sqlite3_close(db) != SQLITE_OK)
        sqlite3_close_v2(db);
}
