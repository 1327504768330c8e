#include "cursor.h"

#include <stdlib.h>

#include "conn.h"
#include "log.h"
#include "server.h"

static void on_idle(uv_timer_t *timer)
{
    cursor_end(timer->data, NULL, true);
}

static void start_idle(struct cursor *cur)
{
    struct server *s = cur->conn->srv;
    uv_timer_start(&cur->idle, on_idle, s->cfg->cursor_idle_timeout_ms, 0);
}

void cursor_register(struct conn *c, struct cursor *cur)
{
    cur->conn = c;
    uv_timer_init(&c->srv->loop, &cur->idle);
    cur->idle.data = cur;
    cur->next = c->cursors;
    c->cursors = cur; /* counted in c->ncursors since its query was sent */
    if (c->closing)
        cursor_end(cur, NULL, false);
    else
        start_idle(cur);
}

struct cursor *cursor_find(struct conn *c, uint64_t id)
{
    struct cursor *cur = c->cursors;
    while (cur && cur->id != id)
        cur = cur->next;
    return cur;
}

static void unlink_cursor(struct cursor *cur)
{
    struct cursor **link = &cur->conn->cursors;
    while (*link && *link != cur)
        link = &(*link)->next;
    if (*link) {
        *link = cur->next;
        cur->conn->ncursors--;
    }
    cur->next = NULL;
}

void cursor_end(struct cursor *cur, struct job *job, bool expired)
{
    struct conn *c = cur->conn;

    unlink_cursor(cur);
    uv_timer_stop(&cur->idle);
    if (expired)
        stats_add(&c->srv->stats.cursors_expired, 1);
    if (cur->busy) {
        cur->closing = true; /* when its fetch is back */
        return;
    }
    if (job == NULL) {
        job = job_new(c, RPC_CLOSE, 0);
        if (job == NULL) {
            log_error("out of memory: cursor %p stays open", (void *)cur);
            return;
        }
        job->internal = true;
    }
    job->cursor = cur;
    cur->busy = true;
    conn_track(c, job);
    readers_submit(&c->srv->readers, job);
}

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void cursor_job_done(struct job *job)
{
    struct cursor *cur = job->cursor;

    cur->busy = false;
    if (job->cursor_ended) {
        unlink_cursor(cur);
        uv_close((uv_handle_t *)&cur->idle, on_closed);
    } else if (cur->closing || cur->conn->closing) {
        cursor_end(cur, NULL, false);
    } else {
        start_idle(cur);
    }
}
