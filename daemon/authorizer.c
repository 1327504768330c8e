#include "authorizer.h"

#include <stdio.h>
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

static bool pragma_allowed(const char *name)
{
    size_t n = sizeof(pragmas_with_argument) / sizeof(*pragmas_with_argument);
    for (size_t i = 0; i < n; i++)
        if (sqlite3_stricmp(name, pragmas_with_argument[i]) == 0)
            return true;
    return false;
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
    switch (action) {
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        if (w->stepping) /* VACUUM's own transaction */
            return SQLITE_OK;
        w->denied_code = SQLITED_BAD_REQUEST;
        snprintf(w->denied, sizeof(w->denied),
                 "transaction control (%s) is not allowed in SQL: the daemon "
                 "runs each request in its own transaction; use the methods "
                 "begin, commit and rollback, or batch for statements that "
                 "must apply together",
                 action == SQLITE_TRANSACTION ? a
                 : strcmp(a, "BEGIN") == 0    ? "SAVEPOINT"
                                              : a);
        return SQLITE_DENY;
    case SQLITE_PRAGMA:
        /* The daemon owns checkpointing: a request that is exactly this
         * pragma never reaches SQLite (checkpoint.c runs it), so what gets
         * here is the pragma inside a script, a transaction or a batch. */
        if (sqlite3_stricmp(a, "wal_checkpoint") == 0) {
            w->denied_code = SQLITED_BAD_REQUEST;
            snprintf(w->denied, sizeof(w->denied),
                     "PRAGMA wal_checkpoint runs only as a request of its "
                     "own (the whole SQL of a query or exec, outside "
                     "transactions, with mode PASSIVE, FULL, RESTART or "
                     "TRUNCATE); or use the checkpoint method");
            return SQLITE_DENY;
        }
        if (b == NULL || pragma_allowed(a))
            return SQLITE_OK;
        snprintf(w->denied, sizeof(w->denied),
                 "PRAGMA %s cannot be set by a client: it would change the "
                 "connection every client shares (reading it is allowed)",
                 a);
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
    case SQLITE_CREATE_VTABLE:
        if (db == NULL || sqlite3_stricmp(db, "temp") != 0)
            return SQLITE_OK;
        /* fall through */
    case SQLITE_CREATE_TEMP_INDEX:
    case SQLITE_CREATE_TEMP_TABLE:
    case SQLITE_CREATE_TEMP_TRIGGER:
    case SQLITE_CREATE_TEMP_VIEW:
        snprintf(w->denied, sizeof(w->denied),
                 "temporary tables, views, indexes and triggers are not "
                 "allowed: they would outlive the request on a connection "
                 "other clients share");
        return SQLITE_DENY;
    default:
        return SQLITE_OK;
    }
}

void authorizer_install(struct authorizer *auth, sqlite3 *db)
{
    *auth = (struct authorizer){0};
    sqlite3_set_authorizer(db, authorize, auth);
}
