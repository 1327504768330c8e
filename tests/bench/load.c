/* Runs a workload's clients, each in a process of its own, and gathers what
 * they measured through shared memory. */
#include "bench.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct client_stats {
    struct hist hist;
    uint64_t ops, errors;
    int64_t end_ns;
    bool failed;
    char error[200];
};

/* The page the parent and its clients share. */
struct board {
    atomic_int ready; /* clients connected and waiting for the start */
    int64_t start_ns;
    struct client_stats clients[];
};

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

bool load_running(const struct client *c)
{
    return now_ns() < c->stop_ns;
}

void load_record(struct client *c, int64_t start_ns, bool ok)
{
    int64_t ns = now_ns() - start_ns;

    hist_record(&c->stats->hist, ns > 0 ? (uint64_t)ns : 0);
    if (ok)
        c->stats->ops++;
    else
        c->stats->errors++;
}

int load_fail(struct client *c, const char *fmt, ...)
{
    if (c->stats->error[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->stats->error, sizeof(c->stats->error), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int load_loop(struct client *c, client_op op)
{
    do {
        int64_t start = now_ns();
        int rc = op(c);
        if (rc < 0)
            return -1;
        load_record(c, start, rc == 0);
    } while (load_running(c));
    return 0;
}

/* xorshift64*: each client its own stream, the same in every run. */
uint64_t load_random(struct client *c, uint64_t below)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return (c->rng * 0x2545F4914F6CDD1DULL) % below;
}

/* The body of client @index: connects, waits for the start (the parent
 * closes @start_fd's other end), runs, and exits. */
static void client_main(const struct spec *s, const struct client_ops *ops,
                        struct board *board, int index, int start_fd)
{
    struct client c = {
        .spec = s,
        .index = index,
        .rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1),
        .stats = &board->clients[index],
    };
    char byte;
    int rc = ops->open(&c);

    atomic_fetch_add(&board->ready, 1);
    if (rc) {
        c.stats->failed = true;
        _exit(1);
    }
    while (read(start_fd, &byte, 1) < 0 && errno == EINTR)
        ;
    c.stop_ns = board->start_ns + (int64_t)(s->seconds * 1e9);
    rc = ops->run(&c);
    c.stats->end_ns = now_ns();
    c.stats->failed = rc != 0;
    ops->close(&c);
    _exit(rc ? 1 : 0);
}

/* Waits until every client is ready, or one of them has died. */
static int wait_ready(struct board *board, int n, const pid_t *pids)
{
    int64_t give_up = now_ns() + 60 * (int64_t)1000000000;

    while (atomic_load(&board->ready) < n) {
        for (int i = 0; i < n; i++) {
            int status;
            if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                board->clients[i].failed = true;
                return -1;
            }
        }
        if (now_ns() > give_up)
            return -1;
        usleep(1000);
    }
    for (int i = 0; i < n; i++)
        if (board->clients[i].failed)
            return -1;
    return 0;
}

/* Sums the clients' measurements into @r. */
static void gather(const struct spec *s, struct board *board, struct result *r)
{
    struct hist *all = calloc(1, sizeof(*all));
    int64_t end = board->start_ns;
    uint64_t per_op = spec_units_per_op(s);

    for (int i = 0; i < s->clients; i++) {
        struct client_stats *cs = &board->clients[i];
        if (all)
            hist_merge(all, &cs->hist);
        r->ops += cs->ops;
        r->errors += cs->errors;
        if (cs->end_ns > end)
            end = cs->end_ns;
        if (cs->error[0] && !r->error[0])
            snprintf(r->error, sizeof(r->error), "client %d: %s", i, cs->error);
    }
    r->units = r->ops * per_op;
    r->seconds = (double)(end - board->start_ns) / 1e9;
    r->per_second = r->seconds > 0 ? (double)r->units / r->seconds : 0;
    if (all) {
        r->p50_ns = hist_percentile(all, 0.50);
        r->p99_ns = hist_percentile(all, 0.99);
        r->p999_ns = hist_percentile(all, 0.999);
        r->max_ns = all->max_ns;
        free(all);
    }
}

int load_run(const struct spec *s, const struct client_ops *ops, pid_t server,
             struct result *r)
{
    size_t size =
        sizeof(struct board) + (size_t)s->clients * sizeof(struct client_stats);
    struct board *board = mmap(NULL, size, PROT_READ | PROT_WRITE,
                               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t *pids = calloc((size_t)s->clients, sizeof(*pids));
    int start[2] = {-1, -1}, rc = -1, started = 0;

    memset(r, 0, sizeof(*r));
    r->workload = s->workload;
    r->system = s->system;
    r->clients = s->clients;
    if (board == MAP_FAILED || !pids || pipe(start)) {
        snprintf(r->error, sizeof(r->error), "out of resources: %s",
                 strerror(errno));
        goto out;
    }
    fflush(NULL);
    for (; started < s->clients; started++) {
        pid_t pid = fork();
        if (pid < 0) {
            snprintf(r->error, sizeof(r->error), "fork: %s", strerror(errno));
            goto stop;
        }
        if (pid == 0) {
            close(start[1]);
            client_main(s, ops, board, started, start[0]);
        }
        pids[started] = pid;
    }
    close(start[0]);
    start[0] = -1;
    if (wait_ready(board, s->clients, pids)) {
        snprintf(r->error, sizeof(r->error), "a client could not start");
        goto stop;
    }
    if (server > 0) {
        r->rss_before_kib = rss_kib(server, false);
        rss_reset_peak(server);
        r->server_cpu = -cpu_seconds(server);
    }
    /* Closing the pipe wakes every client at once. */
    board->start_ns = now_ns();
    close(start[1]);
    start[1] = -1;
    rc = 0;

stop:
    if (rc) {
        for (int i = 0; i < started; i++)
            kill(pids[i], SIGKILL);
    }
    if (start[1] >= 0)
        close(start[1]);
    for (int i = 0; i < started; i++)
        while (waitpid(pids[i], NULL, 0) < 0 && errno == EINTR)
            ;
    if (server > 0 && rc == 0) {
        r->rss_peak_kib = rss_kib(server, true);
        r->server_cpu += cpu_seconds(server);
    }
    gather(s, board, r);
    if (rc && !r->error[0])
        snprintf(r->error, sizeof(r->error), "a client could not start");
out:
    if (start[0] >= 0)
        close(start[0]);
    if (board != MAP_FAILED)
        munmap(board, size);
    free(pids);
    return rc;
}
