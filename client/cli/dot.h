/* The dot-commands of the shell and of scripts (.mode, .tables, .import,
 * ...), the sqlite3 shell's. */
#ifndef SQLITED_CLI_DOT_H
#define SQLITED_CLI_DOT_H

#include <stddef.h>
#include <stdio.h>

#include "session.h"

/* What dot_run() returns besides an exit status (0, 1, 2): the command was
 * .quit or .exit. */
#define DOT_QUIT (-1)

/* Runs the dot-command @line (starting with '.', without its newline) in
 * session @s. Returns 0, the exit status of a failure already reported on
 * standard error, or DOT_QUIT. */
int dot_run(struct session *s, const char *line);

/* Prints the help of the dot-command @word names (".dump", or "dump t":
 * its first word, with or without its '.') to @out, for `sqlited-cli .dump
 * --help`: how it is used, as the argument and in the shell, and what it
 * does (what .help CMD says). Returns 0, or -1 if there is no such
 * command. */
int dot_command_help(const char *word, FILE *out);

/* The name of the @i-th dot-command, without its '.' ("quit"), for the
 * shell's completion; NULL past the last. */
const char *dot_command_name(size_t i);

#endif
