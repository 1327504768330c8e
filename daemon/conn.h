/* Handle a single client connection: read, frame, reply, backpressure.
 *
 * The lowest of the loop's layers (state.h): dispatch and the cursors call
 * it to answer and to hand jobs to the workers; it calls nothing above it.
 * What it must tell the layers above (a message arrived, the connection is
 * closing, it gave memory back, it is gone) goes through the table of
 * callbacks its loop sets, struct conn_events. */
#ifndef SQLITED_CONN_H
#define SQLITED_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "access.h"
#include "codec.h"
#include "job.h"
#include "list.h"
#include "route.h"

struct cursor;
struct io_loop;
struct server;

/* Per-connection bounds: past either, the daemon stops reading from the
 * connection until the client has read its replies. The memory share is the
 * server's (struct server, conn_share): --max-memory / 16. */
#define CONN_MAX_INFLIGHT 32

/* What a job costs beside its message and reply: the struct, its write
 * request, and the allocator's overhead on its three blocks (measured:
 * about 600 bytes per queued reply in all). */
#define CONN_JOB_OVERHEAD (sizeof(struct job) + 160)

/* A connection holding no more than this (answers not yet written
 * included) is read even when the daemon is at --max-memory, so that small
 * requests (a ping, a one-row write) of other clients are still served
 * while a few hold the memory. */
#define CONN_SMALL (1u << 20)

struct conn {
    uv_pipe_t pipe;
    struct server *srv;
    struct io_loop *loop; /* owns it: only its thread touches it */
    struct list node;     /* in its loop's list of connections */
    uint64_t id;          /* unique in the daemon; a job carries it (job.h) */
    struct codec_decoder dec;
    struct list inflight; /* jobs at the workers (job->inflight) */
    unsigned ninflight;
    struct memory mem; /* all it holds; parent: the server's total */
    uint64_t dec_held; /* of mem: the read buffer's capacity */
    unsigned writes;   /* answers not written yet: queued or in outbox */
    /* Answers not written yet (conn_flush_all() writes them), and the node
     * in the loop's list of connections that have some. */
    struct job *outbox, **outbox_tail;
    unsigned noutbox;
    uint64_t outbox_held; /* of mem: what its answers cost (reply and
                             CONN_JOB_OVERHEAD each) */
    struct list flush;
    uint64_t tx;             /* the open interactive transaction; 0: none */
    struct cursor *snapshot; /* the open read-only transaction (cursor.h,
                                snapshot.h); NULL: none */
    unsigned begins, read_only_begins; /* begin requests in flight, and
                                          those of them read-only */
    struct list cursors;               /* open (cursor->node) */
    unsigned ncursors; /* open, plus queries that may still open one */
    bool reading;
    bool paused_for_memory;  /* not read while the daemon is at its limit */
    bool half_closed;        /* the client shut down its write side */
    bool draining;           /* read no more; close once replies are out */
    bool closing;            /* uv_close called */
    bool closed;             /* close callback ran */
    struct access_peer peer; /* who the client is, what it may do */
};

/* What a connection tells the layers above it, on its loop's thread: one
 * table for every connection of a loop (io_loop.conn_events), set by the
 * loop (loop.c). */
struct conn_events {
    /* A complete message arrived (dispatch.h): @msg[0..len) is valid
     * during the call only. */
    void (*message)(struct conn *c, const char *msg, size_t len);
    /* @c is closing: its work in flight is cancelled; end what it holds
     * above the socket (its transaction, its cursors). */
    void (*closing)(struct conn *c);
    /* @c gave memory back: connections paused for want of it may be read
     * again. */
    void (*released)(struct conn *c);
    /* @c is half closed with work in flight: call conn_check_gone() now
     * and then, until it returns false. */
    void (*half_closed)(struct conn *c);
    /* A connection of @l was freed, and left the loop's list. */
    void (*gone)(struct io_loop *l);
};

/* A new job for @c (job_new()), which knows @c's id and loop. Returns NULL
 * on out-of-memory. */
struct job *conn_job_new(struct conn *c, enum rpc_method method,
                         uint32_t msgid);

/* Opens a connection on loop @l for the accepted socket @fd, which it
 * takes. Failures are logged (and @fd closed). */
void conn_open(struct io_loop *l, int fd);

/* Writes the answers sent on @l since the last call: each connection's
 * with one system call. The loop calls it once per turn, before it waits
 * for events again, so that every answer of a turn is gathered, whatever
 * sent it: a read, a worker's finished job, a timer (a deadline, an idle
 * cursor, a health probe's), the shutdown. @l's thread. */
void conn_flush_all(struct io_loop *l);

/* @job is back from its worker (dispatch_job_done()): no longer in flight;
 * sends its reply, or drops it if the client left. */
void conn_complete(struct job *job);

/* The loop's deadline for @job passed while it waited for a worker:
 * answer it SQLITED_TIMEOUT now, unless a worker has claimed it. The job
 * itself stays in flight until its worker hands it back. */
void conn_expire(struct job *job);

/* The client of @c sent `cancel` for its request @msgid: every request of
 * @c with that msgid still unanswered is stopped. One waiting for a worker
 * is answered SQLITED_INTERRUPTED now and never runs; a worker stops one
 * it holds (job->cancel_asked) or answers it as it is, if it finished.
 * Returns whether any such request was found. A close, a migrate and the
 * daemon's own jobs are never cancelled. */
bool conn_cancel(struct conn *c, uint32_t msgid);

/* Sends the encoded reply of @job (made by a worker or by the loop thread
 * itself), after the answers sent before it: it is written at the end of
 * the loop's turn (conn_flush_all()). The connection takes the job. */
void conn_send(struct conn *c, struct job *job);

/* Sends the message encoded in @b, taking its bytes. If it could not be
 * encoded (out of memory), closes the connection instead: the client would
 * otherwise wait for an answer forever. */
void conn_send_encoded(struct conn *c, struct codec_buf *b);

/* Encodes and sends an error response to @msgid, or with no msgid an error
 * notification. */
void conn_send_error(struct conn *c, uint32_t msgid, int code,
                     const char *message);
void conn_send_notification(struct conn *c, int code, const char *message);
/* An error response whose error object names the failed step (>= 0) of a
 * batch or bulk request; @step -1 is conn_send_error(). */
void conn_send_error_at(struct conn *c, uint32_t msgid, int code,
                        const char *message, int64_t step);

/* @job, which the loop does not run itself, counts as in flight on @c
 * until conn_complete(): its deadline is watched, its memory held. */
void conn_track(struct conn *c, struct job *job);

/* Tracks @job (conn_track()) and queues it for the thread @to, which
 * route_decide() chose: ROUTE_READERS, ROUTE_WRITER or ROUTE_BACKUP (the
 * loop's own routes are its caller's). */
void conn_submit(struct conn *c, struct job *job, enum route to);

/* Queues @job, tracked already, for the thread @to as conn_submit() does:
 * for a job that waited on the loop first (a read-only transaction's,
 * which run one at a time: cursor.h). */
void conn_queue(struct conn *c, struct job *job, enum route to);

/* Stops reading and closes the connection once its replies are written;
 * work in flight finishes first. */
void conn_drain(struct conn *c);

/* The daemon is shutting down: the connection closes once nothing is owed
 * to its client. Until then it keeps reading, so that a request sent in the
 * meantime is answered (with SQLITED_SHUTTING_DOWN) rather than lost. */
void conn_shutdown(struct conn *c);

/* For the server's sweep: closes @c if it was half closed and its client
 * has since closed its socket, interrupting its work. Returns true while
 * @c still has work in flight for a client that may be waiting. */
bool conn_check_gone(struct conn *c);

/* The daemon went back under --max-memory: read @c again if it has room. */
void conn_resume(struct conn *c);

/* Closes the connection now; work in flight is cancelled, replies dropped. */
void conn_close(struct conn *c);

#endif /* SQLITED_CONN_H */
