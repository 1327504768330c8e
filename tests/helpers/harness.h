/* Start a real sqlited daemon for a test, and talk to it raw or through
 * libsqlited.
 *
 * Every integration test runs in its own process (Criterion forks) and starts
 * its own daemon in a fresh temporary directory, told to listen on a socket
 * there. The harness waits for the daemon's sd_notify "READY=1" on a
 * datagram socket it bound in that directory, so a test never races the
 * daemon's start-up. Everything that waits is bounded: a daemon that hangs
 * fails the test instead of hanging it.
 *
 * The helpers fail the running test with cr_assert when something that is
 * not under test goes wrong (the temporary directory cannot be made, the
 * daemon never gets ready); helpers whose outcome a test may want to check
 * return a status instead.
 */
#ifndef SQLITED_TEST_HARNESS_H
#define SQLITED_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec.h"
#include "sqlited.h"

/* Bounds on waits. Generous: they only keep a broken daemon from hanging the
 * suite, and are never part of what a test checks. */
#define HARNESS_READY_TIMEOUT_MS 10000
#define HARNESS_STOP_TIMEOUT_MS 30000
#define HARNESS_IO_TIMEOUT_MS 30000
#define HARNESS_RUN_TIMEOUT_MS 30000

/* About a second of work on a reader: long enough that a ping or a trivial
 * query sent after it finishes first, or that it is still running when a
 * test signals the daemon. Its one value is 3000000. */
#define HARNESS_SLOW_SQL                                                       \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < 3000000) SELECT count(*) FROM c"

/* Counts to a billion: minutes of work, so for any test it runs until a
 * deadline or an interrupt ends it. Its one value would be 1000000000. */
#define HARNESS_ENDLESS_SQL                                                    \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < 1000000000) SELECT count(*) FROM c"

/* An insert of one row into t(x), then minutes of work: a write that only
 * a deadline or an interrupt ends, after it changed something. */
#define HARNESS_ENDLESS_WRITE                                                  \
    "INSERT INTO t(x) VALUES (1); "                                            \
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "          \
    "WHERE x < 1000000000) INSERT INTO t(x) SELECT count(*) FROM c"

/* A daemon under test and the directory it lives in. Zero-initialise it
 * (static storage does); daemon_cleanup() accepts one never started. */
struct daemon {
    pid_t pid;     /* 0 when not running */
    int notify_fd; /* the NOTIFY_SOCKET the daemon reports READY=1 on */
    bool has_dir;
    char dir[64];        /* /tmp/sqlited-test-XXXXXX */
    char db_path[128];   /* DIR/test.db */
    char sock_path[128]; /* DIR/sqlited.sock */
    char notify_path[128];
    char log_path[128];      /* DIR/daemon.log: the daemon's stderr */
    bool ready;              /* READY=1 came since the last start */
    unsigned watchdog_pings; /* WATCHDOG=1 datagrams read since then */
    char status[256];        /* the last STATUS= it sent since then */
    /* What it told systemd since then, in order, one letter a message:
     * R READY=1, W WATCHDOG=1, S STOPPING=1 (as long as it fits). */
    char notified[256];
};

/* Makes a fresh temporary directory and starts SQLITED_BIN on it with
 * `--database DIR/test.db --socket DIR/sqlited.sock --log-level warn` and
 * @extra_args (NULL-terminated, may be NULL), then waits for READY=1. Fails
 * the test if the daemon exits or is not ready in time. When @extra_args
 * hold --config, `--log-level warn` is left out: the file sets the level. */
void daemon_start(struct daemon *d, const char *const *extra_args);

/* Like daemon_start(), but returns false, rather than failing the test,
 * when the daemon exits before it is ready: for a start that may lose a
 * race with other processes (one took the --http port meanwhile, say).
 * Its stderr is then in daemon_log(); daemon_cleanup() removes its
 * directory. */
bool daemon_try_start(struct daemon *d, const char *const *extra_args);

/* Like daemon_start(), but the harness binds and listens on the socket
 * itself and hands it to the daemon as systemd's socket activation does:
 * fd 3, LISTEN_FDS=1, LISTEN_PID=its pid. */
void daemon_start_activated(struct daemon *d, const char *const *extra_args);

/* Like daemon_start(), with the variables of @env ("NAME=value",
 * NULL-terminated) added to the daemon's environment: WATCHDOG_USEC, say. */
void daemon_start_env(struct daemon *d, const char *const *env,
                      const char *const *extra_args);

/* Starts the daemon again on the same directory (same database and socket)
 * after it stopped or was killed. Same checks as daemon_start(). */
void daemon_restart(struct daemon *d, const char *const *extra_args);

/* Like daemon_restart(), but returns once the daemon accepts connections
 * on its socket, ready or not (while it applies migrations, say); the test
 * then waits for READY=1 with daemon_wait_ready(). */
void daemon_restart_serving(struct daemon *d, const char *const *extra_args);

/* Waits (bounded) for READY=1 from a daemon started with
 * daemon_restart_serving(); fails the test if the daemon exits first or it
 * never comes. Reads d->ready and d->status as it goes. */
void daemon_wait_ready(struct daemon *d);

/* Whether READY=1 came since the last start, without waiting; updates
 * d->ready and d->status from what the daemon sent so far. */
bool daemon_notified_ready(struct daemon *d);

/* Waits up to @timeout_ms for a WATCHDOG=1 from the daemon that
 * d->watchdog_pings does not count yet. Returns true when one came (and is
 * counted now). Reads d->ready and d->status too. */
bool daemon_wait_watchdog(struct daemon *d, int timeout_ms);

/* Sends @sig to the running daemon. */
void daemon_signal(struct daemon *d, int sig);

/* Waits up to @timeout_ms for the daemon to exit. Returns its exit code,
 * 128 + the signal number if a signal killed it, or -1 if it is still
 * running (it is then left running). */
int daemon_wait(struct daemon *d, int timeout_ms);

/* SIGTERM, then waits (bounded) for the exit. Returns as daemon_wait(); a
 * daemon that does not stop in time is killed and -1 returned. */
int daemon_stop(struct daemon *d);

/* SIGKILL and reap. */
void daemon_kill(struct daemon *d);

/* Stops the daemon if it still runs (SIGTERM, bounded; SIGKILL if it hangs)
 * and removes its directory. Then fails the test if that stop was not
 * clean (exit status 0) or if the daemon's stderr, over all its runs, holds
 * a sanitizer report. Safe to call on a daemon never started, and more than
 * once. */
void daemon_cleanup(struct daemon *d);

/* Whether the daemon's memory figures mean anything: false when it runs
 * under a sanitizer (ASan and TSan keep freed memory for a while) or a
 * wrapper, that is in an ASan build of the suite or with $SQLITED_TEST_DAEMON
 * or $SQLITED_TEST_WRAPPER set. Tests skip
 * their memory bounds then, and still check everything else. */
bool harness_measures_memory(void);

/* The daemon binary the tests run: $SQLITED_TEST_DAEMON when set (a build
 * under another sanitizer, say), else the one this suite was built with. */
const char *harness_daemon_bin(void);

/* How many times longer than usual the daemon may take: 6 under
 * $SQLITED_TEST_WRAPPER, 3 with another daemon binary in
 * $SQLITED_TEST_DAEMON (make tsan's), else 1. Waits for the daemon to get
 * ready or to stop, and the bounds some tests put on "answered promptly",
 * are multiplied by it. */
int harness_slowdown(void);

/* True when $SQLITED_TEST_WRAPPER is set: a command prefix the daemon runs
 * under, like "valgrind --error-exitcode=99 --leak-check=full" (its first
 * word is looked up in $PATH). daemon_argv() puts it in front; waits for the
 * daemon to get ready or to stop are then 6 times longer. A daemon that
 * exits with the wrapper's error code, or whose stderr holds memcheck's
 * report of an invalid access, fails the test in daemon_cleanup(). */
bool harness_wrapped(void);

/* The daemon's stderr so far (malloc'd, NUL-terminated; never NULL). */
char *daemon_log(const struct daemon *d);

/* Waits (bounded) until the daemon's stderr holds @text, and returns it
 * from there on (malloc'd); fails the test if it never comes. */
char *daemon_wait_log(const struct daemon *d, const char *text);

/* The argument vector the harness would start the daemon with, for tests
 * that run a daemon to completion with harness_run(): @argv receives at most
 * @max entries including the NULL terminator. */
void daemon_argv(const struct daemon *d, const char *const *extra_args,
                 const char **argv, size_t max);

/* -------------------------------------------------------------- processes */

struct harness_output {
    int status; /* exit code, 128 + signal, or -1 if killed on timeout */
    char *out;  /* stdout, NUL-terminated */
    size_t out_len;
    char *err; /* stderr, NUL-terminated */
    size_t err_len;
};

/* Runs @argv[0] (a path) with @argv, feeding @stdin_data (NULL: /dev/null)
 * and capturing stdout and stderr, for at most @timeout_ms. */
void harness_run(const char *const *argv, const char *stdin_data,
                 int timeout_ms, struct harness_output *o);
void harness_output_free(struct harness_output *o);

/* Runs SQLITED_CLI -s @d's socket with @args (NULL-terminated) and
 * @stdin_data, as harness_run() does. */
void harness_cli(struct daemon *d, struct harness_output *o,
                 const char *stdin_data, const char *const *args);

/* Resident set size of @pid in KiB, from /proc/PID/status; -1 if unknown. */
long harness_rss_kb(pid_t pid);
/* Any "Field: N kB" line of /proc/PID/status ("VmSize", "VmHWM"), in KiB;
 * -1 if unknown. */
long harness_status_kb(pid_t pid, const char *field);
/* The address space of @pid that it may use, in KiB: its mappings
 * (/proc/PID/maps) but those that allow no access. Unlike VmSize, it leaves
 * out the 64 MiB glibc reserves for each new malloc arena (a thread may get
 * one whenever it meets another in malloc), which it makes usable as the
 * arena grows; an allocation, even one never touched, counts whole. -1 if
 * unknown. */
long harness_usable_kb(pid_t pid);

/* Polls (bounded) until @path no longer exists. Returns true if it went. */
bool harness_wait_gone(const char *path, int timeout_ms);

/* ------------------------------------------------------------ libsqlited */

/* A client thread: its own libsqlited connection, on which it inserts the
 * rows (id, seq) for seq = 0, 1, ... @count - 1, one request at a time, with
 * @sql, a statement of two positional parameters. It stops at the first
 * call that fails. Criterion's assertions belong to the test's main thread,
 * so the thread only records what happened; the main thread reads @acked
 * (atomically) while it runs, and the rest after harness_writer_join().
 * Zero-initialise it and set the inputs. */
struct harness_writer {
    /* inputs */
    const char *sock_path;
    const char *sql;
    int id;
    int count;
    bool as_query; /* send with sqlited_query(): a write the daemon passes on
                      to its writer */
    /* outputs */
    int acked;         /* rows acknowledged: seq 0 .. acked - 1 (atomic) */
    int rc;            /* the failed call's code; 0 when all @count went in */
    char failure[256]; /* what failed, "" when nothing did */
    pthread_t thread;
};

/* Starts @w's thread; fails the test if it cannot be created. */
void harness_writer_start(struct harness_writer *w);

/* Waits for @w's thread to finish. */
void harness_writer_join(struct harness_writer *w);

/* @w->acked, read atomically while the thread runs. */
int harness_writer_acked(struct harness_writer *w);

/* sqlited_open() on the daemon's socket with a timeout; fails the test
 * unless it succeeds. */
sqlited *harness_connect(struct daemon *d);

/* daemon_start(), then harness_connect(): the fixture of the suites that
 * talk to one daemon over one connection. Returns that connection. */
sqlited *harness_start_connected(struct daemon *d,
                                 const char *const *extra_args);

/* Undoes harness_start_connected(): closes *@db unless it is NULL (a test
 * closed it already), sets it to NULL, and then daemon_cleanup(@d), with
 * that function's checks. */
void harness_cleanup_connected(struct daemon *d, sqlited **db);

/* A new, empty parameter list (sqlited_params_open()); fails the test if it
 * cannot be made. The caller closes it. */
sqlited_params *harness_params_new(void);

/* Runs @sql with sqlited_exec() and fails the test unless it succeeds. */
void harness_exec(sqlited *db, const char *sql);

/* Asserts that a call on @db succeeded, naming its error otherwise. */
#define HARNESS_ASSERT_OK(db, rc)                                              \
    do {                                                                       \
        int rc_ = (rc);                                                        \
        cr_assert_eq(rc_, 0, "rc %d %s: %s", rc_, sqlited_errname(db),         \
                     sqlited_errmsg(db));                                      \
    } while (0)

/* Asserts that a call on @db returned @code, that @db's error is that
 * code, and that its message holds @text. */
#define HARNESS_ASSERT_ERROR(db, got, code, text)                              \
    do {                                                                       \
        int got_ = (got);                                                      \
        cr_assert_eq(got_, (code), "rc %d (%s), want %d: %s", got_,            \
                     sqlited_codename(got_), (code), sqlited_errmsg(db));      \
        cr_assert_eq(sqlited_errcode(db), (code));                             \
        cr_assert_str_eq(sqlited_errname(db), sqlited_codename(code));         \
        cr_assert_not_null(strstr(sqlited_errmsg(db), (text)), "message: %s",  \
                           sqlited_errmsg(db));                                \
    } while (0)

/* Connects to @d, runs @sql as harness_exec() does, and closes that
 * connection again: for a test's own setup, or a write by another
 * client. */
void harness_exec_fresh(struct daemon *d, const char *sql);

/* Runs @sql with sqlited_query() and @params (may be NULL) and fails the
 * test unless it succeeds. Returns the result, before its first row; the
 * caller closes it. */
sqlited_rows *harness_query(sqlited *db, const char *sql,
                            sqlited_params *params);

/* Runs a query whose result is one integer and returns it; fails the test
 * on any error or a result of another shape. */
int64_t harness_query_int(sqlited *db, const char *sql);

/* -------------------------------------------------------------- raw socket */

/* A plain connected stream socket to the daemon (blocking, close-on-exec). */
int harness_raw_connect(struct daemon *d);

/* Connects to @path. Returns the fd or a negated errno. */
int harness_raw_connect_path(const char *path);

/* A new stream socket (close-on-exec) bound to @path and listening with
 * @backlog; fails the test if that is not possible. Returns the fd. */
int harness_listen(const char *path, int backlog);

/* Writes all of @data, bounded in time. Returns 0 or a negated errno
 * (-EPIPE when the daemon closed the connection, -ETIMEDOUT). */
int harness_try_send(int fd, const void *data, size_t len);

/* Writes all of @data; fails the test if that is not possible. */
void harness_send(int fd, const void *data, size_t len);

/* Sends the bytes collected in @b (checking it has no error) and resets
 * it. */
void harness_send_buf(int fd, struct codec_buf *b);

/* Appends [0, msgid, method, [ to @b; the caller then packs @nparams
 * values. Encoded with msgpack-c's packer directly. */
void harness_pack_request(struct codec_buf *b, uint32_t msgid,
                          const char *method, uint32_t nparams);

/* Appends a complete [0, msgid, method, [sql]] request (query or exec
 * without parameters). */
void harness_pack_sql(struct codec_buf *b, uint32_t msgid, const char *method,
                      const char *sql);

/* Reads whole MessagePack messages from a socket with codec_decoder. */
struct harness_reader {
    int fd;
    struct codec_decoder dec;
};

void harness_reader_init(struct harness_reader *r, int fd);
/* Frees the decoder; does not close the fd. */
void harness_reader_close(struct harness_reader *r);

/* Reads one complete message within @timeout_ms into a malloc'd copy.
 * Returns 1 with *@msg and *@len set, 0 on end of stream with no partial
 * message pending, -ETIMEDOUT, -EPROTO for bytes that are not MessagePack
 * (or a stream that ends inside a message), or another negated errno. */
int harness_read_message(struct harness_reader *r, int timeout_ms, char **msg,
                         size_t *len);

/* True when the daemon closes the stream within @timeout_ms, with nothing
 * more sent (or only what a reset discards). */
bool harness_read_eof(struct harness_reader *r, int timeout_ms);

/* A raw connection with what talking over it takes: a reader on the socket
 * and a buffer to build requests in (send it with harness_send_buf()).
 * Zero-initialise it (static storage does); harness_raw_close() accepts one
 * never opened. */
struct harness_raw {
    bool is_open;
    int fd;
    struct harness_reader r;
    struct codec_buf b;
    uint32_t last_msgid; /* the last msgid the harness_raw_* calls chose */
};

/* harness_raw_connect() to @d, with a reader on the socket and an empty
 * buffer. */
void harness_raw_open(struct harness_raw *c, struct daemon *d);

/* Frees the buffer and the reader, and closes the socket. Safe to call on
 * a connection never opened, and more than once. */
void harness_raw_close(struct harness_raw *c);

/* harness_start_connected(), plus a raw connection @c to the same daemon:
 * the fixture of suites that speak both. Returns the libsqlited
 * connection. */
sqlited *harness_start_with_raw(struct daemon *d, struct harness_raw *c,
                                const char *const *extra_args);

/* Undoes harness_start_with_raw(): harness_raw_close(@c), then
 * harness_cleanup_connected(@d, @db). */
void harness_cleanup_with_raw(struct daemon *d, sqlited **db,
                              struct harness_raw *c);

/* A decoded response or error notification from the daemon. */
struct reply {
    char *msg; /* the message's bytes (owned) */
    size_t len;
    int kind;        /* 1 response, 2 notification */
    uint32_t msgid;  /* responses */
    char method[32]; /* notifications */
    bool is_error;   /* an error object was present */
    int64_t code;
    int64_t primary;
    bool has_primary;
    char name[64];
    char message[1024];
    bool has_step; /* batch and bulk errors: the index of the failed step */
    int64_t step;
    /* Responses: on the result value. Notifications: on params[0]. */
    struct codec_reader result;
};

/* Reads one message (within HARNESS_IO_TIMEOUT_MS) and decodes it as a
 * response [1, msgid, error, result] or notification [2, method, params]
 * whose error objects are {code, primary, name, message}. Fails the test on
 * end of stream, timeout, or a message of another shape. */
void harness_read_reply(struct harness_reader *r, struct reply *rep);

/* harness_read_reply() waiting at most @timeout_ms: for an answer that must
 * come sooner than something else could have caused it. */
void harness_read_reply_within(struct harness_reader *r, int timeout_ms,
                               struct reply *rep);

/* Decodes @msg[0..len) (which @rep takes over, freed by reply_free()) as
 * harness_read_reply() does. Returns 0, or -1 with a reason in @why. */
int harness_parse_reply(char *msg, size_t len, struct reply *rep, char *why,
                        size_t why_len);
void reply_free(struct reply *rep);

/* With @rep a successful response to query or exec whose result has at
 * least one row, returns a reader on the first value of the first row;
 * *@nrows receives the number of rows and *@ncols the length of the first.
 * Fails the test on an error or a result of another shape. */
struct codec_reader harness_reply_rows(const struct reply *rep, uint32_t *nrows,
                                       uint32_t *ncols);

/* The integer of a result of exactly one row of one integer (a count, say);
 * fails the test on an error or a result of another shape. */
int64_t harness_reply_int(const struct reply *rep);

/* With @map on a map header, finds @key and stores in *@value a reader on
 * its value. Returns false when the map has no such key, or is malformed. */
bool harness_map_find(struct codec_reader map, const char *key,
                      struct codec_reader *value);

/* Reads a string value and compares it with @want. */
bool harness_read_str_eq(struct codec_reader *r, const char *want);

/* Reads the error object {code, primary, name, message, step?} at @r into
 * the error fields of @err (zeroed first; is_error set), moving @r past it:
 * the entries of a batch's "errors", say. Fails the test on another
 * shape. */
void harness_read_error(struct codec_reader *r, struct reply *err);

/* Fails the test unless @rep carries an error with @code and @name, a
 * primary code that agrees (code & 0xff, or code itself for sqlited's
 * negative codes), and a message that holds @text (NULL: any non-empty
 * message). Case matters in @text. */
void harness_assert_error(const struct reply *rep, int64_t code,
                          const char *name, const char *text);

/* With @map on a map, the integer under @key; fails the test when the key
 * is missing or its value is not an integer. */
int64_t harness_result_int(struct codec_reader map, const char *key);

/* ----------------------------------------------------- write path methods */

/* Options of query, exec, batch and bulk (PROTOCOL.md, Options). Only what
 * is set is sent; a compound literal names the ones a call needs:
 * &(struct harness_options){.tx = id, .has_timeout = true, .timeout_ms = 200}.
 */
struct harness_options {
    bool has_timeout;
    int64_t timeout_ms;
    int64_t tx; /* 0: not sent */
    bool has_atomic;
    bool atomic;
};

/* Appends @o as an options map, or nil when @o is NULL or sets nothing. */
void harness_pack_options(struct codec_buf *b, const struct harness_options *o);

/* Appends [0, msgid, method, [sql, nil, options]]: query or exec without
 * parameters, with options @o (may be NULL). */
void harness_pack_sql_options(struct codec_buf *b, uint32_t msgid,
                              const char *method, const char *sql,
                              const struct harness_options *o);

/* Appends [0, msgid, "batch", [steps, options]] whose steps are [sql] for
 * each of @sqls[0..n), with options @o (may be NULL). */
void harness_pack_batch_sql(struct codec_buf *b, uint32_t msgid,
                            const char *const *sqls, uint32_t n,
                            const struct harness_options *o);

/* Appends [0, msgid, "begin", [mode]] ([] when @mode is NULL). */
void harness_pack_begin(struct codec_buf *b, uint32_t msgid, const char *mode);

/* Appends [0, msgid, method, [tx]]: "commit" or "rollback". */
void harness_pack_tx_end(struct codec_buf *b, uint32_t msgid,
                         const char *method, int64_t tx);

/* Sends the request(s) collected in @c->b and reads the next message,
 * which must be the response to @msgid. */
void harness_raw_call(struct harness_raw *c, uint32_t msgid, struct reply *rep);

/* Packs and runs @sql with @method and options @o (may be NULL) on @c and
 * stores the response in @rep, whatever it is. */
void harness_raw_sql(struct harness_raw *c, const char *method, const char *sql,
                     const struct harness_options *o, struct reply *rep);

/* Runs @sql with exec and options @o (may be NULL) on @c; fails the test
 * unless it succeeds. Returns its "changes". */
int64_t harness_raw_exec(struct harness_raw *c, const char *sql,
                         const struct harness_options *o);

/* Runs @sql with query and options @o on @c, expecting one integer back as
 * harness_reply_int() does. */
int64_t harness_raw_query_int(struct harness_raw *c, const char *sql,
                              const struct harness_options *o);

/* begin on @c with @mode (NULL: the default); fails the test unless it
 * answers a positive transaction id, which it returns. */
int64_t harness_raw_begin(struct harness_raw *c, const char *mode);

/* Runs @method ("commit" or "rollback") on transaction @tx and stores the
 * response in @rep. */
void harness_raw_tx_end(struct harness_raw *c, const char *method, int64_t tx,
                        struct reply *rep);

/* commit or rollback of @tx on @c; fails the test unless the result is
 * nil. */
void harness_raw_end_ok(struct harness_raw *c, const char *method, int64_t tx);

/* Fails the test if a message arrives on @r within @ms: for a request that
 * must still be waiting. (A bound from below, so it cannot fail because the
 * machine is slow.) */
void harness_assert_no_reply(struct harness_reader *r, int ms,
                             const char *what);

/* Appends cancel [@target] as request @msgid to @c->b, without sending. */
void harness_pack_cancel(struct harness_raw *c, uint32_t msgid,
                         uint32_t target);

/* Sends cancel [@target] as request @msgid on @c, without reading. */
void harness_send_cancel(struct harness_raw *c, uint32_t msgid,
                         uint32_t target);

/* The value of "cancelled" in the answer @rep to a cancel; fails the test
 * on an error or an answer of another shape. */
bool harness_cancel_result(const struct reply *rep);

/* Cancels request @target on @c with cancel request @msgid and reads both
 * answers, in whichever order they come, and nothing else: the cancel's
 * must say "cancelled": @found, and @target's goes into @rep (the caller
 * frees it). @c->last_msgid becomes at least @msgid. */
void harness_cancel_and_read(struct harness_raw *c, uint32_t msgid,
                             uint32_t target, bool found, struct reply *rep);

/* The daemon's `stats` counters (PROTOCOL.md). */
struct harness_stats {
    int64_t groups;
    int64_t group_requests;
    int64_t group_max;
    int64_t busy_retries;
    int64_t timeouts;
    int64_t tx_begun;
    int64_t tx_committed;
    int64_t tx_rolled_back;
    int64_t tx_expired;
};

/* Calls stats on a fresh raw connection to @d and fills @s; fails the test
 * unless every counter above is there, a non-negative integer. */
void harness_stats(struct daemon *d, struct harness_stats *s);

/* The `stats` counter @key of @d, asked on a raw connection of its own;
 * fails the test unless it is there, an integer. */
int64_t harness_stat(struct daemon *d, const char *key);

/* Hex dump of @data for assertion messages (malloc'd). */
char *harness_hex(const void *data, size_t len);

/* Milliseconds on a monotonic clock. */
int64_t harness_now_ms(void);

/* Sleeps @ms milliseconds, signals or not. Thread-safe. */
void harness_sleep_ms(int ms);

/* Writes @text to the file @name of directory @dir (a migration, say),
 * replacing it; a failure fails the test. */
void harness_put_file(const char *dir, const char *name, const char *text);

#endif /* SQLITED_TEST_HARNESS_H */
