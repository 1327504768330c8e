/* Run one request's SQL on a worker's connection and encode its reply,
 * trying again while a lock held by another process allows.
 *
 * Used by the writer and the reader threads alike (worker.h). The pieces of
 * a job live beside: binding its parameters (bind.c), stepping statements
 * and encoding their results (result.c), batches and bulk (batch.c), a
 * query's cursor (cursor.c), and the state they share (run.h).
 */
#ifndef SQLITED_EXECUTE_H
#define SQLITED_EXECUTE_H

#include "job.h"
#include "worker.h"

enum execute_result {
    EXECUTE_DONE,    /* job->reply holds the answer (NULL: nobody waits) */
    EXECUTE_FORWARD, /* a reader met a statement that writes: give the job to
                        the writer */
    EXECUTE_ALONE,   /* in a group, the job holds VACUUM: nothing of it was
                        applied; run it again outside any transaction */
    EXECUTE_LOST,    /* the job failed (its reply says why) and SQLite rolled
                        back the whole open transaction with it */
    EXECUTE_HANDOFF, /* on a loop's connection (w->on_loop): it ran past its
                        budget, met a lock, or needs a cursor; nothing of it
                        stays (no reply): run it again on a reader */
};

/* Runs @job (query, exec, batch, bulk, explain; on a reader also fetch and
 * close, which use their cursor's connection) on @w's connection and stores
 * the encoded response, success or error, in job->reply. A reader's query
 * whose rows do not fit one chunk opens a cursor (job->cursor) and gives it
 * the reader's connection: w->db is then NULL until worker_reopen(). Inside a
 * transaction (w->in_tx) the job runs in its own savepoint, so a failed job
 * leaves nothing behind. A job that was cancelled gets no reply; one whose
 * deadline has passed gets SQLITED_TIMEOUT without running. */
enum execute_result execute_job(struct worker *w, struct job *job);

/* For batch.c, which runs its steps as execute_job() runs one request. */
struct run;

/* Prepares @req's first statement and runs it alone or as a script; @one
 * refuses scripts (query). */
enum execute_result execute_run_sql(struct run *r, const struct sql_req *req,
                                    bool one);

/* Prepares the first statement of @req, or takes it from the cache when
 * the text was seen before. Sets *@tail after it; when only filler follows,
 * the statement is the whole text and goes back to the cache afterwards
 * (execute_release()). */
int execute_prepare_first(struct run *r, const struct sql_req *req,
                          sqlite3_stmt **st, const char **tail);

/* Done with @st from execute_prepare_first(): keeps it when it is @req's
 * whole text, else finalizes it. */
void execute_release(struct run *r, const struct sql_req *req, sqlite3_stmt *st,
                     const char *tail);

/* In a group commit, fails the request when it leaves deferred foreign key
 * violations. */
void execute_check_deferred(struct run *r);

/* True when SQLite rolled back the transaction the job ran in. */
bool execute_tx_lost(const struct worker *w);

#endif /* SQLITED_EXECUTE_H */
