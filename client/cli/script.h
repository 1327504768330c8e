/* Scripts: SQL text run statement by statement, like the sqlite3 shell and
 * psql -f do: from standard input, -f FILE, the SQL argument, and .read. */
#ifndef SQLITED_CLI_SCRIPT_H
#define SQLITED_CLI_SCRIPT_H

#include <stdio.h>

#include "session.h"

/* Runs the script read from @in, named @name in messages ("<stdin>", a
 * path; NULL for the SQL argument and the shell's input), as it is read.
 *
 * The text splits into statements where sqlite3_complete() says one ends
 * (so a trigger's body stays whole); white space and comments between them
 * are skipped. A line whose first character that is not blank is '.', at
 * a statement boundary, is a dot-command for dot_run(). Each statement goes
 * to session_run(), which prints its rows; with s->echo it is printed first.
 * An error names @name, the statement's line and its first line. With
 * s->bail the script stops at the first failure; a broken connection or
 * .quit (s->quit) stops it always.
 *
 * Returns 0 when everything succeeded, else the highest exit status of the
 * failures (1 a statement failed, 2 the connection was lost or the input
 * could not be read). A transaction left open at the end stays open: see
 * script_main(). */
int script_run_stream(struct session *s, FILE *in, const char *name);

/* Runs @text (NUL-terminated) as script_run_stream() runs a file. */
int script_run_text(struct session *s, const char *text, const char *name);

/* Opens the script @path for reading ("-": standard input, named <stdin>).
 * Returns 0 with *@in set, else prints why and returns 2 (EXIT_USAGE). */
int script_open(const char *path, FILE **in);

/* .read FILE: runs the script @path inside the running one (nested at most
 * 16 deep); returns as script_run_stream(), 1 when it cannot be opened. */
int script_read(struct session *s, const char *path);

/* The whole of a script run by the command line, read from @in, or else
 * the text @text: with s->atomic, inside one
 * transaction, committed when every statement succeeded and else rolled
 * back; without it, a transaction the script left open is rolled back with
 * a note (status 1). Returns as script_run_stream(). */
int script_main(struct session *s, FILE *in, const char *text,
                const char *name);

#endif
