/* One I/O loop: a thread with its own libuv loop, the connections it owns,
 * their timers and cursors, and the queue of jobs the workers finished for
 * them. The layer under the server and over dispatch and the connections
 * (state.h); its state is struct io_loop (state.h).
 *
 * The daemon runs --io-threads loops. Loop 0 runs on the main thread and
 * also owns what is the daemon's as a whole (the listening socket, the
 * signals, the shutdown grace timer, the HTTP listener's requests: see
 * server.c); it accepts every connection and hands each to the next loop
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

#include <stdint.h>

#include "job.h"
#include "state.h"

/* What a loop tells the layer above it (server.c), on the loop's thread.
 * One table for every loop, given to loop_init(). */
struct loop_events {
    /* Loop 0, at each of its wake-ups: the daemon's own asks (the WAL
     * limit, loops that finished). */
    void (*wakeup)(struct server *s);
    /* Loop 0: a job of no client's (the start-up migrations) is back. */
    void (*job_done)(struct server *s, struct job *job);
    /* @l finished shutting down: it has no connection left. */
    void (*finished)(struct server *s, struct io_loop *l);
};

/* Prepares loop @index of @s (not started), which tells @events (kept).
 * Returns 0, or -1 after logging why; loop_close() undoes a partial init. */
int loop_init(struct io_loop *l, struct server *s, unsigned index,
              const struct loop_events *events);

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

/* ------------------------------------------------- for the server */

/* Starts the daemon's shutdown on @l: every connection closes once nothing
 * is owed to its client. */
void loop_shutdown(struct io_loop *l);

/* Closes every connection of @l now. */
void loop_close_all(struct io_loop *l);

#endif /* SQLITED_LOOP_H */
