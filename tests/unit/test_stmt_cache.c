/* A connection's cache of prepared statements (daemon/stmt_cache.c), on a
 * plain in-memory SQLite connection: hits by exact text, least recently
 * used out first, statements reset when kept, and clearing. Which
 * statements are still prepared is read from SQLite itself
 * (sqlite3_next_stmt), so a statement dropped must really be finalized. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "../../daemon/stmt_cache.h"

static sqlite3 *db;

static void open_db(void)
{
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
}

static void close_db(void)
{
    /* Fails (SQLITE_BUSY) if a test left a statement behind. */
    cr_assert_eq(sqlite3_close(db), SQLITE_OK, "statements left unfinalized");
}

/* The suite is shared with the integration tests of the daemon's cache
 * (test_reads.c): these set up their connection test by test. */
#define CACHE_TEST(name)                                                       \
    Test(stmt_cache, name, .init = open_db, .fini = close_db)

static sqlite3_stmt *prepare(const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    return st;
}

/* Statements prepared on the connection, cached or not. */
static int live(void)
{
    int n = 0;
    for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st;
         st = sqlite3_next_stmt(db, st))
        n++;
    return n;
}

static void put(struct stmt_cache *c, const char *sql)
{
    stmt_cache_put(c, sql, (uint32_t)strlen(sql), prepare(sql));
}

static sqlite3_stmt *take(struct stmt_cache *c, const char *sql)
{
    return stmt_cache_take(c, sql, (uint32_t)strlen(sql));
}

CACHE_TEST(the_same_text_takes_the_same_statement_once)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 4);
    sqlite3_stmt *st = prepare("SELECT 1");
    stmt_cache_put(&c, "SELECT 1", 8, st);
    cr_assert_eq(c.count, 1);
    cr_assert_eq(take(&c, "SELECT 1"), st);
    cr_assert_eq(c.count, 0, "taken out while it runs");
    cr_assert_null(take(&c, "SELECT 1"), "never handed out twice");
    stmt_cache_put(&c, "SELECT 1", 8, st);
    cr_assert_eq(take(&c, "SELECT 1"), st, "and back after use");
    sqlite3_finalize(st);
    stmt_cache_clear(&c);
}

CACHE_TEST(other_texts_miss)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 4);
    cr_assert_null(take(&c, "SELECT 1"), "an empty cache misses");
    put(&c, "SELECT 1");
    cr_assert_null(take(&c, "select 1"), "case matters");
    cr_assert_null(take(&c, "SELECT 1 "), "white space matters");
    cr_assert_null(take(&c, "SELECT 10"));
    cr_assert_null(take(&c, "SELECT "));
    cr_assert_eq(c.count, 1);
    stmt_cache_clear(&c);
}

CACHE_TEST(keys_are_byte_ranges_of_sql_with_trailing_text)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 4);
    /* The key is the first 9 bytes of a longer text, not a C string. */
    const char *script = "SELECT 1; SELECT 2";
    sqlite3_stmt *st = prepare("SELECT 1;");
    stmt_cache_put(&c, script, 9, st);
    cr_assert_null(take(&c, script), "the whole text is another key");
    cr_assert_null(stmt_cache_take(&c, "SELECT 1; SELECT 2", 8));
    cr_assert_eq(stmt_cache_take(&c, "SELECT 1;-- other tail", 9), st,
                 "the same 9 bytes hit, whatever follows them");
    sqlite3_finalize(st);
    stmt_cache_clear(&c);
}

CACHE_TEST(a_kept_statement_is_reset_and_its_bindings_cleared)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 4);
    sqlite3_stmt *st = prepare("SELECT ? UNION ALL SELECT 2");
    sqlite3_bind_int(st, 1, 42);
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert(sqlite3_stmt_busy(st));
    stmt_cache_put(&c, "SELECT ? UNION ALL SELECT 2", 27, st);
    cr_assert_not(sqlite3_stmt_busy(st), "reset when kept");
    st = take(&c, "SELECT ? UNION ALL SELECT 2");
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_type(st, 0), SQLITE_NULL,
                 "the last user's parameter is gone");
    sqlite3_finalize(st);
    stmt_cache_clear(&c);
}

CACHE_TEST(full_drops_the_least_recently_used)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 2);
    put(&c, "SELECT 1");
    put(&c, "SELECT 2");
    /* Used: 1 is now the most recent, 2 the least. */
    sqlite3_stmt *one = take(&c, "SELECT 1");
    stmt_cache_put(&c, "SELECT 1", 8, one);
    put(&c, "SELECT 3");
    cr_assert_eq(c.count, 2);
    cr_assert_eq(live(), 2, "the dropped statement is finalized");
    cr_assert_null(take(&c, "SELECT 2"), "the least recently used went");
    sqlite3_stmt *st = take(&c, "SELECT 1");
    cr_assert_eq(st, one);
    sqlite3_finalize(st);
    st = take(&c, "SELECT 3");
    cr_assert_not_null(st);
    sqlite3_finalize(st);
    cr_assert_eq(c.count, 0);
    stmt_cache_clear(&c);
}

CACHE_TEST(many_texts_keep_the_newest_capacity)
{
    enum { CAPACITY = 64, PUT = 300 };
    struct stmt_cache c;
    char sql[32];
    stmt_cache_init(&c, CAPACITY);
    for (int i = 0; i < PUT; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        put(&c, sql);
        cr_assert_leq(c.count, CAPACITY);
    }
    cr_assert_eq(c.count, CAPACITY);
    cr_assert_eq(live(), CAPACITY);
    for (int i = 0; i < PUT; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d", i);
        sqlite3_stmt *st = take(&c, sql);
        if (i < PUT - CAPACITY) {
            cr_assert_null(st, "%s was dropped", sql);
            continue;
        }
        cr_assert_not_null(st, "%s is kept", sql);
        cr_assert_str_eq(sqlite3_sql(st), sql);
        sqlite3_finalize(st);
    }
    cr_assert_eq(c.count, 0);
    stmt_cache_clear(&c);
}

CACHE_TEST(capacity_zero_keeps_nothing)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 0);
    put(&c, "SELECT 1");
    cr_assert_eq(c.count, 0);
    cr_assert_eq(live(), 0, "finalized instead of kept");
    cr_assert_null(take(&c, "SELECT 1"));
    stmt_cache_clear(&c);
}

CACHE_TEST(clear_finalizes_everything_and_the_cache_goes_on)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 8);
    put(&c, "SELECT 1");
    put(&c, "SELECT 2");
    put(&c, "SELECT 3");
    cr_assert_eq(live(), 3);
    stmt_cache_clear(&c);
    cr_assert_eq(live(), 0);
    cr_assert_eq(c.count, 0);
    cr_assert_eq(c.capacity, 8, "clearing keeps the capacity");
    cr_assert_null(take(&c, "SELECT 1"));
    put(&c, "SELECT 1");
    sqlite3_stmt *st = take(&c, "SELECT 1");
    cr_assert_not_null(st);
    sqlite3_finalize(st);
    stmt_cache_clear(&c);
    stmt_cache_clear(&c); /* twice is harmless */
}

/* Statements taken one inside the other (a batch's steps) go back under
 * their own texts, whichever comes back first: the entry kept from the last
 * take serves only its own text. */
CACHE_TEST(statements_taken_together_go_back_under_their_own_texts)
{
    struct stmt_cache c;
    stmt_cache_init(&c, 4);
    sqlite3_stmt *a = prepare("SELECT 1"), *b = prepare("SELECT 22");
    stmt_cache_put(&c, "SELECT 1", 8, a);
    stmt_cache_put(&c, "SELECT 22", 9, b);
    cr_assert_eq(take(&c, "SELECT 1"), a);
    cr_assert_eq(take(&c, "SELECT 22"), b);
    stmt_cache_put(&c, "SELECT 1", 8, a);
    stmt_cache_put(&c, "SELECT 22", 9, b);
    cr_assert_eq(c.count, 2);
    cr_assert_eq(take(&c, "SELECT 22"), b);
    cr_assert_eq(take(&c, "SELECT 1"), a);
    cr_assert_null(take(&c, "SELECT 22"));
    /* A statement taken and never put back costs nothing once cleared. */
    stmt_cache_put(&c, "SELECT 1", 8, a);
    sqlite3_finalize(b);
    stmt_cache_clear(&c);
    cr_assert_eq(live(), 0);
}
