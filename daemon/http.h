/* The optional HTTP listener (--http ADDR:PORT): GET /metrics, /livez and
 * /readyz for Prometheus scrapes and HTTP probes.
 *
 * libmicrohttpd serves HTTP on threads of its own, one per connection, so
 * nothing of HTTP ever runs on an I/O loop. A handler hands its request
 * to loop 0 through a uv_async and waits, bounded, for the answer: the
 * loop renders the metrics (metrics.h), answers /livez at once (it is
 * alive: it answered), and starts a health probe (health.h) for /readyz.
 */
#ifndef SQLITED_HTTP_H
#define SQLITED_HTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <uv.h>

struct server;
struct http_request;

struct http {
    struct MHD_Daemon *mhd; /* NULL: the listener is off */
    struct server *s;
    uv_async_t wakeup; /* a handler queued a request */
    pthread_mutex_t mutex;
    struct http_request *queue; /* guarded by mutex */
    bool stopping;              /* guarded by mutex */
    bool started;
};

/* Starts listening on @addr ("127.0.0.1:9187", "[::1]:9187": a numeric
 * address, bound to exactly that one). Loop thread, before the loop runs.
 * Returns 0, or -1 after logging why. */
int http_start(struct http *h, struct server *s, const char *addr);

/* The daemon is shutting down: requests waiting for the loop, and any
 * that come later, are answered 503 at once. Loop thread. */
void http_shutdown(struct http *h);

/* Stops the listener and joins its threads: call once the loop has
 * stopped, before its handles are closed. Accepts one never started. */
void http_stop(struct http *h);

#endif /* SQLITED_HTTP_H */
