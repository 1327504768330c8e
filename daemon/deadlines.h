/* The deadlines of jobs waiting for a worker, kept by the loop thread.
 *
 * A request whose deadline passes while every worker is busy (a long
 * statement pins the writer, or every reader) is answered SQLITED_TIMEOUT
 * by the loop thread at that deadline, without waiting for a worker: the
 * jobs in flight sit in a min-heap by deadline, and one timer fires at the
 * earliest. Loop thread only.
 */
#ifndef SQLITED_DEADLINES_H
#define SQLITED_DEADLINES_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "job.h"

struct deadlines {
    struct job **heap; /* heap[0] has the earliest deadline */
    size_t count, cap;
    uv_timer_t timer;
    int64_t armed; /* the clock value the timer fires at; 0: not armed */
    void (*expire)(struct job *job); /* called with each job past its
                                        deadline, removed from the heap */
};

/* Initialises @d on @loop; @expire is called from the timer. */
void deadlines_init(struct deadlines *d, uv_loop_t *loop,
                    void (*expire)(struct job *job));

/* Frees the heap; its jobs are freed elsewhere. The timer is a handle of
 * the loop, closed with the others. */
void deadlines_close(struct deadlines *d);

/* Watches @job's deadline (job->deadline != 0). Out of memory, it is not
 * watched: its worker still answers it at its deadline once free. */
void deadlines_add(struct deadlines *d, struct job *job);

/* Stops watching @job; a job not watched is ignored. */
void deadlines_remove(struct deadlines *d, struct job *job);

#endif /* SQLITED_DEADLINES_H */
