/* Read-only transactions: begin with {"read_only": true} takes one snapshot
 * of the database on a reader's connection, and every query sent with its
 * tx then reads that snapshot, on a reader, without holding the writer.
 *
 * Its life: the loop checks the begin (snapshot_check_begin()) and sends it
 * to a reader, which starts a read transaction and hands its connection to
 * a new transaction (snapshot_begin()); the transaction is a cursor without
 * a statement (cursor.h), which owns the rest of its life: its queue of
 * jobs, the idle timer (--tx-idle-timeout, --tx-max-duration), the WAL
 * limit, its count against --max-cursors, its end. Requests naming it are
 * matched on the loop (snapshot_take()) and queued on its connection
 * (snapshot_start()).
 */
#ifndef SQLITED_SNAPSHOT_H
#define SQLITED_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>

struct conn;
struct job;

/* Loop thread. Whether @c may begin a transaction (@read_only: a
 * read-only one) beside what it has: a connection has at most one. Returns
 * 0, or SQLITED_BAD_REQUEST with the reason in @why when @c has a
 * read-only transaction open or being begun, or (@read_only) a transaction
 * of the writer open or being begun. The writer checks its own kind. */
int snapshot_check_begin(struct conn *c, bool read_only, char *why, size_t len);

/* Loop thread. For a request of @c whose job->tx names @c's read-only
 * transaction, or one that has ended: returns 0 with job->snapshot set when
 * the request may run in it (query, explain, commit, rollback); or, with
 * the reason in @why, SQLITE_READONLY for a method that may write (exec,
 * batch, bulk: nothing of it runs) and SQLITED_TX_EXPIRED for a transaction
 * that has ended. Returns 0 and leaves job->snapshot NULL when job->tx is 0
 * or names no read-only transaction of @c: the writer's, then. */
int snapshot_take(struct conn *c, struct job *job, char *why, size_t len);

/* Loop thread. Sends @job, which snapshot_take() matched, on: a query or
 * explain to the transaction's connection, after the jobs queued before it;
 * a commit or rollback ends the transaction, and is answered nil once its
 * connection is closed. */
void snapshot_start(struct job *job);

/* Its worker half, snapshot_begin() and snapshot_run(), is declared in
 * run.h. */

#endif /* SQLITED_SNAPSHOT_H */
