/* A session: one connection to the daemon, the transaction the user opened
 * on it, and how its results are printed. The one-shot SQL argument, scripts
 * (script.h) and the shell run their statements through it. */
#ifndef SQLITED_CLI_SESSION_H
#define SQLITED_CLI_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "output.h"
#include "params.h"
#include "sqlited.h"

/* Where the statement being run comes from, for error messages:
 * "sqlited-cli: FILE:LINE: SQLITE_ERROR: ..." and the statement's first
 * line. Set by script.c before each statement; all zero in the shell. */
struct session_source {
    const char *file; /* "script.sql", "<stdin>"; NULL: no location */
    int line;         /* where the statement starts, from 1 */
    bool show_sql;    /* quote the statement under the message */
};

/* The state of the transaction the user opened with BEGIN. */
enum session_tx {
    SESSION_TX_NONE, /* none open: each statement commits on its own */
    SESSION_TX_OPEN, /* statements run inside it until COMMIT or ROLLBACK */
    /* It ended without COMMIT or ROLLBACK (it expired, SQLite aborted it, or
     * the connection was lost): statements are refused until COMMIT, END or
     * ROLLBACK acknowledges it, like psql's failed transaction, so that what
     * followed BEGIN never runs outside it by mistake. */
    SESSION_TX_FAILED,
};

/* A statement sent ahead inside a transaction, its result not collected
 * yet (session_send()). */
struct session_pending {
    uint32_t id;
    char *sql; /* owned */
    struct session_source src;
    double start; /* when it was sent, for .timer */
};

/* How many statements a script sends ahead inside a transaction. */
enum { SESSION_PIPELINE = 16 };

struct session {
    sqlited *db;
    struct printer pr;
    struct params params; /* .param's, bound to the statements that name
                             them */
    bool timer;           /* .timer on: each statement's run time */
    struct session_source src;
    /* Scripts: stop at the first failed statement (--bail, the default),
     * print each statement before running it (--echo). Read by script.c,
     * also for .read. */
    bool bail, echo;
    /* --atomic: the whole script is one transaction; BEGIN, COMMIT and
     * ROLLBACK in it are refused. It begins at the script's first
     * statement or dot-command (atomic_pending until then), so that a
     * leading PRAGMA foreign_keys=OFF applies to it. */
    bool atomic, atomic_pending;
    /* The shell's Ctrl-C flag (NULL outside the shell): a dot-command that
     * works between calls, such as .import, checks it, since libsqlited
     * drops an interrupt that arrives while no call waits. */
    volatile sig_atomic_t *interrupted;
    /* A .quit or .exit ran: the script (and the shell) stops. */
    bool quit;
    /* The connection is broken (lost, or the daemon spoke nonsense): nothing
     * more can run on it. */
    bool broken;
    /* PRAGMA foreign_keys=OFF was run outside a transaction: the daemon
     * keeps foreign keys on for every client, so every transaction BEGIN
     * opens from then on checks them at its COMMIT instead
     * (SQLITED_TX_FOREIGN_KEYS_AT_COMMIT), as loading the output of
     * sqlite3's .dump needs. PRAGMA foreign_keys=ON outside a transaction
     * ends it. Inside one both are no-ops, as in SQLite (noted). */
    bool fks_at_commit;
    /* Statements sent and not collected, oldest first. */
    struct session_pending pending[SESSION_PIPELINE];
    unsigned npending;
    bool stopping; /* one of them failed with bail: drop the rest */
    enum session_tx tx;
    /* The transaction was begun by a SAVEPOINT: the savepoints open in it,
     * outermost first (lower-cased), so that the RELEASE of the outermost
     * commits it, as in SQLite. None when BEGIN began it. */
    char **savepoints;
    size_t nsavepoints;
    struct session_source tx_src; /* where the transaction was begun */
    char tx_file[256];            /* tx_src.file's copy */
};

/* Runs @sql, one statement (its trailing ';' optional; split a script with
 * script.h), and prints its rows as they come. BEGIN [DEFERRED | IMMEDIATE
 * | EXCLUSIVE] [TRANSACTION], COMMIT, END and ROLLBACK [TRANSACTION] become
 * the daemon's begin, commit and rollback; PRAGMA foreign_keys=OFF makes
 * later transactions check foreign keys at COMMIT (see fks_at_commit); the
 * rest goes to the daemon, inside
 * the open transaction if any. Returns the exit status: 0, 1 (the statement
 * failed), or 2 (the connection is lost: s->broken is set), the failure
 * already reported on standard error. */
int session_run(struct session *s, const char *sql);

/* Runs @sql as session_run() does, but inside an open transaction, where
 * requests run in the order sent, a plain statement is only sent, and
 * collected later: its rows are printed, and its failure reported, by a
 * later session_send() or session_sync(). Up to SESSION_PIPELINE statements
 * are so in flight, which spares a round trip each: loading a script of
 * many INSERTs in a transaction (sqlite3's .dump) goes several times
 * faster. With s->echo each statement is printed before its output.
 *
 * Returns the highest exit status of the statements collected or run by
 * this call (0 when all succeeded). With s->bail, once a collected statement
 * failed, @sql is not run, and the statements sent after the failed one
 * are collected without printing anything: they ran inside the transaction,
 * which is then never committed by this script (it stops). */
int session_send(struct session *s, const char *sql);

/* With --atomic (s->atomic_pending), begins the script's transaction, once:
 * session_run() and session_send() call it before any statement but PRAGMA
 * foreign_keys, the script runner before a dot-command. Returns 0, or the
 * exit status of the failed BEGIN (reported). */
int session_atomic_begin(struct session *s);

/* After calls made on s->db outside the session (a dot-command's): if the
 * user's transaction is no longer open on the connection (the daemon ended
 * it), says so and refuses statements until COMMIT or ROLLBACK, as when a
 * statement finds it over. */
void session_check_tx(struct session *s);

/* Collects every statement session_send() left in flight, as it does.
 * Returns the highest of their exit statuses, 0 when none failed. */
int session_sync(struct session *s);

/* Closes the connection and frees what the session holds (parameters, an
 * .output file), after session_finish() (a transaction still open is rolled
 * back, with a note). Returns @status, or 1 if it was 0 and the transaction
 * was still open or closing the .output file failed. */
int session_close(struct session *s, int status);

/* The state of the user's transaction, for the shell's prompt. */
enum session_tx session_tx_state(const struct session *s);

/* Ends the session's transaction, if one is open or failed, without
 * committing: at the end of a script, or when the shell exits. An open one
 * is rolled back with a note on standard error naming where it was begun
 * (its changes are lost). Returns 0 when no transaction was open, else 1. */
int session_finish(struct session *s);

/* Skips white space and SQL comments (-- to the end of the line, and
 * C-style; an unterminated one runs to the end of @p). */
const char *sql_skip_blank(const char *p);

/* Reports a failure of the statement @sql (may be NULL) being run:
 * "sqlited-cli: FILE:LINE: " and the message of @fmt, then, when s->src
 * says so, the statement's first line (shortened) indented under it. */
void session_report(const struct session *s, const char *sql, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

#endif
