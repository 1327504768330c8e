/* Run one request's SQL on a connection and encode its reply.
 *
 * Used by the writer and the reader threads alike; each owns one struct
 * worker and never shares its connection.
 */
#ifndef SQLITED_EXECUTE_H
#define SQLITED_EXECUTE_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "job.h"

struct worker {
    sqlite3 *db;
    bool writer;             /* the read-write connection */
    size_t max_reply;        /* bytes; a larger result is SQLITED_TOO_LARGE */
    const atomic_bool *stop; /* set when running statements must end */
    struct job *current;     /* the job running now, for the progress handler */
    bool stepping;           /* inside sqlite3_step(), for the authorizer */
    char denied[192];        /* why the authorizer last refused, or "" */
};

/* Prepares @w to run jobs on @db (installs its progress handler). */
void execute_init(struct worker *w, sqlite3 *db, bool writer, size_t max_reply,
                  const atomic_bool *stop);

enum execute_result {
    EXECUTE_DONE,    /* job->reply holds the answer (NULL: nobody waits) */
    EXECUTE_FORWARD, /* a reader met a statement that writes: give the job to
                        the writer */
};

/* Runs @job (a query or an exec) on @w's connection and stores the encoded
 * response, success or error, in job->reply. A cancelled job gets no reply. */
enum execute_result execute_job(struct worker *w, struct job *job);

#endif /* SQLITED_EXECUTE_H */
