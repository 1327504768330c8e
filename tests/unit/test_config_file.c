/* The daemon's configuration file (daemon/config.c): keys and values, the
 * errors by file and line, flags over the file over the defaults, and
 * --check-config's listing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/config.h"
#include "config_args.h"
#include "sqlited.h"

static char dir[] = "/tmp/sqlited-conf-XXXXXX";
static char path[128];
static char out[16384], err[4096];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sqlited.conf", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(config_file, .init = setup, .fini = teardown);

static void write_file(const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Runs config_parse() on "sqlited" and @args (NULL-terminated) over the
 * defaults, keeping stdout and stderr in out and err. */
static int parse_args(struct config *cfg, const char *const *args)
{
    return config_parse_captured(cfg, args, out, sizeof(out), err, sizeof(err));
}

#define PARSE(cfg, ...)                                                        \
    parse_args(cfg, (const char *const[]){__VA_ARGS__, NULL})

/* The file @text is refused with exactly @message, where each "FILE"
 * stands for the file's path. */
static void refused(const char *text, const char *message)
{
    struct config c;
    char want[1024] = "";
    write_file(text);
    cr_assert_eq(PARSE(&c, "--config", path), -1, "accepted: %s", text);
    for (const char *p = message, *f; *p; p = f + 4) {
        f = strstr(p, "FILE");
        if (f == NULL) {
            strcat(want, p);
            break;
        }
        strncat(want, p, (size_t)(f - p));
        strcat(want, path);
    }
    cr_assert_str_eq(err, want, "%s", text);
    config_free(&c);
}

Test(config_file, keys_comments_and_blank_lines)
{
    struct config c;
    write_file("# a comment\n"
               "\n"
               "   # an indented comment\n"
               "database = /srv/app#1.db # after a blank: a comment\n"
               "  readers=3  \n"
               "log_level = debug\n" /* underscores work too */
               "read-only = yes\n"
               "synchronous = normal\n"
               "socket-mode = 0600\n"
               "backup-dir = /srv/backups dir\n"
               "backup-interval = 2h\n"
               "max-memory = 268435456\n");
    cr_assert_eq(PARSE(&c, "--config", path), 0, "%s", err);
    cr_assert_str_empty(err);
    cr_assert_str_eq(c.config_file, path);
    cr_assert_str_eq(c.database, "/srv/app#1.db");
    cr_assert_eq(c.readers, 3);
    cr_assert_eq(c.log_level, LOG_DEBUG);
    cr_assert(c.read_only);
    cr_assert_str_eq(c.synchronous, "NORMAL");
    cr_assert_eq(c.socket_mode, 0600);
    cr_assert_str_eq(c.backup_dir, "/srv/backups dir", "inner blanks kept");
    cr_assert_eq(c.backup_interval_ms, 2 * 3600 * 1000);
    cr_assert_eq(c.origin[0].source, CONFIG_DEFAULT, "--config itself");
    config_free(&c);
}

Test(config_file, flags_override_the_file)
{
    struct config c;
    write_file("readers = 3\n"
               "timeout = 1000\n"
               "read-only = false\n");
    cr_assert_eq(PARSE(&c, "--readers", "5", "--config", path, "--read-only"),
                 0, "%s", err);
    cr_assert_eq(c.readers, 5, "the flag wins, wherever it stands");
    cr_assert_eq(c.timeout_ms, 1000, "the file fills in the rest");
    cr_assert(c.read_only);
    config_free(&c);
}

Test(config_file, a_value_a_flag_overrides_is_still_checked)
{
    refused("readers = 0\n",
            "sqlited: FILE:1: invalid value '0' for readers (see --help)\n");
    struct config c;
    write_file("readers = 0\n");
    cr_assert_eq(PARSE(&c, "--readers", "2", "--config", path), -1);
    config_free(&c);
}

Test(config_file, errors_name_the_file_and_the_line)
{
    refused("\n# fine\nreaderz = 2\n",
            "sqlited: FILE:3: unknown key 'readerz' (see sqlited --help)\n");
    refused("readers = 2\nsynchronous = fast\n",
            "sqlited: FILE:2: invalid value 'fast' for synchronous (see "
            "--help)\n");
    refused("log-level\n",
            "sqlited: FILE:1: expected 'key = value', not 'log-level'\n");
    refused("readers = 2\nreaders = 3\n",
            "sqlited: FILE:2: readers is set twice (first on line 1)\n");
    refused("log-file =\n",
            "sqlited: FILE:1: invalid value '' for log-file (see --help)\n");
    refused("read-only = maybe\n",
            "sqlited: FILE:1: invalid value 'maybe' for read-only (see "
            "--help)\n");
    refused(
        "file-mode = 0400\n",
        "sqlited: FILE:1: invalid value '0400' for file-mode: an octal mode "
        "of at most 0777 that lets the owner read and write (0600 at "
        "least)\n");
    /* Flags only: not keys of the file. */
    refused("config = /etc/other.conf\n",
            "sqlited: FILE:1: unknown key 'config' (see sqlited --help)\n");
    refused("help = true\n",
            "sqlited: FILE:1: unknown key 'help' (see sqlited --help)\n");
    /* Every mistake is reported, not only the first. */
    refused("a = 1\nreaders = x\n",
            "sqlited: FILE:1: unknown key 'a' (see sqlited --help)\n"
            "sqlited: FILE:2: invalid value 'x' for readers (see --help)\n");
}

Test(config_file, checks_between_options_span_file_and_flags)
{
    struct config c;
    write_file("max-timeout = 1000\n");
    cr_assert_eq(PARSE(&c, "--config", path, "--timeout", "2000"), -1);
    cr_assert_str_eq(err, "sqlited: --timeout 2000 is above --max-timeout "
                          "1000 (see --help)\n");
    config_free(&c);
}

Test(config_file, a_missing_file_named_by_config_is_an_error)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "--config", "/nonexistent/sqlited.conf"), -1);
    cr_assert_str_eq(err, "sqlited: cannot read the configuration file "
                          "/nonexistent/sqlited.conf: No such file or "
                          "directory\n");
    cr_assert_eq(PARSE(&c, "--config", ""), -1);
    cr_assert_str_eq(err,
                     "sqlited: invalid value '' for --config (see --help)\n");
}

Test(config_file, check_config_prints_every_key_and_its_source)
{
    struct config c;
    write_file("# app\nreaders = 3\nbackup-dir = /b\nbackup-interval = 90m\n");
    cr_assert_eq(
        PARSE(&c, "--check-config", "--config", path, "--timeout", "100"), 0,
        "%s", err);
    cr_assert(c.check_config);
    FILE *o = tmpfile();
    config_print(&c, o);
    slurp(o, out, sizeof(out));
    char want[256];
    snprintf(want, sizeof(want), "\nreaders = 3%*s # %s:2\n", 29, "", path);
    cr_assert(strstr(out, want), "%s", out);
    cr_assert(strstr(out, "\ntimeout = 100                            # flag "
                          "--timeout\n"),
              "%s", out);
    cr_assert(strstr(out, "\nsynchronous = FULL                       # "
                          "default\n"),
              "%s", out);
    cr_assert(strstr(out, "\nbackup-interval = 90m"), "%s", out);
    cr_assert(strstr(out, "\n# log-file is not set"), "%s", out);
    cr_assert_null(strstr(out, "check-config"), "flags only are not keys");

    /* What it prints is a configuration file that gives the same. */
    snprintf(want, sizeof(want), "%s.out", path);
    FILE *f = fopen(want, "w");
    fputs(out, f);
    fclose(f);
    struct config again;
    cr_assert_eq(PARSE(&again, "--config", want), 0, "%s", err);
    unlink(want);
    cr_assert_eq(again.readers, 3);
    cr_assert_eq(again.timeout_ms, 100);
    cr_assert_eq(again.backup_interval_ms, 90 * 60 * 1000);
    cr_assert_eq(again.wal_max_bytes, c.wal_max_bytes);
    config_free(&again);
    config_free(&c);
}

Test(config_file, check_config_is_known_before_an_earlier_error)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "--readers", "0", "--check-config"), -1);
    cr_assert(c.check_config, "so that the exit status is 1, not 2");
}
