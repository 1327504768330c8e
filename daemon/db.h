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

/* Opens the one read-write connection: creates the file if needed, switches
 * it to WAL, and applies the configured pragmas. Opens readers only after
 * this succeeded (a read-only connection cannot switch to WAL).
 * Returns 0, or a SQLite code with a message in @err. */
int db_open_writer(const struct config *cfg, sqlite3 **out, char *err,
                   size_t errlen);

/* Opens a read-only connection (query_only) for one reader thread. */
int db_open_reader(const struct config *cfg, sqlite3 **out, char *err,
                   size_t errlen);

/* Closes a connection. Accepts NULL. */
void db_close(sqlite3 *db);

#endif /* SQLITED_DB_H */
