/* The socket floor: a minimal libuv echo server over a Unix socket, and its
 * client, which sends a message of a request's size and waits for it to
 * come back. What any daemon on this machine pays per round trip. */
#include "bench.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

/* ----------------------------------------------------------------- server */

struct echo_write {
    uv_write_t req;
    char data[];
};

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char space[1 << 16]; /* one thread: one read at a time */
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(space, sizeof(space));
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

static void on_connection(uv_stream_t *server, int status)
{
    uv_pipe_t *p = malloc(sizeof(*p));

    if (status < 0 || !p) {
        free(p);
        return;
    }
    uv_pipe_init(server->loop, p, 0);
    if (uv_accept(server, (uv_stream_t *)p) ||
        uv_read_start((uv_stream_t *)p, on_alloc, on_read))
        uv_close((uv_handle_t *)p, on_close);
}

/* The server process: serves until it is killed. */
static void echo_main(const char *path)
{
    uv_loop_t *loop = uv_default_loop();
    uv_pipe_t server;

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

pid_t echo_start(const char *socket_path)
{
    pid_t pid = fork();

    if (pid == 0)
        echo_main(socket_path);
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
 * reads until the whole answer is in. */
static int op_echo(struct client *c)
{
    struct echo_client *e = c->conn;
    size_t size = c->spec->echo_bytes, got = 0;
    char back[256];

    if (send(e->fd, e->msg, size, MSG_NOSIGNAL) != (ssize_t)size)
        return load_fail(c, "send: %s", strerror(errno));
    while (got < size) {
        ssize_t n = recv(e->fd, back, sizeof(back), 0);
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
