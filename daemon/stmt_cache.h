/* A connection's prepared statements, kept by SQL text so that repeated SQL
 * is not parsed again: least recently used first out.
 *
 * A statement is taken out while it runs and put back when done, so the
 * same statement is never in use twice. Statements stay valid across schema
 * changes: SQLite prepares them again when it must (sqlite3_prepare_v3),
 * except pragmas, whose answer may be compiled in: execute.c never keeps them.
 * Owned by one worker thread; not locked.
 */
#ifndef SQLITED_STMT_CACHE_H
#define SQLITED_STMT_CACHE_H

#include <sqlite3.h>
#include <stdint.h>

struct stmt_entry;

struct stmt_cache {
    unsigned capacity; /* 0: keep nothing */
    unsigned count;
    unsigned nbuckets; /* a power of two, or 0 before the first put */
    struct stmt_entry **buckets;
    struct stmt_entry *newest, *oldest; /* the LRU list */
    /* The entry of the statement taken last, kept for its return: the put
     * that follows a take reuses it, hash and all, rather than freeing it
     * and building it again. */
    struct stmt_entry *spare;
};

void stmt_cache_init(struct stmt_cache *c, unsigned capacity);

/* Returns the statement prepared from exactly @sql[0..len), removing it from
 * the cache, or NULL. */
sqlite3_stmt *stmt_cache_take(struct stmt_cache *c, const char *sql,
                              uint32_t len);

/* Resets @st, clears its bindings and keeps it under @sql[0..len), dropping
 * (finalizing) the least recently used statement when full. Finalizes @st
 * when it cannot be kept. */
void stmt_cache_put(struct stmt_cache *c, const char *sql, uint32_t len,
                    sqlite3_stmt *st);

/* Finalizes every statement kept. */
void stmt_cache_clear(struct stmt_cache *c);

#endif /* SQLITED_STMT_CACHE_H */
