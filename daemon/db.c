#include "db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
        snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
        return rc;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *got = (const char *)sqlite3_column_text(st, 0);
        if (expect && (got == NULL || strcmp(got, expect) != 0)) {
            snprintf(err, errlen, "%s: got '%s', need '%s'", sql,
                     got ? got : "NULL", expect);
            sqlite3_finalize(st);
            return SQLITE_ERROR;
        }
        expect = NULL;
    }
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(db));
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
        snprintf(err, errlen, "cannot open %s: %s", cfg->database,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return rc;
    }
    rc = configure(db, cfg, err, errlen);
    if (rc != SQLITE_OK) {
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
    if (create_file(cfg->database, cfg->file_mode, err, errlen) != 0)
        return SQLITE_CANTOPEN;
    int rc = open_db(cfg, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &db, err,
                     errlen);
    if (rc != SQLITE_OK)
        return rc;
    snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", cfg->synchronous);
    if ((rc = pragma(db, "PRAGMA journal_mode=WAL", "wal", err, errlen)) ||
        (rc = pragma(db, sql, NULL, err, errlen))) {
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

void db_close(sqlite3 *db)
{
    /* Every statement is finalized by its user; close_v2 would hide a leak. */
    if (db && sqlite3_close(db) != SQLITE_OK)
        sqlite3_close_v2(db);
}
