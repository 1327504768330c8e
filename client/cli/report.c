/* How the CLI reports a failure: one line on standard error naming the
 * problem, and the exit status that goes with it. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int usage_status = EXIT_USAGE;

int usage_error(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "%s: %s: %s\n", PROG, what, arg);
    else
        fprintf(stderr, "%s: %s\n", PROG, what);
    fprintf(stderr, "Try '%s --help' for more information.\n", PROG);
    return usage_status;
}

/* Exit status for a failed call: the daemon's own answers are 1; a lost or
 * unusable connection is 2, like a failed connect. */
int failure_status(int rc)
{
    if (rc == SQLITED_ECLOSED || rc == SQLITED_EPROTO || rc == SQLITED_EVERSION)
        return EXIT_USAGE;
    if (rc < 0 && rc > -1000 && rc != -ENOMEM)
        return EXIT_USAGE; /* a socket errno */
    return EXIT_DAEMON_ERROR;
}

int report_call_error(sqlited *db, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", PROG, sqlited_errname(db),
            sqlited_errmsg(db));
    return failure_status(rc);
}

/* Reading the rows failed after some were printed: a fetch fails with the
 * connection's error and message, a malformed row on its own. */
int report_rows_error(sqlited *db, int rc)
{
    if (sqlited_errcode(db) == rc)
        fprintf(stderr, "%s: %s: reading the result: %s\n", PROG,
                sqlited_errname(db), sqlited_errmsg(db));
    else
        fprintf(stderr, "%s: %s: reading the result: %s\n", PROG,
                sqlited_codename(rc), sqlited_strerror(rc));
    return failure_status(rc);
}

int report_connect_error(const char *path, int rc)
{
    /* errno values read best in the C library's own words. */
    const char *why =
        rc < 0 && rc > -1000 ? strerror(-rc) : sqlited_strerror(rc);
    const char *hint = "";

    /* No socket file, or one nobody listens on: the daemon is not running
     * there, or the client looks in the wrong place. */
    if (rc == -ENOENT || rc == -ECONNREFUSED)
        hint = " (is sqlited running on that socket? -s PATH or "
               "$SQLITED_SOCKET names another)";
    fprintf(stderr, "%s: cannot connect to %s: %s%s\n", PROG, path, why, hint);
    return EXIT_USAGE;
}
