/* Route each request to its handler: answered on the loop (hello, ping) or
 * checked and queued for the writer or a reader (exec, query). */
#ifndef SQLITED_DISPATCH_H
#define SQLITED_DISPATCH_H

#include <stddef.h>

struct conn;

/* Handles one complete message @msg[0..len) received on @c. The bytes are
 * only valid during the call. Every problem is answered with an error. */
void dispatch_message(struct conn *c, const char *msg, size_t len);

#endif /* SQLITED_DISPATCH_H */
