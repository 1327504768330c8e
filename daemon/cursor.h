/* A cursor: the rest of a large query result, read chunk by chunk. This
 * file owns a cursor's whole life and both of its limits.
 *
 * Its life, in order:
 *   1. reserve  A query bound for a reader counts against its connection's
 *               share, CURSORS_PER_CONN (cursor_reserve(), loop thread).
 *   2. open     The reader fills the first chunk (cursor_first_chunk()).
 *               Rows left over need a cursor, which must fit under
 *               --max-cursors (the stats' cursors_open, reserved before the
 *               rows are read). The reader then hands its connection, with
 *               the statement stopped on the next row, to the new cursor
 *               (cursor_open()) and opens a fresh connection for itself, so
 *               that a client reading slowly pins no reader thread.
 *   3. register Back on the loop (cursor_job_done()), the cursor joins its
 *               connection's list and its idle timer starts: it fires at
 *               --cursor-idle-timeout or --cursor-max-age, whichever comes
 *               first. A query that opened none gives back its share.
 *   4. fetch    cursor_take() finds the client's cursor (or says why it is
 *               gone); cursor_start() sends the fetch to a reader, which
 *               steps the cursor's own connection (cursor_run()); the timer
 *               waits meanwhile, one fetch at a time.
 *   5. end      Read to its end, closed by the client, idle, too old, its
 *               connection gone (cursor_close_all()), or the oldest snapshot
 *               when the WAL is over its limit (cursor_release_on()): a
 *               reader finalizes its statement and closes its connection
 *               (cursor_run() with a close job), and the loop frees it once
 *               that job is back. Why the daemon ended a cursor is
 *               remembered for the client's next fetch.
 *
 * On the loop, it sits under dispatch and over the connection (state.h):
 * its jobs go out through conn_submit(), where route_decide() says.
 */
#ifndef SQLITED_CURSOR_H
#define SQLITED_CURSOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "list.h"
#include "worker.h"

struct conn;
struct io_loop;
struct job;

/* Cursors one connection may hold open, so that one client cannot take all
 * of --max-cursors. */
#define CURSORS_PER_CONN 8

struct cursor {
    /* The worker side, used by one reader thread at a time. */
    struct worker w;  /* the cursor's own database connection */
    sqlite3_stmt *st; /* stopped on the row the next chunk starts with */
    char *msg;        /* the query's request: @st's parameters point into it */
    uint64_t rows, bytes;         /* sent so far */
    uint64_t max_rows, max_bytes; /* the query's limits; 0: none */

    /* The loop side. */
    uint64_t id;
    struct conn *conn;
    struct list node;      /* in the connection's list */
    struct list loop_node; /* in its loop's, oldest first */
    uv_timer_t idle; /* at the idle timeout or the maximum age, if sooner */
    int64_t opened;  /* clock.h time it was registered */
    bool busy;       /* a fetch or close job has it */
    bool aging;      /* the idle timer is set for the maximum age */
    bool closing;    /* end it once the running fetch is back */
};

/* Loop thread. A query about to go to a reader may open a cursor: counts
 * it against @c's share (CURSORS_PER_CONN), when there is room, and marks
 * @job so (job->may_open_cursor). */
void cursor_reserve(struct conn *c, struct job *job);

/* Loop thread. For a fetch or close of cursor @id: sets job->cursor and
 * returns 0, or returns SQLITED_CURSOR_EXPIRED (@c does not hold it; @why
 * says why it is gone) or SQLITED_BAD_REQUEST (a fetch of it is running). */
int cursor_take(struct conn *c, struct job *job, uint64_t id, char *why,
                size_t len);

/* Loop thread. Sends @job, a fetch or close of job->cursor (cursor_take()),
 * to a reader: the cursor is busy, and its idle timer waits, until the job
 * is back. */
void cursor_start(struct job *job);

/* Loop thread. A worker finished @job on @c: a fetch or close gives its
 * cursor back (or frees it, once closed); a query registers the cursor it
 * opened, or gives back the share it reserved. */
void cursor_job_done(struct conn *c, struct job *job);

/* Loop thread. @c is closing: ends each of its cursors. */
void cursor_close_all(struct conn *c);

/* On @l's thread: ends @l's oldest cursor if it was opened before
 * @before. */
void cursor_release_on(struct io_loop *l, int64_t before);

/* The worker side, cursor_first_chunk(), cursor_open() and cursor_run(), is
 * declared in run.h with the other runners of a job: a reader thread runs
 * it, and the runners depend on nothing of the loop's layers. */

#endif /* SQLITED_CURSOR_H */
