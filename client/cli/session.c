/* Running SQL in a session and printing what it returns; the user's
 * transaction statements mapped onto the daemon's transaction methods. */
#include "session.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h> /* result codes */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* What a statement is to the session: most go to the daemon as they are;
 * those below the daemon refuses as SQL, and the session carries out. */
enum stmt_kind {
    STMT_SQL,
    STMT_BEGIN,     /* BEGIN [DEFERRED | IMMEDIATE | EXCLUSIVE] [TRANSACTION] */
    STMT_COMMIT,    /* COMMIT | END [TRANSACTION] */
    STMT_ROLLBACK,  /* ROLLBACK [TRANSACTION], not ROLLBACK TO */
    STMT_SAVEPOINT, /* SAVEPOINT name */
    STMT_RELEASE,   /* RELEASE [SAVEPOINT] name */
    STMT_ROLLBACK_TO,     /* ROLLBACK [TRANSACTION] TO [SAVEPOINT] name */
    STMT_FKS_OFF,         /* PRAGMA [main.]foreign_keys = OFF */
    STMT_FKS_ON,          /* PRAGMA [main.]foreign_keys = ON */
    STMT_WRITABLE_SCHEMA, /* PRAGMA [main.]writable_schema = ...: sent, and
                             explained when the daemon refuses it */
};

const char *sql_skip_blank(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else {
            return p;
        }
    }
}

/* Reads the next token of @*p into @tok, lower-cased: a word, a quoted
 * string or identifier without its quotes, or one other character; "" at
 * the end. A token too long for @tok is cut short, which matches no
 * keyword. */
static void next_token(const char **p, char *tok, size_t size)
{
    const char *s = sql_skip_blank(*p);
    size_t n = 0;

    if (isalnum((unsigned char)*s) || *s == '_') {
        for (; isalnum((unsigned char)*s) || *s == '_'; s++)
            if (n + 1 < size)
                tok[n++] = (char)tolower((unsigned char)*s);
    } else if (*s == '\'' || *s == '"' || *s == '`') {
        char q = *s++;
        for (; *s && *s != q; s++)
            if (n + 1 < size)
                tok[n++] = (char)tolower((unsigned char)*s);
        if (*s)
            s++;
    } else if (*s) {
        tok[n++] = *s++;
    }
    tok[n] = '\0';
    *p = s;
}

/* Whether only a ';' and blanks are left. */
static bool at_end(const char *p)
{
    p = sql_skip_blank(p);
    if (*p == ';')
        p = sql_skip_blank(p + 1);
    return *p == '\0';
}

/* After BEGIN, COMMIT, END or ROLLBACK: [TRANSACTION [name]] and the end.
 * SQLite's grammar allows a name after TRANSACTION and ignores it. */
static bool trans_opt_end(const char *p)
{
    char tok[32];
    const char *q = p;

    if (at_end(p))
        return true;
    next_token(&q, tok, sizeof(tok));
    if (strcmp(tok, "transaction") != 0)
        return false;
    if (at_end(q))
        return true;
    next_token(&q, tok, sizeof(tok));
    return (isalpha((unsigned char)tok[0]) || tok[0] == '_') &&
           strcmp(tok, "to") != 0 && at_end(q);
}

/* A savepoint's name and the end: @p after SAVEPOINT, RELEASE [SAVEPOINT]
 * or ROLLBACK [TRANSACTION] TO [SAVEPOINT]. The name is the last token,
 * which savepoint_name() reads. */
static bool savepoint_end(const char *p)
{
    char tok[8];

    next_token(&p, tok, sizeof(tok));
    return tok[0] != '\0' && strcmp(tok, ";") != 0 && at_end(p);
}

/* The name of the savepoint @sql (a STMT_SAVEPOINT, STMT_RELEASE or
 * STMT_ROLLBACK_TO) names, lower-cased, as SQLite compares them. */
static void savepoint_name(const char *sql, char *name, size_t size)
{
    const char *p = sql;

    name[0] = '\0';
    while (!at_end(p))
        next_token(&p, name, size);
}

/* Classifies @sql; *@mode receives BEGIN's mode. Anything that does not
 * match exactly is SQL, which the daemon refuses with its own message when
 * it is transaction control after all. */
static enum stmt_kind classify(const char *sql, int *mode)
{
    char tok[32];
    const char *p = sql;

    next_token(&p, tok, sizeof(tok));
    if (strcmp(tok, "begin") == 0) {
        const char *q = p;
        *mode = SQLITED_TX_DEFERRED;
        next_token(&q, tok, sizeof(tok));
        if (strcmp(tok, "deferred") == 0) {
            p = q;
        } else if (strcmp(tok, "immediate") == 0 ||
                   strcmp(tok, "exclusive") == 0) {
            /* The daemon's writer is the only one: EXCLUSIVE differs from
             * IMMEDIATE only towards processes that open the file. */
            *mode = SQLITED_TX_IMMEDIATE;
            p = q;
        }
        return trans_opt_end(p) ? STMT_BEGIN : STMT_SQL;
    }
    if (strcmp(tok, "commit") == 0 || strcmp(tok, "end") == 0)
        return trans_opt_end(p) ? STMT_COMMIT : STMT_SQL;
    if (strcmp(tok, "rollback") == 0) {
        const char *q = p;
        next_token(&q, tok, sizeof(tok));
        if (strcmp(tok, "transaction") == 0)
            next_token(&q, tok, sizeof(tok));
        if (strcmp(tok, "to") != 0)
            return trans_opt_end(p) ? STMT_ROLLBACK : STMT_SQL;
        p = q;
        next_token(&q, tok, sizeof(tok));
        if (strcmp(tok, "savepoint") == 0 && !at_end(q))
            p = q;
        return savepoint_end(p) ? STMT_ROLLBACK_TO : STMT_SQL;
    }
    if (strcmp(tok, "savepoint") == 0)
        return savepoint_end(p) ? STMT_SAVEPOINT : STMT_SQL;
    if (strcmp(tok, "release") == 0) {
        const char *q = p;
        next_token(&q, tok, sizeof(tok));
        if (strcmp(tok, "savepoint") == 0 && !at_end(q))
            p = q;
        return savepoint_end(p) ? STMT_RELEASE : STMT_SQL;
    }
    if (strcmp(tok, "pragma") == 0) {
        next_token(&p, tok, sizeof(tok));
        if (strcmp(tok, "main") == 0) {
            next_token(&p, tok, sizeof(tok));
            if (strcmp(tok, ".") != 0)
                return STMT_SQL;
            next_token(&p, tok, sizeof(tok));
        }
        if (strcmp(tok, "writable_schema") == 0)
            return STMT_WRITABLE_SCHEMA;
        if (strcmp(tok, "foreign_keys") != 0)
            return STMT_SQL;
        next_token(&p, tok, sizeof(tok));
        bool paren = strcmp(tok, "(") == 0;
        if (!paren && strcmp(tok, "=") != 0)
            return STMT_SQL;
        char value[32];
        next_token(&p, value, sizeof(value));
        if (paren) {
            next_token(&p, tok, sizeof(tok));
            if (strcmp(tok, ")") != 0)
                return STMT_SQL;
        }
        if (!at_end(p))
            return STMT_SQL;
        if (strcmp(value, "off") == 0 || strcmp(value, "no") == 0 ||
            strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
            return STMT_FKS_OFF;
        if (strcmp(value, "on") == 0 || strcmp(value, "yes") == 0 ||
            strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
            return STMT_FKS_ON;
    }
    return STMT_SQL;
}

/* Prints "sqlited-cli: [LOCATION: ]@what", then, when the source asks for
 * it, the first line of @sql (shortened) indented under it. */
static void vreport(const struct session_source *src, const char *sql,
                    const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: ", PROG);
    if (src->file && src->line > 0)
        fprintf(stderr, "%s:%d: ", src->file, src->line);
    else if (src->file)
        fprintf(stderr, "%s: ", src->file);
    else if (src->show_sql && src->line > 0)
        fprintf(stderr, "line %d: ", src->line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    if (!src->show_sql || !sql)
        return;
    enum { MAX_SHOWN = 76 };
    const char *p = sql_skip_blank(sql);
    size_t len = strcspn(p, "\r\n");
    bool cut = p[len] != '\0' && *sql_skip_blank(p + len) != '\0';
    if (len > MAX_SHOWN) {
        len = MAX_SHOWN;
        cut = true;
    }
    fprintf(stderr, "  %.*s%s\n", (int)len, p, cut ? " ..." : "");
}

void session_report(const struct session *s, const char *sql, const char *fmt,
                    ...)
{
    va_list ap;

    va_start(ap, fmt);
    vreport(&s->src, sql, fmt, ap);
    va_end(ap);
}

/* Where the transaction was begun, for messages: " (begun at FILE:LINE)",
 * " (begun at line LINE)", or "". */
static void tx_where(const struct session *s, char *buf, size_t size)
{
    if (s->tx_src.file && s->tx_src.line > 0)
        snprintf(buf, size, " (begun at %s:%d)", s->tx_src.file,
                 s->tx_src.line);
    else if (s->tx_src.show_sql && s->tx_src.line > 0)
        snprintf(buf, size, " (begun at line %d)", s->tx_src.line);
    else
        buf[0] = '\0';
}

/* Reports the daemon's error for the call that failed with @rc on @sql,
 * and returns its exit status. A broken connection marks the session. */
static int report_failure(struct session *s, const char *sql, int rc)
{
    int status = failure_status(rc);

    session_report(s, sql, "%s: %s", sqlited_errname(s->db),
                   sqlited_errmsg(s->db));
    if (status == EXIT_USAGE)
        s->broken = true;
    return status;
}

/* After a call inside the user's transaction: if the transaction ended on
 * the daemon (expired, aborted by SQLite, or the connection broke), say so
 * and refuse statements until the user ends it (SESSION_TX_FAILED). */
static void check_tx(struct session *s, int rc)
{
    char where[300];

    if (s->tx != SESSION_TX_OPEN)
        return;
    if (sqlited_tx_id(s->db) != 0 && rc != SQLITED_TX_EXPIRED && !s->broken)
        return;
    s->tx = SESSION_TX_FAILED;
    tx_where(s, where, sizeof(where));
    if (s->broken)
        session_report(s, NULL,
                       "the connection is lost: the daemon rolled back the "
                       "transaction%s, nothing of it was applied",
                       where);
    else
        session_report(s, NULL,
                       "the transaction%s is over, rolled back by the daemon: "
                       "nothing of it was applied; statements are refused "
                       "until COMMIT or ROLLBACK",
                       where);
    if (!s->broken && strstr(sqlited_errmsg(s->db), "--tx-max-duration"))
        session_report(s, NULL,
                       "a longer transaction needs the daemon's "
                       "--tx-max-duration raised; a dump too large for it "
                       "loads with sqlite3 into a new file while the daemon "
                       "is stopped");
}

/* Refuses @sql while the transaction is SESSION_TX_FAILED. */
static int refuse(struct session *s, const char *sql)
{
    char where[300];

    tx_where(s, where, sizeof(where));
    session_report(s, sql,
                   "not run: the transaction%s is over (see above); "
                   "statements are refused until COMMIT or ROLLBACK",
                   where);
    return EXIT_DAEMON_ERROR;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int print_result(struct session *s, const char *sql, int rc,
                        sqlited_rows *rows);

/* Prints the result of the statement @sql, which its call (made at @start)
 * returned with @rc and @rows (closed here), or reports its failure; then
 * its run time with .timer on. Returns its exit status. */
static int finish_sql(struct session *s, const char *sql, int rc,
                      sqlited_rows *rows, double start)
{
    int status = print_result(s, sql, rc, rows);

    /* sqlite3 prints it to standard output, after the rows. */
    if (s->timer)
        printf("Run Time: real %.3f\n", now() - start);
    int done = output_command_done(&s->pr);
    return done > status ? done : status;
}

static int print_result(struct session *s, const char *sql, int rc,
                        sqlited_rows *rows)
{
    int status = 0;

    if (rc == SQLITED_TX_EXPIRED && s->tx == SESSION_TX_FAILED) {
        /* Sent ahead before the transaction was found over: reported as
         * the statements refused since are. */
        sqlited_rows_close(rows);
        return refuse(s, sql);
    }
    if (rc) {
        status = report_failure(s, sql, rc);
        if (s->fks_at_commit && s->tx == SESSION_TX_NONE &&
            sqlited_errcode(s->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
            session_report(s, NULL,
                           "sqlited keeps foreign keys on: after PRAGMA "
                           "foreign_keys=OFF only a transaction checks them "
                           "at its COMMIT; a statement outside one is "
                           "checked at once. Put the statements between "
                           "BEGIN and COMMIT, or run the script with "
                           "--atomic");
    } else {
        rc = print_rows(&s->pr, rows);
        if (rc != SQLITED_DONE && out_failed(s->pr.out)) {
            status = output_error(&s->pr);
        } else if (rc == SQLITED_INTERRUPTED && sqlited_errcode(s->db) != rc) {
            /* Ctrl-C while the rows printed (struct printer). */
            session_report(s, sql,
                           "SQLITED_INTERRUPTED: interrupted (Ctrl-C); the "
                           "rest of the result is not printed");
            status = EXIT_DAEMON_ERROR;
        } else if (rc != SQLITED_DONE) {
            if (sqlited_errcode(s->db) == rc)
                session_report(s, sql, "%s: reading the result: %s",
                               sqlited_errname(s->db), sqlited_errmsg(s->db));
            else
                session_report(s, sql, "%s: reading the result: %s",
                               sqlited_codename(rc), sqlited_strerror(rc));
            status = failure_status(rc);
            if (status == EXIT_USAGE)
                s->broken = true;
        }
    }
    sqlited_rows_close(rows);
    check_tx(s, rc);
    return status;
}

/* Whether the run stops after a statement that ended with @status: with
 * --bail, and whatever --no-bail says once nobody reads the output any
 * more (`| head`): what follows would print to nobody, and a COMMIT after
 * a result that was never read must not run. */
static bool stops(const struct session *s, int status)
{
    return status && (s->bail || output_reader_gone());
}

static void echo(struct session *s, const char *sql)
{
    if (s->echo) {
        fprintf(s->pr.out, "%s\n", sql);
        fflush(s->pr.out);
    }
}

/* Runs @sql on the daemon and prints its rows. A statement runs as a query,
 * so that a large result streams in chunks and prints in constant memory
 * (but in table mode); one the daemon refuses as a query with
 * SQLITED_BAD_REQUEST before running it (a statement only exec takes) runs
 * as exec, whose result comes whole. */
static int run_sql(struct session *s, const char *sql)
{
    sqlited_rows *rows = NULL;
    sqlited_params *params = NULL;
    double start = now();
    int rc = params_bind(&s->params, sql, &params);

    if (rc) {
        session_report(s, sql, "binding parameters: %s", sqlited_strerror(rc));
        return EXIT_DAEMON_ERROR;
    }
    rc = sqlited_query(s->db, sql, params, &rows);
    if (rc == SQLITED_BAD_REQUEST)
        rc = sqlited_exec(s->db, sql, params, &rows);
    sqlited_params_close(params);
    return finish_sql(s, sql, rc, rows, start);
}

/* Collects the oldest statement in flight and prints its result; drops it
 * instead when a failure before it stops the script (s->stopping), or the
 * connection is lost. Returns its exit status. */
static int collect(struct session *s)
{
    struct session_pending p = s->pending[0];
    struct session_source src = s->src;
    sqlited_rows *rows = NULL;
    int status;

    memmove(s->pending, s->pending + 1, --s->npending * sizeof(s->pending[0]));
    bool quiet = s->stopping || s->broken;
    int rc = sqlited_receive(s->db, p.id, NULL, quiet ? NULL : &rows);
    if (quiet) {
        status = rc ? failure_status(rc) : 0;
        if (status == EXIT_USAGE)
            s->broken = true;
        check_tx(s, rc);
    } else {
        s->src = p.src;
        echo(s, p.sql);
        status = finish_sql(s, p.sql, rc, rows, p.start);
        s->src = src;
    }
    free(p.sql);
    if (stops(s, status))
        s->stopping = true;
    return status;
}

int session_sync(struct session *s)
{
    int worst = 0;

    while (s->npending > 0) {
        int status = collect(s);
        if (status > worst)
            worst = status;
    }
    s->stopping = false;
    return worst;
}

/* ------------------------------------------------------------ savepoints
 *
 * A SAVEPOINT outside a transaction begins one, as in SQLite (the daemon
 * takes savepoints only inside its transactions): the session begins it,
 * then sends the SAVEPOINT, and keeps the names of the savepoints opened in
 * it, so that the RELEASE that empties the stack commits it, as SQLite's
 * does. In a transaction begun by BEGIN they pass through.
 */

static void savepoints_clear(struct session *s)
{
    for (size_t i = 0; i < s->nsavepoints; i++)
        free(s->savepoints[i]);
    free(s->savepoints);
    s->savepoints = NULL;
    s->nsavepoints = 0;
}

static bool savepoints_push(struct session *s, const char *name)
{
    char **grown =
        realloc(s->savepoints, (s->nsavepoints + 1) * sizeof(*s->savepoints));
    if (!grown)
        return false;
    s->savepoints = grown;
    if (!(s->savepoints[s->nsavepoints] = strdup(name)))
        return false;
    s->nsavepoints++;
    return true;
}

/* Drops the savepoints from the innermost one named @name on (@keep: the
 * ones above it only, as ROLLBACK TO does). */
static void savepoints_pop(struct session *s, const char *name, bool keep)
{
    size_t i = s->nsavepoints;

    while (i > 0 && strcmp(s->savepoints[i - 1], name) != 0)
        i--;
    if (i == 0)
        return; /* no such one: the daemon said so */
    for (size_t j = keep ? i : i - 1; j < s->nsavepoints; j++)
        free(s->savepoints[j]);
    s->nsavepoints = keep ? i : i - 1;
}

static int run_begin(struct session *s, const char *sql, int mode)
{
    char where[300];

    if (s->tx != SESSION_TX_NONE) {
        tx_where(s, where, sizeof(where));
        session_report(s, sql,
                       "SQLITE_ERROR: cannot start a transaction within a "
                       "transaction%s",
                       where);
        return EXIT_DAEMON_ERROR;
    }
    if (s->fks_at_commit)
        mode |= SQLITED_TX_FOREIGN_KEYS_AT_COMMIT;
    int rc = sqlited_begin(s->db, mode);
    if (rc)
        return report_failure(s, sql, rc);
    s->tx = SESSION_TX_OPEN;
    s->tx_src = s->src;
    if (s->src.file) {
        snprintf(s->tx_file, sizeof(s->tx_file), "%s", s->src.file);
        s->tx_src.file = s->tx_file;
    }
    return 0;
}

/* COMMIT (@commit) or ROLLBACK. */
static int run_end(struct session *s, const char *sql, bool commit)
{
    char where[300];
    int rc;

    tx_where(s, where, sizeof(where));
    savepoints_clear(s); /* whatever happens, the transaction ends */
    switch (s->tx) {
    case SESSION_TX_NONE:
        session_report(s, sql,
                       "SQLITE_ERROR: cannot %s - no transaction is active",
                       commit ? "commit" : "rollback");
        return EXIT_DAEMON_ERROR;
    case SESSION_TX_FAILED:
        /* Reported when it ended; ROLLBACK agrees with what happened. */
        s->tx = SESSION_TX_NONE;
        if (!commit)
            return 0;
        session_report(s, sql,
                       "cannot commit: the transaction%s was rolled back "
                       "already (see above), nothing of it was applied",
                       where);
        return EXIT_DAEMON_ERROR;
    case SESSION_TX_OPEN:
        break;
    }
    rc = commit ? sqlited_commit(s->db) : sqlited_rollback(s->db);
    if (rc == -ENOMEM && sqlited_tx_id(s->db) != 0)
        return report_failure(s, sql, rc); /* nothing sent; still open */
    s->tx = SESSION_TX_NONE;
    if (rc == 0 || (!commit && rc == SQLITED_TX_EXPIRED))
        return 0;
    int status = report_failure(s, sql, rc);
    if (commit && s->broken)
        session_report(s, NULL,
                       "whether the transaction%s was committed is unknown",
                       where);
    else if (commit && !strstr(sqlited_errmsg(s->db), "rolled back"))
        session_report(s, NULL,
                       "the transaction%s was rolled back: nothing of it was "
                       "applied",
                       where);
    if (commit && s->fks_at_commit &&
        sqlited_errcode(s->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        session_report(s, NULL,
                       "sqlited keeps foreign keys on: after PRAGMA "
                       "foreign_keys=OFF a transaction checks them at its "
                       "COMMIT instead (the sqlite3 shell would not check "
                       "them at all); sqlite3 DB 'PRAGMA foreign_key_check' "
                       "lists the rows of the source database that refer "
                       "to none");
    else if (commit && s->fks_at_commit && rc == SQLITED_TIMEOUT)
        session_report(s, NULL,
                       "the daemon's --timeout bounds the check of every "
                       "foreign key at COMMIT: raise it for a database this "
                       "large, or load the dump with sqlite3 into a new file "
                       "while the daemon is stopped");
    return status;
}

/* SAVEPOINT, RELEASE and ROLLBACK TO (see "savepoints" above). */
static int run_savepoint_stmt(struct session *s, const char *sql,
                              enum stmt_kind kind)
{
    char name[256];
    bool begun = false;
    int status;

    savepoint_name(sql, name, sizeof(name));
    if (kind == STMT_SAVEPOINT && s->tx == SESSION_TX_NONE) {
        if ((status = run_begin(s, sql, SQLITED_TX_DEFERRED)) != 0)
            return status;
        begun = true;
    }
    status = run_sql(s, sql);
    if (status && begun && s->tx == SESSION_TX_OPEN)
        run_end(s, sql, false); /* nothing ran in it */
    if (status || (!begun && s->nsavepoints == 0))
        return status;
    switch (kind) {
    case STMT_SAVEPOINT:
        if (!savepoints_push(s, name)) {
            session_report(s, sql, "%s", strerror(ENOMEM));
            return EXIT_DAEMON_ERROR;
        }
        return 0;
    case STMT_RELEASE:
        savepoints_pop(s, name, false);
        return s->nsavepoints == 0 ? run_end(s, sql, true) : 0;
    default: /* STMT_ROLLBACK_TO */
        savepoints_pop(s, name, true);
        return 0;
    }
}

void session_check_tx(struct session *s)
{
    check_tx(s, 0);
}

/* Runs @sql, classified as @kind with BEGIN's @mode, now. */
static int run_now(struct session *s, const char *sql, enum stmt_kind kind,
                   int mode)
{
    /* Never outside the user's transaction: if it ended unseen (a
     * dot-command's call found it over), it is reported now and @sql is
     * refused below, not run on its own. */
    check_tx(s, 0);
    if (s->atomic &&
        (kind == STMT_BEGIN || kind == STMT_COMMIT || kind == STMT_ROLLBACK)) {
        session_report(s, sql,
                       "transaction control in an --atomic script: the "
                       "whole script is one transaction already (run a "
                       "script with its own BEGIN ... COMMIT, such as "
                       "sqlite3's .dump, without --atomic)");
        return EXIT_DAEMON_ERROR;
    }
    if (kind != STMT_FKS_OFF && kind != STMT_FKS_ON) {
        int status = session_atomic_begin(s);
        if (status)
            return status;
    }
    if (s->tx == SESSION_TX_FAILED && kind != STMT_COMMIT &&
        kind != STMT_ROLLBACK)
        return refuse(s, sql);
    switch (kind) {
    case STMT_BEGIN:
        return run_begin(s, sql, mode);
    case STMT_COMMIT:
        return run_end(s, sql, true);
    case STMT_ROLLBACK:
        return run_end(s, sql, false);
    case STMT_FKS_OFF:
    case STMT_FKS_ON:
        /* The daemon keeps foreign keys on for every client (it refuses
         * foreign_keys=OFF); what a script that turns them off needs (the
         * output of sqlite3's .dump, whose tables and rows come in the
         * order they were created, not of their references) is that its
         * transactions check them at COMMIT instead. As in SQLite, the
         * pragma does nothing inside a transaction; unlike the sqlite3
         * shell, the CLI says so. */
        if (s->tx == SESSION_TX_NONE)
            s->fks_at_commit = kind == STMT_FKS_OFF;
        else
            session_report(s, sql,
                           "note: PRAGMA foreign_keys does nothing inside a "
                           "transaction (as in SQLite): this one checks "
                           "foreign keys %s; the pragma applies to the "
                           "transactions begun after it",
                           s->fks_at_commit ? "at its COMMIT"
                                            : "at each statement");
        return 0;
    case STMT_SAVEPOINT:
    case STMT_RELEASE:
    case STMT_ROLLBACK_TO:
        return run_savepoint_stmt(s, sql, kind);
    case STMT_WRITABLE_SCHEMA: {
        int status = run_sql(s, sql);
        if (status == EXIT_DAEMON_ERROR)
            session_report(s, NULL,
                           "sqlite3's .dump writes virtual tables (FTS, "
                           "R*Tree ...) straight into the schema and their "
                           "shadow tables, which sqlited never lets a client "
                           "do: load such a dump with sqlite3 into a new "
                           "file and start sqlited on it, or recreate those "
                           "tables with CREATE VIRTUAL TABLE and fill them "
                           "with INSERT");
        return status;
    }
    case STMT_SQL:
        break;
    }
    return run_sql(s, sql);
}

int session_atomic_begin(struct session *s)
{
    if (!s->atomic_pending)
        return 0;
    s->atomic_pending = false;
    return run_begin(s, "BEGIN", SQLITED_TX_DEFERRED);
}

int session_run(struct session *s, const char *sql)
{
    int mode = SQLITED_TX_DEFERRED;
    int status = session_sync(s);

    if (stops(s, status))
        return status;
    return run_now(s, sql, classify(sql, &mode), mode);
}

int session_send(struct session *s, const char *sql)
{
    int mode = SQLITED_TX_DEFERRED, status = 0;
    enum stmt_kind kind = classify(sql, &mode);

    check_tx(s, 0);
    if (kind != STMT_SQL || s->tx != SESSION_TX_OPEN) {
        status = session_sync(s);
        if (stops(s, status))
            return status;
        echo(s, sql);
        int ran = run_now(s, sql, kind, mode);
        return ran > status ? ran : status;
    }
    if (s->npending == SESSION_PIPELINE) {
        status = collect(s);
        if (stops(s, status))
            return status;
    }
    if (s->tx != SESSION_TX_OPEN || s->broken) {
        /* What was collected just now ended the transaction. */
        echo(s, sql);
        int ran = run_now(s, sql, kind, mode);
        return ran > status ? ran : status;
    }
    struct session_pending *p = &s->pending[s->npending];
    p->sql = strdup(sql);
    if (!p->sql) {
        session_report(s, sql, "%s", strerror(ENOMEM));
        return EXIT_DAEMON_ERROR;
    }
    sqlited_params *params = NULL;
    int rc = params_bind(&s->params, sql, &params);
    if (rc) {
        free(p->sql);
        session_report(s, sql, "binding parameters: %s", sqlited_strerror(rc));
        return EXIT_DAEMON_ERROR;
    }
    p->start = now();
    rc = sqlited_send_exec(s->db, sql, params, &p->id);
    sqlited_params_close(params);
    if (rc) {
        free(p->sql);
        echo(s, sql);
        int now_status = finish_sql(s, sql, rc, NULL, p->start);
        return now_status > status ? now_status : status;
    }
    p->src = s->src;
    s->npending++;
    return status;
}

int session_close(struct session *s, int status)
{
    int end = session_finish(s);

    if (end > status)
        status = end;
    sqlited_close(s->db);
    s->db = NULL;
    params_clear(&s->params);
    return printer_close(&s->pr, status);
}

enum session_tx session_tx_state(const struct session *s)
{
    return s->tx;
}

int session_finish(struct session *s)
{
    char where[300];

    savepoints_clear(s);
    switch (s->tx) {
    case SESSION_TX_NONE:
        return 0;
    case SESSION_TX_FAILED:
        s->tx = SESSION_TX_NONE;
        return EXIT_DAEMON_ERROR;
    case SESSION_TX_OPEN:
        break;
    }
    tx_where(s, where, sizeof(where));
    if (!s->broken)
        sqlited_rollback(s->db);
    s->tx = SESSION_TX_NONE;
    fprintf(stderr,
            "%s: the transaction%s was never committed: rolled back, nothing "
            "of it was applied\n",
            PROG, where);
    return EXIT_DAEMON_ERROR;
}
