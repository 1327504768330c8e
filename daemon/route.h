/* Which thread runs a job: the rule, decided in one function.
 *
 * The loop thread checks a request (dispatch.c) and asks route_decide()
 * where its job goes; a thread that finds the job is not its own (a reader
 * meeting a write) asks again with what it found. The rule:
 *
 *   health                    the health probe (health.h): a read on a
 *                             reader and a write on the writer
 *   backup                    the backup thread
 *   fetch, close              the reader pool, on the cursor's own
 *                             connection (cursor.h)
 *   query, outside a client's first the I/O loop itself, on its own
 *   transaction               read-only connection within --inline-budget
 *                             (inline_read.h); unless the loop finished it
 *                             there (or inline reads are off), the reader
 *                             pool, read-only connections in parallel. Not
 *                             PRAGMA wal_checkpoint, which is the
 *                             checkpoint method's (writer)
 *   explain, integrity        the reader pool
 *   a read-only transaction   the reader pool: its begin takes a reader's
 *   (begin read_only, and     connection for it; its queries, explain,
 *   what names its tx)        fetches and commit or rollback run there,
 *                             one at a time (snapshot.h)
 *   a read the loop gave up   the reader pool: past the budget, a lock
 *                             (the loop never waits), rows for a cursor;
 *                             it runs again there to its own deadline
 *   a read that writes        the writer: a read-only connection (the
 *                             loop's or a reader's) found a statement that
 *                             is not sqlite3_stmt_readonly (INSERT ...
 *                             RETURNING sent as query)
 *   everything else           the writer: exec, batch, bulk, begin, commit,
 *                             rollback, every request inside a client's
 *                             interactive transaction (it runs on the
 *                             writer's connection and sees its own
 *                             changes, in order), checkpoint, optimize,
 *                             vacuum, migrate
 *
 * hello, ping, stats, metrics and cancel never become jobs: the loop
 * answers them. Every job of a client's, and the daemon's own on a
 * client's behalf (the rollback of a client that left, a cursor's close),
 * is sent where this says (conn_submit()). The two jobs of no client's do
 * not ask: the start-up migrations go to the writer (server.c), and a
 * health probe's two parts to a reader and to the writer (health.c), which
 * is what they are for.
 */
#ifndef SQLITED_ROUTE_H
#define SQLITED_ROUTE_H

#include "job.h"

enum route {
    ROUTE_LOOP,    /* the I/O loop, within its budget (inline_read.h) */
    ROUTE_READERS, /* the reader pool (readers.h) */
    ROUTE_WRITER,  /* the writer (writer.h) */
    ROUTE_BACKUP,  /* the backup thread (backup.h) */
    ROUTE_HEALTH,  /* the health probe (health.h) */
};

/* What is known of the job when it is routed. */
enum route_event {
    ROUTE_NEW,        /* checked on the loop, not run anywhere yet */
    ROUTE_HANDED_OFF, /* the loop began it and gave it up, or does not run
                         reads itself; nothing of it stayed */
    ROUTE_WRITES,     /* a read-only connection found that it writes; nothing of
                         it ran */
};

/* Where @job goes next. Any thread; reads only the job's request. */
enum route route_decide(const struct job *job, enum route_event event);

#endif /* SQLITED_ROUTE_H */
