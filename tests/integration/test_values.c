/* Every SQLite value type survives the trip through the daemon: bound as a
 * parameter (positional and named), stored, and read back with its type. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

static void setup(void)
{
    db = harness_start_connected(&d, NULL);
    /* No declared type: the column has no affinity, so SQLite stores each
     * value exactly as bound (a REAL stays a REAL, -0.0 keeps its sign). */
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
}

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(values, .init = setup, .fini = teardown, .timeout = 60);

/* Inserts row @id with the value the caller added to @p after the id, using
 * positional parameters; closes @p. */
static void insert_params(sqlited_params *p)
{
    int rc = sqlited_exec(db, "INSERT INTO t(id, v) VALUES (?, ?)", p, NULL);
    cr_assert_eq(rc, 0, "insert: %d %s: %s", rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    cr_assert_eq(sqlited_changes(db), 1);
    sqlited_params_close(p);
}

/* Selects v and typeof(v) of row @id, checks the SQL type name, and returns
 * the rows positioned on that row. */
static sqlited_rows *select_row(int64_t id, const char *sql_type)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, id), 0);
    sqlited_rows *rows =
        harness_query(db, "SELECT v, typeof(v) FROM t WHERE id = ?", p);
    sqlited_params_close(p);
    cr_assert_eq(sqlited_rows_count(rows), 1, "row %lld", (long long)id);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 1), sql_type, "row %lld: typeof",
                     (long long)id);
    return rows;
}

static void insert_int(int64_t id, int64_t v)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, id), 0);
    cr_assert_eq(sqlited_params_add_int64(p, NULL, v), 0);
    insert_params(p);
}

static void insert_double(int64_t id, double v)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, id), 0);
    cr_assert_eq(sqlited_params_add_double(p, NULL, v), 0);
    insert_params(p);
}

Test(values, integers)
{
    /* Every MessagePack integer encoding, both ends of each. */
    static const int64_t ints[] = {
        0,
        1,
        -1,
        127,
        128,
        -32,
        -33,
        -128,
        -129,
        255,
        256,
        65535,
        65536,
        -32768,
        -32769,
        4294967295,
        4294967296,
        INT32_MIN,
        -2147483649,
        INT64_MAX,
        INT64_MIN,
        INT64_MAX - 1,
        INT64_MIN + 1,
    };
    size_t n = sizeof(ints) / sizeof(ints[0]);
    for (size_t i = 0; i < n; i++)
        insert_int((int64_t)i + 1, ints[i]);
    for (size_t i = 0; i < n; i++) {
        sqlited_rows *rows = select_row((int64_t)i + 1, "integer");
        cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_INTEGER);
        cr_assert_eq(sqlited_column_int64(rows, 0), ints[i],
                     "value %lld came back as %lld", (long long)ints[i],
                     (long long)sqlited_column_int64(rows, 0));
        cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
        sqlited_rows_close(rows);
    }
}

Test(values, doubles)
{
    static const double reals[] = {
        1.0,     0.5,    -2.25, 3.141592653589793, 1e308,
        -1e-308, 5e-324, 1e15,  1.0e100,           123456789.0};
    size_t n = sizeof(reals) / sizeof(reals[0]);
    for (size_t i = 0; i < n; i++)
        insert_double((int64_t)i + 1, reals[i]);
    for (size_t i = 0; i < n; i++) {
        sqlited_rows *rows = select_row((int64_t)i + 1, "real");
        /* 1.0 must stay a REAL, not turn into the INTEGER 1. */
        cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_FLOAT,
                     "%.17g came back with type %d", reals[i],
                     sqlited_column_type(rows, 0));
        cr_assert(sqlited_column_double(rows, 0) == reals[i],
                  "%.17g came back as %.17g", reals[i],
                  sqlited_column_double(rows, 0));
        sqlited_rows_close(rows);
    }
}

Test(values, negative_zero_keeps_its_sign)
{
    insert_double(1, -0.0);
    sqlited_rows *rows = select_row(1, "real");
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_FLOAT);
    double v = sqlited_column_double(rows, 0);
    cr_assert(v == 0.0 && signbit(v), "-0.0 came back as %g", v);
    sqlited_rows_close(rows);

    /* And -0.0 computed by SQLite itself. */
    rows = harness_query(db, "SELECT -0.0", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_FLOAT);
    v = sqlited_column_double(rows, 0);
    cr_assert(v == 0.0 && signbit(v), "SELECT -0.0 gave %g", v);
    sqlited_rows_close(rows);
}

Test(values, infinities)
{
    insert_double(1, INFINITY);
    insert_double(2, -INFINITY);
    sqlited_rows *rows = select_row(1, "real");
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_FLOAT);
    cr_assert(isinf(sqlited_column_double(rows, 0)) &&
              sqlited_column_double(rows, 0) > 0);
    sqlited_rows_close(rows);
    rows = select_row(2, "real");
    cr_assert(isinf(sqlited_column_double(rows, 0)) &&
              sqlited_column_double(rows, 0) < 0);
    sqlited_rows_close(rows);
}

/* SQLite never stores NaN: sqlite3_bind_double(NaN) binds NULL. */
Test(values, nan_is_stored_as_null)
{
    insert_double(1, NAN);
    sqlited_rows *rows = select_row(1, "null");
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_NULL);
    sqlited_rows_close(rows);
}

Test(values, text)
{
    /* Multibyte UTF-8 of every length: 2 (é, ö), 3 (—, ✓, 日本語), 4 (𝄞). */
    static const char *texts[] = {
        "hello",
        "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe2\x9c\x93 \xf0\x9d\x84\x9e "
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "",
        "quote ' and \" and \\ and\nnewline",
    };
    size_t n = sizeof(texts) / sizeof(texts[0]);
    for (size_t i = 0; i < n; i++) {
        sqlited_params *p = harness_params_new();
        cr_assert_eq(sqlited_params_add_int64(p, NULL, (int64_t)i + 1), 0);
        cr_assert_eq(sqlited_params_add_text(p, NULL, texts[i], -1), 0);
        insert_params(p);
    }
    for (size_t i = 0; i < n; i++) {
        sqlited_rows *rows = select_row((int64_t)i + 1, "text");
        cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_TEXT);
        /* Empty text is TEXT "", not NULL. */
        cr_assert_not_null(sqlited_column_text(rows, 0), "text %zu", i);
        cr_assert_str_eq(sqlited_column_text(rows, 0), texts[i]);
        cr_assert_eq(sqlited_column_bytes(rows, 0), strlen(texts[i]));
        sqlited_rows_close(rows);
    }
    /* SQLite counts characters, not bytes: the daemon stored UTF-8. */
    cr_assert_eq(harness_query_int(db, "SELECT length(v) FROM t WHERE id = 2"),
                 21);
}

Test(values, text_with_nul_and_explicit_length)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, "a\0bcdef", 3), 0);
    insert_params(p);
    sqlited_rows *rows = select_row(1, "text");
    cr_assert_eq(sqlited_column_bytes(rows, 0), 3);
    cr_assert_eq(memcmp(sqlited_column_blob(rows, 0), "a\0b", 3), 0);
    sqlited_rows_close(rows);
}

Test(values, long_text)
{
    size_t len = 300000;
    char *text = malloc(len + 1);
    cr_assert_not_null(text);
    for (size_t i = 0; i < len; i++)
        text[i] = (char)('a' + i % 26);
    text[len] = '\0';
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, text, -1), 0);
    insert_params(p);
    sqlited_rows *rows = select_row(1, "text");
    cr_assert_eq(sqlited_column_bytes(rows, 0), len);
    cr_assert_str_eq(sqlited_column_text(rows, 0), text);
    sqlited_rows_close(rows);
    free(text);
}

Test(values, blobs)
{
    static const unsigned char nuls[] = {0, 1, 0, 255, 0};
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;

    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    cr_assert_eq(sqlited_params_add_blob(p, NULL, nuls, sizeof(nuls)), 0);
    insert_params(p);
    p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 2), 0);
    cr_assert_eq(sqlited_params_add_blob(p, NULL, all, sizeof(all)), 0);
    insert_params(p);

    sqlited_rows *rows = select_row(1, "blob");
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_BLOB);
    cr_assert_eq(sqlited_column_bytes(rows, 0), sizeof(nuls));
    cr_assert_eq(memcmp(sqlited_column_blob(rows, 0), nuls, sizeof(nuls)), 0);
    cr_assert_null(sqlited_column_text(rows, 0));
    sqlited_rows_close(rows);

    rows = select_row(2, "blob");
    cr_assert_eq(sqlited_column_bytes(rows, 0), sizeof(all));
    cr_assert_eq(memcmp(sqlited_column_blob(rows, 0), all, sizeof(all)), 0);
    sqlited_rows_close(rows);
    cr_assert_eq(harness_query_int(db, "SELECT length(v) FROM t WHERE id = 2"),
                 256);
}

/* An empty bin is an empty BLOB: not NULL, not TEXT. */
Test(values, empty_blob_stays_a_blob)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    cr_assert_eq(sqlited_params_add_blob(p, NULL, NULL, 0), 0);
    insert_params(p);
    sqlited_rows *rows = select_row(1, "blob");
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_BLOB);
    cr_assert_eq(sqlited_column_bytes(rows, 0), 0);
    sqlited_rows_close(rows);
    cr_assert_eq(harness_query_int(db, "SELECT length(v) FROM t WHERE id = 1"),
                 0);
    cr_assert_eq(harness_query_int(db, "SELECT v IS NULL FROM t WHERE id = 1"),
                 0);

    /* And an empty blob computed by SQLite. */
    rows = harness_query(db, "SELECT x''", NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_BLOB);
    cr_assert_eq(sqlited_column_bytes(rows, 0), 0);
    sqlited_rows_close(rows);
}

Test(values, null)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    cr_assert_eq(sqlited_params_add_null(p, NULL), 0);
    insert_params(p);
    sqlited_rows *rows = select_row(1, "null");
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_NULL);
    cr_assert_null(sqlited_column_text(rows, 0));
    cr_assert_null(sqlited_column_blob(rows, 0));
    cr_assert_eq(sqlited_column_int64(rows, 0), 0);
    sqlited_rows_close(rows);
}

/* Every type bound in one statement and returned by it. */
Test(values, all_types_in_one_row)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, -7), 0);
    cr_assert_eq(sqlited_params_add_double(p, NULL, 2.5), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, "x\xc3\xa9", -1), 0);
    cr_assert_eq(sqlited_params_add_blob(p, NULL, "\0\1", 2), 0);
    cr_assert_eq(sqlited_params_add_null(p, NULL), 0);
    sqlited_rows *rows = harness_query(db, "SELECT ?, ?, ?, ?, ?", p);
    sqlited_params_close(p);
    cr_assert_eq(sqlited_rows_column_count(rows), 5);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_INTEGER);
    cr_assert_eq(sqlited_column_int64(rows, 0), -7);
    cr_assert_eq(sqlited_column_type(rows, 1), SQLITED_FLOAT);
    cr_assert(sqlited_column_double(rows, 1) == 2.5);
    cr_assert_eq(sqlited_column_type(rows, 2), SQLITED_TEXT);
    cr_assert_str_eq(sqlited_column_text(rows, 2), "x\xc3\xa9");
    cr_assert_eq(sqlited_column_type(rows, 3), SQLITED_BLOB);
    cr_assert_eq(sqlited_column_bytes(rows, 3), 2);
    cr_assert_eq(memcmp(sqlited_column_blob(rows, 3), "\0\1", 2), 0);
    cr_assert_eq(sqlited_column_type(rows, 4), SQLITED_NULL);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);
}

/* ?NNN: the value list binds by index, whatever the order in the SQL. */
Test(values, numbered_positional_params)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_text(p, NULL, "first", -1), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, "second", -1), 0);
    sqlited_rows *rows = harness_query(db, "SELECT ?2, ?1, ?2", p);
    sqlited_params_close(p);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(rows, 0), "second");
    cr_assert_str_eq(sqlited_column_text(rows, 1), "first");
    cr_assert_str_eq(sqlited_column_text(rows, 2), "second");
    sqlited_rows_close(rows);
}

/* Inserts (id, v) with @sql using names @id_key and @v_key, and checks the
 * row. */
static void assert_insert_named(const char *sql, const char *id_key,
                                const char *v_key, int64_t id, const char *v)
{
    sqlited_params *p = harness_params_new();
    /* Keys in the opposite order to the SQL: names, not positions, bind. */
    cr_assert_eq(sqlited_params_add_text(p, v_key, v, -1), 0);
    cr_assert_eq(sqlited_params_add_int64(p, id_key, id), 0);
    int rc = sqlited_exec(db, sql, p, NULL);
    sqlited_params_close(p);
    cr_assert_eq(rc, 0, "%s with %s, %s: %d %s: %s", sql, id_key, v_key, rc,
                 sqlited_errname(db), sqlited_errmsg(db));
    sqlited_rows *rows = select_row(id, "text");
    cr_assert_str_eq(sqlited_column_text(rows, 0), v, "%s", sql);
    sqlited_rows_close(rows);
}

Test(values, named_params_all_prefixes)
{
    assert_insert_named("INSERT INTO t(id, v) VALUES (:id, :v)", ":id", ":v", 1,
                        "colon");
    assert_insert_named("INSERT INTO t(id, v) VALUES (@id, @v)", "@id", "@v", 2,
                        "at");
    assert_insert_named("INSERT INTO t(id, v) VALUES ($id, $v)", "$id", "$v", 3,
                        "dollar");
}

Test(values, named_params_bare_keys)
{
    assert_insert_named("INSERT INTO t(id, v) VALUES (:id, :v)", "id", "v", 1,
                        "colon");
    assert_insert_named("INSERT INTO t(id, v) VALUES (@id, @v)", "id", "v", 2,
                        "at");
    assert_insert_named("INSERT INTO t(id, v) VALUES ($id, $v)", "id", "v", 3,
                        "dollar");
}

/* One name used twice in the SQL is one parameter, given once. */
Test(values, named_param_used_twice)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, "x", 21), 0);
    sqlited_rows *rows = harness_query(db, "SELECT :x + :x AS twice", p);
    sqlited_params_close(p);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 42);
    sqlited_rows_close(rows);
}

/* A parameter list is reusable across calls. */
Test(values, params_reused)
{
    sqlited_params *p = harness_params_new();
    for (int64_t id = 1; id <= 3; id++) {
        sqlited_params_clear(p);
        cr_assert_eq(sqlited_params_count(p), 0);
        cr_assert_eq(sqlited_params_add_int64(p, ":id", id), 0);
        cr_assert_eq(sqlited_params_add_int64(p, ":v", id * 10), 0);
        cr_assert_eq(sqlited_params_count(p), 2);
        cr_assert_eq(
            sqlited_exec(db, "INSERT INTO t VALUES (:id, :v)", p, NULL), 0,
            "%s", sqlited_errmsg(db));
    }
    sqlited_params_close(p);
    cr_assert_eq(harness_query_int(db, "SELECT sum(v) FROM t"), 60);
}

Test(values, column_names_and_types)
{
    sqlited_rows *rows =
        harness_query(db,
                      "SELECT 1 AS a, 2.5 AS b, 'x' AS \"c d\", "
                      "x'00ff' AS e, NULL AS f, 1 + 1",
                      NULL);
    cr_assert_eq(sqlited_rows_column_count(rows), 6);
    static const char *names[] = {"a", "b", "c d", "e", "f", "1 + 1"};
    static const int types[] = {SQLITED_INTEGER, SQLITED_FLOAT,
                                SQLITED_TEXT,    SQLITED_BLOB,
                                SQLITED_NULL,    SQLITED_INTEGER};
    for (int i = 0; i < 6; i++)
        cr_assert_str_eq(sqlited_rows_column_name(rows, i), names[i]);
    cr_assert_eq(sqlited_rows_count(rows), 1);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(sqlited_column_type(rows, i), types[i], "column %d", i);
    cr_assert_eq(sqlited_column_int64(rows, 5), 2);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);
}

/* Column names come with the result even when there are no rows. */
Test(values, columns_of_an_empty_result)
{
    sqlited_rows *rows =
        harness_query(db, "SELECT id, v AS value FROM t", NULL);
    cr_assert_eq(sqlited_rows_column_count(rows), 2);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 0), "id");
    cr_assert_str_eq(sqlited_rows_column_name(rows, 1), "value");
    cr_assert_eq(sqlited_rows_count(rows), 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);
}

Test(values, rows_count_and_order)
{
    harness_exec(db, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                     "FROM c WHERE x < 1000) INSERT INTO t SELECT x, x * x "
                     "FROM c");
    sqlited_rows *rows =
        harness_query(db, "SELECT id, v FROM t ORDER BY id", NULL);
    cr_assert_eq(sqlited_rows_count(rows), 1000);
    int64_t n = 0;
    int rc;
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        n++;
        cr_assert_eq(sqlited_column_int64(rows, 0), n);
        cr_assert_eq(sqlited_column_int64(rows, 1), n * n);
    }
    cr_assert_eq(rc, SQLITED_DONE);
    cr_assert_eq(n, 1000);
    sqlited_rows_close(rows);
}

/* Booleans exist on the wire only (libsqlited has no boolean type): they
 * bind as the integers 1 and 0. */
Test(values, booleans_bind_as_integers)
{
    struct harness_raw c;
    struct reply rep;

    harness_raw_open(&c, &d);
    harness_pack_request(&c.b, 9, "query", 2);
    codec_pack_cstr(&c.b, "SELECT ?, typeof(?), ?, ? + 1");
    msgpack_pack_array(&c.b.pk, 4);
    msgpack_pack_true(&c.b.pk);
    msgpack_pack_true(&c.b.pk);
    msgpack_pack_false(&c.b.pk);
    msgpack_pack_true(&c.b.pk);
    harness_send_buf(c.fd, &c.b);

    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.kind, 1);
    cr_assert_eq(rep.msgid, 9);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    uint32_t nrows, ncols;
    struct codec_reader row = harness_reply_rows(&rep, &nrows, &ncols);
    cr_assert_eq(nrows, 1);
    cr_assert_eq(ncols, 4);
    struct codec_value v;
    cr_assert_eq(codec_read(&row, &v), 0);
    cr_assert_eq(v.type, CODEC_INT, "true came back with type %d", v.type);
    cr_assert_eq(v.v.i, 1);
    cr_assert(harness_read_str_eq(&row, "integer"));
    cr_assert_eq(codec_read(&row, &v), 0);
    cr_assert_eq(v.type, CODEC_INT);
    cr_assert_eq(v.v.i, 0);
    cr_assert_eq(codec_read(&row, &v), 0);
    cr_assert_eq(v.type, CODEC_INT);
    cr_assert_eq(v.v.i, 2);
    reply_free(&rep);

    /* Stored in a table, a boolean is an INTEGER too. */
    harness_pack_request(&c.b, 10, "exec", 2);
    codec_pack_cstr(&c.b, "INSERT INTO t(id, v) VALUES (1, ?)");
    msgpack_pack_array(&c.b.pk, 1);
    msgpack_pack_true(&c.b.pk);
    harness_send_buf(c.fd, &c.b);
    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.msgid, 10);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    sqlited_rows *res = select_row(1, "integer");
    cr_assert_eq(sqlited_column_int64(res, 0), 1);
    sqlited_rows_close(res);

    harness_raw_close(&c);
}
