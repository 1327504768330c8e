/* Route each request to its handler: answered on the loop (hello, ping) or
 * checked and queued for the writer or a reader (exec, query), where
 * route_decide() says; and take each job back when it is done.
 *
 * The layer under the loop (state.h): it calls the cursors, the health
 * probe and the connection (conn.h) below it, never the loop or the
 * server. The loop gives it each connection's messages and end (struct
 * conn_events) and the jobs the workers finished. */
#ifndef SQLITED_DISPATCH_H
#define SQLITED_DISPATCH_H

#include <stddef.h>

#include "codec.h"

struct conn;
struct job;

/* Handles one complete message @msg[0..len) received on @c, as
 * codec_decoder_next() delivered it (rpc_parse_framed()). The bytes are
 * only valid during the call. Every problem is answered with an error. */
void dispatch_message(struct conn *c, const char *msg, size_t len);

/* @job of a client's is back on its loop, from a worker or the health
 * probe: updates what it changed of its connection (the transaction it
 * opened or ended, the cursor it opened, fetched or closed), then sends its
 * reply, or drops it if the client left (conn_complete()). */
void dispatch_job_done(struct job *job);

/* @c is closing: rolls back its open transaction (a job of the daemon's
 * own, on its way like any other) and ends its cursors. */
void dispatch_conn_closing(struct conn *c);

/* Checks message @msg[0..len) from @c as dispatch_message() does, but sends
 * and queues nothing. Returns the job of a request that passed every check
 * (fetch and close: with job->cursor set), for the caller to run and free;
 * or NULL, with the message's answer encoded in @answer: an error, or the
 * result of a method answered on the loop (hello, ping, stats). The bytes of
 * @msg are only needed during the call. The fuzzers use it without a socket:
 * @c then needs only srv (with cfg, hello, stats and its loops), loop (for
 * its metrics) and its cursors list. */
struct job *dispatch_check(struct conn *c, const char *msg, size_t len,
                           struct codec_buf *answer);

#endif /* SQLITED_DISPATCH_H */
