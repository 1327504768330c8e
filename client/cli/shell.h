/* The interactive shell: sqlited-cli started on a terminal with no SQL to
 * run. */
#ifndef SQLITED_CLI_SHELL_H
#define SQLITED_CLI_SHELL_H

#include "session.h"

/* Reads statements and dot-commands from the terminal on standard input,
 * with line editing, history and completion (libedit), and runs them in
 * session @s (connected to the daemon on socket @path, which the prompt
 * names) until .quit or Ctrl-D. Ctrl-C cancels the statement being typed,
 * or interrupts the one running. Returns the exit status: 0; 1 when a
 * statement was left half-typed at the end of input; 2 when the
 * connection was lost. */
int shell_main(struct session *s, const char *path);

#endif
