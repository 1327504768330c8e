/* Schema migrations: at start-up and through migrate up, down and status;
 * a changed file, a gap, a failing migration; the e-commerce example. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define EXAMPLES SQLITED_SOURCE_DIR "/examples"

static struct daemon d;
static char mdir[64]; /* the migrations directory of a test */

static void setup(void)
{
    snprintf(mdir, sizeof(mdir), "/tmp/sqlited-migrations-XXXXXX");
    cr_assert_not_null(mkdtemp(mdir));
}

static void teardown(void)
{
    char cmd[128];
    daemon_cleanup(&d);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", mdir);
}

TestSuite(migrate, .init = setup, .fini = teardown, .timeout = 120);

/* Writes @text to file @name of the migrations directory. */
static void put(const char *name, const char *text)
{
    harness_put_file(mdir, name, text);
}

/* Reads a whole file (malloc'd). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0;
    for (;;) {
        buf = realloc(buf, len + 65536 + 1);
        cr_assert_not_null(buf);
        size_t n = fread(buf + len, 1, 65536, f);
        len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Copies the example migrations into the test's directory. */
static void copy_examples(void)
{
    static const char *const files[] = {
        "0001_users.up.sql",      "0001_users.down.sql",
        "0002_categories.up.sql", "0002_categories.down.sql",
        "0003_products.up.sql",   "0003_products.down.sql",
        "0004_orders.up.sql",     "0004_orders.down.sql",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/migrations/%s", EXAMPLES, files[i]);
        char *text = slurp(path);
        put(files[i], text);
        free(text);
    }
}

static const char *const *migrations_args(void)
{
    static const char *args[3];
    args[0] = "--migrations";
    args[1] = mdir;
    args[2] = NULL;
    return args;
}

/* Starts the daemon with --migrations and returns a connection. */
static sqlited *start(void)
{
    return harness_start_connected(&d, migrations_args());
}

/* Runs the daemon with --migrations until it exits (it must, failing):
 * returns its output. The harness made the daemon's directory with a
 * first start; the database is that one's. */
static void run_failing(struct harness_output *o)
{
    const char *argv[64];
    daemon_argv(&d, migrations_args(), argv, 64);
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, o);
}

/* Opens the daemon's database directly (the daemon is stopped). */
static sqlite3 *open_direct(void)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(d.db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    return db;
}

static int64_t direct_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
                 "%s: %s", sql, sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int64_t table_count(sqlited *db, const char *name)
{
    char sql[160];
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
             "name = '%s'",
             name);
    return harness_query_int(db, sql);
}

static void assert_states(const sqlited_migrate_info *info, const char *want)
{
    cr_assert_eq(info->count, strlen(want));
    for (unsigned i = 0; i < info->count; i++) {
        const char *s = info->migrations[i].state;
        char got = strcmp(s, "applied") == 0   ? 'A'
                   : strcmp(s, "pending") == 0 ? 'P'
                   : strcmp(s, "changed") == 0 ? 'C'
                                               : '?';
        cr_assert_eq(got, want[i], "migration %u is %s", i + 1, s);
        cr_assert_eq(info->migrations[i].version, (int64_t)i + 1);
        cr_assert_eq(info->migrations[i].applied_at == NULL, got == 'P');
    }
}

/* At start-up every migration is applied; then down, up and status move
 * and report the version. */
Test(migrate, up_down_status)
{
    sqlited_migrate_info info;

    copy_examples();
    sqlited *db = start();
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_STATUS,
                                          SQLITED_MIGRATE_DEFAULT, &info));
    cr_assert_eq(info.to, 4);
    cr_assert_eq(info.latest, 4);
    assert_states(&info, "AAAA");
    cr_assert_str_eq(info.migrations[0].name, "users");
    cr_assert_str_eq(info.migrations[3].file, "0004_orders.up.sql");
    cr_assert_eq(strlen(info.migrations[0].checksum), 64);
    cr_assert_eq(table_count(db, "order_items"), 1);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM "
                                       "schema_migrations"),
                 4);

    /* Down by one, then to 0. */
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_DOWN,
                                          SQLITED_MIGRATE_DEFAULT, &info));
    cr_assert_eq(info.from, 4);
    cr_assert_eq(info.to, 3);
    assert_states(&info, "AAAP");
    cr_assert_eq(table_count(db, "order_items"), 0);
    cr_assert_eq(table_count(db, "orders"), 0);
    cr_assert_eq(table_count(db, "products"), 1);
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_DOWN, 0, &info));
    cr_assert_eq(info.to, 0);
    assert_states(&info, "PPPP");
    cr_assert_eq(table_count(db, "users"), 0);

    /* Up to 2, then the rest. */
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_UP, 2, &info));
    cr_assert_eq(info.from, 0);
    cr_assert_eq(info.to, 2);
    assert_states(&info, "AAPP");
    cr_assert_eq(table_count(db, "categories"), 1);
    cr_assert_eq(table_count(db, "products"), 0);
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_UP,
                                          SQLITED_MIGRATE_DEFAULT, &info));
    cr_assert_eq(info.to, 4);
    assert_states(&info, "AAAA");

    /* Versions that do not exist, or lie the wrong way. */
    cr_assert_eq(sqlited_migrate(db, SQLITED_MIGRATE_UP, 9, &info),
                 SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "there is no migration 9"), "%s",
              sqlited_errmsg(db));
    cr_assert_eq(sqlited_migrate(db, SQLITED_MIGRATE_UP, 2, &info),
                 SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "use migrate down"), "%s",
              sqlited_errmsg(db));
    cr_assert_eq(sqlited_migrate(db, SQLITED_MIGRATE_STATUS, 1, &info),
                 SQLITED_EMISUSE);

    /* The CLI. */
    struct harness_output o;
    const char *argv[] = {SQLITED_CLI, "-s",     d.sock_path, "--json",
                          "migrate",   "status", NULL};
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert(strncmp(o.out,
                      "{\"from\": 4, \"to\": 4, \"latest\": 4, "
                      "\"migrations\": [{\"version\": 1, \"name\": "
                      "\"users\", ",
                      70) == 0,
              "%s", o.out);
    harness_output_free(&o);
    const char *down[] = {SQLITED_CLI, "-s", d.sock_path, "migrate",
                          "down",      "3",  NULL};
    harness_run(down, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    cr_assert_str_eq(o.out, "migrated from version 4 to 3 (of 4)\n");
    harness_output_free(&o);
    sqlited_close(db);
}

/* A migrations directory with no migration in it yet (a new project) is
 * fine: the daemon starts, and migrate up applies nothing. */
Test(migrate, empty_directory)
{
    sqlited_migrate_info info;
    sqlited *db = start();
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_UP,
                                          SQLITED_MIGRATE_DEFAULT, &info));
    cr_assert_eq(info.from, 0);
    cr_assert_eq(info.to, 0);
    cr_assert_eq(info.latest, 0);
    cr_assert_eq(info.count, 0);
    cr_assert_eq(sqlited_migrate(db, SQLITED_MIGRATE_UP, 1, &info),
                 SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "there is no migration 1 in "), "%s",
              sqlited_errmsg(db));
    cr_assert(strstr(sqlited_errmsg(db), " (it holds none)"), "%s",
              sqlited_errmsg(db));
    sqlited_close(db);
}

/* A migration whose file changed after it was applied stops the daemon at
 * start-up, and migrate up, with an error naming the file. */
Test(migrate, changed_file)
{
    sqlited_migrate_info info;
    struct harness_output o;

    copy_examples();
    sqlited *db = start();
    put("0002_categories.up.sql", "CREATE TABLE categories(id);\n");
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_STATUS,
                                          SQLITED_MIGRATE_DEFAULT, &info));
    assert_states(&info, "ACAA");
    cr_assert_eq(sqlited_migrate(db, SQLITED_MIGRATE_DOWN,
                                 SQLITED_MIGRATE_DEFAULT, &info),
                 SQLITE_ERROR);
    cr_assert(strstr(sqlited_errmsg(db), "/0002_categories.up.sql was "
                                         "changed after it was applied"),
              "%s", sqlited_errmsg(db));
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);

    run_failing(&o);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert(strstr(o.err, "0002_categories.up.sql was changed after it was "
                            "applied"),
              "%s", o.err);
    cr_assert_null(strstr(o.err, "ready"), "%s", o.err);
    harness_output_free(&o);
    sqlite3 *raw = open_direct();
    cr_assert_eq(direct_int(raw, "SELECT max(version) FROM "
                                 "schema_migrations"),
                 4);
    sqlite3_close(raw);
}

/* A gap in the numbers: nothing is applied, the daemon does not start. */
Test(migrate, gap)
{
    struct harness_output o;

    daemon_start(&d, NULL); /* makes the daemon's directory */
    cr_assert_eq(daemon_stop(&d), 0);
    put("0001_a.up.sql", "CREATE TABLE a(x);");
    put("0002_b.up.sql", "CREATE TABLE b(x);");
    put("0004_d.up.sql", "CREATE TABLE d(x);");
    run_failing(&o);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert(strstr(o.err, "/0004_d.up.sql: a gap: version 4 follows "
                            "0002_b.up.sql (version 2), so version 3 is "
                            "missing"),
              "%s", o.err);
    harness_output_free(&o);
    sqlite3 *raw = open_direct();
    cr_assert_eq(direct_int(raw, "SELECT count(*) FROM sqlite_schema WHERE "
                                 "name IN ('a', 'b', 'd')"),
                 0);
    sqlite3_close(raw);

    /* Filling the gap lets it start, at version 4. */
    put("0003_c.up.sql", "CREATE TABLE c(x);");
    sqlited *db = start();
    cr_assert_eq(harness_query_int(db, "SELECT max(version) FROM "
                                       "schema_migrations"),
                 4);
    sqlited_close(db);
}

/* A migration that fails stops the daemon at the last good version: the
 * failing one is rolled back whole, those before stay. */
Test(migrate, failing_migration)
{
    struct harness_output o;

    daemon_start(&d, NULL);
    cr_assert_eq(daemon_stop(&d), 0);
    put("0001_a.up.sql", "CREATE TABLE a(x);");
    put("0002_b.up.sql", "CREATE TABLE b(x); INSERT INTO b VALUES (1);");
    put("0003_c.up.sql", "CREATE TABLE c(x);\nINSERT INTO nowhere VALUES (1);");
    run_failing(&o);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert(strstr(o.err, "/0003_c.up.sql failed: no such table: nowhere; "
                            "the database stays at version 2"),
              "%s", o.err);
    harness_output_free(&o);
    sqlite3 *raw = open_direct();
    cr_assert_eq(direct_int(raw, "SELECT max(version) FROM "
                                 "schema_migrations"),
                 2);
    cr_assert_eq(direct_int(raw, "SELECT count(*) FROM sqlite_schema WHERE "
                                 "name = 'c'"),
                 0);
    cr_assert_eq(direct_int(raw, "SELECT count(*) FROM b"), 1);
    sqlite3_close(raw);

    /* A migration must not manage its own transaction. */
    put("0003_c.up.sql", "COMMIT; CREATE TABLE c(x);");
    run_failing(&o);
    cr_assert_eq(o.status, 1, "stderr: %s", o.err);
    cr_assert(strstr(o.err, "/0003_c.up.sql failed: not authorized (a "
                            "migration must not begin or end transactions"),
              "%s", o.err);
    harness_output_free(&o);

    /* Fixed, it applies. */
    put("0003_c.up.sql", "CREATE TABLE c(x);");
    sqlited *db = start();
    cr_assert_eq(table_count(db, "c"), 1);
    sqlited_close(db);
}

/* A migrate up that fails at run time leaves the daemon serving, but not
 * ready, with the failed file as the reason, until a migrate succeeds. */
Test(migrate, failing_at_run_time_is_not_ready)
{
    struct harness_output o;
    char want[256];
    int status = -1;

    put("0001_a.up.sql", "CREATE TABLE a(x);");
    sqlited *db = start();
    HARNESS_ASSERT_OK(db, sqlited_health(db, 0, 0, &status, NULL));
    cr_assert_eq(status, SQLITED_HEALTH_OK, "%s", sqlited_health_reason(db));

    put("0002_b.up.sql", "CREATE TABLE b(x);\nINSERT INTO nowhere VALUES (1);");
    cr_assert_eq(
        sqlited_migrate(db, SQLITED_MIGRATE_UP, SQLITED_MIGRATE_DEFAULT, NULL),
        SQLITE_ERROR);
    snprintf(want, sizeof(want),
             "migrations failing: migration %s/0002_b.up.sql failed: no "
             "such table: nowhere; the database stays at version 1",
             mdir);
    HARNESS_ASSERT_OK(db, sqlited_health(db, 0, 0, &status, NULL));
    cr_assert_eq(status, SQLITED_HEALTH_FAILING);
    cr_assert_str_eq(sqlited_health_reason(db), want);
    /* Status changes nothing, and neither does asking for a version that
     * does not exist. */
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_STATUS,
                                          SQLITED_MIGRATE_DEFAULT, NULL));
    cr_assert_eq(sqlited_migrate(db, SQLITED_MIGRATE_UP, 9, NULL),
                 SQLITED_BAD_REQUEST);
    HARNESS_ASSERT_OK(db, sqlited_health(db, 0, 0, &status, NULL));
    cr_assert_str_eq(sqlited_health_reason(db), want);

    harness_cli(&d, &o, NULL, (const char *const[]){"health", NULL});
    cr_assert_eq(o.status, 1, "stdout: %s stderr: %s", o.out, o.err);
    cr_assert(strstr(o.out, "not ready: migrations failing: migration ") &&
                  strstr(o.out, "/0002_b.up.sql failed"),
              "stdout: %s", o.out);
    harness_output_free(&o);

    /* Fixed, it applies, and the daemon is ready again. */
    put("0002_b.up.sql", "CREATE TABLE b(x);");
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_UP,
                                          SQLITED_MIGRATE_DEFAULT, NULL));
    HARNESS_ASSERT_OK(db, sqlited_health(db, 0, 0, &status, NULL));
    cr_assert_eq(status, SQLITED_HEALTH_OK, "%s", sqlited_health_reason(db));
    harness_cli(&d, &o, NULL, (const char *const[]){"health", NULL});
    cr_assert_eq(o.status, 0, "stdout: %s stderr: %s", o.out, o.err);
    harness_output_free(&o);
    sqlited_close(db);
}

/* Two migrate calls at once run one after the other. */
Test(migrate, concurrent_calls)
{
    struct harness_raw a = {0}, b = {0};
    struct reply ra, rb;

    copy_examples();
    sqlited *db = start();
    harness_raw_open(&a, &d);
    harness_raw_open(&b, &d);
    for (int i = 0; i < 2; i++) {
        struct harness_raw *c = i ? &b : &a;
        harness_pack_request(&c->b, 1, "migrate", 2);
        codec_pack_cstr(&c->b, "down");
        msgpack_pack_int(&c->b.pk, 0);
        harness_send_buf(c->fd, &c->b);
    }
    harness_read_reply(&a.r, &ra);
    harness_read_reply(&b.r, &rb);
    cr_assert_not(ra.is_error, "%s", ra.message);
    cr_assert_not(rb.is_error, "%s", rb.message);
    int64_t froms = harness_result_int(ra.result, "from") * 10 +
                    harness_result_int(rb.result, "from");
    cr_assert(froms == 40 || froms == 4, "from %" PRId64, froms);
    cr_assert_eq(harness_result_int(ra.result, "to"), 0);
    cr_assert_eq(harness_result_int(rb.result, "to"), 0);
    reply_free(&ra);
    reply_free(&rb);
    harness_raw_close(&a);
    harness_raw_close(&b);
    cr_assert_eq(table_count(db, "users"), 0);
    sqlited_close(db);
}

/* Without --migrations, migrate says which flag it needs. */
Test(migrate, needs_migrations_dir)
{
    sqlited *db = harness_start_connected(&d, NULL);
    cr_assert_eq(sqlited_migrate(db, SQLITED_MIGRATE_STATUS,
                                 SQLITED_MIGRATE_DEFAULT, NULL),
                 SQLITED_BAD_REQUEST);
    cr_assert(strstr(sqlited_errmsg(db), "--migrations DIR"), "%s",
              sqlited_errmsg(db));
    sqlited_close(db);
}

/* --------------------------------------------- while start-up migrates */

/* Starts the daemon with version 1 applied and version 2 (@up) pending, and
 * holds the database's write lock from this process, so that the start-up
 * migration of version 2 waits for it, for as long as the test wants: the
 * daemon is serving, but migrating. Returns the connection holding the
 * lock; release_lock() lets the migration go on. */
static sqlite3 *start_held_migration(const char *up)
{
    sqlite3 *held;

    put("0001_a.up.sql", "CREATE TABLE a(x);");
    sqlited_close(start());
    cr_assert_eq(daemon_stop(&d), 0);
    put("0002_b.up.sql", up);
    cr_assert_eq(sqlite3_open_v2(d.db_path, &held, SQLITE_OPEN_READWRITE, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_exec(held, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                 SQLITE_OK, "%s", sqlite3_errmsg(held));
    daemon_restart_serving(&d, migrations_args());
    return held;
}

static void release_lock(sqlite3 *held)
{
    cr_assert_eq(sqlite3_exec(held, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_close(held), SQLITE_OK);
}

/* Asks health on @c until its reason is past the reading of the files
 * (bounded), and returns the reason in @buf. */
static const char *migrating_reason(struct harness_raw *c, char *buf,
                                    size_t size)
{
    int64_t deadline = harness_now_ms() + HARNESS_READY_TIMEOUT_MS;
    for (;;) {
        struct reply rep;
        struct codec_reader v;
        harness_pack_request(&c->b, 7, "health", 0);
        harness_raw_call(c, 7, &rep);
        cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
        cr_assert(harness_map_find(rep.result, "reason", &v));
        const char *str;
        uint32_t len;
        cr_assert_eq(codec_read_str(&v, &str, &len), 0);
        snprintf(buf, size, "%.*s", (int)len, str);
        cr_assert(harness_map_find(rep.result, "status", &v));
        cr_assert(harness_read_str_eq(&v, "failing"), "reason: %s", buf);
        reply_free(&rep);
        if (strstr(buf, "checking the migration files") == NULL ||
            harness_now_ms() > deadline)
            return buf;
        harness_sleep_ms(20);
    }
}

/* While the start-up migrations run, the daemon answers ping, hello,
 * health, stats and metrics, says it is migrating and which migration it
 * applies, refuses everything else with SQLITED_NOT_READY, and reports
 * READY=1 only once they are applied; then it serves as usual. */
Test(migrate, startup_answers_probes_while_migrating)
{
    struct harness_raw c = {0};
    struct harness_output o;
    struct reply rep;
    char reason[512];
    static const char want[] = "migrating: 1 pending, applying 0002_b";

    sqlite3 *held =
        start_held_migration("CREATE TABLE b(x); INSERT INTO b VALUES (1);");
    harness_raw_open(&c, &d);
    harness_pack_request(&c.b, 1, "ping", 0);
    harness_raw_call(&c, 1, &rep);
    cr_assert_not(rep.is_error, "%s: %s", rep.name, rep.message);
    cr_assert(harness_read_str_eq(&rep.result, "pong"));
    reply_free(&rep);

    cr_assert_str_eq(migrating_reason(&c, reason, sizeof(reason)), want);
    harness_raw_sql(&c, "query", "SELECT 1", NULL, &rep);
    harness_assert_error(&rep, SQLITED_NOT_READY, "SQLITED_NOT_READY",
                         "not ready: the start-up migrations are running (1 "
                         "pending, applying 0002_b); until they are applied "
                         "only hello, ping, health, stats and metrics are "
                         "answered");
    reply_free(&rep);
    harness_raw_sql(&c, "exec", "INSERT INTO a VALUES (1)", NULL, &rep);
    harness_assert_error(&rep, SQLITED_NOT_READY, "SQLITED_NOT_READY",
                         "applying 0002_b");
    reply_free(&rep);
    cr_assert_eq(harness_stat(&d, "migrations_pending"), 1);

    harness_cli(&d, &o, NULL, (const char *const[]){"health", NULL});
    cr_assert_eq(o.status, 1, "stdout: %s stderr: %s", o.out, o.err);
    snprintf(reason, sizeof(reason), "%s: not ready: %s\n", d.sock_path, want);
    cr_assert_str_eq(o.out, reason);
    harness_output_free(&o);
    harness_cli(&d, &o, NULL, (const char *const[]){"health", "--json", NULL});
    cr_assert_eq(o.status, 1, "stdout: %s stderr: %s", o.out, o.err);
    cr_assert(strstr(o.out, "\"reason\": \"migrating: 1 pending, applying "
                            "0002_b\"") &&
                  strstr(o.out, "\"migrations\": \"migrating: 1 pending, "
                                "applying 0002_b\""),
              "%s", o.out);
    harness_output_free(&o);

    /* systemd hears where it is, and no READY=1 yet. */
    int64_t deadline = harness_now_ms() + HARNESS_READY_TIMEOUT_MS;
    while (strstr(d.status, "applying migration 0002_b") == NULL &&
           harness_now_ms() < deadline) {
        cr_assert_not(daemon_notified_ready(&d), "READY=1 while migrating");
        harness_sleep_ms(20);
    }
    cr_assert_str_eq(d.status, "applying migration 0002_b (1 pending)");
    cr_assert_not(daemon_notified_ready(&d), "READY=1 while migrating");

    release_lock(held);
    daemon_wait_ready(&d);
    cr_assert(strncmp(d.status, "serving ", 8) == 0, "STATUS=%s", d.status);
    cr_assert_eq(harness_raw_query_int(&c, "SELECT count(*) FROM b", NULL), 1);
    cr_assert_eq(harness_raw_exec(&c, "INSERT INTO a VALUES (1)", NULL), 1);
    cr_assert_eq(harness_stat(&d, "migrations_pending"), 0);
    harness_cli(&d, &o, NULL, (const char *const[]){"health", NULL});
    cr_assert_eq(o.status, 0, "stdout: %s stderr: %s", o.out, o.err);
    harness_output_free(&o);
    harness_raw_close(&c);
}

/* A start-up migration that fails tells the clients connected meanwhile
 * (an error notification, then the connection closes) and the log, naming
 * the file and SQLite's error, and the daemon exits with status 1. */
Test(migrate, startup_failure_tells_connected_clients)
{
    struct harness_raw c = {0};
    struct reply rep;

    sqlite3 *held = start_held_migration(
        "CREATE TABLE b(x);\nINSERT INTO nowhere VALUES (1);");
    harness_raw_open(&c, &d);
    char reason[512];
    migrating_reason(&c, reason, sizeof(reason));
    release_lock(held);

    harness_read_reply(&c.r, &rep);
    cr_assert_eq(rep.kind, 2, "not a notification");
    harness_assert_error(&rep, SQLITED_NOT_READY, "SQLITED_NOT_READY",
                         "the start-up migrations failed, so the daemon "
                         "exits: migration ");
    cr_assert(strstr(rep.message, "/0002_b.up.sql failed: no such table: "
                                  "nowhere; the database stays at version 1"),
              "%s", rep.message);
    reply_free(&rep);
    cr_assert(harness_read_eof(&c.r, HARNESS_IO_TIMEOUT_MS));
    harness_raw_close(&c);
    cr_assert_eq(daemon_wait(&d, HARNESS_STOP_TIMEOUT_MS), 1);
    char *log = daemon_log(&d);
    cr_assert(strstr(log, "/0002_b.up.sql failed: no such table: nowhere"),
              "%s", log);
    free(log);
}

/* A signal while the start-up migrations wait (here for a lock another
 * process holds) stops the daemon promptly: the migration is interrupted
 * and rolled back, to run again at the next start. */
Test(migrate, startup_interrupted_by_sigterm)
{
    sqlite3 *held = start_held_migration("CREATE TABLE b(x);");
    struct harness_raw c = {0};
    char reason[512];
    harness_raw_open(&c, &d);
    migrating_reason(&c, reason, sizeof(reason));
    harness_raw_close(&c);
    cr_assert_eq(daemon_stop(&d), 0);
    release_lock(held);
    char *log = daemon_log(&d);
    cr_assert(strstr(log, "interrupting the start-up migrations (1 pending, "
                          "applying 0002_b)"),
              "%s", log);
    free(log);
    sqlite3 *raw = open_direct();
    cr_assert_eq(direct_int(raw, "SELECT max(version) FROM schema_migrations"),
                 1);
    sqlite3_close(raw);
    sqlited *db = start();
    cr_assert_eq(table_count(db, "b"), 1);
    sqlited_close(db);
}

/* ------------------------------------------------------ the example */

/* Formats a REAL as sqlited-cli does: the fewest digits that read back. */
static void format_real(double v, char *buf, size_t size)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".e") && !isinf(v) && !isnan(v))
        strncat(buf, ".0", size - strlen(buf) - 1);
}

static void csv_field(char **out, size_t *len, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    size_t need = *len + 2 * strlen(s) + 3;
    *out = realloc(*out, need + 1);
    char *p = *out + *len;
    if (quote)
        *p++ = '"';
    for (; *s; s++) {
        if (*s == '"')
            *p++ = '"';
        *p++ = *s;
    }
    if (quote)
        *p++ = '"';
    *p = '\0';
    *len = (size_t)(p - *out);
}

/* The CSV sqlited-cli -m csv --header prints, made from SQLite's own
 * result of @sql on @db. */
static char *direct_csv(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK,
                 "%s: %s", sql, sqlite3_errmsg(db));
    int ncols = sqlite3_column_count(st);
    for (int i = 0; i < ncols; i++) {
        if (i) {
            out = realloc(out, len + 2);
            out[len++] = ',';
            out[len] = '\0';
        }
        csv_field(&out, &len, sqlite3_column_name(st, i));
    }
    out = realloc(out, len + 3);
    memcpy(out + len, "\r\n", 3);
    len += 2;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < ncols; i++) {
            char num[64];
            const char *v = "";
            if (i) {
                out = realloc(out, len + 2);
                out[len++] = ',';
                out[len] = '\0';
            }
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                snprintf(num, sizeof(num), "%" PRId64,
                         (int64_t)sqlite3_column_int64(st, i));
                v = num;
                break;
            case SQLITE_FLOAT:
                format_real(sqlite3_column_double(st, i), num, sizeof(num));
                v = num;
                break;
            case SQLITE_TEXT:
                v = (const char *)sqlite3_column_text(st, i);
                break;
            default:
                break;
            }
            csv_field(&out, &len, v);
        }
        out = realloc(out, len + 3);
        memcpy(out + len, "\r\n", 3);
        len += 2;
    }
    cr_assert_eq(rc, SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return out;
}

/* True when @stmt (comments and blank lines skipped) is a query. */
static bool is_query(const char *stmt)
{
    const char *p = stmt;
    for (;;) {
        while (*p == ' ' || *p == '\n')
            p++;
        if (strncmp(p, "--", 2) != 0)
            break;
        p = strchr(p, '\n');
        if (p == NULL)
            return false;
    }
    return strncmp(p, "SELECT", 6) == 0 || strncmp(p, "WITH", 4) == 0;
}

/* The example schema and queries: each statement of examples/queries.sql
 * through sqlited-cli, against the same on SQLite directly, row for row. */
Test(migrate, example_queries)
{
    char path[512];
    sqlite3 *direct;
    int queries = 0;

    copy_examples();
    harness_start_connected(&d, migrations_args());

    /* The reference: the same migrations on a database of SQLite's own. */
    snprintf(path, sizeof(path), "%s/direct.db", mdir);
    cr_assert_eq(sqlite3_open(path, &direct), SQLITE_OK);
    sqlite3_exec(direct, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    for (int v = 1; v <= 4; v++) {
        static const char *const names[] = {"users", "categories", "products",
                                            "orders"};
        snprintf(path, sizeof(path), "%s/%04d_%s.up.sql", mdir, v,
                 names[v - 1]);
        char *text = slurp(path);
        cr_assert_eq(sqlite3_exec(direct, text, NULL, NULL, NULL), SQLITE_OK,
                     "%s: %s", path, sqlite3_errmsg(direct));
        free(text);
    }

    char *script = slurp(EXAMPLES "/queries.sql");
    char *next = script;
    for (char *end; (end = strstr(next, ";\n")) != NULL; next = end + 2) {
        end[1] = '\0';
        char *stmt = next;
        struct harness_output o;
        const char *argv[] = {SQLITED_CLI, "-s",       d.sock_path, "-m",
                              "csv",       "--header", "-",         NULL};
        harness_run(argv, stmt, HARNESS_RUN_TIMEOUT_MS, &o);
        cr_assert_eq(o.status, 0, "%s\nstderr: %s", stmt, o.err);
        if (is_query(stmt)) {
            char *want = direct_csv(direct, stmt);
            cr_assert_str_eq(o.out, want, "%s", stmt);
            cr_assert_gt(strlen(want), 80, "too few rows to compare:\n%s",
                         want);
            free(want);
            queries++;
        } else {
            char *msg = NULL;
            cr_assert_eq(sqlite3_exec(direct, stmt, NULL, NULL, &msg),
                         SQLITE_OK, "%s: %s", stmt, msg);
        }
        harness_output_free(&o);
    }
    cr_assert_eq(queries, 3);
    free(script);
    sqlite3_close(direct);
}
