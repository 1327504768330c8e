/* SIGHUP reads the configuration again: what may change while the daemon
 * runs changes (the log level, the connection limit, ...), what takes a
 * restart is said to, a file with mistakes changes nothing, and no client
 * loses its connection meanwhile. */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "harness.h"

static struct daemon d;
static char conf[192];

static void teardown(void)
{
    daemon_cleanup(&d);
    if (conf[0]) {
        unlink(conf);
        *strrchr(conf, '/') = '\0';
        rmdir(conf);
    }
}

TestSuite(reload, .fini = teardown);

static void write_conf(const char *text)
{
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s.new", conf);
    FILE *f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(rename(tmp, conf), 0); /* the daemon never reads half */
}

/* Sends SIGHUP and waits (bounded) for the reload to end; returns the
 * whole log. */
static char *reload(void)
{
    cr_assert_eq(truncate(d.log_path, 0), 0);
    daemon_signal(&d, SIGHUP);
    free(daemon_wait_log(&d, "SIGHUP: configuration "));
    return daemon_log(&d);
}

/* A new raw connection: answered, or refused at the limit. Returns 0 when
 * it may talk, SQLITED_TOO_MANY_CONNECTIONS when refused. */
static int try_connect(struct harness_raw *c)
{
    struct reply rep;
    harness_raw_open(c, &d);
    harness_pack_request(&c->b, 1, "ping", 0);
    /* A refused one may be closed before the ping is sent: its refusal
     * waits to be read all the same. */
    int rc = harness_try_send(c->fd, c->b.data, c->b.len);
    cr_assert(rc == 0 || rc == -EPIPE, "send: %s", strerror(-rc));
    codec_buf_reset(&c->b);
    harness_read_reply(&c->r, &rep);
    int code = rep.is_error ? (int)rep.code : 0;
    reply_free(&rep);
    return code;
}

Test(reload, sighup_changes_level_and_limits_under_load)
{
    static char dir[] = "/tmp/sqlited-reload-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(conf, sizeof(conf), "%s/sqlited.conf", dir);
    write_conf("log-level = warn\n"
               "max-connections = 8\n");
    daemon_start(&d, (const char *const[]){"--config", conf, NULL});
    harness_exec_fresh(&d, "create table t(id, seq)");

    /* A client writing throughout, on one connection, until the table
     * goes at the end of the test. */
    struct harness_writer w = {.sock_path = d.sock_path,
                               .sql = "insert into t values (?, ?)",
                               .id = 1,
                               .count = 100000000};
    harness_writer_start(&w);
    while (harness_writer_acked(&w) < 20)
        usleep(1000);

    char *log = daemon_log(&d);
    cr_assert_null(strstr(log, "accepted"), "at warn: %s", log);
    free(log);

    write_conf("log-level = info\n"
               "max-connections = 3\n"
               "timeout = 20000\n"
               "tx-idle-timeout = 2000\n"
               "synchronous = normal\n");
    log = reload();
    cr_assert_not_null(strstr(log, "SIGHUP: log-level changed from warn to "
                                   "info\n"),
                       "%s", log);
    cr_assert_not_null(strstr(log, "SIGHUP: max-connections changed from 8 "
                                   "to 3\n"),
                       "%s", log);
    cr_assert_not_null(strstr(log, "SIGHUP: synchronous changed from FULL to "
                                   "NORMAL, which takes a restart: still FULL "
                                   "until then\n"),
                       "%s", log);
    cr_assert_not_null(strstr(log, "SIGHUP: timeout changed from 30000 to "
                                   "20000\n"),
                       "%s", log);
    cr_assert_not_null(strstr(log, "SIGHUP: tx-idle-timeout changed from "
                                   "5000 to 2000\n"),
                       "%s", log);
    cr_assert_not_null(strstr(log, "SIGHUP: configuration reloaded: 4 "
                                   "changed, 1 would take a restart\n"),
                       "%s", log);
    free(log);

    /* The new limit: the writer and two more, not three. */
    struct harness_raw a = {0}, b = {0}, c = {0};
    cr_assert_eq(try_connect(&a), 0);
    cr_assert_eq(try_connect(&b), 0);
    /* hello tells the new default deadline: "timeout_ms": 20000. */
    struct reply rep;
    harness_pack_request(&a.b, 2, "hello", 0);
    harness_send_buf(a.fd, &a.b);
    harness_read_reply(&a.r, &rep);
    cr_assert_not_null(
        memmem(rep.msg, rep.len, "\xaatimeout_ms\xcd\x4e\x20", 14),
        "hello: timeout_ms is not 20000");
    cr_assert_not_null(
        memmem(rep.msg, rep.len, "\xb2tx_idle_timeout_ms\xcd\x07\xd0", 22),
        "hello: tx_idle_timeout_ms is not 2000");
    reply_free(&rep);
    cr_assert_eq(try_connect(&c), SQLITED_TOO_MANY_CONNECTIONS);
    harness_raw_close(&c);
    /* The new level: connections are logged now, and were not before. */
    free(daemon_wait_log(&d, "accepted"));

    /* A file with a mistake changes nothing. */
    write_conf("log-level = info\n"
               "max-connections = 100\n"
               "readerz = 2\n");
    log = reload();
    cr_assert_not_null(strstr(log, "SIGHUP: configuration not reloaded: it "
                                   "has mistakes (above); nothing changed"),
                       "%s", log);
    cr_assert_not_null(strstr(log, ":3: unknown key 'readerz'"), "%s", log);
    free(log);
    cr_assert_eq(try_connect(&c), SQLITED_TOO_MANY_CONNECTIONS);
    harness_raw_close(&c);
    harness_raw_close(&b);
    harness_raw_close(&a);

    /* The writer never lost its connection: it wrote throughout, and
     * stopped only when its table went. */
    int before = harness_writer_acked(&w);
    while (harness_writer_acked(&w) < before + 20)
        usleep(1000);
    harness_exec_fresh(&d, "drop table t");
    harness_writer_join(&w);
    cr_assert_eq(w.rc, SQLITE_ERROR, "%d: %s", w.rc, w.failure);
    cr_assert_not_null(strstr(w.failure, "no such table: t"), "%s", w.failure);
}
