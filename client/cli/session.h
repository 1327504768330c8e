/* A session: one connection to the daemon and how its results are printed.
 * The one-shot SQL argument runs through it; so do scripts and the shell. */
#ifndef SQLITED_CLI_SESSION_H
#define SQLITED_CLI_SESSION_H

#include "output.h"
#include "sqlited.h"

struct session {
    sqlited *db;
    struct printer pr;
};

/* Runs @sql (one statement, or a script of several) and prints the rows of
 * its last statement that returns rows. Returns the exit status: 0, or that
 * of the failure, already reported on standard error. */
int session_run(struct session *s, const char *sql);

#endif
