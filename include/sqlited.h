/* libsqlited: the C client of the sqlited database server.
 *
 * sqlited is a local daemon that owns one SQLite database; programs reach it
 * through a Unix socket instead of opening the file themselves. This library
 * hides the wire protocol (MessagePack-RPC, see protocol/PROTOCOL.md): open a
 * connection, run SQL with bound parameters, walk the rows of the result.
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
 * not internally locked: use it from one thread at a time. It may move between
 * threads. Use one connection per thread for parallel work; the daemon runs
 * reads from different connections in parallel. sqlited_strerror() and
 * parameter lists not shared between threads are safe everywhere.
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
 * (SQLITED_SHUTTING_DOWN). */
SQLITED_API int sqlited_open(const char *path, int timeout_ms, sqlited **out);

/* Closes the connection and frees everything obtained from it that is still
 * open, except sqlited_rows objects, which stay readable and must still be
 * closed with sqlited_rows_close(). Accepts NULL. */
SQLITED_API void sqlited_close(sqlited *db);

/* Liveness check: one round trip answered by the daemon's event loop.
 * Returns 0, or a negative code (the connection is unusable after
 * SQLITED_ECLOSED, SQLITED_EPROTO and negated errno values). */
SQLITED_API int sqlited_ping(sqlited *db);

/* The daemon's answer to the handshake, valid until sqlited_close(): its
 * version ("0.1.0") and the version of SQLite it runs ("3.40.1"). */
SQLITED_API const char *sqlited_server_version(sqlited *db);
SQLITED_API const char *sqlited_sqlite_version(sqlited *db);

/* Limits the daemon enforces, from the handshake: the largest message it
 * accepts in bytes, and the largest number of bound parameters. */
SQLITED_API size_t sqlited_max_message_size(sqlited *db);
SQLITED_API unsigned sqlited_max_params(sqlited *db);

/* ------------------------------------------------------------------- queries
 */

/* Runs @sql on the daemon's writer connection.
 *
 * Without parameters (@params NULL or empty) @sql may hold several statements,
 * run in order (a schema script); the first that fails stops the script, and
 * the statements before it stay applied unless the script wraps itself in
 * BEGIN ... COMMIT. With parameters, @sql must be exactly one statement.
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
 * On success stores the result in *@rows (required) and returns 0. Errors as
 * for sqlited_exec(). */
SQLITED_API int sqlited_query(sqlited *db, const char *sql,
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
 * sqlited_exec() or writing sqlited_query() on @db (0 before any). */
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
 * values with sqlited_column_*(). It does not refer to the connection and may
 * outlive it.
 */

/* Moves to the next row. Returns SQLITED_ROW (100, SQLITE_ROW) when there is
 * one, SQLITED_DONE (101, SQLITE_DONE) after the last, SQLITED_EMISUSE for
 * NULL, SQLITED_EPROTO when the daemon's result is malformed (every later
 * call returns it too), or -ENOMEM (there is no current row; the call may be
 * retried). */
SQLITED_API int sqlited_rows_next(sqlited_rows *rows);

/* Frees the result. Accepts NULL. */
SQLITED_API void sqlited_rows_close(sqlited_rows *rows);

/* Number of result columns (0 for a statement that returns no rows), and the
 * name of column @i (0-based), owned by @rows; NULL when @i is out of range. */
SQLITED_API int sqlited_rows_column_count(const sqlited_rows *rows);
SQLITED_API const char *sqlited_rows_column_name(const sqlited_rows *rows,
                                                 int i);

/* Number of rows in the result. */
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

#ifdef __cplusplus
}
#endif

#endif /* SQLITED_H */
