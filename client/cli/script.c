/* Scripts run statement by statement: the text is split where
 * sqlite3_complete() says a statement ends, as it is read. */
#include "script.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cli.h"
#include "dot.h"
#include "text.h"

/* Where the scanner of a statement stands: in plain SQL, or inside a
 * quoted string or identifier, or a comment, whose ';' ends nothing. */
enum scan_state {
    SCAN_SQL,
    SCAN_QUOTE, /* '...', "...", `...` or [...]: ends at scan_close */
    SCAN_LINE_COMMENT,
    SCAN_BLOCK_COMMENT,
};

/* A script being run: the text read and not run yet, in buf from pos. */
struct script {
    struct session *s;
    const char *name;
    struct sbuf buf; /* NUL-terminated after len */
    size_t pos;      /* where the text not run yet starts */
    int line;        /* the line at pos, from 1 */
    bool line_start; /* only blanks between the line's start and pos */
    /* The statement starting at pos is scanned up to pos + scanned, where
     * the scanner was in state scan (closing quote scan_close). */
    size_t scanned;
    enum scan_state scan;
    char scan_close;
    int statements; /* run so far */
    int status;
};

/* The nesting of .read. */
static int read_depth;
enum { MAX_READ_DEPTH = 16 };

static int count_lines(const char *p, size_t n)
{
    int lines = 0;

    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    return lines;
}

/* Records the outcome of one statement or dot-command; false when the
 * script stops here. */
static bool outcome(struct script *sc, int status)
{
    struct session *s = sc->s;

    if (status > sc->status)
        sc->status = status;
    /* Nobody reads the output any more (`| head`): the rest is not run,
     * whatever --no-bail says. */
    if (s->quit || s->broken || output_reader_gone())
        return false;
    return status == 0 || !s->bail;
}

/* Runs the statement @sql (NUL-terminated in place) starting at line @line;
 * @last: nothing but blanks follows it in the text. */
static bool run_statement(struct script *sc, const char *sql, int line,
                          bool last)
{
    struct session *s = sc->s;

    /* An empty statement (";") is nothing to run, as in sqlite3. */
    if (*sql_skip_blank(sql) == ';')
        return true;
    s->src = (struct session_source){
        .file = sc->name,
        .line = line,
        /* The SQL argument of one statement is reported as before, without
         * quoting it back. */
        .show_sql = sc->name || sc->statements > 0 || !last,
    };
    sc->statements++;
    return outcome(sc, session_send(s, sql));
}

static bool run_dot(struct script *sc, char *line, int lineno)
{
    struct session *s = sc->s;
    size_t n = strlen(line);

    while (n > 0 && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    if (!outcome(sc, session_sync(s)))
        return false;
    if (s->echo) {
        fprintf(s->pr.out, "%s\n", line);
        fflush(s->pr.out);
    }
    s->src = (struct session_source){.file = sc->name, .line = lineno};
    int status = session_atomic_begin(s);
    if (status == 0)
        status = dot_run(s, line);
    if (status == DOT_QUIT) {
        s->quit = true;
        status = 0;
    }
    return outcome(sc, status);
}

/* Finds where the statement starting at pos ends: the offset just past the
 * ';' that completes it, or 0 when the text read so far does not hold its
 * end. Resumes where the last call stopped. */
static size_t statement_end(struct script *sc)
{
    char *p = sc->buf.p + sc->pos;
    size_t n = sc->buf.len - sc->pos;
    size_t i = sc->scanned;

    for (; i < n; i++) {
        char c = p[i];
        switch (sc->scan) {
        case SCAN_QUOTE:
            if (c == sc->scan_close)
                sc->scan = SCAN_SQL;
            continue;
        case SCAN_LINE_COMMENT:
            if (c == '\n')
                sc->scan = SCAN_SQL;
            continue;
        case SCAN_BLOCK_COMMENT:
            if (c == '*' && i + 1 < n && p[i + 1] == '/') {
                sc->scan = SCAN_SQL;
                i++;
            } else if (c == '*' && i + 1 == n) {
                goto more; /* the '/' may come with the next read */
            }
            continue;
        case SCAN_SQL:
            break;
        }
        if (c == '\'' || c == '"' || c == '`' || c == '[') {
            sc->scan = SCAN_QUOTE;
            sc->scan_close = c == '[' ? ']' : c;
        } else if ((c == '-' || c == '/') && i + 1 == n) {
            goto more; /* a comment may start with the next read */
        } else if (c == '-' && p[i + 1] == '-') {
            sc->scan = SCAN_LINE_COMMENT;
            i++;
        } else if (c == '/' && p[i + 1] == '*') {
            sc->scan = SCAN_BLOCK_COMMENT;
            i++;
        } else if (c == ';') {
            /* A trigger's body holds ';' that end nothing: sqlite3_complete()
             * knows. */
            char keep = p[i + 1];
            p[i + 1] = '\0';
            int complete = sqlite3_complete(p);
            p[i + 1] = keep;
            if (complete) {
                sc->scanned = 0;
                sc->scan = SCAN_SQL;
                return i + 1;
            }
        }
    }
more:
    sc->scanned = i;
    return 0;
}

/* Skips blanks and comments at pos. Returns false when the text read so far
 * ends inside a comment that may go on (not at @eof): pos then stays at its
 * start. */
static bool skip_blanks(struct script *sc, bool eof)
{
    const char *p = sc->buf.p;
    size_t i = sc->pos, n = sc->buf.len;

    for (;;) {
        while (i < n && isspace((unsigned char)p[i])) {
            if (p[i] == '\n') {
                sc->line++;
                sc->line_start = true;
            }
            i++;
        }
        sc->pos = i;
        if (i + 1 >= n && !eof && i < n && (p[i] == '-' || p[i] == '/'))
            return false; /* maybe the start of a comment */
        if (i + 1 < n && p[i] == '-' && p[i + 1] == '-') {
            const char *nl = memchr(p + i, '\n', n - i);
            if (!nl && !eof)
                return false;
            i = nl ? (size_t)(nl - p) : n; /* the newline is white space */
        } else if (i + 1 < n && p[i] == '/' && p[i + 1] == '*') {
            const char *end = strstr(p + i + 2, "*/");
            if (!end && !eof)
                return false;
            size_t to = end ? (size_t)(end - p) + 2 : n;
            sc->line += count_lines(p + i, to - i);
            sc->line_start = false;
            i = to;
        } else {
            return true;
        }
    }
}

/* Runs every statement and dot-command the text read so far completes (all
 * of it at @eof). Returns false when the script stops. */
static bool run_ready(struct script *sc, bool eof)
{
    for (;;) {
        if (!skip_blanks(sc, eof))
            break;
        char *p = sc->buf.p + sc->pos;
        size_t n = sc->buf.len - sc->pos;
        if (n == 0)
            break;
        if (*p == '.' && sc->line_start) {
            char *nl = memchr(p, '\n', n);
            if (!nl && !eof)
                break;
            size_t len = nl ? (size_t)(nl - p) : n;
            char keep = p[len];
            p[len] = '\0';
            bool go_on = run_dot(sc, p, sc->line);
            p[len] = keep;
            sc->pos += len;
            if (!go_on)
                return false;
            continue;
        }
        size_t end = statement_end(sc);
        if (end == 0 && !eof)
            break;
        if (end == 0) { /* the last statement, without its ';' */
            end = n;
            sc->scanned = 0;
            sc->scan = SCAN_SQL;
        }
        int line = sc->line;
        bool last = eof && *sql_skip_blank(p + end) == '\0';
        sc->line += count_lines(p, end);
        sc->line_start = false;
        sc->pos += end;
        char keep = p[end];
        p[end] = '\0';
        bool go_on = run_statement(sc, p, line, last);
        p[end] = keep;
        if (!go_on)
            return false;
    }
    /* Keep only what is not run yet. */
    memmove(sc->buf.p, sc->buf.p + sc->pos, sc->buf.len - sc->pos + 1);
    sc->buf.len -= sc->pos;
    sc->pos = 0;
    return true;
}

/* Appends @n bytes of text; false (with the status set) when they cannot
 * be taken. */
static bool add_text(struct script *sc, const char *text, size_t n)
{
    if (memchr(text, '\0', n)) {
        fprintf(stderr, "%s: %s: the SQL holds a NUL byte\n", PROG,
                sc->name ? sc->name : "<stdin>");
        sc->status = EXIT_USAGE;
        return false;
    }
    sbuf_add(&sc->buf, text, n);
    sbuf_add(&sc->buf, "", 1);
    if (sc->buf.oom) {
        fprintf(stderr, "%s: %s\n", PROG, strerror(ENOMEM));
        sc->status = EXIT_DAEMON_ERROR;
        return false;
    }
    sc->buf.len--; /* the NUL stays after the text */
    return true;
}

static void script_init(struct script *sc, struct session *s, const char *name)
{
    *sc = (struct script){.s = s, .name = name, .line = 1, .line_start = true};
}

int script_run_stream(struct session *s, FILE *in, const char *name)
{
    struct script sc;
    char chunk[65536];
    size_t n;

    script_init(&sc, s, name);
    while ((n = fread(chunk, 1, sizeof(chunk), in)) > 0)
        if (!add_text(&sc, chunk, n) || !run_ready(&sc, false))
            goto out;
    if (ferror(in)) {
        fprintf(stderr, "%s: cannot read %s: %s\n", PROG,
                name ? name : "<stdin>", strerror(errno));
        sc.status = EXIT_USAGE;
        goto out;
    }
    if (add_text(&sc, "", 0))
        run_ready(&sc, true);
out:
    outcome(&sc, session_sync(s));
    free(sc.buf.p);
    return sc.status;
}

int script_run_text(struct session *s, const char *text, const char *name)
{
    struct script sc;

    script_init(&sc, s, name);
    if (add_text(&sc, text, strlen(text)))
        run_ready(&sc, true);
    outcome(&sc, session_sync(s));
    free(sc.buf.p);
    return sc.status;
}

int script_open(const char *path, FILE **in)
{
    if (strcmp(path, "-") == 0) {
        *in = stdin;
        return 0;
    }
    *in = fopen(path, "r");
    if (*in)
        return 0;
    fprintf(stderr, "%s: cannot open %s: %s\n", PROG, path, strerror(errno));
    return EXIT_USAGE;
}

int script_read(struct session *s, const char *path)
{
    FILE *in;
    struct session_source src = s->src;
    int status;

    if (read_depth == MAX_READ_DEPTH) {
        session_report(s, NULL, ".read %s: nested more than %d deep", path,
                       MAX_READ_DEPTH);
        return EXIT_DAEMON_ERROR;
    }
    if (strcmp(path, "-") == 0) {
        in = stdin;
    } else if ((in = fopen(path, "r")) == NULL) {
        session_report(s, NULL, ".read: cannot open %s: %s", path,
                       strerror(errno));
        return EXIT_DAEMON_ERROR;
    }
    read_depth++;
    status = script_run_stream(s, in, in == stdin ? "<stdin>" : path);
    read_depth--;
    if (in != stdin)
        fclose(in);
    s->src = src;
    return status;
}

int script_main(struct session *s, FILE *in, const char *text, const char *name)
{
    bool atomic = s->atomic;
    int status;

    s->src = (struct session_source){.file = name};
    s->atomic_pending = atomic;
    status =
        in ? script_run_stream(s, in, name) : script_run_text(s, text, name);
    s->src = (struct session_source){.file = name};
    if (atomic) {
        bool begun = !s->atomic_pending;
        s->atomic = s->atomic_pending = false;
        if (s->broken || !begun)
            return status;
        if (status == 0)
            return session_run(s, "COMMIT");
        if (session_tx_state(s) != SESSION_TX_NONE)
            session_run(s, "ROLLBACK");
        fprintf(stderr,
                "%s: --atomic: rolled back the whole script, nothing of it "
                "was applied\n",
                PROG);
        return status;
    }
    int end = session_finish(s);
    return status > end ? status : end;
}
