/* Route each request to its handler: answered on the loop (hello, ping) or
 * checked and queued for the writer or a reader (exec, query). */
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
