/* The daemon as a whole: its I/O loops (loop.h), the listening socket that
 * spreads connections over them, signals, the worker threads, and
 * shutdown. */
#ifndef SQLITED_SERVER_H
#define SQLITED_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "backup.h"
#include "codec.h"
#include "config.h"
#include "http.h"
#include "job.h"
#include "list.h"
#include "loop.h"
#include "memory.h"
#include "metrics.h"
#include "readers.h"
#include "stats.h"
#include "writer.h"

struct conn;

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
                                           its limit (cursor_release_oldest) */
    atomic_uint nconns;                 /* over all loops */
    atomic_uint loops_busy;             /* loops not finished shutting down */
    atomic_uint_fast64_t last_conn_id;
    struct stats stats; /* kept by the workers, read by `stats` */
    struct http http;   /* --http: the listener, when on */
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

/* Opens the database, starts the worker threads and binds the socket (or
 * takes the one systemd passed). Returns 0, or -1 after logging why. */
int server_init(struct server *s, const struct config *cfg);

/* Starts the I/O loops and serves until SIGINT or SIGTERM, then drains
 * every loop. With --migrations, applies them first (serving meanwhile only
 * what tells it is migrating), and reports ready only once they are; when
 * one fails it shuts down. Returns 0 when everything closed cleanly, 1
 * otherwise. */
int server_run(struct server *s);

/* Appends to @b the result of `hello` for a client that may do @access
 * (access.h's level names): encoded at each call, since SIGHUP may change
 * the timeouts it tells. */
void server_pack_hello(const struct server *s, struct codec_buf *b,
                       const char *access);

/* Stops the threads (checkpointing the database) and frees everything. */
void server_close(struct server *s);

/* Connections over all loops. Any thread. */
static inline unsigned server_connections(const struct server *s)
{
    return atomic_load_explicit(&s->nconns, memory_order_relaxed);
}

/* Up-calls from loop.c, on loop 0's thread: the daemon's own asks
 * (the WAL limit, loops finished) at each of its wake-ups. */
void server_on_wakeup(struct server *s);

/* Up-call from loop.c, on loop 0's thread: a job of no client's (the
 * start-up migrations) is back. */
void server_job_done(struct server *s, struct job *job);

/* Up-call from loop.c, on @l's thread: @l finished shutting down. */
void server_loop_finished(struct server *s, struct io_loop *l);

#endif /* SQLITED_SERVER_H */
