/* The dot-commands: one table of names, each with its usage, a line of
 * help and its function; and the commands about output, parameters and the
 * schema. */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "dot.h"
#include "dump.h"
#include "import.h"
#include "script.h"
#include "text.h"

/* Reports what is wrong with the dot-command .@cmd, naming the script's
 * FILE:LINE when it comes from one. */
static int dot_fail(const struct session *s, const char *cmd, const char *what,
                    const char *arg)
{
    if (arg)
        session_report(s, NULL, ".%s: %s: %s", cmd, what, arg);
    else
        session_report(s, NULL, ".%s: %s", cmd, what);
    return EXIT_DAEMON_ERROR;
}

/* Reads on/off (yes/no, true/false, 1/0) into *@v. */
static bool parse_bool(const char *s, bool *v)
{
    static const char *const on[] = {"on", "yes", "true", "1"};
    static const char *const off[] = {"off", "no", "false", "0"};

    for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
        if (strcasecmp(s, on[i]) == 0) {
            *v = true;
            return true;
        }
        if (strcasecmp(s, off[i]) == 0) {
            *v = false;
            return true;
        }
    }
    return false;
}

static int set_flag(const struct session *s, const char *cmd, const char *arg,
                    bool *flag)
{
    if (!parse_bool(arg, flag))
        return dot_fail(s, cmd, "expected on or off", arg);
    return 0;
}

/* ---------------------------------------------------------------- output */

static int dot_mode(struct session *s, int argc, char **argv)
{
    enum mode mode;

    if (argc == 0) {
        fprintf(s->pr.out, "current output mode: %s\n", mode_name(s->pr.mode));
        return 0;
    }
    if (!mode_parse(argv[0], &mode)) {
        session_report(s, NULL, ".mode: unknown mode '%s' (%s)", argv[0],
                       mode_names);
        return EXIT_DAEMON_ERROR;
    }
    printer_set_mode(&s->pr, mode);
    return 0;
}

static int dot_headers(struct session *s, int argc, char **argv)
{
    (void)argc;
    int rc = set_flag(s, "headers", argv[0], &s->pr.header);

    if (rc == 0)
        s->pr.header_set = true;
    return rc;
}

static int dot_nullvalue(struct session *s, int argc, char **argv)
{
    (void)argc;
    if (printer_set_nullvalue(&s->pr, argv[0]))
        return dot_fail(s, "nullvalue", strerror(ENOMEM), NULL);
    return 0;
}

static int dot_width(struct session *s, int argc, char **argv)
{
    int w[argc > 0 ? argc : 1];

    for (int i = 0; i < argc; i++) {
        char *end;
        errno = 0;
        long v = strtol(argv[i], &end, 10);
        if (errno || end == argv[i] || *end || v < -10000 || v > 10000)
            return dot_fail(s, "width",
                            "a width is a number of characters from -10000 "
                            "to 10000",
                            argv[i]);
        w[i] = (int)v;
    }
    if (printer_set_widths(&s->pr, w, argc))
        return dot_fail(s, "width", strerror(ENOMEM), NULL);
    return 0;
}

static int dot_pager(struct session *s, int argc, char **argv)
{
    (void)argc;
    bool on;
    int rc = set_flag(s, "pager", argv[0], &on);

    if (rc == 0)
        s->pr.no_pager = !on;
    return rc;
}

/* .output FILE and .once FILE. */
static int open_output(struct session *s, const char *cmd, const char *path,
                       bool once)
{
    int rc = output_open(&s->pr, path, once);

    if (rc == -EINVAL)
        return dot_fail(s, cmd, "'|' needs a command to write to", NULL);
    if (rc < 0) {
        session_report(s, NULL, ".%s: cannot open %s: %s", cmd, path,
                       strerror(-rc));
        return EXIT_DAEMON_ERROR;
    }
    return rc;
}

static int dot_output(struct session *s, int argc, char **argv)
{
    return argc == 0 ? output_restore(&s->pr)
                     : open_output(s, "output", argv[0], false);
}

static int dot_once(struct session *s, int argc, char **argv)
{
    (void)argc;
    return open_output(s, "once", argv[0], true);
}

static int dot_timer(struct session *s, int argc, char **argv)
{
    (void)argc;
    return set_flag(s, "timer", argv[0], &s->timer);
}

/* ------------------------------------------------------------ parameters */

/* Cuts the next blank-separated word off *@p. */
static char *next_word(char **p)
{
    char *w = *p + strspn(*p, " \t");
    size_t n = strcspn(w, " \t");

    *p = w + n + (w[n] != '\0');
    w[n] = '\0';
    return w;
}

/* .param takes the rest of its line, so that a value keeps its quotes and
 * blanks as written ('quoted text'). */
static int dot_param(struct session *s, int argc, char **argv)
{
    char *p = argv[0], err[256];
    const char *sub = next_word(&p);
    const char *name = next_word(&p);

    (void)argc;
    p += strspn(p, " \t");
    if (strcmp(sub, "list") == 0 && !*name) {
        params_list(&s->params, s->pr.out);
        return 0;
    }
    if (strcmp(sub, "clear") == 0 && !*name) {
        params_clear(&s->params);
        return 0;
    }
    if (strcmp(sub, "unset") == 0 && *name && !*p) {
        if (!params_unset(&s->params, name))
            return dot_fail(s, "param", "no such parameter", name);
        return 0;
    }
    if (strcmp(sub, "set") == 0 && *name && *p) {
        if (params_set(&s->params, name, p, err, sizeof(err)))
            return dot_fail(s, "param", err, NULL);
        return 0;
    }
    session_report(s, NULL,
                   "usage: .param set NAME VALUE | unset NAME | list | "
                   "clear");
    return EXIT_DAEMON_ERROR;
}

/* ---------------------------------------------------------------- schema */

/* Runs @sql with @pattern bound to ?1 and hands each row's first column to
 * @each. Returns 0 or the reported failure's exit status. */
static int query_each(struct session *s, const char *sql, const char *pattern,
                      void (*each)(void *ctx, const char *text, size_t len),
                      void *ctx)
{
    sqlited_params *params = NULL;
    sqlited_rows *rows = NULL;
    int rc = sqlited_params_open(&params);

    if (rc == 0)
        rc = sqlited_params_add_text(params, NULL, pattern, -1);
    if (rc) {
        sqlited_params_close(params);
        session_report(s, NULL, "%s", sqlited_strerror(rc));
        return EXIT_DAEMON_ERROR;
    }
    rc = sqlited_query(s->db, sql, params, &rows);
    sqlited_params_close(params);
    if (rc)
        return report_call_error(s->db, rc);
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW)
        each(ctx, sqlited_column_text(rows, 0),
             (size_t)sqlited_column_bytes(rows, 0));
    sqlited_rows_close(rows);
    return rc == SQLITED_DONE ? 0 : report_rows_error(s->db, rc);
}

struct names {
    struct sbuf text;
    size_t *off, n, cap;
    bool oom;
};

static void add_name(void *ctx, const char *text, size_t len)
{
    struct names *nm = ctx;

    if (nm->n + 2 > nm->cap) {
        size_t cap = nm->cap ? nm->cap * 2 : 32;
        size_t *p = realloc(nm->off, cap * sizeof(*p));
        if (!p) {
            nm->oom = true;
            return;
        }
        nm->off = p;
        nm->cap = cap;
    }
    nm->off[nm->n++] = nm->text.len;
    sbuf_add(&nm->text, text, len);
}

/* Prints names in columns down then across, 80 characters wide, as
 * sqlite3's .tables and .indexes do. */
static int list_names(struct session *s, const char *sql, const char *pattern)
{
    struct names nm = {0};
    int status = query_each(s, sql, pattern, add_name, &nm);
    size_t maxlen = 0;

    if (status == 0 && (nm.oom || nm.text.oom)) {
        session_report(s, NULL, "%s", strerror(ENOMEM));
        status = EXIT_DAEMON_ERROR;
    }
    if (status == 0 && nm.n > 0) {
        nm.off[nm.n] = nm.text.len;
        for (size_t i = 0; i < nm.n; i++) {
            size_t w =
                text_width(nm.text.p + nm.off[i], nm.off[i + 1] - nm.off[i]);
            if (w > maxlen)
                maxlen = w;
        }
        size_t ncol = 80 / (maxlen + 2);
        if (ncol < 1)
            ncol = 1;
        size_t nrow = (nm.n + ncol - 1) / ncol;
        for (size_t r = 0; r < nrow; r++) {
            for (size_t j = r; j < nm.n; j += nrow) {
                const char *t = nm.text.p + nm.off[j];
                size_t len = nm.off[j + 1] - nm.off[j];
                fputs(j < nrow ? "" : "  ", s->pr.out);
                fwrite(t, 1, len, s->pr.out);
                for (size_t w = text_width(t, len); w < maxlen; w++)
                    putc(' ', s->pr.out);
            }
            putc('\n', s->pr.out);
        }
    }
    free(nm.text.p);
    free(nm.off);
    return status;
}

static int dot_tables(struct session *s, int argc, char **argv)
{
    return list_names(s,
                      "SELECT name FROM sqlite_schema WHERE type IN "
                      "('table', 'view') AND name NOT LIKE 'sqlite\\_%' "
                      "ESCAPE '\\' AND name LIKE ?1 ORDER BY 1",
                      argc ? argv[0] : "%");
}

static int dot_indexes(struct session *s, int argc, char **argv)
{
    return list_names(s,
                      "SELECT name FROM sqlite_schema WHERE type = 'index' "
                      "AND tbl_name LIKE ?1 ORDER BY 1",
                      argc ? argv[0] : "%");
}

static void print_statement(void *ctx, const char *text, size_t len)
{
    FILE *out = ctx;

    fwrite(text, 1, len, out);
    fputs(";\n", out);
}

static int dot_schema(struct session *s, int argc, char **argv)
{
    return query_each(s,
                      "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL "
                      "AND tbl_name LIKE ?1 ORDER BY rowid",
                      argc ? argv[0] : "%", print_statement, s->pr.out);
}

/* ------------------------------------------------------------------ plan */

struct plan_row {
    long long id, parent;
    char *detail;
};

/* Prints the rows under @parent, each with @prefix, as sqlite3's .eqp
 * draws them. */
static void plan_level(FILE *out, const struct plan_row *r, size_t n,
                       long long parent, char *prefix, size_t plen,
                       size_t psize)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i].parent != parent)
            continue;
        size_t next = i + 1;
        while (next < n && r[next].parent != parent)
            next++;
        bool last = next == n;
        fprintf(out, "%.*s%s%s\n", (int)plen, prefix, last ? "`--" : "|--",
                r[i].detail);
        if (plen + 3 < psize && r[i].id != parent) {
            memcpy(prefix + plen, last ? "   " : "|  ", 3);
            plan_level(out, r, n, r[i].id, prefix, plen + 3, psize);
        }
    }
}

static int dot_explain(struct session *s, int argc, char **argv)
{
    const char *sql = argv[0];
    sqlited_params *params = NULL;
    sqlited_rows *rows = NULL;
    struct plan_row *r = NULL;
    size_t n = 0, cap = 0;
    char prefix[300];
    int status = 0, detail = 2;
    int rc = params_bind(&s->params, sql, &params);

    (void)argc;
    if (rc == 0 && sqlited_tx_id(s->db) != 0) {
        /* sqlited_explain() plans outside any transaction: inside the
         * user's, ask it, so that the tables it made are seen. */
        struct sbuf eqp = {0};
        sbuf_adds(&eqp, "EXPLAIN QUERY PLAN ");
        sbuf_adds(&eqp, sql);
        sbuf_add(&eqp, "", 1);
        rc = eqp.oom ? -ENOMEM : sqlited_query(s->db, eqp.p, params, &rows);
        detail = 3; /* id, parent, notused, detail */
        free(eqp.p);
    } else if (rc == 0) {
        rc = sqlited_explain(s->db, sql, params, &rows);
    }
    sqlited_params_close(params);
    if (rc)
        return report_call_error(s->db, rc);
    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct plan_row *p = realloc(r, ncap * sizeof(*p));
            if (!p) {
                rc = -ENOMEM;
                break;
            }
            r = p;
            cap = ncap;
        }
        r[n].id = sqlited_column_int64(rows, 0);
        r[n].parent = sqlited_column_int64(rows, 1);
        r[n].detail = strdup(sqlited_column_text(rows, detail));
        if (!r[n].detail) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    if (rc == SQLITED_DONE) {
        fputs("QUERY PLAN\n", s->pr.out);
        plan_level(s->pr.out, r, n, 0, prefix, 0, sizeof(prefix));
    } else {
        status = report_rows_error(s->db, rc);
    }
    for (size_t i = 0; i < n; i++)
        free(r[i].detail);
    free(r);
    sqlited_rows_close(rows);
    return status;
}

/* ------------------------------------------------------- the table itself */

static int dot_quit(struct session *s, int argc, char **argv)
{
    (void)s;
    (void)argc;
    (void)argv;
    return DOT_QUIT;
}

static int dot_read(struct session *s, int argc, char **argv)
{
    (void)argc;
    return script_read(s, argv[0]);
}

static int dot_help(struct session *s, int argc, char **argv);

/* max_args of a command that takes the rest of its line whole. */
#define REST (-2)

/* The longer manual of the commands that also run as the argument
 * (sqlited-cli .dump > app.sql): what `.help CMD` and `sqlited-cli .CMD
 * --help` print under the usage. */
#define DUMP_MANUAL                                                            \
    "Prints SQL text that rebuilds the database, in the sqlite3 shell's\n"     \
    ".dump format (PRAGMA foreign_keys=OFF; BEGIN TRANSACTION; each table\n"   \
    "and its rows as INSERTs, sqlite_sequence, then the indexes, triggers\n"   \
    "and views; COMMIT;), which both sqlite3 and " PROG " load. With\n"        \
    "TABLE (a LIKE pattern), only the tables it matches, with their\n"         \
    "indexes and triggers.\n"                                                  \
    "\n"                                                                       \
    "Everything is read from one snapshot (a read-only transaction), so\n"     \
    "the dump is consistent however busy the writers are, and it streams\n"    \
    "row by row in constant memory. Values read back exactly. A dump that\n"   \
    "fails or is interrupted (Ctrl-C) part way ends in ROLLBACK; instead\n"    \
    "of COMMIT;, so that loading it applies nothing, and the exit status\n"    \
    "is 1. The daemon ends a snapshot open longer than its\n"                  \
    "--tx-max-duration (60 s) or idle for --tx-idle-timeout (5 s: output\n"    \
    "blocked that long).\n"                                                    \
    "\n"                                                                       \
    "Examples:\n"                                                              \
    "  " PROG " .dump > app.sql\n"                                             \
    "  " PROG " \".dump users\" | sqlite3 copy.db\n"

#define IMPORT_MANUAL                                                          \
    "Loads the CSV file FILE (RFC 4180: quoted fields may hold commas,\n"      \
    "line breaks and doubled quotes; LF or CRLF) into TABLE. A missing\n"      \
    "TABLE is created with TEXT columns named by the first record; into an\n"  \
    "existing one every record is a row (--skip 1 skips a header) and must\n"  \
    "have as many fields as it has columns. Every value goes in as TEXT.\n"    \
    "\n"                                                                       \
    "The rows go through the bulk call in batches of 1,000 rows or 1 MiB,\n"   \
    "all in one transaction: a malformed record or a refused row applies\n"    \
    "nothing, not even the CREATE TABLE, and the error names FILE:LINE.\n"     \
    "Other clients' writes wait while it runs; one longer than the\n"          \
    "daemon's --tx-max-duration (60 s) fails whole. On a terminal a\n"         \
    "progress bar shows the share read, rows, rows/s and the time left;\n"     \
    "Ctrl-C in the shell stops it, applying nothing.\n"                        \
    "\n"                                                                       \
    "Options:\n"                                                               \
    "      --skip N        skip the first N records\n"                         \
    "      --csv           the format (the default and only one)\n"            \
    "\n"                                                                       \
    "Examples:\n"                                                              \
    "  " PROG " \".import users.csv people\"\n"                                \
    "  " PROG " \".import --skip 1 more.csv people\"\n"

/* Every dot-command, in the order .help lists them: its name, how many
 * arguments it takes (max_args -1: any), its usage and one line of help,
 * its function (given the arguments without the name). A command whose
 * max_args is REST is given the rest of its line, as written, as its one
 * argument (SQL, values with quotes); otherwise the arguments are split as
 * sqlite3 splits them (see split_args()). */
static const struct dot_command {
    const char *name;
    int min_args, max_args;
    const char *usage;
    const char *help;
    int (*run)(struct session *s, int argc, char **argv);
    const char *manual; /* more, for .help CMD and --help (or NULL) */
} dot_commands[] = {
    {"dump", 0, 1, ".dump [TABLE]",
     "SQL text that rebuilds the database (or the tables matching TABLE)",
     dump_run, DUMP_MANUAL},
    {"exit", 0, 0, ".exit", "Leave (as .quit)", dot_quit, NULL},
    {"explain", 1, REST, ".explain SQL",
     "Show the query plan of SQL as a tree (it is not run)", dot_explain, NULL},
    {"headers", 1, 1, ".headers on|off",
     "Print the column names above the rows, or not", dot_headers, NULL},
    {"help", 0, 1, ".help [COMMAND]",
     "List the dot-commands, or show how to use COMMAND", dot_help, NULL},
    {"import", 2, 5, ".import [--csv] [--skip N] FILE TABLE",
     "Load the CSV file FILE into TABLE (created if missing)", import_run,
     IMPORT_MANUAL},
    {"indexes", 0, 1, ".indexes [TABLE]",
     "List the indexes (of the tables matching the LIKE pattern)", dot_indexes,
     NULL},
    {"mode", 0, 1, ".mode [list|table|box|csv|json|line|markdown|column]",
     "Set how results are printed (no argument: show the mode)", dot_mode,
     NULL},
    {"nullvalue", 1, 1, ".nullvalue TEXT",
     "Print NULL as TEXT (default: "
     "nothing)",
     dot_nullvalue, NULL},
    {"once", 1, 1, ".once FILE|'|COMMAND'",
     "Send the next command's output to FILE (or to COMMAND)", dot_once, NULL},
    {"output", 0, 1, ".output [FILE|'|COMMAND']",
     "Send output to FILE or COMMAND (no argument: standard output)",
     dot_output, NULL},
    {"pager", 1, 1, ".pager on|off",
     "Page output that does not fit the terminal through $PAGER", dot_pager,
     NULL},
    {"param", 1, REST, ".param set NAME VALUE | unset NAME | list | clear",
     "Manage the values bound to :NAME, @NAME and $NAME in statements",
     dot_param, NULL},
    {"quit", 0, 0, ".quit", "Leave", dot_quit, NULL},
    {"read", 1, 1, ".read FILE",
     "Run the SQL and dot-commands of FILE, statement by statement", dot_read,
     NULL},
    {"schema", 0, 1, ".schema [TABLE]",
     "Show the CREATE statements (of the tables matching the pattern)",
     dot_schema, NULL},
    {"tables", 0, 1, ".tables [PATTERN]",
     "List the tables and views (whose names match the LIKE pattern)",
     dot_tables, NULL},
    {"timer", 1, 1, ".timer on|off", "Print how long each statement took",
     dot_timer, NULL},
    {"width", 0, -1, ".width [N ...]",
     "Column widths for table, box, markdown, column (0 auto, < 0 right)",
     dot_width, NULL},
};

#define NCOMMANDS (sizeof(dot_commands) / sizeof(dot_commands[0]))

static const struct dot_command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(dot_commands[i].name, name) == 0)
            return &dot_commands[i];
    return NULL;
}

/* Prints the usage and help of @c, and its manual if it has one. */
static void print_manual(const struct dot_command *c, FILE *out)
{
    fprintf(out, "%s\n    %s\n", c->usage, c->help);
    if (c->manual)
        fprintf(out, "\n%s", c->manual);
}

int dot_command_help(const char *word, FILE *out)
{
    char name[32];
    size_t n;

    word += *word == '.';
    n = strcspn(word, " \t\r\n");
    if (n >= sizeof(name))
        return -1;
    memcpy(name, word, n);
    name[n] = '\0';
    const struct dot_command *c = find_command(name);
    if (!c)
        return -1;
    fprintf(out,
            "Usage: %s [options] \"%s\"\n       (in the shell and in scripts: "
            "%s)\n\n",
            PROG, c->usage, c->usage);
    /* The manual, or the one line of .help when there is none. */
    if (c->manual)
        fputs(c->manual, out);
    else
        fprintf(out, "%s.\n", c->help);
    return 0;
}

static int dot_help(struct session *s, int argc, char **argv)
{
    const struct dot_command *c;
    int w = 0;

    if (argc == 1) {
        const char *name = argv[0] + (argv[0][0] == '.');
        if (!(c = find_command(name)))
            return dot_fail(s, "help", "no such command", argv[0]);
        print_manual(c, s->pr.out);
        return 0;
    }
    /* One line each: the name and what it does (.help CMD: its usage). */
    for (size_t i = 0; i < NCOMMANDS; i++) {
        int len = (int)strlen(dot_commands[i].name) + 1;
        if (len > w)
            w = len;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        c = &dot_commands[i];
        fprintf(s->pr.out, ".%-*s %s\n", w, c->name, c->help);
    }
    return 0;
}

#define MAX_ARGS 128

/* Splits @buf (a copy of @line) into arguments as sqlite3's shell does:
 * separated by blanks, "double quotes" (with \ escapes) or 'single
 * quotes' around one with blanks in it. @raw[i] points into @line where
 * argument i starts. Returns the count, or -1 with too many. */
static int split_args(char *buf, const char *line, char **argv,
                      const char **raw)
{
    int argc = 0;
    char *p = buf;

    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (!*p)
            return argc;
        if (argc == MAX_ARGS)
            return -1;
        raw[argc] = line + (p - buf);
        char q = (*p == '"' || *p == '\'') ? *p++ : 0;
        char *w = p;
        argv[argc++] = w;
        while (*p &&
               (q ? *p != q
                  : !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))) {
            if (q == '"' && *p == '\\' && p[1]) {
                p++;
                *w++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
                p++;
            } else {
                *w++ = *p++;
            }
        }
        if (*p)
            p++;
        *w = '\0';
    }
}

int dot_run(struct session *s, const char *line)
{
    size_t len = strlen(line);
    char *buf, *argv[MAX_ARGS + 1];
    const char *raw[MAX_ARGS + 1];
    int argc, status;

    if (len == 0 || line[0] != '.') {
        session_report(s, NULL, "a dot-command starts with '.'");
        return EXIT_DAEMON_ERROR;
    }
    if (!(buf = malloc(len))) {
        session_report(s, NULL, "%s", strerror(ENOMEM));
        return EXIT_DAEMON_ERROR;
    }
    /* The line without its leading '.'. */
    memcpy(buf, line + 1, len);
    argc = split_args(buf, line + 1, argv, raw);
    if (argc < 0 && find_command(argv[0]) &&
        find_command(argv[0])->max_args == REST)
        argc = 2; /* it takes its line whole: the words do not count */
    if (argc < 0) {
        status = dot_fail(s, argv[0], "too many arguments", NULL);
    } else if (argc == 0) {
        session_report(s, NULL, "a dot-command needs a name (try .help)");
        status = EXIT_DAEMON_ERROR;
    } else {
        const struct dot_command *c = find_command(argv[0]);
        int n = argc - 1;
        char *rest = NULL;
        if (c && c->max_args == REST && n > 0) {
            /* The rest of the line from its first argument, as written,
             * without the blanks that end it. */
            size_t rlen = strlen(raw[1]);
            rest = buf;
            memmove(rest, raw[1], rlen + 1);
            while (rlen > 0 && strchr(" \t\r\n", rest[rlen - 1]))
                rest[--rlen] = '\0';
            n = 1;
        }
        if (!c) {
            session_report(s, NULL, "unknown command .%s (try .help)", argv[0]);
            status = EXIT_DAEMON_ERROR;
        } else if (n < c->min_args || (c->max_args >= 0 && n > c->max_args)) {
            session_report(s, NULL, "usage: %s", c->usage);
            status = EXIT_DAEMON_ERROR;
        } else {
            status = c->run(s, n, rest ? &rest : argv + 1);
            session_check_tx(s);
        }
    }
    free(buf);
    if (status != DOT_QUIT) {
        int done = output_command_done(&s->pr);
        if (done > status)
            status = done;
    }
    return status;
}

const char *dot_command_name(size_t i)
{
    return i < sizeof(dot_commands) / sizeof(dot_commands[0])
               ? dot_commands[i].name
               : NULL;
}
