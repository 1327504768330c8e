/* A cursor: the rest of a large query result, read chunk by chunk.
 *
 * A reader that fills a chunk with rows still to come hands its connection,
 * with the statement stopped on the next row, to a new cursor (and opens a
 * fresh connection for itself), so that a client reading slowly pins no
 * reader thread. From then on, `fetch` jobs step the cursor on any reader
 * thread, one job at a time. The loop thread keeps each cursor in its
 * connection's list, closes it when idle too long or when the connection
 * goes, and frees it once a reader has closed its database connection.
 */
#ifndef SQLITED_CURSOR_H
#define SQLITED_CURSOR_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "execute.h"
#include "list.h"

struct conn;
struct io_loop;
struct server;

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

/* A reader opened @cur for @c's query: keep it, and start its idle timer. */
void cursor_register(struct conn *c, struct cursor *cur);

/* Returns @c's open cursor @id, or NULL. */
struct cursor *cursor_find(struct conn *c, uint64_t id);

/* Ends @cur: drops it from its connection's list and has a reader close it
 * (now, or when its running fetch is back) through @job, the client's close
 * request, or with no @job through one of the daemon's own. @expired counts
 * it as closed for idling. */
void cursor_end(struct cursor *cur, struct job *job, bool expired);

/* A fetch or close job on @job->cursor came back from the reader. */
void cursor_job_done(struct job *job);

/* Writes into @buf why cursor @id, which @c does not hold, is not open:
 * the daemon ended it (idle, --cursor-max-age, the WAL limit) or it was read
 * to its end, closed, or never opened on @c. */
void cursor_explain_gone(struct conn *c, uint64_t id, char *buf, size_t len);

/* The WAL is over its limit (checkpoint.h): ends the oldest holder of a
 * snapshot taken before @before (clock.h), a cursor on any loop or a read
 * running on a reader, so that a checkpoint can complete. Loop 0: a
 * cursor of another loop is ended by that loop (cursor_release_on()). */
void cursor_release_oldest(struct server *s, int64_t before);

/* On @l's thread: ends @l's oldest cursor if it was opened before
 * @before. */
void cursor_release_on(struct io_loop *l, int64_t before);

/* The worker side (run.h). A reader's query: its first chunk of rows goes
 * into the reply; when rows are left (and a cursor may still be opened), @st
 * stays with them for a cursor (r->cursor_st) and the reply says "cursor".
 * @rc is what @st's first step returned. */
struct run;
void cursor_first_chunk(struct run *r, sqlite3_stmt *st, int rc);

/* Gives the rows left in r->cursor_st to a new cursor (r->job->cursor),
 * with the reader's connection (and nothing else of it: its cached
 * statements are dropped). On failure the reserved cursor is given back. */
void cursor_open(struct run *r);

/* fetch: the cursor's next chunk. close: the end of it. Either runs on the
 * cursor's own connection, whichever reader thread takes the job. */
void cursor_run(struct job *job);

#endif /* SQLITED_CURSOR_H */
