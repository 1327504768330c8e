#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "codec.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "state.h"

/* How long a handler waits for the loop: a readiness probe's own deadline,
 * plus time for the loop to get to it. */
#define HTTP_WAIT_MS (HEALTH_TIMEOUT_MS + 2000)

/* Connections served at once; each has a thread. */
#define HTTP_MAX_CONNECTIONS 16

enum http_kind { HTTP_LIVEZ, HTTP_READYZ, HTTP_METRICS };

/* One request on its way from a handler thread to the loop and back. Both
 * hold a reference; whoever lets go last frees it. */
struct http_request {
    struct http_request *next; /* in the queue */
    enum http_kind kind;
    atomic_int refs;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool done;
    unsigned status;
    char *body; /* owned; NULL: "" */
    size_t len;
};

static void request_release(struct http_request *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mutex);
    free(r->body);
    free(r);
}

/* The loop's answer: takes @body (malloc'd, or NULL with @text copied). */
static void request_finish(struct http_request *r, unsigned status, char *body,
                           size_t len, const char *text)
{
    if (body == NULL && text != NULL) {
        len = strlen(text);
        body = malloc(len + 1);
        if (body)
            memcpy(body, text, len + 1);
        else
            len = 0;
    }
    pthread_mutex_lock(&r->mutex);
    r->status = status;
    r->body = body;
    r->len = len;
    r->done = true;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mutex);
    request_release(r);
}

/* ------------------------------------------------------------- the loop */

static void on_ready_verdict(const struct health_report *report, void *arg)
{
    char line[512];
    snprintf(line, sizeof(line), "%s: %s\n", health_status_name(report->status),
             report->reason);
    request_finish(arg, report->status == HEALTH_FAILING ? 503 : 200, NULL, 0,
                   line);
}

static void serve(struct http *h, struct http_request *r)
{
    struct codec_buf b;
    size_t len;

    switch (r->kind) {
    case HTTP_LIVEZ:
        request_finish(r, 200, NULL, 0, "ok\n");
        return;
    case HTTP_READYZ:
        if (health_probe_start(&h->s->loops[0], false, HEALTH_TIMEOUT_MS,
                               on_ready_verdict, r) != 0)
            request_finish(r, 503, NULL, 0, "failing: out of memory\n");
        return;
    case HTTP_METRICS:
        codec_buf_init(&b, 0);
        metrics_render(h->s, &b);
        if (b.error == CODEC_BUF_OK) {
            char *text = codec_buf_steal(&b, &len);
            request_finish(r, 200, text, len, NULL);
        } else {
            request_finish(r, 500, NULL, 0, "out of memory\n");
        }
        codec_buf_close(&b);
        return;
    }
}

/* uv_async_send coalesces: take every queued request. */
static void on_wakeup(uv_async_t *async)
{
    struct http *h = async->data;

    pthread_mutex_lock(&h->mutex);
    struct http_request *r = h->queue;
    h->queue = NULL;
    bool stopping = h->stopping;
    pthread_mutex_unlock(&h->mutex);
    while (r) {
        struct http_request *next = r->next;
        if (stopping)
            request_finish(r, 503, NULL, 0,
                           "failing: the daemon is shutting down\n");
        else
            serve(h, r);
        r = next;
    }
}

void http_shutdown(struct http *h)
{
    if (!h->started)
        return;
    pthread_mutex_lock(&h->mutex);
    h->stopping = true;
    pthread_mutex_unlock(&h->mutex);
    on_wakeup(&h->wakeup);
}

/* -------------------------------------------------------- the MHD threads */

/* Hands a request to the loop and waits for its answer. Returns the
 * request (the caller releases it), or NULL when out of memory. */
static struct http_request *ask_loop(struct http *h, enum http_kind kind)
{
    struct http_request *r = calloc(1, sizeof(*r));
    pthread_condattr_t attr;

    if (r == NULL)
        return NULL;
    r->kind = kind;
    atomic_init(&r->refs, 2);
    pthread_mutex_init(&r->mutex, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cond, &attr);
    pthread_condattr_destroy(&attr);

    pthread_mutex_lock(&h->mutex);
    bool stopping = h->stopping;
    if (!stopping) {
        r->next = h->queue;
        h->queue = r;
    }
    pthread_mutex_unlock(&h->mutex);
    if (stopping) {
        request_finish(r, 503, NULL, 0,
                       "failing: the daemon is shutting down\n");
        return r;
    }
    uv_async_send(&h->wakeup);

    int64_t until = clock_after_ms(HTTP_WAIT_MS);
    struct timespec ts = {.tv_sec = until / 1000000000,
                          .tv_nsec = until % 1000000000};
    pthread_mutex_lock(&r->mutex);
    while (!r->done &&
           pthread_cond_timedwait(&r->cond, &r->mutex, &ts) != ETIMEDOUT)
        ;
    pthread_mutex_unlock(&r->mutex);
    return r;
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status,
                               const char *body, size_t len,
                               const char *content_type)
{
    struct MHD_Response *res = MHD_create_response_from_buffer(
        len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (res == NULL)
        return MHD_NO;
    MHD_add_response_header(res, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(res, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(res, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, res);
    MHD_destroy_response(res);
    return rc;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn,
                                    unsigned status, const char *text)
{
    return respond(conn, status, text, strlen(text),
                   "text/plain; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **state)
{
    struct http *h = cls;
    enum http_kind kind;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)state;

    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "only GET and HEAD are served\n");
    if (strcmp(url, "/livez") == 0)
        kind = HTTP_LIVEZ;
    else if (strcmp(url, "/readyz") == 0)
        kind = HTTP_READYZ;
    else if (strcmp(url, "/metrics") == 0)
        kind = HTTP_METRICS;
    else
        return respond_text(conn, MHD_HTTP_NOT_FOUND,
                            "not found: sqlited serves /metrics, /livez and "
                            "/readyz\n");

    struct http_request *r = ask_loop(h, kind);
    if (r == NULL)
        return respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "out of memory\n");
    enum MHD_Result rc;
    pthread_mutex_lock(&r->mutex);
    if (!r->done)
        rc = respond_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "failing: the event loop did not answer in time\n");
    else
        rc = respond(conn, r->status, r->body ? r->body : "", r->len,
                     kind == HTTP_METRICS
                         ? "text/plain; version=0.0.4; charset=utf-8"
                         : "text/plain; charset=utf-8");
    pthread_mutex_unlock(&r->mutex);
    request_release(r);
    return rc;
}

/* ------------------------------------------------------------- start, stop */

/* Parses "A.B.C.D:PORT" or "[IPv6]:PORT" into @ss. Returns 0 or -1. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *v6)
{
    char host[64];
    const char *colon = strrchr(addr, ':');
    char *end;

    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host))
        return -1;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || port < 0 || port > 65535)
        return -1;
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(ss, 0, sizeof(*ss));
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        host[n - 1] = '\0';
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *v6 = true;
        return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    *v6 = false;
    return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

int http_start(struct http *h, struct server *s, const char *addr)
{
    struct sockaddr_storage ss;
    bool v6 = false;

    memset(h, 0, sizeof(*h));
    if (parse_addr(addr, &ss, &v6) != 0) {
        log_error("--http %s: not a numeric address and port, such as "
                  "127.0.0.1:9187 or [::1]:9187",
                  addr);
        return -1;
    }
    h->s = s;
    pthread_mutex_init(&h->mutex, NULL);
    uv_async_init(&s->loops[0].uv, &h->wakeup, on_wakeup);
    h->wakeup.data = h;
    /* The listener must not keep the loop running at shutdown. */
    uv_unref((uv_handle_t *)&h->wakeup);
    /* Only the loop thread takes signals: MHD's threads start with all of
     * them blocked, as the workers do. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    h->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
            (v6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)HTTP_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)10, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    h->started = true; /* the async handle is the loop's now */
    if (h->mhd == NULL) {
        log_error("--http %s: cannot listen there (in use, or not an "
                  "address of this host?)",
                  addr);
        return -1;
    }
    log_info("http: serving /metrics, /livez and /readyz on %s", addr);
    return 0;
}

void http_stop(struct http *h)
{
    if (h->mhd) {
        MHD_stop_daemon(h->mhd);
        h->mhd = NULL;
    }
    /* The mutex stays: the loop may still run the async handle's last
     * callback before the handle is closed. */
}
