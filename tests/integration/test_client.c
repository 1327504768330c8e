/* libsqlited's own contract: misuse, connection failures, accessors, codes,
 * lifetimes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(client, .init = setup, .fini = teardown, .timeout = 60);

/* ----------------------------------------------------------- parameters */

Test(client, params_mixing_styles)
{
    sqlited_params *p = harness_params_new();
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 1), 0);
    cr_assert_eq(sqlited_params_add_int64(p, ":a", 2), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_add_text(p, "b", "x", -1), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_add_null(p, "@c"), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_add_blob(p, "$d", "x", 1), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_add_double(p, ":e", 1.5), SQLITED_EMISUSE);
    /* Unchanged by the failures: still one positional value that works. */
    cr_assert_eq(sqlited_params_count(p), 1);
    sqlited *db = harness_connect(&d);
    sqlited_rows *rows = harness_query(db, "SELECT ?", p);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 1);
    sqlited_rows_close(rows);

    /* The other way round. */
    sqlited_params_clear(p);
    cr_assert_eq(sqlited_params_add_int64(p, ":a", 5), 0);
    cr_assert_eq(sqlited_params_add_int64(p, NULL, 6), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_count(p), 1);
    rows = harness_query(db, "SELECT :a", p);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 5);
    sqlited_rows_close(rows);
    sqlited_params_close(p);
    sqlited_close(db);
}

Test(client, params_misuse)
{
    sqlited_params *p = NULL;
    cr_assert_eq(sqlited_params_add_int64(NULL, NULL, 1), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_add_null(NULL, ":a"), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_open(&p), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, "abc", -2), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_params_count(p), 0);
    cr_assert_eq(sqlited_params_add_text(p, NULL, "abc", 2), 0);
    cr_assert_eq(sqlited_params_count(p), 1);
    sqlited_params_close(p);
    sqlited_params_close(NULL);
    sqlited_params_clear(NULL);
    cr_assert_eq(sqlited_params_count(NULL), 0);
}

/* ---------------------------------------------------------- connecting */

Test(client, open_missing_socket)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/nope.sock", d.dir);
    sqlited *db = (sqlited *)&db; /* must be overwritten with NULL */
    cr_assert_eq(sqlited_open(path, 1000, &db), -ENOENT);
    cr_assert_null(db);
}

/* A socket file with nobody listening (a daemon that crashed). */
Test(client, open_nothing_listening)
{
    char path[200];
    snprintf(path, sizeof(path), "%s/dead.sock", d.dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
    sqlited *db = (sqlited *)&db;
    cr_assert_eq(sqlited_open(path, 1000, &db), -ECONNREFUSED);
    cr_assert_null(db);
}

Test(client, open_path_too_long)
{
    char path[300];
    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    sqlited *db = (sqlited *)&db;
    cr_assert_eq(sqlited_open(path, 1000, &db), -ENAMETOOLONG);
    cr_assert_null(db);
}

Test(client, open_null_out)
{
    cr_assert_eq(sqlited_open(d.sock_path, 1000, NULL), SQLITED_EMISUSE);
}

/* A fake daemon: listens on @path and answers the first request of the
 * first connection with @reply (the msgid patched in), then waits for the
 * client to hang up. With @reply NULL it accepts nothing at all. */
struct fake {
    char path[200];
    int listen_fd;
    const char *reply; /* the bytes to answer with */
    size_t reply_len;
    bool patch_msgid; /* reply[2] is a msgid (positive fixint) to replace
                         with the request's */
    pthread_t thread;
    bool started;
};

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    struct pollfd pfd = {.fd = f->listen_fd, .events = POLLIN};
    if (poll(&pfd, 1, HARNESS_IO_TIMEOUT_MS) != 1)
        return NULL;
    int fd = accept(f->listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    /* Read one request: [0, msgid, "hello", []]. */
    char buf[256];
    size_t len = 0;
    pfd = (struct pollfd){.fd = fd, .events = POLLIN};
    while (len < 10 && poll(&pfd, 1, HARNESS_IO_TIMEOUT_MS) == 1) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    if (len >= 3) {
        char *out = malloc(f->reply_len);
        memcpy(out, f->reply, f->reply_len);
        if (f->patch_msgid)
            out[2] = buf[2]; /* the client's msgid, a positive fixint */
        send(fd, out, f->reply_len, MSG_NOSIGNAL);
        free(out);
    }
    /* Until the client hangs up. */
    while (poll(&pfd, 1, HARNESS_IO_TIMEOUT_MS) == 1 &&
           read(fd, buf, sizeof(buf)) > 0)
        ;
    close(fd);
    return NULL;
}

static void fake_start(struct fake *f, const char *name, const char *reply,
                       size_t reply_len, bool patch_msgid)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "%s/%s", d.dir, name);
    f->listen_fd = harness_listen(f->path, 8);
    f->reply = reply;
    f->reply_len = reply_len;
    f->patch_msgid = patch_msgid;
    if (reply) {
        cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
        f->started = true;
    }
}

static void fake_stop(struct fake *f)
{
    if (f->started)
        pthread_join(f->thread, NULL);
    close(f->listen_fd);
}

/* A daemon that accepts (the listen backlog does) but never answers the
 * handshake: sqlited_open() gives up at its timeout. */
Test(client, open_times_out)
{
    struct fake f;
    fake_start(&f, "mute.sock", NULL, 0, false);
    sqlited *db = (sqlited *)&db;
    cr_assert_eq(sqlited_open(f.path, 300, &db), -ETIMEDOUT);
    cr_assert_null(db);
    fake_stop(&f);
}

/* A daemon speaking protocol 2. */
Test(client, open_wrong_protocol_version)
{
    /* [1, msgid, nil, {"server": "sqlited", "protocol": 2}] */
    static const char reply[] = "\x94\x01\x01\xc0\x82\xa6server\xa7sqlited"
                                "\xa8protocol\x02";
    struct fake f;
    fake_start(&f, "v2.sock", reply, sizeof(reply) - 1, true);
    sqlited *db = (sqlited *)&db;
    cr_assert_eq(sqlited_open(f.path, HARNESS_IO_TIMEOUT_MS, &db),
                 SQLITED_EVERSION);
    cr_assert_null(db);
    fake_stop(&f);
}

/* A peer answering bytes that are not MessagePack. */
Test(client, open_garbage_reply)
{
    struct fake f;
    fake_start(&f, "garbage.sock", "\xc1\xc1\xc1", 3, false);
    sqlited *db = (sqlited *)&db;
    cr_assert_eq(sqlited_open(f.path, HARNESS_IO_TIMEOUT_MS, &db),
                 SQLITED_EPROTO);
    cr_assert_null(db);
    fake_stop(&f);
}

Test(client, handshake_information)
{
    sqlited *db = harness_connect(&d);
    cr_assert_str_eq(sqlited_server_version(db), SQLITED_VERSION);
    cr_assert_str_eq(sqlited_sqlite_version(db), sqlite3_libversion());
    cr_assert_eq(sqlited_max_message_size(db), 64u << 20);
    cr_assert_eq(sqlited_max_params(db), 32766);
    cr_assert_eq(sqlited_tx_idle_timeout(db), 5000);
    cr_assert_eq(sqlited_tx_max_duration(db), 60000);
    cr_assert_eq(sqlited_tx_idle_timeout(NULL), -1);
    cr_assert_eq(sqlited_tx_max_duration(NULL), -1);
    sqlited_close(db);

    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d, (const char *const[]){"--max-message-size", "100000",
                                             "--tx-idle-timeout", "700",
                                             "--tx-max-duration", "0", NULL});
    db = harness_connect(&d);
    cr_assert_eq(sqlited_max_message_size(db), 100000);
    cr_assert_eq(sqlited_tx_idle_timeout(db), 700);
    cr_assert_eq(sqlited_tx_max_duration(db), 0);
    sqlited_close(db);
}

/* ------------------------------------------------------- a daemon gone */

static void assert_broken(sqlited *db, int rc, const char *what)
{
    cr_assert(rc == SQLITED_ECLOSED || (rc < 0 && rc > -1000),
              "%s: %d (%s), expected SQLITED_ECLOSED or a negated errno", what,
              rc, sqlited_codename(rc));
    cr_assert_eq(sqlited_errcode(db), rc, "%s", what);
}

Test(client, daemon_killed)
{
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    daemon_kill(&d);
    sqlited_rows *rows = (sqlited_rows *)&rows;
    int rc = sqlited_query(db, "SELECT 1", NULL, &rows);
    assert_broken(db, rc, "first call");
    cr_assert_null(rows);
    /* From then on, at once and always SQLITED_ECLOSED. */
    cr_assert_eq(sqlited_ping(db), SQLITED_ECLOSED);
    cr_assert_eq(sqlited_errcode(db), SQLITED_ECLOSED);
    cr_assert_str_eq(sqlited_errname(db), "SQLITED_ECLOSED");
    cr_assert_eq(sqlited_exec(db, "SELECT 1", NULL, NULL), SQLITED_ECLOSED);
    cr_assert_eq(sqlited_query(db, "SELECT 1", NULL, &rows), SQLITED_ECLOSED);
    /* Even with the daemon back: a broken connection stays broken. */
    daemon_restart(&d, NULL);
    cr_assert_eq(sqlited_ping(db), SQLITED_ECLOSED);
    sqlited_close(db);
    db = harness_connect(&d);
    cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
}

/* The daemon closing an idle connection (here: at shutdown). */
Test(client, daemon_stopped)
{
    sqlited *db = harness_connect(&d);
    cr_assert_eq(daemon_stop(&d), 0);
    assert_broken(db, sqlited_exec(db, "SELECT 1", NULL, NULL), "first call");
    cr_assert_eq(sqlited_ping(db), SQLITED_ECLOSED);
    sqlited_close(db);
}

/* A request larger than the daemon's max_message_size (from the handshake)
 * is refused by the library before it is sent, since the daemon would have
 * to drop the connection; the connection stays usable. */
Test(client, request_over_the_message_limit)
{
    cr_assert_eq(daemon_stop(&d), 0);
    daemon_restart(&d,
                   (const char *const[]){"--max-message-size", "8192", NULL});
    sqlited *db = harness_connect(&d);
    char sql[10000];
    memset(sql, ' ', sizeof(sql) - 1);
    memcpy(sql, "SELECT 1", 8);
    sql[sizeof(sql) - 1] = '\0';
    sqlited_rows *rows = NULL;
    int rc = sqlited_query(db, sql, NULL, &rows);
    cr_assert_eq(rc, SQLITED_TOO_LARGE, "%d %s: %s", rc, sqlited_errname(db),
                 sqlited_errmsg(db));
    cr_assert_null(rows);
    cr_assert_str_eq(sqlited_errname(db), "SQLITED_TOO_LARGE");
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT 1"), 1);
    sqlited_close(db);
}

/* -------------------------------------------------------------- results */

Test(client, column_accessors_out_of_range)
{
    sqlited *db = harness_connect(&d);
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_query(db, "SELECT 7 AS a, 'x' AS b", NULL, &rows), 0);
    cr_assert_eq(sqlited_rows_column_count(rows), 2);
    cr_assert_null(sqlited_rows_column_name(rows, 2));
    cr_assert_null(sqlited_rows_column_name(rows, -1));
    /* Before the first row there is no current row. */
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_NULL);
    cr_assert_eq(sqlited_column_int64(rows, 0), 0);
    cr_assert_null(sqlited_column_text(rows, 1));

    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 7);
    for (int i = -1; i <= 2; i += 3) {
        cr_assert_eq(sqlited_column_type(rows, i), SQLITED_NULL, "column %d",
                     i);
        cr_assert_eq(sqlited_column_int64(rows, i), 0);
        cr_assert(sqlited_column_double(rows, i) == 0.0);
        cr_assert_null(sqlited_column_text(rows, i));
        cr_assert_null(sqlited_column_blob(rows, i));
        cr_assert_eq(sqlited_column_bytes(rows, i), 0);
    }
    cr_assert_eq(sqlited_column_type(rows, 1000000), SQLITED_NULL);

    /* After the last row, no current row either. */
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    cr_assert_eq(sqlited_column_type(rows, 0), SQLITED_NULL);
    cr_assert_eq(sqlited_column_int64(rows, 0), 0);
    cr_assert_null(sqlited_column_text(rows, 1));
    sqlited_rows_close(rows);

    /* NULL everywhere is harmless. */
    cr_assert_eq(sqlited_rows_next(NULL), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_rows_column_count(NULL), 0);
    cr_assert_null(sqlited_rows_column_name(NULL, 0));
    cr_assert_eq(sqlited_column_type(NULL, 0), SQLITED_NULL);
    cr_assert_null(sqlited_column_text(NULL, 0));
    sqlited_rows_close(NULL);
    sqlited_close(NULL);
    sqlited_close(db);
}

/* Conversions between the numeric types follow SQLite's. */
Test(client, column_conversions)
{
    sqlited *db = harness_connect(&d);
    sqlited_rows *rows = NULL;
    cr_assert_eq(
        sqlited_query(db, "SELECT 2.9, -2.9, 5, NULL, 1e300", NULL, &rows), 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 2);
    cr_assert_eq(sqlited_column_int64(rows, 1), -2);
    cr_assert(sqlited_column_double(rows, 2) == 5.0);
    cr_assert_eq(sqlited_column_int64(rows, 3), 0);
    cr_assert(sqlited_column_double(rows, 3) == 0.0);
    cr_assert_eq(sqlited_column_int64(rows, 4), INT64_MAX);
    /* Numbers are not text. */
    cr_assert_null(sqlited_column_text(rows, 2));
    sqlited_rows_close(rows);
    sqlited_close(db);
}

/* A result stays readable after its connection is closed. */
Test(client, rows_outlive_the_connection)
{
    sqlited *db = harness_connect(&d);
    sqlited_rows *rows =
        harness_query(db,
                      "SELECT 1 AS n, 'one' AS name, x'0102' AS b "
                      "UNION ALL SELECT 2, 'two', x'03'",
                      NULL);
    sqlited_close(db);
    cr_assert_eq(sqlited_rows_column_count(rows), 3);
    cr_assert_str_eq(sqlited_rows_column_name(rows, 1), "name");
    cr_assert_eq(sqlited_rows_count(rows), 2);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 1);
    cr_assert_str_eq(sqlited_column_text(rows, 1), "one");
    cr_assert_eq(sqlited_column_bytes(rows, 2), 2);
    cr_assert_eq(memcmp(sqlited_column_blob(rows, 2), "\x01\x02", 2), 0);
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_ROW);
    cr_assert_eq(sqlited_column_int64(rows, 0), 2);
    cr_assert_str_eq(sqlited_column_text(rows, 1), "two");
    cr_assert_eq(sqlited_rows_next(rows), SQLITED_DONE);
    sqlited_rows_close(rows);
}

/* Several results from one connection are independent. */
Test(client, several_results_open_at_once)
{
    sqlited *db = harness_connect(&d);
    sqlited_rows *a = NULL, *b = NULL;
    cr_assert_eq(sqlited_query(db, "SELECT 'a'", NULL, &a), 0);
    cr_assert_eq(sqlited_query(db, "SELECT 'b'", NULL, &b), 0);
    cr_assert_eq(sqlited_rows_next(b), SQLITED_ROW);
    cr_assert_eq(sqlited_rows_next(a), SQLITED_ROW);
    cr_assert_str_eq(sqlited_column_text(a, 0), "a");
    cr_assert_str_eq(sqlited_column_text(b, 0), "b");
    sqlited_rows_close(a);
    cr_assert_str_eq(sqlited_column_text(b, 0), "b");
    sqlited_rows_close(b);
    sqlited_close(db);
}

/* ---------------------------------------------------------------- codes */

Test(client, error_state_resets_after_success)
{
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_errcode(db), 0);
    sqlited_rows *rows = NULL;
    cr_assert_eq(sqlited_query(db, "SELEC", NULL, &rows), SQLITE_ERROR);
    cr_assert_eq(sqlited_errcode(db), SQLITE_ERROR);
    cr_assert_str_eq(sqlited_errname(db), "SQLITE_ERROR");
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(sqlited_errcode(db), 0);
    cr_assert_str_eq(sqlited_errname(db), "OK");
    cr_assert_str_eq(sqlited_errmsg(db), "not an error");
    sqlited_close(db);
}

Test(client, codenames)
{
    cr_assert_str_eq(sqlited_codename(SQLITE_CONSTRAINT_UNIQUE),
                     "SQLITE_CONSTRAINT_UNIQUE");
    cr_assert_str_eq(sqlited_codename(SQLITE_CONSTRAINT), "SQLITE_CONSTRAINT");
    cr_assert_str_eq(sqlited_codename(SQLITE_BUSY), "SQLITE_BUSY");
    cr_assert_str_eq(sqlited_codename(SQLITE_IOERR_FSYNC),
                     "SQLITE_IOERR_FSYNC");
    cr_assert_str_eq(sqlited_codename(SQLITE_ROW), "SQLITE_ROW");
    cr_assert_str_eq(sqlited_codename(SQLITE_DONE), "SQLITE_DONE");
    cr_assert_str_eq(sqlited_codename(SQLITED_BAD_REQUEST),
                     "SQLITED_BAD_REQUEST");
    cr_assert_str_eq(sqlited_codename(SQLITED_TOO_LARGE), "SQLITED_TOO_LARGE");
    cr_assert_str_eq(sqlited_codename(SQLITED_ECLOSED), "SQLITED_ECLOSED");
    cr_assert_str_eq(sqlited_codename(SQLITED_EVERSION), "SQLITED_EVERSION");
    cr_assert_str_eq(sqlited_codename(-ECONNREFUSED), "ECONNREFUSED");
    cr_assert_str_eq(sqlited_codename(-ENOENT), "ENOENT");
    cr_assert_str_eq(sqlited_codename(123456789), "UNKNOWN");
    cr_assert_str_eq(sqlited_codename(-1999), "UNKNOWN");
}

Test(client, strerror)
{
    cr_assert_str_eq(sqlited_strerror(SQLITE_CONSTRAINT_UNIQUE),
                     sqlite3_errstr(SQLITE_CONSTRAINT_UNIQUE));
    cr_assert_str_eq(sqlited_strerror(SQLITE_BUSY),
                     sqlite3_errstr(SQLITE_BUSY));
    cr_assert_str_eq(sqlited_strerror(0), sqlite3_errstr(0));
    cr_assert_str_eq(sqlited_strerror(SQLITED_BAD_REQUEST),
                     "malformed request");
    cr_assert_str_eq(sqlited_strerror(SQLITED_ECLOSED), "connection closed");
    cr_assert_str_eq(sqlited_strerror(SQLITED_EMISUSE),
                     "library used incorrectly");
    cr_assert_str_eq(sqlited_strerror(-ENOENT), strerror(ENOENT));
    cr_assert_not_null(sqlited_strerror(123456789));
    cr_assert_not_null(sqlited_strerror(-1999));
    cr_assert_not_null(sqlited_strerror(INT32_MIN));
}

/* One connection moved between threads, used by one at a time. */
static void *ping_from_thread(void *arg)
{
    sqlited *db = arg;
    return (void *)(intptr_t)sqlited_ping(db);
}

Test(client, connection_moves_between_threads)
{
    sqlited *db = harness_connect(&d);
    for (int i = 0; i < 4; i++) {
        pthread_t t;
        void *ret;
        cr_assert_eq(pthread_create(&t, NULL, ping_from_thread, db), 0);
        pthread_join(t, &ret);
        cr_assert_eq((intptr_t)ret, 0);
    }
    cr_assert_eq(harness_query_int(db, "SELECT 1"), 1);
    sqlited_close(db);
}

/* query needs somewhere to put its result. */
Test(client, query_without_rows_pointer)
{
    sqlited *db = harness_connect(&d);
    cr_assert_eq(sqlited_query(db, "SELECT 1", NULL, NULL), SQLITED_EMISUSE);
    cr_assert_eq(sqlited_ping(db), 0);
    sqlited_close(db);
}
