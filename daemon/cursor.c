#include "cursor.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "conn.h"
#include "log.h"
#include "result.h"
#include "route.h"
#include "run.h"
#include "sqlited.h"
#include "state.h"

/* The last cursors and read-only transactions the daemon ended. Their ids
 * are unique in the daemon (each kind in its own series), so one ring
 * serves every connection of a loop: each loop thread has its own, since a
 * connection's cursors are ended and asked about on its loop only. */
#define ENDED 256
static _Thread_local struct {
    uint64_t id;
    bool tx;
    enum cursor_why why;
} ended[ENDED];

static void remember(const struct cursor *cur, enum cursor_why why)
{
    ended[cur->id % ENDED].id = cur->id;
    ended[cur->id % ENDED].tx = cur->is_tx;
    ended[cur->id % ENDED].why = why;
}

/* The read-only transactions open in the daemon, on every loop: a request
 * naming another connection's is told so (cursor_tx_open()). */
static pthread_mutex_t open_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct list open_txs = {&open_txs, &open_txs};

bool cursor_tx_open(uint64_t id)
{
    bool found = false;
    pthread_mutex_lock(&open_mutex);
    LIST_FOREACH (node, &open_txs)
        if (LIST_ITEM(node, struct cursor, open_node)->id == id)
            found = true;
    pthread_mutex_unlock(&open_mutex);
    return found;
}

static void open_txs_change(struct cursor *tx, bool add)
{
    pthread_mutex_lock(&open_mutex);
    if (add)
        list_add_tail(&open_txs, &tx->open_node);
    else
        list_remove(&tx->open_node);
    pthread_mutex_unlock(&open_mutex);
}

enum cursor_why cursor_ended_why(uint64_t id, bool tx)
{
    if (ended[id % ENDED].id != id || ended[id % ENDED].tx != tx)
        return CURSOR_WHY_NONE;
    return ended[id % ENDED].why;
}

/* Publishes when @l's oldest cursor was opened, for the server's look for
 * the oldest snapshot when the WAL is over its limit (server.c). */
static void publish_oldest(struct io_loop *l)
{
    int64_t opened =
        list_empty(&l->cursors)
            ? 0
            : LIST_ITEM(l->cursors.next, struct cursor, loop_node)->opened;
    atomic_store_explicit(&l->oldest_cursor, opened, memory_order_relaxed);
}

static void cursor_end(struct cursor *cur, struct job *job, bool expired);
static void cursor_explain_gone(struct conn *c, uint64_t id, char *buf,
                                size_t len);

/* Ends @cur for @why, and remembers why. */
static void end_for(struct cursor *cur, enum cursor_why why)
{
    struct stats *st = &cur->conn->srv->stats;
    remember(cur, why);
    /* A read running in the transaction, and those queued behind it, stop
     * at once: the snapshot is what holds the WAL. */
    if (cur->is_tx && why == CURSOR_WHY_WAL)
        atomic_store_explicit(&cur->watch.release_before, INT64_MAX,
                              memory_order_relaxed);
    if (cur->is_tx)
        stats_add(&st->tx_read_only_expired, 1);
    else if (why == CURSOR_WHY_AGE)
        stats_add(&st->cursors_aged_out, 1);
    if (why == CURSOR_WHY_WAL)
        stats_add(&st->snapshots_released, 1);
    cursor_end(cur, NULL, why == CURSOR_WHY_IDLE && !cur->is_tx);
}

/* Milliseconds left before @cur reaches its maximum age (--cursor-max-age,
 * or a transaction's --tx-max-duration); 0 when it has, UINT64_MAX when it
 * has none. */
static uint64_t age_left_ms(const struct cursor *cur)
{
    const struct config *cfg = cur->conn->srv->cfg;
    uint64_t max_age = cur->is_tx ? CONFIG_LIVE(cfg, tx_max_duration_ms)
                                  : CONFIG_LIVE(cfg, cursor_max_age_ms);
    if (cur->is_tx && max_age == 0)
        return UINT64_MAX;
    int64_t age = (clock_now() - cur->opened) / CLOCK_NS_PER_MS;
    return age >= (int64_t)max_age ? 0 : max_age - (uint64_t)age;
}

static void on_idle(uv_timer_t *timer)
{
    struct cursor *cur = timer->data;
    /* Set for the maximum age, the timer may fire a few ms before the
     * precise clock says the age is reached: the loop's clock is coarse,
     * and read when its iteration began. */
    end_for(cur, cur->aging || age_left_ms(cur) == 0 ? CURSOR_WHY_AGE
                                                     : CURSOR_WHY_IDLE);
}

/* The idle timer also stands for the maximum age: it fires at whichever
 * comes first. */
static void start_idle(struct cursor *cur)
{
    struct server *s = cur->conn->srv;
    uint64_t ms = cur->is_tx ? CONFIG_LIVE(s->cfg, tx_idle_timeout_ms)
                             : CONFIG_LIVE(s->cfg, cursor_idle_timeout_ms),
             left = age_left_ms(cur);
    cur->aging = left < ms;
    uv_timer_start(&cur->idle, on_idle, cur->aging ? left : ms, 0);
}

/* A reader opened @cur for @c's query (or, a read-only transaction, for its
 * begin): keep it, and start its idle timer. */
static void cursor_register(struct conn *c, struct cursor *cur)
{
    cur->conn = c;
    cur->opened = clock_now();
    uv_timer_init(&c->loop->uv, &cur->idle);
    cur->idle.data = cur;
    if (cur->is_tx) {
        cur->waiting_tail = &cur->waiting;
        c->snapshot = cur; /* its begin was the only one in flight */
        open_txs_change(cur, true);
    } else {
        /* Counted in c->ncursors since its query was sent. */
        list_add_head(&c->cursors, &cur->node);
    }
    if (cur->tx)
        cur->tx->inner++;
    list_add_tail(&c->loop->cursors, &cur->loop_node);
    publish_oldest(c->loop);
    if (c->closing || (cur->tx && cur->tx->closing))
        cursor_end(cur, NULL, false);
    else
        start_idle(cur);
}

static struct cursor *find(struct conn *c, uint64_t id)
{
    LIST_FOREACH (node, &c->cursors) {
        struct cursor *cur = LIST_ITEM(node, struct cursor, node);
        if (cur->id == id)
            return cur;
    }
    return NULL;
}

static void unlink_cursor(struct cursor *cur)
{
    struct conn *c = cur->conn;

    if (!list_linked(&cur->loop_node))
        return;
    list_remove(&cur->loop_node);
    if (cur->is_tx) {
        c->snapshot = NULL;
        open_txs_change(cur, false);
    } else {
        list_remove(&cur->node);
        c->ncursors--;
    }
    publish_oldest(c->loop);
}

/* The next job queued for read-only transaction @tx's connection goes to a
 * reader, unless one is running there. Once it has ended and its cursors
 * are closed, the last job is the one that closes it. */
static void tx_next(struct cursor *tx)
{
    struct conn *c = tx->conn;
    struct job *job = tx->waiting;

    if (tx->busy)
        return;
    if (job != NULL) {
        tx->waiting = job->next;
        if (tx->waiting == NULL)
            tx->waiting_tail = &tx->waiting;
        job->next = NULL;
    } else if (tx->closing && tx->inner == 0) {
        job = tx->end_job;
        tx->end_job = NULL;
        if (job == NULL && (job = conn_job_new(c, RPC_CLOSE, 0)) != NULL) {
            job->internal = true;
            job->cursor = job->snapshot = tx;
            conn_track(c, job);
        }
        if (job == NULL) {
            log_error("out of memory: read-only transaction %" PRIu64
                      " stays open",
                      tx->id);
            return;
        }
    } else {
        if (!tx->closing)
            start_idle(tx);
        return;
    }
    tx->busy = true;
    uv_timer_stop(&tx->idle);
    conn_queue(c, job, route_decide(job, ROUTE_NEW));
}

void cursor_submit_in(struct cursor *tx, struct job *job)
{
    job->snapshot = tx;
    *tx->waiting_tail = job;
    tx->waiting_tail = &job->next;
    tx_next(tx);
}

/* A read-only transaction ends: its cursors end with it, and it closes
 * once the jobs queued on its connection are done. */
static void tx_end(struct cursor *tx, struct job *job)
{
    struct conn *c = tx->conn;

    tx->closing = true;
    if (job != NULL) {
        job->cursor = job->snapshot = tx;
        tx->end_job = job;
        conn_track(c, job);
    }
    LIST_FOREACH (node, &c->cursors) {
        struct cursor *cur = LIST_ITEM(node, struct cursor, node);
        if (cur->tx == tx)
            end_for(cur, CURSOR_WHY_TX);
    }
    stats_sub(&c->srv->stats.tx_read_only_open, 1);
    tx_next(tx);
}

void cursor_end_tx(struct cursor *tx, struct job *job, enum cursor_why why)
{
    remember(tx, why);
    cursor_end(tx, job, false);
}

/* Ends @cur: drops it from its connection's list and has a reader close it
 * (now, or when its running fetch is back) through @job, the client's close
 * request, or with no @job through one of the daemon's own. @expired counts
 * it as closed for idling. */
static void cursor_end(struct cursor *cur, struct job *job, bool expired)
{
    struct conn *c = cur->conn;

    unlink_cursor(cur);
    uv_timer_stop(&cur->idle);
    if (expired)
        stats_add(&c->srv->stats.cursors_expired, 1);
    if (cur->is_tx) {
        if (!cur->closing)
            tx_end(cur, job);
        return;
    }
    if (cur->busy) {
        cur->closing = true; /* when its fetch is back */
        return;
    }
    if (job == NULL) {
        job = conn_job_new(c, RPC_CLOSE, 0);
        if (job == NULL) {
            log_error("out of memory: cursor %p stays open", (void *)cur);
            return;
        }
        job->internal = true;
    }
    job->cursor = cur;
    cur->busy = true;
    if (cur->tx) {
        conn_track(c, job);
        cursor_submit_in(cur->tx, job);
    } else {
        conn_submit(c, job, route_decide(job, ROUTE_NEW));
    }
}

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

/* A fetch or close job on @job->cursor came back from the reader. */
static void fetch_done(struct job *job)
{
    struct cursor *cur = job->cursor;

    cur->busy = false;
    if (job->cursor_ended) {
        unlink_cursor(cur);
        if (cur->tx)
            cur->tx->inner--;
        uv_close((uv_handle_t *)&cur->idle, on_closed);
    } else if (cur->closing || cur->conn->closing) {
        cursor_end(cur, NULL, false);
    } else {
        start_idle(cur);
    }
}

void cursor_job_done(struct conn *c, struct job *job)
{
    struct cursor *tx = job->snapshot;
    bool tx_closed = tx != NULL && job->cursor == tx && job->cursor_ended;

    if (job->method == RPC_QUERY || job->method == RPC_BEGIN) {
        /* A reader opened the cursor (a read-only transaction, for a
         * begin), if any. */
        if (job->cursor)
            cursor_register(c, job->cursor);
        else if (job->may_open_cursor)
            c->ncursors--; /* it did not */
    } else if (job->cursor) {
        fetch_done(job); /* a fetch or close, or a transaction's end */
    }
    /* The transaction's connection is free for its next job. */
    if (tx != NULL && !tx_closed) {
        tx->busy = false;
        tx_next(tx);
    }
}

void cursor_reserve(struct conn *c, struct job *job)
{
    if (c->ncursors < CURSORS_PER_CONN) {
        job->may_open_cursor = true;
        c->ncursors++;
    }
}

int cursor_take(struct conn *c, struct job *job, uint64_t id, char *why,
                size_t len)
{
    struct cursor *cur = find(c, id);
    if (cur == NULL) {
        cursor_explain_gone(c, id, why, len);
        return SQLITED_CURSOR_EXPIRED;
    }
    if (cur->busy) {
        snprintf(why, len,
                 "cursor %" PRIu64 " is busy: wait for the answer to the "
                 "previous fetch",
                 id);
        return SQLITED_BAD_REQUEST;
    }
    job->cursor = cur;
    return 0;
}

void cursor_start(struct job *job)
{
    struct cursor *cur = job->cursor;
    if (job->method == RPC_CLOSE) {
        cursor_end(cur, job, false);
        return;
    }
    uv_timer_stop(&cur->idle);
    cur->busy = true;
    if (cur->tx) {
        conn_track(job->conn, job);
        cursor_submit_in(cur->tx, job);
    } else {
        conn_submit(job->conn, job, route_decide(job, ROUTE_NEW));
    }
}

void cursor_close_all(struct conn *c)
{
    if (c->snapshot != NULL)
        cursor_end(c->snapshot, NULL, false);
    while (!list_empty(&c->cursors))
        cursor_end(LIST_ITEM(c->cursors.next, struct cursor, node), NULL,
                   false);
}

/* Writes into @buf why cursor @id, which @c does not hold, is not open:
 * the daemon ended it (idle, --cursor-max-age, the WAL limit) or it was read
 * to its end, closed, or never opened on @c. */
static void cursor_explain_gone(struct conn *c, uint64_t id, char *buf,
                                size_t len)
{
    const struct config *cfg = c->srv->cfg;
    switch (cursor_ended_why(id, false)) {
    case CURSOR_WHY_IDLE:
        snprintf(buf, len,
                 "cursor %" PRIu64 " is not open: the daemon closed it when "
                 "no fetch came for %u ms (its --cursor-idle-timeout)",
                 id, CONFIG_LIVE(cfg, cursor_idle_timeout_ms));
        break;
    case CURSOR_WHY_AGE:
        snprintf(buf, len,
                 "cursor %" PRIu64 " is not open: the daemon closed it when "
                 "it had been open for %u ms, its --cursor-max-age (a "
                 "cursor's snapshot keeps the WAL from being "
                 "checkpointed); read large results faster or in parts",
                 id, CONFIG_LIVE(cfg, cursor_max_age_ms));
        break;
    case CURSOR_WHY_WAL:
        snprintf(buf, len,
                 "cursor %" PRIu64 " is not open: the daemon closed it when "
                 "the WAL passed its limit (--wal-max-bytes, %lld bytes), "
                 "since it held the oldest snapshot, which kept "
                 "checkpoints from completing",
                 id, (long long)cfg->wal_max_bytes);
        break;
    case CURSOR_WHY_TX:
        snprintf(buf, len,
                 "cursor %" PRIu64 " is not open: the read-only transaction "
                 "it was read in ended (committed, rolled back or expired), "
                 "and its cursors with it",
                 id);
        break;
    default:
        snprintf(buf, len,
                 "cursor %" PRIu64 " is not open: it was read to its end, "
                 "closed, idle for longer than %u ms, or never opened on "
                 "this connection",
                 id, CONFIG_LIVE(cfg, cursor_idle_timeout_ms));
        break;
    }
}

void cursor_release_on(struct io_loop *l, int64_t before)
{
    if (list_empty(&l->cursors))
        return;
    struct cursor *oldest =
        LIST_ITEM(l->cursors.next, struct cursor, loop_node);
    if (oldest->opened >= before)
        return; /* ended meanwhile: the writer asks again if need be */
    log_warn("the WAL passed --wal-max-bytes (%lld bytes): ending the "
             "oldest %s, %" PRIu64 ", open for %lld ms",
             (long long)l->srv->cfg->wal_max_bytes,
             oldest->is_tx ? "read-only transaction" : "cursor", oldest->id,
             (long long)((clock_now() - oldest->opened) / CLOCK_NS_PER_MS));
    end_for(oldest, CURSOR_WHY_WAL);
}

/* ------------------------------------------------- the worker side */

struct worker *cursor_worker(struct cursor *cur)
{
    return &cur->w;
}

/* Cursor ids, unique in the daemon's life. */
static atomic_uint_fast64_t cursor_ids;

/* A reader's query: the first chunk of rows goes into the reply; when rows
 * are left (and a cursor may still be opened), @st stays with them for a
 * cursor (r->cursor_st) and the reply says "cursor". */
void cursor_first_chunk(struct run *r, sqlite3_stmt *st, int rc)
{
    struct codec_buf *out = r->out;
    struct worker *w = r->w;
    int ncols = sqlite3_column_count(st);
    bool more;

    size_t map = codec_pack_map_later(out);
    if (result_pack_columns(r, st, ncols, out) != SQLITE_OK)
        return;
    /* Reserve a cursor up front: one is needed if the rows overflow the
     * chunk, and none may be left then. */
    bool reserved = r->job->may_open_cursor &&
                    stats_add_below(&w->stats->cursors_open,
                                    CONFIG_LIVE(w->cfg, max_cursors));
    if (result_pack_rows(r, st, rc, true, &more, out) != SQLITE_OK || !more) {
        if (reserved)
            stats_sub(&w->stats->cursors_open, 1);
        if (r->code == 0)
            codec_patch_map(out, map, result_column_keys(r));
        return;
    }
    if (w->on_loop) {
        /* The loop's connection is never given away: a reader runs the
         * query again and opens the cursor. */
        if (reserved)
            stats_sub(&w->stats->cursors_open, 1);
        r->handoff = true;
        return;
    }
    if (!reserved) {
        if (r->job->may_open_cursor)
            run_fail(r, SQLITED_TOO_MANY_CURSORS,
                     "the result needs a cursor, but the daemon has all of its "
                     "%u open (--max-cursors); read other results to their end "
                     "or close them",
                     CONFIG_LIVE(w->cfg, max_cursors));
        else
            run_fail(r, SQLITED_TOO_MANY_CURSORS,
                     "the result needs a cursor, but this connection holds %d "
                     "open already; read them to their end or close them",
                     CURSORS_PER_CONN);
        return;
    }
    r->cursor_st = st;
    r->cursor_id = atomic_fetch_add(&cursor_ids, 1) + 1;
    codec_pack_cstr(out, "cursor");
    msgpack_pack_uint64(&out->pk, r->cursor_id);
    codec_patch_map(out, map, result_column_keys(r) + 1);
}

/* Gives the rows left in r->cursor_st to a new cursor, with the reader's
 * connection (and nothing else of it: its cached statements are dropped).
 * On failure the reserved cursor is given back. */
void cursor_open(struct run *r)
{
    struct worker *w = r->w;
    struct cursor *cur = NULL;

    if (r->code == 0 && !atomic_load(&r->job->cancelled))
        cur = calloc(1, sizeof(*cur));
    if (cur == NULL) {
        if (r->code == 0 && !atomic_load(&r->job->cancelled))
            run_fail(r, SQLITE_NOMEM, "out of memory opening a cursor");
        sqlite3_finalize(r->cursor_st);
        stats_sub(&w->stats->cursors_open, 1);
        return;
    }
    if (w->read_tx) {
        /* In a read-only transaction: the statement stays on the
         * transaction's connection, whose worker steps it (cursor_run()). */
        cur->tx = r->job->snapshot;
        cur->w = (struct worker){.cfg = w->cfg,
                                 .max_reply = w->max_reply,
                                 .stop = w->stop,
                                 .stats = w->stats};
    } else {
        stmt_cache_clear(&w->cache);
        worker_init(&cur->w, w->db, false, w->cfg, w->stop, w->stats);
        w->db = NULL;
    }
    cur->st = r->cursor_st;
    /* Its text and blob parameters are bound in place: keep their bytes. */
    cur->msg = r->job->msg;
    r->job->msg = NULL;
    cur->id = r->cursor_id;
    cur->rows = r->rows;
    cur->bytes = r->bytes;
    cur->max_rows = r->max_rows;
    cur->max_bytes = r->max_bytes;
    r->job->cursor = cur;
    stats_add(&w->stats->cursors_opened, 1);
}

/* Ends a cursor: its statement and its connection go (a cursor of a
 * read-only transaction leaves the connection to the transaction; a
 * transaction's has no statement, and its read ends with its connection). */
static void cursor_close(struct cursor *cur, struct job *job)
{
    sqlite3_finalize(cur->st);
    cur->st = NULL;
    free(cur->msg);
    cur->msg = NULL;
    if (cur->tx == NULL)
        worker_close(&cur->w);
    stats_sub(&cur->w.stats->cursors_open, 1);
    job->cursor_ended = true;
}

/* fetch: the cursor's next chunk. close (or a read-only transaction's
 * commit or rollback): the end of it. Either runs on the cursor's
 * connection, whichever reader thread takes the job. */
void cursor_run(struct job *job)
{
    struct cursor *cur = job->cursor;
    struct worker *w = cur->tx ? &cur->tx->w : &cur->w;
    struct codec_buf out;
    bool more = false;

    if (job->method != RPC_FETCH || atomic_load(&job->cancelled)) {
        if (job->method != RPC_FETCH) {
            cursor_close(cur, job);
            if (!job->internal)
                job_reply(job, "\xc0", 1); /* nil */
        }
        return;
    }
    if (worker_cancel_asked(job)) {
        worker_fail_cancelled(w, job, false);
        cursor_close(cur, job); /* like any failed fetch */
        return;
    }
    if (clock_passed(job->deadline, clock_now())) {
        worker_fail_timeout(w, job);
        cursor_close(cur, job); /* like any failed fetch */
        return;
    }
    struct run r = {.w = w,
                    .job = job,
                    .out = &out,
                    .step = -1,
                    .rows = cur->rows,
                    .bytes = cur->bytes,
                    .max_rows = cur->max_rows,
                    .max_bytes = cur->max_bytes};
    w->current = job;
    w->deadline = job->deadline;
    w->timed_out = w->cancel_seen = false;
    codec_buf_init(&out, w->max_reply);
    rpc_pack_response_head(&out, job->msgid);
    size_t map = codec_pack_map_later(&out);
    codec_pack_cstr(&out, "rows");
    if (result_pack_rows(&r, cur->st, SQLITE_ROW, true, &more, &out) ==
            SQLITE_OK &&
        more) {
        codec_pack_cstr(&out, "cursor");
        msgpack_pack_uint64(&out.pk, cur->id);
    }
    codec_patch_map(&out, map, more ? 2 : 1);
    w->current = NULL;
    w->deadline = 0;
    cur->rows = r.rows;
    cur->bytes = r.bytes;
    if (r.code != 0 || !more)
        cursor_close(cur, job);
    run_store_reply(&r, &out);
    codec_buf_close(&out);
}
