#include "loop.h"

#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "conn.h"
#include "crash.h"
#include "cursor.h"
#include "dispatch.h"
#include "health.h"
#include "log.h"
#include "sqlited.h"

/* ------------------------------------------------------------ wake-ups */

static void take_fds(struct io_loop *l)
{
    int *fds;
    unsigned n;

    pthread_mutex_lock(&l->mutex);
    fds = l->fds;
    n = l->nfds;
    l->fds = NULL;
    l->nfds = l->fds_cap = 0;
    pthread_mutex_unlock(&l->mutex);
    for (unsigned i = 0; i < n; i++)
        conn_open(l, fds[i]);
    free(fds);
}

static void on_resume(uv_timer_t *timer);

static void resume_soon(struct io_loop *l)
{
    if (!uv_is_active((uv_handle_t *)&l->resume) &&
        !uv_is_closing((uv_handle_t *)&l->resume))
        uv_timer_start(&l->resume, on_resume, 0, 0);
}

/* uv_async_send coalesces: one wake-up may stand for many jobs and asks,
 * so each is looked at every time. */
static void on_wakeup(uv_async_t *async)
{
    struct io_loop *l = async->data;

    take_fds(l);
    if (atomic_exchange(&l->ask_shutdown, false))
        loop_shutdown(l);
    if (atomic_exchange(&l->ask_close_all, false))
        loop_close_all(l);
    if (atomic_exchange(&l->ask_resume, false))
        resume_soon(l);
    int64_t before = atomic_exchange(&l->ask_release, 0);
    if (before != 0)
        cursor_release_on(l, before);
    if (l->index == 0)
        l->events->wakeup(l->srv); /* the daemon's own asks */
    struct job *job = job_queue_take_all(&l->done);
    while (job) {
        struct job *next = job->next;
        if (job->probe)
            health_job_done(job);
        else if (job->conn == NULL)
            l->events->job_done(l->srv, job); /* of no client's: loop 0 */
        else
            dispatch_job_done(job);
        job = next;
    }
}

/* Runs once per turn of the loop, before it waits for events: writes the
 * answers the turn gathered (conn_flush_all()). */
static void on_turn_end(uv_prepare_t *prepare)
{
    conn_flush_all(prepare->data);
}

void loop_job_done(struct job *job)
{
    struct io_loop *l = job->loop;
    job_queue_push(&l->done, job);
    uv_async_send(&l->wakeup);
}

void loop_give_fd(struct io_loop *l, int fd)
{
    pthread_mutex_lock(&l->mutex);
    if (l->nfds == l->fds_cap) {
        unsigned cap = l->fds_cap ? 2 * l->fds_cap : 16;
        int *fds = realloc(l->fds, cap * sizeof(*fds));
        if (fds == NULL) {
            pthread_mutex_unlock(&l->mutex);
            log_error("out of memory handing over a connection");
            close(fd);
            return;
        }
        l->fds = fds;
        l->fds_cap = cap;
    }
    l->fds[l->nfds++] = fd;
    pthread_mutex_unlock(&l->mutex);
    uv_async_send(&l->wakeup);
}

void loop_ask_shutdown(struct io_loop *l)
{
    atomic_store(&l->ask_shutdown, true);
    uv_async_send(&l->wakeup);
}

void loop_ask_close_all(struct io_loop *l)
{
    atomic_store(&l->ask_close_all, true);
    uv_async_send(&l->wakeup);
}

void loop_ask_release(struct io_loop *l, int64_t before)
{
    atomic_store(&l->ask_release, before);
    uv_async_send(&l->wakeup);
}

/* ------------------------------------------------------------ memory */

static void on_resume(uv_timer_t *timer)
{
    struct io_loop *l = timer->data;
    atomic_store(&l->memory_paused, false);
    LIST_FOREACH (node, &l->conns) {
        struct conn *c = LIST_ITEM(node, struct conn, node);
        if (c->paused_for_memory)
            conn_resume(c);
    }
}

/* A connection gave memory back: connections paused for want of it, on
 * any loop, are read again soon if the daemon is back under its limit. */
static void on_memory_released(struct conn *c)
{
    struct io_loop *l = c->loop;
    struct server *s = l->srv;
    if (memory_used(&s->mem) >= s->mem.max)
        return;
    for (unsigned i = 0; i < s->nloops; i++) {
        struct io_loop *other = &s->loops[i];
        if (!atomic_load_explicit(&other->memory_paused, memory_order_relaxed))
            continue;
        if (other == l)
            resume_soon(l);
        else if (!atomic_load_explicit(&other->ask_resume,
                                       memory_order_relaxed)) {
            atomic_store(&other->ask_resume, true);
            uv_async_send(&other->wakeup);
        }
    }
}

/* ------------------------------------------------------------ half closed */

static void on_sweep(uv_timer_t *timer)
{
    struct io_loop *l = timer->data;
    bool watching = false;
    LIST_FOREACH (node, &l->conns) {
        if (conn_check_gone(LIST_ITEM(node, struct conn, node)))
            watching = true;
    }
    if (!watching)
        uv_timer_stop(&l->sweep);
}

/* A half-closed connection has work in flight: look every second whether
 * its client closed its socket since. */
static void on_half_closed(struct conn *c)
{
    struct io_loop *l = c->loop;
    if (!uv_is_active((uv_handle_t *)&l->sweep) &&
        !uv_is_closing((uv_handle_t *)&l->sweep))
        uv_timer_start(&l->sweep, on_sweep, 1000, 1000);
}

/* ------------------------------------------------------------ shutdown */

/* Shutting down and no connection left: the loop's part is done. A loop
 * other than 0 lets its uv_run return (its thread then ends); loop 0 stays
 * for the daemon's own handles until every loop is done (server.c). */
static void loop_maybe_finish(struct io_loop *l)
{
    if (!l->shutting_down || l->finished || !list_empty(&l->conns))
        return;
    l->finished = true;
    if (l->index != 0) { /* loop 0 keeps the daemon's handles a while */
        uv_unref((uv_handle_t *)&l->wakeup);
        watchdog_beat_stop(&l->beat);
    }
    l->events->finished(l->srv, l);
}

/* A connection of @l was freed (and left its list). */
static void on_conn_gone(struct io_loop *l)
{
    loop_maybe_finish(l);
}

/* What the connections tell: their messages and their end go to dispatch,
 * which owns what they hold above the socket; memory and half-closed
 * sockets to the loop, which watches over all of its connections. */
static const struct conn_events conn_events = {
    .message = dispatch_message,
    .closing = dispatch_conn_closing,
    .released = on_memory_released,
    .half_closed = on_half_closed,
    .gone = on_conn_gone,
};

void loop_shutdown(struct io_loop *l)
{
    if (l->shutting_down)
        return;
    l->shutting_down = true;
    /* The start-up migrations failed: every client learns why. */
    if (l->srv->failed_why[0] != '\0') {
        LIST_FOREACH (node, &l->conns)
            conn_send_notification(LIST_ITEM(node, struct conn, node),
                                   SQLITED_NOT_READY, l->srv->failed_why);
    }
    LIST_FOREACH (node, &l->conns)
        conn_shutdown(LIST_ITEM(node, struct conn, node)); /* may free it */
    loop_maybe_finish(l);
}

void loop_close_all(struct io_loop *l)
{
    LIST_FOREACH (node, &l->conns)
        conn_close(LIST_ITEM(node, struct conn, node));
}

/* ------------------------------------------------------------ lifecycle */

int loop_init(struct io_loop *l, struct server *s, unsigned index,
              const struct loop_events *events)
{
    *l = (struct io_loop){.srv = s,
                          .index = index,
                          .events = events,
                          .conn_events = &conn_events};
    list_init(&l->conns);
    list_init(&l->cursors);
    list_init(&l->flush);
    atomic_init(&l->ask_shutdown, false);
    atomic_init(&l->ask_close_all, false);
    atomic_init(&l->ask_resume, false);
    atomic_init(&l->ask_release, 0);
    atomic_init(&l->memory_paused, false);
    atomic_init(&l->nconns, 0);
    atomic_init(&l->inflight, 0);
    atomic_init(&l->oldest_cursor, 0);
    metrics_init(&l->metrics);
    if (uv_loop_init(&l->uv) != 0)
        goto fail;
    if (job_queue_init(&l->done) != 0) {
        uv_loop_close(&l->uv);
        goto fail;
    }
    pthread_mutex_init(&l->mutex, NULL);
    l->initialized = true;
    uv_async_init(&l->uv, &l->wakeup, on_wakeup);
    l->wakeup.data = l;
    deadlines_init(&l->deadlines, &l->uv, conn_expire);
    uv_timer_init(&l->uv, &l->sweep);
    l->sweep.data = l;
    uv_unref((uv_handle_t *)&l->sweep);
    uv_timer_init(&l->uv, &l->resume);
    l->resume.data = l;
    uv_unref((uv_handle_t *)&l->resume);
    uv_prepare_init(&l->uv, &l->turn_end);
    l->turn_end.data = l;
    uv_prepare_start(&l->turn_end, on_turn_end);
    uv_unref((uv_handle_t *)&l->turn_end);
    return 0;
fail:
    log_error("cannot create I/O loop %u", index);
    return -1;
}

struct start {
    struct io_loop *l;
    sem_t started;
};

void loop_watch(struct io_loop *l)
{
    char name[32];
    snprintf(name, sizeof(name), "I/O loop %u", l->index);
    watchdog_beat_start(&l->beat, &l->uv, name);
}

static void *loop_main(void *arg)
{
    struct start *start = arg;
    struct io_loop *l = start->l;
    char name[16];
    snprintf(name, sizeof(name), "sqlited-loop-%u", l->index % 100);
    crash_thread_init(name);
    /* The thread's first allocation gives it its own malloc arena, which
     * reserves 64 MiB of address space: done now, before the daemon says it
     * is ready, rather than at its first client's request. */
    void *volatile first = malloc(1); /* volatile: not optimised away */
    free(first);
    sem_post(&start->started);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    return NULL;
}

int loop_start(struct io_loop *l)
{
    struct start start = {.l = l};
    sigset_t all, old;

    if (sem_init(&start.started, 0, 0) != 0) {
        log_error("cannot start the thread of I/O loop %u", l->index);
        return -1;
    }
    crash_async_signals(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&l->thread, NULL, loop_main, &start);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        while (sem_wait(&start.started) != 0)
            ; /* EINTR */
    }
    sem_destroy(&start.started);
    if (rc != 0) {
        log_error("cannot start the thread of I/O loop %u", l->index);
        return -1;
    }
    l->thread_started = true;
    return 0;
}

int loop_run(struct io_loop *l)
{
    return uv_run(&l->uv, UV_RUN_DEFAULT);
}

void loop_join(struct io_loop *l)
{
    if (l->thread_started) {
        pthread_join(l->thread, NULL);
        l->thread_started = false;
    }
}

static void on_closed(uv_handle_t *handle)
{
    (void)handle;
}

static void close_any(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle))
        uv_close(handle, on_closed);
}

void loop_close(struct io_loop *l)
{
    if (!l->initialized)
        return;
    deadlines_close(&l->deadlines);
    /* After a failed start, or for the daemon's own handles on loop 0,
     * whatever is still open closes here (server_close() closed its own
     * first, with their own callbacks). */
    uv_walk(&l->uv, close_any, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    /* Replies of jobs finished after their connection went are dropped. */
    struct job *job = job_queue_take_all(&l->done);
    while (job) {
        struct job *next = job->next;
        if (job->probe)
            health_job_done(job);
        else
            job_free(job);
        job = next;
    }
    job_queue_close(&l->done);
    for (unsigned i = 0; i < l->nfds; i++)
        close(l->fds[i]);
    free(l->fds);
    pthread_mutex_destroy(&l->mutex);
    int rc = uv_loop_close(&l->uv);
    if (rc != 0)
        log_error("I/O loop %u not clean at exit: %s", l->index,
                  uv_strerror(rc));
    l->initialized = false;
}
