/* Open and configure the daemon's SQLite connections. */
#ifndef SQLITED_DB_H
#define SQLITED_DB_H

#include <sqlite3.h>
#include <stddef.h>

#include "config.h"

/* Configures the SQLite library for the daemon serving @cfg (which must
 * outlive every later SQLite call): call once, before any other SQLite
 * call. Returns 0 or a SQLite code. */
int db_library_init(const struct config *cfg);

/* Claims the database file for this daemon, before anything else touches
 * it: creates it (empty, with --file-mode) unless it exists or the daemon is
 * --read-only, takes the lock that keeps a second daemon off the same file
 * (whatever its path or socket), and, unless --read-only, checks that the
 * daemon can write the file and the -wal and -shm beside it. Returns 0 with
 * the lock's descriptor in *@lock_fd (keep it open while the daemon runs;
 * close it with db_release() after every connection is closed), or -1 with
 * a message in @err that names the path and the cause (and the pid of the
 * daemon already serving the file). */
int db_claim(const struct config *cfg, int *lock_fd, char *err, size_t errlen);

/* Gives up the lock of db_claim(). Accepts -1. */
void db_release(int lock_fd);

/* Opens the one writing connection (read-only with --read-only), switches
 * the database to WAL, and applies the configured pragmas. Opens readers
 * only after this succeeded (a read-only connection cannot switch to WAL).
 * Returns 0, or a SQLite code with a message in @err. */
int db_open_writer(const struct config *cfg, sqlite3 **out, char *err,
                   size_t errlen);

/* Opens a read-only connection (query_only) for one reader thread. */
int db_open_reader(const struct config *cfg, sqlite3 **out, char *err,
                   size_t errlen);

/* Closes a connection. Accepts NULL. */
void db_close(sqlite3 *db);

#endif /* SQLITED_DB_H */
