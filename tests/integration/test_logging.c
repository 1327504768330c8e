/* The daemon's log: timestamps, or the journal's priority prefixes under
 * systemd; each connection's accept and close with the client's pid, uid
 * and gid; failed requests with their method and SQL; slow requests with
 * their duration and where they ran. */
#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(logging, .fini = teardown);

/* Whether @text matches the extended regular expression @re (lines: ^ and
 * $ match at each newline). */
static bool matches(const char *text, const char *re)
{
    regex_t r;
    cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0,
                 "bad regex %s", re);
    bool m = regexec(&r, text, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

Test(logging, lines_carry_the_time_outside_the_journal)
{
    daemon_start(&d, (const char *const[]){"--log-level", "info", NULL});
    char *log = daemon_wait_log(&d, "ready:");
    free(log);
    log = daemon_log(&d);
    cr_assert(matches(log, "^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                           "[0-9]{2}\\.[0-9]{3}[+-][0-9]{4} sqlited: info: "
                           "ready: "),
              "%s", log);
    cr_assert_null(strstr(log, "<6>"), "%s", log);
    free(log);
}

/* systemd names the stream it gave the service as stderr in
 * JOURNAL_STREAM ("dev:ino"): then the journal stamps the time, and takes
 * the priority from sd-daemon.h's prefix. The variable alone, inherited by
 * a process whose stderr is elsewhere, changes nothing. */
Test(logging, under_the_journal_lines_carry_the_priority_instead)
{
    daemon_start(&d, (const char *const[]){"--log-level", "info", NULL});
    cr_assert_eq(daemon_stop(&d), 0);
    struct stat st;
    cr_assert_eq(stat(d.log_path, &st), 0);
    char stream[64];

    /* Another stream's: timestamps still. */
    snprintf(stream, sizeof(stream), "%lu:%lu", (unsigned long)st.st_dev,
             (unsigned long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", stream, 1);
    daemon_restart(&d, (const char *const[]){"--log-level", "info", NULL});
    cr_assert_eq(daemon_stop(&d), 0);
    char *log = daemon_log(&d);
    cr_assert_null(strstr(log, "<6>"), "%s", log);
    free(log);
    cr_assert_eq(truncate(d.log_path, 0), 0);

    /* The daemon's own stderr (the harness appends to the same file). */
    snprintf(stream, sizeof(stream), "%lu:%lu", (unsigned long)st.st_dev,
             (unsigned long)st.st_ino);
    setenv("JOURNAL_STREAM", stream, 1);
    daemon_restart(&d, (const char *const[]){"--log-level", "info", NULL});
    sqlited *db = harness_connect(&d);
    cr_assert_neq(sqlited_exec(db, "select * from nosuch", NULL, NULL), 0);
    sqlited_close(db);
    free(daemon_wait_log(&d, "closed"));
    cr_assert_eq(daemon_stop(&d), 0);
    unsetenv("JOURNAL_STREAM");
    log = daemon_log(&d);
    cr_assert(matches(log, "^<6>sqlited: info: ready: "), "%s", log);
    cr_assert(matches(log, "^<6>sqlited: info: request failed: "), "%s", log);
    cr_assert_not(matches(log, "^20[0-9][0-9]-"), "no timestamp: %s", log);
    free(log);
}

Test(logging, connections_are_logged_with_the_peer)
{
    char want[256];
    daemon_start(&d, (const char *const[]){"--log-level", "info", NULL});
    sqlited *db = harness_connect(&d);
    harness_exec(db, "create table t(x)");
    sqlited_close(db);
    snprintf(want, sizeof(want), "connection 1 closed: pid %ld uid %u gid %u",
             (long)getpid(), (unsigned)getuid(), (unsigned)getgid());
    free(daemon_wait_log(&d, want));
    char *log = daemon_log(&d);
    snprintf(want, sizeof(want),
             "connection 1 accepted: pid %ld uid %u gid %u, access operator "
             "(no allow- list is set)",
             (long)getpid(), (unsigned)getuid(), (unsigned)getgid());
    cr_assert_not_null(strstr(log, want), "%s", log);
    free(log);
}

/* A connection refused at --max-connections is logged with its peer, and
 * so is its close. */
Test(logging, a_refused_connection_is_logged_with_the_peer)
{
    char want[256];
    daemon_start(&d, (const char *const[]){"--log-level", "info",
                                           "--max-connections", "1", NULL});
    struct harness_raw first = {0}, second = {0};
    struct reply rep;
    harness_raw_open(&first, &d);
    harness_pack_request(&first.b, 1, "ping", 0);
    harness_send_buf(first.fd, &first.b);
    harness_read_reply(&first.r, &rep);
    reply_free(&rep);
    harness_raw_open(&second, &d);
    harness_read_reply(&second.r, &rep);
    cr_assert_eq(rep.code, SQLITED_TOO_MANY_CONNECTIONS);
    reply_free(&rep);
    harness_raw_close(&second);

    snprintf(want, sizeof(want),
             "connection 2 refused: pid %ld uid %u gid %u: 1 clients are "
             "connected",
             (long)getpid(), (unsigned)getuid(), (unsigned)getgid());
    free(daemon_wait_log(&d, want));
    snprintf(want, sizeof(want), "connection 2 closed: pid %ld uid %u gid %u",
             (long)getpid(), (unsigned)getuid(), (unsigned)getgid());
    free(daemon_wait_log(&d, want));
    harness_raw_close(&first);
}

Test(logging, failures_are_logged_with_method_and_sql)
{
    char sql[400], want[512];
    daemon_start(&d, (const char *const[]){"--log-level", "info", NULL});
    sqlited *db = harness_connect(&d);
    /* 300 bytes of SQL, with a newline that must not split the line. */
    snprintf(sql, sizeof(sql), "select\n%0292d from nosuch", 7);
    cr_assert_eq(strlen(sql), 311);
    cr_assert_neq(sqlited_exec(db, sql, NULL, NULL), 0);
    cr_assert_neq(sqlited_exec(db, "insert into nosuch values (1)", NULL, NULL),
                  0);
    sqlited_close(db);
    free(daemon_wait_log(&d, "closed"));
    char *log = daemon_log(&d);
    /* Truncated to 200 bytes, the newline a blank, the length said. */
    snprintf(want, sizeof(want),
             "request failed: connection 1 (pid %ld): exec: SQLITE_ERROR: no "
             "such table: nosuch; sql: select %0193d... (311 bytes)\n",
             (long)getpid(), 0);
    cr_assert_not_null(strstr(log, want), "%s", log);
    snprintf(want, sizeof(want),
             "request failed: connection 1 (pid %ld): exec: SQLITE_ERROR: no "
             "such table: nosuch; sql: insert into nosuch values (1)\n",
             (long)getpid());
    cr_assert_not_null(strstr(log, want), "%s", log);
    free(log);
}

/* Writes 100,000 rows: milliseconds of work at least. */
#define WRITER_WORK                                                            \
    "create table t as with recursive c(x) as (select 1 union all select x "   \
    "+ 1 from c where x < 100000) select x from c"

Test(logging, slow_requests_say_where_they_ran)
{
    char want[256];
    daemon_start(&d, (const char *const[]){"--slow-query-ms", "1", NULL});
    sqlited *db = harness_connect(&d);
    /* A second of work on a reader, and work on the writer. */
    cr_assert_eq(harness_query_int(db, HARNESS_SLOW_SQL), 3000000);
    harness_exec(db, WRITER_WORK);
    sqlited_close(db);
    snprintf(want, sizeof(want),
             " ms on the writer: connection 1 (pid %ld): exec: " WRITER_WORK
             "\n",
             (long)getpid());
    char *log = daemon_wait_log(&d, want);
    free(log);
    log = daemon_log(&d);
    snprintf(want, sizeof(want),
             "sqlited: warn: slow request: [0-9]+ ms on the reader: "
             "connection 1 \\(pid %ld\\): query: WITH RECURSIVE c\\(x\\)",
             (long)getpid());
    cr_assert(matches(log, want), "%s", log);
    free(log);
}

Test(logging, no_slow_log_by_default)
{
    daemon_start(&d, NULL);
    sqlited *db = harness_connect(&d);
    cr_assert_eq(harness_query_int(db, HARNESS_SLOW_SQL), 3000000);
    sqlited_close(db);
    cr_assert_eq(daemon_stop(&d), 0);
    char *log = daemon_log(&d);
    cr_assert_null(strstr(log, "slow request"), "%s", log);
    free(log);
}
