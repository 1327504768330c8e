/* .dump: SQL text that rebuilds the database, or some of its tables. */
#ifndef SQLITED_CLI_DUMP_H
#define SQLITED_CLI_DUMP_H

#include "session.h"

/* `.dump [TABLE]`: writes to the session's output the SQL that rebuilds
 * the database (or the tables whose names match the LIKE pattern TABLE,
 * with their indexes and triggers) in the sqlite3 shell's .dump format,
 * read from one snapshot, row by row. Returns 0 or the exit status of a
 * failure already reported on standard error. */
int dump_run(struct session *s, int argc, char **argv);

/* Opens a read-only transaction on @db: every query until
 * dump_snapshot_end() reads one snapshot of the database. Returns 0 or the
 * failed call's code (its message in sqlited_errmsg()). */
int dump_snapshot_begin(sqlited *db);

/* Ends the transaction of dump_snapshot_begin(). */
void dump_snapshot_end(sqlited *db);

#endif
