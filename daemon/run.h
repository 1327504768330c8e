/* One job's execution on a worker: its state, shared by the files that run
 * a job (execute.c, bind.c, result.c, batch.c, cursor.c, health.c), and how a
 * failure is recorded and a reply stored. Worker thread only.
 */
#ifndef SQLITED_RUN_H
#define SQLITED_RUN_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "job.h"
#include "worker.h"

struct cursor;
struct writer;

/* The state of one job's execution. */
struct run {
    struct worker *w;
    struct job *job;
    struct codec_buf *out;
    int64_t total_before;         /* total changes before the statement */
    uint64_t rows, bytes;         /* of the result so far */
    uint64_t max_rows, max_bytes; /* the query's limits; 0: none */
    sqlite3_stmt *cursor_st;      /* rows left for a cursor to send */
    uint64_t cursor_id;
    int64_t changes; /* rows changed by the statements themselves */
    bool alone;      /* met VACUUM inside a group */
    bool script;     /* ran several statements */
    bool handoff;    /* on a loop's connection: needs a cursor */
    int code;        /* the error, when a step failed */
    int64_t step;    /* the batch step or bulk set that failed; -1: none */
    char message[512];
};

/* Records error @code with a printf-style message. Returns @code. */
__attribute__((format(printf, 3, 4))) int run_fail(struct run *r, int code,
                                                   const char *fmt, ...);

/* Records the connection's last error, after step or prepare returned @rc.
 * SQLITE_INTERRUPT caused by the daemon's own progress handler is reported
 * as what it is (deadline, WAL limit, shutdown). Returns the code recorded. */
int run_fail_sqlite(struct run *r, int rc);

/* Records why encoding into @out failed: too large, or out of memory. */
int run_fail_out(struct run *r, const struct codec_buf *out);

/* Prefixes the recorded error with the step @i that failed. */
void run_fail_step(struct run *r, uint32_t i);

/* Stores the job's reply: the encoding in @out, or r->code's error. */
void run_store_reply(struct run *r, struct codec_buf *out);

/* ------------------------------------------------------------------------
 * The worker halves of a cursor (cursor.c), a read-only transaction
 * (snapshot.c) and a health probe (health.c), whose loop halves are loop
 * modules (state.h): declared here, with the runners that call them, so that no
 * runner depends on the loop's layers. */

/* A reader's query: its first chunk of rows goes into the reply; when rows
 * are left (and a cursor may still be opened), @st stays with them for a
 * cursor (r->cursor_st) and the reply says "cursor". @rc is what @st's first
 * step returned. */
void cursor_first_chunk(struct run *r, sqlite3_stmt *st, int rc);

/* Gives the rows left in r->cursor_st to a new cursor (r->job->cursor),
 * with the reader's connection (and nothing else of it: its cached
 * statements are dropped). On failure the reserved cursor is given back. */
void cursor_open(struct run *r);

/* The connection of cursor or read-only transaction @cur: the one it
 * holds its snapshot on. */
struct worker *cursor_worker(struct cursor *cur);

/* fetch: the cursor's next chunk. close: the end of it. Either runs on the
 * cursor's own connection, whichever reader thread takes the job. */
void cursor_run(struct job *job);

/* A read-only transaction (snapshot.c). Reader thread. Runs @job, a read-only
 * begin, on @w's connection: starts a read transaction there, which takes the
 * snapshot now, and hands the connection to a new transaction (job->cursor,
 * registered by the loop), whose id, from @wr's series, is the reply. @w's
 * connection is then NULL until worker_reopen(). A failure (--max-cursors
 * reached, the deadline, a lock) is the reply instead, and @w keeps its
 * connection. */
void snapshot_begin(struct worker *w, struct job *job, struct writer *wr);

/* Reader thread. Runs @job, a query or explain of a read-only transaction
 * (job->snapshot), on the transaction's connection. A statement that writes
 * is refused there, never passed on to the writer; one still running when
 * the transaction reaches --tx-max-duration is interrupted and answered
 * SQLITED_TX_EXPIRED. */
void snapshot_run(struct job *job);

/* A worker runs a probe's job (job->probe set): a reader reads, the writer
 * checks it may write. Stores nothing in job->reply. */
void health_run(struct worker *w, struct job *job);

#endif /* SQLITED_RUN_H */
