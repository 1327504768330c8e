/* The dot-commands: one table of names, each with its usage and function. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dot.h"
#include "dump.h"
#include "import.h"

static int dot_quit(struct session *s, int argc, char **argv)
{
    (void)s;
    (void)argc;
    (void)argv;
    return DOT_QUIT;
}

static const struct dot_command {
    const char *name;
    int min_args, max_args;
    const char *usage;
    int (*run)(struct session *s, int argc, char **argv);
} dot_commands[] = {
    {"dump", 0, 1, ".dump [TABLE]", dump_run},
    {"exit", 0, 0, ".exit", dot_quit},
    {"import", 2, 5, ".import [--csv] [--skip N] FILE TABLE", import_run},
    {"quit", 0, 0, ".quit", dot_quit},
};

#define MAX_ARGS 16

int dot_run(struct session *s, const char *line)
{
    char buf[4096], *argv[MAX_ARGS + 1];
    int argc = 0;

    if (strlen(line) >= sizeof(buf)) {
        fprintf(stderr, "%s: dot-command too long\n", PROG);
        return EXIT_DAEMON_ERROR;
    }
    strcpy(buf, line + 1);
    for (char *save, *w = strtok_r(buf, " \t", &save); w;
         w = strtok_r(NULL, " \t", &save)) {
        if (argc == MAX_ARGS) {
            fprintf(stderr, "%s: .%s: too many arguments\n", PROG, argv[0]);
            return EXIT_DAEMON_ERROR;
        }
        argv[argc++] = w;
    }
    if (argc == 0) {
        fprintf(stderr, "%s: a dot-command needs a name (try .help)\n", PROG);
        return EXIT_DAEMON_ERROR;
    }
    for (size_t i = 0; i < sizeof(dot_commands) / sizeof(dot_commands[0]);
         i++) {
        const struct dot_command *c = &dot_commands[i];
        if (strcmp(c->name, argv[0]) != 0)
            continue;
        if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
            fprintf(stderr, "%s: usage: %s\n", PROG, c->usage);
            return EXIT_DAEMON_ERROR;
        }
        return c->run(s, argc - 1, argv + 1);
    }
    fprintf(stderr, "%s: unknown command .%s (try .help)\n", PROG, argv[0]);
    return EXIT_DAEMON_ERROR;
}

const char *dot_command_name(size_t i)
{
    return i < sizeof(dot_commands) / sizeof(dot_commands[0])
               ? dot_commands[i].name
               : NULL;
}
