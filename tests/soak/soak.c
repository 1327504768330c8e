/* sqlited-soak: one daemon under a long mixed load, checked for leaks and
 * lost writes (make soak).
 *
 * Client processes (forked, each with its own libsqlited connections) run
 * until the time is up, each in one role: writers (acknowledged inserts,
 * batches, bulk inserts), readers, cursor clients (results opened, partly
 * fetched, abandoned), transaction clients (committed, rolled back, or
 * abandoned by hanging up), a reconnecting client, and hostile clients on
 * raw sockets (garbage bytes, oversize declared lengths, slowloris partial
 * messages, pipelined floods never read, requests whose client vanishes).
 *
 * The daemon's resident set and open descriptors are sampled after a
 * warm-up (a fifth of the run) and at the end, once the clients are gone
 * (the descriptors also before any client came). The soak fails when, at
 * the end, the RSS is beyond RSS_MARGIN_PERCENT (at least
 * RSS_MARGIN_MIN_KIB) over its warm-up value, the descriptors more than
 * FD_MARGIN over their count before the clients, when the daemon died, or
 * when a write it acknowledged is missing.
 *
 * Usage: sqlited-soak --daemon BIN --dir DIR [--seconds N]
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "sqlited.h"

/* Margins at the end over the warm-up sample. */
#define RSS_MARGIN_PERCENT 25
#define RSS_MARGIN_MIN_KIB (16 * 1024)
#define FD_MARGIN 2

#define WRITERS 2
#define HOSTILE_KINDS 5

enum role {
    R_WRITER,
    R_READER,
    R_CURSOR,
    R_TX,
    R_RECONNECT,
    R_HOSTILE,
    R_COUNT
};

static const char *const role_names[R_COUNT] = {
    "writer", "reader", "cursor", "transaction", "reconnect", "hostile"};

/* Per client, in memory shared with the parent. */
struct tally {
    atomic_uint_fast64_t ops, errors;
    atomic_int_fast64_t acked; /* writers: seq 0 .. acked - 1 acknowledged */
    char first_error[200];
};

static struct tally *tallies;
static const char *sock_path;
static int64_t stop_at_ns;

static int64_t clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool running(void)
{
    return clock_ns() < stop_at_ns;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Records an unexpected error of a well-behaved client. */
static void error(struct tally *t, sqlited *db, const char *what, int rc)
{
    atomic_fetch_add(&t->errors, 1);
    if (t->first_error[0] == '\0')
        snprintf(t->first_error, sizeof(t->first_error), "%s: %s: %s", what,
                 sqlited_codename(rc), db ? sqlited_errmsg(db) : "");
}

/* True when @rc means the connection is unusable (see sqlited.h). */
static bool broken(int rc)
{
    return rc == SQLITED_ECLOSED || rc == SQLITED_EPROTO ||
           (rc < 0 && rc > -1000 && rc != -ENOMEM);
}

static sqlited *connect_or_wait(struct tally *t)
{
    sqlited *db = NULL;
    while (running()) {
        int rc = sqlited_open(sock_path, 5000, &db);
        if (rc == 0)
            return db;
        error(t, NULL, "open", rc);
        sleep_ms(100);
    }
    return NULL;
}

/* Acknowledged inserts into acks (client, seq), retried until acknowledged
 * so that the acknowledged ones are exactly 0 .. acked - 1; every fifth
 * operation a batch or a bulk insert into t. */
static void run_writer(int id, struct tally *t)
{
    sqlited *db = connect_or_wait(t);
    sqlited_params *p;
    sqlited_batch *b;
    int64_t seq = 0;

    if (db == NULL || sqlited_params_open(&p) != 0 ||
        sqlited_batch_open(&b) != 0)
        return;
    for (uint64_t n = 0; running(); n++) {
        int rc;
        sqlited_params_clear(p);
        if (n % 5 == 3) {
            for (int i = 0; i < 20; i++)
                sqlited_params_add_text(p, NULL, "bulk row", -1);
            rc = sqlited_exec_many(db, "INSERT INTO t(v) VALUES (?)", p, 1);
            if (rc != 0)
                error(t, db, "bulk", rc);
        } else if (n % 5 == 4) {
            sqlited_batch_clear(b);
            sqlited_batch_add(b, "INSERT INTO t(v) VALUES ('batch')", NULL);
            sqlited_batch_add(b, "SELECT count(*) FROM t", NULL);
            rc = sqlited_batch_run(db, b, 0);
            if (rc != 0)
                error(t, db, "batch", rc);
        } else {
            sqlited_params_add_int64(p, NULL, id);
            sqlited_params_add_int64(p, NULL, seq);
            rc = sqlited_exec(db,
                              "INSERT OR IGNORE INTO acks(client, seq) "
                              "VALUES (?, ?)",
                              p, NULL);
            if (rc == 0)
                atomic_store(&t->acked, ++seq);
            else
                error(t, db, "insert", rc);
        }
        atomic_fetch_add(&t->ops, 1);
        if (broken(rc)) {
            sqlited_close(db);
            if ((db = connect_or_wait(t)) == NULL)
                break;
        }
    }
    sqlited_batch_close(b);
    sqlited_params_close(p);
    sqlited_close(db);
}

/* Point reads and short range reads of t and acks. */
static void run_reader(struct tally *t)
{
    sqlited *db = connect_or_wait(t);
    sqlited_params *p;
    if (db == NULL || sqlited_params_open(&p) != 0)
        return;
    for (int64_t n = 0; running(); n++) {
        sqlited_rows *rows;
        sqlited_params_clear(p);
        sqlited_params_add_int64(p, NULL, n % 500);
        int rc = sqlited_query(db,
                               n % 2 ? "SELECT id, v FROM t WHERE id = ?"
                                     : "SELECT client, seq FROM acks "
                                       "WHERE seq >= ? LIMIT 10",
                               p, &rows);
        if (rc == 0) {
            while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW)
                ;
            if (rc != SQLITED_DONE)
                error(t, db, "read rows", rc);
            sqlited_rows_close(rows);
        } else {
            error(t, db, "read", rc);
        }
        atomic_fetch_add(&t->ops, 1);
        if (broken(rc)) {
            sqlited_close(db);
            if ((db = connect_or_wait(t)) == NULL)
                break;
        }
    }
    sqlited_params_close(p);
    sqlited_close(db);
}

/* Results larger than a chunk, so that the daemon opens a cursor: read to
 * the end, closed after a few rows, or abandoned by hanging up. */
static void run_cursor(struct tally *t)
{
    sqlited *db = connect_or_wait(t);
    for (int n = 0; db && running(); n++) {
        sqlited_rows *rows;
        int rc = sqlited_query(db,
                               "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                               "SELECT x + 1 FROM c WHERE x < 5000) "
                               "SELECT x, printf('%040d', x) FROM c",
                               NULL, &rows);
        if (rc != 0) {
            error(t, db, "cursor query", rc);
        } else {
            int want = n % 3 == 0 ? 1 << 30 : 100 + n % 1000;
            for (int i = 0;
                 i < want && (rc = sqlited_rows_next(rows)) == SQLITED_ROW; i++)
                ;
            if (rc != SQLITED_ROW && rc != SQLITED_DONE)
                error(t, db, "fetch", rc);
            if (n % 3 == 2) {
                /* Abandoned: the daemon must end the cursor itself. */
                sqlited_close(db);
                sqlited_rows_close(rows);
                db = connect_or_wait(t);
                atomic_fetch_add(&t->ops, 1);
                continue;
            }
            sqlited_rows_close(rows);
        }
        atomic_fetch_add(&t->ops, 1);
        if (broken(rc)) {
            sqlited_close(db);
            db = connect_or_wait(t);
        }
    }
    sqlited_close(db);
}

/* Interactive transactions: committed, rolled back, or abandoned with the
 * connection (the daemon must roll them back). */
static void run_tx(struct tally *t)
{
    sqlited *db = connect_or_wait(t);
    for (int n = 0; db && running(); n++) {
        int rc = sqlited_begin(db, SQLITED_TX_IMMEDIATE);
        if (rc == 0)
            rc = sqlited_exec(db, "INSERT INTO t(v) VALUES ('in a tx')", NULL,
                              NULL);
        if (rc == 0)
            rc = sqlited_exec(db,
                              "UPDATE t SET v = 'updated' WHERE id = "
                              "(SELECT max(id) FROM t)",
                              NULL, NULL);
        if (rc == 0 && n % 3 == 0)
            rc = sqlited_commit(db);
        else if (rc == 0 && n % 3 == 1)
            rc = sqlited_rollback(db);
        else if (rc == 0) {
            sqlited_close(db); /* abandoned, open */
            db = connect_or_wait(t);
        }
        if (rc != 0) {
            error(t, db, "transaction", rc);
            if (sqlited_tx_id(db) != 0)
                sqlited_rollback(db);
        }
        atomic_fetch_add(&t->ops, 1);
        if (broken(rc)) {
            sqlited_close(db);
            db = connect_or_wait(t);
        }
        sleep_ms(5);
    }
    sqlited_close(db);
}

/* Connects, pings and hangs up, again and again. */
static void run_reconnect(struct tally *t)
{
    while (running()) {
        sqlited *db = connect_or_wait(t);
        if (db == NULL)
            break;
        int rc = sqlited_ping(db);
        if (rc != 0)
            error(t, db, "ping", rc);
        sqlited_close(db);
        atomic_fetch_add(&t->ops, 1);
    }
}

/* ---------------------------------------------------------------- hostile */

static int raw_connect(void)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n <= 0)
            return; /* the daemon hung up on us: fine */
        p += n;
        len -= (size_t)n;
    }
}

/* A ping request, [0, msgid, "ping", []]. */
static const char ping_msg[] = "\x94\x00\x01\xa4ping\x90";

/* One of the attacks, chosen by @n, on a fresh connection. */
static void attack(int n)
{
    int fd = raw_connect();
    if (fd < 0)
        return;
    switch (n % HOSTILE_KINDS) {
    case 0: { /* garbage: reserved byte 0xc1 after a valid prefix */
        static const char garbage[] = "\x94\x00\x01\xc1\xc1\xc1 not msgpack";
        send_all(fd, garbage, sizeof(garbage) - 1);
        break;
    }
    case 1: { /* a 5-byte message that declares a gigabyte */
        static const char huge[] = "\x94\x00\x01\xa4ping\xc6\x40\x00\x00\x00";
        send_all(fd, huge, sizeof(huge) - 1);
        sleep_ms(50);
        break;
    }
    case 2: /* slowloris: a request a byte at a time, never finished */
        for (size_t i = 0; i + 1 < sizeof(ping_msg) - 1 && running(); i++) {
            send_all(fd, ping_msg + i, 1);
            sleep_ms(100);
        }
        break;
    case 3: { /* a flood of pipelined pings, never read */
        char buf[sizeof(ping_msg) - 1];
        memcpy(buf, ping_msg, sizeof(buf));
        struct timeval tv = {.tv_sec = 1};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        for (int i = 0; i < 20000; i++)
            send_all(fd, buf, sizeof(buf));
        break;
    }
    case 4: { /* a long query whose client vanishes at once */
        static const char slow[] =
            "\x94\x00\x02\xa5query\x91\xd9\x64"
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 1e9) SELECT count(*) FROM c";
        send_all(fd, slow, sizeof(slow) - 1);
        break;
    }
    }
    close(fd);
}

static void run_hostile(struct tally *t)
{
    for (int n = 0; running(); n++) {
        attack(n);
        atomic_fetch_add(&t->ops, 1);
        sleep_ms(20);
    }
}

/* ------------------------------------------------------------------- main */

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(dir);
    return n;
}

static bool alive(pid_t pid)
{
    return waitpid(pid, NULL, WNOHANG) == 0;
}

/* Makes the schema through the daemon. */
static int setup(void)
{
    sqlited *db;
    int rc = sqlited_open(sock_path, 5000, &db);
    if (rc == 0)
        rc = sqlited_exec(db,
                          "CREATE TABLE acks(client INTEGER, seq INTEGER, "
                          "PRIMARY KEY (client, seq)); "
                          "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); "
                          "INSERT INTO t(v) SELECT 'seed' FROM "
                          "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                          "SELECT x + 1 FROM c WHERE x < 500) SELECT x FROM c)",
                          NULL, NULL);
    if (rc != 0)
        fprintf(stderr, "soak: setup: %s: %s\n", sqlited_codename(rc),
                sqlited_errmsg(db));
    sqlited_close(db);
    return rc;
}

/* Counts, through the daemon, the acknowledged rows of writer @id. Returns
 * the count, or -1. */
static int64_t count_acked(int id, int64_t acked)
{
    sqlited *db;
    sqlited_params *p = NULL;
    sqlited_rows *rows = NULL;
    int64_t n = -1;
    if (sqlited_open(sock_path, 5000, &db) != 0 || sqlited_params_open(&p) != 0)
        goto out;
    sqlited_params_add_int64(p, NULL, id);
    sqlited_params_add_int64(p, NULL, acked);
    if (sqlited_query(db,
                      "SELECT count(*) FROM acks WHERE client = ? AND seq < ?",
                      p, &rows) == 0 &&
        sqlited_rows_next(rows) == SQLITED_ROW)
        n = sqlited_column_int64(rows, 0);
out:
    sqlited_rows_close(rows);
    sqlited_params_close(p);
    sqlited_close(db);
    return n;
}

int main(int argc, char **argv)
{
    const char *bin = NULL, *dir = NULL;
    double seconds = 300;
    static const enum role roles[] = {R_WRITER,    R_WRITER,  R_READER,
                                      R_READER,    R_CURSOR,  R_TX,
                                      R_RECONNECT, R_HOSTILE, R_HOSTILE};
    const int nclients = (int)(sizeof(roles) / sizeof(roles[0]));
    char db_path[512], log_path[512], sock[512];
    pid_t pids[sizeof(roles) / sizeof(roles[0])];
    int failures = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--daemon") == 0)
            bin = argv[i + 1];
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[i + 1];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
    }
    if (bin == NULL || dir == NULL || seconds < 5) {
        fprintf(stderr, "usage: sqlited-soak --daemon BIN --dir DIR "
                        "[--seconds N (>= 5, default 300)]\n");
        return 2;
    }
    mkdir(dir, 0755);
    snprintf(db_path, sizeof(db_path), "%s/soak.db", dir);
    snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);
    snprintf(sock, sizeof(sock), "%s/soak.sock", dir);
    unlink(db_path);
    unlink(log_path);
    sock_path = sock;
    signal(SIGPIPE, SIG_IGN);

    pid_t daemon = daemon_start(bin, db_path, sock, "NORMAL", 0, log_path);
    if (daemon < 0 || setup() != 0)
        return 1;
    tallies = mmap(NULL, sizeof(*tallies) * (size_t)nclients,
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tallies == MAP_FAILED)
        return 1;
    memset(tallies, 0, sizeof(*tallies) * (size_t)nclients);
    /* Before any client: what the descriptors must come back to. */
    int fds_idle = count_fds(daemon);

    int64_t start = clock_ns();
    stop_at_ns = start + (int64_t)(seconds * 1e9);
    printf("soak: %.0f s, daemon pid %d, %d clients\n", seconds, (int)daemon,
           nclients);
    fflush(stdout);
    for (int i = 0; i < nclients; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            switch (roles[i]) {
            case R_WRITER:
                run_writer(i, &tallies[i]);
                break;
            case R_READER:
                run_reader(&tallies[i]);
                break;
            case R_CURSOR:
                run_cursor(&tallies[i]);
                break;
            case R_TX:
                run_tx(&tallies[i]);
                break;
            case R_RECONNECT:
                run_reconnect(&tallies[i]);
                break;
            default:
                run_hostile(&tallies[i]);
                break;
            }
            _exit(0);
        }
    }

    /* Warm-up: a fifth of the run, with the load on. */
    while (clock_ns() < start + (stop_at_ns - start) / 5 && alive(daemon))
        sleep_ms(100);
    long rss_warm = rss_kib(daemon, false);
    int fds_warm = count_fds(daemon);
    printf("soak: after warm-up (%.0f s): RSS %ld KiB, %d descriptors\n",
           (double)(clock_ns() - start) / 1e9, rss_warm, fds_warm);
    fflush(stdout);

    while (running() && alive(daemon))
        sleep_ms(200);
    for (int i = 0; i < nclients; i++) {
        int status;
        if (clock_ns() > stop_at_ns + 30 * 1000000000LL)
            kill(pids[i], SIGKILL);
        waitpid(pids[i], &status, 0);
    }
    bool up = alive(daemon);
    /* The daemon ends what the clients left (cursors, transactions, flood
     * replies) as it notices they are gone: give it a moment. */
    for (int i = 0; i < 20 && up; i++)
        sleep_ms(100);
    long rss_end = up ? rss_kib(daemon, false) : -1;
    int fds_end = up ? count_fds(daemon) : -1;
    long rss_peak = up ? rss_kib(daemon, true) : -1;

    for (int i = 0; i < nclients; i++)
        printf("soak: %-11s %2d: %8llu operations, %6llu errors%s%s\n",
               role_names[roles[i]], i,
               (unsigned long long)atomic_load(&tallies[i].ops),
               (unsigned long long)atomic_load(&tallies[i].errors),
               tallies[i].first_error[0] ? "; first: " : "",
               tallies[i].first_error);
    if (!up) {
        printf("soak: FAIL: the daemon died; see %s\n", log_path);
        return 1;
    }
    long rss_limit =
        rss_warm + (rss_warm * RSS_MARGIN_PERCENT / 100 > RSS_MARGIN_MIN_KIB
                        ? rss_warm * RSS_MARGIN_PERCENT / 100
                        : RSS_MARGIN_MIN_KIB);
    printf("soak: at the end: RSS %ld KiB (limit %ld: warm-up + max(%d %%, "
           "%d KiB)), peak %ld KiB; %d descriptors (limit %d: before the "
           "clients, %d, + %d)\n",
           rss_end, rss_limit, RSS_MARGIN_PERCENT, RSS_MARGIN_MIN_KIB, rss_peak,
           fds_end, fds_idle + FD_MARGIN, fds_idle, FD_MARGIN);
    if (rss_end > rss_limit) {
        printf("soak: FAIL: the daemon's RSS grew beyond its margin\n");
        failures++;
    }
    /* Stricter than the warm-up sample, which counts the clients' sockets:
     * once they are gone, the descriptors must be back to where they were
     * before any client came. */
    if (fds_end > fds_idle + FD_MARGIN || fds_end > fds_warm + FD_MARGIN) {
        printf("soak: FAIL: the daemon holds more descriptors than before "
               "the clients came\n");
        failures++;
    }
    for (int i = 0; i < nclients; i++) {
        if (roles[i] != R_WRITER)
            continue;
        int64_t acked = atomic_load(&tallies[i].acked);
        int64_t found = count_acked(i, acked);
        printf("soak: writer %d: %lld writes acknowledged, %lld found\n", i,
               (long long)acked, (long long)found);
        if (found != acked) {
            printf("soak: FAIL: acknowledged writes are missing\n");
            failures++;
        }
    }
    server_stop(daemon);
    printf("soak: %s\n", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}
