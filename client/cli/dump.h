/* .dump: SQL text that rebuilds the database, or some of its tables. */
#ifndef SQLITED_CLI_DUMP_H
#define SQLITED_CLI_DUMP_H

#include <stdbool.h>

#include "session.h"

/* `.dump [TABLE]`: writes to the session's output the SQL that rebuilds
 * the database (or the tables whose names match the LIKE pattern TABLE,
 * with their indexes and triggers) in the sqlite3 shell's .dump format,
 * read from one snapshot, row by row; inside the user's transaction, what
 * that transaction sees. Returns 0 or the exit status of a failure already
 * reported on standard error. */
int dump_run(struct session *s, int argc, char **argv);

/* Opens a read-only transaction on @db, a snapshot held on a reader of the
 * daemon's, which keeps no writer waiting: every query until
 * dump_snapshot_end() reads one state of the database. When a transaction
 * is open on @db already (the user's), the queries read inside it instead,
 * and nothing is begun. *@began says which. Returns 0 or the failed call's
 * code (its message in sqlited_errmsg()). */
int dump_snapshot_begin(sqlited *db, bool *began);

/* Ends the transaction dump_snapshot_begin() began, if it @began one: never
 * the user's. */
void dump_snapshot_end(sqlited *db, bool began);

#endif
