/* Notice when the database's path stops naming the file the daemon has open.
 *
 * SQLite keeps its files open by descriptor: after `rm app.db` it goes on
 * writing into the unlinked file, and after `mv other.db app.db` into the
 * old one, so acknowledged writes would vanish at the next start (or, after
 * a crash, the new file would meet the old WAL). The writer remembers the
 * device and inode of the database, its WAL and its shared-memory file, and
 * compares them with what the paths name (stat) at least once a second, and
 * after every COMMIT, before anything is acknowledged, whenever the
 * directory changed since the last look: an inotify watch on it tells that
 * for the price of one read(2), where three stats cost a few microseconds
 * on every group. (A parent directory renamed is seen by the once-a-second
 * stat only.) Once a path names
 * another file or none, writes are refused until the same file is back at
 * that path (mv or ln it back), and dbfile_failure() says why.
 *
 * The checks run on the writer thread, never on an I/O loop: stat can block
 * on a sick disk or a network filesystem, and the writer is the thread that
 * acknowledges writes anyway. While it runs one long statement the check
 * waits for it, but never an acknowledgement.
 */
#ifndef SQLITED_DBFILE_H
#define SQLITED_DBFILE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* How often the writer looks when it has nothing else to do. */
#define DBFILE_CHECK_MS 1000

enum dbfile_kind { DBFILE_MAIN, DBFILE_WAL, DBFILE_SHM, DBFILE_KINDS };

struct dbfile {
    /* The writer thread's own. */
    char *path[DBFILE_KINDS]; /* app.db, app.db-wal, app.db-shm; owned */
    struct {
        bool known; /* seen once: the WAL of a new database comes later */
        dev_t dev;
        ino_t ino;
    } id[DBFILE_KINDS];
    int64_t next_check; /* clock_now() value */
    bool failed;        /* as of the last check */
    int inotify;        /* watches the directory; -1: none, stat each time */

    /* Shared with any thread through dbfile_failure(). */
    atomic_bool failing;
    pthread_mutex_t mutex; /* guards failure */
    char failure[512];
};

/* Remembers the identity of the files at @path (the database, opened a
 * moment ago by the writer) and of its -wal and -shm files where they exist.
 * @path is copied. Returns 0, or -1 with a message in @err. */
int dbfile_init(struct dbfile *f, const char *path, char *err, size_t errlen);

/* Frees what a successful dbfile_init() allocated. */
void dbfile_close(struct dbfile *f);

/* Compares the files at the paths with the ones remembered, now. Logs, once
 * at error level, when a path stops naming its file, and once at info level
 * when it names it again. Returns true when all are in place. Writer thread
 * only. */
bool dbfile_check(struct dbfile *f);

/* Before an acknowledgement: dbfile_check() when the directory saw a file
 * created, deleted or renamed since the last check (or cannot be watched),
 * or the last check failed; else true. Writer thread only. */
bool dbfile_verify(struct dbfile *f);

/* dbfile_check() when DBFILE_CHECK_MS have passed since the last check, or
 * the last check failed (so that a file put back is noticed at the next
 * write); else the last result. Writer thread only. */
bool dbfile_check_due(struct dbfile *f);

/* When the writer must look next (a clock_now() value). */
int64_t dbfile_next_check(const struct dbfile *f);

/* Thread-safe. NULL while the files are in place; else copies into @buf
 * (@len bytes, NUL-terminated) why they are not, naming the path ("the
 * database file /srv/app.db was deleted while the daemon had it open"), and
 * returns @buf. */
const char *dbfile_failure(struct dbfile *f, char *buf, size_t len);

/* The descriptor number through which this process has the database open,
 * found in /proc/self/fd, or -1: after the file was deleted, its rows can
 * still be copied out through /proc/PID/fd/N. Writer thread only. */
int dbfile_open_fd(const struct dbfile *f);

/* Disk trouble is logged when it happens, not only at shutdown: disk full
 * (SQLITE_FULL), I/O errors (SQLITE_IOERR_*) and corruption
 * (SQLITE_CORRUPT, SQLITE_NOTADB), at error level, with the extended code
 * and the database's path, at most one line per second of each kind; a
 * line says how many reports of its kind were left out since the last. */

/* Installs SQLite's error log (SQLITE_CONFIG_LOG), which reports what the
 * operating system said (errno, call and file) for some I/O errors. Call
 * once, before sqlite3_initialize(); @path (the database's) must outlive
 * every later SQLite call. Returns 0 or a SQLite code. */
int dbfile_log_init(const char *path);

/* Reports error @code, met by the daemon, with SQLite's message @what;
 * anything but disk trouble is ignored. Thread-safe. */
void dbfile_report(int code, const char *what);

#endif /* SQLITED_DBFILE_H */
