/* .import: a CSV file into a table, through the bulk API. */
#ifndef SQLITED_CLI_IMPORT_H
#define SQLITED_CLI_IMPORT_H

#include "session.h"

/* `.import [--csv] [--skip N] FILE TABLE`: reads the CSV file FILE (RFC
 * 4180) into TABLE, created with TEXT columns named by the file's first
 * record when it does not exist, in one transaction: a failure applies
 * nothing. Shows a progress bar when standard error is a terminal. Returns
 * 0 or the exit status of a failure already reported on standard error. */
int import_run(struct session *s, int argc, char **argv);

#endif
