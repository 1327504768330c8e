/* The socket floor: a minimal libuv echo server over a Unix socket, with
 * one thread or as many as sqlited has I/O loops, and its client, which
 * sends a message of a request's size and waits for it to come back. What
 * any daemon on this machine pays per round trip. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

/* Connections accepted and not yet taken by their thread, at most. */
#define ECHO_QUEUE 1024

/* ----------------------------------------------------------------- server */

/* One server thread: its own loop, the connections handed to it, and the
 * buffer its reads go into (one read at a time per thread). */
struct echo_thread {
    uv_loop_t loop;
    uv_async_t wake;
    pthread_t tid;
    pthread_mutex_t lock;
    int queue[ECHO_QUEUE]; /* accepted sockets not yet opened on the loop */
    int nqueue;
    char space[1 << 16];
};

/* The server process's threads: with one, the accepting loop serves the
 * connections itself, as a single-threaded daemon would; with more, it
 * hands each new connection to the next thread in turn, as sqlited spreads
 * its connections over its I/O loops. */
static struct echo_thread *threads;
static int nthreads, next_thread;

struct echo_write {
    uv_write_t req;
    char data[];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct echo_thread *t = h->loop->data;

    (void)suggested;
    *buf = uv_buf_init(t->space, sizeof(t->space));
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req);
}

static void on_close(uv_handle_t *h)
{
    free(h);
}

/* Writes back what came in: at once when the socket takes it, else a copy
 * is queued. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    uv_buf_t out = uv_buf_init(buf->base, (unsigned)n);
    int done = n > 0 ? uv_try_write(s, &out, 1) : 0;
    if (done < 0)
        done = 0;
    if (done == n)
        return;
    struct echo_write *w = malloc(sizeof(*w) + (size_t)(n - done));
    if (!w) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    memcpy(w->data, buf->base + done, (size_t)(n - done));
    out = uv_buf_init(w->data, (unsigned)(n - done));
    if (uv_write(&w->req, s, &out, 1, on_written))
        free(w);
}

/* Serves the connected socket @fd on @loop. */
static void serve_fd(uv_loop_t *loop, int fd)
{
    uv_pipe_t *p = malloc(sizeof(*p));

    if (!p || uv_pipe_init(loop, p, 0)) {
        free(p);
        close(fd);
        return;
    }
    if (uv_pipe_open(p, fd) ||
        uv_read_start((uv_stream_t *)p, on_alloc, on_read))
        uv_close((uv_handle_t *)p, on_close);
}

/* A server thread's wake-up: opens the connections handed to it. */
static void on_wake(uv_async_t *a)
{
    struct echo_thread *t = a->data;
    int fds[ECHO_QUEUE], n;

    pthread_mutex_lock(&t->lock);
    n = t->nqueue;
    memcpy(fds, t->queue, (size_t)n * sizeof(*fds));
    t->nqueue = 0;
    pthread_mutex_unlock(&t->lock);
    for (int i = 0; i < n; i++)
        serve_fd(&t->loop, fds[i]);
}

static void on_connection(uv_stream_t *server, int status)
{
    uv_pipe_t *p = malloc(sizeof(*p));
    uv_os_fd_t fd;

    if (status < 0 || !p) {
        free(p);
        return;
    }
    uv_pipe_init(server->loop, p, 0);
    if (uv_accept(server, (uv_stream_t *)p)) {
        uv_close((uv_handle_t *)p, on_close);
        return;
    }
    if (nthreads == 1) {
        if (uv_read_start((uv_stream_t *)p, on_alloc, on_read))
            uv_close((uv_handle_t *)p, on_close);
        return;
    }
    /* Another loop takes the socket over: a duplicate of it, since this
     * loop's handle closes. */
    struct echo_thread *t = &threads[next_thread++ % nthreads];
    int dup =
        uv_fileno((uv_handle_t *)p, &fd) ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 0);
    uv_close((uv_handle_t *)p, on_close);
    if (dup < 0)
        return;
    pthread_mutex_lock(&t->lock);
    if (t->nqueue < ECHO_QUEUE)
        t->queue[t->nqueue++] = dup;
    else
        close(dup);
    pthread_mutex_unlock(&t->lock);
    uv_async_send(&t->wake);
}

static void *thread_main(void *arg)
{
    struct echo_thread *t = arg;

    uv_run(&t->loop, UV_RUN_DEFAULT);
    return NULL;
}

/* The server process: serves with @n threads until it is killed. */
static void echo_main(const char *path, int n)
{
    uv_loop_t *loop = uv_default_loop();
    uv_pipe_t server;

    nthreads = n;
    threads = calloc((size_t)n, sizeof(*threads));
    if (!threads)
        _exit(1);
    if (n == 1) {
        loop->data = &threads[0];
    } else {
        for (int i = 0; i < n; i++) {
            struct echo_thread *t = &threads[i];
            if (uv_loop_init(&t->loop) ||
                uv_async_init(&t->loop, &t->wake, on_wake) ||
                pthread_mutex_init(&t->lock, NULL))
                _exit(1);
            t->loop.data = t;
            t->wake.data = t;
            if (pthread_create(&t->tid, NULL, thread_main, t))
                _exit(1);
        }
    }
    unlink(path);
    uv_pipe_init(loop, &server, 0);
    if (uv_pipe_bind(&server, path) ||
        uv_listen((uv_stream_t *)&server, 1024, on_connection))
        _exit(1);
    uv_run(loop, UV_RUN_DEFAULT);
    _exit(0);
}

/* Connects to @path: a socket fd, or -1 with errno set. */
static int unix_connect(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
        int e = errno;
        close(fd);
        errno = e;
        fd = -1;
    }
    return fd;
}

pid_t echo_start(const char *socket_path, int threads_n)
{
    pid_t pid = fork();

    if (pid == 0)
        echo_main(socket_path, threads_n > 0 ? threads_n : 1);
    if (pid < 0)
        return -1;
    for (int i = 0; i < 5000; i++) {
        int fd = unix_connect(socket_path);
        if (fd >= 0) {
            close(fd);
            return pid;
        }
        usleep(1000);
    }
    server_stop(pid);
    return -1;
}

/* ----------------------------------------------------------------- client */

struct echo_client {
    int fd;
    char msg[];
};

static int echo_open(struct client *c)
{
    struct echo_client *e = calloc(1, sizeof(*e) + c->spec->echo_bytes);

    if (!e)
        return load_fail(c, "out of memory");
    c->conn = e;
    memset(e->msg, 'x', c->spec->echo_bytes);
    e->fd = unix_connect(c->spec->socket_path);
    if (e->fd < 0)
        return load_fail(c, "connect: %s", strerror(errno));
    return 0;
}

static void echo_close(struct client *c)
{
    struct echo_client *e = c->conn;

    if (e && e->fd >= 0)
        close(e->fd);
    free(e);
}

/* One round trip, as a synchronous client library makes it: one send, then
 * reads until the whole answer is in. It waits in poll() before each read,
 * as libsqlited does: a thread blocked in recv() is also woken when the
 * server reads the request (the socket's "room to write" wake-up), for
 * nothing; one in poll() for POLLIN is not. */
static int op_echo(struct client *c)
{
    struct echo_client *e = c->conn;
    size_t size = c->spec->echo_bytes, got = 0;
    char back[256];

    if (send(e->fd, e->msg, size, MSG_NOSIGNAL) != (ssize_t)size)
        return load_fail(c, "send: %s", strerror(errno));
    while (got < size) {
        struct pollfd pfd = {.fd = e->fd, .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return load_fail(c, "poll: %s", strerror(errno));
        ssize_t n = recv(e->fd, back, sizeof(back), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return load_fail(c, "recv: %s", n ? strerror(errno) : "closed");
        got += (size_t)n;
    }
    return 0;
}

static int echo_run(struct client *c)
{
    return load_loop(c, op_echo);
}

const struct client_ops echo_client_ops = {echo_open, echo_run, echo_close};
