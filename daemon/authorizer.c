#include "authorizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlited.h"

/* Pragmas a client may give an argument to. The daemon's connections serve
 * every client, so a pragma that changes a connection (journal_mode away from
 * WAL, CHECK constraints off, a heap limit, ...) would change it for all the
 * others: only these are allowed, which change the database file itself
 * (user_version), last one transaction (defer_foreign_keys), or merely take
 * an argument (table_info). Reading any pragma is allowed. */
static const char *const pragmas_with_argument[] = {
    "application_id",    "auto_vacuum",      "defer_foreign_keys",
    "foreign_key_check", "foreign_key_list", "incremental_vacuum",
    "index_info",        "index_list",       "index_xinfo",
    "integrity_check",   "optimize",         "page_size",
    "quick_check",       "table_info",       "table_list",
    "table_xinfo",       "user_version",
};

/* SQL functions and virtual tables: the verdict on each one Debian's SQLite
 * 3.40.1 build exposes (`pragma function_list`, `pragma module_list`), with
 * the daemon's connections configured as db.c does (extension loading off,
 * SQLITE_DBCONFIG_DEFENSIVE on). A function or table is refused when it can
 * harm another client, read or write beyond the database, or leak an address
 * of the daemon's memory.
 *
 * Refused functions:
 * - fts3_tokenizer (1 and 2 arguments): with two, it registers a tokenizer
 *   from a pointer the client supplies (8 bytes bound as a blob), and the
 *   next fts3 table that names it makes the writer call through that
 *   address; re-registering "simple" breaks full-text search for every
 *   client. With one, it answers the address of a tokenizer module in the
 *   library, which defeats ASLR.
 * - load_extension: would load code into the daemon (also switched off with
 *   SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION on every connection).
 * - sqlite_log: writes a client's text into the daemon's SQLite error log.
 * - rtreenode, rtreedepth: debugging aids that parse a client's blob as an
 *   R-tree node; no application needs them, and rtreenode had memory-safety
 *   bugs (CVE-2019-8457).
 * - readfile, writefile, edit: absent from this build; they read and write
 *   files of the daemon's host, so they stay refused should a build add them.
 *
 * Allowed functions, each bounded by the connection's limits (value length,
 * LIKE pattern length, the request's deadline):
 * - the core scalar, aggregate and window functions (abs ... zeroblob,
 *   count ... sum, row_number ... ntile), date and time functions, printf and
 *   format, randomblob, soundex, sqlite_version, sqlite_source_id,
 *   sqlite_compileoption_get/used (the build's options are no secret),
 *   changes, last_insert_rowid, total_changes (per connection, read-only);
 * - the math functions (acos ... trunc, pi, pow, ln, log*);
 * - JSON: json ... json_valid, ->, ->>, json_group_array, json_group_object;
 * - full-text search helpers that only read the table they are called on:
 *   match, matchinfo, offsets, snippet, optimize (fts3/4, merges the
 *   table's own segments: a write to the database like any other), bm25,
 *   highlight, snippet (fts5), fts5_source_id; fts5() answers its API only
 *   to a pointer bound with sqlite3_bind_pointer(), which a client cannot
 *   send, so it answers NULL;
 * - rtreecheck: checks an R-tree table of the database.
 * The daemon's own schema functions (sqlite_rename_table and the like) run
 * inside ALTER TABLE and cannot be called directly.
 *
 * Virtual tables (modules). CREATE VIRTUAL TABLE may name only these, which
 * keep their data in ordinary shadow tables of the database (that clients
 * cannot write directly, SQLITE_DBCONFIG_DEFENSIVE): fts3, fts4, fts5,
 * rtree, rtree_i32, and the read-only views of them fts3tokenize, fts4aux,
 * fts5vocab, and dbstat (the database's own page statistics). Any other
 * module is refused, so that one refused below cannot come back under a
 * table name of the client's choosing.
 *
 * Table-valued functions read directly:
 * - allowed: json_each, json_tree (parse their argument); dbstat (read-only
 *   statistics of the database's pages); pragma_* (the pragmas themselves
 *   go through this authorizer again when they run);
 * - refused: sqlite_stmt, which lists the statements prepared on the
 *   connection: on a shared connection that is other clients' SQL.
 *   Absent from this build, refused should a build add them: sqlite_dbpage
 *   (raw pages, writable: corruption), sqlite_dbdata and sqlite_dbptr,
 *   fsdir and zipfile (the host's files).
 */
static const char *const refused_functions[] = {
    "fts3_tokenizer", "load_extension", "sqlite_log", "rtreenode",
    "rtreedepth",     "readfile",       "writefile",  "edit",
};

static const char *const allowed_modules[] = {
    "fts3",         "fts4",    "fts5",      "rtree",  "rtree_i32",
    "fts3tokenize", "fts4aux", "fts5vocab", "dbstat",
};

static const char *const refused_tables[] = {
    "sqlite_stmt",  "sqlite_dbpage", "sqlite_dbdata",
    "sqlite_dbptr", "fsdir",         "zipfile",
};

#define COUNT(a) (sizeof(a) / sizeof(*(a)))

static bool listed(const char *name, const char *const *list, size_t n)
{
    if (name == NULL)
        return false;
    for (size_t i = 0; i < n; i++)
        if (sqlite3_stricmp(name, list[i]) == 0)
            return true;
    return false;
}

static bool is_temp(const char *db)
{
    return db != NULL && sqlite3_stricmp(db, "temp") == 0;
}

/* True when @action with these arguments would create, change or remove
 * something in the TEMP schema. SQLite does not always say so with a
 * *_TEMP_* action: `CREATE TABLE temp.x` is an ordinary CREATE_TABLE in
 * database "temp", and `CREATE TRIGGER temp.t ... ON main.x` an ordinary
 * CREATE_TRIGGER in database "main"; but every one of them inserts its row
 * into temp's schema table, an INSERT in database "temp". Reading temp (its
 * schema table stays empty) is harmless, and so is the UPDATE of temp's
 * schema table that ALTER TABLE runs on main's tables (it edits the temp
 * triggers and views there are none of). */
static bool touches_temp(int action, const char *a, const char *db)
{
    switch (action) {
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
    case SQLITE_DROP_TEMP_INDEX:
    case SQLITE_DROP_TEMP_TABLE:
    case SQLITE_DROP_TEMP_TRIGGER:
    case SQLITE_DROP_TEMP_VIEW:
        return true;
    case SQLITE_ALTER_TABLE: /* @a is the database */
        return is_temp(a);
    case SQLITE_UPDATE:
        return is_temp(db) && sqlite3_stricmp(a, "sqlite_temp_master") != 0 &&
               sqlite3_stricmp(a, "sqlite_master") != 0;
    case SQLITE_CREATE_INDEX:
    case SQLITE_CREATE_TABLE:
    case SQLITE_CREATE_TRIGGER:
    case SQLITE_CREATE_VIEW:
    case SQLITE_CREATE_VTABLE:
    case SQLITE_DROP_INDEX:
    case SQLITE_DROP_TABLE:
    case SQLITE_DROP_TRIGGER:
    case SQLITE_DROP_VIEW:
    case SQLITE_DROP_VTABLE:
    case SQLITE_INSERT:
    case SQLITE_DELETE:
        return is_temp(db);
    default:
        return false;
    }
}

/* The connection settings the daemon owns. Setting one to the value the
 * daemon enforces is allowed (and answers as SQLite does: journal_mode=WAL
 * returns the row "wal"), so that an application's usual connection set-up
 * runs unchanged; any other value is refused with the way to change it. */
enum owned_kind {
    OWNED_BOOL,
    OWNED_SYNC,
    OWNED_TEMP,
    OWNED_JOURNAL,
    OWNED_INT
};

static const struct owned_pragma {
    const char *name;
    enum owned_kind kind;
    const char *how; /* follows "<name> is set by the daemon" */
} owned_pragmas[] = {
    {"foreign_keys", OWNED_BOOL,
     " (always ON): it enforces foreign keys on every connection"},
    {"journal_mode", OWNED_JOURNAL, " (always WAL)"},
    {"temp_store", OWNED_TEMP, " (always MEMORY)"},
    {"synchronous", OWNED_SYNC, ": use sqlited --synchronous"},
    {"cache_size", OWNED_INT, ": use sqlited --cache-size"},
    {"mmap_size", OWNED_INT, ": use sqlited --mmap-size"},
    {"busy_timeout", OWNED_INT,
     ": a request waits for locks until its deadline (its timeout_ms, or "
     "sqlited --timeout)"},
};

/* @v as SQLite's pragmas read it: the index of one of @names, or an
 * integer; -1 when it is neither. */
static int64_t pragma_level(const char *v, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (sqlite3_stricmp(v, names[i]) == 0)
            return i;
    char *end;
    long long x = strtoll(v, &end, 10);
    return (*v != '\0' && *end == '\0') ? x : -1;
}

/* True when setting @p to @v asks for what the daemon enforces. */
static bool owned_matches(const struct authorizer *w,
                          const struct owned_pragma *p, const char *v)
{
    static const char *const syncs[] = {"off", "normal", "full", "extra"};
    static const char *const temps[] = {"default", "file", "memory"};
    static const char *const yes[] = {"on", "yes", "true"};

    switch (p->kind) {
    case OWNED_BOOL:
        return pragma_level(v, yes, 3) >= 0 && pragma_level(v, NULL, 0) != 0;
    case OWNED_JOURNAL:
        return sqlite3_stricmp(v, "wal") == 0;
    case OWNED_TEMP:
        return pragma_level(v, temps, 3) == 2;
    case OWNED_SYNC:
        return w->cfg != NULL &&
               pragma_level(v, syncs, 4) ==
                   pragma_level(w->cfg->synchronous, syncs, 4);
    case OWNED_INT:
        if (w->cfg == NULL || strcmp(p->name, "busy_timeout") == 0)
            return false;
        return pragma_level(v, NULL, 0) == (strcmp(p->name, "cache_size") == 0
                                                ? w->cfg->cache_size
                                                : w->cfg->mmap_size);
    }
    return false;
}

/* Decides PRAGMA @name = @value (@value NULL: a read). */
static int authorize_pragma(struct authorizer *w, const char *name,
                            const char *value)
{
    /* The daemon owns checkpointing: a request that is exactly this pragma
     * never reaches SQLite (checkpoint.c runs it), so what gets here is the
     * pragma inside a script, a transaction or a batch. */
    if (sqlite3_stricmp(name, "wal_checkpoint") == 0) {
        w->denied_code = SQLITED_BAD_REQUEST;
        snprintf(w->denied, sizeof(w->denied),
                 "PRAGMA wal_checkpoint runs only as a request of its own "
                 "(the whole SQL of a query or exec, outside transactions, "
                 "with mode PASSIVE, FULL, RESTART or TRUNCATE); or use the "
                 "checkpoint method");
        return SQLITE_DENY;
    }
    if (value == NULL ||
        listed(name, pragmas_with_argument, COUNT(pragmas_with_argument)))
        return SQLITE_OK;
    for (size_t i = 0; i < COUNT(owned_pragmas); i++) {
        const struct owned_pragma *p = &owned_pragmas[i];
        if (sqlite3_stricmp(name, p->name) != 0)
            continue;
        /* SQLite would refuse some even at their current value inside a
         * transaction ("Safety level may not be changed"), and the daemon
         * runs every request in one: those that answer no row are skipped
         * instead (SQLITE_IGNORE makes the pragma do nothing). journal_mode
         * and mmap_size answer their value, so they run. */
        if (owned_matches(w, p, value))
            return p->kind == OWNED_JOURNAL ||
                           sqlite3_stricmp(p->name, "mmap_size") == 0
                       ? SQLITE_OK
                       : SQLITE_IGNORE;
        snprintf(w->denied, sizeof(w->denied),
                 "PRAGMA %s=%s is refused: %s is set by the daemon%s", p->name,
                 value, p->name, p->how);
        return SQLITE_DENY;
    }
    snprintf(w->denied, sizeof(w->denied),
             "PRAGMA %s cannot be set by a client: it would change the "
             "connection every client shares (reading it is allowed)",
             name);
    return SQLITE_DENY;
}

/* SAVEPOINT, RELEASE and ROLLBACK TO (@op BEGIN, RELEASE or ROLLBACK) of
 * savepoint @name: only inside an interactive transaction, as the one
 * statement of its request (which the daemon then runs without a savepoint
 * of its own around it, so that the client's savepoint outlives the request
 * and a ROLLBACK TO cannot cross the daemon's), and never on the name of the
 * daemon's own savepoints. */
static int authorize_savepoint(struct authorizer *w, const char *op,
                               const char *name)
{
    const char *what = strcmp(op, "BEGIN") == 0     ? "SAVEPOINT"
                       : strcmp(op, "RELEASE") == 0 ? "RELEASE"
                                                    : "ROLLBACK TO";
    w->denied_code = SQLITED_BAD_REQUEST;
    if (!w->in_tx) {
        snprintf(w->denied, sizeof(w->denied),
                 "%s needs a transaction: SAVEPOINT, RELEASE and ROLLBACK TO "
                 "are allowed only between the methods begin and commit or "
                 "rollback (outside them each request is a transaction of "
                 "its own)",
                 what);
        return SQLITE_DENY;
    }
    if (!w->savepoints) {
        snprintf(w->denied, sizeof(w->denied),
                 "%s must be sent alone: SAVEPOINT, RELEASE and ROLLBACK TO "
                 "are allowed only as the one statement of an exec or query "
                 "request, not in a script or a batch",
                 what);
        return SQLITE_DENY;
    }
    if (name != NULL && sqlite3_stricmp(name, AUTHORIZER_SAVEPOINT) == 0) {
        snprintf(w->denied, sizeof(w->denied),
                 "the savepoint name %s is reserved for the daemon's own "
                 "savepoints: choose another",
                 name);
        return SQLITE_DENY;
    }
    return SQLITE_OK;
}

/* Refuses what would outlive the request on a connection other clients
 * share, or reach beyond the one database the daemon serves, and records
 * why: SQLite itself would only say "not authorized". */
static int authorize(void *arg, int action, const char *a, const char *b,
                     const char *db, const char *trigger)
{
    struct authorizer *w = arg;
    (void)trigger;

    if (w->internal)
        return SQLITE_OK;
    w->denied_code = SQLITE_AUTH;
    if (touches_temp(action, a, db) ||
        (action == SQLITE_PRAGMA && b != NULL && is_temp(db))) {
        snprintf(w->denied, sizeof(w->denied), "%s", AUTHORIZER_TEMP_REFUSED);
        return SQLITE_DENY;
    }
    switch (action) {
    case SQLITE_SAVEPOINT:
        if (w->stepping) /* VACUUM's own transaction */
            return SQLITE_OK;
        return authorize_savepoint(w, a, b);
    case SQLITE_TRANSACTION:
        if (w->stepping)
            return SQLITE_OK;
        w->denied_code = SQLITED_BAD_REQUEST;
        snprintf(w->denied, sizeof(w->denied),
                 "transaction control (%s) is not allowed in SQL: the daemon "
                 "runs each request in its own transaction; use the methods "
                 "begin, commit and rollback, or batch for statements that "
                 "must apply together (SAVEPOINT, RELEASE and ROLLBACK TO "
                 "work inside begin ... commit)",
                 a);
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        return authorize_pragma(w, a, b);
    case SQLITE_FUNCTION: /* @b is the function's name */
        if (!listed(b, refused_functions, COUNT(refused_functions)))
            return SQLITE_OK;
        snprintf(w->denied, sizeof(w->denied),
                 "the SQL function %s() is not allowed: it could crash the "
                 "daemon, reveal its memory or reach beyond the database",
                 b);
        return SQLITE_DENY;
    case SQLITE_READ: /* @a is the table */
        if (!listed(a, refused_tables, COUNT(refused_tables)))
            return SQLITE_OK;
        snprintf(w->denied, sizeof(w->denied),
                 "the virtual table %s is not allowed: it shows what other "
                 "clients run on the shared connection, or reaches beyond "
                 "the database",
                 a);
        return SQLITE_DENY;
    case SQLITE_CREATE_VTABLE: /* @b is the module */
        if (listed(b, allowed_modules, COUNT(allowed_modules)))
            return SQLITE_OK;
        snprintf(w->denied, sizeof(w->denied),
                 "virtual tables USING %s are not allowed: only fts3, fts4, "
                 "fts5, rtree, rtree_i32, fts3tokenize, fts4aux, fts5vocab "
                 "and dbstat",
                 b ? b : "?");
        return SQLITE_DENY;
    case SQLITE_ATTACH:
        /* VACUUM attaches a scratch database, named "", while it runs. */
        if (w->stepping && a != NULL && a[0] == '\0')
            return SQLITE_OK;
        snprintf(w->denied, sizeof(w->denied), "%s",
                 w->stepping ? "VACUUM INTO is not allowed: clients cannot "
                               "write files on the daemon's host"
                             : "ATTACH is not allowed: the daemon serves one "
                               "database");
        return SQLITE_DENY;
    case SQLITE_DETACH:
        snprintf(w->denied, sizeof(w->denied),
                 "DETACH is not allowed: the daemon serves one database");
        return SQLITE_DENY;
    default:
        return SQLITE_OK;
    }
}

void authorizer_install(struct authorizer *auth, sqlite3 *db,
                        const struct config *cfg)
{
    *auth = (struct authorizer){.cfg = cfg};
    sqlite3_set_authorizer(db, authorize, auth);
}
