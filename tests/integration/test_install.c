/* make install (issue 15): the systemd units, the sysusers.d file, the man
 * pages and the README they point at are installed with paths that follow
 * PREFIX, systemd-analyze accepts the units and scores their sandboxing at
 * most 1.5 and systemd-sysusers makes the user and group (where they are
 * installed: Debian's package systemd), and make uninstall removes
 * everything again. */
#include <criterion/criterion.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define MAKE_TIMEOUT_MS 300000

static char dir[64];

static void teardown(void)
{
    if (dir[0] == '\0')
        return;
    struct harness_output o;
    harness_run((const char *const[]){"/bin/rm", "-rf", dir, NULL}, NULL,
                HARNESS_RUN_TIMEOUT_MS, &o);
    harness_output_free(&o);
}

TestSuite(install, .fini = teardown, .timeout = 600);

static void make_dir(void)
{
    strcpy(dir, "/tmp/sqlited-install-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

/* Runs the shell command @cmd; fails the test unless it exits 0 with
 * nothing on stderr when @quiet. */
static void run_sh(const char *cmd, bool quiet, struct harness_output *o)
{
    harness_run((const char *const[]){"/bin/sh", "-c", cmd, NULL}, NULL,
                MAKE_TIMEOUT_MS, o);
    cr_assert_eq(o->status, 0, "%s: exit %d\n%s%s", cmd, o->status, o->out,
                 o->err);
    if (quiet)
        cr_assert_eq(o->err_len, 0, "%s:\n%s%s", cmd, o->out, o->err);
}

/* make -C the source tree @target @vars, on the build this suite was built
 * from (so that nothing is compiled), outside of any make that runs the
 * suite. */
static void run_make(const char *target, const char *vars)
{
    char bin[] = SQLITED_BIN;
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C '%s' "
             "BUILD='%s' %s %s",
             SQLITED_SOURCE_DIR, dirname(bin), vars, target);
    struct harness_output o;
    run_sh(cmd, false, &o);
    harness_output_free(&o);
}

/* Whether the command @name is in $PATH. */
static bool have(const char *name)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s", name);
    struct harness_output o;
    harness_run((const char *const[]){"/bin/sh", "-c", cmd, NULL}, NULL,
                HARNESS_RUN_TIMEOUT_MS, &o);
    bool found = o.status == 0;
    harness_output_free(&o);
    return found;
}

/* The contents of @path (malloc'd); fails the test if it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "re");
    cr_assert_not_null(f, "%s is not installed", path);
    char *text = calloc(1, 65536);
    cr_assert_not_null(text);
    size_t n = fread(text, 1, 65535, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void assert_holds(const char *path, const char *text)
{
    char *content = slurp(path);
    cr_assert_not_null(strstr(content, text), "%s lacks \"%s\":\n%s", path,
                       text, content);
    cr_assert(strstr(content, "@bindir@") == NULL &&
                  strstr(content, "@docdir@") == NULL,
              "%s has a placeholder left:\n%s", path, content);
    free(content);
}

Test(install, units_follow_prefix_and_uninstall_removes_them)
{
    char vars[512], path[512];
    make_dir();
    snprintf(vars, sizeof(vars),
             "DESTDIR='%s' PREFIX=/opt/sqlited "
             "SYSTEMD_UNIT_DIR=/etc/systemd/system",
             dir);
    run_make("install", vars);

    snprintf(path, sizeof(path), "%s/etc/systemd/system/sqlited.service", dir);
    assert_holds(path, "\nExecStart=/opt/sqlited/bin/sqlited ");
    assert_holds(path, "file:///opt/sqlited/share/doc/sqlited/README.md");
    assert_holds(path, "\nWatchdogSec=");
    snprintf(path, sizeof(path), "%s/etc/systemd/system/sqlited.socket", dir);
    assert_holds(path, "\nSocketGroup=sqlited\n");
    assert_holds(path, "\nSocketMode=0660\n");
    snprintf(path, sizeof(path), "%s/opt/sqlited/lib/sysusers.d/sqlited.conf",
             dir);
    assert_holds(path, "\nu sqlited ");
    snprintf(path, sizeof(path),
             "%s/opt/sqlited/share/doc/sqlited/http.conf.example", dir);
    assert_holds(path, "cp /opt/sqlited/share/doc/sqlited/http.conf.example");
    const char *files[] = {"opt/sqlited/share/doc/sqlited/README.md",
                           "opt/sqlited/share/man/man8/sqlited.8",
                           "opt/sqlited/share/man/man1/sqlited-cli.1",
                           "opt/sqlited/bin/sqlited"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        cr_assert_eq(access(path, R_OK), 0, "%s is not installed", path);
    }

    run_make("uninstall", vars);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "find '%s' ! -type d", dir);
    struct harness_output o;
    run_sh(cmd, true, &o);
    cr_assert_eq(o.out_len, 0, "left after make uninstall:\n%s", o.out);
    harness_output_free(&o);
}

/* Installed in a PREFIX of its own (not a DESTDIR), so that the paths in
 * the units name files that exist: systemd-analyze verify checks that
 * ExecStart= is executable and, with MANPATH, that the man pages of
 * Documentation= are there. */
Test(install, systemd_analyze_accepts_the_installed_units)
{
    struct harness_output o;
    if (!have("systemd-analyze"))
        cr_skip_test("systemd-analyze is not installed (Debian: package "
                     "systemd): the installed units are not verified");

    char vars[512], cmd[2048];
    make_dir();
    snprintf(vars, sizeof(vars), "PREFIX='%s/usr'", dir);
    run_make("install", vars);

    char units[1024];
    snprintf(units, sizeof(units),
             "'%s/usr/lib/systemd/system/sqlited.service' "
             "'%s/usr/lib/systemd/system/sqlited.socket'",
             dir, dir);
    snprintf(cmd, sizeof(cmd),
             "MANPATH='%s/usr/share/man' systemd-analyze verify %s", dir,
             units);
    run_sh(cmd, true, &o);
    cr_assert_eq(o.out_len, 0, "%s:\n%s", cmd, o.out);
    harness_output_free(&o);

    /* Exposure 1.5 at most (--threshold counts tenths). */
    snprintf(cmd, sizeof(cmd),
             "systemd-analyze security --offline=yes --threshold=15 "
             "'%s/usr/lib/systemd/system/sqlited.service'",
             dir);
    run_sh(cmd, false, &o);
    harness_output_free(&o);
}

/* Fails the test unless DIR/etc/@file (passwd, group) has an entry
 * sqlited. */
static void assert_entry(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/etc/%s", dir, file);
    char *text = slurp(path);
    cr_assert(strncmp(text, "sqlited:", 8) == 0 ||
                  strstr(text, "\nsqlited:") != NULL,
              "no sqlited in %s:\n%s", path, text);
    free(text);
}

/* systemd-sysusers, on a root of its own, makes the user the daemon runs as
 * and the group of its clients from the installed sysusers.d file. */
Test(install, sysusers_creates_the_user_and_its_group)
{
    struct harness_output o;
    if (!have("systemd-sysusers"))
        cr_skip_test("systemd-sysusers is not installed (Debian: package "
                     "systemd): the sysusers.d file is not tried");

    char vars[512], cmd[1024];
    make_dir();
    snprintf(vars, sizeof(vars), "PREFIX='%s/usr'", dir);
    run_make("install", vars);
    snprintf(cmd, sizeof(cmd), "mkdir '%s/etc' && systemd-sysusers --root='%s'",
             dir, dir);
    run_sh(cmd, false, &o);
    harness_output_free(&o);
    assert_entry("passwd");
    assert_entry("group");
}
