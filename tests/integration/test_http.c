/* The --http listener: /livez, /readyz (the verdict of health), /metrics,
 * and what it refuses. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static int port;

/* A port nothing listens on now on the loopback address of @family
 * (AF_INET or AF_INET6): the kernel's choice for a socket bound to port 0,
 * freed again for the daemon. Returns -1, errno set, if that address
 * cannot be bound (no IPv6 here). */
static int free_port(int family)
{
    struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
    socklen_t len = sizeof(ss);
    if (family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
    else
        ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        errno = e;
        return -1;
    }
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    close(fd);
    return ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                    : ((struct sockaddr_in *)&ss)->sin_port);
}

/* Starts @dm with --http on a free port of the loopback address of
 * @family, and the arguments @more (NULL-terminated, may be NULL). Returns
 * the port. Another process may take it between free_port() and the
 * daemon's bind (other suites run beside): the daemon then stops, saying
 * it cannot listen there, and another port is tried. */
static int start_with_http(struct daemon *dm, int family,
                           const char *const *more)
{
    const char *args[8] = {"--http"};
    char addr[64];
    size_t n = 2;
    for (; more && *more; more++) {
        cr_assert_lt(n, sizeof(args) / sizeof(*args) - 1);
        args[n++] = *more;
    }
    args[n] = NULL;
    for (int attempt = 1;; attempt++) {
        int at = free_port(family);
        cr_assert_geq(at, 0, "no free port: %s", strerror(errno));
        snprintf(addr, sizeof(addr),
                 family == AF_INET6 ? "[::1]:%d" : "127.0.0.1:%d", at);
        args[1] = addr;
        if (daemon_try_start(dm, args))
            return at;
        char *log = daemon_log(dm);
        cr_assert(strstr(log, "cannot listen there") && attempt < 10,
                  "sqlited did not start with --http %s (attempt %d); its "
                  "stderr:\n%s",
                  addr, attempt, log);
        free(log);
        daemon_cleanup(dm);
    }
}

static void setup(void)
{
    port = start_with_http(&d, AF_INET, NULL);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(http, .init = setup, .fini = teardown, .timeout = 60);

struct http_reply {
    int status;
    char *body; /* after the headers; malloc'd */
};

/* Sends "@method @path HTTP/1.0" to the listener on loopback (@family
 * AF_INET: 127.0.0.1, AF_INET6: ::1) at @at_port and reads the whole answer
 * (the server closes an HTTP/1.0 connection after it). */
static void http_at(int family, int at_port, const char *method,
                    const char *path, struct http_reply *rep)
{
    struct sockaddr_storage ss = {0};
    socklen_t len_addr;
    char req[256], buf[1 << 16];
    size_t len = 0;
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        a->sin6_port = htons((uint16_t)at_port);
        len_addr = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a->sin_port = htons((uint16_t)at_port);
        len_addr = sizeof(*a);
    }
    cr_assert_eq(connect(fd, (struct sockaddr *)&ss, len_addr), 0,
                 "connect: %s", strerror(errno));
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.0\r\nHost: localhost\r\n"
                     "Content-Length: 0\r\n\r\n",
                     method, path);
    cr_assert_eq(harness_try_send(fd, req, (size_t)n), 0);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_gt(poll(&p, 1, HARNESS_IO_TIMEOUT_MS), 0, "no answer");
        ssize_t got = read(fd, buf + len, sizeof(buf) - 1 - len);
        cr_assert_geq(got, 0, "read: %s", strerror(errno));
        if (got == 0)
            break;
        len += (size_t)got;
        cr_assert_lt(len, sizeof(buf) - 1, "answer too long");
    }
    close(fd);
    buf[len] = '\0';
    cr_assert_eq(sscanf(buf, "HTTP/1.%*d %d", &rep->status), 1,
                 "not an HTTP answer: %s", buf);
    const char *body = strstr(buf, "\r\n\r\n");
    rep->body = strdup(body ? body + 4 : "");
}

/* The suite's listener, on 127.0.0.1. */
static void http(const char *method, const char *path, struct http_reply *rep)
{
    http_at(AF_INET, port, method, path, rep);
}

/* Fails the test unless @method @path answers @status with body @body. */
static void http_expect(const char *method, const char *path, int status,
                        const char *body)
{
    struct http_reply r;
    http(method, path, &r);
    cr_assert_eq(r.status, status, "%s %s: %s", method, path, r.body);
    cr_assert_str_eq(r.body, body, "%s %s", method, path);
    free(r.body);
}

Test(http, livez_is_200)
{
    http_expect("GET", "/livez", 200, "ok\n");
}

/* /readyz gives the verdict of health: 503 while the database file is
 * replaced underneath the daemon, 200 again once it is back. */
Test(http, readyz_follows_health)
{
    struct http_reply r;
    char moved[256], want[256];

    http("GET", "/readyz", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "ok: ready\n");
    free(r.body);

    snprintf(moved, sizeof(moved), "%s.moved", d.db_path);
    cr_assert_eq(rename(d.db_path, moved), 0);
    cr_assert_eq(mkdir(d.db_path, 0700), 0);
    http("GET", "/readyz", &r);
    cr_assert_eq(r.status, 503, "%s", r.body);
    snprintf(want, sizeof(want), "failing: the database file %s ", d.db_path);
    cr_assert(strncmp(r.body, want, strlen(want)) == 0, "%s", r.body);
    free(r.body);

    cr_assert_eq(rmdir(d.db_path), 0);
    cr_assert_eq(rename(moved, d.db_path), 0);
    /* The writer's watch notices the file is back at its next look. */
    int status = 0;
    for (int i = 0; i < 100 && status != 200; i++) {
        http("GET", "/readyz", &r);
        status = r.status;
        free(r.body);
        if (status != 200)
            harness_sleep_ms(100);
    }
    cr_assert_eq(status, 200);
}

/* /readyz answers 503 while a migration fails, 200 once it applies. The
 * suite's daemon has no --migrations: this one has both. */
static char mdir[64];

static void setup_migrations(void)
{
    snprintf(mdir, sizeof(mdir), "/tmp/sqlited-http-migrations-XXXXXX");
    cr_assert_not_null(mkdtemp(mdir));
    harness_put_file(mdir, "0001_a.up.sql", "CREATE TABLE a(x);");
    port = start_with_http(&d, AF_INET,
                           (const char *const[]){"--migrations", mdir, NULL});
}

static void teardown_migrations(void)
{
    char cmd[128];
    daemon_cleanup(&d);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mdir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", mdir);
}

Test(http, readyz_503_while_migrations_fail, .init = setup_migrations,
     .fini = teardown_migrations)
{
    struct http_reply r;
    char want[256];

    sqlited *db = harness_connect(&d);
    http("GET", "/readyz", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    free(r.body);

    harness_put_file(mdir, "0002_b.up.sql", "INSERT INTO nowhere VALUES (1);");
    cr_assert_eq(
        sqlited_migrate(db, SQLITED_MIGRATE_UP, SQLITED_MIGRATE_DEFAULT, NULL),
        SQLITE_ERROR);
    http("GET", "/readyz", &r);
    cr_assert_eq(r.status, 503, "%s", r.body);
    snprintf(want, sizeof(want),
             "failing: migrations failing: migration %s/0002_b.up.sql "
             "failed: no such table: nowhere",
             mdir);
    cr_assert(strncmp(r.body, want, strlen(want)) == 0, "%s", r.body);
    free(r.body);

    harness_put_file(mdir, "0002_b.up.sql", "CREATE TABLE b(x);");
    HARNESS_ASSERT_OK(db, sqlited_migrate(db, SQLITED_MIGRATE_UP,
                                          SQLITED_MIGRATE_DEFAULT, NULL));
    http("GET", "/readyz", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "ok: ready\n");
    free(r.body);
    sqlited_close(db);
}

Test(http, metrics_parse_as_prometheus_text)
{
    struct http_reply r;
    struct harness_output o;
    static const char check[] =
        "import sys\n"
        "from prometheus_client.parser import text_string_to_metric_families\n"
        "fams = list(text_string_to_metric_families(sys.stdin.read()))\n"
        "names = [f.name for f in fams]\n"
        "assert 'sqlited_requests' in names, names\n"
        "assert all(n.startswith('sqlited_') for n in names), names\n"
        "print('ok')\n";

    http("GET", "/metrics", &r);
    cr_assert_eq(r.status, 200);
    const char *argv[] = {"/usr/bin/python3", "-c", check, NULL};
    harness_run(argv, r.body, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "%s%s", o.out, o.err);
    cr_assert_str_eq(o.out, "ok\n");
    harness_output_free(&o);
    free(r.body);
}

Test(http, unknown_path_is_404)
{
    struct http_reply r;
    http("GET", "/", &r);
    cr_assert_eq(r.status, 404);
    cr_assert(strstr(r.body, "/metrics, /livez and /readyz"), "%s", r.body);
    free(r.body);
}

Test(http, post_is_refused)
{
    struct http_reply r;
    http("POST", "/metrics", &r);
    cr_assert_eq(r.status, 405);
    free(r.body);
    http("DELETE", "/livez", &r);
    cr_assert_eq(r.status, 405);
    free(r.body);
}

/* A value that is no numeric address and port stops the start-up, naming
 * the flag. */
Test(http, bad_address_is_refused_at_start)
{
    struct daemon other = {0};
    const char *argv[32];
    struct harness_output o;

    snprintf(other.dir, sizeof(other.dir), "%s", d.dir);
    snprintf(other.db_path, sizeof(other.db_path), "%s/other.db", d.dir);
    snprintf(other.sock_path, sizeof(other.sock_path), "%s/other.sock", d.dir);
    daemon_argv(&other, (const char *const[]){"--http", "localhost:80", NULL},
                argv, 32);
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_neq(o.status, 0);
    cr_assert(strstr(o.err, "--http localhost:80: not a numeric address"), "%s",
              o.err);
    harness_output_free(&o);
}

/* HEAD answers what GET would, headers only: probes that send HEAD get the
 * same status. */
Test(http, head_answers_the_status_without_a_body)
{
    http_expect("HEAD", "/readyz", 200, "");
    http_expect("HEAD", "/livez", 200, "");
}

/* The listener on an IPv6 address ([::1]:PORT) serves the same. */
Test(http, ipv6_listener)
{
    struct daemon d6 = {0};
    struct http_reply r;

    if (free_port(AF_INET6) < 0)
        cr_skip_test("::1 is not available here (%s): no IPv6 to test",
                     strerror(errno));
    int port6 = start_with_http(&d6, AF_INET6, NULL);
    http_at(AF_INET6, port6, "GET", "/readyz", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(r.body, "ok: ready\n");
    free(r.body);
    http_at(AF_INET6, port6, "GET", "/metrics", &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "# TYPE sqlited_uptime_seconds gauge"), "%s",
              r.body);
    free(r.body);
    daemon_cleanup(&d6);
}
