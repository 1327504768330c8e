#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "access.h"
#include "checkpoint.h"
#include "clock.h"
#include "conn.h"
#include "crash.h"
#include "cursor.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "migrate.h"
#include "rpc.h"
#include "sqlited.h"
#include "watchdog.h"

/* Runs on the writer thread: the WAL is over its limit (checkpoint.h); loop
 * 0 finds the oldest snapshot holder at its next wake-up. */
static void on_wal_limit(void *arg, int64_t before)
{
    struct server *s = arg;
    atomic_store(&s->release_before, before);
    uv_async_send(&s->loops[0].wakeup);
}

static void on_handle_closed(uv_handle_t *handle)
{
    (void)handle;
}

/* Once shutting down and every loop is done with its connections, close
 * loop 0's own handles so that its uv_run returns. Its wake-up handle is
 * only unreferenced: a worker may still be about to signal it, so
 * loop_close() closes it after the threads are joined. */
static void server_maybe_finish(struct server *s)
{
    if (!atomic_load(&s->shutting_down) || atomic_load(&s->loops_busy) > 0 ||
        uv_is_closing((uv_handle_t *)&s->grace))
        return;
    uv_unref((uv_handle_t *)&s->loops[0].wakeup);
    watchdog_beat_stop(&s->loops[0].beat);
    uv_close((uv_handle_t *)&s->grace, on_handle_closed);
    uv_close((uv_handle_t *)&s->accept_pause, on_handle_closed);
    uv_close((uv_handle_t *)&s->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&s->sighup, on_handle_closed);
}

/* Loop 0: the WAL is over its limit (checkpoint.h): ends the oldest holder
 * of a snapshot taken before @before (clock.h), a cursor on any loop or a
 * read running on a reader, so that a checkpoint can complete. A cursor of
 * another loop is ended by that loop (loop_ask_release()). */
static void release_oldest_snapshot(struct server *s, int64_t before)
{
    static int64_t last_warned;
    struct io_loop *holder = NULL;
    int64_t opened = 0, read_started = 0;

    for (unsigned i = 0; i < s->nloops; i++) {
        int64_t at = atomic_load_explicit(&s->loops[i].oldest_cursor,
                                          memory_order_relaxed);
        if (at != 0 && at < before && (holder == NULL || at < opened)) {
            holder = &s->loops[i];
            opened = at;
        }
    }
    /* The loop's own connection (inline_read.h) is never a holder: it
     * resets every statement after each job, so it keeps no snapshot
     * between requests, and a read on it lasts at most --inline-budget.
     * A read that began a moment ago ends by itself within the writer's
     * wait; only one that has run longer is interrupted. */
    int reader = readers_oldest(
        &s->readers, before - CHECKPOINT_WAIT_MS * CLOCK_NS_PER_MS / 2,
        &read_started);
    if (reader >= 0 && (holder == NULL || read_started < opened)) {
        log_warn("the WAL passed --wal-max-bytes (%lld bytes): interrupting "
                 "the oldest read, running for %lld ms",
                 (long long)s->cfg->wal_max_bytes,
                 (long long)((clock_now() - read_started) / CLOCK_NS_PER_MS));
        stats_add(&s->stats.snapshots_released, 1);
        readers_release(&s->readers, (unsigned)reader, before);
        return;
    }
    if (holder != NULL) {
        if (holder->index == 0)
            cursor_release_on(holder, before);
        else
            loop_ask_release(holder, before);
        return;
    }
    int64_t now = clock_now();
    if (now - last_warned > 60 * INT64_C(1000000000)) {
        last_warned = now;
        log_warn("the WAL passed --wal-max-bytes (%lld bytes) and no cursor "
                 "or read of this daemon holds an old snapshot: another "
                 "process reading the database keeps it from being "
                 "checkpointed",
                 (long long)s->cfg->wal_max_bytes);
    }
}

/* Loop @l finished shutting down (loop_events). */
static void on_loop_finished(struct server *s, struct io_loop *l)
{
    atomic_fetch_sub(&s->loops_busy, 1);
    if (l->index == 0)
        server_maybe_finish(s);
    else
        uv_async_send(&s->loops[0].wakeup);
}

/* Loop 0 woke up (loop_events): the daemon's own asks. */
static void on_wakeup(struct server *s)
{
    int64_t before = atomic_exchange(&s->release_before, 0);
    if (before != 0)
        release_oldest_snapshot(s, before);
    server_maybe_finish(s);
}

/* Interrupts what still runs: a second signal, or the grace period over. */
static void server_stop_work(struct server *s)
{
    atomic_store(&s->stop, true);
    writer_wake(&s->writer);
}

/* The grace period ends in two steps: first running statements are
 * interrupted, so their clients learn why; a second later connections whose
 * clients still do not read their answers are closed, on every loop. */
static void on_grace_over(uv_timer_t *timer)
{
    struct server *s = timer->data;
    if (!atomic_load(&s->stop)) {
        log_warn("shutdown grace period over: interrupting work in flight");
        server_stop_work(s);
        uv_timer_start(&s->grace, on_grace_over, 1000, 0);
        return;
    }
    loop_close_all(&s->loops[0]);
    for (unsigned i = 1; i < s->nloops; i++)
        loop_ask_close_all(&s->loops[i]);
}

/* Removes the socket file we bound, but only while its path still names
 * that very socket: after an operator removed it and started a second
 * daemon on the same path, the path names the other daemon's socket. */
static void release_socket(struct server *s)
{
    struct stat st;
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        s->listen_fd = -1;
    }
    if (!s->owns_socket)
        return;
    if (lstat(s->cfg->socket, &st) != 0) {
        if (errno != ENOENT)
            log_warn("cannot check %s: %s", s->cfg->socket, strerror(errno));
        return;
    }
    if (!S_ISSOCK(st.st_mode) || st.st_dev != s->socket_dev ||
        st.st_ino != s->socket_ino) {
        log_warn("%s is no longer the socket this daemon bound (another "
                 "daemon's, or replaced): leaving it in place",
                 s->cfg->socket);
        return;
    }
    if (unlink(s->cfg->socket) != 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", s->cfg->socket, strerror(errno));
}

static void on_listener_closed(uv_handle_t *handle)
{
    release_socket(handle->data);
}

/* SIGHUP: reopen the log file (after log rotation), and read the
 * configuration again, applying what may change while the daemon runs; it
 * no longer ends the daemon, as its default action did. */
static void on_sighup(uv_signal_t *handle, int signum)
{
    struct server *s = handle->data;
    (void)signum;
    log_reopen();
    /* main()'s configuration, which only this changes (config_reload()). */
    if (config_reload((struct config *)s->cfg) >= 0) {
        log_set_level(s->cfg->log_level);
        access_load(s->cfg);
        backup_reschedule(&s->backup);
    }
}

/* Stops accepting, lets work in flight on every loop finish and its
 * replies go out, then closes. */
static void server_shutdown(struct server *s)
{
    char why[256];

    sd_notify(0, "STOPPING=1");
    /* Start-up migrations still running (or waiting for a lock another
     * process holds) would hold the exit up: they are interrupted, rolled
     * back whole, and run again at the next start. */
    if (migrate_progress(&s->writer.migration, why, sizeof(why)) != NULL) {
        log_warn("interrupting the start-up migrations (%s)", why);
        server_stop_work(s);
    }
    http_shutdown(s->http);
    atomic_store(&s->shutting_down, true);
    uv_timer_stop(&s->accept_pause);
    if (s->listening)
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    s->listening = false;
    uv_timer_start(&s->grace, on_grace_over, s->cfg->shutdown_grace_ms, 0);
    for (unsigned i = 1; i < s->nloops; i++)
        loop_ask_shutdown(&s->loops[i]);
    loop_shutdown(&s->loops[0]);
    server_maybe_finish(s);
}

/* First signal: shut down. A second signal, or the grace period running
 * out, interrupts what still runs. */
static void on_signal(uv_signal_t *handle, int signum)
{
    struct server *s = handle->data;

    if (atomic_load(&s->shutting_down)) {
        log_warn("%s again: interrupting work in flight", strsignal(signum));
        server_stop_work(s);
        return;
    }
    log_info("%s: shutting down", strsignal(signum));
    server_shutdown(s);
}

/* Serving, with the schema at its latest version: tell systemd. */
static void server_ready(struct server *s)
{
    log_info("ready: database %s, socket %s, %u I/O threads; connect with: "
             "sqlited-cli -s %s \"select sqlite_version()\"",
             s->cfg->database, s->cfg->socket, s->nloops, s->cfg->socket);
    sd_notifyf(0, "READY=1\nSTATUS=serving %s on %s\nMAINPID=%lu",
               s->cfg->database, s->cfg->socket, (unsigned long)getpid());
}

/* The writer is done with the start-up migrations (migrate_startup_job()):
 * the daemon is ready, or, when one failed, tells its clients why (each
 * loop its own, loop_shutdown()) and exits with status 1. A failure after a
 * signal asked for shutdown (which interrupts them) only stops the daemon
 * as asked. */
static void on_migrations_done(struct server *s, struct job *job)
{
    char err[1100];

    if (migrate_startup_done(&s->writer.migration, job, err, sizeof(err)) ==
        0) {
        if (!atomic_load(&s->shutting_down))
            server_ready(s);
        return;
    }
    if (atomic_load(&s->shutting_down)) {
        log_warn("the start-up migrations did not finish: %s", err);
        return;
    }
    log_error("%s", err);
    snprintf(s->failed_why, sizeof(s->failed_why),
             "the start-up migrations failed, so the daemon exits: %s", err);
    s->failed = true;
    server_shutdown(s);
}

static void on_acceptable(uv_poll_t *poll, int status, int events);

static void on_accept_pause_over(uv_timer_t *timer)
{
    struct server *s = timer->data;
    if (s->listening)
        uv_poll_start(&s->listener, UV_READABLE, on_acceptable);
}

/* Accepts the connections waiting on the listener and hands each to the
 * next loop in turn (round robin). Loop 0 accepts them all: one accept
 * point keeps the spreading even and simple (loops that each accepted on
 * a shared socket would race for every connection, and the busiest would
 * win), and handing a descriptor over costs one uv_async_send. */
static void on_acceptable(uv_poll_t *poll, int status, int events)
{
    struct server *s = poll->data;
    (void)events;

    if (status < 0) {
        log_warn("listen: %s", uv_strerror(status));
        return;
    }
    /* A bounded batch, so that a flood of connections cannot keep loop 0
     * from its own clients. */
    for (int n = 0; n < 64; n++) {
        int fd =
            accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            /* Out of descriptors or memory: the pending connection stays
             * readable, so stop watching for a moment rather than spin. */
            log_warn("accept: %s; accepting again in 100 ms", strerror(errno));
            uv_poll_stop(&s->listener);
            uv_timer_start(&s->accept_pause, on_accept_pause_over, 100, 0);
            return;
        }
        struct io_loop *l = &s->loops[s->next_loop];
        s->next_loop = (s->next_loop + 1) % s->nloops;
        if (l->index == 0)
            conn_open(l, fd);
        else
            loop_give_fd(l, fd);
    }
}

/* Creates the missing directories above @path (like mkdir -p on dirname). */
static int make_parent_dirs(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -1;
    for (char *p = copy + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    free(copy);
    return 0;
}

/* Deals with a file already at the socket path: another daemon's live
 * socket (refuse), a stale one left by a crash (remove), or something else
 * (refuse, never delete what is not ours). */
static int clear_socket_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISSOCK(st.st_mode)) {
        log_error("%s exists and is not a socket; not touching it", path);
        return -1;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    close(fd);
    if (rc == 0) {
        log_error("another daemon is already listening on %s", path);
        return -1;
    }
    if (err != ECONNREFUSED) {
        log_error("cannot probe %s: %s", path, strerror(err));
        return -1;
    }
    log_info("removing stale socket %s", path);
    return unlink(path);
}

/* A new Unix stream socket bound to @path, with permissions no wider than
 * @mode. Returns its fd, or a negated errno. */
static int bind_socket(const char *path, mode_t mode)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    mode_t old = umask(0777 & ~mode);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    int err = errno;
    umask(old);
    if (rc != 0) {
        close(fd);
        return -err;
    }
    return fd;
}

static int listen_socket(struct server *s)
{
    const struct config *cfg = s->cfg;
    int rc;

    /* Socket activation: systemd bound the socket and passes it as fd 3. */
    int n = sd_listen_fds(1);
    if (n > 1) {
        log_error("systemd passed %d sockets; sqlited takes exactly one", n);
        return -1;
    }
    if (n == 1) {
        s->listen_fd = SD_LISTEN_FDS_START;
        int flags = fcntl(s->listen_fd, F_GETFL);
        if (flags < 0 ||
            fcntl(s->listen_fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
            fcntl(s->listen_fd, F_SETFD, FD_CLOEXEC) != 0) {
            log_error("cannot use the socket from systemd: %s",
                      strerror(errno));
            return -1;
        }
    } else {
        if (strlen(cfg->socket) >=
            sizeof(((struct sockaddr_un *)0)->sun_path)) {
            log_error("socket path %s is too long", cfg->socket);
            return -1;
        }
        if (make_parent_dirs(cfg->socket) != 0 ||
            clear_socket_path(cfg->socket) != 0) {
            if (errno)
                log_error("cannot prepare %s: %s", cfg->socket,
                          strerror(errno));
            return -1;
        }
        /* Bind under a umask that leaves no wider access than asked for,
         * even for the instant before the chmod. Bound here rather than
         * with uv_pipe_bind(): libuv would unlink the path when the handle
         * closes, whatever the path names by then. */
        if ((rc = bind_socket(cfg->socket, cfg->socket_mode)) < 0) {
            log_error("cannot bind %s: %s", cfg->socket, strerror(-rc));
            return -1;
        }
        s->listen_fd = rc;
        struct stat st;
        if (lstat(cfg->socket, &st) != 0) {
            log_error("cannot stat %s: %s", cfg->socket, strerror(errno));
            return -1;
        }
        s->socket_dev = st.st_dev;
        s->socket_ino = st.st_ino;
        s->owns_socket = true;
        if (chmod(cfg->socket, cfg->socket_mode) != 0) {
            log_error("cannot chmod %s: %s", cfg->socket, strerror(errno));
            return -1;
        }
    }
    if (listen(s->listen_fd, 511) != 0) {
        log_error("cannot listen on %s: %s", cfg->socket, strerror(errno));
        return -1;
    }
    if ((rc = uv_poll_init(&s->loops[0].uv, &s->listener, s->listen_fd)) < 0) {
        log_error("cannot watch %s: %s", cfg->socket, uv_strerror(rc));
        return -1;
    }
    s->listener.data = s;
    s->listening = true;
    uv_poll_start(&s->listener, UV_READABLE, on_acceptable);
    return 0;
}

/* Runs on a worker thread: hand the finished job to its loop. */
static void on_job_done(struct job *job, void *arg)
{
    (void)arg;
    loop_job_done(job);
}

/* What the loops tell the server. */
static const struct loop_events loop_events = {
    .wakeup = on_wakeup,
    .job_done = on_migrations_done,
    .finished = on_loop_finished,
};

int server_init(struct server *s, const struct config *cfg)
{
    char err[1024];

    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    s->db_lock = -1;
    s->listen_fd = -1;
    s->limits = (struct codec_limits){
        .max_message = cfg->max_message_size,
        .max_depth = RPC_MAX_DEPTH,
        .max_items = RPC_MAX_ITEMS,
    };
    atomic_init(&s->stop, false);
    atomic_init(&s->shutting_down, false);
    atomic_init(&s->release_before, 0);
    atomic_init(&s->nconns, 0);
    atomic_init(&s->last_conn_id, 0);
    s->started = clock_now();
    s->http = calloc(1, sizeof(*s->http));
    if (s->http == NULL) {
        log_error("out of memory");
        return -1;
    }
    memory_init(&s->mem, cfg->max_memory, NULL, &s->stats.memory_bytes);
    s->conn_share = cfg->max_memory / 16;
    if (s->conn_share < CONN_SMALL)
        s->conn_share = CONN_SMALL;
    /* Known before the loops run, so that no loop has to ask SQLite
     * anything. */
    s->sqlite_version = sqlite3_libversion();
    if (access_load(cfg) != 0)
        return -1;
    s->loops = calloc(cfg->io_threads, sizeof(*s->loops));
    if (s->loops == NULL) {
        log_error("out of memory");
        return -1;
    }
    for (; s->nloops < cfg->io_threads; s->nloops++)
        if (loop_init(&s->loops[s->nloops], s, s->nloops, &loop_events) != 0)
            return -1;
    atomic_init(&s->loops_busy, s->nloops);
    uv_loop_t *main_loop = &s->loops[0].uv;
    uv_timer_init(main_loop, &s->accept_pause);
    s->accept_pause.data = s;
    uv_unref((uv_handle_t *)&s->accept_pause);
    uv_timer_init(main_loop, &s->grace);
    s->grace.data = s;
    uv_signal_init(main_loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_init(main_loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_init(main_loop, &s->sighup);
    s->sighup.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_start(&s->sighup, on_sighup, SIGHUP);
    /* The database's lock first: a second daemon started by mistake on the
     * same file, whatever its socket, stops here, before it binds a socket
     * or opens the database the first one serves. */
    if (!cfg->read_only && make_parent_dirs(cfg->database) != 0) {
        log_error("cannot create the directory of %s: %s", cfg->database,
                  strerror(errno));
        return -1;
    }
    if (db_claim(cfg, &s->db_lock, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return -1;
    }
    if (listen_socket(s) != 0)
        return -1;
    /* Before the writer starts, so that it finds the watchdog on. */
    if (watchdog_start() != 0)
        return -1;
    for (unsigned i = 0; i < s->nloops; i++)
        loop_watch(&s->loops[i]);
    /* Asynchronous signals are loop 0's business: the worker threads
     * start with them blocked (they inherit this thread's mask), so SIGTERM
     * always reaches the main thread and never interrupts a worker's disk
     * I/O. A fault (SIGSEGV, SIGBUS, ...) stays unblocked: it must reach the
     * crash handler of the thread that faulted (crash.h). */
    sigset_t all, old;
    crash_async_signals(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = writer_start(&s->writer, cfg, &s->stop, &s->stats, on_job_done, s,
                          on_wal_limit, err, sizeof(err));
    if (rc == 0)
        rc = readers_start(&s->readers, cfg, &s->writer, &s->stop, &s->stats,
                           on_job_done, s, err, sizeof(err));
    for (unsigned i = 0; rc == 0 && i < s->nloops; i++)
        rc = inline_read_init(&s->loops[i].inline_reader, cfg, &s->stop,
                              &s->stats, err, sizeof(err));
    if (rc == 0)
        rc = backup_start(&s->backup, cfg, &s->stop, &s->stats, on_job_done, s,
                          err, sizeof(err));
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("%s", err);
        return -1;
    }
    /* Pending migrations are the writer's first job, ahead of every
     * client's: until they are applied the daemon answers only what tells
     * an operator it is migrating (dispatch.c, health.c), and does not
     * report ready (on_migrations_done()). The job comes back to loop 0. */
    if (cfg->migrations) {
        struct job *job = migrate_startup_job(&s->writer.migration);
        if (job == NULL) {
            log_error("out of memory");
            return -1;
        }
        job->loop = &s->loops[0];
        writer_submit(&s->writer, job);
    }
    /* Last: its threads ask loop 0, which runs once all is started. */
    if (cfg->http && http_start(s->http, s, cfg->http) != 0)
        return -1;
    return 0;
}

int server_run(struct server *s)
{
    for (unsigned i = 1; i < s->nloops; i++)
        if (loop_start(&s->loops[i]) != 0)
            return 1;
    if (s->cfg->migrations)
        log_info("serving %s: applying the migrations of %s first; ready "
                 "once they are",
                 s->cfg->socket, s->cfg->migrations);
    else
        server_ready(s);
    return loop_run(&s->loops[0]) == 0 && !s->failed ? 0 : 1;
}

void server_close(struct server *s)
{
    watchdog_stop();
    /* The loops end once their connections are gone: after a failed start
     * (a loop thread that did not start), tell the others to stop. */
    if (!atomic_load(&s->shutting_down)) {
        atomic_store(&s->shutting_down, true);
        for (unsigned i = 1; i < s->nloops; i++)
            if (s->loops[i].thread_started)
                loop_ask_shutdown(&s->loops[i]);
    }
    for (unsigned i = 1; i < s->nloops; i++)
        loop_join(&s->loops[i]);
    if (s->http) {
        http_stop(s->http);
        free(s->http);
        s->http = NULL;
    }
    backup_stop(&s->backup);
    access_close();
    for (unsigned i = 0; i < s->nloops; i++)
        inline_read_close(&s->loops[i].inline_reader);
    readers_stop(&s->readers);
    writer_stop(&s->writer);
    /* Now no worker can signal any more. The listener, after a failed
     * start, closes first, with its own callback (it removes the socket
     * file); each loop then closes everything else it holds. */
    if (s->listening) {
        uv_close((uv_handle_t *)&s->listener, on_listener_closed);
        s->listening = false;
    } else if (s->listen_fd >= 0) {
        release_socket(s);
    }
    for (unsigned i = 0; i < s->nloops; i++)
        loop_close(&s->loops[i]);
    free(s->loops);
    s->loops = NULL;
    s->nloops = 0;
    /* Only now, with every connection to the database closed. */
    db_release(s->db_lock);
    s->db_lock = -1;
}
