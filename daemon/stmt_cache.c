#include "stmt_cache.h"

#include <stdlib.h>
#include <string.h>

struct stmt_entry {
    struct stmt_entry *chain;         /* the next in its bucket */
    struct stmt_entry *newer, *older; /* the LRU list */
    sqlite3_stmt *st;
    uint64_t hash;
    uint32_t len;
    char sql[]; /* not NUL-terminated */
};

/* FNV-1a: SQL texts are short and few; nothing fancier is needed. */
static uint64_t hash(const char *s, uint32_t len)
{
    uint64_t h = 14695981039346656037u;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

void stmt_cache_init(struct stmt_cache *c, unsigned capacity)
{
    *c = (struct stmt_cache){.capacity = capacity};
}

/* Unlinks @e from its bucket and from the LRU list. */
static void unlink_entry(struct stmt_cache *c, struct stmt_entry *e)
{
    struct stmt_entry **link = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*link != e)
        link = &(*link)->chain;
    *link = e->chain;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    c->count--;
}

sqlite3_stmt *stmt_cache_take(struct stmt_cache *c, const char *sql,
                              uint32_t len)
{
    if (c->count == 0)
        return NULL;
    uint64_t h = hash(sql, len);
    for (struct stmt_entry *e = c->buckets[h & (c->nbuckets - 1)]; e;
         e = e->chain) {
        if (e->hash == h && e->len == len && memcmp(e->sql, sql, len) == 0) {
            sqlite3_stmt *st = e->st;
            unlink_entry(c, e);
            free(c->spare);
            c->spare = e;
            return st;
        }
    }
    return NULL;
}

void stmt_cache_put(struct stmt_cache *c, const char *sql, uint32_t len,
                    sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (c->capacity == 0) {
        sqlite3_finalize(st);
        return;
    }
    if (c->buckets == NULL) {
        unsigned n = 1;
        while (n < c->capacity)
            n <<= 1;
        c->buckets = calloc(n, sizeof(*c->buckets));
        if (c->buckets == NULL) {
            sqlite3_finalize(st);
            return;
        }
        c->nbuckets = n;
    }
    struct stmt_entry *e = c->spare;
    c->spare = NULL;
    if (e != NULL && (e->len != len || memcmp(e->sql, sql, len) != 0)) {
        free(e);
        e = NULL;
    }
    if (e == NULL) {
        e = malloc(sizeof(*e) + len);
        if (e == NULL) {
            sqlite3_finalize(st);
            return;
        }
        e->hash = hash(sql, len);
        e->len = len;
        memcpy(e->sql, sql, len);
    }
    if (c->count >= c->capacity) {
        struct stmt_entry *old = c->oldest;
        unlink_entry(c, old);
        sqlite3_finalize(old->st);
        free(old);
    }
    e->st = st;
    struct stmt_entry **bucket = &c->buckets[e->hash & (c->nbuckets - 1)];
    e->chain = *bucket;
    *bucket = e;
    e->newer = NULL;
    e->older = c->newest;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->count++;
}

void stmt_cache_clear(struct stmt_cache *c)
{
    struct stmt_entry *e = c->newest;
    while (e) {
        struct stmt_entry *older = e->older;
        sqlite3_finalize(e->st);
        free(e);
        e = older;
    }
    free(c->buckets);
    free(c->spare);
    stmt_cache_init(c, c->capacity);
}
