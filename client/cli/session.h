/* A session: one connection to the daemon and how its results are printed.
 * The one-shot SQL argument runs through it; so do scripts and the shell. */
#ifndef SQLITED_CLI_SESSION_H
#define SQLITED_CLI_SESSION_H

#include <stdbool.h>

#include "output.h"
#include "params.h"
#include "sqlited.h"

struct session {
    sqlited *db;
    struct printer pr;
    struct params params; /* .param's, bound to the statements that name
                             them */
    bool timer;           /* .timer on: each statement's run time */
};

/* Runs @sql (one statement, or a script of several) and prints the rows of
 * its last statement that returns rows. Returns the exit status: 0, or that
 * of the failure, already reported on standard error. */
int session_run(struct session *s, const char *sql);

/* Closes the connection and frees what the session holds (parameters, an
 * .output file). Returns @status, or 1 if it was 0 and closing the .output
 * file failed. */
int session_close(struct session *s, int status);

#endif
