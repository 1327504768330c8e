/* The daemon's event loop: listening socket, connections, signals, the hand
 * off between the loop thread and the worker threads, and shutdown. */
#ifndef SQLITED_SERVER_H
#define SQLITED_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <uv.h>

#include "backup.h"
#include "codec.h"
#include "config.h"
#include "deadlines.h"
#include "http.h"
#include "inline_read.h"
#include "job.h"
#include "list.h"
#include "memory.h"
#include "metrics.h"
#include "readers.h"
#include "stats.h"
#include "watchdog.h"
#include "writer.h"

struct conn;

struct server {
    const struct config *cfg;
    uv_loop_t loop;
    uv_pipe_t listener;
    uv_pipe_t spare; /* takes a connection refused for want of memory */
    bool spare_busy;
    uv_signal_t sigint, sigterm, sighup;
    uv_async_t wakeup;                  /* a worker finished jobs */
    uv_timer_t grace;                   /* shutdown grace period */
    struct job_queue done;              /* finished jobs, drained by the loop */
    atomic_bool stop;                   /* running statements must end now */
    atomic_int_fast64_t release_before; /* set by the writer: the WAL is over
                                           its limit (cursor_release_oldest) */
    struct stats stats;     /* kept by the workers, read by `stats` */
    struct metrics metrics; /* kept by the loop thread */
    struct http http;       /* --http: the listener, when on */
    struct writer writer;
    struct readers readers;
    /* The loop's own read-only connection (inline_read.h): moves into the
     * loop's struct when there are several loops. */
    struct inline_reader inline_reader;
    struct backup backup;
    struct codec_limits limits; /* of requests */
    struct deadlines deadlines; /* of jobs waiting for a worker */
    struct memory mem;          /* every connection's; max: --max-memory */
    uint64_t conn_share;        /* a connection holding more is not read */
    bool memory_paused;         /* some connections wait for memory to free */
    uv_timer_t resume;          /* reads them again once it has */
    uv_timer_t sweep;           /* looks at half-closed connections with work */
    struct watchdog_beat beat;  /* the loop's heartbeat (watchdog.h) */
    struct list conns;          /* every connection not yet freed */
    unsigned nconns;
    uint64_t last_conn_id;
    bool shutting_down;
    bool failed;      /* the start-up migrations failed: exit status 1 */
    bool owns_socket; /* we bound it (not systemd): unlink at exit */
    int db_lock;      /* db_claim()'s lock on the database; -1: none */
    int64_t started;  /* clock_now() at start, for the uptime */
    dev_t socket_dev; /* the socket file we bound, to unlink only that */
    ino_t socket_ino;
    const char *sqlite_version; /* for hello */
};

/* Opens the database, starts the worker threads and binds the socket (or
 * takes the one systemd passed). Returns 0, or -1 after logging why. */
int server_init(struct server *s, const struct config *cfg);

/* Serves until SIGINT or SIGTERM, then drains and closes every handle.
 * With --migrations, applies them first (serving meanwhile only what tells
 * it is migrating), and reports ready only once they are; when one fails
 * it shuts down. Returns 0 when everything closed cleanly, 1 otherwise. */
int server_run(struct server *s);

/* Appends to @b the result of `hello` for a client that may do @access
 * (access.h's level names): encoded at each call, since SIGHUP may change
 * the timeouts it tells. */
void server_pack_hello(const struct server *s, struct codec_buf *b,
                       const char *access);

/* Stops the threads (checkpointing the database) and frees everything. */
void server_close(struct server *s);

/* For conn.c: memory was released; connections paused for want of it are
 * read again soon if the daemon is back under its limit. */
void server_memory_released(struct server *s);

/* For conn.c: a half-closed connection has work in flight; look every
 * second whether its client closed its socket since. */
void server_watch_half_closed(struct server *s);

/* For conn.c: a connection was freed; the server may be done draining. */
void server_conn_gone(struct server *s);

#endif /* SQLITED_SERVER_H */
