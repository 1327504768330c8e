/* The operator's commands: probes and operations on the whole database. */
#ifndef SQLITED_CLI_OPERATOR_H
#define SQLITED_CLI_OPERATOR_H

#include <stdbool.h>

#include "sqlited.h"

/* Exit statuses of `health`, pg_isready's: ready; the daemon answers but is
 * not ready; nothing answers; usage error. */
enum {
    HEALTH_READY = 0,
    HEALTH_NOT_READY = 1,
    HEALTH_NO_ANSWER = 2,
    HEALTH_USAGE = 3
};

/* `health`: one line (or JSON) and pg_isready's exit status, all within
 * @timeout_ms. */
int health_main(const char *path, int timeout_ms, bool json, bool quick);

/* `ping`: "pong", every wait bounded by @timeout_ms. */
int ping_main(const char *path, int timeout_ms);

/* An operation on the database as a whole, run on an open connection. */
struct command {
    const char *name;
    int min_args, max_args;
    const char *args; /* for the usage error */
    int (*run)(sqlited *db, int argc, char **argv, bool json);
};

/* The operation named @name, or NULL. */
const struct command *command_find(const char *name);

#endif
