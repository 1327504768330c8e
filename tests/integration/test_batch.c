/* Writes that apply whole or not at all (PROTOCOL.md, exec, batch, bulk):
 * an exec script, a batch of steps, a bulk of parameter sets. Transactions
 * in SQL are refused: the daemon owns those of its shared connection. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw conn;
static sqlited *db;

static void setup(void)
{
    db = harness_start_with_raw(&d, &conn, NULL);
    harness_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, "
                     "x INTEGER UNIQUE, s TEXT)");
}

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &conn);
}

TestSuite(atomic, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(batch, .init = setup, .fini = teardown, .timeout = 60);
TestSuite(bulk, .init = setup, .fini = teardown, .timeout = 60);

static int64_t count_rows(void)
{
    return harness_query_int(db, "SELECT count(*) FROM t");
}

/* The reply to the request just packed in conn.b as @msgid. */
static void call(uint32_t msgid, struct reply *rep)
{
    harness_raw_call(&conn, msgid, rep);
}

/* Sends each of @n malformed requests that @pack appends (case c as
 * msgid c + 1), and expects SQLITED_BAD_REQUEST for each; cases
 * @stepped_from to @stepped_to - 1 are a bad second step, which the error
 * must name. */
static void expect_bad_requests(void (*pack)(uint32_t msgid, uint32_t c),
                                uint32_t n, uint32_t stepped_from,
                                uint32_t stepped_to)
{
    for (uint32_t c = 0; c < n; c++) {
        struct reply rep;
        pack(c + 1, c);
        call(c + 1, &rep);
        cr_assert(rep.is_error, "case %u was accepted", c);
        cr_assert_eq(rep.code, SQLITED_BAD_REQUEST, "case %u: %lld %s: %s", c,
                     (long long)rep.code, rep.name, rep.message);
        harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                             NULL);
        if (c >= stepped_from && c < stepped_to) {
            cr_assert(rep.has_step && rep.step == 1,
                      "case %u: the error does not name step 1", c);
            cr_assert_eq(strncmp(rep.message, "step 1: ", 8), 0,
                         "case %u: message '%s'", c, rep.message);
        }
        reply_free(&rep);
    }
}

/* The answer to request @msgid must be a failure of t.x's UNIQUE
 * constraint at step (or set) @step; the caller frees @rep. */
static void expect_unique_failure_at(uint32_t msgid, int64_t step,
                                     struct reply *rep)
{
    call(msgid, rep);
    harness_assert_error(rep, 2067, "SQLITE_CONSTRAINT_UNIQUE",
                         "UNIQUE constraint failed: t.x");
    cr_assert(rep->has_step, "the error has no \"step\"");
    cr_assert_eq(rep->step, step);
}

static void pack_int_params(int64_t v)
{
    msgpack_pack_array(&conn.b.pk, 1);
    msgpack_pack_int64(&conn.b.pk, v);
}

/* ------------------------------------------------------------------ exec */

/* A script whose second statement fails leaves nothing of the first. */
Test(atomic, failed_script_applies_nothing)
{
    int rc = sqlited_exec(db,
                          "INSERT INTO t(x) VALUES (1); "
                          "INSERT INTO t(x) VALUES (1)",
                          NULL, NULL);
    cr_assert_eq(rc, 2067, "rc %d %s: %s", rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    cr_assert_str_eq(sqlited_errname(db), "SQLITE_CONSTRAINT_UNIQUE");
    cr_assert_eq(count_rows(), 0, "the first statement of the script stayed");

    rc = sqlited_exec(db,
                      "INSERT INTO t(x) VALUES (2); UPDATE t SET s = 'a'; "
                      "INSERT INTO nope VALUES (1)",
                      NULL, NULL);
    cr_assert_eq(rc, 1, "rc %d %s: %s", rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    cr_assert_not_null(strstr(sqlited_errmsg(db), "no such table"), "%s",
                       sqlited_errmsg(db));
    cr_assert_eq(count_rows(), 0);

    /* A script that succeeds applies all of it. */
    harness_exec(db,
                 "INSERT INTO t(x) VALUES (1); INSERT INTO t(x) VALUES (2)");
    cr_assert_eq(count_rows(), 2);
}

/* Transaction control in SQL, alone or inside a script, is refused with a
 * message that points at the transaction methods, and applies nothing. */
Test(atomic, transaction_control_is_refused)
{
    static const char *const sqls[] = {
        "BEGIN",
        "BEGIN IMMEDIATE TRANSACTION",
        "BEGIN EXCLUSIVE",
        "COMMIT",
        "END",
        "ROLLBACK",
        "SAVEPOINT s",
        "RELEASE s",
        "RELEASE SAVEPOINT s",
        "ROLLBACK TO s",
        "Begin;",
        "  /* a comment */ BEGIN",
        "INSERT INTO t(x) VALUES (1); BEGIN",
        "BEGIN; INSERT INTO t(x) VALUES (2); COMMIT",
        "INSERT INTO t(x) VALUES (3); SAVEPOINT s; RELEASE s",
    };
    for (size_t i = 0; i < sizeof(sqls) / sizeof(sqls[0]); i++) {
        int rc = sqlited_exec(db, sqls[i], NULL, NULL);
        cr_assert_eq(rc, SQLITED_BAD_REQUEST, "exec(%s): rc %d %s: %s", sqls[i],
                     rc, sqlited_errname(db), sqlited_errmsg(db));
        cr_assert_str_eq(sqlited_errname(db), "SQLITED_BAD_REQUEST");
        cr_assert_not_null(strstr(sqlited_errmsg(db), "begin"),
                           "exec(%s): message '%s' does not name begin",
                           sqls[i], sqlited_errmsg(db));
    }
    cr_assert_eq(count_rows(), 0);
    /* The writer is not left inside a transaction of its own. */
    harness_exec(db, "INSERT INTO t(x) VALUES (4)");
    cr_assert_eq(count_rows(), 1);
}

/* A read request may not open a transaction on a reader connection
 * either. */
Test(atomic, transaction_control_is_refused_in_query)
{
    static const char *const sqls[] = {"BEGIN", "SAVEPOINT s", "COMMIT",
                                       "ROLLBACK"};
    for (size_t i = 0; i < sizeof(sqls) / sizeof(sqls[0]); i++) {
        sqlited_rows *rows = NULL;
        int rc = sqlited_query(db, sqls[i], NULL, &rows);
        cr_assert_eq(rc, SQLITED_BAD_REQUEST, "query(%s): rc %d %s: %s",
                     sqls[i], rc, sqlited_errname(db), sqlited_errmsg(db));
        cr_assert_not_null(strstr(sqlited_errmsg(db), "begin"), "%s",
                           sqlited_errmsg(db));
        sqlited_rows_close(rows);
    }
    harness_exec(db, "INSERT INTO t(x) VALUES (1)");
    cr_assert_eq(count_rows(), 1);
}

/* The words alone are no transaction control: a trigger's BEGIN ... END, a
 * string, a column name. */
Test(atomic, keywords_in_other_statements_are_allowed)
{
    harness_exec(db, "CREATE TABLE log(x INTEGER, \"commit\" TEXT);"
                     "CREATE TRIGGER t_log AFTER INSERT ON t BEGIN "
                     "INSERT INTO log VALUES (new.x, 'end'); END");
    harness_exec(db, "INSERT INTO t(x, s) VALUES (1, 'BEGIN; ROLLBACK')");
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM log "
                                       "WHERE x = 1 AND \"commit\" = 'end'"),
                 1);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t WHERE "
                                       "s = 'BEGIN; ROLLBACK'"),
                 1);
}

/* VACUUM cannot run inside a transaction; the daemon runs it alone between
 * groups, so it works through exec, among other writes. */
Test(atomic, vacuum_runs)
{
    harness_exec(db,
                 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 "
                 "FROM c WHERE i < 2000) "
                 "INSERT INTO t(x, s) SELECT i, hex(randomblob(100)) FROM c");
    harness_exec(db, "DELETE FROM t WHERE x > 10");
    /* Pipelined, so the writer finds the VACUUM between other writes. */
    harness_pack_sql(&conn.b, 1, "exec", "INSERT INTO t(x) VALUES (100)");
    harness_pack_sql(&conn.b, 2, "exec", "VACUUM");
    harness_pack_sql(&conn.b, 3, "exec", "INSERT INTO t(x) VALUES (101)");
    harness_send_buf(conn.fd, &conn.b);
    for (int i = 0; i < 3; i++) {
        struct reply rep;
        harness_read_reply(&conn.r, &rep);
        cr_assert_not(rep.is_error, "msgid %u: %s: %s", rep.msgid, rep.name,
                      rep.message);
        reply_free(&rep);
    }
    cr_assert_eq(count_rows(), 12);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 55 + 201);
    cr_assert_eq(sqlited_exec(db, "VACUUM", NULL, NULL), 0, "%s",
                 sqlited_errmsg(db));
    cr_assert_eq(count_rows(), 12);
}

/* ----------------------------------------------------------------- batch */

/* Appends step ["INSERT INTO t(x) VALUES (?)", [x]]. */
static void pack_insert_step(int64_t x)
{
    msgpack_pack_array(&conn.b.pk, 2);
    codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
    pack_int_params(x);
}

/* Appends step [sql]. */
static void pack_sql_step(const char *sql)
{
    msgpack_pack_array(&conn.b.pk, 1);
    codec_pack_cstr(&conn.b, sql);
}

/* Appends batch request @msgid of the inserts of @xs[0..n), options @o. */
static void pack_insert_batch(uint32_t msgid, const int64_t *xs, uint32_t n,
                              const struct harness_options *o)
{
    harness_pack_request(&conn.b, msgid, "batch", 2);
    msgpack_pack_array(&conn.b.pk, n);
    for (uint32_t i = 0; i < n; i++)
        pack_insert_step(xs[i]);
    harness_pack_options(&conn.b, o);
}

/* With @rep a successful batch of @n steps, readers on its results and
 * errors arrays, each on its first entry. */
static void batch_arrays(const struct reply *rep, uint32_t n,
                         struct codec_reader *results,
                         struct codec_reader *errors)
{
    uint32_t len;
    cr_assert_not(rep->is_error, "batch: %s: %s", rep->name, rep->message);
    cr_assert(harness_map_find(rep->result, "results", results));
    cr_assert(harness_map_find(rep->result, "errors", errors));
    cr_assert_eq(codec_read_array(results, &len), 0, "results not an array");
    cr_assert_eq(len, n, "%u results for %u steps", len, n);
    cr_assert_eq(codec_read_array(errors, &len), 0, "errors not an array");
    cr_assert_eq(len, n, "%u errors for %u steps", len, n);
}

/* Reads a nil, or fails the test naming @what. */
static void read_nil(struct codec_reader *r, const char *what)
{
    struct codec_value v;
    cr_assert_eq(codec_read(r, &v), 0, "%s", what);
    cr_assert_eq(v.type, CODEC_NIL, "%s is not nil", what);
}

/* Reads a result map into @map (left on the map) and skips it in @r. */
static void read_result(struct codec_reader *r, struct codec_reader *map,
                        const char *what)
{
    *map = *r;
    uint32_t n;
    cr_assert_eq(codec_read_map(r, &n), 0, "%s is not a map", what);
    *r = *map;
    cr_assert_eq(codec_skip(r), 0);
}

Test(batch, atomic_success_returns_each_result)
{
    harness_pack_request(&conn.b, 1, "batch", 1);
    msgpack_pack_array(&conn.b.pk, 4);
    pack_insert_step(10);
    pack_sql_step("INSERT INTO t(x) VALUES (20) RETURNING id, x * 2 AS y");
    pack_sql_step("UPDATE t SET s = 'u'");
    pack_sql_step("SELECT count(*) FROM t WHERE s = 'u'");
    struct reply rep;
    call(1, &rep);
    struct codec_reader results, errors, map, v;
    batch_arrays(&rep, 4, &results, &errors);

    read_result(&results, &map, "results[0]");
    cr_assert_eq(harness_result_int(map, "changes"), 1);
    cr_assert_eq(harness_result_int(map, "last_insert_rowid"), 1);

    read_result(&results, &map, "results[1]");
    cr_assert_eq(harness_result_int(map, "changes"), 1);
    cr_assert_eq(harness_result_int(map, "last_insert_rowid"), 2);
    cr_assert(harness_map_find(map, "columns", &v), "RETURNING: no columns");
    uint32_t n;
    cr_assert_eq(codec_read_array(&v, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert(harness_read_str_eq(&v, "id"));
    cr_assert(harness_read_str_eq(&v, "y"));
    struct reply step = {.result = map};
    uint32_t nrows, ncols;
    struct codec_reader row = harness_reply_rows(&step, &nrows, &ncols);
    int64_t id, y;
    cr_assert_eq(nrows, 1);
    cr_assert_eq(ncols, 2);
    cr_assert_eq(codec_read_int64(&row, &id), 0);
    cr_assert_eq(codec_read_int64(&row, &y), 0);
    cr_assert_eq(id, 2);
    cr_assert_eq(y, 40);

    read_result(&results, &map, "results[2]");
    cr_assert_eq(harness_result_int(map, "changes"), 2);

    read_result(&results, &map, "results[3]");
    step.result = map;
    cr_assert_eq(harness_reply_int(&step), 2);

    for (int i = 0; i < 4; i++)
        read_nil(&errors, "an error of a successful step");
    reply_free(&rep);
    cr_assert_eq(count_rows(), 2);
}

/* The first failing step fails the whole batch: its error names the step,
 * and nothing of the batch, before or after that step, is applied. */
Test(batch, atomic_failure_applies_nothing)
{
    harness_exec(db, "INSERT INTO t(x) VALUES (5)");
    static const int64_t xs[] = {1, 2, 5, 3};
    pack_insert_batch(1, xs, 4, NULL);
    struct reply rep;
    expect_unique_failure_at(1, 2, &rep);
    cr_assert_eq(strncmp(rep.message, "step 2: ", 8), 0,
                 "message '%s' does not start with 'step 2: '", rep.message);
    reply_free(&rep);
    cr_assert_eq(count_rows(), 1);

    /* The same with "atomic": true said explicitly, failing at step 0. */
    static const int64_t first_bad[] = {5, 6};
    pack_insert_batch(
        2, first_bad, 2,
        &(struct harness_options){.has_atomic = true, .atomic = true});
    call(2, &rep);
    harness_assert_error(&rep, 2067, "SQLITE_CONSTRAINT_UNIQUE", "step 0: ");
    cr_assert(rep.has_step);
    cr_assert_eq(rep.step, 0);
    reply_free(&rep);
    cr_assert_eq(count_rows(), 1);
}

/* "atomic": false runs every step in its own savepoint: failed steps are
 * undone whole and reported in errors, the others are applied. */
Test(batch, non_atomic_applies_the_other_steps)
{
    harness_exec(db, "INSERT INTO t(x) VALUES (5)");
    harness_pack_request(&conn.b, 1, "batch", 2);
    msgpack_pack_array(&conn.b.pk, 5);
    pack_insert_step(1);
    /* Fails in its second statement: its first is undone with it. */
    pack_sql_step("INSERT INTO t(x) VALUES (7); INSERT INTO t(x) VALUES (5)");
    pack_insert_step(2);
    pack_sql_step("INSERT INTO nope VALUES (1)");
    pack_insert_step(3);
    harness_pack_options(&conn.b, &(struct harness_options){.has_atomic = true,
                                                            .atomic = false});
    struct reply rep;
    call(1, &rep);
    struct codec_reader results, errors, map;
    batch_arrays(&rep, 5, &results, &errors);
    for (int i = 0; i < 5; i++) {
        char what[32];
        snprintf(what, sizeof(what), "step %d", i);
        if (i == 1 || i == 3) {
            read_nil(&results, what);
            struct reply err;
            harness_read_error(&errors, &err);
            if (i == 1)
                harness_assert_error(&err, 2067, "SQLITE_CONSTRAINT_UNIQUE",
                                     "UNIQUE constraint failed: t.x");
            else
                harness_assert_error(&err, 1, "SQLITE_ERROR", "no such table");
        } else {
            read_result(&results, &map, what);
            cr_assert_eq(harness_result_int(map, "changes"), 1, "%s", what);
            read_nil(&errors, what);
        }
    }
    reply_free(&rep);
    cr_assert_eq(count_rows(), 4);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"), 11);
}

/* Appends batch request @msgid, malformed in the way of case @c (0 to
 * BAD_BATCHES - 1). Cases FIRST_BAD_STEP and later have a valid first
 * step; those before END_BAD_STEP a malformed second one. */
enum { FIRST_BAD_STEP = 4, END_BAD_STEP = 9, BAD_BATCHES = 11 };
static void pack_bad_batch(uint32_t msgid, uint32_t c)
{
    msgpack_packer *pk = &conn.b.pk;
    if (c >= FIRST_BAD_STEP && c < END_BAD_STEP) {
        /* [[valid step, bad step]] */
        harness_pack_request(&conn.b, msgid, "batch", 1);
        msgpack_pack_array(pk, 2);
        pack_insert_step(1);
    } else if (c >= END_BAD_STEP) {
        /* [[valid step], bad params after it] */
        harness_pack_request(&conn.b, msgid, "batch",
                             c == END_BAD_STEP ? 2 : 3);
        msgpack_pack_array(pk, 1);
        pack_insert_step(1);
    } else {
        harness_pack_request(&conn.b, msgid, "batch", c == 0 ? 0 : 1);
    }
    switch (c) {
    case 0: /* no steps at all */
        break;
    case 1: /* steps a string */
        codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (1)");
        break;
    case 2: /* steps a map */
        msgpack_pack_map(pk, 0);
        break;
    case 3: /* steps empty */
        msgpack_pack_array(pk, 0);
        break;
    case 4: /* a step that is a string */
        codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (2)");
        break;
    case 5: /* an empty step */
        msgpack_pack_array(pk, 0);
        break;
    case 6: /* a step whose SQL is not a string */
        msgpack_pack_array(pk, 1);
        msgpack_pack_int64(pk, 42);
        break;
    case 7: /* a step of three elements */
        msgpack_pack_array(pk, 3);
        codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
        pack_int_params(2);
        msgpack_pack_int64(pk, 7);
        break;
    case 8: /* a step whose params are neither array nor map */
        msgpack_pack_array(pk, 2);
        codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
        msgpack_pack_int64(pk, 2);
        break;
    case 9: /* atomic not a bool */
        msgpack_pack_map(pk, 1);
        codec_pack_cstr(&conn.b, "atomic");
        msgpack_pack_int64(pk, 0);
        break;
    default: /* a third param */
        msgpack_pack_nil(pk);
        msgpack_pack_int64(pk, 1);
        break;
    }
}

/* Malformed batches are refused whole with SQLITED_BAD_REQUEST; their valid
 * first step is not applied. */
Test(batch, bad_shapes_are_refused)
{
    expect_bad_requests(pack_bad_batch, BAD_BATCHES, FIRST_BAD_STEP,
                        END_BAD_STEP);
    cr_assert_eq(count_rows(), 0);
    /* The connection goes on. */
    static const int64_t xs[] = {1};
    pack_insert_batch(100, xs, 1, NULL);
    struct reply rep;
    call(100, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    reply_free(&rep);
    cr_assert_eq(count_rows(), 1);
}

/* A step holding transaction control is refused like exec's SQL, and so
 * the atomic batch around it applies nothing. */
Test(batch, transaction_control_in_a_step_is_refused)
{
    harness_pack_request(&conn.b, 1, "batch", 1);
    msgpack_pack_array(&conn.b.pk, 3);
    pack_insert_step(1);
    pack_sql_step("COMMIT");
    pack_insert_step(2);
    struct reply rep;
    call(1, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "begin");
    reply_free(&rep);
    cr_assert_eq(count_rows(), 0);
    /* The writer's transaction was not ended by the step: a later write
     * applies and stays. */
    harness_exec(db, "INSERT INTO t(x) VALUES (100)");
    cr_assert_eq(count_rows(), 1);
}

/* ------------------------------------------------------------------ bulk */

/* Appends bulk request @msgid of @sql over @n sets [i + @first] (i from 0),
 * with set @bad_at (if < n) replaced by [@bad_value]. */
static void pack_bulk(uint32_t msgid, const char *sql, uint32_t n,
                      int64_t first, uint32_t bad_at, int64_t bad_value)
{
    harness_pack_request(&conn.b, msgid, "bulk", 2);
    codec_pack_cstr(&conn.b, sql);
    msgpack_pack_array(&conn.b.pk, n);
    for (uint32_t i = 0; i < n; i++)
        pack_int_params(i == bad_at ? bad_value : first + i);
}

Test(bulk, hundred_thousand_sets)
{
    enum { N = 100000 };
    harness_pack_request(&conn.b, 1, "bulk", 2);
    codec_pack_cstr(&conn.b, "INSERT INTO t(x, s) VALUES (?, ?)");
    msgpack_pack_array(&conn.b.pk, N);
    for (int i = 1; i <= N; i++) {
        char s[32];
        msgpack_pack_array(&conn.b.pk, 2);
        msgpack_pack_int64(&conn.b.pk, i);
        snprintf(s, sizeof(s), "row %d", i);
        codec_pack_cstr(&conn.b, s);
    }
    struct reply rep;
    call(1, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert_eq(harness_result_int(rep.result, "changes"), N);
    cr_assert_eq(harness_result_int(rep.result, "last_insert_rowid"), N);
    reply_free(&rep);
    cr_assert_eq(count_rows(), N);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t"),
                 (int64_t)N * (N + 1) / 2);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t "
                                       "WHERE s != 'row ' || x OR id != x"),
                 0);
}

/* Sets may be maps of named parameters. */
Test(bulk, named_sets)
{
    harness_pack_request(&conn.b, 1, "bulk", 2);
    codec_pack_cstr(&conn.b, "INSERT INTO t(x, s) VALUES (:x, :s)");
    msgpack_pack_array(&conn.b.pk, 3);
    for (int i = 1; i <= 3; i++) {
        msgpack_pack_map(&conn.b.pk, 2);
        codec_pack_cstr(&conn.b, i == 2 ? ":s" : "s");
        codec_pack_cstr(&conn.b, "named");
        codec_pack_cstr(&conn.b, i == 3 ? ":x" : "x");
        msgpack_pack_int64(&conn.b.pk, i);
    }
    struct reply rep;
    call(1, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert_eq(harness_result_int(rep.result, "changes"), 3);
    reply_free(&rep);
    cr_assert_eq(harness_query_int(db, "SELECT sum(x) FROM t "
                                       "WHERE s = 'named'"),
                 6);
}

/* One failing set fails the bulk: nothing is applied, and the error names
 * the set. */
Test(bulk, failing_set_applies_nothing)
{
    harness_exec(db, "INSERT INTO t(x) VALUES (-7)");
    pack_bulk(1, "INSERT INTO t(x) VALUES (?)", 1000, 1, 700, -7);
    struct reply rep;
    expect_unique_failure_at(1, 700, &rep);
    cr_assert_eq(strncmp(rep.message, "step 700: ", 10), 0,
                 "message '%s' does not start with 'step 700: '", rep.message);
    reply_free(&rep);
    cr_assert_eq(count_rows(), 1);

    /* A set of the wrong length: SQLITE_RANGE, for that set. */
    harness_pack_request(&conn.b, 2, "bulk", 2);
    codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
    msgpack_pack_array(&conn.b.pk, 3);
    pack_int_params(1);
    pack_int_params(2);
    msgpack_pack_array(&conn.b.pk, 2);
    msgpack_pack_int64(&conn.b.pk, 3);
    msgpack_pack_int64(&conn.b.pk, 4);
    call(2, &rep);
    harness_assert_error(&rep, 25, "SQLITE_RANGE", NULL);
    cr_assert(rep.has_step);
    cr_assert_eq(rep.step, 2);
    reply_free(&rep);
    cr_assert_eq(count_rows(), 1);
}

/* bulk is for statements that return no rows. */
Test(bulk, statement_returning_rows_is_refused)
{
    static const char *const sqls[] = {
        "INSERT INTO t(x) VALUES (?) RETURNING id",
        "SELECT ?",
    };
    for (uint32_t i = 0; i < 2; i++) {
        pack_bulk(i + 1, sqls[i], 3, 1, UINT32_MAX, 0);
        struct reply rep;
        call(i + 1, &rep);
        harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                             NULL);
        reply_free(&rep);
    }
    cr_assert_eq(count_rows(), 0);
}

/* Appends bulk request @msgid, malformed in the way of case @c (0 to
 * BAD_BULKS - 1). */
enum { BAD_BULKS = 6 };
static void pack_bad_bulk(uint32_t msgid, uint32_t c)
{
    msgpack_packer *pk = &conn.b.pk;
    switch (c) {
    case 0: /* no sets */
        harness_pack_request(&conn.b, msgid, "bulk", 1);
        codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
        break;
    case 1: /* empty sets */
        pack_bulk(msgid, "INSERT INTO t(x) VALUES (?)", 0, 0, 0, 0);
        break;
    case 2: /* sets a map */
        harness_pack_request(&conn.b, msgid, "bulk", 2);
        codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
        msgpack_pack_map(pk, 0);
        break;
    case 3: /* a set that is a string */
        harness_pack_request(&conn.b, msgid, "bulk", 2);
        codec_pack_cstr(&conn.b, "INSERT INTO t(x) VALUES (?)");
        msgpack_pack_array(pk, 2);
        pack_int_params(1);
        codec_pack_cstr(&conn.b, "2");
        break;
    case 4: /* two statements */
        pack_bulk(msgid,
                  "INSERT INTO t(x) VALUES (?); "
                  "INSERT INTO t(x) VALUES (100)",
                  2, 1, UINT32_MAX, 0);
        break;
    default: /* SQL that is not a string */
        harness_pack_request(&conn.b, msgid, "bulk", 2);
        msgpack_pack_int64(pk, 42);
        msgpack_pack_array(pk, 1);
        pack_int_params(1);
        break;
    }
}

Test(bulk, bad_shapes_are_refused)
{
    expect_bad_requests(pack_bad_bulk, BAD_BULKS, 0, 0);
    cr_assert_eq(count_rows(), 0);
}
