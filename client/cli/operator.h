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

/* The operator commands' options, from the command line. */
struct op_options {
    bool json;       /* print JSON */
    bool latency;    /* ping --latency */
    int64_t count;   /* ping --count, stats --count; 0: not given */
    int interval_ms; /* ping --interval; -1: not given */
    int watch_s;     /* stats --watch; 0: not given */
};

/* `ping`: "pong"; with --count or --latency, round-trip times and their
 * min/avg/max/p99, until the count or Ctrl-C. Every wait is bounded by
 * @timeout_ms. Returns the exit status. */
int ping_main(const char *path, int timeout_ms, const struct op_options *o);

/* An operation on the database as a whole, run on an open connection. */
struct command {
    const char *name;
    int min_args, max_args;
    const char *args; /* for the usage error */
    int (*run)(sqlited *db, int argc, char **argv, const struct op_options *o);
};

/* The operation named @name, or NULL. */
const struct command *command_find(const char *name);

/* The manual of the operator command @name (ping, health, stats, metrics,
 * backup, ...) for `sqlited-cli COMMAND --help`, or NULL if there is no
 * such command. */
const char *command_help(const char *name);

#endif
