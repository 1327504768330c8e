/* What clients may do on the daemon's shared connections.
 *
 * Every client's SQL runs on connections other clients share, so SQL that
 * would change a connection for all of them (most pragmas with a value),
 * outlive its request (TEMP objects, transaction control), reach beyond the
 * one database (ATTACH, VACUUM INTO) or crash or expose the daemon (some SQL
 * functions and virtual tables: see authorizer.c) is refused while it is
 * prepared, and
 * the reason kept for the error message: SQLite itself would only say "not
 * authorized".
 */
#ifndef SQLITED_AUTHORIZER_H
#define SQLITED_AUTHORIZER_H

#include <sqlite3.h>
#include <stdbool.h>

#include "config.h"

/* The name of the daemon's own savepoints, which clients may not use. */
#define AUTHORIZER_SAVEPOINT "sqlited"

struct authorizer {
    bool internal;   /* the daemon's own statement: everything is allowed */
    bool stepping;   /* inside sqlite3_step(): VACUUM's inner statements */
    bool in_tx;      /* in an interactive transaction (begin ... commit) */
    bool savepoints; /* the statement may be SAVEPOINT, RELEASE, ROLLBACK TO */
    const struct config *cfg; /* the settings the daemon owns; may be NULL */
    int denied_code;          /* what the last refusal is reported as */
    char denied[512];         /* why the last statement was refused, or "" */
};

/* The message of every refusal of the TEMP schema, whatever the spelling:
 * CREATE TEMP TABLE, CREATE TABLE temp.x, CREATE TRIGGER temp.t ... */
#define AUTHORIZER_TEMP_REFUSED                                                \
    "temporary tables, views, indexes and triggers are not allowed (TEMP, "    \
    "or any object in the schema temp): they would outlive the request on a "  \
    "connection other clients share"

/* Installs the authorizer on @db, with its state in @auth; @cfg (borrowed
 * for as long as @db lives) tells which pragma values the daemon set. */
void authorizer_install(struct authorizer *auth, sqlite3 *db,
                        const struct config *cfg);

#endif /* SQLITED_AUTHORIZER_H */
