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
 * A read-only transaction (snapshot.h) is a cursor without a statement: it
 * holds its snapshot on a connection of its own, as a cursor does, so the
 * same idle timer (at --tx-idle-timeout or --tx-max-duration), the WAL
 * limit, --max-cursors and the close through a reader serve it. Its
 * connection runs one job at a time, in the order the loop queued them
 * (cursor_submit_in()): the queries sent in the transaction, and the
 * fetches and closes of the cursors of their results, which step
 * statements of that same connection (cursor->tx). It closes once those
 * cursors are closed and its queue is empty.
 *
 * On the loop, it sits under dispatch and snapshot, and over the
 * connection (state.h): its jobs go out through conn_submit() or
 * conn_queue(), where route_decide() says.
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

    /* Read-only transactions (snapshot.h); the loop side. */
    bool is_tx;        /* this is one: no statement, an id of begin's */
    struct cursor *tx; /* the transaction whose connection this cursor's
                          statement belongs to; NULL: its own connection */
    struct job *waiting, **waiting_tail; /* is_tx: jobs for its connection,
                                            in order (job->next) */
    struct job *end_job;   /* is_tx: the commit or rollback that ended it */
    unsigned inner;        /* is_tx: its cursors not freed yet */
    struct list open_node; /* is_tx: in the daemon's list of open ones */
    /* is_tx: the job running on its connection, which the loop interrupts
     * when it ends the transaction for the WAL limit (worker.h). */
    struct worker_watch watch;
};

/* Why the daemon ended a cursor or a read-only transaction, remembered for
 * the client's next request naming it (cursor_ended_why()). */
enum cursor_why {
    CURSOR_WHY_NONE,
    CURSOR_WHY_IDLE,     /* the idle timeout */
    CURSOR_WHY_AGE,      /* --cursor-max-age, --tx-max-duration */
    CURSOR_WHY_WAL,      /* it held the oldest snapshot past --wal-max-bytes */
    CURSOR_WHY_TX,       /* a cursor: its read-only transaction ended */
    CURSOR_WHY_COMMIT,   /* a transaction: committed */
    CURSOR_WHY_ROLLBACK, /* a transaction: rolled back */
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

/* Loop thread. @c is closing: ends each of its cursors, and its read-only
 * transaction. */
void cursor_close_all(struct conn *c);

/* Loop thread. Why cursor @id (@tx: read-only transaction @id) was ended
 * by the daemon or by its client's commit or rollback, as far as this loop
 * remembers; CURSOR_WHY_NONE when it does not. */
enum cursor_why cursor_ended_why(uint64_t id, bool tx);

/* Any thread. Whether read-only transaction @id is open, on any
 * connection. */
bool cursor_tx_open(uint64_t id);

/* Loop thread. Runs @job, tracked by its connection, on the connection of
 * read-only transaction @tx once the jobs queued before it are done
 * (job->snapshot is set to @tx). */
void cursor_submit_in(struct cursor *tx, struct job *job);

/* Loop thread. Ends read-only transaction @tx for @why (CURSOR_WHY_COMMIT
 * or CURSOR_WHY_ROLLBACK, the client's @job, answered nil once it is
 * closed). Its cursors end with it; requests already queued in it are
 * still answered. */
void cursor_end_tx(struct cursor *tx, struct job *job, enum cursor_why why);

/* On @l's thread: ends @l's oldest cursor if it was opened before
 * @before. */
void cursor_release_on(struct io_loop *l, int64_t before);

/* The worker side, cursor_first_chunk(), cursor_open() and cursor_run(), is
 * declared in run.h with the other runners of a job: a reader thread runs
 * it, and the runners depend on nothing of the loop's layers. */

#endif /* SQLITED_CURSOR_H */
