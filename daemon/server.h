/* The daemon as a whole, the top layer of the loop modules (state.h): it
 * starts the worker threads and the I/O loops (loop.h), owns the listening
 * socket that spreads connections over them, the signals, the start-up
 * migrations, the WAL limit over every loop, and shutdown. Its state is
 * struct server (state.h). Called by main() only. */
#ifndef SQLITED_SERVER_H
#define SQLITED_SERVER_H

#include "config.h"
#include "state.h"

/* Opens the database, starts the worker threads and binds the socket (or
 * takes the one systemd passed). Returns 0, or -1 after logging why. */
int server_init(struct server *s, const struct config *cfg);

/* Starts the I/O loops and serves until SIGINT or SIGTERM, then drains
 * every loop. With --migrations, applies them first (serving meanwhile only
 * what tells it is migrating), and reports ready only once they are; when
 * one fails it shuts down. Returns 0 when everything closed cleanly, 1
 * otherwise. */
int server_run(struct server *s);

/* Stops the threads (checkpointing the database) and frees everything. */
void server_close(struct server *s);

#endif /* SQLITED_SERVER_H */
