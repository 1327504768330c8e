/* sqlited-cli's operator commands: ping --count and --latency, stats
 * --watch, and every command's --help. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pty.h"

static struct daemon d;

static void setup(void)
{
    daemon_start(&d, NULL);
}

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(operator, .init = setup, .fini = teardown, .timeout = 60);

#define CLI(o, ...)                                                            \
    harness_cli(&d, (o), NULL, (const char *const[]){__VA_ARGS__, NULL})

/* Reads "min/avg/max/p99 = A/B/C/D ms (N samples)" from @s and checks the
 * figures agree with each other. */
static void assert_summary(const char *s, int samples)
{
    double min, avg, max, p99;
    int n = 0, used = 0;
    const char *at = strstr(s, "min/avg/max/p99 = ");
    cr_assert_not_null(at, "%s", s);
    cr_assert_eq(sscanf(at,
                        "min/avg/max/p99 = %lf/%lf/%lf/%lf ms (%d "
                        "samples)%n",
                        &min, &avg, &max, &p99, &n, &used),
                 5, "%s", s);
    cr_assert(used > 0, "%s", s);
    cr_assert_eq(n, samples, "%s", s);
    cr_assert(0 < min && min <= avg && avg <= max, "%s", s);
    cr_assert(min <= p99 && p99 <= max, "%s", s);
}

Test(operator, ping_count_prints_each_round_trip_and_a_summary)
{
    struct harness_output o;
    CLI(&o, "ping", "--count", "5", "--interval", "1");
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert_str_empty(o.err);
    const char *line = o.out;
    char want[256];
    for (int i = 1; i <= 5; i++) {
        snprintf(want, sizeof(want), "pong from %s: seq=%d time=", d.sock_path,
                 i);
        cr_assert(strncmp(line, want, strlen(want)) == 0, "line %d of:\n%s", i,
                  o.out);
        cr_assert(strstr(line, " ms\n"), "%s", o.out);
        line = strchr(line, '\n') + 1;
    }
    snprintf(want, sizeof(want),
             "--- %s ping statistics ---\n5 sent, 5 answered, "
             "min/avg/max/p99 = ",
             d.sock_path);
    cr_assert(strncmp(line, want, strlen(want)) == 0, "%s", o.out);
    assert_summary(line, 5);
    cr_assert_eq(strchr(line + strlen(want), '\n')[1], '\0', "%s", o.out);
    harness_output_free(&o);

    /* And as JSON: the summary alone. */
    CLI(&o, "ping", "--count", "3", "--interval", "0", "--json");
    cr_assert_eq(o.status, 0, "%s", o.err);
    snprintf(want, sizeof(want),
             "{\"socket\": \"%s\", \"sent\": 3, \"answered\": 3, "
             "\"min_ms\": ",
             d.sock_path);
    cr_assert(strncmp(o.out, want, strlen(want)) == 0, "%s", o.out);
    cr_assert(strstr(o.out, "\"p99_ms\": "), "%s", o.out);
    harness_output_free(&o);
}

/* --json has one shape for ping, however many; the daemon's figures print
 * as written, in the fewest digits that read back the same. */
Test(operator, json_reads_the_same_whatever_the_run)
{
    struct harness_output o;

    CLI(&o, "ping", "--json");
    cr_assert_eq(o.status, 0, "%s", o.err);
    char want[300];
    snprintf(want, sizeof(want),
             "{\"socket\": \"%s\", \"sent\": 1, "
             "\"answered\": 1, \"min_ms\": ",
             d.sock_path);
    cr_assert(strncmp(o.out, want, strlen(want)) == 0, "%s", o.out);
    harness_output_free(&o);

    CLI(&o, "stats");
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strstr(o.out, "\"le\": [0.0001, 0.00025, 0.0005, 0.001, "), "%s",
              o.out);
    cr_assert_null(strstr(o.out, "0000001"), "%s", o.out);
    harness_output_free(&o);
}

/* ping --json answers in JSON when nothing answers, as health --json
 * does: the summary of no ping and why, with the exit status and the
 * message on standard error that a failed connect has without it. */
Test(operator, ping_json_without_a_daemon_is_json)
{
    char path[192], want[512];
    struct harness_output o;

    snprintf(path, sizeof(path), "%s/none.sock", d.dir);
    harness_run(
        (const char *const[]){SQLITED_CLI, "-s", path, "ping", "--json", NULL},
        NULL, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 2, "status %d: %s", o.status, o.err);
    snprintf(want, sizeof(want),
             "{\"socket\": \"%s\", \"sent\": 0, \"answered\": 0, "
             "\"min_ms\": null, \"avg_ms\": null, \"max_ms\": null, "
             "\"p99_ms\": null, \"error\": \"no socket\"}\n",
             path);
    cr_assert_str_eq(o.out, want);
    snprintf(want, sizeof(want),
             "sqlited-cli: cannot connect to %s: No such file or directory",
             path);
    cr_assert(strncmp(o.err, want, strlen(want)) == 0, "stderr: %s", o.err);
    harness_output_free(&o);
}

Test(operator, ping_latency_summarises_its_samples)
{
    /* Off a terminal: the summary only. */
    struct harness_output o;
    CLI(&o, "ping", "--latency", "--count", "50", "--interval", "0");
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert_str_empty(o.err);
    cr_assert(strncmp(o.out, "min/avg/max/p99 = ", 18) == 0, "%s", o.out);
    cr_assert_eq(strchr(o.out, '\n')[1], '\0', "one line: %s", o.out);
    assert_summary(o.out, 50);
    harness_output_free(&o);

    /* On a terminal: a line that refreshes from the first sample on. */
    struct pty_proc p = {0};
    pty_cli(&p, &d, NULL,
            (const char *const[]){"ping", "--latency", "--count", "200",
                                  "--interval", "1", NULL});
    pty_expect(&p, "ms (1 sample)");
    pty_expect(&p, "ms (200 samples)\n");
    cr_assert_eq(pty_wait_exit(&p), 0);
    pty_close(&p);
}

/* Ctrl-C ends ping --latency with its summary and exit status 0. */
Test(operator, ping_latency_runs_until_ctrl_c)
{
    struct pty_proc p = {0};
    pty_cli(
        &p, &d, NULL,
        (const char *const[]){"ping", "--latency", "--interval", "5", NULL});
    pty_expect(&p, "ms (1 sample)");
    pty_send(&p, PTY_CTRL_C);
    cr_assert_eq(pty_wait_exit(&p), 0);
    pty_close(&p);
}

#define WATCH_HEADER                                                           \
    "   req/s   err/s  groups/s  avg group  max group  cursors  conns  "       \
    "in flight  writer q  reader q\n"

/* Off a terminal, stats --watch prints its header and a line per
 * interval. */
Test(operator, stats_watch_prints_a_line_per_interval)
{
    struct harness_output o;
    CLI(&o, "stats", "--watch", "1", "--count", "2");
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert_str_empty(o.err);
    cr_assert(strncmp(o.out, WATCH_HEADER, strlen(WATCH_HEADER)) == 0, "%s",
              o.out);
    const char *line = o.out + strlen(WATCH_HEADER);
    for (int i = 0; i < 2; i++) {
        double req, err, gps, avg;
        long gmax, cursors, conns, flight, wq, rq;
        int used = 0;
        cr_assert_eq(sscanf(line, "%lf %lf %lf %lf %ld %ld %ld %ld %ld %ld%n",
                            &req, &err, &gps, &avg, &gmax, &cursors, &conns,
                            &flight, &wq, &rq, &used),
                     10, "line %d of:\n%s", i + 1, o.out);
        cr_assert_eq(line[used], '\n', "%s", o.out);
        cr_assert_geq(conns, 1, "%s", o.out); /* its own */
        line += used + 1;
    }
    cr_assert_str_empty(line);
    harness_output_free(&o);

    CLI(&o, "stats", "--watch", "1", "--count", "1", "--json");
    cr_assert_eq(o.status, 0, "%s", o.err);
    cr_assert(strncmp(o.out, "{\"requests_per_s\": ", 19) == 0, "%s", o.out);
    cr_assert(strstr(o.out, "\"connections\": "), "%s", o.out);
    cr_assert_eq(strchr(o.out, '\n')[1], '\0', "%s", o.out);
    harness_output_free(&o);
}

/* On a terminal it refreshes under its header until Ctrl-C, which exits
 * 0. */
Test(operator, stats_watch_refreshes_until_ctrl_c)
{
    struct pty_proc p = {0};
    pty_cli(&p, &d, NULL, (const char *const[]){"stats", "--watch", "1", NULL});
    pty_expect(&p, WATCH_HEADER);
    pty_expect(&p, "  ");
    /* The refreshed line is rewritten in place: no line end until the
     * run ends. */
    harness_sleep_ms(2500);
    cr_assert_null(strchr(pty_since_mark(&p), '\n'), "%s", pty_since_mark(&p));
    pty_send(&p, PTY_CTRL_C);
    cr_assert_eq(pty_wait_exit(&p), 0);
    pty_close(&p);
}

/* `COMMAND --help` is that command's manual. */
Test(operator, each_command_has_its_manual)
{
    static const char *const commands[] = {
        "ping",       "health",   "stats",  "metrics",   "backup",
        "checkpoint", "optimize", "vacuum", "integrity", "migrate",
    };
    for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++) {
        struct harness_output o;
        char usage[64];
        CLI(&o, commands[i], "--help");
        cr_assert_eq(o.status, 0, "%s: %s", commands[i], o.err);
        cr_assert_str_empty(o.err);
        snprintf(usage, sizeof(usage), "Usage: sqlited-cli [-s PATH] ");
        cr_assert(strncmp(o.out, usage, strlen(usage)) == 0, "%s", o.out);
        snprintf(usage, sizeof(usage), "] %s", commands[i]);
        cr_assert(strstr(o.out, usage), "%s: %s", commands[i], o.out);
        cr_assert(strstr(o.out, "\nOptions:\n"), "%s", o.out);
        cr_assert(strstr(o.out, "\nExit status:\n  0  "), "%s", o.out);
        cr_assert(strstr(o.out, "\nExample:\n  sqlited-cli "), "%s", o.out);
        harness_output_free(&o);
    }
    /* --help alone is the whole program's. */
    struct harness_output o;
    CLI(&o, "--help");
    cr_assert_eq(o.status, 0);
    cr_assert(strstr(o.out, "       sqlited-cli COMMAND --help\n"), "%s",
              o.out);
    harness_output_free(&o);
}

/* Each usage error names what is wrong in one line, the word included,
 * and exits 2 (health: 3). */
Test(operator, usage_errors_name_what_is_wrong)
{
    static const struct {
        const char *args[4];
        const char *err;
    } cases[] = {
        {{"ping", "--count", "0"}, "--count takes a number, 1 or more: 0"},
        {{"ping", "--interval", "-5"}, "--interval takes milliseconds: -5"},
        {{"stats", "--watch", "0"}, "--watch takes seconds, 1 to 86400: 0"},
        {{"health", "--watch", "1"}, "--watch applies to stats"},
        {{"stats", "--count", "3"},
         "--count, --interval and --latency apply to ping (and --count to "
         "stats --watch)"},
        {{"vacuum", "--latency"},
         "--count, --interval and --latency apply to ping (and --count to "
         "stats --watch)"},
        {{"ping", "extra"},
         "too many arguments (usage: ping [--count N] [--interval MS] "
         "[--latency]): extra"},
        {{"health", "extra"},
         "too many arguments (usage: health [--quick]): "
         "extra"},
        {{"stats", "extra"}, "too many arguments (usage: stats): extra"},
        {{"backup", "a", "b"}, "too many arguments (usage: backup [DEST]): b"},
        {{"migrate"},
         "missing argument: usage: migrate up|down [VERSION] | status"},
        {{"migrate", "sideways"}, "migrate takes up, down or status: sideways"},
        {{"migrate", "status", "3"},
         "too many arguments (usage: migrate status): 3"},
        {{"migrate", "up", "-1"},
         "a negative number is not an argument any command takes: -1"},
        {{"migrate", "up", "1.5"},
         "a version is a whole number, 0 or more: 1.5"},
        {{"--no-such", "ping"}, "unknown option: --no-such"},
        {{"-hx", "ping"}, "unknown option: -x"},
        {{"-x", "ping"}, "unknown option: -x"},
        {{"ping", "--count"}, "option needs a value: --count"},
        {{"ping", "-t"}, "option needs a value: -t"},
        {{"--json=yes", "ping"}, "option takes no value: --json=yes"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        struct harness_output o;
        char want[256];
        harness_cli(&d, &o, NULL, cases[i].args);
        snprintf(want, sizeof(want),
                 "sqlited-cli: %s\nTry 'sqlited-cli --help' for more "
                 "information.\n",
                 cases[i].err);
        cr_assert_eq(o.status, strcmp(cases[i].args[0], "health") ? 2 : 3, "%s",
                     o.err);
        cr_assert_str_empty(o.out);
        cr_assert_str_eq(o.err, want);
        harness_output_free(&o);
    }
}
