#include "conn.h"

#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "reqlog.h"
#include "rpc.h"
#include "sqlited.h"
#include "state.h"

/* Bytes asked for per read, and what an idle connection's buffer shrinks
 * back to after a large message. */
#define READ_SIZE (64u << 10)

static void conn_read_more(struct conn *c);

/* Adds (or takes back) bytes the loop holds for @c. Taking back may bring
 * the daemon under its limit: connections paused for it are then read
 * again (soon, from a timer, not from inside this call's caller). */
static void conn_hold(struct conn *c, uint64_t n)
{
    memory_add(&c->mem, n);
}

static void conn_release(struct conn *c, uint64_t n)
{
    memory_sub(&c->mem, n);
    c->loop->conn_events->released(c);
}

/* Accounts the read buffer's capacity as it is now. */
static void conn_sync_buffer(struct conn *c)
{
    uint64_t cap = c->dec.cap;
    if (cap > c->dec_held)
        conn_hold(c, cap - c->dec_held);
    else if (cap < c->dec_held)
        conn_release(c, c->dec_held - cap);
    c->dec_held = cap;
}

/* A connection is freed once its handle is closed and no job or write still
 * points at it; whichever of those ends last frees it. */
static void conn_maybe_free(struct conn *c)
{
    if (!c->closed || c->ninflight > 0 || c->writes > 0)
        return;
    struct io_loop *l = c->loop;
    if (c->peer.rule != NULL)
        access_peer_close(c->id, &c->peer);
    codec_decoder_close(&c->dec);
    conn_sync_buffer(c);
    conn_release(c, sizeof(*c));
    list_remove(&c->node);
    atomic_fetch_sub_explicit(&l->nconns, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&l->srv->nconns, 1, memory_order_relaxed);
    free(c);
    l->conn_events->gone(l);
}

static void on_close(uv_handle_t *handle)
{
    struct conn *c = handle->data;
    c->closed = true;
    conn_maybe_free(c);
}

struct job *conn_job_new(struct conn *c, enum rpc_method method, uint32_t msgid)
{
    struct job *job = job_new(method, msgid);
    if (job) {
        job->conn = c;
        job->conn_id = c->id;
        job->loop = c->loop;
    }
    return job;
}

void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    c->reading = false;
    LIST_FOREACH (node, &c->inflight)
        atomic_store(&LIST_ITEM(node, struct job, inflight)->cancelled, true);
    c->loop->conn_events->closing(c);
    uv_close((uv_handle_t *)&c->pipe, on_close);
}

/* A draining connection closes as soon as nothing is owed to its client; so
 * does every connection once the daemon is shutting down. */
static void conn_check_drained(struct conn *c)
{
    if ((c->draining || c->loop->shutting_down) && c->ninflight == 0 &&
        c->writes == 0)
        conn_close(c);
}

void conn_shutdown(struct conn *c)
{
    conn_check_drained(c);
}

void conn_drain(struct conn *c)
{
    if (c->closing)
        return;
    c->draining = true;
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->pipe);
        c->reading = false;
    }
    conn_check_drained(c);
}

/* A write request is done: its holder job carries the chain of jobs whose
 * answers it wrote (job->next) and the memory held for them all. */
static void on_write(uv_write_t *req, int status)
{
    struct job *job = req->data;
    struct conn *c = job->conn;

    c->writes--;
    conn_release(c, job->mem_held);
    while (job) {
        struct job *next = job->next;
        job_free(job);
        job = next;
    }
    if (status < 0 && !c->closing) {
        log_debug("connection %p: write failed: %s", (void *)c,
                  uv_strerror(status));
        conn_close(c);
    }
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    conn_check_drained(c);
    conn_read_more(c);
}

static void free_chain(struct job *jobs)
{
    while (jobs) {
        struct job *next = jobs->next;
        job_free(jobs);
        jobs = next;
    }
}

/* Writes the answers of @jobs (@n of them, chained by job->next) in order;
 * @held is what @c holds for them (conn_send()). Most fit in the socket's
 * buffer: written at once, with one system call for them all, they need no
 * write request, whose completion would cost the loop another turn and an
 * epoll_ctl. What the socket did not take is queued with one write
 * request, held by the first job left (job->mem_held, until on_write());
 * the rest of @held is given back. */
static void conn_write(struct conn *c, struct job *jobs, unsigned n,
                       uint64_t held)
{
    uv_buf_t few[16], *bufs = few;
    unsigned i = 0;

    if (n > sizeof(few) / sizeof(*few) &&
        (bufs = malloc(n * sizeof(*bufs))) == NULL) {
        log_error("connection %p: out of memory writing answers", (void *)c);
        free_chain(jobs);
        conn_release(c, held);
        conn_close(c);
        return;
    }
    for (struct job *job = jobs; job; job = job->next)
        bufs[i++] = uv_buf_init(job->reply, (unsigned)job->reply_len);
    i = 0;
    if (c->writes == 0) { /* else they would pass answers still queued */
        int w = uv_try_write((uv_stream_t *)&c->pipe, bufs, n);
        size_t left = w > 0 ? (size_t)w : 0;
        while (i < n && left >= bufs[i].len) {
            left -= bufs[i].len;
            struct job *done = jobs;
            jobs = jobs->next;
            job_free(done);
            i++;
        }
        if (i < n) {
            bufs[i].base += left;
            bufs[i].len -= (unsigned)left;
        }
    }
    if (i < n) {
        struct job *holder = jobs;
        holder->write.data = holder;
        int rc = uv_write(&holder->write, (uv_stream_t *)&c->pipe, bufs + i,
                          n - i, on_write);
        if (rc < 0) {
            log_debug("connection %p: write: %s", (void *)c, uv_strerror(rc));
            free_chain(jobs);
            conn_close(c);
        } else {
            c->writes++;
            holder->mem_held = 0;
            for (struct job *job = jobs; job; job = job->next)
                holder->mem_held += CONN_JOB_OVERHEAD + job->reply_len;
            held -= holder->mem_held;
        }
    }
    if (held > 0)
        conn_release(c, held);
    if (bufs != few)
        free(bufs);
}

void conn_send(struct conn *c, struct job *job)
{
    if (c->closing || job->reply == NULL) {
        /* No reply means the worker ran out of memory encoding even an
         * error: the client would wait forever, so hang up instead. */
        if (job->reply == NULL && !c->closing && !atomic_load(&job->cancelled))
            conn_close(c);
        job_free(job);
        return;
    }
    metrics_add(&c->loop->metrics.bytes_out, job->reply_len);
    job->next = NULL;
    /* Counted in writes: the connection is neither drained nor freed with
     * an answer still to write; and held at once, so that the answers one
     * turn gathers count against the connection's share and the daemon's
     * total (conn_has_room()), which a flood of cheap requests would
     * otherwise outrun until the turn's end. */
    if (c->noutbox == 0)
        c->outbox_tail = &c->outbox;
    *c->outbox_tail = job;
    c->outbox_tail = &job->next;
    c->noutbox++;
    uint64_t cost = CONN_JOB_OVERHEAD + job->reply_len;
    c->outbox_held += cost;
    conn_hold(c, cost);
    c->writes++;
    if (!list_linked(&c->flush))
        list_add_tail(&c->loop->flush, &c->flush);
}

/* Writes the answers gathered in @c's outbox. */
static void conn_flush(struct conn *c)
{
    struct job *jobs = c->outbox;
    unsigned n = c->noutbox;
    uint64_t held = c->outbox_held;

    c->outbox = NULL;
    c->noutbox = 0;
    c->outbox_held = 0;
    c->writes -= n;
    if (c->closing) {
        free_chain(jobs);
        if (held > 0)
            conn_release(c, held);
        conn_maybe_free(c);
        return;
    }
    if (n > 0)
        conn_write(c, jobs, n, held);
    if (!c->closing)
        conn_check_drained(c);
    /* What the socket took is no longer held: the connection may have room
     * again, with no write completion to say so. */
    if (!c->closing)
        conn_read_more(c);
}

void conn_flush_all(struct io_loop *l)
{
    while (!list_empty(&l->flush)) {
        struct conn *c = LIST_ITEM(l->flush.next, struct conn, flush);
        list_remove(&c->flush);
        conn_flush(c);
    }
}

void conn_send_encoded(struct conn *c, struct codec_buf *b)
{
    struct job *job = conn_job_new(c, RPC_METHOD_COUNT, 0);
    if (job && b->error == CODEC_BUF_OK)
        job->reply = codec_buf_steal(b, &job->reply_len);
    if (job == NULL || job->reply == NULL) {
        job_free(job);
        conn_close(c);
        return;
    }
    conn_send(c, job);
}

void conn_send_error(struct conn *c, uint32_t msgid, int code,
                     const char *message)
{
    conn_send_error_at(c, msgid, code, message, -1);
}

void conn_send_error_at(struct conn *c, uint32_t msgid, int code,
                        const char *message, int64_t step)
{
    struct codec_buf b;
    codec_buf_init(&b, 0);
    rpc_pack_error_response_at(&b, msgid, code, message, step);
    conn_send_encoded(c, &b);
    codec_buf_close(&b);
}

void conn_send_notification(struct conn *c, int code, const char *message)
{
    struct codec_buf b;
    codec_buf_init(&b, 0);
    rpc_pack_error_notification(&b, code, message);
    conn_send_encoded(c, &b);
    codec_buf_close(&b);
}

void conn_track(struct conn *c, struct job *job)
{
    /* A fetch or close keeps its cursor busy until a reader is done with
     * it, so only its worker answers it; the daemon's own jobs have no
     * client waiting. */
    if (job->cursor == NULL && !job->internal)
        deadlines_add(&c->loop->deadlines, job);
    job->mem = &c->mem;
    job->mem_held = CONN_JOB_OVERHEAD + job->msg_len;
    conn_hold(c, job->mem_held);
    list_add_tail(&c->inflight, &job->inflight);
    c->ninflight++;
    atomic_fetch_add_explicit(&c->loop->inflight, 1, memory_order_relaxed);
}

void conn_submit(struct conn *c, struct job *job, enum route to)
{
    conn_track(c, job);
    conn_queue(c, job, to);
}

void conn_queue(struct conn *c, struct job *job, enum route to)
{
    struct server *s = c->srv;

    switch (to) {
    case ROUTE_READERS:
        readers_submit(&s->readers, job);
        break;
    case ROUTE_BACKUP:
        backup_submit(&s->backup, job);
        break;
    case ROUTE_WRITER:
    default: /* ROUTE_LOOP and ROUTE_HEALTH are not queues (dispatch.c) */
        writer_submit(&s->writer, job);
        break;
    }
}

void conn_complete(struct job *job)
{
    struct conn *c = job->conn;

    deadlines_remove(&c->loop->deadlines, job);
    /* What the worker added for the reply is held again below, if the
     * reply must wait to be written. */
    conn_release(c, job->mem_held + job->mem_built);
    job->mem = NULL;
    job->mem_held = job->mem_built = 0;
    list_remove(&job->inflight);
    c->ninflight--;
    atomic_fetch_sub_explicit(&c->loop->inflight, 1, memory_order_relaxed);

    if (c->closing) {
        job_free(job);
        conn_maybe_free(c);
        return;
    }
    if (job->internal || atomic_load(&job->state) == JOB_EXPIRED) {
        job_free(job); /* nobody waits for it, or it was answered */
    } else {
        metrics_reply(&c->loop->metrics, job->method, job->reply,
                      job->reply_len, job->started);
        reqlog_done(c->srv->cfg, job, c->id, c->peer.pid);
        conn_send(c, job);
    }
    if (!c->closing) {
        conn_check_drained(c);
        conn_read_more(c);
    }
}

/* Sends, from the loop thread, the answer @fill stores for @job, which the
 * loop took from the workers (job_expire()): the job itself stays in flight
 * until its worker hands it back. Returns false when the answer could not
 * be made (out of memory): the connection is closed then, since its client
 * would wait forever. */
static bool conn_answer_instead(struct conn *c, struct job *job,
                                void (*fill)(struct job *reply))
{
    struct job *reply = conn_job_new(c, RPC_METHOD_COUNT, job->msgid);
    if (reply) {
        reply->timeout_ms = job->timeout_ms;
        fill(reply);
    }
    if (reply == NULL || reply->reply == NULL) {
        job_free(reply);
        conn_close(c);
        return false;
    }
    conn_send(c, reply);
    return true;
}

static void fill_cancelled(struct job *reply)
{
    job_fail_cancelled(reply, false);
}

void conn_expire(struct job *job)
{
    struct conn *c = job->conn;
    if (c->closing || !job_expire(job))
        return; /* nobody waits, or a worker has it: the worker answers */
    bool busy = atomic_load(&job->waits_for_lock);
    if (!conn_answer_instead(c, job, busy ? job_fail_busy : job_fail_timeout))
        return;
    if (!busy)
        stats_add(&c->srv->stats.timeouts, 1);
    metrics_request(&c->loop->metrics, job->method,
                    busy ? SQLITE_BUSY : SQLITED_TIMEOUT, job->started);
}

/* Whether a request of method @m may be cancelled: a cursor's close ends
 * the cursor anyway, and a migration is left to finish what it began. */
static bool conn_cancellable(enum rpc_method m)
{
    return m != RPC_CLOSE && m != RPC_MIGRATE;
}

bool conn_cancel(struct conn *c, uint32_t msgid)
{
    bool found = false;

    LIST_FOREACH (node, &c->inflight) {
        struct job *job = LIST_ITEM(node, struct job, inflight);
        if (job->msgid != msgid || job->internal ||
            !conn_cancellable(job->method) ||
            atomic_load(&job->state) == JOB_EXPIRED)
            continue; /* not the client's, or answered already */
        found = true;
        /* A fetch keeps its cursor busy until its reader is done with it,
         * and a read-only transaction's commit or rollback ends it
         * whatever happens, so only their worker answers them
         * (conn_track()). */
        if (job->cursor == NULL && job_expire(job)) {
            /* It waited for a worker: answered now, it never runs. */
            if (!conn_answer_instead(c, job, fill_cancelled))
                return true;
            stats_add(&c->srv->stats.cancelled, 1);
            metrics_request(&c->loop->metrics, job->method, SQLITED_INTERRUPTED,
                            job->started);
        } else {
            /* A worker has it: it stops it, or answers it as it is. */
            atomic_store(&job->cancel_asked, true);
        }
    }
    return found;
}

/* Room for more requests: few enough in flight, and the connection within
 * its memory share (what it holds, answers gathered this turn included),
 * its read buffer aside (a large message being received was admitted whole
 * by conn_admit()). While the daemon is at --max-memory, only connections
 * that hold little (CONN_SMALL, answers gathered included) are read: each
 * takes the daemon past its limit by about that, and the answers of its
 * requests in flight (up to JOB_SMALL_REPLY each: larger ones are checked
 * against the limit as they are built). */
static bool conn_has_room(struct conn *c)
{
    struct server *s = c->srv;
    if (c->draining || c->closing || c->ninflight >= CONN_MAX_INFLIGHT ||
        memory_used(&c->mem) - c->dec_held >= s->conn_share)
        return false;
    if (memory_used(&s->mem) >= s->mem.max &&
        memory_used(&c->mem) > CONN_SMALL) {
        c->paused_for_memory = true;
        if (!atomic_load_explicit(&c->loop->memory_paused,
                                  memory_order_relaxed))
            atomic_store(&c->loop->memory_paused, true);
        return false;
    }
    return true;
}

/* The message being received declares what it needs: refuse it, before
 * it is buffered, when the connection or the daemon cannot hold it. The
 * read buffer grows by doubling, so it is counted as the power of two that
 * holds the message. Returns false after refusing (the connection then
 * drains and closes: the rest of the message cannot be skipped). */
static bool conn_admit(struct conn *c)
{
    struct server *s = c->srv;
    uint64_t need = codec_decoder_needed(&c->dec);
    if (need <= READ_SIZE)
        return true;
    uint64_t buffer = READ_SIZE;
    while (buffer < need)
        buffer *= 2;
    if (buffer > s->limits.max_message + READ_SIZE)
        buffer = s->limits.max_message + READ_SIZE;
    if (buffer <= c->dec_held)
        return true; /* admitted already */
    uint64_t more = buffer - c->dec_held;
    char size[32], limit[32], message[300];
    memory_format(need, size, sizeof(size));
    int code;
    if (memory_used(&c->mem) + more > c->mem.max) {
        memory_format(c->mem.max, limit, sizeof(limit));
        code = SQLITED_TOO_LARGE;
        snprintf(message, sizeof(message),
                 "a message of %s does not fit in this connection's memory "
                 "share (%s) beside what it holds: requests in flight and "
                 "answers its client has not read",
                 size, limit);
    } else if (memory_used(&s->mem) + more > s->mem.max) {
        memory_format(s->mem.max, limit, sizeof(limit));
        code = SQLITED_NO_MEMORY;
        snprintf(message, sizeof(message),
                 "a message of %s would take the daemon past its memory "
                 "limit (--max-memory, %s); try again later",
                 size, limit);
    } else {
        return true;
    }
    log_info("connection %p: %s", (void *)c, message);
    conn_send_notification(c, code, message);
    conn_drain(c);
    return false;
}

/* Dispatches the complete messages already buffered, as long as the
 * connection has room for more work. */
static void conn_process(struct conn *c)
{
    const char *msg;
    size_t len;

    while (conn_has_room(c)) {
        int status = codec_decoder_next(&c->dec, &msg, &len);
        if (status == CODEC_NEED_MORE) {
            if (!conn_admit(c))
                return;
            break;
        }
        if (status == CODEC_MESSAGE) {
            c->loop->conn_events->message(c, msg, len);
            continue;
        }
        /* The framing is lost: say why, then hang up once it is written. */
        log_info("connection %p: %s", (void *)c, codec_decoder_error(&c->dec));
        conn_send_notification(
            c, status == CODEC_TOO_LARGE ? SQLITED_TOO_LARGE : SQLITED_PROTOCOL,
            codec_decoder_error(&c->dec));
        conn_drain(c);
        return;
    }
    if (codec_decoder_pending(&c->dec) == 0) {
        codec_decoder_shrink(&c->dec, READ_SIZE);
        conn_sync_buffer(c);
    }
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct conn *c = handle->data;
    char *space;
    size_t n;
    (void)suggested;
    int rc = codec_decoder_reserve(&c->dec, READ_SIZE, &space, &n);
    conn_sync_buffer(c);
    if (rc != 0) {
        *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
        return;
    }
    *buf = uv_buf_init(space, (unsigned)n);
}

/* After end of stream: true when the client closed its socket, false when
 * it only shut down its write side (and still reads). The kernel tells the
 * two apart: a Unix socket whose peer is closed polls POLLHUP. */
static bool conn_peer_gone(struct conn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
        return false;
    struct pollfd p = {.fd = fd, .events = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *c = stream->data;
    (void)buf;

    if (nread > 0) {
        codec_decoder_commit(&c->dec, (size_t)nread);
        metrics_add(&c->loop->metrics.bytes_in, (uint64_t)nread);
        conn_process(c);
        if (c->reading && !conn_has_room(c)) {
            uv_read_stop(stream);
            c->reading = false;
        }
    } else if (nread == UV_EOF && conn_peer_gone(c)) {
        /* Nobody will read the answers: stop its work now rather than let
         * it hold a worker until its deadline. */
        log_debug("connection %p: client gone", (void *)c);
        conn_close(c);
    } else if (nread == UV_EOF) {
        /* The client will send nothing more, but may still be waiting for
         * answers (a shut-down write side): finish them, then close. Should
         * it close its socket meanwhile, the server's sweep notices. */
        c->half_closed = true;
        conn_drain(c);
        if (c->ninflight > 0)
            c->loop->conn_events->half_closed(c);
    } else if (nread < 0) {
        log_debug("connection %p: read: %s", (void *)c,
                  uv_strerror((int)nread));
        conn_close(c);
    }
}

/* Resumes reading when the connection has room again, first dispatching
 * messages that arrived while it was paused. */
static void conn_read_more(struct conn *c)
{
    if (c->reading || !conn_has_room(c))
        return;
    conn_process(c);
    if (!conn_has_room(c))
        return;
    int rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    if (rc < 0) {
        log_warn("connection %p: read: %s", (void *)c, uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->reading = true;
}

bool conn_check_gone(struct conn *c)
{
    if (!c->half_closed || c->closing || c->ninflight == 0)
        return false;
    if (conn_peer_gone(c)) {
        log_debug("connection %p: client gone", (void *)c);
        conn_close(c);
        return false;
    }
    return true;
}

void conn_resume(struct conn *c)
{
    c->paused_for_memory = false;
    if (!c->closing)
        conn_read_more(c);
}

/* Reads who the client is and what it may do (access.h); one that may
 * not connect is told why, then closed. Returns 0 or -1 (refused). */
static int conn_check_access(struct conn *c)
{
    char why[256];
    uv_os_fd_t fd = -1;
    uv_fileno((uv_handle_t *)&c->pipe, &fd);
    if (access_peer_open(fd, c->id, &c->peer, why, sizeof(why)) == 0)
        return 0;
    stats_add(&c->srv->stats.connections_refused, 1);
    conn_send_notification(c, SQLITE_AUTH, why);
    conn_drain(c);
    return -1;
}

void conn_open(struct io_loop *l, int fd)
{
    struct server *s = l->srv;
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_error("out of memory accepting a connection");
        close(fd);
        return;
    }
    c->srv = s;
    c->loop = l;
    c->id =
        atomic_fetch_add_explicit(&s->last_conn_id, 1, memory_order_relaxed) +
        1;
    memory_init(&c->mem, s->conn_share + s->limits.max_message, &s->mem, NULL);
    conn_hold(c, sizeof(*c));
    codec_decoder_init(&c->dec, &s->limits);
    uv_pipe_init(&l->uv, &c->pipe, 0);
    c->pipe.data = c;
    list_init(&c->inflight);
    list_init(&c->cursors);
    list_init(&c->flush);
    list_add_head(&l->conns, &c->node);
    atomic_fetch_add_explicit(&l->nconns, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->nconns, 1, memory_order_relaxed);

    int rc = uv_pipe_open(&c->pipe, fd);
    if (rc < 0) {
        log_warn("accept: %s", uv_strerror(rc));
        close(fd);
        conn_close(c);
        return;
    }
    unsigned max_connections = CONFIG_LIVE(s->cfg, max_connections);
    if (server_connections(s) > max_connections) {
        uv_os_fd_t pfd = -1;
        uv_fileno((uv_handle_t *)&c->pipe, &pfd);
        access_peer_read(pfd, &c->peer); /* and its close is logged */
        c->peer.level = ACCESS_NONE;
        c->peer.rule = "at --max-connections";
        log_warn("connection %" PRIu64 " refused: pid %ld uid %u gid %u: "
                 "%u clients are connected, the limit (--max-connections)",
                 c->id, (long)c->peer.pid, (unsigned)c->peer.uid,
                 (unsigned)c->peer.gid, max_connections);
        stats_add(&s->stats.connections_refused, 1);
        conn_send_notification(c, SQLITED_TOO_MANY_CONNECTIONS,
                               "the daemon is at its connection limit "
                               "(--max-connections); try again later");
        conn_drain(c);
        return;
    }
    log_debug("connection %p: accepted on I/O loop %u", (void *)c, l->index);
    if (l->shutting_down) {
        conn_shutdown(c); /* handed over just before the shutdown */
        return;
    }
    if (conn_check_access(c) != 0)
        return;
    conn_read_more(c);
}
