/* batch and bulk: several statements, or one statement with several
 * parameter sets, in one request. Worker thread (the writer's). */
#ifndef SQLITED_BATCH_H
#define SQLITED_BATCH_H

#include "run.h"

/* batch: each step [sql, params?] in order. Atomic, the first failure fails
 * the job (and its savepoint undoes the steps before); otherwise each step
 * has a savepoint of its own and its error is reported in "errors". */
void batch_run(struct run *r);

/* bulk: one statement, prepared once, run for each parameter set. */
void batch_run_bulk(struct run *r);

#endif /* SQLITED_BATCH_H */
