/* The configuration file with the real daemon: it is read, flags override
 * it, its mistakes stop the daemon naming the file and line, and
 * --check-config prints what the daemon would run with. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct daemon d;
static char conf[192];

static void teardown(void)
{
    daemon_cleanup(&d);
}

TestSuite(configuration, .fini = teardown);

/* Writes @text to the configuration file in a fresh directory of its own
 * (the daemon's is made when it starts). */
static void write_conf(const char *text)
{
    static char dir[] = "/tmp/sqlited-conf-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(conf, sizeof(conf), "%s/sqlited.conf", dir);
    FILE *f = fopen(conf, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_conf(void)
{
    unlink(conf);
    *strrchr(conf, '/') = '\0';
    rmdir(conf);
}

/* Runs the daemon binary with @args (NULL-terminated) to completion. */
static void run(struct harness_output *o, const char *const *args)
{
    const char *argv[24] = {harness_daemon_bin()};
    size_t n = 1;
    for (; args[n - 1] != NULL && n < 23; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    harness_run(argv, NULL, HARNESS_RUN_TIMEOUT_MS, o);
}

#define RUN(o, ...) run(o, (const char *const[]){__VA_ARGS__, NULL})

Test(configuration, the_file_is_read_and_flags_override_it)
{
    /* The flag --log-level warn beats the file's debug, so the log holds
     * no info line. The file's connection limit holds. */
    write_conf("# one client at a time\n"
               "max-connections = 1\n"
               "log-level = debug\n");
    daemon_start(&d, (const char *const[]){"--config", conf, "--log-level",
                                           "warn", NULL});
    struct harness_raw first = {0}, second = {0};
    harness_raw_open(&first, &d);
    struct reply rep;
    harness_pack_request(&first.b, 1, "ping", 0);
    harness_send_buf(first.fd, &first.b);
    harness_read_reply(&first.r, &rep);
    reply_free(&rep);

    harness_raw_open(&second, &d);
    harness_read_reply(&second.r, &rep);
    harness_assert_error(&rep, SQLITED_TOO_MANY_CONNECTIONS,
                         "SQLITED_TOO_MANY_CONNECTIONS",
                         "the daemon is at its connection limit "
                         "(--max-connections); try again later");
    reply_free(&rep);
    harness_raw_close(&second);
    harness_raw_close(&first);

    char *log = daemon_wait_log(&d, " refused: pid ");
    free(log);
    log = daemon_log(&d);
    cr_assert_null(strstr(log, ": info: "), "the flag's level: %s", log);
    cr_assert_null(strstr(log, ": debug: "), "%s", log);
    free(log);
    daemon_cleanup(&d);
    remove_conf();
}

Test(configuration, mistakes_stop_the_daemon_naming_file_and_line)
{
    struct harness_output o;
    write_conf("readers = 2\n"
               "\n"
               "max-conections = 5\n"
               "synchronous = sometimes\n");
    RUN(&o, "--config", conf, "--socket", "/nonexistent/never.sock");
    cr_assert_eq(o.status, 2, "status %d: %s", o.status, o.err);
    char want[1024];
    snprintf(want, sizeof(want),
             "sqlited: %s:3: unknown key 'max-conections' (see sqlited "
             "--help)\n"
             "sqlited: %s:4: invalid value 'sometimes' for synchronous (see "
             "--help)\n",
             conf, conf);
    cr_assert_str_eq(o.err, want);
    harness_output_free(&o);

    RUN(&o, "--config", "/nonexistent/sqlited.conf");
    cr_assert_eq(o.status, 2);
    cr_assert_str_eq(o.err, "sqlited: cannot read the configuration file "
                            "/nonexistent/sqlited.conf: No such file or "
                            "directory\n");
    harness_output_free(&o);
    remove_conf();
}

Test(configuration, check_config_prints_the_effective_configuration)
{
    struct harness_output o;
    write_conf("readers = 3 # three\n"
               "synchronous = normal\n");
    RUN(&o, "--check-config", "--config", conf, "--timeout", "1000");
    cr_assert_eq(o.status, 0, "status %d: %s", o.status, o.err);
    cr_assert_str_empty(o.err);
    char want[1024];
    snprintf(want, sizeof(want), "\nreaders = 3%29s # %s:1\n", "", conf);
    cr_assert_not_null(strstr(o.out, want), "%s", o.out);
    snprintf(want, sizeof(want), "\nsynchronous = NORMAL%20s # %s:2\n", "",
             conf);
    cr_assert_not_null(strstr(o.out, want), "%s", o.out);
    cr_assert_not_null(strstr(o.out, "\ntimeout = 1000                     "
                                     "      # flag --timeout\n"),
                       "%s", o.out);
    cr_assert_not_null(strstr(o.out, "\nmax-timeout = 300000                "
                                     "     # default\n"),
                       "%s", o.out);
    harness_output_free(&o);

    /* Invalid: exit status 1, the mistake on stderr, nothing on stdout. */
    RUN(&o, "--check-config", "--config", conf, "--readers", "0");
    cr_assert_eq(o.status, 1, "status %d: %s", o.status, o.err);
    cr_assert_str_eq(o.err,
                     "sqlited: invalid value '0' for --readers (see --help)\n");
    cr_assert_str_empty(o.out);
    harness_output_free(&o);
    remove_conf();
}
