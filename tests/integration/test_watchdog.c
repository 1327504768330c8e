/* systemd's watchdog (issue 15): with WATCHDOG_USEC set, the daemon sends
 * WATCHDOG=1 on NOTIFY_SOCKET every half interval while its I/O loop and
 * its writer make progress; a writer idle for longer than the interval
 * still counts as making progress, a job that holds the writer longer does
 * not, and the pings come back once it ends. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* One second: pings every half second, and a writer job older than a
 * second is a stuck writer. */
#define INTERVAL_MS 1000
static const char *const watchdog_env[] = {"WATCHDOG_USEC=1000000", NULL};

/* Bounds on waits for what must come: far above the interval, only so
 * that a daemon that never pings fails. */
#define PROMPT_MS 10000

/* Counts for ever: sent through exec it holds the writer until its client
 * leaves (the deadline is the cap, far above any test's run). */
#define FOREVER_SQL                                                            \
    "with recursive c(x) as (select 1 union all select x+1 from c) "           \
    "select max(x) from c"

static const char *const long_cap[] = {"--max-timeout", "600000", NULL};

static struct daemon d;

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(watchdog, .fini = teardown, .timeout = 60);

/* Half a second: below the second after which an idle writer looks at its
 * database file again, so that only its being idle keeps it from counting
 * as stuck. */
static const char *const short_env[] = {"WATCHDOG_USEC=500000", NULL};

/* Starts the daemon with the short interval, @io_threads loops and no
 * checkpoint of the WAL once writes stop (its fsync on a loaded disk could
 * hold the writer past the short interval), leaves it idle for 4 s, and
 * fails the test unless the pings still come and the writer was never
 * counted as stuck. (A loop that a loaded machine leaves unscheduled for
 * half a second may be, for a moment; one that never beats stops the pings
 * for good.) */
static void assert_pings_while_idle(const char *io_threads)
{
    daemon_start_env(&d, short_env,
                     (const char *const[]){"--io-threads", io_threads,
                                           "--wal-idle-timeout", "0", NULL});
    cr_assert(daemon_wait_watchdog(&d, PROMPT_MS), "no WATCHDOG=1 came");
    harness_sleep_ms(4000);
    cr_assert(daemon_wait_watchdog(&d, PROMPT_MS),
              "no WATCHDOG=1 after 4 s idle (%s I/O loops)", io_threads);
    char *log = daemon_log(&d);
    cr_assert_null(strstr(log, "watchdog: the writer"), "%s", log);
    free(log);
}

/* The pings come, and keep coming while the writer waits for work for many
 * intervals: an idle writer is not a stuck one. */
Test(watchdog, pings_while_the_writer_is_idle)
{
    assert_pings_while_idle("1");
}

/* With several I/O loops, each beats on its own thread: idle for many
 * intervals, none counts as stuck. */
Test(watchdog, pings_with_several_io_loops)
{
    assert_pings_while_idle("3");
}

/* Without WATCHDOG_USEC there is no watchdog: READY=1 and no ping. */
Test(watchdog, no_pings_without_a_watchdog)
{
    daemon_start(&d, NULL);
    cr_assert_not(daemon_wait_watchdog(&d, 3 * INTERVAL_MS),
                  "WATCHDOG=1 came though systemd asked for no watchdog");
}

/* A statement that holds the writer for longer than the interval stops the
 * pings (the log says which thread is stuck), while the I/O loop still
 * answers; once its client leaves and it is interrupted, the pings come
 * back. */
Test(watchdog, stuck_writer_stops_the_pings_until_it_is_done)
{
    daemon_start_env(&d, watchdog_env, long_cap);
    cr_assert(daemon_wait_watchdog(&d, PROMPT_MS), "no WATCHDOG=1 came");

    struct harness_raw c = {0};
    harness_raw_open(&c, &d);
    harness_pack_sql_options(
        &c.b, 1, "exec", FOREVER_SQL,
        &(struct harness_options){.has_timeout = true, .timeout_ms = 0});
    harness_send_buf(c.fd, &c.b);

    /* The pinging thread decides not to ping, then says so: every ping it
     * sent before is in the socket by the time the line is in the log. */
    free(daemon_wait_log(&d, "watchdog: the writer has made no progress"));
    daemon_wait_watchdog(&d, 0);
    cr_assert_not(daemon_wait_watchdog(&d, 3 * INTERVAL_MS),
                  "WATCHDOG=1 came while a statement held the writer");

    /* The loop still serves: only the writer is stuck. */
    struct harness_output o;
    harness_cli(&d, &o, NULL, (const char *const[]){"ping", NULL});
    cr_assert_eq(o.status, 0, "ping: %s%s", o.out, o.err);
    harness_output_free(&o);

    harness_raw_close(&c); /* the statement is interrupted */
    free(daemon_wait_log(&d, "every thread makes progress again"));
    cr_assert(daemon_wait_watchdog(&d, PROMPT_MS),
              "WATCHDOG=1 did not resume once the writer was free");
}

/* The whole conversation with systemd, in order: READY=1 once, WATCHDOG=1
 * pings after it (pings may start before it: systemd enforces the watchdog
 * only from READY=1 on), and STOPPING=1 once SIGTERM came; the daemon exits
 * 0. */
Test(watchdog, notify_sequence_ready_pings_stopping)
{
    daemon_start_env(&d, short_env,
                     (const char *const[]){"--wal-idle-timeout", "0", NULL});
    cr_assert(daemon_wait_watchdog(&d, PROMPT_MS), "no WATCHDOG=1 came");
    cr_assert(daemon_wait_watchdog(&d, PROMPT_MS), "one WATCHDOG=1 only");
    cr_assert_eq(daemon_stop(&d), 0, "%s", daemon_log(&d));
    daemon_wait_watchdog(&d, 100); /* reads what came with the exit */
    const char *told = d.notified;
    const char *ready = strchr(told, 'R');
    cr_assert_not_null(ready, "told systemd %s: no READY=1", told);
    cr_assert_null(strchr(ready + 1, 'R'), "told systemd %s: READY=1 twice",
                   told);
    size_t pings = strspn(ready + 1, "W");
    cr_assert_geq(pings, 1, "told systemd %s: no ping after READY=1", told);
    cr_assert_not_null(strchr(ready + 1 + pings, 'S'),
                       "told systemd %s: no STOPPING=1 at SIGTERM", told);
}
