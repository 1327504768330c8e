/* Printing a result the way the sqlite3 shell does, in one of its output
 * modes, to standard output (through a pager on a terminal) or to the file
 * of .output and .once. */
#ifndef SQLITED_CLI_OUTPUT_H
#define SQLITED_CLI_OUTPUT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "sqlited.h"

enum mode {
    MODE_LIST,
    MODE_TABLE,
    MODE_BOX,
    MODE_CSV,
    MODE_JSON,
    MODE_LINE,
    MODE_MARKDOWN,
    MODE_COLUMN,
};

/* How results are printed, and where. Starts as {.mode = ..., .out =
 * stdout}; printer_close() frees what it holds. */
struct printer {
    enum mode mode;
    bool header;     /* print the column names (list, csv, column) */
    bool header_set; /* chosen (--header, .headers): .mode keeps it */
    bool no_pager;   /* .pager off */
    FILE *out;       /* stdout, or the file of .output or .once */
    char *nullvalue; /* .nullvalue: how NULL prints (owned; NULL for "") */
    int *width;      /* .width: columns' widths, 0 automatic, < 0 right */
    int nwidth;
    char *out_name; /* the .output/.once file or '|command', for messages */
    bool out_pipe;  /* out is a pipe to a command (popen) */
    int once;       /* commands left before .once's file is closed */
    /* The shell's Ctrl-C flag (NULL outside the shell): printing a result
     * stops at the next row once it is up, since libsqlited drops an
     * interrupt that comes while no call waits (as while rows print). */
    volatile sig_atomic_t *interrupted;
};

/* Sets *@mode to the mode named @name; false if there is none. */
bool mode_parse(const char *name, enum mode *mode);

/* The name of @mode ("box"). */
const char *mode_name(enum mode mode);

/* The names of the modes, for a usage message: "list, table, ...". */
extern const char mode_names[];

/* Switches @pr to @mode; unless chosen explicitly, the header follows the
 * mode: on for table, box, markdown, column and csv, off for the others.
 * table, box and markdown print it even when it is off, as sqlite3 does:
 * the header only switches it in list, csv and column. */
void printer_set_mode(struct printer *pr, enum mode mode);

/* Whether @mode prints the column names unless told otherwise. */
bool mode_default_header(enum mode mode);

/* Sets how NULL prints (a copy of @text). Returns 0 or -ENOMEM. */
int printer_set_nullvalue(struct printer *pr, const char *text);

/* Sets the columns' widths to @n (copied): 0 automatic, a positive width
 * wraps longer values onto more lines, a negative one also right-aligns.
 * Returns 0 or -ENOMEM. */
int printer_set_widths(struct printer *pr, const int *w, int n);

/* Prints every row of @rows. list, csv, json and line print each row as it
 * arrives; table, box, markdown and column hold up to 10,000 rows (or 16
 * MiB) to measure the columns, print them, and so on: a later row that
 * needs a wider column widens it from there on. On a terminal, output that does
 * not fit it goes through the pager (see output_pager()). Returns SQLITED_DONE
 * (also when the user quit the pager early), the failure of
 * sqlited_rows_next(), SQLITED_INTERRUPTED when pr->interrupted stopped it,
 * or -ENOMEM; a failed write to the output ends it early
 * (see out_failed()). */
int print_rows(struct printer *pr, sqlited_rows *rows);

/* The pager's command: $SQLITED_PAGER, else $PAGER, else less (with
 * LESS=-SRX unless LESS is set); NULL when it is set empty or less is not
 * installed. */
const char *output_pager(void);

/* Whether writing to @out has failed; the first failure's errno is kept
 * for the message of finish_output() or output_error(). */
bool out_failed(FILE *out);

/* Whether standard output's reader has gone away (a write to it failed
 * with EPIPE: `sqlited-cli ... | head` once head has exited). A script
 * stops there; finish_output() then ends the process by SIGPIPE. */
bool output_reader_gone(void);

/* Reports that writing to @pr's output failed (for standard output,
 * finish_output() does) and returns the exit status, 1. */
int output_error(struct printer *pr);

/* Sends output to @path (or, when it starts with '|', to that command's
 * standard input) instead of standard output; with @once, only for the
 * next command. Returns 0; 1 when closing the previous output failed
 * (reported); or, with nothing changed and nothing printed, a negated
 * errno: -EINVAL for a '|' without a command, else why @path cannot be
 * opened. */
int output_open(struct printer *pr, const char *path, bool once);

/* Closes the .output/.once file and sends output to standard output
 * again. Returns 0, or 1 after printing why closing failed (a full disk,
 * a command that failed). */
int output_restore(struct printer *pr);

/* Called after each command (a statement or a dot-command): ends .once's
 * redirection after the one command it was for. Returns as
 * output_restore(): 1 when writing the file failed, which fails the
 * command. */
int output_command_done(struct printer *pr);

/* Frees what @pr holds and restores standard output. Returns @status, or
 * 1 if it was 0 and closing the .output file failed. */
int printer_close(struct printer *pr, int status);

/* Flushes standard output; a failure (closed descriptor, full disk) is an
 * error of the run. Returns @status, or 1 if it was 0 and the output
 * failed. When the reader has gone (output_reader_gone()), it does not
 * return: the process ends by SIGPIPE, without a message, as sqlite3 and
 * psql do; call it last, with the connection closed. */
int finish_output(int status);

#endif
