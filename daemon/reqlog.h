/* The log of what requests did: failures, with their method and SQL, and
 * slow requests (--slow-query-ms), with where they ran. */
#ifndef SQLITED_REQLOG_H
#define SQLITED_REQLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct job;

/* SQL is logged up to this many bytes. */
#define REQLOG_SQL_MAX 200

/* Logs @job, answered, once its reply is built: a failure with its method,
 * error and SQL (at info; at error for the daemon's own faults: I/O,
 * corruption, a full disk, no memory), and a request that took
 * --slow-query-ms or longer (at warn) with its duration, SQL, where it ran
 * and who sent it: connection @conn_id from process @pid (-1: unknown).
 * The loop thread that answers the job. */
void reqlog_done(const struct config *cfg, const struct job *job,
                 uint64_t conn_id, pid_t pid);

/* Writes @sql[0..len) to @buf for a log line: at most REQLOG_SQL_MAX bytes
 * (cut on a character boundary, "..." and the full length after), control
 * characters as blanks so that a line stays one line. */
void reqlog_sql(const char *sql, size_t len, char *buf, size_t size);

#endif /* SQLITED_REQLOG_H */
