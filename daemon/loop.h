/* One I/O loop: a thread with its own libuv loop, the connections it owns,
 * their timers and cursors, and the queue of jobs the workers finished for
 * them.
 *
 * The daemon runs --io-threads loops. Loop 0 runs on the main thread and
 * also owns what is the daemon's as a whole (the listening socket, the
 * signals, the shutdown grace timer, the HTTP listener's requests: see
 * server.h); it accepts every connection and hands each to the next loop
 * in turn (round robin, itself included). From then on the connection, its
 * jobs' deadlines, its cursors and its answers are that loop's alone: only
 * its thread touches them, and the workers hand its finished jobs back to
 * it (job->loop).
 *
 * Other threads ask a loop for something through loop_ask_*(): a flag or a
 * queued descriptor, then a wake-up of its uv_async handle, which the loop
 * drains on its own thread. Everything another thread reads of a loop (its
 * counts, its metrics, its oldest cursor) is atomic.
 */
#ifndef SQLITED_LOOP_H
#define SQLITED_LOOP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "deadlines.h"
#include "inline_read.h"
#include "job.h"
#include "list.h"
#include "metrics.h"
#include "watchdog.h"

struct conn;
struct server;

struct io_loop {
    struct server *srv;
    unsigned index; /* 0 .. cfg->io_threads - 1 */
    uv_loop_t uv;
    pthread_t thread; /* loops 1 and up; loop 0 is the main thread */
    bool thread_started;
    bool initialized;

    /* Shared with other threads. */
    uv_async_t wakeup;     /* jobs are done, or another thread asks */
    struct job_queue done; /* finished jobs, pushed by the workers */
    pthread_mutex_t mutex; /* guards fds */
    int *fds;              /* accepted connections handed over by loop 0 */
    unsigned nfds, fds_cap;
    atomic_bool ask_shutdown, ask_close_all, ask_resume;
    atomic_int_fast64_t ask_release;   /* end the oldest cursor opened
                                          before this (cursor.h); 0: no */
    atomic_bool memory_paused;         /* some connections wait for memory */
    atomic_uint nconns;                /* connections it owns */
    atomic_uint inflight;              /* their jobs at the workers */
    atomic_int_fast64_t oldest_cursor; /* opened (clock.h) of its oldest
                                          open cursor; 0: none */
    struct metrics metrics;            /* written by this loop only */

    /* The loop's own. */
    struct list conns;          /* every connection not yet freed */
    struct list cursors;        /* open, oldest first (cursor->loop_node) */
    struct deadlines deadlines; /* of jobs waiting for a worker */
    struct inline_reader inline_reader; /* its own read-only connection */
    struct watchdog_beat beat;          /* its heartbeat (watchdog.h) */
    uv_timer_t resume;                  /* reads paused connections again */
    uv_timer_t sweep;                   /* looks at half-closed connections */
    uv_prepare_t turn_end;              /* writes the answers of each turn */
    struct list flush;                  /* connections with answers in outbox */
    bool shutting_down;                 /* it took the daemon's shutdown */
    bool finished; /* shutting down and no connection left */
};

/* Prepares loop @index of @s (not started). Returns 0, or -1 after logging
 * why; loop_close() undoes a partial init. */
int loop_init(struct io_loop *l, struct server *s, unsigned index);

/* Starts @l's heartbeat for systemd's watchdog (nothing without one):
 * from then on the loop must keep turning until it finishes. */
void loop_watch(struct io_loop *l);

/* Starts the thread of a loop other than 0, with every asynchronous signal
 * blocked. Returns 0 or -1 after logging why. */
int loop_start(struct io_loop *l);

/* Runs loop 0 on the calling thread until it is finished. Returns uv_run's
 * result. */
int loop_run(struct io_loop *l);

/* Waits for the thread of @l to end (it ends once the loop is finished). */
void loop_join(struct io_loop *l);

/* Once no worker can hand it a job any more: closes every handle, drops
 * the jobs finished after their connection went, and frees the loop. */
void loop_close(struct io_loop *l);

/* ----------------------------------------------- asks from other threads */

/* Hands the accepted socket @fd to @l, which opens a connection on it (and
 * closes it when it cannot). Thread-safe. */
void loop_give_fd(struct io_loop *l, int fd);

/* The daemon is shutting down (loop_shutdown() on @l's thread). */
void loop_ask_shutdown(struct io_loop *l);

/* The grace period is over: close every connection now. */
void loop_ask_close_all(struct io_loop *l);

/* The WAL is over its limit and @l holds the oldest snapshot: end its
 * oldest cursor opened before @before. */
void loop_ask_release(struct io_loop *l, int64_t before);

/* Runs on a worker thread: @job is done, back to its loop. */
void loop_job_done(struct job *job);

/* ------------------------------------------- for the loop's own modules */

/* Memory was released: connections paused for want of it, on any loop,
 * are read again soon if the daemon is back under its limit. */
void loop_memory_released(struct io_loop *l);

/* A connection of @l stopped reading for want of memory. */
void loop_memory_paused(struct io_loop *l);

/* A half-closed connection of @l has work in flight: look every second
 * whether its client closed its socket since. */
void loop_watch_half_closed(struct io_loop *l);

/* A connection of @l was accepted (counted) or freed. */
void loop_conn_added(struct io_loop *l, struct conn *c);
void loop_conn_gone(struct io_loop *l, struct conn *c);

/* Starts the daemon's shutdown on @l: every connection closes once nothing
 * is owed to its client. */
void loop_shutdown(struct io_loop *l);

/* Closes every connection of @l now. */
void loop_close_all(struct io_loop *l);

#endif /* SQLITED_LOOP_H */
