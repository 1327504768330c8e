/* sqlited-soak: one daemon under a long mixed load, checked for leaks,
 * lost writes and wrong answers (make soak; make tsan runs it against the
 * ThreadSanitizer build of the daemon).
 *
 * Client processes (forked, each with its own libsqlited connections) run
 * until the time is up, each in one role: writers (acknowledged inserts,
 * batches, bulk inserts, then their own acknowledged rows read back),
 * readers (point and range reads, answers checked), long readers (recursive
 * queries that run far past the inline budget, answers checked), cursor
 * clients (results opened, checked row by row, partly fetched, closed,
 * abandoned), transaction clients (committed, rolled back, or abandoned by
 * hanging up), a reconnecting client (pings, and requests it hangs up on
 * before their answer), and hostile clients on raw sockets (garbage bytes,
 * oversize declared lengths, slowloris partial messages, pipelined floods
 * never read, requests whose client vanishes). --scale N runs N clients of
 * each well-behaved role (two writers and two readers per N).
 *
 * The daemon's resident set and open descriptors (but those of the
 * database's own files: see count_fds()) are sampled after a warm-up (a fifth
 * of the run) and at the end, once the clients are gone (the descriptors also
 * before any client came). The soak fails when, at the end, the RSS is beyond
 * RSS_MARGIN_PERCENT (at least RSS_MARGIN_MIN_KIB) over its warm-up value, the
 * descriptors more than FD_MARGIN over their count before the clients, when the
 * daemon died, when a write it acknowledged is missing, when it gave a wrong
 * answer, when one of its I/O loops served no request, or when it does not
 * then exit 0 on SIGTERM with no sanitizer report in its stderr.
 * --sanitized skips the RSS bound (a sanitizer's shadow memory is most of
 * it) and keeps every other check.
 *
 * Usage: sqlited-soak --daemon BIN --dir DIR [--seconds N] [--scale N]
 *                     [--sanitized] [--daemon-arg OPTION]...
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

#define HOSTILE_KINDS 5
#define SEED_ROWS 500 /* t's rows 1 .. 500, all 'seed', never changed */
#define MAX_CLIENTS 128
#define MAX_DAEMON_ARGS 16

enum role {
    R_WRITER,
    R_READER,
    R_LONG_READER,
    R_CURSOR,
    R_TX,
    R_RECONNECT,
    R_HOSTILE,
    R_COUNT
};

static const char *const role_names[R_COUNT] = {
    "writer",      "reader",    "long reader", "cursor",
    "transaction", "reconnect", "hostile"};

/* Per client, in memory shared with the parent. */
struct tally {
    atomic_uint_fast64_t ops, errors, wrong;
    atomic_int_fast64_t acked; /* writers: seq 0 .. acked - 1 acknowledged */
    char first_error[200];
    char first_wrong[200];
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

/* Records a wrong answer: the soak fails. */
__attribute__((format(printf, 2, 3))) static void wrong(struct tally *t,
                                                        const char *fmt, ...)
{
    atomic_fetch_add(&t->wrong, 1);
    if (t->first_wrong[0] == '\0') {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->first_wrong, sizeof(t->first_wrong), fmt, ap);
        va_end(ap);
    }
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

/* Counts an operation of @t that ended with @rc, and replaces *@db when
 * @rc means it is broken. Returns false when no new connection could be
 * made before the time was up (*@db is then NULL). */
static bool counted(struct tally *t, sqlited **db, int rc)
{
    atomic_fetch_add(&t->ops, 1);
    if (broken(rc)) {
        sqlited_close(*db);
        *db = connect_or_wait(t);
    }
    return *db != NULL;
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
        } else if (n % 10 == 7) {
            /* Every write acknowledged so far is seen by a read that
             * starts now, wherever it runs. */
            sqlited_rows *rows = NULL;
            sqlited_params_add_int64(p, NULL, id);
            rc = sqlited_query(db, "SELECT count(*) FROM acks WHERE client = ?",
                               p, &rows);
            if (rc == 0 && (rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
                if (sqlited_column_int64(rows, 0) != seq)
                    wrong(t,
                          "writer %d: %lld rows read back, %lld acknowledged",
                          id, (long long)sqlited_column_int64(rows, 0),
                          (long long)seq);
                rc = 0;
            } else if (rc == SQLITED_DONE) {
                wrong(t, "writer %d: count(*) gave no row", id);
                rc = 0;
            } else {
                error(t, db, "read back", rc);
            }
            sqlited_rows_close(rows);
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
        if (!counted(t, &db, rc))
            break;
    }
    sqlited_batch_close(b);
    sqlited_params_close(p);
    sqlited_close(db);
}

/* Point reads of the seed rows (which nobody changes) and short range reads
 * of acks. */
static void run_reader(struct tally *t)
{
    sqlited *db = connect_or_wait(t);
    sqlited_params *p;
    if (db == NULL || sqlited_params_open(&p) != 0)
        return;
    for (int64_t n = 0; running(); n++) {
        sqlited_rows *rows;
        int64_t key = n % SEED_ROWS + 1;
        sqlited_params_clear(p);
        sqlited_params_add_int64(p, NULL, key);
        int rc = sqlited_query(db,
                               n % 2 ? "SELECT id, v FROM t WHERE id = ?"
                                     : "SELECT client, seq FROM acks "
                                       "WHERE seq >= ? LIMIT 10",
                               p, &rows);
        if (rc == 0) {
            uint64_t got = 0;
            while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
                got++;
                if (n % 2 == 0)
                    continue;
                const char *v = sqlited_column_text(rows, 1);
                if (sqlited_column_int64(rows, 0) != key || v == NULL ||
                    strcmp(v, "seed") != 0)
                    wrong(t, "reader: row %lld read as (%lld, %s)",
                          (long long)key,
                          (long long)sqlited_column_int64(rows, 0),
                          v ? v : "NULL");
            }
            if (rc != SQLITED_DONE)
                error(t, db, "read rows", rc);
            else if (n % 2 == 1 && got != 1)
                wrong(t, "reader: row %lld read as %llu rows", (long long)key,
                      (unsigned long long)got);
            else if (n % 2 == 0 && got > 10)
                wrong(t, "reader: LIMIT 10 gave %llu rows",
                      (unsigned long long)got);
            sqlited_rows_close(rows);
        } else {
            error(t, db, "read", rc);
        }
        if (!counted(t, &db, rc))
            break;
    }
    sqlited_params_close(p);
    sqlited_close(db);
}

/* Recursive queries of 20,000 to 200,000 steps: far past the inline budget
 * of an I/O loop, so they are interrupted there and run again by a reader;
 * their answers must be those of one run. */
static void run_long_reader(struct tally *t)
{
    sqlited *db = connect_or_wait(t);
    sqlited_params *p;
    if (db == NULL || sqlited_params_open(&p) != 0)
        return;
    for (int64_t n = 0; running(); n++) {
        sqlited_rows *rows = NULL;
        int64_t limit = 20000 + n * 7919 % 180000;
        sqlited_params_clear(p);
        sqlited_params_add_int64(p, NULL, limit);
        int rc = sqlited_query(db,
                               "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                               "SELECT x + 1 FROM c WHERE x < ?) "
                               "SELECT count(*), sum(x) FROM c",
                               p, &rows);
        if (rc == 0 && (rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
            if (sqlited_column_int64(rows, 0) != limit ||
                sqlited_column_int64(rows, 1) != limit * (limit + 1) / 2)
                wrong(t, "long read to %lld: count %lld, sum %lld",
                      (long long)limit,
                      (long long)sqlited_column_int64(rows, 0),
                      (long long)sqlited_column_int64(rows, 1));
            rc = 0;
        } else if (rc == SQLITED_DONE) {
            wrong(t, "long read to %lld: no row", (long long)limit);
            rc = 0;
        } else {
            error(t, db, "long read", rc);
        }
        sqlited_rows_close(rows);
        if (!counted(t, &db, rc))
            break;
    }
    sqlited_params_close(p);
    sqlited_close(db);
}

/* Results larger than a chunk, so that the daemon opens a cursor, checked
 * row by row: read to the end, closed after a few rows, or abandoned by
 * hanging up. */
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
            int i = 0;
            for (; i < want && (rc = sqlited_rows_next(rows)) == SQLITED_ROW;
                 i++) {
                char text[48];
                const char *v = sqlited_column_text(rows, 1);
                snprintf(text, sizeof(text), "%040d", i + 1);
                if (sqlited_column_int64(rows, 0) != i + 1 || v == NULL ||
                    strcmp(v, text) != 0) {
                    wrong(t, "cursor: row %d read as (%lld, %s)", i + 1,
                          (long long)sqlited_column_int64(rows, 0),
                          v ? v : "NULL");
                    break;
                }
            }
            if (rc != SQLITED_ROW && rc != SQLITED_DONE)
                error(t, db, "fetch", rc);
            else if (rc == SQLITED_DONE && i != 5000)
                wrong(t, "cursor: %d rows, not 5000", i);
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
        counted(t, &db, rc);
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
        counted(t, &db, rc);
        sleep_ms(5);
    }
    sqlited_close(db);
}

/* Connects, pings (or asks for the stats or the metrics, which read what
 * the other threads count) and hangs up, again and again; every other time
 * with a request sent and not waited for (a short read, a long read, a
 * write): the daemon drops its answer. */
static void run_reconnect(struct tally *t)
{
    static const char *const unawaited[] = {
        "SELECT id, v FROM t WHERE id = 7",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 100000) SELECT count(*) FROM c",
        "INSERT INTO t(v) VALUES ('unawaited')"};
    for (int n = 0; running(); n++) {
        sqlited *db = connect_or_wait(t);
        if (db == NULL)
            break;
        char *text = NULL;
        int rc = n % 8 == 2   ? sqlited_stats(db, &text)
                 : n % 8 == 6 ? sqlited_metrics(db, &text)
                              : sqlited_ping(db);
        if (rc != 0)
            error(t, db, "ping, stats or metrics", rc);
        sqlited_free(text);
        if (rc == 0 && n % 2 == 1) {
            uint32_t id;
            const char *sql = unawaited[n / 2 % 3];
            rc = n / 2 % 3 == 2 ? sqlited_send_exec(db, sql, NULL, &id)
                                : sqlited_send_query(db, sql, NULL, &id);
            if (rc != 0)
                error(t, db, "send", rc);
        }
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

/* Whether the descriptor @name of @pid is one of the database's own files
 * (the database, its -wal, -shm or -journal), whose target is stored in
 * @target[0..size). */
static bool database_fd(pid_t pid, const char *name, char *target, size_t size)
{
    char link[300];
    snprintf(link, sizeof(link), "/proc/%d/fd/%s", (int)pid, name);
    ssize_t n = readlink(link, target, size - 1);
    target[n > 0 ? n : 0] = '\0';
    const char *base = strrchr(target, '/');
    return base && strncmp(base, "/soak.db", 8) == 0;
}

/* The descriptors of @pid, but for the database's own files: SQLite opens
 * a connection's WAL at its first read and, while other connections hold
 * locks on the file, keeps a closed connection's descriptor to reuse it
 * (its unix VFS), so how many of those are open after a load depends on
 * which connections read last, not on a leak; the connections themselves
 * are bounded by the readers and the cursors. With @print, lists them
 * all. Returns -1 when @pid is gone. */
static int count_fds(pid_t pid, bool print)
{
    char path[64], target[512];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *dir = opendir(path);
    if (dir == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        bool db = database_fd(pid, e->d_name, target, sizeof(target));
        if (!db)
            n++;
        if (print)
            printf("soak:   descriptor %s: %s%s\n", e->d_name, target,
                   db ? " (not counted)" : "");
    }
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

/* Checks, through the daemon's stats, that each of its I/O loops served
 * requests. Returns false when one did not, or the stats could not be had
 * or read. */
static bool every_loop_served(void)
{
    sqlited *db;
    char *json = NULL;
    bool ok = false;
    if (sqlited_open(sock_path, 5000, &db) != 0 ||
        sqlited_stats(db, &json) != 0) {
        printf("soak: cannot get the daemon's stats\n");
        goto out;
    }
    const char *at = strstr(json, "\"io_threads\":");
    const char *loops = strstr(json, "\"loops\":");
    if (at == NULL || loops == NULL) {
        printf("soak: the daemon's stats name no I/O loops\n");
        goto out;
    }
    long n = strtol(at + strlen("\"io_threads\":"), NULL, 10), served = 0;
    printf("soak: requests per I/O loop:");
    for (long i = 0; i < n && (loops = strstr(loops, "\"requests\":")); i++) {
        loops += strlen("\"requests\":");
        long requests = strtol(loops, NULL, 10);
        printf(" %ld", requests);
        served += requests > 0;
    }
    printf("\n");
    ok = n > 0 && served == n;
out:
    sqlited_free(json);
    sqlited_close(db);
    return ok;
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

/* Whether the daemon's stderr holds a sanitizer's report (or libuv's);
 * prints it when it does. */
static bool log_has_report(const char *log_path)
{
    static const char *const alarms[] = {
        "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "ThreadSanitizer",
        "runtime error:", "event loop not clean"};
    FILE *f = fopen(log_path, "r");
    char line[1024];
    bool found = false;
    if (f == NULL)
        return false;
    while (fgets(line, sizeof(line), f)) {
        for (size_t i = 0; !found && i < sizeof(alarms) / sizeof(*alarms); i++)
            found = strstr(line, alarms[i]) != NULL;
        if (found)
            break;
    }
    if (found) {
        printf("soak: the daemon's stderr (%s):\n", log_path);
        rewind(f);
        while (fgets(line, sizeof(line), f))
            fputs(line, stdout);
    }
    fclose(f);
    return found;
}

static void usage(void)
{
    fprintf(stderr, "usage: sqlited-soak --daemon BIN --dir DIR "
                    "[--seconds N (>= 5, default 300)] [--scale N (1 to 8)] "
                    "[--sanitized] [--daemon-arg OPTION]...\n");
}

int main(int argc, char **argv)
{
    const char *bin = NULL, *dir = NULL;
    const char *daemon_args[MAX_DAEMON_ARGS + 1] = {0};
    size_t ndaemon_args = 0;
    double seconds = 300;
    int scale = 1;
    bool sanitized = false;
    /* Per --scale: the well-behaved roles; then the hostile ones, once. */
    static const enum role scaled[] = {R_WRITER, R_WRITER,      R_READER,
                                       R_READER, R_LONG_READER, R_CURSOR,
                                       R_TX,     R_RECONNECT};
    static const enum role once[] = {R_HOSTILE, R_HOSTILE};
    enum role roles[MAX_CLIENTS];
    int nclients = 0;
    char db_path[512], log_path[512], sock[512];
    pid_t pids[MAX_CLIENTS];
    int failures = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sanitized") == 0) {
            sanitized = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--daemon") == 0)
            bin = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0)
            dir = argv[++i];
        else if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[++i]);
        else if (strcmp(argv[i], "--scale") == 0)
            scale = atoi(argv[++i]);
        else if (strcmp(argv[i], "--daemon-arg") == 0 &&
                 ndaemon_args < MAX_DAEMON_ARGS)
            daemon_args[ndaemon_args++] = argv[++i];
        else {
            usage();
            return 2;
        }
    }
    if (bin == NULL || dir == NULL || seconds < 5 || scale < 1 || scale > 8) {
        usage();
        return 2;
    }
    for (int k = 0; k < scale; k++)
        for (size_t i = 0; i < sizeof(scaled) / sizeof(*scaled); i++)
            roles[nclients++] = scaled[i];
    for (size_t i = 0; i < sizeof(once) / sizeof(*once); i++)
        roles[nclients++] = once[i];
    mkdir(dir, 0755);
    snprintf(db_path, sizeof(db_path), "%s/soak.db", dir);
    snprintf(log_path, sizeof(log_path), "%s/daemon.log", dir);
    snprintf(sock, sizeof(sock), "%s/soak.sock", dir);
    unlink(db_path);
    unlink(log_path);
    sock_path = sock;
    signal(SIGPIPE, SIG_IGN);

    pid_t daemon =
        daemon_start_args(bin, db_path, sock, "NORMAL", log_path, daemon_args);
    if (daemon < 0 || setup() != 0) {
        log_has_report(log_path);
        server_stop(daemon);
        return 1;
    }
    tallies = mmap(NULL, sizeof(*tallies) * (size_t)nclients,
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tallies == MAP_FAILED)
        return 1;
    memset(tallies, 0, sizeof(*tallies) * (size_t)nclients);
    /* Before any client: what the descriptors must come back to. */
    int fds_idle = count_fds(daemon, false);

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
            case R_LONG_READER:
                run_long_reader(&tallies[i]);
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
    int fds_warm = count_fds(daemon, false);
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
     * replies) as it notices they are gone: give it a moment, and up to
     * 20 s more (a daemon under a sanitizer is slow) for its descriptors
     * to come back to their count before the clients. */
    for (int i = 0; i < 20 && up; i++)
        sleep_ms(100);
    for (int i = 0;
         i < 200 && up && count_fds(daemon, false) > fds_idle + FD_MARGIN; i++)
        sleep_ms(100);
    long rss_end = up ? rss_kib(daemon, false) : -1;
    int fds_end = up ? count_fds(daemon, false) : -1;
    long rss_peak = up ? rss_kib(daemon, true) : -1;

    for (int i = 0; i < nclients; i++) {
        printf("soak: %-11s %2d: %8llu operations, %6llu errors%s%s\n",
               role_names[roles[i]], i,
               (unsigned long long)atomic_load(&tallies[i].ops),
               (unsigned long long)atomic_load(&tallies[i].errors),
               tallies[i].first_error[0] ? "; first: " : "",
               tallies[i].first_error);
        if (atomic_load(&tallies[i].wrong) > 0) {
            printf("soak: FAIL: %llu wrong answers; first: %s\n",
                   (unsigned long long)atomic_load(&tallies[i].wrong),
                   tallies[i].first_wrong);
            failures++;
        }
    }
    if (!up) {
        log_has_report(log_path);
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
    if (sanitized)
        printf("soak: the RSS is not checked (--sanitized)\n");
    else if (rss_end > rss_limit) {
        printf("soak: FAIL: the daemon's RSS grew beyond its margin\n");
        failures++;
    }
    /* Stricter than the warm-up sample, which counts the clients' sockets:
     * once they are gone, the descriptors must be back to where they were
     * before any client came. */
    if (fds_end > fds_idle + FD_MARGIN || fds_end > fds_warm + FD_MARGIN) {
        printf("soak: FAIL: the daemon holds more descriptors than before "
               "the clients came:\n");
        count_fds(daemon, true);
        failures++;
    }
    if (!every_loop_served()) {
        printf("soak: FAIL: an I/O loop served no request\n");
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
    int status = server_stop(daemon);
    if (status != 0) {
        printf("soak: FAIL: the daemon exited with status %d on SIGTERM\n",
               status);
        failures++;
    }
    if (log_has_report(log_path)) {
        printf("soak: FAIL: the daemon reported a defect\n");
        failures++;
    }
    printf("soak: %s\n", failures ? "FAIL" : "ok");
    return failures ? 1 : 0;
}
