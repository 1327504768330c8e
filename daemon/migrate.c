#include "migrate.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <systemd/sd-daemon.h>

#include "db.h"
#include "log.h"
#include "rpc.h"
#include "sha256.h"
#include "sqlited.h"
#include "stats.h"

/* Largest migration file read. */
#define MIGRATE_MAX_FILE (64u << 20)

/* One version of the directory. */
struct migration {
    int64_t version;
    char name[NAME_MAX + 1];
    char up[NAME_MAX + 1];   /* file names */
    char down[NAME_MAX + 1]; /* "" when there is none */
    char checksum[SHA256_HEX_SIZE];
    /* From schema_migrations. */
    bool applied;
    char applied_checksum[SHA256_HEX_SIZE];
    char applied_at[40];
};

struct plan {
    const char *dir;
    struct migration *m; /* by version: m[i].version == i + 1 */
    size_t n;
    int64_t current;                /* the highest applied version; 0: none */
    struct migrate_state *progress; /* NULL: not recorded */
    char *err;
    size_t errlen;
};

__attribute__((format(printf, 3, 4))) static int fail(struct plan *p, int code,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return code;
}

/* ------------------------------------------------------------ the files */

/* Reads @file of the directory, whole, NUL-terminated. */
static int read_file(struct plan *p, const char *file, char **text, size_t *len)
{
    char path[PATH_MAX + NAME_MAX + 2];
    snprintf(path, sizeof(path), "%s/%s", p->dir, file);
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return fail(p, SQLITE_CANTOPEN, "migration %s: %s", path,
                    strerror(errno));
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *grown =
                cap > MIGRATE_MAX_FILE + 8192 ? NULL : realloc(buf, cap);
            if (grown == NULL) {
                free(buf);
                fclose(f);
                return fail(p, SQLITE_TOOBIG,
                            "migration %s: larger than %u bytes, or out of "
                            "memory",
                            path, MIGRATE_MAX_FILE);
            }
            buf = grown;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return fail(p, SQLITE_IOERR, "migration %s: cannot read it", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

static int checksum(struct plan *p, struct migration *m)
{
    char *text;
    size_t len;
    int rc = read_file(p, m->up, &text, &len);
    if (rc)
        return rc;
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, text, len);
    sha256_final_hex(&s, m->checksum);
    free(text);
    return 0;
}

/* Parses NNNN_name.up.sql or NNNN_name.down.sql. Returns 0, or -1 when
 * @file is not shaped so. */
static int parse_name(const char *file, int64_t *version, char *name, bool *up)
{
    size_t len = strlen(file), digits = 0;
    int64_t v = 0;
    while (file[digits] >= '0' && file[digits] <= '9') {
        if (digits == 18)
            return -1;
        v = v * 10 + (file[digits] - '0');
        digits++;
    }
    if (digits == 0 || file[digits] != '_' || v == 0)
        return -1;
    const char *rest = file + digits + 1;
    size_t tail;
    if (len > 7 && strcmp(file + len - 7, ".up.sql") == 0) {
        *up = true;
        tail = 7;
    } else if (len > 9 && strcmp(file + len - 9, ".down.sql") == 0) {
        *up = false;
        tail = 9;
    } else {
        return -1;
    }
    size_t nlen = (size_t)(file + len - tail - rest);
    if (nlen == 0)
        return -1;
    for (size_t i = 0; i < nlen; i++) {
        char c = rest[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return -1;
    }
    memcpy(name, rest, nlen);
    name[nlen] = '\0';
    *version = v;
    return 0;
}

static int by_version(const void *a, const void *b)
{
    const struct migration *x = a, *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

/* Finds the migration of @version among p->m[0..n), or NULL. */
static struct migration *find(struct migration *m, size_t n, int64_t version)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].version == version)
            return &m[i];
    return NULL;
}

/* Lists the directory into p->m, sorted, checked for names, duplicates,
 * strays and gaps, with the up files' checksums. */
static int scan(struct plan *p)
{
    DIR *dir = opendir(p->dir);
    struct dirent *e;
    size_t cap = 0;
    int rc = 0;

    if (dir == NULL)
        return fail(p, SQLITE_CANTOPEN, "--migrations %s: %s", p->dir,
                    strerror(errno));
    struct {
        int64_t version;
        char name[NAME_MAX + 1], file[NAME_MAX + 1];
    } *downs = NULL;
    size_t ndowns = 0, downs_cap = 0;

    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len < 4 ||
            strcmp(e->d_name + len - 4, ".sql") != 0)
            continue; /* README, editor files: not migrations */
        int64_t version;
        char name[NAME_MAX + 1];
        bool up;
        if (parse_name(e->d_name, &version, name, &up) != 0) {
            rc = fail(p, SQLITE_ERROR,
                      "migration %s/%s: not a migration file name: "
                      "NNNN_name.up.sql or NNNN_name.down.sql, NNNN from 1, "
                      "name of letters, digits, _ and -",
                      p->dir, e->d_name);
            goto out;
        }
        if (!up) {
            if (ndowns == downs_cap) {
                downs_cap = downs_cap ? downs_cap * 2 : 16;
                void *grown = realloc(downs, downs_cap * sizeof(*downs));
                if (grown == NULL) {
                    rc = fail(p, SQLITE_NOMEM, "out of memory");
                    goto out;
                }
                downs = grown;
            }
            downs[ndowns].version = version;
            snprintf(downs[ndowns].name, sizeof(downs[0].name), "%s", name);
            snprintf(downs[ndowns].file, sizeof(downs[0].file), "%s",
                     e->d_name);
            ndowns++;
            continue;
        }
        struct migration *twin = find(p->m, p->n, version);
        if (twin) {
            rc = fail(p, SQLITE_ERROR,
                      "migration %s/%s: version %" PRId64
                      " is also %s; each version has one up file",
                      p->dir, e->d_name, version, twin->up);
            goto out;
        }
        if (p->n == cap) {
            cap = cap ? cap * 2 : 16;
            struct migration *grown = realloc(p->m, cap * sizeof(*p->m));
            if (grown == NULL) {
                rc = fail(p, SQLITE_NOMEM, "out of memory");
                goto out;
            }
            p->m = grown;
        }
        struct migration *m = &p->m[p->n++];
        memset(m, 0, sizeof(*m));
        m->version = version;
        snprintf(m->name, sizeof(m->name), "%s", name);
        snprintf(m->up, sizeof(m->up), "%s", e->d_name);
    }
    if (p->n > 0)
        qsort(p->m, p->n, sizeof(*p->m), by_version);
    for (size_t i = 0; i < ndowns; i++) {
        struct migration *m = find(p->m, p->n, downs[i].version);
        if (m == NULL || strcmp(m->name, downs[i].name) != 0) {
            rc =
                fail(p, SQLITE_ERROR,
                     "migration %s/%s: no up file %0*" PRId64
                     "_%s.up.sql goes with it",
                     p->dir, downs[i].file, 4, downs[i].version, downs[i].name);
            goto out;
        }
        if (m->down[0]) {
            rc = fail(p, SQLITE_ERROR,
                      "migration %s/%s: version %" PRId64 " is also %s", p->dir,
                      downs[i].file, m->version, m->down);
            goto out;
        }
        snprintf(m->down, sizeof(m->down), "%s", downs[i].file);
    }
    for (size_t i = 0; i < p->n; i++) {
        if (p->m[i].version != (int64_t)i + 1) {
            if (i == 0)
                rc = fail(p, SQLITE_ERROR,
                          "migration %s/%s: the first version must be 1 "
                          "(versions 1 to %" PRId64 " are missing)",
                          p->dir, p->m[i].up, p->m[i].version - 1);
            else
                rc = fail(p, SQLITE_ERROR,
                          "migration %s/%s: a gap: version %" PRId64
                          " follows %s (version %" PRId64 "), so version %zu "
                          "is missing",
                          p->dir, p->m[i].up, p->m[i].version, p->m[i - 1].up,
                          p->m[i - 1].version, i + 1);
            goto out;
        }
        if ((rc = checksum(p, &p->m[i])) != 0)
            goto out;
    }
out:
    free(downs);
    closedir(dir);
    return rc;
}

/* ------------------------------------------------------------ the table */

static int run_sql(struct plan *p, sqlite3 *db, const char *sql,
                   const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail(p, sqlite3_extended_errcode(db), "%s: %s", what,
             msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

/* Creates schema_migrations if needed and reads it into p->m: which
 * versions are applied, with what checksum; every applied version must
 * have its file, unchanged, and they must be 1 to the current one. */
static int load(struct plan *p, sqlite3 *db)
{
    sqlite3_stmt *st;
    int rc = run_sql(p, db,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                     "checksum TEXT NOT NULL, applied_at TEXT NOT NULL "
                     "DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
                     "cannot create schema_migrations");
    if (rc)
        return rc;
    rc = sqlite3_prepare_v2(db,
                            "SELECT version, name, checksum, applied_at FROM "
                            "schema_migrations ORDER BY version",
                            -1, &st, NULL);
    if (rc)
        return fail(p, rc, "cannot read schema_migrations: %s",
                    sqlite3_errmsg(db));
    p->current = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t v = sqlite3_column_int64(st, 0);
        const char *name = (const char *)sqlite3_column_text(st, 1);
        const char *sum = (const char *)sqlite3_column_text(st, 2);
        const char *at = (const char *)sqlite3_column_text(st, 3);
        struct migration *m = find(p->m, p->n, v);
        if (m == NULL) {
            rc = fail(p, SQLITE_ERROR,
                      "schema_migrations says version %" PRId64
                      " (%s) was applied, but %s has no file for it",
                      v, name ? name : "?", p->dir);
            break;
        }
        if (v != p->current + 1) {
            rc = fail(p, SQLITE_ERROR,
                      "schema_migrations skips from version %" PRId64
                      " to %" PRId64 "; it was changed by hand",
                      p->current, v);
            break;
        }
        m->applied = true;
        snprintf(m->applied_checksum, sizeof(m->applied_checksum), "%s",
                 sum ? sum : "");
        snprintf(m->applied_at, sizeof(m->applied_at), "%s", at ? at : "");
        p->current = v;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return rc == SQLITE_ROW ? SQLITE_ERROR : rc;
    return 0;
}

/* The first applied migration whose file changed since, or NULL. */
static struct migration *changed(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->m[i].applied &&
            strcmp(p->m[i].checksum, p->m[i].applied_checksum) != 0)
            return &p->m[i];
    return NULL;
}

/* The daemon's own BEGIN and COMMIT pass; a migration's own transaction
 * control would end the transaction its row is written in. */
static int deny_transactions(void *arg, int action, const char *a,
                             const char *b, const char *db, const char *trigger)
{
    (void)a;
    (void)b;
    (void)db;
    (void)trigger;
    return action == SQLITE_TRANSACTION && !*(bool *)arg ? SQLITE_DENY
                                                         : SQLITE_OK;
}

/* Records that @file is being applied with @pending migrations left, this
 * one included (0: the run is over), for migrate_progress() and the stats;
 * at start-up systemd's STATUS says it too. */
static void progress(struct plan *p, const char *file, int64_t pending)
{
    struct migrate_state *m = p->progress;
    if (m == NULL)
        return;
    pthread_mutex_lock(&m->mutex);
    m->pending = pending;
    size_t len = file ? strlen(file) : 0;
    const char *dot = file ? strstr(file, ".up.sql") : NULL;
    if (dot == NULL && file)
        dot = strstr(file, ".down.sql");
    if (dot)
        len = (size_t)(dot - file);
    snprintf(m->applying, sizeof(m->applying), "%.*s", (int)len,
             file ? file : "");
    pthread_mutex_unlock(&m->mutex);
    if (m->gauge)
        stats_set(m->gauge, (uint64_t)pending);
    if (file && atomic_load(&m->starting))
        sd_notifyf(0, "STATUS=applying migration %.*s (%" PRId64 " pending)",
                   (int)len, file, pending);
}

/* Runs file @file of @m in one transaction with @row (binding the version
 * and, for an up, name and checksum). */
static int apply(struct plan *p, sqlite3 *db, struct migration *m, bool up)
{
    const char *file = up ? m->up : m->down;
    char *text;
    size_t len;
    bool own = true;
    int rc = read_file(p, file, &text, &len);
    if (rc)
        return rc;
    sqlite3_set_authorizer(db, deny_transactions, &own);
    if ((rc = run_sql(p, db, "BEGIN IMMEDIATE", "cannot begin")) != 0)
        goto out;
    own = false;
    char *msg = NULL;
    rc = sqlite3_exec(db, text, NULL, NULL, &msg);
    own = true;
    if (rc != SQLITE_OK) {
        fail(p, sqlite3_extended_errcode(db), "migration %s/%s failed: %s%s",
             p->dir, file, msg ? msg : sqlite3_errstr(rc),
             (rc & 0xff) == SQLITE_AUTH
                 ? " (a migration must not begin or end transactions: the "
                   "daemon runs each in one)"
                 : "");
        sqlite3_free(msg);
        goto rollback;
    }
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(db,
                            up ? "INSERT INTO schema_migrations(version, "
                                 "name, checksum) VALUES (?, ?, ?)"
                               : "DELETE FROM schema_migrations WHERE "
                                 "version = ?",
                            -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, m->version);
        if (up) {
            sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, m->checksum, -1, SQLITE_STATIC);
        }
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        fail(p, sqlite3_extended_errcode(db),
             "migration %s/%s: cannot record it in schema_migrations: %s",
             p->dir, file, sqlite3_errmsg(db));
        goto rollback;
    }
    if ((rc = run_sql(p, db, "COMMIT", "commit")) == 0) {
        log_info("migration %s/%s applied: version %" PRId64, p->dir, file,
                 up ? m->version : m->version - 1);
        goto out;
    }
rollback:
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
    sqlite3_set_authorizer(db, NULL, NULL);
    free(text);
    return rc;
}

/* ------------------------------------------------------------ the result */

static void pack_result(struct plan *p, int64_t from, struct codec_buf *out)
{
    msgpack_pack_map(&out->pk, 4);
    codec_pack_cstr(out, "from");
    msgpack_pack_int64(&out->pk, from);
    codec_pack_cstr(out, "to");
    msgpack_pack_int64(&out->pk, p->current);
    codec_pack_cstr(out, "latest");
    msgpack_pack_int64(&out->pk, (int64_t)p->n);
    codec_pack_cstr(out, "migrations");
    msgpack_pack_array(&out->pk, (uint32_t)p->n);
    for (size_t i = 0; i < p->n; i++) {
        struct migration *m = &p->m[i];
        const char *state = !m->applied ? "pending"
                            : strcmp(m->checksum, m->applied_checksum) != 0
                                ? "changed"
                                : "applied";
        msgpack_pack_map(&out->pk, 6);
        codec_pack_cstr(out, "version");
        msgpack_pack_int64(&out->pk, m->version);
        codec_pack_cstr(out, "name");
        codec_pack_cstr(out, m->name);
        codec_pack_cstr(out, "file");
        codec_pack_cstr(out, m->up);
        codec_pack_cstr(out, "state");
        codec_pack_cstr(out, state);
        codec_pack_cstr(out, "checksum");
        codec_pack_cstr(out, m->checksum);
        codec_pack_cstr(out, "applied_at");
        if (m->applied)
            codec_pack_cstr(out, m->applied_at);
        else
            msgpack_pack_nil(&out->pk);
    }
}

/* Re-reads applied_at of the versions applied by this run. */
static int reload(struct plan *p, sqlite3 *db)
{
    for (size_t i = 0; i < p->n; i++)
        p->m[i].applied = false;
    return load(p, db);
}

int migrate_exec(sqlite3 *db, const char *dir, enum migrate_action action,
                 int64_t version, struct codec_buf *out,
                 struct migrate_state *progress_state, char *err, size_t errlen)
{
    struct plan p = {
        .dir = dir, .progress = progress_state, .err = err, .errlen = errlen};
    int rc;

    if ((rc = scan(&p)) != 0 || (rc = load(&p, db)) != 0)
        goto out;
    int64_t from = p.current, latest = (int64_t)p.n;
    struct migration *bad = changed(&p);
    if (action == MIGRATE_STATUS) {
        if (out)
            pack_result(&p, from, out);
        goto out;
    }
    if (bad) {
        rc = fail(&p, SQLITE_ERROR,
                  "migration %s/%s was changed after it was applied (its "
                  "SHA-256 is %s, it was applied as %s): restore it, and "
                  "make the change a new migration",
                  dir, bad->up, bad->checksum, bad->applied_checksum);
        goto out;
    }
    if (action == MIGRATE_UP) {
        int64_t target = version == MIGRATE_DEFAULT ? latest : version;
        /* With no migration in the directory yet, the latest is 0: the
         * default up has nothing to apply, and is no error. */
        if (latest == 0 && version != MIGRATE_DEFAULT) {
            rc = fail(&p, SQLITED_BAD_REQUEST,
                      "there is no migration %" PRId64 " in %s (it holds "
                      "none)",
                      target, dir);
            goto out;
        }
        if (target > latest || (target < 1 && version != MIGRATE_DEFAULT)) {
            rc = fail(&p, SQLITED_BAD_REQUEST,
                      "there is no migration %" PRId64 " in %s (1 to %" PRId64
                      ")",
                      target, dir, latest);
            goto out;
        }
        if (target < p.current) {
            rc = fail(&p, SQLITED_BAD_REQUEST,
                      "the database is at version %" PRId64 ", above %" PRId64
                      ": use migrate down",
                      p.current, target);
            goto out;
        }
        for (int64_t v = p.current + 1; v <= target; v++) {
            progress(&p, p.m[v - 1].up, target - v + 1);
            if ((rc = apply(&p, db, &p.m[v - 1], true)) != 0) {
                size_t n = strlen(err);
                snprintf(err + n, errlen - n,
                         "; the database stays at version %" PRId64, v - 1);
                goto out;
            }
            p.current = v;
        }
    } else {
        int64_t target = version == MIGRATE_DEFAULT
                             ? (p.current > 0 ? p.current - 1 : 0)
                             : version;
        if (target < 0 || target > p.current) {
            rc = fail(&p, SQLITED_BAD_REQUEST,
                      "cannot migrate down to version %" PRId64
                      ": the database is at version %" PRId64,
                      target, p.current);
            goto out;
        }
        for (int64_t v = p.current; v > target; v--)
            if (p.m[v - 1].down[0] == '\0') {
                rc = fail(&p, SQLITE_ERROR,
                          "migration %s/%s has no down file (%0*" PRId64
                          "_%s.down.sql), so it cannot be undone; nothing "
                          "was undone",
                          dir, p.m[v - 1].up, 4, v, p.m[v - 1].name);
                goto out;
            }
        for (int64_t v = p.current; v > target; v--) {
            progress(&p, p.m[v - 1].down, v - target);
            if ((rc = apply(&p, db, &p.m[v - 1], false)) != 0) {
                size_t n = strlen(err);
                snprintf(err + n, errlen - n,
                         "; the database stays at version %" PRId64, v);
                goto out;
            }
            p.current = v - 1;
        }
    }
    if (out) {
        if ((rc = reload(&p, db)) != 0)
            goto out;
        pack_result(&p, from, out);
    }
out:
    progress(&p, NULL, 0);
    free(p.m);
    return rc;
}

int migrate_state_init(struct migrate_state *m, atomic_uint_fast64_t *gauge)
{
    atomic_init(&m->failing, false);
    atomic_init(&m->starting, false);
    m->failure[0] = '\0';
    m->pending = 0;
    m->applying[0] = '\0';
    m->gauge = gauge;
    return pthread_mutex_init(&m->mutex, NULL) == 0 ? 0 : -1;
}

void migrate_state_close(struct migrate_state *m)
{
    pthread_mutex_destroy(&m->mutex);
}

const char *migrate_failure(struct migrate_state *m, char *buf, size_t len)
{
    if (!atomic_load(&m->failing))
        return NULL;
    pthread_mutex_lock(&m->mutex);
    snprintf(buf, len, "%s", m->failure);
    pthread_mutex_unlock(&m->mutex);
    return buf;
}

const char *migrate_progress(struct migrate_state *m, char *buf, size_t len)
{
    if (!atomic_load(&m->starting))
        return NULL;
    pthread_mutex_lock(&m->mutex);
    if (m->applying[0])
        snprintf(buf, len, "%" PRId64 " pending, applying %s", m->pending,
                 m->applying);
    else
        snprintf(buf, len, "checking the migration files");
    pthread_mutex_unlock(&m->mutex);
    return buf;
}

struct job *migrate_startup_job(struct migrate_state *m)
{
    struct job *job = job_new(RPC_MIGRATE, 0);
    if (job == NULL)
        return NULL;
    /* migrate_run()'s action, as a client's "up" would carry it. */
    job->req.sql = "up";
    job->req.sql_len = 2;
    job->version = MIGRATE_DEFAULT;
    job->alone = true;
    atomic_store(&m->starting, true);
    return job;
}

int migrate_startup_done(struct migrate_state *m, struct job *job, char *err,
                         size_t errlen)
{
    struct rpc_message msg;
    const char *why = NULL, *text = NULL;
    uint32_t text_len = 0;
    bool has_msgid;
    int code, rc = 0;

    atomic_store(&m->starting, false);
    if (migrate_failure(m, err, errlen) != NULL) {
        rc = -1;
    } else if (job->reply == NULL) {
        snprintf(err, errlen,
                 "the start-up migrations did not run (out of "
                 "memory)");
        rc = -1;
    } else if (rpc_parse(job->reply, job->reply_len, &msg, &has_msgid, &why) !=
                   0 ||
               msg.is_error) {
        /* Refused before it ran (the database file gone, say). */
        struct codec_reader r = msg.error;
        if (why == NULL &&
            rpc_read_error(&r, &code, NULL, NULL, &text, &text_len) == 0 &&
            text)
            snprintf(err, errlen, "the start-up migrations did not run: %.*s",
                     (int)text_len, text);
        else
            snprintf(err, errlen, "the start-up migrations did not run");
        rc = -1;
    }
    job_free(job);
    return rc;
}

/* Records the outcome of an up or down: @err, or success (NULL). */
static void state_set(struct migrate_state *m, const char *err)
{
    pthread_mutex_lock(&m->mutex);
    snprintf(m->failure, sizeof(m->failure), "%s", err ? err : "");
    atomic_store(&m->failing, err != NULL);
    pthread_mutex_unlock(&m->mutex);
}

void migrate_run(struct worker *w, struct migrate_state *state, struct job *job)
{
    struct codec_buf out;
    char err[1024];
    enum migrate_action action = MIGRATE_STATUS;

    if (!job_claim(job))
        return;
    job->ran_on = JOB_RAN_WRITER;
    /* Checked by the loop: "up", "down" or "status", in any case. */
    if (job->req.sql_len == 2 && strncasecmp(job->req.sql, "up", 2) == 0)
        action = MIGRATE_UP;
    else if (job->req.sql_len == 4 && strncasecmp(job->req.sql, "down", 4) == 0)
        action = MIGRATE_DOWN;
    codec_buf_init(&out, w->max_reply);
    /* The writer's authorizer comes back after: the daemon's own. */
    int rc = migrate_exec(w->db, w->cfg->migrations, action, job->version, &out,
                          state, err, sizeof(err));
    authorizer_install(&w->auth, w->db, w->cfg);
    /* A version that does not exist changes nothing: the database stays
     * as good as it was. */
    if (action != MIGRATE_STATUS && rc != SQLITED_BAD_REQUEST)
        state_set(state, rc != 0 ? err : NULL);
    if (rc != 0)
        job_fail(job, rc, err);
    else if (out.error != CODEC_BUF_OK)
        job_fail(job, SQLITED_INTERNAL, "out of memory");
    else
        job_reply(job, out.data, out.len);
    codec_buf_close(&out);
}
