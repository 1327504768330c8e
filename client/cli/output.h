/* Printing a result the way the sqlite3 shell does, in one of its output
 * modes. */
#ifndef SQLITED_CLI_OUTPUT_H
#define SQLITED_CLI_OUTPUT_H

#include <stdbool.h>
#include <stdio.h>

#include "sqlited.h"

enum mode { MODE_LIST, MODE_TABLE, MODE_CSV, MODE_JSON, MODE_LINE };

/* How results are printed. */
struct printer {
    enum mode mode;
    bool header; /* print the column names */
    FILE *out;
};

/* Sets *@mode to the mode named @name; false if there is none. */
bool mode_parse(const char *name, enum mode *mode);

/* The names of the modes, for a usage message: "list, table, ...". */
extern const char mode_names[];

/* Prints every row of @rows. Every mode but table prints each row as it
 * arrives, so that a result of any size prints in constant memory. Returns
 * SQLITED_DONE, or the failure of sqlited_rows_next(), or -ENOMEM; a failed
 * write to the output ends it early (see out_failed()). */
int print_rows(const struct printer *pr, sqlited_rows *rows);

/* Whether writing to @out has failed; the first failure's errno is kept
 * for finish_output()'s message. */
bool out_failed(FILE *out);

/* Flushes standard output; a failure (closed descriptor, full disk, reader
 * gone) is an error of the run. Returns @status, or 1 if it was 0 and the
 * output failed. */
int finish_output(int status);

#endif
