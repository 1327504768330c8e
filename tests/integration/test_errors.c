/* Errors come back with their code, name and message, nothing is half
 * applied, and the connection stays usable afterwards. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static sqlited *db;

static void setup(void)
{
    db = harness_start_connected(&d, NULL);
    harness_exec(db, "CREATE TABLE users(id INTEGER PRIMARY KEY, "
                     "email TEXT UNIQUE NOT NULL);"
                     "CREATE TABLE posts(id INTEGER PRIMARY KEY, "
                     "user_id INTEGER NOT NULL REFERENCES users(id));"
                     "INSERT INTO users(id, email) VALUES (1, 'ada@x');");
}

static void teardown(void)
{
    harness_cleanup_connected(&d, &db);
}

TestSuite(errors, .init = setup, .fini = teardown, .timeout = 60);

/* The failed call's code, its name and a part of its message; errcode()
 * agrees with the return value. */
#define assert_error(rc, want_rc, want_name, want_text)                        \
    do {                                                                       \
        int rc_ = (rc);                                                        \
        cr_assert_eq(rc_, (want_rc), "rc %d (%s: %s), expected %d", rc_,       \
                     sqlited_errname(db), sqlited_errmsg(db), (want_rc));      \
        cr_assert_eq(sqlited_errcode(db), rc_);                                \
        cr_assert_str_eq(sqlited_errname(db), (want_name));                    \
        cr_assert_not_null(strstr(sqlited_errmsg(db), (want_text)),            \
                           "message '%s' lacks '%s'", sqlited_errmsg(db),      \
                           (want_text));                                       \
    } while (0)

/* The connection still answers after an error, and reports success. */
static void assert_usable(void)
{
    cr_assert_eq(harness_query_int(db, "SELECT 40 + 2"), 42);
    cr_assert_eq(sqlited_errcode(db), 0);
    cr_assert_eq(sqlited_ping(db), 0);
}

static int64_t count(const char *table)
{
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
    return harness_query_int(db, sql);
}

Test(errors, syntax_error_in_query)
{
    sqlited_rows *rows = (sqlited_rows *)&rows; /* must become NULL */
    int rc = sqlited_query(db, "SELEC 1", NULL, &rows);
    assert_error(rc, SQLITE_ERROR, "SQLITE_ERROR", "syntax error");
    cr_assert_null(rows);
    assert_usable();
}

Test(errors, syntax_error_in_exec)
{
    int rc = sqlited_exec(db, "INSERT INTO users VALUS (2, 'b')", NULL, NULL);
    assert_error(rc, SQLITE_ERROR, "SQLITE_ERROR", "syntax error");
    assert_usable();
    cr_assert_eq(count("users"), 1);
}

Test(errors, unique_constraint)
{
    sqlited_rows *rows = (sqlited_rows *)&rows;
    int rc = sqlited_exec(db, "INSERT INTO users(email) VALUES ('ada@x')", NULL,
                          &rows);
    assert_error(rc, SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE",
                 "UNIQUE constraint failed: users.email");
    cr_assert_eq(rc, 2067);
    cr_assert_null(rows);
    assert_usable();
    cr_assert_eq(count("users"), 1);
}

Test(errors, unique_constraint_with_params)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_text(p, ":email", "ada@x", -1), 0);
    int rc =
        sqlited_exec(db, "INSERT INTO users(email) VALUES (:email)", p, NULL);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE",
                 "UNIQUE constraint failed");
    assert_usable();
}

Test(errors, not_null_constraint)
{
    int rc =
        sqlited_exec(db, "INSERT INTO users(email) VALUES (NULL)", NULL, NULL);
    assert_error(rc, SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT_NOTNULL",
                 "NOT NULL constraint failed: users.email");
    assert_usable();
    cr_assert_eq(count("users"), 1);
}

/* foreign_keys is ON on the daemon's connections. */
Test(errors, foreign_key_constraint)
{
    int rc =
        sqlited_exec(db, "INSERT INTO posts(user_id) VALUES (999)", NULL, NULL);
    assert_error(rc, SQLITE_CONSTRAINT_FOREIGNKEY,
                 "SQLITE_CONSTRAINT_FOREIGNKEY",
                 "FOREIGN KEY constraint failed");
    cr_assert_eq(rc, 787);
    assert_usable();
    cr_assert_eq(count("posts"), 0);
    /* A post of an existing user is fine. */
    harness_exec(db, "INSERT INTO posts(user_id) VALUES (1)");
    cr_assert_eq(count("posts"), 1);
    /* Deleting the user it refers to is not. */
    rc = sqlited_exec(db, "DELETE FROM users WHERE id = 1", NULL, NULL);
    assert_error(rc, SQLITE_CONSTRAINT_FOREIGNKEY,
                 "SQLITE_CONSTRAINT_FOREIGNKEY",
                 "FOREIGN KEY constraint failed");
    cr_assert_eq(count("users"), 1);
}

Test(errors, no_such_table)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, "SELECT * FROM nope", NULL, &rows);
    assert_error(rc, SQLITE_ERROR, "SQLITE_ERROR", "no such table: nope");
    cr_assert_null(rows);
    assert_usable();
    rc = sqlited_exec(db, "INSERT INTO nope VALUES (1)", NULL, NULL);
    assert_error(rc, SQLITE_ERROR, "SQLITE_ERROR", "no such table: nope");
    assert_usable();
}

Test(errors, no_such_column)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, "SELECT nope FROM users", NULL, &rows);
    assert_error(rc, SQLITE_ERROR, "SQLITE_ERROR", "no such column: nope");
    assert_usable();
}

/* A runtime error after some rows were produced: no partial result. */
Test(errors, runtime_error_mid_result)
{
    sqlited_rows *rows = (sqlited_rows *)&rows;
    int rc = sqlited_query(db,
                           "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT "
                           "x + 1 FROM c WHERE x < 10) SELECT CASE WHEN x < 5 "
                           "THEN x ELSE json('not json') END FROM c",
                           NULL, &rows);
    assert_error(rc, SQLITE_ERROR, "SQLITE_ERROR", "malformed JSON");
    cr_assert_null(rows);
    assert_usable();
}

Test(errors, too_few_positional_params)
{
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    int rc = sqlited_query(db, "SELECT ?, ?", p, &rows);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", "2 parameters");
    cr_assert_null(rows);
    assert_usable();
}

Test(errors, too_many_positional_params)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 2), 0);
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 3), 0);
    int rc =
        sqlited_exec(db, "INSERT INTO users(id, email) VALUES (?, ?)", p, NULL);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", "2 parameters");
    cr_assert_eq(count("users"), 1);
    assert_usable();
}

Test(errors, params_for_a_statement_without_any)
{
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    int rc = sqlited_query(db, "SELECT 1", p, &rows);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", "parameter");
    assert_usable();
}

/* No parameters given to a statement that has one: not NULL in silence. */
Test(errors, missing_params_entirely)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, "SELECT ? IS NULL", NULL, &rows);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", "parameter");
    cr_assert_null(rows);
    assert_usable();
}

Test(errors, unknown_named_param)
{
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_params_add_int64(p, ":a", 1), 0);
    cr_assert_eq(sqlited_params_add_int64(p, ":nope", 2), 0);
    int rc = sqlited_query(db, "SELECT :a", p, &rows);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", "nope");
    assert_usable();
}

Test(errors, missing_named_param)
{
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_params_add_int64(p, "a", 1), 0);
    int rc = sqlited_query(db, "SELECT :a, :missing", p, &rows);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", ":missing");
    assert_usable();
}

/* ":a" and "a" name the same parameter: given twice. */
Test(errors, named_param_given_twice)
{
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_params_add_int64(p, ":a", 1), 0);
    cr_assert_eq(sqlited_params_add_int64(p, "a", 2), 0);
    int rc = sqlited_query(db, "SELECT :a", p, &rows);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", ":a");
    assert_usable();
}

/* A name with the wrong prefix does not match. */
Test(errors, named_param_wrong_prefix)
{
    sqlited_params *p = harness_params_new();
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_params_add_int64(p, "@a", 1), 0);
    int rc = sqlited_query(db, "SELECT :a", p, &rows);
    sqlited_params_close(p);
    assert_error(rc, SQLITE_RANGE, "SQLITE_RANGE", "@a");
    assert_usable();
}

Test(errors, query_with_two_statements)
{
    sqlited_rows *rows = (sqlited_rows *)&rows;
    int rc = sqlited_query(db, "SELECT 1; SELECT 2", NULL, &rows);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "one statement");
    cr_assert_null(rows);
    assert_usable();
}

/* Two writes sent as a query: refused before either runs. */
Test(errors, query_with_two_writes_applies_nothing)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db,
                           "INSERT INTO users(email) VALUES ('b@x'); "
                           "INSERT INTO users(email) VALUES ('c@x')",
                           NULL, &rows);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "one statement");
    cr_assert_eq(count("users"), 1);
    assert_usable();
}

/* A trailing semicolon, white space and comments are not a second
 * statement. */
Test(errors, trailing_filler_is_one_statement)
{
    cr_assert_eq(harness_query_int(db, "SELECT 7;  -- seven\n /* done */ ;"),
                 7);
}

Test(errors, exec_with_params_and_two_statements)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_text(p, NULL, "b@x", -1), 0);
    int rc = sqlited_exec(db,
                          "INSERT INTO users(email) VALUES (?); "
                          "INSERT INTO users(email) VALUES ('c@x')",
                          p, NULL);
    sqlited_params_close(p);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "one statement");
    cr_assert_eq(count("users"), 1);
    assert_usable();
}

/* A script that leaves BEGIN open is rolled back as a whole and refused;
 * the writer connection is not left inside that transaction. */
Test(errors, exec_script_leaving_begin_open)
{
    int rc = sqlited_exec(db,
                          "BEGIN; INSERT INTO users(email) VALUES ('b@x'); "
                          "INSERT INTO users(email) VALUES ('c@x');",
                          NULL, NULL);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST", "transaction");
    cr_assert_eq(count("users"), 1);
    assert_usable();
    /* The next write commits on its own and is seen by readers. */
    harness_exec(db, "INSERT INTO users(email) VALUES ('d@x')");
    cr_assert_eq(count("users"), 2);
    /* And another connection's write too. */
    harness_exec_fresh(&d, "INSERT INTO users(email) VALUES ('e@x')");
    cr_assert_eq(count("users"), 3);
}

/* Transaction control in a script is refused before anything runs, with
 * a message that names the methods to use instead. */
Test(errors, exec_script_with_begin_refused)
{
    int rc = sqlited_exec(db,
                          "BEGIN; INSERT INTO users(email) VALUES ('b@x'); "
                          "COMMIT;",
                          NULL, NULL);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST", "begin");
    cr_assert_eq(count("users"), 1);
    assert_usable();
}

/* An exec is atomic: when a statement of a script fails, the ones before it
 * are undone and the ones after it never run. */
Test(errors, exec_script_fails_as_a_whole)
{
    int rc = sqlited_exec(db,
                          "INSERT INTO users(email) VALUES ('b@x'); "
                          "INSERT INTO users(email) VALUES ('ada@x'); "
                          "INSERT INTO users(email) VALUES ('c@x');",
                          NULL, NULL);
    assert_error(rc, SQLITE_CONSTRAINT_UNIQUE, "SQLITE_CONSTRAINT_UNIQUE",
                 "UNIQUE constraint failed");
    cr_assert_eq(count("users"), 1);
    cr_assert_eq(
        harness_query_int(db, "SELECT count(*) FROM users WHERE email = 'b@x'"),
        0);
    assert_usable();
    harness_exec(db, "INSERT INTO users(email) VALUES ('d@x')");
    cr_assert_eq(count("users"), 2);
}

/* Transaction control has no place in a query (it runs on a shared reader
 * connection). */
Test(errors, query_begin_refused)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, "BEGIN", NULL, &rows);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST", "transaction");
    assert_usable();
    /* The reader is not stuck in a snapshot: it sees later writes. */
    for (int i = 0; i < 8; i++) {
        char sql[96];
        snprintf(sql, sizeof(sql), "INSERT INTO users(email) VALUES ('u%d@x')",
                 i);
        harness_exec(db, sql);
        cr_assert_eq(count("users"), 2 + i);
    }
}

Test(errors, empty_sql)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_exec(db, "", NULL, NULL);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST", "empty");
    assert_usable();
    rc = sqlited_query(db, "", NULL, &rows);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST", "empty");
    cr_assert_null(rows);
    assert_usable();
}

/* SQL that holds only white space and comments has no statement. */
Test(errors, sql_without_a_statement)
{
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, "  -- nothing\n /* at all */ ;", NULL, &rows);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "no SQL statement");
    assert_usable();
    rc = sqlited_exec(db, " ; ", NULL, NULL);
    assert_error(rc, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "no SQL statement");
    assert_usable();
}

Test(errors, sql_over_max_length)
{
    size_t len = (16u << 20) + 16;
    char *sql = malloc(len + 1);
    cr_assert_not_null(sql);
    memset(sql, ' ', len);
    memcpy(sql, "SELECT 1", 8);
    sql[len] = '\0';
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, sql, NULL, &rows);
    free(sql);
    assert_error(rc, SQLITED_TOO_LARGE, "SQLITED_TOO_LARGE", "SQL");
    assert_usable();
}

Test(errors, too_many_params)
{
    sqlited_params *p = harness_params_new();
    for (int i = 0; i < 32767; i++)
        cr_assert_eq(sqlited_params_add_int64(p, NULL, i), 0);
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, "SELECT ?", p, &rows);
    sqlited_params_close(p);
    assert_error(rc, SQLITED_TOO_LARGE, "SQLITED_TOO_LARGE", "32766");
    assert_usable();
}

/* The largest parameter count works. */
Test(errors, max_params_accepted)
{
    sqlited_params *p = harness_params_new();
    for (int i = 0; i < 32766; i++)
        cr_assert_eq(sqlited_params_add_int64(p, NULL, i), 0);
    sqlited_rows *rows = harness_query(db, "SELECT ?32766", p);
    sqlited_params_close(p);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 32765);
    sqlited_rows_close(rows);
}

/* Several errors in a row, each reported for itself. */
Test(errors, errors_in_a_row)
{
    sqlited_rows *rows = NULL;
    assert_error(sqlited_query(db, "SELEC", NULL, &rows), SQLITE_ERROR,
                 "SQLITE_ERROR", "syntax error");
    assert_error(
        sqlited_exec(db, "INSERT INTO users(email) VALUES (NULL)", NULL, NULL),
        SQLITE_CONSTRAINT_NOTNULL, "SQLITE_CONSTRAINT_NOTNULL", "NOT NULL");
    assert_error(sqlited_query(db, "SELECT 1; SELECT 2", NULL, &rows),
                 SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST", "one statement");
    assert_usable();
}

/* A result over --max-message-size is refused for that request only. */
Test(errors, result_over_max_message_size)
{
    harness_cleanup_connected(&d, &db);
    db = harness_start_connected(
        &d, (const char *const[]){"--max-message-size", "65536", NULL});
    cr_assert_eq(sqlited_max_message_size(db), 65536);
    sqlited_rows *rows = (sqlited_rows *)&rows;
    /* One value over the limit is refused by SQLite as soon as it is made
     * (SQLITE_LIMIT_LENGTH follows the message size), whether or not it
     * would be sent. */
    int rc = sqlited_query(db, "SELECT randomblob(100000)", NULL, &rows);
    assert_error(rc, SQLITE_TOOBIG, "SQLITE_TOOBIG", "too big");
    cr_assert_null(rows);
    rc = sqlited_query(db, "SELECT length(randomblob(100000))", NULL, &rows);
    assert_error(rc, SQLITE_TOOBIG, "SQLITE_TOOBIG", "too big");
    /* Many small rows adding up over the limit, too, where results are not
     * sent in chunks (exec). */
    rc = sqlited_exec(db,
                      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + "
                      "1 FROM c WHERE x < 10000) SELECT x, 'padding' FROM c",
                      NULL, &rows);
    assert_error(rc, SQLITED_TOO_LARGE, "SQLITED_TOO_LARGE", "larger");
    assert_usable();
    rc = sqlited_query(db, "SELECT length(randomblob(60000))", NULL, &rows);
    cr_assert_eq(rc, 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 60000);
    sqlited_rows_close(rows);
}
