/* What the loop modules share: the state of the daemon as a whole (struct
 * server) and of each I/O loop (struct io_loop). Data only, and the inline
 * readers of it: no module's functions, so that every layer of the loop may
 * read it without depending on the layers above it.
 *
 * The loop modules form layers; each calls only the ones below it:
 *
 *   server    the daemon: the listener, signals, shutdown, the start-up
 *             migrations, the WAL limit over every loop (server.c)
 *   loop      one I/O loop: its thread, its wake-ups (finished jobs, other
 *             threads' asks), its timers, its connections (loop.c)
 *   dispatch  one request: checked, answered on the loop or made a job and
 *             sent where route_decide() says; finished jobs come back
 *             through it (dispatch.c)
 *   snapshot  a read-only transaction's requests, matched and queued on
 *             its connection (snapshot.c)
 *   cursor    a cursor's life (a read-only transaction's too); health, the
 *             readiness probe (cursor.c, health.c)
 *   conn      one client's socket: framing, answers gathered into one
 *             write per turn, backpressure, work in flight (conn.c)
 *   state     this header; below it the rule (route.h), the jobs and
 *             their queues (job.h, deadlines.h), and the threads they go
 *             to (inline_read.h, readers.h, writer.h, backup.h)
 *
 * What a lower layer must tell a higher one goes through a table of
 * callbacks the higher one sets: struct loop_events (loop.h, set by the
 * server) and struct conn_events (conn.h, set by the loop). `make layers`
 * (tests/layers.py) checks that no #include goes up. The worker halves of
 * the cursors, read-only transactions and health probes, which run on
 * reader and writer threads, are declared in run.h, so that the workers,
 * which struct server holds, include nothing of the loop.
 */
#ifndef SQLITED_STATE_H
#define SQLITED_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "backup.h"
#include "codec.h"
#include "config.h"
#include "deadlines.h"
#include "inline_read.h"
#include "job.h"
#include "list.h"
#include "memory.h"
#include "metrics.h"
#include "readers.h"
#include "stats.h"
#include "watchdog.h"
#include "writer.h"

struct conn_events;
struct http;
struct loop_events;

/* What is the daemon's as a whole. The I/O loops (loop.h) own the
 * connections; loop 0 runs on the main thread and also owns the handles
 * below that belong to no connection (the listener, the signals, the grace
 * timer). Fields other threads read are atomic or set before any thread
 * starts. */
struct server {
    const struct config *cfg;
    struct io_loop *loops; /* cfg->io_threads of them */
    unsigned nloops;
    unsigned next_loop; /* loop 0: the loop the next connection goes to */
    int listen_fd;      /* -1: none */
    uv_poll_t listener; /* on loop 0: accepts connections */
    bool listening;
    uv_timer_t accept_pause; /* resumes accepting after EMFILE and such */
    uv_signal_t sigint, sigterm, sighup;
    uv_timer_t grace;                   /* shutdown grace period */
    atomic_bool shutting_down;          /* set once, by loop 0 */
    atomic_bool stop;                   /* running statements must end now */
    atomic_int_fast64_t release_before; /* set by the writer: the WAL is over
                                           its limit (server.c) */
    atomic_uint nconns;                 /* over all loops */
    atomic_uint loops_busy;             /* loops not finished shutting down */
    atomic_uint_fast64_t last_conn_id;
    struct stats stats; /* kept by the workers, read by `stats` */
    struct http *http;  /* --http: the listener, when on; server.c's own */
    struct writer writer;
    struct readers readers;
    struct backup backup;
    struct codec_limits limits; /* of requests */
    struct memory mem;          /* every connection's; max: --max-memory */
    uint64_t conn_share;        /* a connection holding more is not read */
    bool failed;           /* loop 0: the start-up migrations failed: exit 1 */
    char failed_why[1200]; /* what each client is told then; set before
                              the loops are asked to shut down */
    bool owns_socket;      /* we bound it (not systemd): unlink at exit */
    int db_lock;           /* db_claim()'s lock on the database; -1: none */
    int64_t started;       /* clock_now() at start, for the uptime */
    dev_t socket_dev;      /* the socket file we bound, to unlink only that */
    ino_t socket_ino;
    const char *sqlite_version; /* for hello */
};

/* Connections over all loops. Any thread. */
static inline unsigned server_connections(const struct server *s)
{
    return atomic_load_explicit(&s->nconns, memory_order_relaxed);
}

/* One I/O loop (loop.h). */
struct io_loop {
    struct server *srv;
    unsigned index;                        /* 0 .. cfg->io_threads - 1 */
    const struct loop_events *events;      /* the server's (loop.h) */
    const struct conn_events *conn_events; /* its connections tell (conn.h) */
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

#endif /* SQLITED_STATE_H */
