/* What every part of sqlited-cli shares: its name, its exit statuses, and
 * how a failure is reported (report.c). */
#ifndef SQLITED_CLI_H
#define SQLITED_CLI_H

#include "sqlited.h"

#define PROG "sqlited-cli"

/* Exit statuses: 0 success, 1 an error answered by the daemon (or a local
 * failure such as a write error), 2 a usage error or a failed connection;
 * `health` follows pg_isready instead (operator.h). */
enum { EXIT_DAEMON_ERROR = 1, EXIT_USAGE = 2 };

/* The default --timeout, in milliseconds. */
#define DEFAULT_TIMEOUT_MS 5000

/* What a usage error exits with: EXIT_USAGE, or HEALTH_USAGE for `health`. */
extern int usage_status;

/* Prints "sqlited-cli: WHAT[: ARG]" and the --help hint; returns
 * usage_status. */
int usage_error(const char *what, const char *arg);

/* The exit status for a failed call: the daemon's own answers are 1; a
 * lost or unusable connection is 2, like a failed connect. */
int failure_status(int rc);

/* Print the connection's error for a failed call @rc; return its exit
 * status. */
int report_call_error(sqlited *db, int rc);

/* Print the failure @rc of reading rows, some of which may have been
 * printed; return its exit status. */
int report_rows_error(sqlited *db, int rc);

/* Print why connecting to @path failed; return EXIT_USAGE. */
int report_connect_error(const char *path, int rc);

#endif
