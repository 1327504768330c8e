/* Maintenance of the database as a whole: optimize, vacuum, integrity.
 *
 * optimize and vacuum run on the writer, alone between groups (the writer
 * gives them its connection outside any transaction); integrity runs on a
 * reader, whose snapshot it checks, with the request's deadline.
 */
#ifndef SQLITED_MAINTENANCE_H
#define SQLITED_MAINTENANCE_H

#include <stdbool.h>

#include "execute.h"
#include "job.h"

/* Most problems integrity reports (PRAGMA integrity_check(N)). */
#define MAINTENANCE_MAX_PROBLEMS 100

/* True for the jobs the writer runs alone, outside any transaction:
 * optimize and vacuum (maintenance_run()), and migrate (migrate_run()). */
bool maintenance_writer_job(const struct job *job);

/* Runs an optimize or vacuum job on the writer's connection, outside any
 * transaction, and stores its reply. */
void maintenance_run(struct worker *w, struct job *job);

/* Runs an integrity job on a reader's connection and stores its reply. */
void maintenance_integrity(struct worker *w, struct job *job);

#endif /* SQLITED_MAINTENANCE_H */
