/* libsqlited: the C client of the sqlited database server.
 *
 * sqlited is a local daemon that owns one SQLite database; programs reach it
 * through a Unix socket instead of opening the file themselves. This library
 * hides the wire protocol (MessagePack-RPC, see protocol/PROTOCOL.md): open a
 * connection, run SQL with bound parameters, walk the rows of the result
 * (a large one streams in chunks, in constant memory); run several
 * statements at once (batches, bulk inserts) or inside an interactive
 * transaction, with deadlines.
 *
 * Error model. Every call that can fail returns an int:
 *   0        success;
 *   > 0      a SQLite result code passed through from the daemon, extended
 *            codes included (SQLITE_CONSTRAINT_UNIQUE is 2067), or
 *            SQLITE_ROW / SQLITE_DONE from sqlited_rows_next();
 *   < 0      a failure of the daemon itself (SQLITED_BAD_REQUEST ...), or of
 *            the client (a negated errno such as -ECONNREFUSED, or one of the
 *            SQLITED_E* codes below).
 * sqlited_strerror() names any code; sqlited_errmsg() returns the message of
 * the last failed call on a connection. Each function says whether the
 * connection is still usable after it fails; in short, it is, unless the error
 * is SQLITED_ECLOSED, SQLITED_EPROTO or a negated errno from the socket or
 * from reading a reply (-ENOMEM).
 *
 * Thread safety. A connection (sqlited *) and everything obtained from it is
 * not internally locked: use it from one thread at a time; a result that
 * streams (see sqlited_rows_next()) counts as part of its connection. It may
 * move between threads. The one exception is sqlited_interrupt(), which
 * another thread or a signal handler may call while a call on the
 * connection is blocked. Use one connection per thread for parallel work; the
 * daemon runs reads from different connections in parallel. sqlited_strerror()
 * and parameter lists and batches not shared between threads are safe
 * everywhere.
 *
 * Memory. The library never aborts on out-of-memory; it returns -ENOMEM.
 * Inputs are borrowed for the duration of the call; nothing keeps a pointer
 * to them afterwards.
 */
#ifndef SQLITED_H
#define SQLITED_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef SQLITED_API
#define SQLITED_API __attribute__((visibility("default")))
#endif

#define SQLITED_VERSION "0.1.0"
#define SQLITED_VERSION_NUMBER 100 /* major * 10000 + minor * 100 + patch */
#define SQLITED_PROTOCOL_VERSION 1

/* The default socket path of a daemon started by `make run`. */
#define SQLITED_DEFAULT_SOCKET "./var/sqlited.sock"

/* Error codes of sqlited itself, all negative and in [-1999, -1000] so that
 * they never meet a negated errno or a SQLite result code.
 *
 * X(NAME, value, description). The daemon's codes (1000s) travel on the wire
 * with their name, e.g. "SQLITED_BAD_REQUEST"; the client's own (1100s) never
 * leave this library. */
#define SQLITED_ERRNO_MAP(X)                                                   \
    X(BAD_REQUEST, -1000, "malformed request")                                 \
    X(UNKNOWN_METHOD, -1001, "unknown method")                                 \
    X(TOO_LARGE, -1002, "message or value over a protocol limit")              \
    X(PROTOCOL, -1003, "malformed MessagePack framing")                        \
    X(SHUTTING_DOWN, -1004, "the daemon is shutting down")                     \
    X(TIMEOUT, -1005, "request deadline passed")                               \
    X(INTERRUPTED, -1006, "request interrupted")                               \
    X(INTERNAL, -1007, "internal error in the daemon")                         \
    X(TX_EXPIRED, -1008, "the transaction is no longer open")                  \
    X(CURSOR_EXPIRED, -1009, "the cursor is no longer open")                   \
    X(TOO_MANY_CONNECTIONS, -1010, "the daemon is at its connection limit")    \
    X(TOO_MANY_CURSORS, -1011, "no cursor left for a large result")            \
    X(DATABASE_GONE, -1012, "the database file is no longer at its path")      \
    X(NO_MEMORY, -1013, "the daemon's memory limit is reached")                \
    X(NOT_READY, -1014, "the daemon is not ready: migrations are running")     \
    X(ECLOSED, -1100, "connection closed")                                     \
    X(EPROTO, -1101, "malformed reply from the daemon")                        \
    X(EMISUSE, -1102, "library used incorrectly")                              \
    X(ERANGE, -1103, "index out of range")                                     \
    X(EVERSION, -1104, "unsupported protocol version")

#define SQLITED_ERRNO_ENUM(name, value, text) SQLITED_##name = (value),
enum sqlited_errno { SQLITED_ERRNO_MAP(SQLITED_ERRNO_ENUM) };
#undef SQLITED_ERRNO_ENUM

/* sqlited_rows_next() results, equal to SQLITE_ROW and SQLITE_DONE. */
#define SQLITED_ROW 100
#define SQLITED_DONE 101

/* Value types, equal to SQLite's fundamental datatypes: SQLITE_INTEGER (1),
 * SQLITE_FLOAT (2), SQLITE_TEXT (3), SQLITE_BLOB (4), SQLITE_NULL (5). */
enum sqlited_type {
    SQLITED_INTEGER = 1,
    SQLITED_FLOAT = 2,
    SQLITED_TEXT = 3,
    SQLITED_BLOB = 4,
    SQLITED_NULL = 5,
};

typedef struct sqlited sqlited;               /* a connection to the daemon */
typedef struct sqlited_params sqlited_params; /* a list of bound values */
typedef struct sqlited_rows sqlited_rows;     /* the result of one statement */

/* Returns a static English description of any code this library returns: 0,
 * SQLite result codes (through the same table as sqlite3_errstr), the
 * SQLITED_* codes above and negated errno values. Never NULL. Thread-safe. */
SQLITED_API const char *sqlited_strerror(int rc);

/* Returns the symbolic name of a code: "SQLITE_CONSTRAINT_UNIQUE",
 * "SQLITED_BAD_REQUEST", "ECONNREFUSED"; "UNKNOWN" for codes it does not know.
 * Never NULL; the string is static. Thread-safe. */
SQLITED_API const char *sqlited_codename(int rc);

/* ---------------------------------------------------------------- connection
 */

/* Connects to the daemon listening on the Unix socket @path (NULL means
 * SQLITED_DEFAULT_SOCKET) and checks that it speaks this library's protocol.
 * @timeout_ms bounds the connect and the handshake; 0 or less means wait
 * without limit. No reference to @path is kept.
 *
 * On success stores a new connection in *@out and returns 0. On failure
 * stores NULL in *@out and returns a negated errno (-ENOENT: no socket there,
 * or an empty @path; -ECONNREFUSED: nothing listening; -ETIMEDOUT,
 * -ENAMETOOLONG, -ENOMEM), SQLITED_EVERSION, SQLITED_EPROTO, SQLITED_ECLOSED
 * (the daemon hung up during the handshake), SQLITED_EMISUSE (NULL @out), or
 * the daemon's own code when it refuses the handshake
 * (SQLITED_SHUTTING_DOWN), or refuses the connection with an error
 * notification before hanging up: SQLITED_TOO_MANY_CONNECTIONS when it is
 * at its --max-connections (try again later), SQLITE_AUTH when its access
 * lists (allow-read, allow-write, allow-operator) leave this process's
 * user out. A connection that may only read, or not run operator methods,
 * gets SQLITE_AUTH from the calls it may not make, and stays usable.
 *
 * Later calls wait for the daemon without limit (a long query takes as long
 * as it takes) unless sqlited_set_io_timeout() bounds them. */
SQLITED_API int sqlited_open(const char *path, int timeout_ms, sqlited **out);

/* Bounds how long each later call on @db waits for the socket: to send its
 * request, and for each answer (a streamed result's every chunk counts as
 * one wait). @timeout_ms from 1 to 86400000; 0 (the default) waits without
 * limit. This is the client's own deadline, for a daemon that does not
 * answer at all (stopped, hung); the daemon's deadline for the work is
 * sqlited_set_timeout()'s.
 *
 * A call that runs out of time fails with -ETIMEDOUT and the connection is
 * closed (its answer might still come, and would then answer the wrong
 * call): open a new one. Returns 0, or SQLITED_EMISUSE (NULL @db, or
 * @timeout_ms out of range). */
SQLITED_API int sqlited_set_io_timeout(sqlited *db, int timeout_ms);

/* Closes the connection and frees everything obtained from it that is still
 * open, except sqlited_rows objects, which must still be closed with
 * sqlited_rows_close(). Those of results that were fully received stay
 * readable to their end; a result still streaming (see sqlited_rows_next())
 * keeps the chunk it holds (the rows sqlited_rows_count() counts), and then
 * fails with SQLITED_ECLOSED. Requests
 * still pending (see sqlited_send_query()) are forgotten, with any answers
 * received for them; the daemon still carries them out. Accepts NULL. */
SQLITED_API void sqlited_close(sqlited *db);

/* Liveness check: one round trip answered by the daemon's event loop.
 * Returns 0, or a negative code (the connection is unusable after
 * SQLITED_ECLOSED, SQLITED_EPROTO and negated errno values). */
SQLITED_API int sqlited_ping(sqlited *db);

/* ---------------------------------------------------------------- operations
 */

/* Statuses of sqlited_health(). */
#define SQLITED_HEALTH_OK 0       /* ready */
#define SQLITED_HEALTH_DEGRADED 1 /* ready, but worth an operator's look */
#define SQLITED_HEALTH_FAILING 2  /* not ready */

/* Flags of sqlited_health(). */
#define SQLITED_HEALTH_QUICK 1 /* also run PRAGMA quick_check */

/* Readiness check (the `health` method, protocol/PROTOCOL.md). Within
 * @timeout_ms (1 to 60000; 0: the daemon's default of 5000) the daemon
 * reads the database on one of its readers, sends a request through its
 * writer's queue, and with SQLITED_HEALTH_QUICK in @flags runs PRAGMA
 * quick_check; it answers once they are done or the deadline has passed.
 *
 * On success stores SQLITED_HEALTH_OK, _DEGRADED or _FAILING in *@status
 * (required), and when @json is not NULL the daemon's whole answer as a
 * JSON object in *@json (free it with sqlited_free()), and returns 0: the
 * call succeeds whatever the verdict. sqlited_health_reason() then says
 * why, in one line. Bound the wait for a daemon that does not answer at all
 * with sqlited_set_io_timeout() (and sqlited_open()'s timeout).
 *
 * While the daemon applies its start-up migrations (--migrations) the
 * verdict is SQLITED_HEALTH_FAILING with the reason "migrating: N pending,
 * applying NNNN_name"; every call but sqlited_open(), sqlited_ping(),
 * sqlited_health(), sqlited_stats() and sqlited_metrics() fails meanwhile
 * with SQLITED_NOT_READY (the handle stays usable: retry once health says
 * ready), and if a start-up migration fails the daemon exits and the
 * connection is closed (SQLITED_ECLOSED).
 *
 * Errors: SQLITED_EMISUSE (NULL @db or @status, unknown flags, @timeout_ms
 * out of range), SQLITED_SHUTTING_DOWN (the daemon is stopping: not ready),
 * -ENOMEM, and the transport failures of every call (-ETIMEDOUT,
 * SQLITED_ECLOSED ...), after which the connection is unusable. On failure
 * *@json is NULL. */
SQLITED_API int sqlited_health(sqlited *db, int flags, int timeout_ms,
                               int *status, char **json);

/* The reason of the last sqlited_health() answer on @db: "ready", or what
 * is wrong ("the database file ... is no longer a regular file"). Valid
 * until the next call on @db; "" when there is none. Never NULL. */
SQLITED_API const char *sqlited_health_reason(sqlited *db);

/* The daemon's counters (the `stats` method) as a JSON object in *@json;
 * free it with sqlited_free(). Returns 0, or an error as sqlited_ping()
 * does (and SQLITED_EMISUSE for a NULL @json); on failure *@json is
 * NULL. */
SQLITED_API int sqlited_stats(sqlited *db, char **json);

/* Every figure the daemon keeps, in the Prometheus text exposition format
 * 0.0.4 (the `metrics` method), as a NUL-terminated string in *@text; free
 * it with sqlited_free(). Returns 0, or an error as sqlited_stats() does;
 * on failure *@text is NULL. */
SQLITED_API int sqlited_metrics(sqlited *db, char **text);

/* Frees memory this library handed to the caller (the text of
 * sqlited_health(), sqlited_stats() and sqlited_metrics()). Accepts NULL. */
SQLITED_API void sqlited_free(void *p);

/* The daemon's answer to the handshake, valid until sqlited_close(): its
 * version ("0.1.0") and the version of SQLite it runs ("3.40.1"). */
SQLITED_API const char *sqlited_server_version(sqlited *db);
SQLITED_API const char *sqlited_sqlite_version(sqlited *db);

/* Limits the daemon enforces, from the handshake: the largest message it
 * accepts in bytes, and the largest number of bound parameters. */
SQLITED_API size_t sqlited_max_message_size(sqlited *db);
SQLITED_API unsigned sqlited_max_params(sqlited *db);

/* How long the daemon keeps an interactive transaction (sqlited_begin()),
 * in milliseconds, from the handshake: it rolls one back once idle that
 * long (its --tx-idle-timeout), or open that long however busy (its
 * --tx-max-duration; 0: no limit). -1 when the daemon did not say, or for
 * a NULL @db. A SIGHUP that reloads the daemon's configuration may change
 * them for later transactions; these are the values at connect time. */
SQLITED_API int64_t sqlited_tx_idle_timeout(sqlited *db);
SQLITED_API int64_t sqlited_tx_max_duration(sqlited *db);

/* ------------------------------------------------------------------- queries
 */

/* Runs @sql on the daemon's writer connection.
 *
 * Without parameters (@params NULL or empty) @sql may hold several statements,
 * run in order (a schema script); the first that fails stops the script. With
 * parameters, @sql must be exactly one statement. A call is atomic: when any
 * of its statements fails, nothing of it is applied. Transaction control in
 * SQL (BEGIN, COMMIT, ROLLBACK ...) is refused with SQLITED_BAD_REQUEST: use
 * sqlited_batch_run() or sqlited_begin() instead. Inside a transaction of
 * sqlited_begin(), SAVEPOINT, RELEASE and ROLLBACK TO work when sent alone
 * (one statement per call); the savepoint name "sqlited" is the daemon's.
 *
 * If @rows is not NULL, *@rows receives the result (close it with
 * sqlited_rows_close()): the rows of the last statement that returns rows,
 * such as INSERT ... RETURNING, plus changes and last_insert_rowid. Pass NULL
 * when only the counts matter; sqlited_changes() and
 * sqlited_last_insert_rowid() report them either way.
 *
 * Returns 0, or a SQLite result code (> 0) or daemon code (< 0) from the
 * daemon, with its message in sqlited_errmsg(); the connection stays usable.
 * These client-side failures also leave it usable: SQLITED_EMISUSE (NULL
 * @db or @sql; NULL @rows for sqlited_query), SQLITED_TOO_LARGE (the request
 * is larger than sqlited_max_message_size(); nothing was sent), and -ENOMEM
 * before the request was sent. SQLITED_ECLOSED, SQLITED_EPROTO and other
 * negated errno values mean the connection is broken: close it. -ENOMEM
 * while copying the rows of a result means the statement was applied
 * (sqlited_changes() tells) but its rows are lost. On failure *@rows is
 * NULL. */
SQLITED_API int sqlited_exec(sqlited *db, const char *sql,
                             const sqlited_params *params, sqlited_rows **rows);

/* Runs one statement, @sql, on one of the daemon's reader connections, in
 * parallel with other clients' reads. A statement that writes (INSERT ...
 * RETURNING, say) is passed on to the writer, so any statement works.
 *
 * On success stores the result in *@rows (required) and returns 0. A large
 * result comes in chunks (1,000 rows or 1 MiB by default, the daemon's
 * --chunk-rows and --chunk-bytes): *@rows then holds the first chunk and
 * sqlited_rows_next() fetches the others as it goes, on @db; see there. The
 * result of a read outside a transaction streams so; those of writes and of
 * queries inside a transaction come whole.
 *
 * Errors as for sqlited_exec(); SQLITED_TOO_LARGE also when the first chunk
 * crosses a limit set with sqlited_set_result_limits();
 * SQLITED_TOO_MANY_CURSORS when the result needs more than one chunk and the
 * daemon has no cursor left for it (8 per connection, --max-cursors in all):
 * read or close other results, then retry; SQLITED_NO_MEMORY when a large
 * chunk (a row of many megabytes) would take the daemon past its memory
 * limit (--max-memory), or this connection past its share of it while
 * answers of pipelined requests wait unread: collect them, then retry. The
 * connection stays usable. */
SQLITED_API int sqlited_query(sqlited *db, const char *sql,
                              const sqlited_params *params,
                              sqlited_rows **rows);

/* Bounds the result of every later sqlited_query() on @db: at most
 * @max_rows rows, and at most @max_bytes bytes of rows as the daemon
 * encodes them (MessagePack, over all chunks); 0 for either means no bound
 * (the initial state). A result over a bound fails with SQLITED_TOO_LARGE,
 * from sqlited_query() when its first chunk crosses it, else from the
 * sqlited_rows_next() that fetches the chunk that does: the rows before that
 * chunk were already read. To have all or nothing, read to the end before
 * using the rows. sqlited_exec() and batches are not bounded.
 *
 * Returns 0, or SQLITED_EMISUSE (NULL @db, or a bound above INT64_MAX),
 * which leaves the setting as it was. */
SQLITED_API int sqlited_set_result_limits(sqlited *db, uint64_t max_rows,
                                          uint64_t max_bytes);

/* The query plan of one statement @sql, as EXPLAIN QUERY PLAN gives it,
 * without running the statement: rows with the columns id, parent (the id
 * of the row it belongs under, 0 at the top) and detail ("SEARCH users USING
 * INDEX users_email (email=?)"). @params may be given as for sqlited_query()
 * or be NULL (parameters then count as NULL, which does not change the
 * plan). The plan is made on a reader connection, outside any transaction
 * open on @db (it sees committed tables only), with no deadline of @db's.
 *
 * On success stores the plan in *@rows (required) and returns 0. Errors as
 * for sqlited_exec(): SQLITED_BAD_REQUEST when @sql is not exactly one
 * statement. */
SQLITED_API int sqlited_explain(sqlited *db, const char *sql,
                                const sqlited_params *params,
                                sqlited_rows **rows);

/* The code, its symbolic name and the message of the last call on @db that
 * failed; 0, "OK" and "not an error" after a call that succeeded. The strings
 * are owned by @db and valid until the next call on it. The code equals the
 * failed call's return value. */
SQLITED_API int sqlited_errcode(sqlited *db);
SQLITED_API const char *sqlited_errname(sqlited *db);
SQLITED_API const char *sqlited_errmsg(sqlited *db);

/* Rows changed by, and the rowid of the last INSERT of, the last successful
 * sqlited_exec(), writing sqlited_query(), sqlited_batch_run() or
 * sqlited_exec_many() on @db, or the last such request collected with
 * sqlited_receive() (0 before any). For a batch or a bulk call,
 * changes is the total over its steps or sets, and the rowid is that of the
 * last step or set that succeeded. */
SQLITED_API int64_t sqlited_changes(sqlited *db);
SQLITED_API int64_t sqlited_last_insert_rowid(sqlited *db);

/* ---------------------------------------------------------------- parameters
 *
 * A parameter list is built once and may be reused for many calls. Values are
 * either all positional (@name NULL: the first value binds ?1, the next ?2,
 * ...) or all named (@name ":id", "@id", "$id", or "id", which matches
 * whichever of the three prefixes the statement uses). Mixing the two styles
 * in one list fails with SQLITED_EMISUSE. The daemon refuses a list whose
 * count or names do not match the statement (SQLITE_RANGE) rather than
 * binding NULL in silence.
 *
 * Each sqlited_params_add_* copies its value and returns 0, -ENOMEM,
 * SQLITED_TOO_LARGE (text or a blob over 4 GiB - 1, MessagePack's limit), or
 * SQLITED_EMISUSE (mixed styles, NULL list, a negative length other than -1,
 * NULL data with a length other than 0); after a failure the list is
 * unchanged.
 */

SQLITED_API int sqlited_params_open(sqlited_params **out);
SQLITED_API void sqlited_params_close(sqlited_params *p);
/* Empties the list for reuse, keeping its memory. */
SQLITED_API void sqlited_params_clear(sqlited_params *p);
/* Number of values in the list. */
SQLITED_API unsigned sqlited_params_count(const sqlited_params *p);

SQLITED_API int sqlited_params_add_int64(sqlited_params *p, const char *name,
                                         int64_t value);
SQLITED_API int sqlited_params_add_double(sqlited_params *p, const char *name,
                                          double value);
/* @text is UTF-8; @len is its length in bytes, or -1 to use strlen().
 * @text may be NULL when @len is 0 (an empty string). */
SQLITED_API int sqlited_params_add_text(sqlited_params *p, const char *name,
                                        const char *text, int64_t len);
/* @len bytes from @data; @data may be NULL when @len is 0 (an empty blob). */
SQLITED_API int sqlited_params_add_blob(sqlited_params *p, const char *name,
                                        const void *data, size_t len);
SQLITED_API int sqlited_params_add_null(sqlited_params *p, const char *name);

/* ----------------------------------------------------------------- results
 *
 * A sqlited_rows holds the result of one call. It starts before the first
 * row: call sqlited_rows_next() to move to each row, then read the row's
 * values with sqlited_column_*().
 *
 * A result received whole does not refer to the connection and may outlive
 * it. A large result of sqlited_query() streams: while the daemon keeps the
 * rest (a cursor), the rows refer to the connection they came from and
 * fetch the next chunk on it. They ask for it as soon as a chunk arrives
 * (one fetch in flight per result), so that the daemon builds the next
 * chunk while the application reads this one: a streaming result holds at
 * most two chunks, the one being read and the next, whatever its size.
 * Other calls on that connection may be made between two
 * sqlited_rows_next(), and several results may stream on one connection at
 * once. The daemon closes a cursor left without a fetch for its
 * --cursor-idle-timeout (10 s by default; with the next chunk fetched
 * ahead, the cursor idles while the application reads a chunk), one open
 * longer than its --cursor-max-age (5 minutes), and the oldest one when its
 * WAL passes --wal-max-bytes (a cursor's snapshot keeps the WAL from being
 * checkpointed): read a result without long pauses, or close it.
 */

/* Moves to the next row. When the rows of the current chunk are used up and
 * the daemon holds more, moves to the next chunk first, freeing the
 * previous one. Its fetch was sent when the current chunk came (by the call
 * that received it); this takes the answer, waiting for it if it has not
 * come, and sends the fetch for the chunk after it. That is a call on the
 * rows' connection, whose failure is recorded there (sqlited_errmsg()), and
 * which carries no deadline of sqlited_set_timeout() (the daemon's
 * --timeout applies). A failure of a fetch is returned where its chunk
 * would have begun, after every row received before it.
 *
 * Returns SQLITED_ROW (100, SQLITE_ROW) when there is a row, SQLITED_DONE
 * (101, SQLITE_DONE) after the last, SQLITED_EMISUSE for NULL, or a failure,
 * after which there is no current row. -ENOMEM while decoding a row, or
 * while building the fetch request (nothing was sent), may be retried. Any
 * other failure ends the result: every later call returns the same code,
 * and only sqlited_rows_close() remains to do.
 *   SQLITED_ECLOSED   the connection was closed (sqlited_close()), or broken
 *                     by an earlier error, before the rest came;
 *   SQLITED_CURSOR_EXPIRED  the daemon closed the cursor: it idled longer
 *                     than the daemon's --cursor-idle-timeout, grew older
 *                     than its --cursor-max-age, or held the oldest
 *                     snapshot when the WAL passed --wal-max-bytes (the
 *                     message says which);
 *   SQLITED_TOO_LARGE the next chunk crosses a bound set with
 *                     sqlited_set_result_limits();
 *   another code from the daemon (SQLITED_TIMEOUT, SQLITED_INTERRUPTED, a
 *                     SQLite code): the connection stays usable;
 *   SQLITED_EPROTO or a negated errno (-ENOMEM included) from sending or
 *                     reading the fetch: the connection is broken, as after
 *                     sqlited_exec() (when sending the fetch ahead failed,
 *                     the connection broke during the call that received
 *                     the chunk before, and calls on it since have failed
 *                     with SQLITED_ECLOSED); SQLITED_EPROTO also for a
 *                     malformed row, which leaves the connection alone;
 *   -ENOMEM           the fetched chunk could not be kept: its rows are
 *                     lost (the connection stays usable). */
SQLITED_API int sqlited_rows_next(sqlited_rows *rows);

/* Frees the result. When the daemon may still hold rows of it (a cursor),
 * first asks it to drop them: takes the answer to the fetch in flight, if
 * any, then sends close unless that answer ended the result (at most one
 * round trip on the connection besides the fetch's, whose outcome is not
 * reported and whose last error is left as it was); nothing is sent when
 * the connection was closed or is broken. Accepts NULL. */
SQLITED_API void sqlited_rows_close(sqlited_rows *rows);

/* Number of result columns (0 for a statement that returns no rows), and the
 * name of column @i (0-based), owned by @rows; NULL when @i is out of range. */
SQLITED_API int sqlited_rows_column_count(const sqlited_rows *rows);
SQLITED_API const char *sqlited_rows_column_name(const sqlited_rows *rows,
                                                 int i);

/* Number of rows received so far: those of the chunks the rows have held,
 * the current one included, read or not (not the chunk fetched ahead). For
 * a result that came whole (every result but a streaming one)
 * that is all of its rows, from the start; for a streaming result it grows
 * with each chunk, and is the total once sqlited_rows_next() has returned
 * SQLITED_DONE. */
SQLITED_API uint64_t sqlited_rows_count(const sqlited_rows *rows);

/* For a statement that writes: rows it changed, and the rowid of the last
 * INSERT on the connection; 0 for a read. */
SQLITED_API int64_t sqlited_rows_changes(const sqlited_rows *rows);
SQLITED_API int64_t sqlited_rows_last_insert_rowid(const sqlited_rows *rows);

/* Values of column @i (0-based) of the current row, like sqlite3_column_*.
 * Column type is one of enum sqlited_type; SQLITED_NULL when there is no
 * current row or @i is out of range. Conversions follow SQLite's for the
 * numeric types (an INTEGER read as double, a FLOAT read as int64 truncates,
 * NULL reads as 0); TEXT read as a number parses its leading integer (int64)
 * or decimal number (double) as sqlite3 does ('12abc' reads as 12), else 0;
 * BLOB reads as 0. sqlited_column_text() returns NUL-terminated UTF-8 for TEXT
 * (NULL for other types); sqlited_column_blob() returns the bytes of a TEXT
 * or BLOB (NULL for other types and for an empty blob);
 * sqlited_column_bytes() their length. Pointers stay valid until the next
 * sqlited_rows_next() or sqlited_rows_close(). */
SQLITED_API int sqlited_column_type(const sqlited_rows *rows, int i);
SQLITED_API int64_t sqlited_column_int64(const sqlited_rows *rows, int i);
SQLITED_API double sqlited_column_double(const sqlited_rows *rows, int i);
SQLITED_API const char *sqlited_column_text(const sqlited_rows *rows, int i);
SQLITED_API const void *sqlited_column_blob(const sqlited_rows *rows, int i);
SQLITED_API size_t sqlited_column_bytes(const sqlited_rows *rows, int i);

/* ----------------------------------------------------------------- deadlines
 */

/* Sets the deadline the daemon gives every later sqlited_exec(),
 * sqlited_query(), sqlited_batch_run() and sqlited_exec_many() on @db:
 * @timeout_ms milliseconds from when the daemon reads the request; 0 means
 * the longest the daemon allows (its --max-timeout, 5 minutes unless
 * configured, which also caps larger values); -1 (the initial state) sends
 * nothing, so the daemon's default applies (its --timeout, 30 s unless
 * configured). A request whose deadline passes
 * before or while it runs fails with SQLITED_TIMEOUT and has no effect; the
 * connection stays usable. Inside a transaction, SQLite may then end the
 * whole transaction (later calls get SQLITED_TX_EXPIRED).
 *
 * The deadline is the daemon's: the library itself waits for the answer
 * without limit. sqlited_begin(), sqlited_commit() and sqlited_rollback()
 * carry no deadline.
 *
 * Returns 0, or SQLITED_EMISUSE (NULL @db, or @timeout_ms below -1 or above
 * 86400000, one day), which leaves the setting as it was. */
SQLITED_API int sqlited_set_timeout(sqlited *db, int timeout_ms);

/* ------------------------------------------------- interactive transactions
 *
 * sqlited_begin() opens a transaction on the daemon's writer connection and
 * remembers its id in @db. Until sqlited_commit() or sqlited_rollback(),
 * every sqlited_exec(), sqlited_query(), sqlited_batch_run() and
 * sqlited_exec_many() on @db runs inside it, in the order sent, and sees its
 * uncommitted changes; other connections do not see them, and their writes
 * wait until it ends. A call that fails inside the transaction is rolled back
 * alone; the transaction stays open.
 *
 * A read-only transaction (SQLITED_TX_READ_ONLY) holds no lock and keeps no
 * writer waiting: the daemon takes one snapshot of the database when
 * sqlited_begin() is answered, and every sqlited_query() and
 * sqlited_explain() on @db until sqlited_commit() or sqlited_rollback()
 * (the two mean the same there) reads that snapshot, on one of the
 * daemon's readers: writes that other clients commit meanwhile are not
 * seen, however long after the begin a query comes. Large results stream
 * as outside a transaction. sqlited_exec(), sqlited_batch_run() and
 * sqlited_exec_many() inside it fail with SQLITE_READONLY and write
 * nothing, and so does a query whose statement writes; the transaction
 * stays open. The daemon counts a read-only transaction against its
 * --max-cursors (SQLITED_TOO_MANY_CURSORS from sqlited_begin() when none
 * is left), and also ends one whose snapshot keeps the WAL past the
 * daemon's --wal-max-bytes.
 *
 * The daemon ends a transaction by itself when it stays idle longer than its
 * tx_idle_timeout_ms (5 s by default), when it has been open longer than
 * its tx_max_duration_ms (60 s by default, however busy; a statement still
 * running then is interrupted), when SQLite aborts it (a timed-out or
 * interrupted write, a full disk), and when the connection closes. The next
 * call then fails with SQLITED_TX_EXPIRED, whose message says why; any call
 * answered so forgets the transaction (sqlited_tx_id() returns 0), so
 * sqlited_begin() works again. Keep transactions short: while one is open,
 * every other client's writes wait.
 */

enum sqlited_tx_mode {
    SQLITED_TX_DEFERRED = 0,  /* BEGIN DEFERRED: locks on the first write */
    SQLITED_TX_IMMEDIATE = 1, /* BEGIN IMMEDIATE: takes the write lock now */
    SQLITED_TX_READ_ONLY = 2, /* a read-only transaction: one snapshot, read
                                 on the daemon's readers; no lock, no write */
    /* A flag for SQLITED_TX_DEFERRED or SQLITED_TX_IMMEDIATE (not
     * SQLITED_TX_READ_ONLY): foreign keys are checked at COMMIT only. */
    SQLITED_TX_FOREIGN_KEYS_AT_COMMIT = 0x100,
};

/* Opens a transaction in @mode, one of enum sqlited_tx_mode (deferred and
 * immediate differ only towards other processes that open the database
 * file directly; SQLITED_TX_READ_ONLY opens a read-only transaction, whose
 * snapshot is taken before this returns 0).
 *
 * SQLITED_TX_DEFERRED or SQLITED_TX_IMMEDIATE ORed with
 * SQLITED_TX_FOREIGN_KEYS_AT_COMMIT opens a transaction whose foreign keys
 * are checked once, at its COMMIT, instead of at each statement, as a load
 * of `sqlite3 DB .dump` output needs (it may insert rows before the rows
 * they refer to, into tables created before the tables they refer to).
 * Until then no foreign key is enforced in it: inserts, updates and deletes
 * that break one succeed, and ON DELETE and ON UPDATE actions (CASCADE, SET
 * NULL ...) do not run. sqlited_commit() first runs PRAGMA
 * foreign_key_check over the whole database; when any row breaks a foreign
 * key, it rolls the transaction back and returns
 * SQLITE_CONSTRAINT_FOREIGNKEY, with a message naming the first such row and
 * their count. Other clients' statements keep their foreign keys.
 *
 * Returns 0 with the transaction open; SQLITED_EMISUSE without sending
 * anything (NULL @db, an unknown @mode, SQLITED_TX_READ_ONLY with
 * SQLITED_TX_FOREIGN_KEYS_AT_COMMIT, or a transaction already open on
 * @db); or an error from the daemon with the connection still usable and no
 * transaction open. SQLITED_ECLOSED, SQLITED_EPROTO and negated errno values
 * other than -ENOMEM mean the connection is broken. */
SQLITED_API int sqlited_begin(sqlited *db, int mode);

/* End the open transaction: sqlited_commit() applies its changes, durably,
 * before it returns 0; sqlited_rollback() discards them.
 *
 * Whatever the outcome, the transaction is over afterwards and @db forgets
 * it: if COMMIT itself fails (a deferred foreign key, say), the daemon rolls
 * the transaction back and sqlited_commit() returns that error. The one
 * exception is -ENOMEM with the connection still usable: the request could
 * not be built, nothing was sent, and the transaction is still open.
 *
 * Returns 0; SQLITED_EMISUSE (NULL @db, or no transaction open); a code from
 * the daemon (SQLITED_TX_EXPIRED when it had already ended the transaction),
 * with the connection usable; or SQLITED_ECLOSED, SQLITED_EPROTO or a negated
 * errno for a broken connection, whose transaction the daemon rolls back. */
SQLITED_API int sqlited_commit(sqlited *db);
SQLITED_API int sqlited_rollback(sqlited *db);

/* The id of the transaction open on @db, a positive integer; 0 when none is
 * (or @db is NULL). */
SQLITED_API int64_t sqlited_tx_id(sqlited *db);

/* The body of a transaction for sqlited_transaction(): returns 0 to commit,
 * anything else to roll back. It must not end the transaction itself. */
typedef int sqlited_tx_fn(sqlited *db, void *arg);

/* Runs @fn(@db, @arg) inside a transaction opened in @mode: begins, calls
 * @fn, then commits when it returns 0 and rolls back otherwise.
 *
 * Returns what sqlited_begin() returns when that fails (@fn is not called);
 * else, when @fn returned 0, what sqlited_commit() returns; else @fn's return
 * value, after the rollback. In that last case sqlited_errcode() and
 * sqlited_errmsg() describe @fn's failure, not the rollback: the error of the
 * call in @fn that failed when @fn returns its code, else a message naming
 * @fn's return value. A rollback that finds the transaction already ended
 * (SQLITED_TX_EXPIRED) is not an error here. SQLITED_EMISUSE also means NULL
 * @db or @fn, or that @fn returned 0 but the transaction had ended inside it
 * (@fn committed it, rolled it back, or ignored a SQLITED_TX_EXPIRED):
 * nothing more was committed. */
SQLITED_API int sqlited_transaction(sqlited *db, int mode, sqlited_tx_fn *fn,
                                    void *arg);

/* ------------------------------------------------------------------ batches
 *
 * A batch is a list of statements sent as one request and run in order on
 * the writer: by default atomically, all or nothing, like a transaction that
 * costs one round trip. Build it with sqlited_batch_add(), run it with
 * sqlited_batch_run(), then read each step's outcome. The results of the last
 * run stay in the batch until the next run, sqlited_batch_clear() or
 * sqlited_batch_close(); a batch may be run again, on any connection. A
 * batch does not refer to a connection; like a parameter list, it must not
 * be used from two threads at once.
 */
typedef struct sqlited_batch sqlited_batch;

/* Stores a new, empty batch in *@out and returns 0; or stores NULL and
 * returns -ENOMEM, or SQLITED_EMISUSE for NULL @out. */
SQLITED_API int sqlited_batch_open(sqlited_batch **out);
/* Frees the batch. Accepts NULL. */
SQLITED_API void sqlited_batch_close(sqlited_batch *b);
/* Removes every step and the results of the last run, keeping the memory for
 * reuse. Accepts NULL. */
SQLITED_API void sqlited_batch_clear(sqlited_batch *b);

/* Appends a step: one statement @sql (exactly one when @params has values,
 * else a script as for sqlited_exec()) and its @params (may be NULL). Both
 * are copied; the batch keeps no reference to them. Returns 0, -ENOMEM,
 * SQLITED_EMISUSE (NULL @b or @sql), or SQLITED_TOO_LARGE (the batch holds
 * UINT32_MAX steps already); after a failure the batch is unchanged. */
SQLITED_API int sqlited_batch_add(sqlited_batch *b, const char *sql,
                                  const sqlited_params *params);

/* Number of steps in @b (0 for NULL). */
SQLITED_API unsigned sqlited_batch_count(const sqlited_batch *b);

/* With this flag every step runs in its own savepoint: a failed step is
 * rolled back alone and the following steps still run. */
#define SQLITED_BATCH_NONATOMIC 1

/* Runs every step of @b on @db, in order, in one request (inside @db's
 * transaction if one is open, with its deadline if one is set).
 *
 * Atomic (@flags 0): every step must succeed, or nothing of the batch is
 * applied. Returns 0, or the failed step's code with a message that starts
 * "step N: " (N 0-based) in sqlited_errmsg(); sqlited_batch_failed_step()
 * then names the step (a deadline that passes while a step runs fails that
 * step). A failure of the request as a whole (a deadline that passed before
 * it started, a refused option) returns its code with
 * sqlited_batch_failed_step() -1.
 *
 * SQLITED_BATCH_NONATOMIC: returns 0 once the request was carried out, even
 * when some steps failed; check each with sqlited_batch_step_rc(). Inside a
 * transaction, a step whose failure makes SQLite end the transaction fails
 * the whole request, as an atomic step would.
 *
 * After 0, sqlited_changes() is the total over the steps and
 * sqlited_last_insert_rowid() that of the last step that succeeded.
 *
 * Errors: SQLITED_EMISUSE (NULL @db or @b, an empty batch, unknown @flags)
 * and SQLITED_TOO_LARGE (more steps than the daemon's max_items, or a
 * request larger than sqlited_max_message_size()) are found before anything
 * is sent; codes from the daemon leave the connection usable; -ENOMEM is
 * either found before sending or, with the batch applied, while keeping its
 * results, which are then lost; SQLITED_ECLOSED, SQLITED_EPROTO and other
 * negated errno values mean the connection is broken, as for
 * sqlited_exec(). */
SQLITED_API int sqlited_batch_run(sqlited *db, sqlited_batch *b, int flags);

/* After a run that failed in a step (see sqlited_batch_run()): that step's
 * 0-based index. Otherwise -1 (also for NULL). */
SQLITED_API int sqlited_batch_failed_step(const sqlited_batch *b);

/* The outcome of step @i (0-based) in the last run: 0, or its error code,
 * with its message from sqlited_batch_step_errmsg() (owned by @b, valid until
 * the next run, clear or close; NULL when the step did not fail). After a
 * run that failed in a step, that step reports its code and the others 0
 * (they ran and were rolled back, or never ran); before any run, all report
 * 0.
 * Returns SQLITED_ERANGE when @i is not a step of @b, SQLITED_EMISUSE for
 * NULL @b. */
SQLITED_API int sqlited_batch_step_rc(const sqlited_batch *b, unsigned i);
SQLITED_API const char *sqlited_batch_step_errmsg(const sqlited_batch *b,
                                                  unsigned i);

/* Stores in *@out a new sqlited_rows holding the result of step @i of the
 * last run: its columns and rows (INSERT ... RETURNING, a SELECT), changes
 * and last_insert_rowid. The caller closes it; it does not refer to @b.
 * Returns 0; the step's own code when it failed; SQLITED_EMISUSE (NULL
 * arguments, or the step has no result: no run yet, the run failed, or the
 * step was added since); SQLITED_ERANGE (@i is not a step of @b); -ENOMEM.
 * On failure *@out is NULL. */
SQLITED_API int sqlited_batch_step_rows(sqlited_batch *b, unsigned i,
                                        sqlited_rows **out);

/* --------------------------------------------------------------------- bulk
 */

/* Runs the one statement @sql once per parameter set, prepared once (the
 * executemany of Python's sqlite3): for imports. @values is a positional
 * list holding the sets end to end, @per_set values each, so
 * sqlited_params_count(@values) / @per_set sets. @sql must return no rows.
 *
 * The call is atomic: when a set fails, nothing is applied, and the error's
 * message starts with "step N: ", N the 0-based index of the set. On success
 * sqlited_changes() is the total over all sets and
 * sqlited_last_insert_rowid() that of the last insert.
 *
 * Returns 0; SQLITED_EMISUSE (NULL @db, @sql or @values, a named list, an
 * empty list, @per_set 0 or not dividing the count) or SQLITED_TOO_LARGE
 * (more sets, or values in a set, than the daemon's max_items, or a request
 * larger than sqlited_max_message_size()) without sending anything; other
 * errors as for sqlited_exec(). */
SQLITED_API int sqlited_exec_many(sqlited *db, const char *sql,
                                  const sqlited_params *values,
                                  unsigned per_set);

/* ------------------------------------------------------------- interrupting
 *
 * Stops the daemon's work on the call that @db is waiting in, without
 * closing the connection (and so without ending its transaction): what
 * Ctrl-C in a shell needs. Like sqlite3_interrupt(), it may be called from
 * a signal handler (it is async-signal-safe) or from another thread, while
 * the thread that owns @db is blocked in a call on it.
 *
 * It only records the interrupt and wakes the waiting call (a byte written
 * into a pipe the call polls beside the socket); errno is left as it was.
 * The call, in its own thread, then sends the daemon `cancel` for the
 * request it waits for (protocol/PROTOCOL.md) and goes on waiting for that
 * request's answer, which is what it returns:
 *   SQLITED_INTERRUPTED (the message says "cancelled by the client") when
 *     the daemon stopped it: nothing of it was applied (a write inside a
 *     transaction of sqlited_begin() may have ended that transaction, as a
 *     timed-out one does: the next call in it fails with SQLITED_TX_EXPIRED;
 *     a read leaves it open);
 *   its own result, as if there had been no interrupt, when it finished
 *     first (a write already committed is never undone).
 * Either way the connection stays usable. The calls this applies to are
 * every call that waits for an answer: sqlited_query(), sqlited_exec(),
 * sqlited_rows_next() waiting for the next chunk of a result that streams
 * (the daemon then ends the result: later calls on the rows return the
 * same code), sqlited_batch_run(), sqlited_receive() (with SQLITED_ANY
 * every request not answered yet is cancelled), the operations
 * (sqlited_backup(), sqlited_vacuum(), sqlited_optimize(),
 * sqlited_integrity(): each says what is left). A `close` of a cursor,
 * sqlited_migrate() and a sqlited_checkpoint() that already runs are not
 * stopped by the daemon: they finish and answer as usual.
 *
 * An interrupt that comes while no call on @db waits (before a call begins,
 * or between calls) is dropped by the next call, as sqlite3_interrupt()
 * does when no statement runs. A call that is still sending its request
 * notices the interrupt once it waits for the answer. A daemon that does
 * not know `cancel` (older than this library) answers the request as
 * usual. @db must be open: calling it during or after sqlited_close() is
 * undefined. Accepts NULL (does nothing). */
SQLITED_API void sqlited_interrupt(sqlited *db);

/* --------------------------------------------------------------- pipelining
 *
 * Each call above sends one request and waits for its answer: a round trip
 * per statement. To overlap them, send several requests with
 * sqlited_send_query() and sqlited_send_exec(), then collect their results
 * with sqlited_receive(): by id, in any order, or as they come
 * (SQLITED_ANY). A request is pending from its send until its result is
 * collected; every pending request is collected exactly once.
 *
 * Ordering (protocol/PROTOCOL.md, "Ordering and consistency"): the daemon
 * reads requests in the order sent. Execs run one after the other on its
 * writer, in that order. Queries run in parallel on its readers and may
 * complete in any order, before or after execs sent earlier: a query is
 * sure to see the effect of an exec only when it is sent after that exec's
 * result was collected. A query that writes (INSERT ... RETURNING) is
 * passed to the writer and may even run after an exec sent after it.
 * Inside a transaction (sqlited_begin()) every request runs in the order
 * sent. A request carries the options of @db as
 * they are when it is sent: its transaction, its deadline
 * (sqlited_set_timeout()) and, for a query, its result limits.
 *
 * Every other call stays allowed while requests are pending: sqlited_query(),
 * sqlited_ping(), sqlited_rows_next() on a result that streams (a fetch),
 * sqlited_begin() and so on. The answers to pending requests that come in
 * meanwhile are kept for sqlited_receive(), in memory (a copy of each) until
 * they are collected; those to the fetches that streaming results sent
 * ahead are kept in their rows. A send never blocks for good on a daemon that
 * stops reading until its answers are read (it does at 32 requests in flight or
 * 16 MiB of answers not yet read): while it waits for room to send, it
 * reads and keeps those answers.
 *
 * The daemon keeps at most 8 cursors per connection, and queries in flight
 * count against them: a pipelined query whose result needs more than one
 * chunk may fail with SQLITED_TOO_MANY_CURSORS when many are in flight. A
 * result that does stream is read with sqlited_rows_next() as that of
 * sqlited_query() is, while other requests are pending or not.
 */

/* The id sqlited_receive() takes to collect whichever pending request
 * answers first. No request has it. */
#define SQLITED_ANY 0

/* Sends @sql with @params (may be NULL) as sqlited_query() or sqlited_exec()
 * would, without waiting for the answer, and stores the request's id, never
 * 0, in *@id. The request is then pending: collect its result with
 * sqlited_receive(), which also reports the daemon's errors (a failed
 * constraint, say).
 *
 * Returns 0. On failure stores 0 in *@id (unless @id is NULL) and nothing
 * is pending: SQLITED_EMISUSE (NULL @db, @sql or @id), SQLITED_TOO_LARGE
 * (the request is larger than sqlited_max_message_size()) and -ENOMEM are
 * found before anything is sent, and leave the connection usable;
 * SQLITED_ECLOSED, SQLITED_EPROTO and other negated errno values mean the
 * connection is broken, as for sqlited_exec() (see sqlited_receive() for
 * the requests still pending). */
SQLITED_API int sqlited_send_query(sqlited *db, const char *sql,
                                   const sqlited_params *params, uint32_t *id);
SQLITED_API int sqlited_send_exec(sqlited *db, const char *sql,
                                  const sqlited_params *params, uint32_t *id);

/* Collects the result of the pending request @id; or, with @id SQLITED_ANY,
 * of whichever pending request answers first: one whose answer came in
 * already (the earliest sent of those), else the next to answer. Waits for
 * the answer without limit (the request's deadline is the daemon's). Stores
 * the id collected in *@got (@got may be NULL); that request is no longer
 * pending.
 *
 * Returns that request's result exactly as sqlited_query() or
 * sqlited_exec() would have: 0 with the result in *@rows, or its code with
 * the daemon's message in sqlited_errmsg(); an error of one request leaves
 * the connection and the other pending requests as they were. The result
 * of a query that streams holds on to @db to fetch the rest, as one of
 * sqlited_query() does. Collecting an exec sets sqlited_changes() and
 * sqlited_last_insert_rowid(), as sqlited_exec() does. @rows may be NULL,
 * for a query too: the result is dropped (the daemon told to drop the rest
 * of one that streams). -ENOMEM while copying the rows: the request is
 * collected, its rows are lost, and the connection stays usable.
 *
 * SQLITED_EMISUSE, with nothing collected and *@got 0: NULL @db, no
 * request pending, or @id not pending (never sent, or collected already).
 *
 * A broken connection does not lose answers that came in before it broke:
 * they are still collected, with their results. Each request whose answer
 * had not come fails instead, one per call (with SQLITED_ANY, once the
 * answers that came are collected, the earliest sent): the call that finds
 * the connection breaking returns why (SQLITED_ECLOSED when the daemon hung
 * up, SQLITED_EPROTO, a negated errno, -ENOMEM when an answer could not be
 * kept), and each later call, SQLITED_ECLOSED at once. Whether such an exec
 * was applied is unknown. So a loop that collects while sqlited_pending()
 * is positive always ends. On failure *@rows is NULL. */
SQLITED_API int sqlited_receive(sqlited *db, uint32_t id, uint32_t *got,
                                sqlited_rows **rows);

/* The number of requests sent on @db with sqlited_send_query() or
 * sqlited_send_exec() whose results were not collected yet; 0 for NULL.
 * sqlited_close() forgets them (the daemon still carries them out). */
SQLITED_API unsigned sqlited_pending(const sqlited *db);

/* Asks the daemon to stop the pending request @id (sent with
 * sqlited_send_query() or sqlited_send_exec()), without waiting. The
 * request stays pending: sqlited_receive() collects its answer, which is
 * SQLITED_INTERRUPTED when the daemon stopped it (before it ran, or while
 * it ran; nothing of it was applied), or its own result when it finished
 * first. Nothing is sent for a request whose answer came in already.
 *
 * Returns 0; SQLITED_EMISUSE (NULL @db, or @id not pending) or -ENOMEM,
 * with nothing sent and the connection usable; or a failure of the
 * socket (SQLITED_ECLOSED, a negated errno), with the connection broken as
 * for sqlited_send_query(). Not for another thread or a signal handler:
 * that is sqlited_interrupt(). */
SQLITED_API int sqlited_cancel(sqlited *db, uint32_t id);

/* --------------------------------------------------------------- operations
 *
 * What operators do to the database as a whole, carried out by the daemon
 * for every client: backups, maintenance, schema migrations. Strings in
 * their results are owned by @db and stay valid until the next operation
 * call on it (the calls of this section) or sqlited_close(). Each call
 * waits for its answer without limit. A failure answered by the daemon
 * leaves the connection usable; SQLITED_ECLOSED, SQLITED_EPROTO and negated
 * errno values from the socket mean it is broken, as for sqlited_exec().
 */

/* The result of sqlited_backup(). */
typedef struct sqlited_backup_info {
    const char *path;     /* the copy's absolute path on the daemon's host */
    uint64_t size;        /* its size in bytes */
    uint64_t pages;       /* database pages copied */
    uint64_t duration_ms; /* time the copy, check and sync took */
} sqlited_backup_info;

/* Takes an online backup: the daemon copies the database, as it is when
 * the backup begins, into its backup directory (its --backup-dir), while
 * clients keep reading and writing; checks the copy with PRAGMA
 * integrity_check; and only then gives it its name. @dest (borrowed) is the
 * file's name or path relative to the backup directory, or an absolute path
 * inside it; NULL for a name of the daemon's, sqlited-YYYYMMDD-HHMMSS-mmm.db
 * (UTC). The file is created 0600. On success fills *@out (may be NULL).
 *
 * Returns 0, or: SQLITED_BAD_REQUEST when the daemon has no --backup-dir,
 * or @dest leaves the backup directory (an absolute path outside it, a
 * ".." component, a symbolic link on the way) or names a file that exists
 * (nothing is written then); SQLITE_CORRUPT when the copy failed its check
 * (it is removed); SQLITED_INTERRUPTED when the daemon shut down meanwhile,
 * or sqlited_interrupt() stopped it (at any point before the copy got its
 * name: the message says "cancelled by the client"); a SQLite I/O code
 * (SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_FULL ...) when the copy could not
 * be written. In every failure no file is left under the name, nor the
 * temporary copy beside it. The connection stays usable after these. */
SQLITED_API int sqlited_backup(sqlited *db, const char *dest,
                               sqlited_backup_info *out);

/* Maintenance. Each carries the deadline of sqlited_set_timeout() (else the
 * daemon's --timeout applies; 0 means none): one that passes interrupts the
 * work, which fails with SQLITED_TIMEOUT and leaves the database as it was.
 * SQLITE_BUSY when another process held the database locked until then.
 * sqlited_interrupt() stops them the same way, with SQLITED_INTERRUPTED and
 * the database as it was, except a vacuum already writing the compacted
 * database back (its last step), which finishes and returns 0. */

/* Updates the query planner's statistics: PRAGMA optimize, which analyzes
 * the tables whose statistics are stale, or with @analyze nonzero a full
 * ANALYZE of every table and index. Runs alone on the daemon's writer,
 * between write transactions. Returns 0 or the failure. */
SQLITED_API int sqlited_optimize(sqlited *db, int analyze);

/* The result of sqlited_vacuum(). Sizes are the database's (page count
 * times page size); the file shrinks to size_after when the daemon next
 * checkpoints its WAL. */
typedef struct sqlited_vacuum_info {
    uint64_t size_before, size_after; /* bytes */
    uint64_t reclaimed;               /* size_before - size_after */
    uint64_t duration_ms;
} sqlited_vacuum_info;

/* Rebuilds the database file without its free pages (VACUUM), alone on the
 * daemon's writer: writes queued meanwhile wait for it, reads go on. Fills
 * *@out (may be NULL). Returns 0 or the failure. */
SQLITED_API int sqlited_vacuum(sqlited *db, sqlited_vacuum_info *out);

/* sqlited_integrity() checks: */
#define SQLITED_INTEGRITY_QUICK 0 /* PRAGMA quick_check: O(N), no indexes */
#define SQLITED_INTEGRITY_FULL 1  /* PRAGMA integrity_check */

/* The result of sqlited_integrity(). */
typedef struct sqlited_integrity_info {
    int ok;                      /* 1: no problem found */
    unsigned nproblems;          /* at most 100 are reported */
    const char *const *problems; /* nproblems lines of SQLite's, owned by
                                    the connection like every operation
                                    result */
} sqlited_integrity_info;

/* Checks the database's integrity on one of the daemon's readers (writes go
 * on meanwhile; the check sees one snapshot). @check is
 * SQLITED_INTEGRITY_QUICK or SQLITED_INTEGRITY_FULL. A database with
 * problems is a successful call with out->ok 0. Returns 0, SQLITED_EMISUSE
 * for another @check, or the failure. */
SQLITED_API int sqlited_integrity(sqlited *db, int check,
                                  sqlited_integrity_info *out);

/* Schema migrations, from the files of the daemon's --migrations directory
 * (NNNN_name.up.sql, NNNN_name.down.sql), which the daemon reads itself. */

enum sqlited_migrate_action {
    SQLITED_MIGRATE_STATUS = 0, /* change nothing, report */
    SQLITED_MIGRATE_UP = 1,     /* apply pending migrations */
    SQLITED_MIGRATE_DOWN = 2,   /* undo applied ones with their down files */
};

/* sqlited_migrate()'s @version when none is given: up to the latest, or
 * down by one. */
#define SQLITED_MIGRATE_DEFAULT (-1)

/* One migration of the directory. */
typedef struct sqlited_migration {
    int64_t version;
    const char *name;       /* "users" of 0001_users.up.sql */
    const char *file;       /* the up file's name */
    const char *state;      /* "applied", "pending", or "changed": applied,
                               but its file changed since */
    const char *checksum;   /* SHA-256 of the up file, hex */
    const char *applied_at; /* UTC, ISO 8601; NULL when not applied */
} sqlited_migration;

/* The result of sqlited_migrate(). */
typedef struct sqlited_migrate_info {
    int64_t from;   /* the database's version before the call */
    int64_t to;     /* and after it (0: no migration applied) */
    int64_t latest; /* the highest version in the directory */
    unsigned count; /* migrations in the directory, in order of version */
    const sqlited_migration *migrations;
} sqlited_migrate_info;

/* Runs @action of enum sqlited_migrate_action on the daemon, which reads
 * the files of its own --migrations directory. UP applies the pending
 * migrations up to @version (SQLITED_MIGRATE_DEFAULT: the latest), DOWN
 * undoes the applied ones above @version (default: the last one), STATUS
 * (@version must be SQLITED_MIGRATE_DEFAULT) changes nothing. Each
 * migration runs in one transaction with its row in schema_migrations, alone
 * on the daemon's writer, so calls from several clients at once run one
 * after the other. On success fills *@out (may be NULL) with every
 * migration's state after the call.
 *
 * Returns 0, SQLITED_EMISUSE for an unknown @action or a negative @version
 * other than the default, or the daemon's error with a message that names
 * the file: SQLITED_BAD_REQUEST (no --migrations; a version that does not
 * exist, or is on the wrong side of the current one), SQLITE_ERROR (a file
 * changed after it was applied, a gap in the numbers, a file name that is
 * not a migration's, a missing down file: nothing was applied), or the code
 * of the SQL that failed (that migration was rolled back; those before it
 * stay applied, as the message says). The connection stays usable. */
SQLITED_API int sqlited_migrate(sqlited *db, int action, int64_t version,
                                sqlited_migrate_info *out);

/* Checkpoint modes, as SQLite's (sqlite3_wal_checkpoint_v2). */
enum sqlited_checkpoint_mode {
    SQLITED_CHECKPOINT_PASSIVE = 0,  /* copy what no reader needs; never wait */
    SQLITED_CHECKPOINT_FULL = 1,     /* wait for readers, then copy it all */
    SQLITED_CHECKPOINT_RESTART = 2,  /* FULL, then let the WAL start over */
    SQLITED_CHECKPOINT_TRUNCATE = 3, /* RESTART, then truncate the WAL file */
};

/* What a checkpoint did. Filled by sqlited_checkpoint(); later versions may
 * add fields at the end, so allocate it with its sizeof. */
typedef struct sqlited_checkpoint_info {
    int busy;                    /* 1: it could not finish (readers held old
                                    snapshots past the daemon's wait) */
    int64_t log_frames;          /* frames in the WAL (SQLite's "log") */
    int64_t checkpointed_frames; /* of those, copied into the database */
    int64_t wal_bytes_before;    /* size of the WAL file before, */
    int64_t wal_bytes_after;     /* and after */
    double duration_ms;          /* how long it ran on the daemon */
} sqlited_checkpoint_info;

/* Runs a checkpoint of the daemon's WAL in @mode (enum
 * sqlited_checkpoint_mode) and fills *@info (may be NULL) with what it did.
 *
 * The daemon checkpoints by itself (README, WAL checkpoints); this asks for
 * one now. It runs on the writer between groups of writes, so it waits for
 * the writes queued before it. FULL, RESTART and TRUNCATE wait for readers
 * still on older snapshots, but at most a quarter of a second (writes queue
 * meanwhile), and then report busy = 1 having copied what they could. Its
 * deadline is the daemon's --timeout.
 *
 * Returns 0, busy or not; SQLITED_EMISUSE (NULL @db, an unknown @mode)
 * without sending anything; a code from the daemon (SQLITED_TIMEOUT,
 * SQLITE_IOERR_*, ...) with the connection usable; or SQLITED_ECLOSED,
 * SQLITED_EPROTO or a negated errno for a broken connection. *@info is
 * written only on success. */
SQLITED_API int sqlited_checkpoint(sqlited *db, int mode,
                                   sqlited_checkpoint_info *info);

#ifdef __cplusplus
}
#endif

#endif /* SQLITED_H */
