/* The direct baseline: every client opens the database file itself, in WAL
 * mode with a busy timeout, the way the seed documents teach; with one
 * client it is the in-process floor. Also creates the databases. */
#include "bench.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Python's sqlite3.connect() waits 5 s for a lock by default. */
#define BUSY_TIMEOUT_MS 5000

struct direct {
    sqlite3 *db;
    sqlite3_stmt *point, *insert, *stream, *begin, *commit;
};

static int direct_fail(struct client *c, const char *what)
{
    struct direct *d = c->conn;
    return load_fail(c, "%s: %s", what, d->db ? sqlite3_errmsg(d->db) : "");
}

static int prepare(struct client *c, const char *sql, sqlite3_stmt **out)
{
    struct direct *d = c->conn;
    if (sqlite3_prepare_v2(d->db, sql, -1, out, NULL) != SQLITE_OK)
        return direct_fail(c, sql);
    return 0;
}

static int direct_open(struct client *c)
{
    struct direct *d = calloc(1, sizeof(*d));
    char sql[64];

    if (!d)
        return load_fail(c, "out of memory");
    c->conn = d;
    if (sqlite3_open_v2(c->spec->db_path, &d->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        return direct_fail(c, "open");
    sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
    snprintf(sql, sizeof(sql), "PRAGMA synchronous=%s", c->spec->synchronous);
    if (sqlite3_exec(d->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) ||
        sqlite3_exec(d->db, sql, NULL, NULL, NULL))
        return direct_fail(c, "pragma");
    if (prepare(c, POINT_SQL, &d->point) ||
        prepare(c, INSERT_SQL, &d->insert) ||
        prepare(c, "BEGIN IMMEDIATE", &d->begin) ||
        prepare(c, "COMMIT", &d->commit))
        return -1;
    if (c->spec->workload == W_STREAM && prepare(c, STREAM_SQL, &d->stream))
        return -1;
    return 0;
}

static void direct_close(struct client *c)
{
    struct direct *d = c->conn;

    if (!d)
        return;
    sqlite3_finalize(d->point);
    sqlite3_finalize(d->insert);
    sqlite3_finalize(d->stream);
    sqlite3_finalize(d->begin);
    sqlite3_finalize(d->commit);
    sqlite3_close(d->db);
    free(d);
}

/* Steps @stmt once and resets it. A busy database, after the busy timeout,
 * is an error the client counts and goes on after. */
static int step_once(struct client *c, sqlite3_stmt *stmt, const char *what)
{
    int rc = sqlite3_step(stmt);

    sqlite3_reset(stmt);
    if (rc == SQLITE_DONE || rc == SQLITE_ROW)
        return 0;
    direct_fail(c, what);
    return (rc & 0xff) == SQLITE_BUSY ? 1 : -1;
}

static int op_point(struct client *c)
{
    struct direct *d = c->conn;
    int64_t key = (int64_t)load_random(c, TABLE_ROWS) + 1;
    int rc;

    sqlite3_bind_int64(d->point, 1, key);
    rc = sqlite3_step(d->point);
    if (rc == SQLITE_ROW && sqlite3_column_int64(d->point, 0) == key &&
        sqlite3_column_text(d->point, 1)) {
        sqlite3_reset(d->point);
        return 0;
    }
    sqlite3_reset(d->point);
    direct_fail(c, "point read");
    return (rc & 0xff) == SQLITE_BUSY ? 1 : -1;
}

static int op_insert(struct client *c)
{
    struct direct *d = c->conn;

    sqlite3_bind_text(d->insert, 1, VALUE_TEXT, -1, SQLITE_STATIC);
    return step_once(c, d->insert, "insert");
}

static int op_mixed(struct client *c)
{
    return load_random(c, 10) == 0 ? op_insert(c) : op_point(c);
}

/* executemany: one transaction, the statement prepared once. */
static int op_bulk(struct client *c)
{
    struct direct *d = c->conn;
    uint64_t n = spec_units_per_op(c->spec);
    int rc = step_once(c, d->begin, "begin");

    if (rc)
        return rc;
    sqlite3_bind_text(d->insert, 1, VALUE_TEXT, -1, SQLITE_STATIC);
    for (uint64_t i = 0; i < n && rc == 0; i++)
        rc = step_once(c, d->insert, "insert");
    if (rc == 0)
        rc = step_once(c, d->commit, "commit");
    if (rc)
        sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int op_stream(struct client *c)
{
    struct direct *d = c->conn;
    uint64_t n = 0;
    int rc;

    while ((rc = sqlite3_step(d->stream)) == SQLITE_ROW) {
        if (sqlite3_column_int64(d->stream, 0) <= 0 ||
            !sqlite3_column_text(d->stream, 1))
            break;
        n++;
    }
    sqlite3_reset(d->stream);
    if (rc != SQLITE_DONE || n != STREAM_ROWS)
        return direct_fail(c, "stream");
    return 0;
}

static int direct_run(struct client *c)
{
    static const client_op ops[W_COUNT] = {
        [W_POINT] = op_point,        [W_PIPELINED] = op_point,
        [W_INSERT_FULL] = op_insert, [W_INSERT_NORMAL] = op_insert,
        [W_BULK] = op_bulk,          [W_MIXED] = op_mixed,
        [W_STREAM] = op_stream,
    };

    if (!ops[c->spec->workload])
        return load_fail(c, "no direct %s", workload_name(c->spec->workload));
    return load_loop(c, ops[c->spec->workload]);
}

const struct client_ops direct_client_ops = {direct_open, direct_run,
                                             direct_close};

/* ------------------------------------------------------------- databases */

/* Creates @path holding "t" (TABLE_ROWS rows) and, with @stream, "big"
 * (STREAM_ROWS rows), in WAL mode. */
static int create_db(const char *path, bool stream)
{
    static const char schema[] =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
        "CREATE TABLE big(id INTEGER PRIMARY KEY, v TEXT NOT NULL);"
        "BEGIN;"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "  WHERE i < 100000) INSERT INTO t SELECT i, '" VALUE_TEXT "' FROM n;";
    static const char big[] =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
        "  WHERE i < 1000000) INSERT INTO big SELECT i, 'row ' || i FROM n;";
    sqlite3 *db = NULL;
    char *err = NULL;
    int rc;

    unlink(path);
    rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, schema, NULL, NULL, &err);
    if (rc == SQLITE_OK && stream)
        rc = sqlite3_exec(db, big, NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, &err);
    if (rc != SQLITE_OK)
        fprintf(stderr, "bench: cannot create %s: %s\n", path,
                err ? err : sqlite3_errmsg(db));
    sqlite3_free(err);
    /* The last connection to close checkpoints and removes the WAL, so
     * the file alone is the database. */
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

int data_create(const char *dir)
{
    char path[512];

    _Static_assert(TABLE_ROWS == 100000 && STREAM_ROWS == 1000000,
                   "the row counts are spelled out in create_db's SQL");
    snprintf(path, sizeof(path), "%s/t.db", dir);
    if (create_db(path, false))
        return -1;
    snprintf(path, sizeof(path), "%s/stream.db", dir);
    return create_db(path, true);
}

int data_copy(const char *from, const char *to)
{
    char buf[1 << 16];
    int in = open(from, O_RDONLY), out;
    ssize_t n = 0;

    if (in < 0)
        return -1;
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        close(in);
        return -1;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n) {
            n = -1;
            break;
        }
    close(in);
    if (close(out) || n < 0)
        return -1;
    return 0;
}
