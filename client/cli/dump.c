/* .dump: the SQL text that rebuilds the database, in the sqlite3 shell's
 * format, so that `sqlite3 new.db < dump.sql` and sqlited-cli's scripts
 * both load it:
 *
 *   PRAGMA foreign_keys=OFF;
 *   BEGIN TRANSACTION;
 *   CREATE TABLE t(...);            every table, in the order created,
 *   INSERT INTO t VALUES(...);      then its rows;
 *   DELETE FROM sqlite_sequence;    AUTOINCREMENT's counters, last;
 *   INSERT INTO sqlite_sequence VALUES('t',42);
 *   CREATE INDEX ...;               indexes, triggers and views, after the
 *   COMMIT;                         data, in the order created.
 *
 * Everything is read from one snapshot (a read-only transaction), so the
 * dump is one consistent state of the database however busy its writers.
 * Rows stream: memory stays constant whatever the size of a table.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dump.h"
#include "output.h"
#include "quote.h"
#include "text.h"

/* Appends column @i of the current row as a SQL literal that reads back as
 * the same value and type. */
static void add_literal(struct sbuf *b, const sqlited_rows *rows, int i)
{
    char num[64];
    double d;

    switch (sqlited_column_type(rows, i)) {
    case SQLITED_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, sqlited_column_int64(rows, i));
        sbuf_adds(b, num);
        break;
    case SQLITED_FLOAT:
        d = sqlited_column_double(rows, i);
        if (d != d) /* SQLite stores no NaN: it reads back as NULL */
            sbuf_adds(b, "NULL");
        else if (d - d != 0) /* infinite: a literal too large for a REAL */
            sbuf_adds(b, d > 0 ? "1e999" : "-1e999");
        else {
            format_real(d, num, sizeof(num));
            sbuf_adds(b, num);
        }
        break;
    case SQLITED_TEXT:
        quote_text(b, sqlited_column_blob(rows, i),
                   sqlited_column_bytes(rows, i));
        break;
    case SQLITED_BLOB:
        sbuf_add(b, "X'", 2);
        add_hex_lower(b, sqlited_column_blob(rows, i),
                      sqlited_column_bytes(rows, i));
        sbuf_add(b, "'", 1);
        break;
    default:
        sbuf_adds(b, "NULL");
        break;
    }
}

/* -------------------------------------------------------------- snapshot */

int dump_snapshot_begin(sqlited *db, bool *began)
{
    *began = false;
    if (sqlited_tx_id(db) != 0)
        return 0; /* the user's transaction: read what it sees */
    int rc = sqlited_begin(db, SQLITED_TX_READ_ONLY);
    *began = rc == 0;
    return rc;
}

void dump_snapshot_end(sqlited *db, bool began)
{
    /* Unless the daemon ended it already (for idling, say). */
    if (began && sqlited_tx_id(db) != 0)
        sqlited_rollback(db);
}

/* ------------------------------------------------------------------ dump */

/* One object of the schema, as sqlite_schema lists it. */
struct object {
    char *name, *type, *sql;
};

struct dump {
    struct session *s;
    FILE *out;
    struct sbuf line;
    bool writable_schema; /* PRAGMA writable_schema=ON was written */
    uint64_t rows;        /* INSERTs of rows written */
    bool interrupted;     /* Ctrl-C in the shell stopped it */
};

/* Whether Ctrl-C stopped the dump: the daemon answered a call with
 * SQLITED_INTERRUPTED, or the shell's flag is up (libsqlited drops an
 * interrupt that comes while no call waits, as it does between rows). */
static bool interrupted(struct dump *d, int rc)
{
    if (rc == SQLITED_INTERRUPTED || (d->s->interrupted && *d->s->interrupted))
        d->interrupted = true;
    return d->interrupted;
}

static void free_objects(struct object *objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(objs[i].name);
        free(objs[i].type);
        free(objs[i].sql);
    }
    free(objs);
}

static char *dup_column(const sqlited_rows *rows, int i)
{
    const char *t = sqlited_column_text(rows, i);
    return strdup(t ? t : "");
}

/* Runs the query @sql with @arg (NULL: none) bound to ?1. Returns 0 with
 * the result in *@rows, or the exit status of the failure, reported. */
static int query_arg(struct dump *d, const char *sql, const char *arg,
                     sqlited_rows **rows)
{
    sqlited_params *p = NULL;
    int rc = 0;

    if (arg) {
        rc = sqlited_params_open(&p);
        if (rc == 0)
            rc = sqlited_params_add_text(p, NULL, arg, -1);
        if (rc) {
            sqlited_params_close(p);
            session_report(d->s, NULL, ".dump: %s", sqlited_strerror(rc));
            return EXIT_DAEMON_ERROR;
        }
    }
    rc = sqlited_query(d->s->db, sql, p, rows);
    sqlited_params_close(p);
    if (rc && interrupted(d, rc))
        return EXIT_DAEMON_ERROR; /* dump_run() says so */
    return rc ? report_call_error(d->s->db, rc) : 0;
}

/* Runs @sql with the pattern @like (NULL: none) bound to ?1 and keeps its
 * rows (name, type, sql) in *@out: the schema, small enough to hold, so
 * that the tables' rows can stream one table after the other. */
static int list_objects(struct dump *d, const char *sql, const char *like,
                        struct object **out, size_t *count)
{
    sqlited_rows *rows = NULL;
    struct object *objs = NULL;
    size_t n = 0, cap = 0;
    int rc = query_arg(d, sql, like, &rows);

    if (rc)
        return rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        if (n == cap) {
            size_t c = cap ? cap * 2 : 16;
            struct object *o = realloc(objs, c * sizeof(*o));
            if (!o) {
                rc = -ENOMEM;
                break;
            }
            objs = o;
            cap = c;
        }
        struct object *o = &objs[n++];
        o->name = dup_column(rows, 0);
        o->type = dup_column(rows, 1);
        o->sql = dup_column(rows, 2);
        if (!o->name || !o->type || !o->sql) {
            rc = -ENOMEM;
            break;
        }
    }
    if (rc != SQLITED_DONE) {
        int status = rc == -ENOMEM || interrupted(d, rc)
                         ? EXIT_DAEMON_ERROR
                         : report_rows_error(d->s->db, rc);
        if (rc == -ENOMEM)
            session_report(d->s, NULL, ".dump: %s", strerror(ENOMEM));
        sqlited_rows_close(rows);
        free_objects(objs, n);
        return status;
    }
    sqlited_rows_close(rows);
    *out = objs;
    *count = n;
    return 0;
}

/* Writes d->line and empties it; false when the output failed. */
static bool flush_line(struct dump *d)
{
    if (d->line.oom)
        return false;
    fwrite(d->line.p ? d->line.p : "", 1, d->line.len, d->out);
    d->line.len = 0;
    return !out_failed(d->out);
}

static int line_failed(struct dump *d)
{
    if (d->line.oom) {
        session_report(d->s, NULL, ".dump: %s", strerror(ENOMEM));
        return EXIT_DAEMON_ERROR;
    }
    return EXIT_DAEMON_ERROR; /* finish_output() reports a write error */
}

/* Sets @select to the columns of @table that a dump reads: all but the
 * generated ones, which take no value (INSERT INTO t VALUES(...) leaves
 * them out too), and the hidden columns of a virtual table. */
static int dump_columns(struct dump *d, const char *table, struct sbuf *select)
{
    sqlited_rows *rows = NULL;
    int rc = query_arg(
        d, "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden == 0", table,
        &rows);

    if (rc)
        return rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        const char *name = sqlited_column_text(rows, 0);
        if (select->len)
            sbuf_add(select, ",", 1);
        quote_identifier(select, name ? name : "");
    }
    int status = rc == SQLITED_DONE   ? 0
                 : interrupted(d, rc) ? EXIT_DAEMON_ERROR
                                      : report_rows_error(d->s->db, rc);
    sqlited_rows_close(rows);
    if (status == 0 && select->oom) {
        session_report(d->s, NULL, ".dump: %s", strerror(ENOMEM));
        status = EXIT_DAEMON_ERROR;
    }
    return status;
}

/* Writes INSERT INTO @name VALUES(...); for every row of table @name, as
 * they stream. */
static int dump_rows(struct dump *d, const char *name)
{
    struct sbuf select = {0}, sql = {0}, prefix = {0};
    sqlited_rows *rows = NULL;
    int status = dump_columns(d, name, &select);

    if (status)
        goto out;
    if (select.len == 0) /* no columns it can read: nothing to insert */
        goto out;
    sbuf_adds(&sql, "SELECT ");
    sbuf_add(&sql, select.p, select.len);
    sbuf_adds(&sql, " FROM ");
    quote_identifier(&sql, name);
    sbuf_add(&sql, "", 1);
    sbuf_adds(&prefix, "INSERT INTO ");
    quote_identifier(&prefix, name);
    sbuf_adds(&prefix, " VALUES(");
    if (sql.oom || prefix.oom) {
        session_report(d->s, NULL, ".dump: %s", strerror(ENOMEM));
        status = EXIT_DAEMON_ERROR;
        goto out;
    }
    status = query_arg(d, sql.p, NULL, &rows);
    if (status)
        goto out;
    int rc;
    int ncols = sqlited_rows_column_count(rows);
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        sbuf_add(&d->line, prefix.p, prefix.len);
        for (int i = 0; i < ncols; i++) {
            if (i)
                sbuf_add(&d->line, ",", 1);
            add_literal(&d->line, rows, i);
        }
        sbuf_adds(&d->line, ");\n");
        if (!flush_line(d)) {
            status = line_failed(d);
            goto out;
        }
        d->rows++;
        if (interrupted(d, 0)) {
            status = EXIT_DAEMON_ERROR;
            goto out;
        }
    }
    if (rc != SQLITED_DONE)
        status = interrupted(d, rc) ? EXIT_DAEMON_ERROR
                                    : report_rows_error(d->s->db, rc);
out:
    sqlited_rows_close(rows);
    free(select.p);
    free(sql.p);
    free(prefix.p);
    return status;
}

/* One table: its CREATE statement, then its rows (the sqlite3 shell's
 * dump_callback()). sqlite_sequence is emptied and refilled instead of
 * created; the statistics of ANALYZE (sqlite_stat1, sqlite_stat4) are
 * created by an ANALYZE of the schema alone and refilled, so the query
 * planner's choices survive the reload; SQLite's other tables are its
 * own; a virtual table is entered into the schema as the sqlite3 shell
 * does, since creating it would also create its shadow tables, which the
 * dump holds already. A table whose stored SQL quotes its name (as it is
 * after a rebuild from a dump) is created IF NOT EXISTS, as the sqlite3
 * shell writes it, so the two shells' dumps read alike. */
static int dump_table(struct dump *d, const struct object *o)
{
    if (strcmp(o->name, "sqlite_sequence") == 0) {
        sbuf_adds(&d->line, "DELETE FROM sqlite_sequence;\n");
    } else if (strncmp(o->name, "sqlite_stat", 11) == 0 &&
               strlen(o->name) == 12) {
        sbuf_adds(&d->line, "ANALYZE sqlite_schema;\n");
    } else if (strncmp(o->name, "sqlite_", 7) == 0) {
        return 0;
    } else if (strncmp(o->sql, "CREATE VIRTUAL TABLE", 20) == 0) {
        if (!d->writable_schema) {
            sbuf_adds(&d->line, "PRAGMA writable_schema=ON;\n");
            d->writable_schema = true;
        }
        sbuf_adds(&d->line, "INSERT INTO sqlite_schema(type,name,tbl_name,"
                            "rootpage,sql)VALUES('table',");
        quote_text(&d->line, o->name, strlen(o->name));
        sbuf_add(&d->line, ",", 1);
        quote_text(&d->line, o->name, strlen(o->name));
        sbuf_adds(&d->line, ",0,");
        quote_text(&d->line, o->sql, strlen(o->sql));
        sbuf_adds(&d->line, ");\n");
        return flush_line(d) ? 0 : line_failed(d);
    } else if (strncmp(o->sql, "CREATE TABLE ", 13) == 0 &&
               (o->sql[13] == '"' || o->sql[13] == '\'')) {
        sbuf_adds(&d->line, "CREATE TABLE IF NOT EXISTS ");
        sbuf_adds(&d->line, o->sql + 13);
        sbuf_adds(&d->line, ";\n");
    } else {
        sbuf_adds(&d->line, o->sql);
        sbuf_adds(&d->line, ";\n");
    }
    if (!flush_line(d))
        return line_failed(d);
    return dump_rows(d, o->name);
}

/* The schema queries, the sqlite3 shell's: tables in the order created,
 * sqlite_sequence last (its rows name the tables); then everything else
 * that has SQL. With a pattern, the tables it matches (with the shadow
 * tables of a virtual table it matches, NAME_..., without which it would
 * not load) and the indexes, triggers and views on them. */
#define TABLES_SQL                                                             \
    "SELECT name, type, sql FROM sqlite_schema AS o WHERE sql NOT NULL AND "   \
    "type == 'table'%s ORDER BY tbl_name == 'sqlite_sequence', rowid"
#define OTHERS_SQL                                                             \
    "SELECT name, type, sql FROM sqlite_schema WHERE sql NOT NULL AND "        \
    "type IN ('index', 'trigger', 'view')%s ORDER BY rowid"
#define LIKE_TABLE                                                             \
    " AND (name LIKE ?1 ESCAPE '\\' OR EXISTS (SELECT 1 FROM sqlite_schema "   \
    "AS v WHERE v.name LIKE ?1 ESCAPE '\\' AND v.sql LIKE 'CREATE VIRTUAL "    \
    "TABLE%%' AND substr(o.name, 1, length(v.name) + 1) == "                   \
    "v.name || '_'))"
#define LIKE_OTHER " AND tbl_name LIKE ?1 ESCAPE '\\'"

static int dump_all(struct dump *d, const char *like)
{
    char sql[512];
    struct object *objs = NULL;
    size_t n = 0;
    int status;

    snprintf(sql, sizeof(sql), TABLES_SQL, like ? LIKE_TABLE : "");
    status = list_objects(d, sql, like, &objs, &n);
    for (size_t i = 0; status == 0 && i < n; i++)
        status = dump_table(d, &objs[i]);
    free_objects(objs, n);
    if (status)
        return status;

    snprintf(sql, sizeof(sql), OTHERS_SQL, like ? LIKE_OTHER : "");
    status = list_objects(d, sql, like, &objs, &n);
    for (size_t i = 0; status == 0 && i < n; i++) {
        sbuf_adds(&d->line, objs[i].sql);
        sbuf_adds(&d->line, ";\n");
        if (!flush_line(d))
            status = line_failed(d);
    }
    free_objects(objs, n);
    if (status == 0 && d->writable_schema) {
        sbuf_adds(&d->line, "PRAGMA writable_schema=OFF;\n");
        if (!flush_line(d))
            status = line_failed(d);
    }
    return status;
}

int dump_run(struct session *s, int argc, char **argv)
{
    struct dump d = {.s = s, .out = s->pr.out};
    int status, rc;

    /* sqlite3's .dump takes options (--data-only, --nosys ...) that this
     * one has not: as a pattern such a word would dump nothing, silently. */
    if (argc > 0 && strncmp(argv[0], "--", 2) == 0) {
        session_report(s, NULL,
                       ".dump: unknown option %s (usage: .dump "
                       "[TABLE])",
                       argv[0]);
        return EXIT_DAEMON_ERROR;
    }

    bool began;
    rc = dump_snapshot_begin(s->db, &began);
    if (rc && interrupted(&d, rc)) {
        session_report(s, NULL,
                       ".dump: interrupted before it began; nothing "
                       "was written");
        return EXIT_DAEMON_ERROR;
    }
    if (rc)
        return report_call_error(s->db, rc);
    fputs("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n", d.out);
    status = dump_all(&d, argc > 0 ? argv[0] : NULL);
    dump_snapshot_end(s->db, began);
    /* A dump cut short must not load as a smaller database: it ends with
     * ROLLBACK instead of COMMIT, and says why. */
    if (status == 0) {
        fputs("COMMIT;\n", d.out);
    } else if (d.interrupted) {
        fprintf(d.out,
                "ROLLBACK; -- the dump was interrupted after %" PRIu64
                " rows\n",
                d.rows);
        session_report(
            s, NULL,
            ".dump: interrupted after %" PRIu64
            " rows; the dump ends in ROLLBACK, so loading it applies "
            "nothing",
            d.rows);
    } else {
        fputs("ROLLBACK; -- the dump failed: see the error it reported\n",
              d.out);
    }
    free(d.line.p);
    return status;
}
