/* libsqlited: connect to the daemon, make calls (synchronous or pipelined),
 * decode results.
 *
 * One connection is one blocking Unix stream socket. A call encodes its
 * request into db->req, sends it whole, then reads messages through the
 * shared stream decoder until the response with its msgid arrives. Any
 * transport failure (EOF, a socket errno, bytes that are not a valid reply)
 * leaves the stream at an unknown position, so it breaks the connection for
 * good; an error answered by the daemon does not.
 *
 * A large query result streams: the rows object holds one chunk, and while
 * the daemon keeps the rest behind a cursor it holds on to its connection
 * to fetch the next chunk. The fetch for chunk k+1 is sent as soon as chunk
 * k arrives (rows_prefetch()), one per cursor, so that the daemon builds it
 * while the application reads chunk k; its answer is kept in the rows when
 * it comes during another call (fetch_stash()), and taken at the end of
 * chunk k (rows_fetch()).
 *
 * Pipelined requests (sqlited_send_*()) are pending in a table until
 * sqlited_receive() collects them. Their responses may come while any call
 * waits for its own, or sends: those are copied there (stashed) for later.
 * While requests are pending a send never blocks for good, since the daemon
 * may wait for those responses to be read before it reads more
 * (conn_send()).
 *
 * Interrupts (sqlited_interrupt()) may come from a signal handler or another
 * thread: they only set db->interrupt and write a byte into a pipe that
 * every wait for the daemon polls beside the socket. The waiting call, in
 * its own thread, then sends `cancel` for the request it waits for and
 * goes on waiting for that request's answer, which is SQLITED_INTERRUPTED
 * or, when the request finished first, its own. The answers to cancels are
 * skipped wherever they come (cancel_answered()).
 */
#include "sqlited.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "rpc.h"

/* SQLite's step codes, returned by sqlited_rows_next(). The library does not
 * include sqlite3.h: it neither links SQLite nor needs it. */
#define RC_ROW 100
#define RC_DONE 101

#define READ_CHUNK ((size_t)64 * 1024)
/* The client trusts the daemon more than the daemon trusts clients: results
 * may be large, but never beyond what a sane reply can hold. */
#define CLIENT_MAX_MESSAGE ((size_t)1 << 31)
/* Buffer memory a connection keeps between calls after a large message. */
#define KEEP_BYTES ((size_t)256 * 1024)
/* Room for a formatted error message. */
#define ERRBUF_SIZE 256
/* The largest deadline the daemon accepts (option timeout_ms): one day. */
#define MAX_TIMEOUT_MS 86400000

enum params_style { STYLE_NONE, STYLE_POSITIONAL, STYLE_NAMED };

/* The methods that take [sql, params?, ...] and answer with a result. */
enum sql_method { SQL_EXEC, SQL_QUERY, SQL_EXPLAIN };

/* A request sent with sqlited_send_query() or sqlited_send_exec() whose
 * result is not collected yet. A response that comes while the client waits
 * for another one (or sends) is kept here, as the message's bytes, until
 * sqlited_receive() takes it. */
struct pending {
    uint32_t msgid;
    enum sql_method method;
    char *reply; /* the response, once it came; NULL before */
    size_t reply_len;
};

struct sqlited_params {
    struct codec_buf buf; /* encoded values; for named lists key then value */
    uint32_t count;
    enum params_style style;
};

struct sqlited {
    int fd;      /* -1 once broken or closed */
    bool broken; /* the stream is unusable: later calls fail at once */
    uint32_t next_msgid;
    struct codec_decoder dec;
    struct codec_buf req;

    /* The last call's outcome. errname and errmsg point to static strings,
     * to errbuf, or to the owned copies below. */
    int errcode;
    const char *errname;
    const char *errmsg;
    char *errname_owned;
    char *errmsg_owned;
    char errbuf[ERRBUF_SIZE];

    /* An error notification received during the current call: if the daemon
     * then closes the connection, it explains why. */
    bool note;
    int note_code;
    char *note_msg;

    char *server_version;
    char *sqlite_version;
    size_t max_message;
    unsigned max_params;
    uint32_t max_items; /* elements of one array in a request */
    int64_t tx_idle_timeout_ms, tx_max_duration_ms; /* -1: not told */

    int64_t changes;
    int64_t last_insert_rowid;

    /* Fetches sent ahead (rows_prefetch()) whose answer is not taken yet:
     * their answers may come while the client waits for another, and a
     * send must not block for good while they do (conn_send()). */
    uint32_t nfetching;

    int timeout_ms;      /* sent as option timeout_ms when >= 0 */
    int io_timeout_ms;   /* a call's wait for the socket; 0: none */
    char *health_reason; /* of the last sqlited_health() answer */
    int64_t tx_id;       /* the open interactive transaction, 0 when none */
    bool tx_read_only;   /* it is read-only (SQLITED_TX_READ_ONLY) */
    /* Sent with every query as options max_rows and max_bytes; 0: not sent. */
    uint64_t max_rows, max_bytes;

    /* Results whose cursor is open on this connection: sqlited_close()
     * detaches them, so that none is left pointing at a freed handle. */
    sqlited_rows *streams;

    /* Requests sent with sqlited_send_*() and not collected, in the order
     * sent, in room for @pending_cap; @nstashed of them have their response
     * here already. */
    struct pending *pending;
    uint32_t npending, pending_cap, nstashed;

    /* The strings of the last operation's result (sqlited_backup() ...). */
    char *op_strings;

    /* sqlited_interrupt(), from any thread or a signal handler: sets
     * @interrupt, then writes a byte into @wake[1] to wake the call that
     * waits in poll(). A call clears both when it begins (call_begin()). */
    atomic_int interrupt;
    int wake[2];
    /* Cancels sent (or still to send, in @cancel_out) whose answers have
     * not come: they are skipped when they do, and no request gets their
     * msgids meanwhile. */
    uint32_t *cancels;
    uint32_t ncancels, cancels_cap;
    /* Encoded cancels the socket did not take yet: sent before anything
     * else (conn_send()), or as soon as the socket has room while a call
     * waits. @cancel_sent bytes of it are gone already. */
    struct codec_buf cancel_out;
    size_t cancel_sent;
};

/* A signal handler may call sqlited_interrupt(): the flag must be
 * lock-free. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomic int must be lock-free");

enum rows_state { ROWS_BEFORE, ROWS_ON_ROW, ROWS_DONE, ROWS_FAILED };

/* A result is read one chunk at a time: the first comes with the query's
 * answer, each further one with the answer to a fetch on the cursor that
 * the daemon keeps for the rest. Only the current chunk is held. */
struct sqlited_rows {
    char *data;   /* private copy of the current chunk; readers point into it */
    char **names; /* ncols NUL-terminated names, one allocation */
    int ncols;
    uint64_t nrows;           /* rows in the current chunk */
    uint64_t index;           /* of those, rows consumed so far */
    uint64_t received;        /* rows of every chunk so far */
    struct codec_reader next; /* on the array header of row @index */
    int64_t changes;
    int64_t last_insert_rowid;
    struct codec_value *values; /* the current row, ncols entries */
    char *text;                 /* NUL-terminated copies of its TEXT values */
    size_t text_cap;
    enum rows_state state;
    int failed; /* ROWS_FAILED: what every later sqlited_rows_next() returns */

    /* The daemon's cursor on the rest of the result, 0 when there is none.
     * While it may be open, @db is its connection (NULL once that is
     * closed) and the rows are in db->streams. */
    uint64_t cursor;
    sqlited *db;
    sqlited_rows *stream_prev, *stream_next;

    /* The fetch for the next chunk, sent ahead (rows_prefetch()): its msgid
     * while its answer is not taken, else 0. Its answer, when it came
     * during another call, is kept in @ahead_reply (the message's bytes):
     * with the current chunk, at most two chunks are held. @ahead_failed
     * is the failure of sending it (the connection broke), with its message
     * in @ahead_msg: sqlited_rows_next() reports it where the fetch's answer
     * would have been. */
    uint32_t ahead;
    char *ahead_reply;
    size_t ahead_len;
    int ahead_failed;
    char *ahead_msg;
};

/* ------------------------------------------------------------------ codes */

SQLITED_API const char *sqlited_strerror(int rc)
{
    return rpc_code_text(rc);
}

SQLITED_API const char *sqlited_codename(int rc)
{
    return rpc_code_name(rc);
}

/* ------------------------------------------------------------ last error */

static void err_free_owned(sqlited *db)
{
    free(db->errname_owned);
    free(db->errmsg_owned);
    db->errname_owned = NULL;
    db->errmsg_owned = NULL;
}

/* Records @code with the static message @msg (NULL: the code's own text) and
 * returns @code. */
static int err_set(sqlited *db, int code, const char *msg)
{
    err_free_owned(db);
    db->errcode = code;
    db->errname = code ? rpc_code_name(code) : "OK";
    db->errmsg = msg ? msg : code ? rpc_code_text(code) : "not an error";
    return code;
}

__attribute__((format(printf, 3, 4))) static int err_setf(sqlited *db, int code,
                                                          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(db->errbuf, sizeof(db->errbuf), fmt, ap);
    va_end(ap);
    return err_set(db, code, db->errbuf);
}

static char *copy_string(const char *s, size_t len)
{
    char *c = malloc(len + 1);

    if (c) {
        if (len)
            memcpy(c, s, len);
        c[len] = '\0';
    }
    return c;
}

/* Records @code with copies of @name and @msg (either may be NULL: the code's
 * own name or text is used). Out of memory, it falls back to static strings
 * rather than failing: the error itself matters more than its wording. */
static int err_copy(sqlited *db, int code, const char *name, size_t name_len,
                    const char *msg, size_t msg_len)
{
    char *n = name ? copy_string(name, name_len) : NULL;
    char *m = msg ? copy_string(msg, msg_len) : NULL;

    err_set(db, code, NULL);
    if (n) {
        db->errname_owned = n;
        db->errname = n;
    }
    if (m) {
        db->errmsg_owned = m;
        db->errmsg = m;
    }
    return code;
}

static int err_ok(sqlited *db)
{
    return err_set(db, 0, NULL);
}

/* The last error of a connection, moved out of it so that another call can
 * run and the error be put back afterwards. */
struct err_saved {
    int code;
    const char *name;
    const char *msg; /* NULL when the message is in @buf */
    char *name_owned;
    char *msg_owned;
    char buf[ERRBUF_SIZE];
};

static void err_save(sqlited *db, struct err_saved *e)
{
    e->code = db->errcode;
    e->name = db->errname;
    e->msg = db->errmsg == db->errbuf ? NULL : db->errmsg;
    memcpy(e->buf, db->errbuf, sizeof(e->buf));
    e->name_owned = db->errname_owned;
    e->msg_owned = db->errmsg_owned;
    db->errname_owned = NULL;
    db->errmsg_owned = NULL;
}

static void err_restore(sqlited *db, const struct err_saved *e)
{
    err_free_owned(db);
    db->errcode = e->code;
    db->errname = e->name;
    db->errname_owned = e->name_owned;
    db->errmsg_owned = e->msg_owned;
    if (e->msg) {
        db->errmsg = e->msg;
    } else {
        memcpy(db->errbuf, e->buf, sizeof(db->errbuf));
        db->errmsg = db->errbuf;
    }
}

static void note_clear(sqlited *db)
{
    free(db->note_msg);
    db->note_msg = NULL;
    db->note = false;
}

/* The stream is lost: close the socket so that later calls fail at once. The
 * daemon rolls back the transaction of a connection that closes. */
static int conn_break(sqlited *db, int code)
{
    if (db->fd >= 0)
        close(db->fd);
    db->fd = -1;
    db->broken = true;
    db->tx_id = 0;
    return code;
}

/* -------------------------------------------------------------- transport */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until @fd is ready for @events or @deadline (monotonic ms, < 0 for
 * none) passes. Returns the events that are ready (> 0; POLLHUP or POLLERR
 * may be among them), -ETIMEDOUT or a negated errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int timeout = -1;

        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left < 0)
                left = 0;
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        int n = poll(&pfd, 1, timeout);
        if (n > 0)
            return pfd.revents;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* What conn_wait() returns when an interrupt ends the wait. */
#define WAIT_INTERRUPTED (-EINTR)

/* Empties the wake pipe of @db. */
static void wake_drain(sqlited *db)
{
    char buf[64];

    while (read(db->wake[0], buf, sizeof(buf)) > 0)
        ;
}

/* Waits as wait_fd() does for @db's socket, watching its wake pipe too
 * (sqlited_interrupt()). With @interruptible, an interrupt ends the wait:
 * WAIT_INTERRUPTED, with the interrupt taken (cleared). Without, an
 * interrupt stays for the next wait that is. */
static int conn_wait(sqlited *db, short events, int64_t deadline,
                     bool interruptible)
{
    for (;;) {
        struct pollfd pfd[2] = {{.fd = db->fd, .events = events},
                                {.fd = db->wake[0], .events = POLLIN}};
        int timeout = -1;

        /* Checked before each poll: the byte that woke an earlier one may
         * be gone (a wait that is not interruptible drained it). */
        if (interruptible && atomic_exchange(&db->interrupt, 0))
            return WAIT_INTERRUPTED;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left < 0)
                left = 0;
            timeout = left > INT_MAX ? INT_MAX : (int)left;
        }
        int n = poll(pfd, 2, timeout);
        if (n < 0 && errno != EINTR)
            return -errno;
        if (n == 0)
            return -ETIMEDOUT;
        if (n > 0 && pfd[1].revents)
            wake_drain(db);
        if (n > 0 && pfd[0].revents)
            return pfd[0].revents;
    }
}

static int cancel_flush(sqlited *db);

/* Reads until the decoder holds a complete message and returns it in
 * *@msg and *@len (valid until the next decoder call). Cancels not sent yet
 * go as soon as the socket has room. Returns 0, SQLITED_ECLOSED at end of
 * stream, SQLITED_EPROTO when the bytes are not acceptable MessagePack
 * (with the error recorded), WAIT_INTERRUPTED (with @interruptible, see
 * conn_wait()), or a negated errno. */
static int conn_read_message(sqlited *db, int64_t deadline, bool interruptible,
                             const char **msg, size_t *len)
{
    for (;;) {
        int st = codec_decoder_next(&db->dec, msg, len);
        if (st == CODEC_MESSAGE)
            return 0;
        if (st != CODEC_NEED_MORE)
            return err_setf(db, SQLITED_EPROTO,
                            "malformed reply from the daemon: %s",
                            codec_decoder_error(&db->dec));

        char *space;
        size_t room;
        int rc = codec_decoder_reserve(&db->dec, READ_CHUNK, &space, &room);
        if (rc)
            return -ENOMEM;
        bool owed = db->cancel_sent < db->cancel_out.len;
        rc = conn_wait(db, owed ? POLLIN | POLLOUT : POLLIN, deadline,
                       interruptible);
        if (rc < 0)
            return rc;
        /* A cancel the socket cannot take is dropped: the read that
         * follows finds why (the daemon hung up). */
        if (owed && (rc & POLLOUT) && cancel_flush(db) != 0)
            db->cancel_sent = db->cancel_out.len;
        if (!(rc & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t n = recv(db->fd, space, room, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -errno;
        }
        if (n == 0)
            return SQLITED_ECLOSED;
        codec_decoder_commit(&db->dec, (size_t)n);
    }
}

/* Remembers an error notification ([2, "error", [{error}]]) for the rest of
 * the call. Other notifications are ignored: protocol version 1 has none,
 * and a later version may add some. */
static void note_record(sqlited *db, const struct rpc_message *m)
{
    static const char method[] = "error";
    struct codec_reader r = m->params;
    const char *msg;
    uint32_t msg_len;
    int code;

    if (m->method_len != sizeof(method) - 1 ||
        memcmp(m->method, method, sizeof(method) - 1) != 0 || m->nparams < 1)
        return;
    if (rpc_read_error(&r, &code, NULL, NULL, &msg, &msg_len))
        return;
    note_clear(db);
    db->note = true;
    db->note_code = code;
    db->note_msg = msg ? copy_string(msg, msg_len) : NULL;
}

/* Fails the call after the daemon closed the stream: with the message of an
 * error notification that came first, if any. */
static int closed_by_daemon(sqlited *db)
{
    if (db->note && db->note_msg) {
        err_copy(db, SQLITED_ECLOSED, NULL, 0, db->note_msg,
                 strlen(db->note_msg));
        return SQLITED_ECLOSED;
    }
    if (db->note)
        return err_setf(db, SQLITED_ECLOSED,
                        "connection closed by the daemon after %s",
                        sqlited_codename(db->note_code));
    return err_set(db, SQLITED_ECLOSED, "connection closed by the daemon");
}

/* ------------------------------------------------------- pending requests */

/* The pending request @msgid, or NULL. */
static struct pending *pending_find(sqlited *db, uint32_t msgid)
{
    for (uint32_t i = 0; i < db->npending; i++)
        if (db->pending[i].msgid == msgid)
            return &db->pending[i];
    return NULL;
}

/* The streaming result whose fetch sent ahead is @msgid, or NULL. */
static sqlited_rows *fetch_find(sqlited *db, uint32_t msgid)
{
    if (msgid == 0)
        return NULL;
    for (sqlited_rows *rows = db->streams; rows; rows = rows->stream_next)
        if (rows->ahead == msgid)
            return rows;
    return NULL;
}

/* Keeps the message @msg (@len bytes), the response @m, in the rows whose
 * fetch sent ahead it answers, until they need the next chunk. Returns 1
 * when it did; 0 when @m answers no such fetch (or one answered already);
 * or -ENOMEM, recorded, with the connection broken (the answer is lost). */
static int fetch_stash(sqlited *db, const struct rpc_message *m,
                       const char *msg, size_t len)
{
    sqlited_rows *rows = fetch_find(db, m->msgid);

    if (!rows || rows->ahead_reply)
        return 0;
    rows->ahead_reply = malloc(len ? len : 1);
    if (!rows->ahead_reply)
        return conn_break(db, err_set(db, -ENOMEM, NULL));
    memcpy(rows->ahead_reply, msg, len);
    rows->ahead_len = len;
    return 1;
}

/* Keeps the message @msg (@len bytes), the response @m, for the pending
 * request it answers until sqlited_receive() takes it, or for the rows
 * whose fetch sent ahead it answers (fetch_stash()). A response that
 * answers no pending request, or one answered already, is not from a sane
 * daemon: SQLITED_EPROTO, whose message names @awaited, the request the call
 * waits for (0: none in particular). Returns 0, or a failure, recorded, with
 * the connection broken: without memory for the copy, the response is lost,
 * and its request could never be collected. */
static int pending_stash(sqlited *db, const struct rpc_message *m,
                         const char *msg, size_t len, uint32_t awaited)
{
    struct pending *p = pending_find(db, m->msgid);
    int rc = p ? 0 : fetch_stash(db, m, msg, len);

    if (rc)
        return rc < 0 ? rc : 0;
    if ((!p || p->reply) && awaited)
        return conn_break(
            db, err_setf(db, SQLITED_EPROTO,
                         "reply to request %lu while waiting for %lu",
                         (unsigned long)m->msgid, (unsigned long)awaited));
    if (!p || p->reply)
        return conn_break(db,
                          err_setf(db, SQLITED_EPROTO,
                                   "reply to request %lu, which is not pending",
                                   (unsigned long)m->msgid));
    p->reply = malloc(len);
    if (!p->reply)
        return conn_break(db, err_set(db, -ENOMEM, NULL));
    memcpy(p->reply, msg, len);
    p->reply_len = len;
    db->nstashed++;
    return 0;
}

/* Takes @p out of the table, keeping the others in the order sent, and
 * returns it; the caller owns its stashed response. */
static struct pending pending_remove(sqlited *db, struct pending *p)
{
    struct pending out = *p;
    size_t after = db->npending - (size_t)(p - db->pending) - 1;

    memmove(p, p + 1, after * sizeof(*p));
    db->npending--;
    if (out.reply)
        db->nstashed--;
    return out;
}

/* ---------------------------------------------------------------- cancels
 *
 * A cancel [msgid] asks the daemon to stop that request; the request still
 * gets its one answer (SQLITED_INTERRUPTED, or its own when it finished
 * first), which the caller waits for as before. The cancel's own answer is
 * of no interest: its msgid is kept in db->cancels until it comes, to be
 * skipped. The encoded cancel waits in db->cancel_out until the socket
 * takes it whole; it never blocks a call that waits for an answer.
 */

/* The index of cancel @msgid in db->cancels, or -1. */
static int64_t cancel_find(const sqlited *db, uint32_t msgid)
{
    for (uint32_t i = 0; i < db->ncancels; i++)
        if (db->cancels[i] == msgid)
            return i;
    return -1;
}

/* Whether @msgid is that of a cancel whose answer was awaited: it is not
 * any more. */
static bool cancel_answered(sqlited *db, uint32_t msgid)
{
    int64_t i = cancel_find(db, msgid);

    if (i < 0)
        return false;
    db->cancels[i] = db->cancels[--db->ncancels];
    return true;
}

/* Sends what the socket takes of db->cancel_out, without waiting. Returns
 * 0 (all sent, or the rest waits for room) or a negated errno. */
static int cancel_flush(sqlited *db)
{
    while (db->cancel_sent < db->cancel_out.len) {
        ssize_t n = send(db->fd, db->cancel_out.data + db->cancel_sent,
                         db->cancel_out.len - db->cancel_sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n < 0)
            return -errno;
        db->cancel_sent += (size_t)n;
    }
    codec_buf_reset(&db->cancel_out);
    db->cancel_sent = 0;
    return 0;
}

static uint32_t next_msgid(sqlited *db);

/* Queues cancel [@target] and sends what the socket takes now. Returns 0;
 * -ENOMEM, with nothing queued (the request then simply runs on); or the
 * socket's failure (a negated errno). */
static int cancel_send(sqlited *db, uint32_t target)
{
    size_t mark = db->cancel_out.len;
    uint32_t msgid;

    if (db->ncancels == db->cancels_cap) {
        uint32_t cap = db->cancels_cap ? db->cancels_cap * 2 : 8;
        uint32_t *c = reallocarray(db->cancels, cap, sizeof(*c));
        if (!c)
            return -ENOMEM;
        db->cancels = c;
        db->cancels_cap = cap;
    }
    msgid = next_msgid(db);
    rpc_pack_request_head(&db->cancel_out, msgid, "cancel", 1);
    msgpack_pack_uint32(&db->cancel_out.pk, target);
    if (db->cancel_out.error) {
        codec_buf_truncate(&db->cancel_out, mark);
        return -ENOMEM;
    }
    db->cancels[db->ncancels++] = msgid;
    return cancel_flush(db);
}

/* An interrupt came while a call waits for the answer to @msgid: cancels
 * it; with SQLITED_ANY, every pending request not answered yet. Returns 0
 * or the socket's failure (a negated errno). */
static int cancel_awaited(sqlited *db, uint32_t msgid)
{
    int rc = 0;

    if (msgid != SQLITED_ANY)
        rc = cancel_send(db, msgid);
    for (uint32_t i = 0; msgid == SQLITED_ANY && i < db->npending; i++)
        if (!db->pending[i].reply &&
            (rc = cancel_send(db, db->pending[i].msgid)) < 0 && rc != -ENOMEM)
            break;
    return rc == -ENOMEM ? 0 : rc;
}

/* ---------------------------------------------------------------- replies */

/* Records the failure @rc of conn_read_message() (SQLITED_EPROTO comes
 * recorded) and breaks the connection. Returns @rc, or SQLITED_ECLOSED for
 * a daemon that hung up. */
static int read_failed(sqlited *db, int rc)
{
    if (rc == SQLITED_EPROTO)
        return conn_break(db, rc);
    /* A daemon that closes after an error notification may leave our
     * request unread, which turns the end of stream into a reset. */
    if (rc == SQLITED_ECLOSED || (rc == -ECONNRESET && db->note))
        return conn_break(db, closed_by_daemon(db));
    if (rc == -ETIMEDOUT)
        return conn_break(db, err_set(db, rc,
                                      "timed out waiting for "
                                      "the daemon's reply"));
    return conn_break(db, err_set(db, rc, NULL));
}

/* Decodes the envelope of the message @msg into @m. Returns 1 for a
 * response; 0 for a notification, recorded (note_record()); or
 * SQLITED_EPROTO, recorded, with the connection broken. */
static int conn_parse(sqlited *db, const char *msg, size_t len,
                      struct rpc_message *m)
{
    const char *why = "";
    bool has_msgid;

    if (rpc_parse_framed(msg, len, m, &has_msgid, &why))
        return conn_break(db, err_setf(db, SQLITED_EPROTO,
                                       "malformed reply from the daemon: %s",
                                       why ? why : "bad envelope"));
    switch (m->kind) {
    case RPC_RESPONSE:
        return 1;
    case RPC_NOTIFICATION:
        note_record(db, m);
        return 0;
    default:
        return conn_break(
            db, err_set(db, SQLITED_EPROTO, "the daemon sent a request"));
    }
}

/* Whether the response @m is the one a call awaiting @msgid waits for: with
 * SQLITED_ANY, that of any pending request not answered yet. */
static bool is_awaited(sqlited *db, uint32_t msgid, const struct rpc_message *m)
{
    const struct pending *p;

    if (msgid != SQLITED_ANY)
        return m->msgid == msgid;
    p = pending_find(db, m->msgid);
    return p && !p->reply;
}

/* Reads messages until the response to @msgid arrives, or with @msgid
 * SQLITED_ANY that of any pending request not answered yet, and decodes its
 * envelope into @m, whose readers point into the decoder's buffer (valid
 * until the next read). On the way, notifications are recorded, the
 * responses to other pending requests stashed, and those to cancels
 * skipped; an interrupt (sqlited_interrupt()) sends cancel for what it
 * waits for, then waits on. With @stash_only it awaits nothing: it takes in
 * what has come, without waiting, and returns 0 once nothing more has (@m
 * untouched). Returns 0, or a transport failure, recorded, with the
 * connection broken. */
static int conn_take(sqlited *db, uint32_t msgid, bool stash_only,
                     int64_t deadline, struct rpc_message *m)
{
    for (;;) {
        struct rpc_message got;
        const char *msg;
        size_t len;
        int rc = conn_read_message(db, stash_only ? now_ms() : deadline,
                                   !stash_only, &msg, &len);

        if (rc == -ETIMEDOUT && stash_only)
            return 0;
        if (rc == WAIT_INTERRUPTED) {
            rc = cancel_awaited(db, msgid);
            if (rc)
                return read_failed(db, rc);
            continue; /* for the answer: the request's own, or the cancel's */
        }
        if (rc)
            return read_failed(db, rc);
        rc = conn_parse(db, msg, len, &got);
        if (rc == 1 && cancel_answered(db, got.msgid))
            continue;
        if (rc == 1 && !stash_only && is_awaited(db, msgid, &got)) {
            *m = got;
            return 0;
        }
        if (rc == 1)
            rc = pending_stash(db, &got, msg, len, msgid);
        if (rc < 0)
            return rc;
    }
}

/* Waits for the response to @msgid (SQLITED_ANY: see conn_take()). */
/* The deadline of a wait: @deadline, or when there is none (< 0), the end
 * of the connection's I/O timeout (sqlited_set_io_timeout()) from now. */
static int64_t io_deadline(const sqlited *db, int64_t deadline)
{
    if (deadline < 0 && db->io_timeout_ms > 0)
        return now_ms() + db->io_timeout_ms;
    return deadline;
}

static int conn_await(sqlited *db, uint32_t msgid, int64_t deadline,
                      struct rpc_message *m)
{
    return conn_take(db, msgid, false, io_deadline(db, deadline), m);
}

/* Stashes the responses that have come, without waiting. */
static int conn_pump(sqlited *db)
{
    return conn_take(db, SQLITED_ANY, true, -1, NULL);
}

/* Sends all of @data, after the cancels that wait in db->cancel_out (a
 * request must not land inside one). Without a deadline the send blocks,
 * unless requests sent with sqlited_send_*() are pending, fetches were sent
 * ahead or cancels are unanswered: past its limits (PROTOCOL.md) the daemon
 * stops reading a connection until the client reads its responses, and a
 * client blocked in send() would never read them. While answers are due
 * it therefore waits for room or for responses, and stashes those.
 * Returns 0, a negated errno, or the failure of taking in a response,
 * recorded, with the connection broken. */
static int conn_send(sqlited *db, const char *data, size_t len,
                     int64_t deadline)
{
    for (;;) {
        bool owed = db->cancel_sent < db->cancel_out.len;
        bool pump = db->npending > 0 || db->nfetching > 0 || db->ncancels > 0;
        bool nonblocking = pump || deadline >= 0;
        ssize_t n;

        if (owed) {
            int rc = cancel_flush(db);
            if (rc)
                return rc;
            if (db->cancel_sent == db->cancel_out.len)
                continue;
            errno = EAGAIN; /* the rest waits for room */
            n = -1;
            nonblocking = true;
        } else if (len == 0) {
            return 0;
        } else {
            n = send(db->fd, data, len,
                     MSG_NOSIGNAL | (nonblocking ? MSG_DONTWAIT : 0));
        }
        if (n >= 0) {
            data += n;
            len -= (size_t)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (!nonblocking || (errno != EAGAIN && errno != EWOULDBLOCK))
            return -errno;
        int ready =
            conn_wait(db, pump ? POLLOUT | POLLIN : POLLOUT, deadline, false);
        if (ready < 0)
            return ready;
        if (pump && (ready & POLLIN)) {
            int rc = conn_pump(db);
            if (rc)
                return rc;
        }
    }
}

/* The msgid of the next request: never 0 (SQLITED_ANY), and once the
 * counter has wrapped, never that of a request still pending, of a fetch
 * sent ahead or of a cancel not answered yet. */
static uint32_t next_msgid(sqlited *db)
{
    uint32_t msgid;

    do {
        msgid = db->next_msgid++;
    } while (msgid == SQLITED_ANY || pending_find(db, msgid) ||
             fetch_find(db, msgid) || cancel_find(db, msgid) >= 0);
    return msgid;
}

/* Starts a request in db->req: [0, msgid, method, [ with @nparams values
 * for the caller to pack. Returns the msgid (next_msgid()). */
static uint32_t req_begin(sqlited *db, const char *method, uint32_t nparams)
{
    uint32_t msgid = next_msgid(db);

    /* A large request's buffer is not kept for the life of the connection. */
    if (db->req.cap > KEEP_BYTES) {
        size_t limit = db->req.limit;
        codec_buf_close(&db->req);
        codec_buf_init(&db->req, limit);
    }
    codec_buf_reset(&db->req);
    rpc_pack_request_head(&db->req, msgid, method, nparams);
    return msgid;
}

/* Accepts a daemon error code as a call result: SQLite codes (> 0) and the
 * daemon's own. Client codes, errno values and 0 never come from the wire; a
 * reply that claims them is malformed. */
static bool wire_code_valid(int code)
{
    return code > 0 || (code <= -1000 && code > -1100);
}

/* Sends the request @msgid in db->req. Returns 0; a failure of the request,
 * recorded, with nothing sent and the connection usable (-ENOMEM,
 * SQLITED_TOO_LARGE); or a failure of the transport, recorded, with the
 * connection broken. */
static int conn_send_request(sqlited *db, uint32_t msgid, int64_t deadline)
{
    int rc;

    if (db->req.error == CODEC_BUF_NOMEM)
        return err_set(db, -ENOMEM, NULL);
    if (db->req.error != CODEC_BUF_OK)
        return err_setf(db, SQLITED_TOO_LARGE,
                        "request larger than the daemon's limit of %zu bytes",
                        db->max_message);

    note_clear(db);
    /* The previous reply is consumed: give back a large read buffer. */
    codec_decoder_shrink(&db->dec, KEEP_BYTES);

    deadline = io_deadline(db, deadline);
    rc = conn_send(db, db->req.data, db->req.len, deadline);
    if (rc == 0 || db->broken)
        return rc;
    /* A daemon that hung up may have said why first: read what is already
     * there, without waiting. An orderly end of stream (with or without an
     * error notification before it) is a close like any other, reported as
     * SQLITED_ECLOSED. */
    if (rc == -EPIPE || rc == -ECONNRESET) {
        struct rpc_message m;
        int drained = conn_await(db, msgid, now_ms(), &m);
        if (drained == SQLITED_ECLOSED)
            return drained;
    }
    if (rc == -ETIMEDOUT)
        return conn_break(db, err_set(db, rc,
                                      "timed out sending to the "
                                      "daemon"));
    return conn_break(db, err_set(db, rc, NULL));
}

/* Looks at the error of the response @m. Returns 0 when it has none; else
 * the daemon's error code with its name and message recorded (the
 * connection usable), or SQLITED_EPROTO for a malformed error object, with
 * the connection broken. */
static int reply_check(sqlited *db, const struct rpc_message *m)
{
    struct codec_reader r = m->error;
    const char *name, *msg;
    uint32_t name_len, msg_len;
    int code;

    if (!m->is_error)
        return 0;
    if (rpc_read_error(&r, &code, &name, &name_len, &msg, &msg_len) ||
        !wire_code_valid(code))
        return conn_break(db, err_set(db, SQLITED_EPROTO,
                                      "malformed error object from the "
                                      "daemon"));
    /* The daemon ended the transaction, so a new one may begin. */
    if (code == SQLITED_TX_EXPIRED)
        db->tx_id = 0;
    return err_copy(db, code, name, name_len, msg, msg_len);
}

/* Sends the request in db->req and waits for its response. Returns 0 with
 * the envelope in @m (result reader ready), the daemon's error code with its
 * name and message recorded (connection usable, m->is_error set, m->error
 * on the error object), or a failure of the request or the transport,
 * recorded (m->is_error false, or the connection broken). */
static int conn_call(sqlited *db, uint32_t msgid, int64_t deadline,
                     struct rpc_message *m)
{
    int rc;

    m->is_error = false;
    deadline = io_deadline(db, deadline);
    rc = conn_send_request(db, msgid, deadline);
    if (rc == 0)
        rc = conn_await(db, msgid, deadline, m);
    return rc ? rc : reply_check(db, m);
}

/* ------------------------------------------------------- map walking help */

static bool key_is(const char *k, uint32_t len, const char *want)
{
    size_t n = strlen(want);
    return len == n && memcmp(k, want, n) == 0;
}

/* Reads a map key. Returns 0 with a string key, 1 when the key is of another
 * type (then skipped, with its value still to read), -1 on malformed bytes. */
static int read_key(struct codec_reader *r, const char **k, uint32_t *len)
{
    if (codec_read_str(r, k, len) == 0)
        return 0;
    return codec_skip(r) ? -1 : 1;
}

/* ------------------------------------------------------------- streams */

/* Puts @rows, whose result continues in cursor @cursor, in @db's list of
 * streams. */
static void rows_attach(sqlited_rows *rows, sqlited *db, uint64_t cursor)
{
    rows->cursor = cursor;
    rows->db = db;
    rows->stream_prev = NULL;
    rows->stream_next = db->streams;
    if (db->streams)
        db->streams->stream_prev = rows;
    db->streams = rows;
}

/* Takes @rows out of its connection's list of streams: from now on it
 * does not refer to the connection. */
static void rows_detach(sqlited_rows *rows)
{
    sqlited *db = rows->db;

    if (!db)
        return;
    if (rows->stream_prev)
        rows->stream_prev->stream_next = rows->stream_next;
    else
        db->streams = rows->stream_next;
    if (rows->stream_next)
        rows->stream_next->stream_prev = rows->stream_prev;
    rows->stream_prev = rows->stream_next = NULL;
    rows->db = NULL;
}

/* Sends close [@id] for a cursor that is abandoned, and waits for the
 * answer without looking at it: the daemon may have ended the cursor already
 * (SQLITED_CURSOR_EXPIRED), and a cursor left open ends with the connection
 * anyway. Best effort, on a connection that still works; the connection's
 * last error stays as it was. */
static void cursor_close(sqlited *db, uint64_t id)
{
    struct err_saved saved;
    struct rpc_message m;
    uint32_t msgid;

    if (db->broken)
        return;
    err_save(db, &saved);
    msgid = req_begin(db, "close", 1);
    msgpack_pack_uint64(&db->req.pk, id);
    conn_call(db, msgid, -1, &m);
    err_restore(db, &saved);
}

/* Sends fetch [cursor] for the chunk after the current one of @rows, on
 * its connection, without waiting: the fetch is then in flight
 * (rows->ahead). Returns 0, or the failure of conn_send_request(),
 * recorded. */
static int fetch_send(sqlited_rows *rows)
{
    sqlited *db = rows->db;
    uint32_t msgid = req_begin(db, "fetch", 1);
    int rc;

    msgpack_pack_uint64(&db->req.pk, rows->cursor);
    rc = conn_send_request(db, msgid, -1);
    if (rc == 0) {
        rows->ahead = msgid;
        db->nfetching++;
    }
    return rc;
}

/* Fetch-ahead: asks for the next chunk of @rows as soon as the current one
 * has come, so that the daemon builds it while the application reads this
 * one. Called by the call that received the chunk, once it is copied
 * (sending may read answers into the connection's buffer). The connection's
 * last error stays as it was. Out of memory before anything is sent,
 * nothing is: sqlited_rows_next() sends the fetch when it needs the chunk.
 * A transport failure breaks the connection; it is kept in the rows for
 * sqlited_rows_next() to report where the chunk would have come. */
static void rows_prefetch(sqlited_rows *rows)
{
    sqlited *db = rows->db;
    struct err_saved saved;

    if (!db || db->broken || !rows->cursor || rows->ahead)
        return;
    err_save(db, &saved);
    if (fetch_send(rows) && db->broken) {
        rows->ahead_failed = db->errcode;
        rows->ahead_msg = copy_string(db->errmsg, strlen(db->errmsg));
    }
    err_restore(db, &saved);
}

/* Takes the answer to the fetch that @rows sent ahead: the one kept if it
 * came during another call, else waits for it. Stores its envelope in @m,
 * whose readers point into *@own, a buffer the caller now owns, or, when
 * *@own is NULL, into the connection's buffer (valid until its next read).
 * Either way the fetch is no longer in flight. Returns 0, or a transport
 * failure, recorded, with the connection broken. */
static int rows_take_ahead(sqlited_rows *rows, struct rpc_message *m,
                           char **own)
{
    sqlited *db = rows->db;
    int rc = 0;

    *own = rows->ahead_reply;
    if (*own)
        conn_parse(db, *own, rows->ahead_len, m); /* it parsed when kept */
    else
        rc = conn_await(db, rows->ahead, -1, m);
    rows->ahead_reply = NULL;
    rows->ahead = 0;
    db->nfetching--;
    return rc;
}

/* Forgets the fetch @rows sent ahead, its answer if kept, and the failure
 * of sending it: their connection is closing, or they are. */
static void rows_drop_ahead(sqlited_rows *rows)
{
    if (rows->ahead && rows->db)
        rows->db->nfetching--;
    rows->ahead = 0;
    free(rows->ahead_reply);
    rows->ahead_reply = NULL;
    rows->ahead_failed = 0;
    free(rows->ahead_msg);
    rows->ahead_msg = NULL;
}

/* ---------------------------------------------------------- connection */

/* Reads the "limits" map of the handshake. Returns 0 or -1 (malformed). */
static int hello_limits(sqlited *db, struct codec_reader *r)
{
    uint32_t n;

    if (codec_read_map(r, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int kr = read_key(r, &k, &klen);
        int64_t v;

        if (kr < 0)
            return -1;
        if (kr == 0 && key_is(k, klen, "max_message_size")) {
            if (codec_read_int64(r, &v) || v < 0)
                return -1;
            db->max_message =
                (uint64_t)v > SIZE_MAX ? SIZE_MAX : (size_t)(uint64_t)v;
        } else if (kr == 0 && key_is(k, klen, "max_params")) {
            if (codec_read_int64(r, &v) || v < 0 || v > UINT_MAX)
                return -1;
            db->max_params = (unsigned)v;
        } else if (kr == 0 && key_is(k, klen, "max_items")) {
            if (codec_read_uint32(r, &db->max_items))
                return -1;
        } else if (kr == 0 && key_is(k, klen, "tx_idle_timeout_ms")) {
            if (codec_read_int64(r, &db->tx_idle_timeout_ms) ||
                db->tx_idle_timeout_ms < 0)
                return -1;
        } else if (kr == 0 && key_is(k, klen, "tx_max_duration_ms")) {
            if (codec_read_int64(r, &db->tx_max_duration_ms) ||
                db->tx_max_duration_ms < 0)
                return -1;
        } else if (codec_skip(r)) {
            return -1;
        }
    }
    return 0;
}

/* Checks and stores the handshake result. The protocol version is judged
 * first: a daemon of another version may shape the rest differently. */
static int hello_parse(sqlited *db, struct codec_reader r)
{
    bool have_protocol = false, bad = false;
    int64_t protocol = 0;
    uint32_t n;

    if (codec_read_map(&r, &n))
        return err_set(db, SQLITED_EPROTO, "handshake reply is not a map");
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *s;
        uint32_t klen, slen;
        char **dst = NULL;
        int kr = read_key(&r, &k, &klen);

        if (kr < 0)
            return err_set(db, SQLITED_EPROTO, "malformed handshake reply");
        if (kr == 0 && key_is(k, klen, "protocol")) {
            struct codec_reader probe = r;
            if (codec_read_int64(&probe, &protocol) == 0) {
                have_protocol = true;
                r = probe;
                continue;
            }
            bad = true;
        } else if (kr == 0 && key_is(k, klen, "limits")) {
            struct codec_reader probe = r;
            if (hello_limits(db, &probe) == 0) {
                r = probe;
                continue;
            }
            bad = true;
        } else if (kr == 0 && key_is(k, klen, "version")) {
            dst = &db->server_version;
        } else if (kr == 0 && key_is(k, klen, "sqlite_version")) {
            dst = &db->sqlite_version;
        }
        if (dst && codec_read_str(&r, &s, &slen) == 0) {
            free(*dst);
            *dst = copy_string(s, slen);
            if (!*dst)
                return err_set(db, -ENOMEM, NULL);
            continue;
        }
        if (dst)
            bad = true;
        if (codec_skip(&r))
            return err_set(db, SQLITED_EPROTO, "malformed handshake reply");
    }
    if (!have_protocol)
        return err_set(db, SQLITED_EPROTO,
                       "handshake reply has no protocol version");
    if (protocol != SQLITED_PROTOCOL_VERSION)
        return err_setf(db, SQLITED_EVERSION,
                        "the daemon speaks protocol %lld, this library %d",
                        (long long)protocol, SQLITED_PROTOCOL_VERSION);
    if (bad)
        return err_set(db, SQLITED_EPROTO, "malformed handshake reply");
    return 0;
}

/* Connects @fd to @addr within @deadline. The socket is non-blocking here. */
static int connect_socket(int fd, const struct sockaddr_un *addr,
                          socklen_t addr_len, int64_t deadline)
{
    for (;;) {
        if (connect(fd, (const struct sockaddr *)addr, addr_len) == 0)
            return 0;
        if (errno == EINPROGRESS || errno == EINTR) {
            int err = 0;
            socklen_t len = sizeof(err);
            int rc = wait_fd(fd, POLLOUT, deadline);
            if (rc < 0)
                return rc;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
                return -errno;
            return -err;
        }
        if (errno != EAGAIN)
            return -errno;
        /* A Unix socket whose listen backlog is full refuses a non-blocking
         * connect with EAGAIN and cannot be polled for room: retry until
         * the deadline, as a blocking connect would wait. */
        int pause = 10;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            if (left < pause)
                pause = (int)left;
        }
        poll(NULL, 0, pause);
    }
}

SQLITED_API int sqlited_open(const char *path, int timeout_ms, sqlited **out)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct codec_limits limits = {
        .max_message = CLIENT_MAX_MESSAGE,
        .max_depth = RPC_MAX_DEPTH,
        .max_items = UINT32_MAX,
    };
    struct rpc_message m;
    int64_t deadline;
    sqlited *db;
    size_t path_len;
    int rc, flags;

    if (!out)
        return SQLITED_EMISUSE;
    *out = NULL;
    if (!path)
        path = SQLITED_DEFAULT_SOCKET;
    path_len = strlen(path);
    if (path_len == 0)
        return -ENOENT;
    if (path_len >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, path_len + 1);
    deadline = timeout_ms > 0 ? now_ms() + timeout_ms : -1;

    db = calloc(1, sizeof(*db));
    if (!db)
        return -ENOMEM;
    db->fd = -1;
    db->next_msgid = 1;
    db->max_message = RPC_MAX_MESSAGE_DEFAULT;
    db->max_params = RPC_MAX_PARAMS;
    db->max_items = RPC_MAX_ITEMS;
    db->tx_idle_timeout_ms = db->tx_max_duration_ms = -1;
    db->timeout_ms = -1;
    db->wake[0] = db->wake[1] = -1;
    codec_decoder_init(&db->dec, &limits);
    codec_buf_init(&db->req, 0);
    codec_buf_init(&db->cancel_out, 0);
    atomic_init(&db->interrupt, 0);
    err_ok(db);

    if (pipe2(db->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        rc = -errno;
        db->wake[0] = db->wake[1] = -1;
        goto fail;
    }

    db->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (db->fd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = connect_socket(
        db->fd, &addr,
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_len + 1),
        deadline);
    if (rc)
        goto fail;
    /* Calls block; the handshake polls before each read and write instead
     * so that the deadline still applies. */
    flags = fcntl(db->fd, F_GETFL);
    if (flags < 0 || fcntl(db->fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        rc = -errno;
        goto fail;
    }

    rc = conn_call(db, req_begin(db, "hello", 0), deadline, &m);
    /* A daemon that refuses the connection (at --max-connections, say)
     * says why in an error notification, then hangs up: its code is the
     * answer, there being no handle to hold the message. */
    if (rc == SQLITED_ECLOSED && db->note && wire_code_valid(db->note_code))
        rc = db->note_code;
    if (rc)
        goto fail;
    rc = hello_parse(db, m.result);
    if (rc)
        goto fail;
    if (!db->server_version)
        db->server_version = copy_string("", 0);
    if (!db->sqlite_version)
        db->sqlite_version = copy_string("", 0);
    if (!db->server_version || !db->sqlite_version) {
        rc = -ENOMEM;
        goto fail;
    }
    /* Refuse here what the daemon would refuse by closing the connection. */
    db->req.limit = db->max_message > 0 ? db->max_message : SIZE_MAX;
    err_ok(db);
    *out = db;
    return 0;

fail:
    sqlited_close(db);
    return rc;
}

SQLITED_API void sqlited_close(sqlited *db)
{
    if (!db)
        return;
    /* The daemon ends the cursors of a connection that closes; their rows
     * keep the chunk they hold and fail with SQLITED_ECLOSED after it. The
     * next chunk, even if its answer came, went with the connection. */
    while (db->streams) {
        rows_drop_ahead(db->streams);
        rows_detach(db->streams);
    }
    /* Pending requests are forgotten; the daemon still carries them out. */
    for (uint32_t i = 0; i < db->npending; i++)
        free(db->pending[i].reply);
    free(db->pending);
    if (db->fd >= 0)
        close(db->fd);
    if (db->wake[0] >= 0) {
        close(db->wake[0]);
        close(db->wake[1]);
    }
    codec_decoder_close(&db->dec);
    codec_buf_close(&db->req);
    codec_buf_close(&db->cancel_out);
    free(db->cancels);
    err_free_owned(db);
    note_clear(db);
    free(db->server_version);
    free(db->sqlite_version);
    free(db->op_strings);
    free(db->health_reason);
    free(db);
}

/* Common entry of every call: NULL and broken connections fail here. An
 * interrupt that came while no call waited is dropped. */
static int call_begin(sqlited *db)
{
    if (!db)
        return SQLITED_EMISUSE;
    if (atomic_exchange(&db->interrupt, 0))
        wake_drain(db);
    if (db->broken)
        return err_set(db, SQLITED_ECLOSED,
                       "the connection was closed by an earlier error");
    return 0;
}

SQLITED_API int sqlited_ping(sqlited *db)
{
    struct rpc_message m;
    const char *s;
    uint32_t len;
    int rc = call_begin(db);

    if (rc)
        return rc;
    rc = conn_call(db, req_begin(db, "ping", 0), -1, &m);
    if (rc)
        return rc;
    if (codec_read_str(&m.result, &s, &len) || !key_is(s, len, "pong"))
        return conn_break(
            db, err_set(db, SQLITED_EPROTO, "the daemon did not answer pong"));
    return err_ok(db);
}

SQLITED_API const char *sqlited_server_version(sqlited *db)
{
    return db ? db->server_version : "";
}

SQLITED_API const char *sqlited_sqlite_version(sqlited *db)
{
    return db ? db->sqlite_version : "";
}

SQLITED_API size_t sqlited_max_message_size(sqlited *db)
{
    return db ? db->max_message : 0;
}

SQLITED_API unsigned sqlited_max_params(sqlited *db)
{
    return db ? db->max_params : 0;
}

SQLITED_API int64_t sqlited_tx_idle_timeout(sqlited *db)
{
    return db ? db->tx_idle_timeout_ms : -1;
}

SQLITED_API int64_t sqlited_tx_max_duration(sqlited *db)
{
    return db ? db->tx_max_duration_ms : -1;
}

SQLITED_API int sqlited_errcode(sqlited *db)
{
    return db ? db->errcode : SQLITED_EMISUSE;
}

SQLITED_API const char *sqlited_errname(sqlited *db)
{
    return db ? db->errname : sqlited_codename(SQLITED_EMISUSE);
}

SQLITED_API const char *sqlited_errmsg(sqlited *db)
{
    return db ? db->errmsg : sqlited_strerror(SQLITED_EMISUSE);
}

SQLITED_API int64_t sqlited_changes(sqlited *db)
{
    return db ? db->changes : 0;
}

SQLITED_API int64_t sqlited_last_insert_rowid(sqlited *db)
{
    return db ? db->last_insert_rowid : 0;
}

/* ---------------------------------------------------------------- results */

/* What a result map holds, found in one pass over its keys. A fetch's
 * answer is read the same way: it has rows and maybe a cursor, no columns. */
struct result_scan {
    bool has_columns, has_rows, has_changes, has_rowid, has_cursor;
    struct codec_reader columns; /* on the first name */
    uint32_t ncols;
    struct codec_reader rows; /* on the first row */
    uint32_t nrows;
    int64_t changes, rowid;
    int64_t cursor; /* positive */
};

/* Walks the result map at @r (keys in any order, unknown keys skipped),
 * leaving @r just past it. Returns 0 or -1 when it is malformed. Row
 * contents are checked later, one row at a time, by sqlited_rows_next(). */
static int result_scan(struct codec_reader *at, struct result_scan *s)
{
    struct codec_reader r = *at;
    uint32_t n;

    memset(s, 0, sizeof(*s));
    if (codec_read_map(&r, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int kr = read_key(&r, &k, &klen);

        if (kr < 0)
            return -1;
        if (kr == 0 && key_is(k, klen, "columns")) {
            if (s->has_columns || codec_read_array(&r, &s->ncols))
                return -1;
            s->has_columns = true;
            s->columns = r;
            for (uint32_t c = 0; c < s->ncols; c++) {
                const char *name;
                uint32_t len;
                if (codec_read_str(&r, &name, &len))
                    return -1;
            }
        } else if (kr == 0 && key_is(k, klen, "rows")) {
            if (s->has_rows || codec_read_array(&r, &s->nrows))
                return -1;
            s->has_rows = true;
            s->rows = r;
            for (uint32_t row = 0; row < s->nrows; row++)
                if (codec_skip(&r))
                    return -1;
        } else if (kr == 0 && key_is(k, klen, "changes")) {
            if (s->has_changes || codec_read_int64(&r, &s->changes))
                return -1;
            s->has_changes = true;
        } else if (kr == 0 && key_is(k, klen, "last_insert_rowid")) {
            if (s->has_rowid || codec_read_int64(&r, &s->rowid))
                return -1;
            s->has_rowid = true;
        } else if (kr == 0 && key_is(k, klen, "cursor")) {
            if (s->has_cursor || codec_read_int64(&r, &s->cursor) ||
                s->cursor <= 0)
                return -1;
            s->has_cursor = true;
        } else if (codec_skip(&r)) {
            return -1;
        }
    }
    /* SQLite allows at most 32767 columns; an int must hold the count. */
    if (s->ncols > INT_MAX)
        return -1;
    *at = r;
    return 0;
}

/* Moves @r from the buffer at @from to the same offset in @to. */
static void rebase(struct codec_reader *r, const char *from, const char *to,
                   size_t len)
{
    size_t off = (size_t)((const char *)r->p - from);

    codec_reader_init(r, to + off, len - off);
}

/* Makes the chunk at @start (@len bytes), whose keys @s found, the current
 * chunk of @rows: copies it, or with @own not NULL takes over @own, the
 * buffer that holds it; with the row reader on its first row; and counts
 * its rows. Returns 0 or -ENOMEM, with @rows unchanged. */
static int rows_take_chunk(sqlited_rows *rows, const struct result_scan *s,
                           const char *start, size_t len, char *own)
{
    char *data = own;

    if (!data) {
        data = malloc(len ? len : 1);
        if (!data)
            return -ENOMEM;
        memcpy(data, start, len);
    }
    free(rows->data);
    rows->data = data;
    rows->nrows = s->has_rows ? s->nrows : 0;
    rows->index = 0;
    rows->received += rows->nrows;
    if (s->has_rows) {
        rows->next = s->rows;
        if (!own)
            rebase(&rows->next, start, data, len);
    }
    return 0;
}

/* Builds a sqlited_rows from the result value at @start (@len bytes): copies
 * it, then the column names. The caller attaches the cursor, if any.
 * Returns 0 or -ENOMEM. */
static int rows_build(const struct result_scan *s, const char *start,
                      size_t len, sqlited_rows **out)
{
    sqlited_rows *rows = calloc(1, sizeof(*rows));
    struct codec_reader cr;
    size_t bytes, n = s->ncols;
    char *p;

    *out = NULL;
    if (!rows)
        return -ENOMEM;
    if (rows_take_chunk(rows, s, start, len, NULL))
        goto nomem;
    rows->ncols = (int)s->ncols;
    rows->changes = s->has_changes ? s->changes : 0;
    rows->last_insert_rowid = s->has_rowid ? s->rowid : 0;

    /* Names: one block of pointers followed by the strings. Every name took
     * at least one byte of the message, so these sizes cannot overflow. */
    bytes = n * sizeof(char *);
    cr = s->columns;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        uint32_t nlen;
        codec_read_str(&cr, &name, &nlen);
        bytes += (size_t)nlen + 1;
    }
    rows->names = malloc(bytes ? bytes : 1);
    rows->values = calloc(n ? n : 1, sizeof(*rows->values));
    if (!rows->names || !rows->values)
        goto nomem;
    p = (char *)(rows->names + n);
    cr = s->columns;
    for (size_t i = 0; i < n; i++) {
        const char *name;
        uint32_t nlen;
        codec_read_str(&cr, &name, &nlen);
        memcpy(p, name, nlen);
        p[nlen] = '\0';
        rows->names[i] = p;
        p += (size_t)nlen + 1;
    }
    *out = rows;
    return 0;

nomem:
    sqlited_rows_close(rows);
    return -ENOMEM;
}

/* ------------------------------------------------------------ SQL requests */

/* Packs a parameter list: its array or map header, then its values. */
static void params_pack(struct codec_buf *b, const sqlited_params *params)
{
    if (params->style == STYLE_NAMED)
        msgpack_pack_map(&b->pk, params->count);
    else
        msgpack_pack_array(&b->pk, params->count);
    codec_buf_append(b, params->buf.data, params->buf.len);
}

/* Which options of @db a SQL request carries, by its method. */
enum {
    OPTS_COMMON = 1,    /* tx and timeout_ms: query, exec, batch, bulk */
    OPTS_NONATOMIC = 2, /* a batch's "atomic": false */
    OPTS_LIMITS = 4,    /* a query's max_rows and max_bytes, when set */
    OPTS_SNAPSHOT = 8,  /* tx, when the open transaction is read-only */
};

/* Whether a request with @opts carries the option tx. */
static bool opts_tx(const sqlited *db, unsigned opts)
{
    return db->tx_id > 0 && ((opts & OPTS_COMMON) ||
                             ((opts & OPTS_SNAPSHOT) && db->tx_read_only));
}

/* Entries of the options map that ends a SQL request on @db: those of
 * @opts that are set. 0 when the request carries no options map. */
static uint32_t opts_count(const sqlited *db, unsigned opts)
{
    bool common = opts & OPTS_COMMON, limits = opts & OPTS_LIMITS;

    return opts_tx(db, opts) + (common && db->timeout_ms >= 0) +
           ((opts & OPTS_NONATOMIC) != 0) + (limits && db->max_rows > 0) +
           (limits && db->max_bytes > 0);
}

/* Packs the options map counted by opts_count(), if it has any entry: the
 * one place where a SQL request learns its transaction, its deadline and
 * its limits. */
static void opts_pack(sqlited *db, unsigned opts)
{
    bool common = opts & OPTS_COMMON, limits = opts & OPTS_LIMITS;
    uint32_t n = opts_count(db, opts);

    if (n == 0)
        return;
    msgpack_pack_map(&db->req.pk, n);
    if (opts_tx(db, opts)) {
        codec_pack_cstr(&db->req, "tx");
        msgpack_pack_int64(&db->req.pk, db->tx_id);
    }
    if (common && db->timeout_ms >= 0) {
        codec_pack_cstr(&db->req, "timeout_ms");
        msgpack_pack_int(&db->req.pk, db->timeout_ms);
    }
    if (opts & OPTS_NONATOMIC) {
        codec_pack_cstr(&db->req, "atomic");
        msgpack_pack_false(&db->req.pk);
    }
    if (limits && db->max_rows > 0) {
        codec_pack_cstr(&db->req, "max_rows");
        msgpack_pack_uint64(&db->req.pk, db->max_rows);
    }
    if (limits && db->max_bytes > 0) {
        codec_pack_cstr(&db->req, "max_bytes");
        msgpack_pack_uint64(&db->req.pk, db->max_bytes);
    }
}

/* Starts a SQL request: [0, msgid, method, [ with room for @nargs arguments,
 * which the caller packs, and then the options map if there is one, which
 * opts_pack() packs. Returns the msgid. */
static uint32_t sql_req_begin(sqlited *db, const char *method, uint32_t nargs,
                              unsigned opts)
{
    return req_begin(db, method, nargs + (opts_count(db, opts) > 0));
}

/* Refuses, before sending, an array the daemon would answer by closing the
 * connection: more than max_items elements. */
static int check_items(sqlited *db, uint64_t n, const char *what)
{
    if (n <= db->max_items)
        return 0;
    return err_setf(db, SQLITED_TOO_LARGE,
                    "%llu %s, more than the daemon's limit of %lu",
                    (unsigned long long)n, what, (unsigned long)db->max_items);
}

/* Scans the result of the response @m, a map as result_scan() reads it;
 * *@end receives a reader just past it. Returns 0, or SQLITED_EPROTO,
 * recorded, with the connection broken. */
static int result_check(sqlited *db, const struct rpc_message *m,
                        struct result_scan *scan, struct codec_reader *end)
{
    *end = m->result;
    if (result_scan(end, scan))
        return conn_break(db, err_set(db, SQLITED_EPROTO,
                                      "malformed result from the daemon"));
    return 0;
}

/* Sends the request in db->req and scans its result (result_check()).
 * Returns 0, or the call's error, recorded. */
static int call_scan(sqlited *db, uint32_t msgid, struct rpc_message *m,
                     struct result_scan *scan, struct codec_reader *end)
{
    int rc = conn_call(db, msgid, -1, m);

    return rc ? rc : result_check(db, m, scan, end);
}

static const char *const sql_method_name[] = {
    [SQL_EXEC] = "exec",
    [SQL_QUERY] = "query",
    [SQL_EXPLAIN] = "explain",
};

/* explain runs on a reader, outside a transaction of the writer, and
 * returns a plan of a few rows: its one option is a read-only
 * transaction's tx. */
static const unsigned sql_method_opts[] = {
    [SQL_EXEC] = OPTS_COMMON,
    [SQL_QUERY] = OPTS_COMMON | OPTS_LIMITS,
    [SQL_EXPLAIN] = OPTS_SNAPSHOT,
};

/* Packs in db->req the request of @method for @sql and @params, and stores
 * its msgid in *@msgid. Returns 0, or a failure, recorded, with nothing
 * packed or sent (NULL @sql, a broken connection). */
static int sql_pack(sqlited *db, enum sql_method method, const char *sql,
                    const sqlited_params *params, uint32_t *msgid)
{
    unsigned opts = sql_method_opts[method];
    bool with_params = params && params->count > 0;
    bool with_opts;
    int rc;

    if (!sql)
        return err_set(db, SQLITED_EMISUSE, "sql is NULL");
    rc = call_begin(db);
    if (rc)
        return rc;

    /* [sql, params?, options?]: params is nil when only options follow. */
    with_opts = opts_count(db, opts) > 0;
    *msgid = sql_req_begin(db, sql_method_name[method],
                           with_params || with_opts ? 2 : 1, opts);
    codec_pack_cstr(&db->req, sql);
    if (with_params)
        params_pack(&db->req, params);
    else if (with_opts)
        msgpack_pack_nil(&db->req.pk);
    opts_pack(db, opts);
    return 0;
}

/* Takes the result of a SQL request of @method from its response @m: records
 * its counts and, unless @rows is NULL, stores it in *@rows. The rest of a
 * result that streams stays on the daemon for the rows to fetch, or is
 * closed there when there are no rows to fetch it. Returns 0 or a failure,
 * recorded. */
static int sql_take(sqlited *db, enum sql_method method,
                    const struct rpc_message *m, sqlited_rows **rows)
{
    struct result_scan scan;
    struct codec_reader end;
    int rc = result_check(db, m, &scan, &end);

    if (rc)
        return rc;
    /* A read has no counts; it leaves those of the last write in place.
     * They are recorded first: the call succeeded on the daemon even if
     * copying the rows runs out of memory below. */
    if (method == SQL_EXEC || scan.has_changes) {
        db->changes = scan.has_changes ? scan.changes : 0;
        db->last_insert_rowid = scan.has_rowid ? scan.rowid : 0;
    }
    if (rows) {
        const char *start = (const char *)m->result.p;
        rc = rows_build(&scan, start, (size_t)((const char *)end.p - start),
                        rows);
    }
    /* The rest of the result stays on the daemon until fetched: the rows
     * hold on to the connection for that, or else it is abandoned. */
    if (scan.has_cursor) {
        if (rows && *rows) {
            rows_attach(*rows, db, (uint64_t)scan.cursor);
            rows_prefetch(*rows);
        } else {
            cursor_close(db, (uint64_t)scan.cursor);
        }
    }
    return rc ? err_set(db, rc, NULL) : err_ok(db);
}

/* Shared body of sqlited_exec(), sqlited_query() and sqlited_explain(). */
static int run_sql(sqlited *db, enum sql_method method, const char *sql,
                   const sqlited_params *params, sqlited_rows **rows)
{
    struct rpc_message m;
    uint32_t msgid;
    int rc;

    if (rows)
        *rows = NULL;
    if (!db)
        return SQLITED_EMISUSE;
    if (method != SQL_EXEC && !rows)
        return err_setf(db, SQLITED_EMISUSE,
                        "sqlited_%s() needs a rows out-parameter",
                        sql_method_name[method]);
    rc = sql_pack(db, method, sql, params, &msgid);
    if (rc == 0)
        rc = conn_call(db, msgid, -1, &m);
    return rc ? rc : sql_take(db, method, &m, rows);
}

SQLITED_API int sqlited_exec(sqlited *db, const char *sql,
                             const sqlited_params *params, sqlited_rows **rows)
{
    return run_sql(db, SQL_EXEC, sql, params, rows);
}

SQLITED_API int sqlited_query(sqlited *db, const char *sql,
                              const sqlited_params *params, sqlited_rows **rows)
{
    return run_sql(db, SQL_QUERY, sql, params, rows);
}

SQLITED_API int sqlited_explain(sqlited *db, const char *sql,
                                const sqlited_params *params,
                                sqlited_rows **rows)
{
    return run_sql(db, SQL_EXPLAIN, sql, params, rows);
}

SQLITED_API int sqlited_set_result_limits(sqlited *db, uint64_t max_rows,
                                          uint64_t max_bytes)
{
    if (!db)
        return SQLITED_EMISUSE;
    /* The daemon takes positive int64 values. */
    if (max_rows > INT64_MAX || max_bytes > INT64_MAX)
        return err_set(db, SQLITED_EMISUSE,
                       "result limits must not exceed INT64_MAX");
    db->max_rows = max_rows;
    db->max_bytes = max_bytes;
    return err_ok(db);
}

/* Reads one row's values into rows->values, NUL-terminating TEXT values in
 * rows->text. Only on success does the row position move, so after -ENOMEM
 * the same row can be tried again. */
static int rows_decode(sqlited_rows *rows)
{
    struct codec_reader r = rows->next;
    struct codec_value *v = rows->values;
    size_t need = 0;
    uint32_t n;
    char *p;

    if (codec_read_array(&r, &n) || n != (uint32_t)rows->ncols)
        return SQLITED_EPROTO;
    for (uint32_t i = 0; i < n; i++) {
        if (codec_read(&r, &v[i]))
            return SQLITED_EPROTO;
        switch (v[i].type) {
        case CODEC_NIL:
        case CODEC_INT:
        case CODEC_FLOAT:
        case CODEC_BIN:
            break;
        case CODEC_STR:
            need += (size_t)v[i].v.s.len + 1;
            break;
        case CODEC_BOOL: /* not sent by the daemon; read as SQLite would */
            v[i].v.i = v[i].v.b ? 1 : 0;
            v[i].type = CODEC_INT;
            break;
        case CODEC_UINT: /* above INT64_MAX: SQLite would make it a REAL */
            v[i].v.f = (double)v[i].v.u;
            v[i].type = CODEC_FLOAT;
            break;
        default:
            return SQLITED_EPROTO;
        }
    }
    if (need > rows->text_cap) {
        p = realloc(rows->text, need);
        if (!p)
            return -ENOMEM;
        rows->text = p;
        rows->text_cap = need;
    }
    p = rows->text;
    for (uint32_t i = 0; i < n; i++) {
        if (v[i].type != CODEC_STR)
            continue;
        memcpy(p, v[i].v.s.ptr, v[i].v.s.len);
        p[v[i].v.s.len] = '\0';
        v[i].v.s.ptr = p;
        p += (size_t)v[i].v.s.len + 1;
    }
    rows->next = r;
    return 0;
}

/* Ends the reading of @rows with @rc: every later sqlited_rows_next()
 * returns it. Returns @rc. */
static int rows_fail(sqlited_rows *rows, int rc)
{
    rows->state = ROWS_FAILED;
    rows->failed = rc;
    return rc;
}

/* The rows have no cursor any more: the daemon has sent the last chunk, or
 * ended the cursor. */
static void rows_end_cursor(sqlited_rows *rows)
{
    rows_detach(rows);
    rows->cursor = 0;
}

/* Replaces the exhausted chunk of @rows with the next one: takes the answer
 * to the fetch sent ahead (sent now if it could not be then), as a call on
 * the rows' connection (its error recorded there), then sends the fetch
 * for the chunk after it. Returns 0; -ENOMEM with nothing sent, to be tried
 * again; or the error that ends the result, the rows failed. After an
 * error answered by the daemon the cursor is still closed on
 * sqlited_rows_close(), in case the daemon kept it open (a deadline that
 * passed before the fetch ran). */
static int rows_fetch(sqlited_rows *rows)
{
    sqlited *db = rows->db;
    struct result_scan scan;
    struct rpc_message m;
    struct codec_reader end;
    const char *start;
    char *own = NULL;
    int rc;

    /* The chunk is read: it goes before the next one is taken. */
    free(rows->data);
    rows->data = NULL;
    rows->nrows = rows->index = 0;
    if (!db)
        return rows_fail(rows, SQLITED_ECLOSED);
    /* Sending the fetch ahead broke the connection: say so here, where its
     * answer would have come. */
    if (rows->ahead_failed) {
        rc = rows->ahead_failed;
        if (rows->ahead_msg)
            err_copy(db, rc, NULL, 0, rows->ahead_msg, strlen(rows->ahead_msg));
        else
            err_set(db, rc, NULL);
        return rows_fail(rows, rc);
    }
    rc = call_begin(db);
    if (rc)
        return rows_fail(rows, rc);
    if (!rows->ahead) {
        rc = fetch_send(rows);
        if (rc == -ENOMEM && !db->broken)
            return rc;
        if (rc)
            return rows_fail(rows, rc);
    }

    rc = rows_take_ahead(rows, &m, &own);
    if (rc == 0)
        rc = reply_check(db, &m);
    if (rc == SQLITED_CURSOR_EXPIRED)
        rows_end_cursor(rows);
    if (rc == 0)
        rc = result_check(db, &m, &scan, &end);
    if (rc == 0 && !scan.has_rows)
        rc = conn_break(
            db, err_set(db, SQLITED_EPROTO, "the daemon's chunk has no rows"));
    if (rc) {
        free(own);
        return rows_fail(rows, rc);
    }

    start = (const char *)m.result.p;
    rc = rows_take_chunk(rows, &scan, start,
                         (size_t)((const char *)end.p - start), own);
    if (scan.has_cursor)
        rows->cursor = (uint64_t)scan.cursor;
    else
        rows_end_cursor(rows);
    /* The chunk is lost, and with it the rows' place in the result. */
    if (rc)
        return rows_fail(rows, err_set(db, rc, NULL));
    rows_prefetch(rows);
    err_ok(db);
    return 0;
}

/* Ends the daemon's cursor of @rows, abandoned before its end, on a
 * connection that still works: first takes the answer to the fetch sent
 * ahead, if any (a close while it is in flight would be refused), then
 * closes the cursor unless that answer ended it. Best effort; the
 * connection's last error stays as it was. */
static void rows_abandon(sqlited_rows *rows)
{
    sqlited *db = rows->db;
    uint64_t cursor = rows->cursor;

    if (db->broken)
        return;
    if (rows->ahead) {
        struct err_saved saved;
        struct result_scan scan;
        struct rpc_message m;
        struct codec_reader end;
        char *own;

        err_save(db, &saved);
        int rc = rows_take_ahead(rows, &m, &own);
        if (rc == 0)
            rc = reply_check(db, &m);
        if (rc == 0 && result_check(db, &m, &scan, &end) == 0)
            cursor = scan.has_cursor ? (uint64_t)scan.cursor : 0;
        else if (rc == SQLITED_CURSOR_EXPIRED)
            cursor = 0;
        free(own);
        err_restore(db, &saved);
    }
    if (cursor)
        cursor_close(db, cursor);
}

SQLITED_API int sqlited_rows_next(sqlited_rows *rows)
{
    int rc;

    if (!rows)
        return SQLITED_EMISUSE;
    if (rows->state == ROWS_FAILED)
        return rows->failed;
    if (rows->state == ROWS_DONE)
        return RC_DONE;
    while (rows->index >= rows->nrows) {
        if (!rows->cursor) {
            rows->state = ROWS_DONE;
            return RC_DONE;
        }
        /* Whatever happens, the current row is gone with its chunk. */
        rows->state = ROWS_BEFORE;
        rc = rows_fetch(rows);
        if (rc)
            return rc;
    }
    rc = rows_decode(rows);
    if (rc == SQLITED_EPROTO)
        return rows_fail(rows, rc);
    if (rc) {
        /* Out of memory: no current row, but the next call may succeed. */
        rows->state = ROWS_BEFORE;
        return rc;
    }
    rows->index++;
    rows->state = ROWS_ON_ROW;
    return RC_ROW;
}

SQLITED_API void sqlited_rows_close(sqlited_rows *rows)
{
    if (!rows)
        return;
    if (rows->db)
        rows_abandon(rows);
    rows_drop_ahead(rows);
    rows_detach(rows);
    free(rows->data);
    free(rows->names);
    free(rows->values);
    free(rows->text);
    free(rows);
}

SQLITED_API int sqlited_rows_column_count(const sqlited_rows *rows)
{
    return rows ? rows->ncols : 0;
}

SQLITED_API const char *sqlited_rows_column_name(const sqlited_rows *rows,
                                                 int i)
{
    if (!rows || i < 0 || i >= rows->ncols)
        return NULL;
    return rows->names[i];
}

SQLITED_API uint64_t sqlited_rows_count(const sqlited_rows *rows)
{
    return rows ? rows->received : 0;
}

SQLITED_API int64_t sqlited_rows_changes(const sqlited_rows *rows)
{
    return rows ? rows->changes : 0;
}

SQLITED_API int64_t sqlited_rows_last_insert_rowid(const sqlited_rows *rows)
{
    return rows ? rows->last_insert_rowid : 0;
}

/* The value of column @i of the current row, or NULL. */
static const struct codec_value *cell(const sqlited_rows *rows, int i)
{
    if (!rows || rows->state != ROWS_ON_ROW || i < 0 || i >= rows->ncols)
        return NULL;
    return &rows->values[i];
}

SQLITED_API int sqlited_column_type(const sqlited_rows *rows, int i)
{
    const struct codec_value *v = cell(rows, i);

    if (!v)
        return SQLITED_NULL;
    switch (v->type) {
    case CODEC_INT:
        return SQLITED_INTEGER;
    case CODEC_FLOAT:
        return SQLITED_FLOAT;
    case CODEC_STR:
        return SQLITED_TEXT;
    case CODEC_BIN:
        return SQLITED_BLOB;
    default:
        return SQLITED_NULL;
    }
}

/* A REAL read as an integer, as SQLite's doubleToInt64: truncated, clamped
 * to the int64 range, and NaN (which SQLite never stores) as 0. */
static int64_t double_to_int64(double d)
{
    if (isnan(d))
        return 0;
    if (d <= (double)INT64_MIN)
        return INT64_MIN;
    if (d >= (double)INT64_MAX)
        return INT64_MAX;
    return (int64_t)d;
}

/* Where the number at the start of @s begins, as SQLite's text-to-number
 * conversions see it: after white space and a sign, a digit or a '.' then a
 * digit. Returns false when @s does not start with a decimal number; a
 * leading "0x" reads as 0, as in SQLite, so strtod() must not see it. */
static bool text_is_number(const char *s)
{
    while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
        s++;
    if (*s == '+' || *s == '-')
        s++;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        return false;
    if (*s == '.')
        s++;
    return *s >= '0' && *s <= '9';
}

SQLITED_API int64_t sqlited_column_int64(const sqlited_rows *rows, int i)
{
    const struct codec_value *v = cell(rows, i);

    if (!v)
        return 0;
    switch (v->type) {
    case CODEC_INT:
        return v->v.i;
    case CODEC_FLOAT:
        return double_to_int64(v->v.f);
    case CODEC_STR:
        /* strtoll() reads a leading integer, clamps on overflow and gives 0
         * for text that does not start with one: as sqlite3_column_int64. */
        return strtoll(v->v.s.ptr, NULL, 10);
    default:
        return 0;
    }
}

SQLITED_API double sqlited_column_double(const sqlited_rows *rows, int i)
{
    const struct codec_value *v = cell(rows, i);

    if (!v)
        return 0.0;
    switch (v->type) {
    case CODEC_INT:
        return (double)v->v.i;
    case CODEC_FLOAT:
        return v->v.f;
    case CODEC_STR:
        /* Leading decimal number only: strtod() would also take "inf",
         * "nan" and hex floats, which SQLite reads as 0. */
        return text_is_number(v->v.s.ptr) ? strtod(v->v.s.ptr, NULL) : 0.0;
    default:
        return 0.0;
    }
}

SQLITED_API const char *sqlited_column_text(const sqlited_rows *rows, int i)
{
    const struct codec_value *v = cell(rows, i);

    return v && v->type == CODEC_STR ? v->v.s.ptr : NULL;
}

SQLITED_API const void *sqlited_column_blob(const sqlited_rows *rows, int i)
{
    const struct codec_value *v = cell(rows, i);

    if (!v)
        return NULL;
    if (v->type == CODEC_STR)
        return v->v.s.ptr;
    if (v->type == CODEC_BIN && v->v.s.len > 0)
        return v->v.s.ptr;
    return NULL;
}

SQLITED_API size_t sqlited_column_bytes(const sqlited_rows *rows, int i)
{
    const struct codec_value *v = cell(rows, i);

    if (v && (v->type == CODEC_STR || v->type == CODEC_BIN))
        return v->v.s.len;
    return 0;
}

/* ------------------------------------------------------------- parameters */

SQLITED_API int sqlited_params_open(sqlited_params **out)
{
    sqlited_params *p;

    if (!out)
        return SQLITED_EMISUSE;
    p = calloc(1, sizeof(*p));
    *out = p;
    if (!p)
        return -ENOMEM;
    codec_buf_init(&p->buf, 0);
    p->style = STYLE_NONE;
    return 0;
}

SQLITED_API void sqlited_params_close(sqlited_params *p)
{
    if (!p)
        return;
    codec_buf_close(&p->buf);
    free(p);
}

SQLITED_API void sqlited_params_clear(sqlited_params *p)
{
    if (!p)
        return;
    codec_buf_reset(&p->buf);
    p->count = 0;
    p->style = STYLE_NONE;
}

SQLITED_API unsigned sqlited_params_count(const sqlited_params *p)
{
    return p ? p->count : 0;
}

/* Checks that a value named @name (NULL: positional) may join @p, then packs
 * the name of a named value. Stores in *@mark where the list ended. */
static int params_begin(sqlited_params *p, const char *name, size_t *mark)
{
    enum params_style style = name ? STYLE_NAMED : STYLE_POSITIONAL;

    if (!p)
        return SQLITED_EMISUSE;
    if (p->style != STYLE_NONE && p->style != style)
        return SQLITED_EMISUSE;
    if (p->count == UINT32_MAX)
        return SQLITED_TOO_LARGE;
    *mark = p->buf.len;
    if (name)
        codec_pack_cstr(&p->buf, name);
    return 0;
}

/* After appending to @b from @mark on: when that ran out of memory, drops
 * what was appended, clears the error and returns -ENOMEM; else 0. */
static int buf_undo_on_error(struct codec_buf *b, size_t mark)
{
    if (b->error == CODEC_BUF_OK)
        return 0;
    b->len = mark;
    b->error = CODEC_BUF_OK;
    return -ENOMEM;
}

/* Completes the value begun at @mark: counts it, or rolls the list back to
 * @mark when the encoding ran out of memory. */
static int params_end(sqlited_params *p, const char *name, size_t mark)
{
    if (buf_undo_on_error(&p->buf, mark))
        return -ENOMEM;
    p->count++;
    p->style = name ? STYLE_NAMED : STYLE_POSITIONAL;
    return 0;
}

SQLITED_API int sqlited_params_add_int64(sqlited_params *p, const char *name,
                                         int64_t value)
{
    size_t mark;
    int rc = params_begin(p, name, &mark);

    if (rc)
        return rc;
    msgpack_pack_int64(&p->buf.pk, value);
    return params_end(p, name, mark);
}

SQLITED_API int sqlited_params_add_double(sqlited_params *p, const char *name,
                                          double value)
{
    size_t mark;
    int rc = params_begin(p, name, &mark);

    if (rc)
        return rc;
    msgpack_pack_double(&p->buf.pk, value);
    return params_end(p, name, mark);
}

SQLITED_API int sqlited_params_add_text(sqlited_params *p, const char *name,
                                        const char *text, int64_t len)
{
    size_t mark;
    int rc;

    if (len < -1 || (!text && len != 0))
        return SQLITED_EMISUSE;
    if (len == -1)
        len = (int64_t)strlen(text);
    /* MessagePack strings hold at most 2^32-1 bytes. */
    if ((uint64_t)len > UINT32_MAX)
        return SQLITED_TOO_LARGE;
    rc = params_begin(p, name, &mark);
    if (rc)
        return rc;
    codec_pack_str(&p->buf, text ? text : "", (size_t)len);
    return params_end(p, name, mark);
}

SQLITED_API int sqlited_params_add_blob(sqlited_params *p, const char *name,
                                        const void *data, size_t len)
{
    size_t mark;
    int rc;

    if (!data && len != 0)
        return SQLITED_EMISUSE;
    if (len > UINT32_MAX)
        return SQLITED_TOO_LARGE;
    rc = params_begin(p, name, &mark);
    if (rc)
        return rc;
    msgpack_pack_bin(&p->buf.pk, len);
    if (len > 0)
        msgpack_pack_bin_body(&p->buf.pk, data, len);
    return params_end(p, name, mark);
}

SQLITED_API int sqlited_params_add_null(sqlited_params *p, const char *name)
{
    size_t mark;
    int rc = params_begin(p, name, &mark);

    if (rc)
        return rc;
    msgpack_pack_nil(&p->buf.pk);
    return params_end(p, name, mark);
}

/* ---------------------------------------------- deadlines and transactions */

SQLITED_API int sqlited_set_timeout(sqlited *db, int timeout_ms)
{
    if (!db)
        return SQLITED_EMISUSE;
    if (timeout_ms < -1 || timeout_ms > MAX_TIMEOUT_MS)
        return err_setf(db, SQLITED_EMISUSE,
                        "timeout %d ms is not -1 or within 0 to %d", timeout_ms,
                        MAX_TIMEOUT_MS);
    db->timeout_ms = timeout_ms;
    return err_ok(db);
}

SQLITED_API int64_t sqlited_tx_id(sqlited *db)
{
    return db ? db->tx_id : 0;
}

SQLITED_API int sqlited_begin(sqlited *db, int mode)
{
    static const char *const modes[] = {
        [SQLITED_TX_DEFERRED] = "deferred",
        [SQLITED_TX_IMMEDIATE] = "immediate",
    };
    bool fks_at_commit = (mode & SQLITED_TX_FOREIGN_KEYS_AT_COMMIT) != 0;
    bool read_only =
        (mode & ~SQLITED_TX_FOREIGN_KEYS_AT_COMMIT) == SQLITED_TX_READ_ONLY;
    struct rpc_message m;
    int64_t id;
    uint32_t msgid;
    int rc = call_begin(db);

    if (rc)
        return rc;
    if (read_only && fks_at_commit)
        return err_set(db, SQLITED_EMISUSE,
                       "a read-only transaction writes nothing: "
                       "SQLITED_TX_FOREIGN_KEYS_AT_COMMIT does not go with "
                       "SQLITED_TX_READ_ONLY");
    mode &= ~SQLITED_TX_FOREIGN_KEYS_AT_COMMIT;
    if (mode != SQLITED_TX_DEFERRED && mode != SQLITED_TX_IMMEDIATE &&
        !read_only)
        return err_setf(db, SQLITED_EMISUSE, "unknown transaction mode %d",
                        mode);
    if (db->tx_id)
        return err_setf(db, SQLITED_EMISUSE, "transaction %lld is still open",
                        (long long)db->tx_id);

    msgid = req_begin(db, "begin", fks_at_commit ? 2 : 1);
    if (fks_at_commit) {
        /* [mode, {"foreign_keys": "at_commit"}] */
        codec_pack_cstr(&db->req, modes[mode]);
        msgpack_pack_map(&db->req.pk, 1);
        codec_pack_cstr(&db->req, "foreign_keys");
        codec_pack_cstr(&db->req, "at_commit");
    } else if (read_only) {
        /* [{"read_only": true}] */
        msgpack_pack_map(&db->req.pk, 1);
        codec_pack_cstr(&db->req, "read_only");
        msgpack_pack_true(&db->req.pk);
    } else {
        codec_pack_cstr(&db->req, modes[mode]);
    }
    rc = conn_call(db, msgid, -1, &m);
    if (rc)
        return rc;
    /* Breaking the connection also ends a transaction we cannot name. */
    if (codec_read_int64(&m.result, &id) || id <= 0)
        return conn_break(db, err_set(db, SQLITED_EPROTO,
                                      "the daemon's transaction id is not a "
                                      "positive integer"));
    db->tx_id = id;
    db->tx_read_only = read_only;
    return err_ok(db);
}

/* Shared body of sqlited_commit() and sqlited_rollback(): sends [tx] with
 * @method. The result (nil) is not looked at. */
static int tx_end(sqlited *db, const char *method)
{
    struct rpc_message m;
    uint32_t msgid;
    int rc = call_begin(db);

    if (rc)
        return rc;
    if (!db->tx_id)
        return err_set(db, SQLITED_EMISUSE, "no transaction is open");

    msgid = req_begin(db, method, 1);
    msgpack_pack_int64(&db->req.pk, db->tx_id);
    rc = conn_call(db, msgid, -1, &m);
    /* Out of memory while building the request, nothing was sent: the
     * transaction is still open and the call may be retried. */
    if (rc == -ENOMEM && !db->broken)
        return rc;
    /* Any answer ends the transaction: a COMMIT that fails is rolled back. */
    db->tx_id = 0;
    return rc ? rc : err_ok(db);
}

SQLITED_API int sqlited_commit(sqlited *db)
{
    return tx_end(db, "commit");
}

SQLITED_API int sqlited_rollback(sqlited *db)
{
    return tx_end(db, "rollback");
}

SQLITED_API int sqlited_transaction(sqlited *db, int mode, sqlited_tx_fn *fn,
                                    void *arg)
{
    struct err_saved saved;
    int64_t id;
    int rc;

    if (!db)
        return SQLITED_EMISUSE;
    if (!fn)
        return err_set(db, SQLITED_EMISUSE, "fn is NULL");
    rc = sqlited_begin(db, mode);
    if (rc)
        return rc;
    id = db->tx_id;

    rc = fn(db, arg);
    if (rc == 0) {
        if (db->tx_id != id)
            return err_setf(db, SQLITED_EMISUSE,
                            "transaction %lld ended inside the callback",
                            (long long)id);
        return sqlited_commit(db);
    }

    /* The error to report is fn's: that of the call that failed in it, or,
     * when fn returns a code of its own, one that names it. */
    if (db->errcode != rc)
        err_setf(db, rc, "the transaction callback returned %d (%s)", rc,
                 rpc_code_name(rc));
    if (db->tx_id == id) {
        err_save(db, &saved);
        sqlited_rollback(db);
        err_restore(db, &saved);
    }
    return rc;
}

/* ----------------------------------------------------------------- batches */

enum step_state { STEP_NONE, STEP_DONE, STEP_FAILED };

/* The outcome of one step in the last run of a batch. */
struct batch_step {
    enum step_state state;
    int rc; /* STEP_FAILED */
    /* STEP_DONE: the step's result map in b->result; STEP_FAILED: its
     * message there, until it is copied to b->msgs. */
    size_t off, len;
    const char *errmsg; /* STEP_FAILED: NUL-terminated */
};

struct sqlited_batch {
    struct codec_buf steps; /* [sql] or [sql, params], one after the other */
    uint32_t count;
    struct batch_step *step; /* count entries, room for cap */
    uint32_t cap;

    /* The last run: a copy of its result map, the failed steps' messages
     * (NUL-terminated, one after the other), the failed step of an atomic
     * run or -1. */
    char *result;
    char *msgs;
    int failed_step;
};

/* Forgets the outcome of the last run. */
static void batch_forget(sqlited_batch *b)
{
    free(b->result);
    free(b->msgs);
    b->result = NULL;
    b->msgs = NULL;
    b->failed_step = -1;
    if (b->count)
        memset(b->step, 0, b->count * sizeof(*b->step));
}

SQLITED_API int sqlited_batch_open(sqlited_batch **out)
{
    sqlited_batch *b;

    if (!out)
        return SQLITED_EMISUSE;
    b = calloc(1, sizeof(*b));
    *out = b;
    if (!b)
        return -ENOMEM;
    codec_buf_init(&b->steps, 0);
    b->failed_step = -1;
    return 0;
}

SQLITED_API void sqlited_batch_close(sqlited_batch *b)
{
    if (!b)
        return;
    batch_forget(b);
    codec_buf_close(&b->steps);
    free(b->step);
    free(b);
}

SQLITED_API void sqlited_batch_clear(sqlited_batch *b)
{
    if (!b)
        return;
    batch_forget(b);
    codec_buf_reset(&b->steps);
    b->count = 0;
}

SQLITED_API unsigned sqlited_batch_count(const sqlited_batch *b)
{
    return b ? b->count : 0;
}

SQLITED_API int sqlited_batch_add(sqlited_batch *b, const char *sql,
                                  const sqlited_params *params)
{
    bool with_params = params && params->count > 0;
    size_t mark;

    if (!b || !sql)
        return SQLITED_EMISUSE;
    if (b->count == UINT32_MAX)
        return SQLITED_TOO_LARGE;
    if (b->count == b->cap) {
        uint32_t cap = b->cap > UINT32_MAX / 2 ? UINT32_MAX
                       : b->cap                ? b->cap * 2
                                               : 8;
        /* reallocarray() refuses a size that overflows. */
        struct batch_step *step = reallocarray(b->step, cap, sizeof(*step));
        if (!step)
            return -ENOMEM;
        b->step = step;
        b->cap = cap;
    }
    mark = b->steps.len;
    msgpack_pack_array(&b->steps.pk, with_params ? 2 : 1);
    codec_pack_cstr(&b->steps, sql);
    if (with_params)
        params_pack(&b->steps, params);
    if (buf_undo_on_error(&b->steps, mark))
        return -ENOMEM;
    memset(&b->step[b->count], 0, sizeof(*b->step));
    b->count++;
    return 0;
}

/* Consumes a nil at @r, if that is what comes next. */
static bool read_nil(struct codec_reader *r)
{
    struct codec_reader probe = *r;
    struct codec_value v;

    if (codec_read(&probe, &v) || v.type != CODEC_NIL)
        return false;
    *r = probe;
    return true;
}

/* Reads the "results" array of a batch result at @r into @b's steps:
 * offsets from @start, and the counts summed into @changes and @rowid. */
static int batch_scan_results(sqlited_batch *b, struct codec_reader *r,
                              const char *start, int64_t *changes,
                              int64_t *rowid)
{
    uint32_t n;

    if (codec_read_array(r, &n) || n != b->count)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        struct batch_step *s = &b->step[i];
        const char *from = (const char *)r->p;
        struct result_scan scan;

        if (read_nil(r))
            continue;
        if (s->state != STEP_NONE || result_scan(r, &scan))
            return -1;
        s->state = STEP_DONE;
        s->off = (size_t)(from - start);
        s->len = (size_t)((const char *)r->p - from);
        *changes += scan.has_changes ? scan.changes : 0;
        if (scan.has_rowid)
            *rowid = scan.rowid;
    }
    return 0;
}

/* Reads the "errors" array of a batch result at @r into @b's steps, adding
 * the room their messages take to *@msg_bytes. */
static int batch_scan_errors(sqlited_batch *b, struct codec_reader *r,
                             const char *start, size_t *msg_bytes)
{
    uint32_t n;

    if (codec_read_array(r, &n) || n != b->count)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        struct batch_step *s = &b->step[i];
        const char *msg;
        uint32_t msg_len;
        int code;

        if (read_nil(r))
            continue;
        if (s->state != STEP_NONE ||
            rpc_read_error(r, &code, NULL, NULL, &msg, &msg_len) ||
            !wire_code_valid(code))
            return -1;
        s->state = STEP_FAILED;
        s->rc = code;
        if (msg) {
            s->off = (size_t)(msg - start);
            s->len = msg_len;
            *msg_bytes += (size_t)msg_len + 1;
        } else {
            s->errmsg = rpc_code_text(code);
        }
    }
    return 0;
}

/* Reads a batch result, {"results": [...], "errors": [...]} with one entry
 * per step in each (errors may be absent), into @b's steps. Returns 0 or -1
 * when it is malformed. Allocates nothing. */
static int batch_scan(sqlited_batch *b, struct codec_reader r,
                      size_t *msg_bytes, int64_t *changes, int64_t *rowid)
{
    const char *start = (const char *)r.p;
    bool has_results = false, has_errors = false;
    uint32_t n;

    if (codec_read_map(&r, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int kr = read_key(&r, &k, &klen);

        if (kr < 0)
            return -1;
        if (kr == 0 && key_is(k, klen, "results")) {
            if (has_results || batch_scan_results(b, &r, start, changes, rowid))
                return -1;
            has_results = true;
        } else if (kr == 0 && key_is(k, klen, "errors")) {
            if (has_errors || batch_scan_errors(b, &r, start, msg_bytes))
                return -1;
            has_errors = true;
        } else if (codec_skip(&r)) {
            return -1;
        }
    }
    return has_results ? 0 : -1;
}

/* Keeps the outcome of a successful run whose result map is at @r: copies
 * it, with the failed steps' messages, and records the counts. */
static int batch_take(sqlited *db, sqlited_batch *b, struct codec_reader r)
{
    const char *start = (const char *)r.p;
    struct codec_reader end = r;
    size_t len, msg_bytes = 0;
    int64_t changes = 0, rowid = 0;
    char *p;

    if (codec_skip(&end) || batch_scan(b, r, &msg_bytes, &changes, &rowid)) {
        batch_forget(b);
        return conn_break(db, err_set(db, SQLITED_EPROTO,
                                      "malformed batch result from the "
                                      "daemon"));
    }
    /* The batch was applied, whatever happens below. */
    db->changes = changes;
    db->last_insert_rowid = rowid;

    len = (size_t)((const char *)end.p - start);
    b->result = malloc(len);
    b->msgs = malloc(msg_bytes ? msg_bytes : 1);
    if (!b->result || !b->msgs) {
        batch_forget(b);
        return err_set(db, -ENOMEM, NULL);
    }
    memcpy(b->result, start, len);
    p = b->msgs;
    for (uint32_t i = 0; i < b->count; i++) {
        struct batch_step *s = &b->step[i];
        if (s->state != STEP_FAILED || s->errmsg)
            continue;
        memcpy(p, b->result + s->off, s->len);
        p[s->len] = '\0';
        s->errmsg = p;
        p += s->len + 1;
    }
    return err_ok(db);
}

/* Reads the "step" key of the error object at @r: the index of the failed
 * step, or -1 when there is none. */
static int64_t error_step(struct codec_reader r)
{
    uint32_t n;

    if (codec_read_map(&r, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int64_t step;
        int kr = read_key(&r, &k, &klen);

        if (kr < 0)
            return -1;
        if (kr == 0 && key_is(k, klen, "step") &&
            codec_read_int64(&r, &step) == 0)
            return step >= 0 ? step : -1;
        if (codec_skip(&r))
            return -1;
    }
    return -1;
}

/* Records the failed step of an atomic run, named by the error object at
 * @r, with the error db holds. Without memory for the message, the code's
 * own text stands in. */
static void batch_take_failure(sqlited *db, sqlited_batch *b,
                               struct codec_reader r)
{
    int64_t step = error_step(r);
    struct batch_step *s;
    size_t len;

    if (step < 0 || step >= b->count)
        return;
    s = &b->step[step];
    b->failed_step = (int)step;
    s->state = STEP_FAILED;
    s->rc = db->errcode;
    len = strlen(db->errmsg);
    b->msgs = copy_string(db->errmsg, len);
    s->errmsg = b->msgs ? b->msgs : rpc_code_text(s->rc);
}

SQLITED_API int sqlited_batch_run(sqlited *db, sqlited_batch *b, int flags)
{
    bool nonatomic = flags & SQLITED_BATCH_NONATOMIC;
    struct rpc_message m;
    uint32_t msgid;
    unsigned opts;
    int rc;

    if (!db)
        return SQLITED_EMISUSE;
    if (!b)
        return err_set(db, SQLITED_EMISUSE, "batch is NULL");
    batch_forget(b);
    if (flags & ~SQLITED_BATCH_NONATOMIC)
        return err_setf(db, SQLITED_EMISUSE, "unknown batch flags %#x",
                        (unsigned)flags);
    if (b->count == 0)
        return err_set(db, SQLITED_EMISUSE, "the batch is empty");
    rc = call_begin(db);
    if (rc)
        return rc;
    rc = check_items(db, b->count, "steps");
    if (rc)
        return rc;

    opts = OPTS_COMMON | (nonatomic ? OPTS_NONATOMIC : 0);
    msgid = sql_req_begin(db, "batch", 1, opts);
    msgpack_pack_array(&db->req.pk, b->count);
    codec_buf_append(&db->req, b->steps.data, b->steps.len);
    opts_pack(db, opts);
    rc = conn_call(db, msgid, -1, &m);
    if (rc) {
        if (m.is_error && !db->broken)
            batch_take_failure(db, b, m.error);
        return rc;
    }
    return batch_take(db, b, m.result);
}

SQLITED_API int sqlited_batch_failed_step(const sqlited_batch *b)
{
    return b ? b->failed_step : -1;
}

SQLITED_API int sqlited_batch_step_rc(const sqlited_batch *b, unsigned i)
{
    if (!b)
        return SQLITED_EMISUSE;
    if (i >= b->count)
        return SQLITED_ERANGE;
    return b->step[i].state == STEP_FAILED ? b->step[i].rc : 0;
}

SQLITED_API const char *sqlited_batch_step_errmsg(const sqlited_batch *b,
                                                  unsigned i)
{
    if (!b || i >= b->count || b->step[i].state != STEP_FAILED)
        return NULL;
    return b->step[i].errmsg;
}

SQLITED_API int sqlited_batch_step_rows(sqlited_batch *b, unsigned i,
                                        sqlited_rows **out)
{
    const struct batch_step *s;
    struct codec_reader r;
    struct result_scan scan;

    if (out)
        *out = NULL;
    if (!b || !out)
        return SQLITED_EMISUSE;
    if (i >= b->count)
        return SQLITED_ERANGE;
    s = &b->step[i];
    if (s->state == STEP_FAILED)
        return s->rc;
    if (s->state != STEP_DONE)
        return SQLITED_EMISUSE;
    codec_reader_init(&r, b->result + s->off, s->len);
    /* Checked when the batch ran. */
    if (result_scan(&r, &scan))
        return SQLITED_EPROTO;
    return rows_build(&scan, b->result + s->off, s->len, out);
}

/* -------------------------------------------------------------------- bulk */

SQLITED_API int sqlited_exec_many(sqlited *db, const char *sql,
                                  const sqlited_params *values,
                                  unsigned per_set)
{
    struct result_scan scan;
    struct rpc_message m;
    struct codec_reader r, end;
    uint32_t msgid, nsets;
    int rc;

    if (!db)
        return SQLITED_EMISUSE;
    if (!sql || !values)
        return err_set(db, SQLITED_EMISUSE, "sql or values is NULL");
    if (values->style == STYLE_NAMED)
        return err_set(db, SQLITED_EMISUSE,
                       "sqlited_exec_many() takes positional values");
    if (per_set == 0 || values->count == 0 || values->count % per_set)
        return err_setf(db, SQLITED_EMISUSE,
                        "%lu values do not make sets of %u",
                        (unsigned long)values->count, per_set);
    rc = call_begin(db);
    if (rc)
        return rc;
    nsets = values->count / per_set;
    rc = check_items(db, nsets > per_set ? nsets : per_set,
                     nsets > per_set ? "sets" : "values in a set");
    if (rc)
        return rc;

    /* [sql, [[v, ...], ...], options?]: the values are split into sets by
     * walking their encoding, which this library wrote. */
    msgid = sql_req_begin(db, "bulk", 2, OPTS_COMMON);
    codec_pack_cstr(&db->req, sql);
    msgpack_pack_array(&db->req.pk, nsets);
    codec_reader_init(&r, values->buf.data, values->buf.len);
    for (uint32_t set = 0; set < nsets; set++) {
        const uint8_t *from = r.p;
        for (unsigned v = 0; v < per_set; v++)
            if (codec_skip(&r))
                return err_set(db, SQLITED_EMISUSE,
                               "the parameter list is corrupt");
        msgpack_pack_array(&db->req.pk, per_set);
        codec_buf_append(&db->req, from, (size_t)(r.p - from));
    }
    opts_pack(db, OPTS_COMMON);
    rc = call_scan(db, msgid, &m, &scan, &end);
    if (rc)
        return rc;
    db->changes = scan.has_changes ? scan.changes : 0;
    db->last_insert_rowid = scan.has_rowid ? scan.rowid : 0;
    return err_ok(db);
}

/* ------------------------------------------------------------- pipelining */

/* Shared body of sqlited_send_query() and sqlited_send_exec(). */
static int send_sql(sqlited *db, enum sql_method method, const char *sql,
                    const sqlited_params *params, uint32_t *id)
{
    uint32_t msgid;
    int rc;

    if (id)
        *id = 0;
    if (!db)
        return SQLITED_EMISUSE;
    if (!id)
        return err_set(db, SQLITED_EMISUSE, "id is NULL");
    /* Room in the table first: once sent, the request must be recorded. */
    if (db->npending == db->pending_cap) {
        uint32_t cap = db->pending_cap ? db->pending_cap * 2 : 16;
        struct pending *p = cap > db->pending_cap
                                ? reallocarray(db->pending, cap, sizeof(*p))
                                : NULL;
        if (!p)
            return err_set(db, -ENOMEM, NULL);
        db->pending = p;
        db->pending_cap = cap;
    }
    rc = sql_pack(db, method, sql, params, &msgid);
    if (rc == 0)
        rc = conn_send_request(db, msgid, -1);
    if (rc)
        return rc;
    db->pending[db->npending++] = (struct pending){
        .msgid = msgid,
        .method = method,
    };
    *id = msgid;
    return err_ok(db);
}

SQLITED_API int sqlited_send_query(sqlited *db, const char *sql,
                                   const sqlited_params *params, uint32_t *id)
{
    return send_sql(db, SQL_QUERY, sql, params, id);
}

SQLITED_API int sqlited_send_exec(sqlited *db, const char *sql,
                                  const sqlited_params *params, uint32_t *id)
{
    return send_sql(db, SQL_EXEC, sql, params, id);
}

/* The pending request that sqlited_receive(@id) collects: @id's; with
 * SQLITED_ANY the first sent whose response came, else the first sent. NULL
 * when there is none. */
static struct pending *pending_pick(sqlited *db, uint32_t id)
{
    if (id != SQLITED_ANY)
        return pending_find(db, id);
    for (uint32_t i = 0; db->nstashed > 0 && i < db->npending; i++)
        if (db->pending[i].reply)
            return &db->pending[i];
    return db->npending > 0 ? &db->pending[0] : NULL;
}

SQLITED_API int sqlited_receive(sqlited *db, uint32_t id, uint32_t *got,
                                sqlited_rows **rows)
{
    struct rpc_message m;
    struct pending *p, req;
    int rc = 0;

    if (got)
        *got = 0;
    if (rows)
        *rows = NULL;
    if (!db)
        return SQLITED_EMISUSE;
    if (db->npending == 0)
        return err_set(db, SQLITED_EMISUSE, "no request is pending");
    p = pending_pick(db, id);
    if (!p)
        return err_setf(db, SQLITED_EMISUSE, "request %lu is not pending",
                        (unsigned long)id);

    /* Without its response yet, the request waits for it. Should the
     * connection fail (or have failed before), so does the request: each
     * pending request is collected once, whatever happens. */
    if (!p->reply) {
        rc = call_begin(db);
        if (rc == 0)
            rc = conn_await(db, id, -1, &m);
        if (rc == 0)
            p = pending_find(db, m.msgid);
    }
    req = pending_remove(db, p);
    if (got)
        *got = req.msgid;
    if (rc)
        return rc;
    /* A stashed response was parsed when it came: it parses again. */
    if (req.reply)
        conn_parse(db, req.reply, req.reply_len, &m);
    rc = reply_check(db, &m);
    if (rc == 0)
        rc = sql_take(db, req.method, &m, rows);
    free(req.reply);
    return rc;
}

SQLITED_API unsigned sqlited_pending(const sqlited *db)
{
    return db ? db->npending : 0;
}

SQLITED_API int sqlited_cancel(sqlited *db, uint32_t id)
{
    struct pending *p;
    int rc = call_begin(db);

    if (rc)
        return rc;
    p = id != SQLITED_ANY ? pending_find(db, id) : NULL;
    if (!p)
        return err_setf(db, SQLITED_EMISUSE, "request %lu is not pending",
                        (unsigned long)id);
    if (p->reply)
        return err_ok(db); /* answered: nothing to stop */
    rc = cancel_send(db, id);
    /* What the socket did not take goes before the next request, or while
     * a call waits; here it is sent whole. */
    if (rc == 0)
        rc = conn_send(db, NULL, 0, io_deadline(db, -1));
    if (rc == -ENOMEM)
        return err_set(db, rc, NULL);
    if (rc)
        return conn_break(db, err_set(db, rc, NULL));
    return err_ok(db);
}

/* ----------------------------------------------------------- interrupting */

SQLITED_API void sqlited_interrupt(sqlited *db)
{
    int saved = errno;

    if (!db)
        return;
    atomic_store(&db->interrupt, 1);
    /* Wakes the poll of a call waiting for the daemon. A full pipe holds a
     * wake-up already. */
    if (write(db->wake[1], "", 1) < 0) {
    }
    errno = saved;
}

/* ---------------------------------------------------------------- operations
 */

/* Reads an unsigned integer map value. */
static int read_u64(struct codec_reader *r, uint64_t *out)
{
    int64_t v;
    if (codec_read_int64(r, &v) || v < 0)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* Starts an operation call: the previous result's strings go. */
static int op_begin(sqlited *db)
{
    int rc = call_begin(db);
    if (rc == 0) {
        free(db->op_strings);
        db->op_strings = NULL;
    }
    return rc;
}

static int op_malformed(sqlited *db, const char *method)
{
    return conn_break(db, err_setf(db, SQLITED_EPROTO,
                                   "malformed result of %s from the daemon",
                                   method));
}

SQLITED_API int sqlited_backup(sqlited *db, const char *dest,
                               sqlited_backup_info *out)
{
    sqlited_backup_info info = {0};
    struct rpc_message m;
    uint32_t n, msgid;
    int rc = op_begin(db);

    if (rc)
        return rc;
    msgid = req_begin(db, "backup", dest ? 1 : 0);
    if (dest)
        codec_pack_cstr(&db->req, dest);
    rc = conn_call(db, msgid, -1, &m);
    if (rc)
        return rc;
    if (codec_read_map(&m.result, &n))
        return op_malformed(db, "backup");
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *v;
        uint32_t klen, vlen;
        int kr = read_key(&m.result, &k, &klen);
        int bad = kr < 0;
        if (kr == 0 && key_is(k, klen, "path")) {
            bad = codec_read_str(&m.result, &v, &vlen);
            if (!bad) {
                free(db->op_strings);
                db->op_strings = copy_string(v, vlen);
                if (db->op_strings == NULL)
                    return err_set(db, -ENOMEM, NULL);
                info.path = db->op_strings;
            }
        } else if (kr == 0 && key_is(k, klen, "size")) {
            bad = read_u64(&m.result, &info.size);
        } else if (kr == 0 && key_is(k, klen, "pages")) {
            bad = read_u64(&m.result, &info.pages);
        } else if (kr == 0 && key_is(k, klen, "duration_ms")) {
            bad = read_u64(&m.result, &info.duration_ms);
        } else if (!bad) {
            bad = codec_skip(&m.result);
        }
        if (bad)
            return op_malformed(db, "backup");
    }
    if (info.path == NULL)
        return op_malformed(db, "backup");
    if (out)
        *out = info;
    return err_ok(db);
}

/* Starts a maintenance request: [options] with timeout_ms when set, and
 * @extra other entries the caller packs. */
static uint32_t maintenance_begin(sqlited *db, const char *method,
                                  uint32_t extra)
{
    uint32_t n = extra + (db->timeout_ms >= 0);
    uint32_t msgid = req_begin(db, method, n > 0);

    if (n > 0)
        msgpack_pack_map(&db->req.pk, n);
    if (db->timeout_ms >= 0) {
        codec_pack_cstr(&db->req, "timeout_ms");
        msgpack_pack_int(&db->req.pk, db->timeout_ms);
    }
    return msgid;
}

SQLITED_API int sqlited_optimize(sqlited *db, int analyze)
{
    struct rpc_message m;
    int rc = op_begin(db);

    if (rc)
        return rc;
    uint32_t msgid = maintenance_begin(db, "optimize", 1);
    codec_pack_cstr(&db->req, "analyze");
    if (analyze)
        msgpack_pack_true(&db->req.pk);
    else
        msgpack_pack_false(&db->req.pk);
    rc = conn_call(db, msgid, -1, &m);
    return rc ? rc : err_ok(db);
}

SQLITED_API int sqlited_vacuum(sqlited *db, sqlited_vacuum_info *out)
{
    sqlited_vacuum_info info = {0};
    struct rpc_message m;
    uint32_t n;
    int rc = op_begin(db);

    if (rc)
        return rc;
    rc = conn_call(db, maintenance_begin(db, "vacuum", 0), -1, &m);
    if (rc)
        return rc;
    if (codec_read_map(&m.result, &n))
        return op_malformed(db, "vacuum");
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int kr = read_key(&m.result, &k, &klen);
        int bad = kr < 0;
        if (kr == 0 && key_is(k, klen, "size_before"))
            bad = read_u64(&m.result, &info.size_before);
        else if (kr == 0 && key_is(k, klen, "size_after"))
            bad = read_u64(&m.result, &info.size_after);
        else if (kr == 0 && key_is(k, klen, "reclaimed"))
            bad = read_u64(&m.result, &info.reclaimed);
        else if (kr == 0 && key_is(k, klen, "duration_ms"))
            bad = read_u64(&m.result, &info.duration_ms);
        else if (!bad)
            bad = codec_skip(&m.result);
        if (bad)
            return op_malformed(db, "vacuum");
    }
    if (out)
        *out = info;
    return err_ok(db);
}

/* Copies an array of strings into one allocation in db->op_strings: the
 * pointers, then the NUL-terminated strings. */
static int copy_str_array(sqlited *db, struct codec_reader *r, uint32_t n,
                          const char *const **out)
{
    struct codec_reader scan = *r;
    size_t bytes = (size_t)n * sizeof(char *);
    const char *s;
    uint32_t len;

    for (uint32_t i = 0; i < n; i++) {
        if (codec_read_str(&scan, &s, &len))
            return SQLITED_EPROTO;
        bytes += (size_t)len + 1;
    }
    char *block = malloc(bytes ? bytes : 1);
    if (block == NULL)
        return -ENOMEM;
    char **ptrs = (char **)(void *)block;
    char *text = block + (size_t)n * sizeof(char *);
    for (uint32_t i = 0; i < n; i++) {
        codec_read_str(r, &s, &len);
        memcpy(text, s, len);
        text[len] = '\0';
        ptrs[i] = text;
        text += len + 1;
    }
    free(db->op_strings);
    db->op_strings = block;
    *out = (const char *const *)ptrs;
    return 0;
}

SQLITED_API int sqlited_integrity(sqlited *db, int check,
                                  sqlited_integrity_info *out)
{
    sqlited_integrity_info info = {0};
    struct rpc_message m;
    uint32_t n;
    bool has_ok = false;
    int rc = op_begin(db);

    if (rc)
        return rc;
    if (check != SQLITED_INTEGRITY_QUICK && check != SQLITED_INTEGRITY_FULL)
        return err_setf(db, SQLITED_EMISUSE, "unknown integrity check %d",
                        check);
    uint32_t msgid = maintenance_begin(db, "integrity", 1);
    codec_pack_cstr(&db->req, "check");
    codec_pack_cstr(&db->req,
                    check == SQLITED_INTEGRITY_FULL ? "full" : "quick");
    rc = conn_call(db, msgid, -1, &m);
    if (rc)
        return rc;
    if (codec_read_map(&m.result, &n))
        return op_malformed(db, "integrity");
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen, count;
        struct codec_value v;
        int kr = read_key(&m.result, &k, &klen);
        int bad = kr < 0;
        if (kr == 0 && key_is(k, klen, "ok")) {
            bad = codec_read(&m.result, &v) || v.type != CODEC_BOOL;
            info.ok = !bad && v.v.b;
            has_ok = !bad;
        } else if (kr == 0 && key_is(k, klen, "problems")) {
            bad = codec_read_array(&m.result, &count);
            if (!bad) {
                rc = copy_str_array(db, &m.result, count, &info.problems);
                if (rc == -ENOMEM)
                    return err_set(db, rc, NULL);
                bad = rc != 0;
                info.nproblems = count;
            }
        } else if (!bad) {
            bad = codec_skip(&m.result);
        }
        if (bad)
            return op_malformed(db, "integrity");
    }
    if (!has_ok)
        return op_malformed(db, "integrity");
    if (out)
        *out = info;
    return err_ok(db);
}

/* ------------------------------------------------------------- checkpoint
 */

/* Reads an integer or float value into *@out as a double. */
static int read_number(struct codec_reader *r, double *out)
{
    struct codec_value v;
    if (codec_read(r, &v))
        return -1;
    if (v.type == CODEC_INT)
        *out = (double)v.v.i;
    else if (v.type == CODEC_FLOAT)
        *out = v.v.f;
    else
        return -1;
    return 0;
}

SQLITED_API int sqlited_checkpoint(sqlited *db, int mode,
                                   sqlited_checkpoint_info *info)
{
    static const char *const modes[] = {
        [SQLITED_CHECKPOINT_PASSIVE] = "PASSIVE",
        [SQLITED_CHECKPOINT_FULL] = "FULL",
        [SQLITED_CHECKPOINT_RESTART] = "RESTART",
        [SQLITED_CHECKPOINT_TRUNCATE] = "TRUNCATE",
    };
    sqlited_checkpoint_info got = {0};
    struct rpc_message m;
    uint32_t msgid, n, len;
    const char *k;
    int rc = call_begin(db);

    if (rc)
        return rc;
    if (mode < SQLITED_CHECKPOINT_PASSIVE || mode > SQLITED_CHECKPOINT_TRUNCATE)
        return err_setf(db, SQLITED_EMISUSE, "unknown checkpoint mode %d",
                        mode);
    msgid = req_begin(db, "checkpoint", 1);
    codec_pack_cstr(&db->req, modes[mode]);
    rc = conn_call(db, msgid, -1, &m);
    if (rc)
        return rc;
    if (codec_read_map(&m.result, &n))
        goto malformed;
    for (uint32_t i = 0; i < n; i++) {
        int64_t *field = NULL;
        double d;
        int kind = read_key(&m.result, &k, &len);
        if (kind < 0)
            goto malformed;
        if (kind == 0 && key_is(k, len, "duration_ms")) {
            if (read_number(&m.result, &d))
                goto malformed;
            got.duration_ms = d;
            continue;
        }
        if (kind == 0 && key_is(k, len, "busy")) {
            int64_t busy;
            if (codec_read_int64(&m.result, &busy))
                goto malformed;
            got.busy = busy != 0;
            continue;
        }
        if (kind == 0 && key_is(k, len, "log_frames"))
            field = &got.log_frames;
        else if (kind == 0 && key_is(k, len, "checkpointed_frames"))
            field = &got.checkpointed_frames;
        else if (kind == 0 && key_is(k, len, "wal_bytes_before"))
            field = &got.wal_bytes_before;
        else if (kind == 0 && key_is(k, len, "wal_bytes_after"))
            field = &got.wal_bytes_after;
        if (field ? codec_read_int64(&m.result, field) : codec_skip(&m.result))
            goto malformed;
    }
    if (info)
        *info = got;
    return err_ok(db);

malformed:
    return op_malformed(db, "checkpoint");
}

/* The strings of one migration: a map of the result. */
enum { MIG_NAME, MIG_FILE, MIG_STATE, MIG_CHECKSUM, MIG_APPLIED_AT, MIG_STRS };

/* Reads a migration map; with @m NULL only measures its strings' bytes into
 * *@bytes, else copies them to *@text. Returns 0 or -1 when malformed. */
static int read_migration(struct codec_reader *r, sqlited_migration *m,
                          size_t *bytes, char **text)
{
    static const char *const keys[MIG_STRS] = {"name", "file", "state",
                                               "checksum", "applied_at"};
    uint32_t n;

    if (codec_read_map(r, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *s;
        uint32_t klen, slen;
        struct codec_value v;
        int kr = read_key(r, &k, &klen), which = -1;
        if (kr < 0)
            return -1;
        if (kr == 0 && key_is(k, klen, "version")) {
            int64_t version;
            if (codec_read_int64(r, &version))
                return -1;
            if (m)
                m->version = version;
            continue;
        }
        for (int j = 0; kr == 0 && j < MIG_STRS; j++)
            if (key_is(k, klen, keys[j]))
                which = j;
        if (which < 0) {
            if (codec_skip(r))
                return -1;
            continue;
        }
        struct codec_reader at = *r;
        if (codec_read(&at, &v))
            return -1;
        if (v.type == CODEC_NIL) {
            *r = at;
            continue;
        }
        if (codec_read_str(r, &s, &slen))
            return -1;
        if (m == NULL) {
            *bytes += (size_t)slen + 1;
            continue;
        }
        memcpy(*text, s, slen);
        (*text)[slen] = '\0';
        const char **field[MIG_STRS] = {&m->name, &m->file, &m->state,
                                        &m->checksum, &m->applied_at};
        *field[which] = *text;
        *text += slen + 1;
    }
    return 0;
}

SQLITED_API int sqlited_migrate(sqlited *db, int action, int64_t version,
                                sqlited_migrate_info *out)
{
    static const char *const actions[] = {
        [SQLITED_MIGRATE_STATUS] = "status",
        [SQLITED_MIGRATE_UP] = "up",
        [SQLITED_MIGRATE_DOWN] = "down",
    };
    sqlited_migrate_info info = {0};
    struct rpc_message m;
    uint32_t n, count = 0;
    int rc = op_begin(db);

    if (rc)
        return rc;
    if (action < SQLITED_MIGRATE_STATUS || action > SQLITED_MIGRATE_DOWN)
        return err_setf(db, SQLITED_EMISUSE, "unknown migrate action %d",
                        action);
    if (version < SQLITED_MIGRATE_DEFAULT ||
        (action == SQLITED_MIGRATE_STATUS &&
         version != SQLITED_MIGRATE_DEFAULT))
        return err_setf(db, SQLITED_EMISUSE,
                        "version %lld: a version is >= 0, and status takes "
                        "none",
                        (long long)version);
    bool has_version = version != SQLITED_MIGRATE_DEFAULT;
    uint32_t msgid = req_begin(db, "migrate", has_version ? 2 : 1);
    codec_pack_cstr(&db->req, actions[action]);
    if (has_version)
        msgpack_pack_int64(&db->req.pk, version);
    rc = conn_call(db, msgid, -1, &m);
    if (rc)
        return rc;
    if (codec_read_map(&m.result, &n))
        return op_malformed(db, "migrate");
    struct codec_reader list = {0};
    bool has_list = false;
    for (uint32_t i = 0; i < n; i++) {
        const char *k;
        uint32_t klen;
        int kr = read_key(&m.result, &k, &klen);
        int bad = kr < 0;
        if (kr == 0 && key_is(k, klen, "from"))
            bad = codec_read_int64(&m.result, &info.from);
        else if (kr == 0 && key_is(k, klen, "to"))
            bad = codec_read_int64(&m.result, &info.to);
        else if (kr == 0 && key_is(k, klen, "latest"))
            bad = codec_read_int64(&m.result, &info.latest);
        else if (kr == 0 && key_is(k, klen, "migrations")) {
            bad = codec_read_array(&m.result, &count);
            list = m.result;
            has_list = !bad;
            for (uint32_t j = 0; !bad && j < count; j++)
                bad = codec_skip(&m.result);
        } else if (!bad)
            bad = codec_skip(&m.result);
        if (bad)
            return op_malformed(db, "migrate");
    }
    if (!has_list)
        return op_malformed(db, "migrate");
    /* One allocation: the array, then every string. */
    size_t bytes = (size_t)count * sizeof(sqlited_migration);
    struct codec_reader scan = list;
    for (uint32_t j = 0; j < count; j++)
        if (read_migration(&scan, NULL, &bytes, NULL))
            return op_malformed(db, "migrate");
    char *block = calloc(1, bytes ? bytes : 1);
    if (block == NULL)
        return err_set(db, -ENOMEM, NULL);
    sqlited_migration *ms = (sqlited_migration *)(void *)block;
    char *text = block + (size_t)count * sizeof(sqlited_migration);
    for (uint32_t j = 0; j < count; j++)
        read_migration(&list, &ms[j], NULL, &text);
    db->op_strings = block;
    info.count = count;
    info.migrations = ms;
    if (out)
        *out = info;
    return err_ok(db);
}

/* ------------------------------------------------------------- operations */

SQLITED_API int sqlited_set_io_timeout(sqlited *db, int timeout_ms)
{
    if (!db)
        return SQLITED_EMISUSE;
    if (timeout_ms < 0 || timeout_ms > MAX_TIMEOUT_MS)
        return err_setf(db, SQLITED_EMISUSE,
                        "I/O timeout %d ms is not within 0 to %d", timeout_ms,
                        MAX_TIMEOUT_MS);
    db->io_timeout_ms = timeout_ms;
    return err_ok(db);
}

SQLITED_API void sqlited_free(void *p)
{
    free(p);
}

static void json_add(struct codec_buf *b, const char *s)
{
    codec_buf_append(b, s, strlen(s));
}

/* Appends @s[0..len) as a JSON string; bytes that are not printable ASCII
 * are escaped as \u00XX, one per byte (text from the daemon is UTF-8, but
 * a bin is not). */
static void json_add_string(struct codec_buf *b, const char *s, uint32_t len)
{
    char esc[8];

    json_add(b, "\"");
    for (uint32_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            codec_buf_append(b, esc, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            json_add(b, esc);
        } else {
            codec_buf_append(b, &s[i], 1);
        }
    }
    json_add(b, "\"");
}

/* Appends the value at @r as JSON, moving @r past it. Returns 0 or -1 on
 * malformed or too deeply nested bytes. */
static int json_add_value(struct codec_buf *b, struct codec_reader *r,
                          int depth)
{
    struct codec_value v;
    char num[40];

    if (depth > RPC_MAX_DEPTH || codec_read(r, &v))
        return -1;
    switch (v.type) {
    case CODEC_NIL:
        json_add(b, "null");
        return 0;
    case CODEC_BOOL:
        json_add(b, v.v.b ? "true" : "false");
        return 0;
    case CODEC_INT:
        snprintf(num, sizeof(num), "%lld", (long long)v.v.i);
        json_add(b, num);
        return 0;
    case CODEC_UINT:
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v.v.u);
        json_add(b, num);
        return 0;
    case CODEC_FLOAT:
        /* The fewest digits that read back as the same double: 0.00025,
         * not 0.00025000000000000001. */
        snprintf(num, sizeof(num), "null");
        for (int digits = 15; isfinite(v.v.f) && digits <= 17; digits++) {
            snprintf(num, sizeof(num), "%.*g", digits, v.v.f);
            if (strtod(num, NULL) == v.v.f)
                break;
        }
        json_add(b, num);
        return 0;
    case CODEC_STR:
    case CODEC_BIN:
    case CODEC_EXT:
        json_add_string(b, v.v.s.ptr, v.v.s.len);
        return 0;
    case CODEC_ARRAY:
        json_add(b, "[");
        for (uint32_t i = 0; i < v.v.n; i++) {
            if (i)
                json_add(b, ", ");
            if (json_add_value(b, r, depth + 1))
                return -1;
        }
        json_add(b, "]");
        return 0;
    case CODEC_MAP:
        json_add(b, "{");
        for (uint32_t i = 0; i < v.v.n; i++) {
            if (i)
                json_add(b, ", ");
            if (json_add_value(b, r, depth + 1))
                return -1;
            json_add(b, ": ");
            if (json_add_value(b, r, depth + 1))
                return -1;
        }
        json_add(b, "}");
        return 0;
    }
    return -1;
}

/* Stores the result at @r, a map, as a malloc'd JSON text in *@json.
 * Returns 0, SQLITED_EPROTO or -ENOMEM, recorded. */
static int result_json(sqlited *db, struct codec_reader r, char **json)
{
    struct codec_buf b;
    size_t len;

    codec_buf_init(&b, 0);
    if (json_add_value(&b, &r, 0)) {
        codec_buf_close(&b);
        return err_set(db, SQLITED_EPROTO, "malformed result from the daemon");
    }
    codec_buf_append(&b, "", 1);
    if (b.error != CODEC_BUF_OK) {
        codec_buf_close(&b);
        return err_set(db, -ENOMEM, NULL);
    }
    *json = codec_buf_steal(&b, &len);
    codec_buf_close(&b);
    return 0;
}

/* Reads "status" and "reason" from the result of `health`. */
static int health_scan(sqlited *db, struct codec_reader r, int *status)
{
    static const char *const names[] = {"ok", "degraded", "failing"};
    uint32_t n;
    bool have_status = false;

    if (codec_read_map(&r, &n))
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        const char *k, *s;
        uint32_t len, slen;
        int kr = read_key(&r, &k, &len);
        if (kr < 0)
            return -1;
        if (kr == 0 && key_is(k, len, "status")) {
            if (codec_read_str(&r, &s, &slen))
                return -1;
            for (int j = 0; j < 3; j++)
                if (key_is(s, slen, names[j])) {
                    *status = j;
                    have_status = true;
                }
        } else if (kr == 0 && key_is(k, len, "reason")) {
            if (codec_read_str(&r, &s, &slen))
                return -1;
            free(db->health_reason);
            db->health_reason = copy_string(s, slen);
            if (!db->health_reason)
                return -ENOMEM;
        } else if (codec_skip(&r)) {
            return -1;
        }
    }
    return have_status ? 0 : -1;
}

SQLITED_API int sqlited_health(sqlited *db, int flags, int timeout_ms,
                               int *status, char **json)
{
    struct rpc_message m;
    uint32_t msgid;
    int rc = call_begin(db);

    if (json)
        *json = NULL;
    if (rc)
        return rc;
    if (!status || (flags & ~SQLITED_HEALTH_QUICK) || timeout_ms < 0 ||
        timeout_ms > 60000)
        return err_set(db, SQLITED_EMISUSE,
                       "sqlited_health: NULL status, unknown flags, or a "
                       "timeout outside 0 to 60000 ms");
    free(db->health_reason);
    db->health_reason = NULL;
    msgid = req_begin(db, "health", 1);
    msgpack_pack_map(&db->req.pk, 1 + (timeout_ms > 0));
    codec_pack_cstr(&db->req, "check");
    codec_pack_cstr(&db->req, flags & SQLITED_HEALTH_QUICK ? "quick" : "basic");
    if (timeout_ms > 0) {
        codec_pack_cstr(&db->req, "timeout_ms");
        msgpack_pack_int(&db->req.pk, timeout_ms);
    }
    rc = conn_call(db, msgid, -1, &m);
    if (rc)
        return rc;
    rc = health_scan(db, m.result, status);
    if (rc == -ENOMEM)
        return err_set(db, rc, NULL);
    if (rc)
        return conn_break(db, err_set(db, SQLITED_EPROTO,
                                      "malformed health answer from the "
                                      "daemon"));
    if (json && (rc = result_json(db, m.result, json)) != 0)
        return rc;
    return err_ok(db);
}

SQLITED_API const char *sqlited_health_reason(sqlited *db)
{
    return db && db->health_reason ? db->health_reason : "";
}

/* Calls @method, which takes no params, for a text the caller will store in
 * *@out (required; NULL until then). Returns as conn_call(). */
static int text_call(sqlited *db, const char *method, char **out,
                     struct rpc_message *m)
{
    int rc = call_begin(db);

    if (rc)
        return rc;
    if (!out)
        return err_setf(db, SQLITED_EMISUSE, "sqlited_%s: NULL out", method);
    *out = NULL;
    return conn_call(db, req_begin(db, method, 0), -1, m);
}

SQLITED_API int sqlited_stats(sqlited *db, char **json)
{
    struct rpc_message m;
    int rc = text_call(db, "stats", json, &m);

    if (rc)
        return rc;
    rc = result_json(db, m.result, json);
    return rc ? rc : err_ok(db);
}

SQLITED_API int sqlited_metrics(sqlited *db, char **text)
{
    struct rpc_message m;
    const char *s;
    uint32_t len;
    int rc = text_call(db, "metrics", text, &m);

    if (rc)
        return rc;
    if (codec_read_str(&m.result, &s, &len))
        return conn_break(db, err_set(db, SQLITED_EPROTO,
                                      "malformed metrics from the daemon"));
    *text = copy_string(s, len);
    if (!*text)
        return err_set(db, -ENOMEM, NULL);
    return err_ok(db);
}
