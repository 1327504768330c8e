/* Printing a result in the output modes of the sqlite3 shell: list, csv,
 * json and line row by row; table, box, markdown and column laid out in
 * measured columns, a cell with several lines spanning several lines of
 * its row (as sqlite3 3.40 does). On a terminal, output that does not fit
 * goes through a pager; .output and .once send it to a file instead. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"
#include "text.h"

static const struct {
    const char *name;
    enum mode mode;
} modes[] = {
    {"list", MODE_LIST},         {"table", MODE_TABLE},   {"box", MODE_BOX},
    {"csv", MODE_CSV},           {"json", MODE_JSON},     {"line", MODE_LINE},
    {"markdown", MODE_MARKDOWN}, {"column", MODE_COLUMN},
};

const char mode_names[] = "list, table, box, csv, json, line, markdown, column";

bool mode_parse(const char *name, enum mode *mode)
{
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        if (strcmp(name, modes[i].name) == 0) {
            *mode = modes[i].mode;
            return true;
        }
    }
    return false;
}

const char *mode_name(enum mode mode)
{
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (modes[i].mode == mode)
            return modes[i].name;
    return "?";
}

bool mode_default_header(enum mode mode)
{
    return mode != MODE_LIST && mode != MODE_JSON && mode != MODE_LINE;
}

/* Whether @pr prints the column names: table, box and markdown always do,
 * as in sqlite3, whose .headers off leaves them alone. */
static bool shows_header(const struct printer *pr)
{
    return pr->header || pr->mode == MODE_TABLE || pr->mode == MODE_BOX ||
           pr->mode == MODE_MARKDOWN;
}

void printer_set_mode(struct printer *pr, enum mode mode)
{
    pr->mode = mode;
    if (!pr->header_set)
        pr->header = mode_default_header(mode);
}

int printer_set_nullvalue(struct printer *pr, const char *text)
{
    char *copy = strdup(text);

    if (!copy)
        return -ENOMEM;
    free(pr->nullvalue);
    pr->nullvalue = copy;
    return 0;
}

int printer_set_widths(struct printer *pr, const int *w, int n)
{
    int *copy = NULL;

    if (n > 0) {
        if (!(copy = malloc((size_t)n * sizeof(*copy))))
            return -ENOMEM;
        memcpy(copy, w, (size_t)n * sizeof(*copy));
    }
    free(pr->width);
    pr->width = copy;
    pr->nwidth = n;
    return 0;
}

/* errno of the first failed write to an output, kept for the message:
 * later stdio calls may change errno before it is reported. */
static int out_errno;

/* Standard output's reader went away (a write failed with EPIPE). */
static bool stdout_gone;

/* Whether @out, which failed, is a pipe or a socket whose reader has gone:
 * the write failed with EPIPE. errno may have changed since (a close, a
 * call to the daemon), so the descriptor is asked too: the write end of a
 * pipe with no reader polls POLLERR, a socket whose peer closed POLLHUP. */
static bool reader_gone(FILE *out, int err)
{
    int fd = fileno(out);
    struct stat st;
    struct pollfd p = {.fd = fd, .events = POLLOUT};

    if (fd < 0 || fstat(fd, &st) != 0 ||
        !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return false;
    if (err == EPIPE)
        return true;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

bool out_failed(FILE *out)
{
    int err = errno;

    if (!ferror(out))
        return false;
    if (!out_errno)
        out_errno = err ? err : EIO;
    if (out == stdout && !stdout_gone && reader_gone(out, err))
        stdout_gone = true;
    return true;
}

bool output_reader_gone(void)
{
    return stdout_gone;
}

/* ------------------------------------------------------------- the pager */

/* Output on its way to standard output, on a terminal: it is held (at most
 * a screenful) until it is known not to fit the terminal, then goes
 * through the pager; if the result ends first, it goes out as it is. */
struct gate {
    FILE *mem; /* open_memstream over buf while holding */
    char *buf;
    size_t size;
    size_t scanned; /* bytes of buf measured so far */
    size_t lines;   /* complete lines among them */
    size_t col;     /* width of the line being measured */
    size_t rows, cols;
    FILE *pipe; /* to the pager, once started */
};

/* Where a result is being written. */
struct sink {
    FILE *out;
    struct gate *gate; /* NULL when not deciding whether to page */
    bool quit;         /* the pager was quit before the end */
};

const char *output_pager(void)
{
    const char *cmd = getenv("SQLITED_PAGER");

    if (!cmd)
        cmd = getenv("PAGER");
    if (cmd)
        return *cmd ? cmd : NULL;
    /* less, when installed: -S chops long lines (scroll sideways rather
     * than wrap a wide table), -R passes colours, -X leaves the last
     * screen on the terminal. */
    const char *path = getenv("PATH");
    char file[4096];
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(file, sizeof(file), "%.*s/less", (int)n, path);
        if (access(file, X_OK) == 0) {
            setenv("LESS", "-SRX", 0);
            return "less";
        }
        path += n + (path[n] == ':');
    }
    return NULL;
}

/* Starts holding the output for @pr if it may go through the pager:
 * standard output is a terminal of known size and paging is on. */
static bool gate_open(const struct printer *pr, struct gate *g)
{
    struct winsize ws;

    *g = (struct gate){0};
    if (pr->no_pager || pr->out != stdout || !isatty(STDOUT_FILENO) ||
        ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 ||
        ws.ws_col == 0 || !output_pager())
        return false;
    g->rows = ws.ws_row;
    g->cols = ws.ws_col;
    g->mem = open_memstream(&g->buf, &g->size);
    return g->mem != NULL;
}

/* Sends what is held to @to and stops holding. */
static void gate_release(struct gate *g, FILE *to)
{
    fflush(g->mem);
    fwrite(g->buf, 1, g->size, to);
    fclose(g->mem);
    free(g->buf);
    g->mem = NULL;
    g->buf = NULL;
}

/* After each row: once what is held does not fit the terminal (a line
 * wider than it, or more lines than it has rows less the prompt's), the
 * pager starts with it and takes the rest. */
static void gate_check(struct sink *k)
{
    struct gate *g = k->gate;
    bool page = false;

    if (!g || !g->mem)
        return;
    fflush(g->mem);
    for (; g->scanned < g->size && !page; g->scanned++) {
        unsigned char c = (unsigned char)g->buf[g->scanned];
        if (c == '\n') {
            g->lines++;
            g->col = 0;
        } else if ((c & 0xC0) != 0x80) {
            g->col++;
        }
        page = g->col > g->cols || g->lines >= g->rows;
    }
    if (!page)
        return;
    fflush(stdout);
    g->pipe = popen(output_pager(), "w");
    gate_release(g, g->pipe ? g->pipe : stdout);
    k->out = g->pipe ? g->pipe : stdout;
    if (!g->pipe)
        k->gate = NULL;
}

/* Whether writing must stop: the output failed, or the user quit the
 * pager (which is no error). */
static bool sink_failed(struct sink *k)
{
    if (k->gate && k->gate->pipe && k->out == k->gate->pipe) {
        if (ferror(k->out))
            k->quit = true;
        return k->quit;
    }
    return out_failed(k->out);
}

/* Ends the output of one result: what is still held goes to standard
 * output; a pager is waited for (the user reads, then quits it). */
static void gate_close(struct sink *k)
{
    struct gate *g = k->gate;

    if (!g)
        return;
    if (g->mem)
        gate_release(g, stdout);
    if (g->pipe) {
        int st = pclose(g->pipe);
        if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 127)
            fprintf(stderr,
                    "%s: the pager '%s' could not be run (set PAGER, or "
                    ".pager off)\n",
                    PROG, output_pager());
    }
}

/* Whether Ctrl-C in the shell asks to stop printing. */
static bool stop_asked(const struct printer *pr)
{
    return pr->interrupted && *pr->interrupted;
}

/* ---------------------------------------------------------------- values */

/* Appends the text form of column @i (list, line, csv and the columnar
 * modes): NULL as .nullvalue, a REAL as sqlite3 shows it (15 digits), a
 * BLOB as X'0A1B'. */
static void add_value(struct sbuf *b, const struct printer *pr,
                      const sqlited_rows *rows, int i)
{
    char num[64];

    switch (sqlited_column_type(rows, i)) {
    case SQLITED_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, sqlited_column_int64(rows, i));
        sbuf_adds(b, num);
        break;
    case SQLITED_FLOAT:
        format_real_shell(sqlited_column_double(rows, i), num, sizeof(num));
        sbuf_adds(b, num);
        break;
    case SQLITED_TEXT:
        sbuf_add(b, sqlited_column_blob(rows, i),
                 sqlited_column_bytes(rows, i));
        break;
    case SQLITED_BLOB:
        sbuf_add(b, "X'", 2);
        add_hex(b, sqlited_column_blob(rows, i), sqlited_column_bytes(rows, i));
        sbuf_add(b, "'", 1);
        break;
    default:
        if (pr->nullvalue)
            sbuf_adds(b, pr->nullvalue);
        break;
    }
}

static void add_json_value(struct sbuf *b, const sqlited_rows *rows, int i)
{
    char num[64];
    double d;

    switch (sqlited_column_type(rows, i)) {
    case SQLITED_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, sqlited_column_int64(rows, i));
        sbuf_adds(b, num);
        break;
    case SQLITED_FLOAT:
        d = sqlited_column_double(rows, i);
        if (d != d || d - d != 0) { /* NaN or infinite: JSON has neither */
            sbuf_adds(b, "null");
            break;
        }
        format_real(d, num, sizeof(num));
        sbuf_adds(b, num);
        break;
    case SQLITED_TEXT:
        add_json_string(b, sqlited_column_blob(rows, i),
                        sqlited_column_bytes(rows, i));
        break;
    case SQLITED_BLOB:
        sbuf_add(b, "\"", 1);
        add_hex(b, sqlited_column_blob(rows, i), sqlited_column_bytes(rows, i));
        sbuf_add(b, "\"", 1);
        break;
    default:
        sbuf_adds(b, "null");
        break;
    }
}

static void emit(struct sink *k, const struct sbuf *b)
{
    fwrite(b->p ? b->p : "", 1, b->len, k->out);
}

/* ------------------------------------------------------ row by row modes */

/* Prints every row in list, csv, json or line mode. Returns SQLITED_DONE,
 * the failure of sqlited_rows_next(), or -ENOMEM. */
static int print_stream(const struct printer *pr, struct sink *k,
                        sqlited_rows *rows)
{
    int ncols = sqlited_rows_column_count(rows);
    struct sbuf b = {0}, v = {0};
    int line_width = 5; /* the sqlite3 shell's minimum in .mode line */
    uint64_t n = 0;
    int rc;

    for (int i = 0; i < ncols; i++) {
        size_t len = strlen(sqlited_rows_column_name(rows, i));
        if (len > (size_t)line_width)
            line_width = len > INT_MAX ? INT_MAX : (int)len;
    }

    while ((rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        b.len = 0;
        if (n == 0 && pr->header &&
            (pr->mode == MODE_LIST || pr->mode == MODE_CSV)) {
            for (int i = 0; i < ncols; i++) {
                const char *name = sqlited_rows_column_name(rows, i);
                if (i > 0)
                    sbuf_add(&b, pr->mode == MODE_CSV ? "," : "|", 1);
                if (pr->mode == MODE_CSV)
                    add_csv_field(&b, name, strlen(name));
                else
                    sbuf_adds(&b, name);
            }
            sbuf_adds(&b, pr->mode == MODE_CSV ? "\r\n" : "\n");
        }
        switch (pr->mode) {
        case MODE_LIST:
            for (int i = 0; i < ncols; i++) {
                if (i > 0)
                    sbuf_add(&b, "|", 1);
                add_value(&b, pr, rows, i);
            }
            sbuf_add(&b, "\n", 1);
            break;
        case MODE_CSV:
            for (int i = 0; i < ncols; i++) {
                if (i > 0)
                    sbuf_add(&b, ",", 1);
                v.len = 0;
                add_value(&v, pr, rows, i);
                if (v.oom)
                    b.oom = true;
                add_csv_field(&b, v.p, v.len);
            }
            sbuf_add(&b, "\r\n", 2);
            break;
        case MODE_JSON:
            sbuf_adds(&b, n == 0 ? "[{" : ",\n{");
            for (int i = 0; i < ncols; i++) {
                const char *name = sqlited_rows_column_name(rows, i);
                if (i > 0)
                    sbuf_add(&b, ",", 1);
                add_json_string(&b, name, strlen(name));
                sbuf_add(&b, ":", 1);
                add_json_value(&b, rows, i);
            }
            sbuf_add(&b, "}", 1);
            break;
        default: /* MODE_LINE */
            if (n > 0)
                sbuf_add(&b, "\n", 1);
            for (int i = 0; i < ncols; i++) {
                const char *name = sqlited_rows_column_name(rows, i);
                size_t len = strlen(name);
                for (size_t j = len; j < (size_t)line_width; j++)
                    sbuf_add(&b, " ", 1);
                sbuf_add(&b, name, len);
                sbuf_add(&b, " = ", 3);
                add_value(&b, pr, rows, i);
                sbuf_add(&b, "\n", 1);
            }
            break;
        }
        if (b.oom) {
            rc = -ENOMEM;
            break;
        }
        emit(k, &b);
        n++;
        gate_check(k);
        if (sink_failed(k))
            break;
        if (stop_asked(pr)) {
            rc = SQLITED_INTERRUPTED;
            break;
        }
    }
    /* A JSON row ends its line only when the next begins; one cut short
     * (Ctrl-C, an error) ends it here, before the message follows. */
    if (pr->mode == MODE_JSON && n > 0)
        fputs(rc == SQLITED_DONE ? "]\n" : "\n", k->out);
    free(b.p);
    free(v.p);
    return rc;
}

/* -------------------------------------------------------- columnar modes */

/* How many rows, and bytes of their text, the columnar modes hold to
 * measure the columns before printing them; later rows are measured and
 * printed as many at a time. */
#define GRID_ROWS 10000
#define GRID_BYTES ((size_t)16 << 20)

/* The rows of a table being laid out. */
struct grid {
    enum mode mode;
    int ncols;
    size_t *width;  /* each column's width in characters */
    size_t *wrap;   /* where its text wraps onto the next line; 0: never */
    bool *right;    /* right-aligned (.width negative) */
    bool multiline; /* a row spans several lines: rows are set apart */
    bool started;   /* the top (and the header) is printed */
    bool any_row;
    struct sbuf cells; /* the held rows' cells, row after row */
    size_t *off;       /* where each cell starts; one more: where it ends */
    size_t noff, capoff;
    const char **pos; /* print_cells(): where each cell's next line is */
    bool *more;       /* and whether it has one */
    struct sbuf text; /* print_cells(): the line of a cell being printed */
};

/* The next line of a cell's text [*@s, @e) as it is displayed, appended
 * to @out (NULL: only measured): up to a line break (any control
 * character but TAB ends a line, CR LF counting as one), at most @wrap
 * characters (0: no limit), tabs expanded to every 8th column. Returns its
 * width; moves *@s to the next line, and clears *@more after the last. An
 * empty cell is one empty line; a final line break adds none. */
static size_t cell_line(const char **s, const char *e, size_t wrap,
                        struct sbuf *out, bool *more)
{
    const char *p = *s;
    size_t w = 0, max = wrap ? wrap : SIZE_MAX;

    while (p < e && w < max) {
        unsigned char c = (unsigned char)*p;
        if (c == '\t') {
            do {
                if (out)
                    sbuf_add(out, " ", 1);
                w++;
            } while ((w & 7) != 0 && w < max);
            p++;
            continue;
        }
        if (c < 0x20)
            break;
        const char *q = p + 1;
        while (q < e && ((unsigned char)*q & 0xC0) == 0x80)
            q++;
        if (out)
            sbuf_add(out, p, (size_t)(q - p));
        w++;
        p = q;
    }
    if (p < e && w >= max && (unsigned char)*p >= 0x20) {
        *s = p; /* wrapped: the rest goes on the next line */
    } else if (p < e) {
        p += (*p == '\r' && p + 1 < e && p[1] == '\n') ? 2 : 1;
        *s = p;
    } else {
        *s = p;
    }
    *more = *s < e;
    return w;
}

static void put_n(FILE *out, const char *s, size_t n)
{
    while (n-- > 0)
        fputs(s, out);
}

/* A horizontal rule: @left, each column's width + 2 of @fill, @mid
 * between columns, @right. */
static void rule(FILE *out, const struct grid *g, const char *left,
                 const char *fill, const char *mid, const char *right)
{
    fputs(left, out);
    for (int i = 0; i < g->ncols; i++) {
        put_n(out, fill, g->width[i] + 2);
        fputs(i == g->ncols - 1 ? right : mid, out);
    }
    putc('\n', out);
}

/* The rule between rows (and under the header) of table and box. */
static void rule_between(FILE *out, const struct grid *g)
{
    if (g->mode == MODE_BOX)
        rule(out, g, "\u251C", "\u2500", "\u253C", "\u2524");
    else
        rule(out, g, "+", "-", "+", "+");
}

static const char *col_sep(const struct grid *g)
{
    return g->mode == MODE_BOX      ? " \u2502 "
           : g->mode == MODE_COLUMN ? "  "
                                    : " | ";
}

/* Prints one row of cells (@cell[i], @len[i] bytes each), as many lines
 * as its tallest cell needs; @header centres the names (but in column
 * mode) and shows only their first line, as sqlite3 does. */
static void print_cells(FILE *out, struct grid *g, const char *const *cell,
                        const size_t *len, bool header)
{
    const char **pos = g->pos;
    bool *more = g->more;
    bool any;

    for (int i = 0; i < g->ncols; i++) {
        pos[i] = cell[i];
        more[i] = true;
    }
    do {
        any = false;
        if (g->mode != MODE_COLUMN)
            fputs(g->mode == MODE_BOX ? "\u2502 " : "| ", out);
        for (int i = 0; i < g->ncols; i++) {
            struct sbuf *text = &g->text;
            size_t w = 0;
            text->len = 0;
            if (more[i])
                w = cell_line(&pos[i], cell[i] + len[i], g->wrap[i], text,
                              &more[i]);
            if (header)
                more[i] = false;
            any = any || more[i];
            size_t padding = g->width[i] > w ? g->width[i] - w : 0;
            size_t before = 0;
            if (header && g->mode != MODE_COLUMN)
                before = padding / 2;
            else if (g->right[i])
                before = padding;
            put_n(out, " ", before);
            fwrite(text->p ? text->p : "", 1, text->len, out);
            put_n(out, " ", padding - before);
            if (i < g->ncols - 1)
                fputs(col_sep(g), out);
        }
        fputs(g->mode == MODE_BOX      ? " \u2502\n"
              : g->mode == MODE_COLUMN ? "\n"
                                       : " |\n",
              out);
    } while (any);
}

/* Measures cell @s (@n bytes): its widest line, and whether it has
 * several. */
static size_t measure(const struct grid *g, int i, const char *s, size_t n,
                      bool *several)
{
    const char *e = s + n;
    size_t max = 0;
    bool more = true;
    int lines = 0;

    while (more) {
        size_t w = cell_line(&s, e, g->wrap[i], NULL, &more);
        if (w > max)
            max = w;
        lines++;
    }
    *several = lines > 1;
    return max;
}

/* Prints the top of the table and its header. */
static void print_top(FILE *out, struct grid *g, const struct printer *pr,
                      sqlited_rows *rows)
{
    const char *name[g->ncols > 0 ? g->ncols : 1];
    size_t len[g->ncols > 0 ? g->ncols : 1];

    for (int i = 0; i < g->ncols; i++) {
        name[i] = sqlited_rows_column_name(rows, i);
        len[i] = strlen(name[i]);
    }
    if (g->mode == MODE_TABLE)
        rule(out, g, "+", "-", "+", "+");
    else if (g->mode == MODE_BOX)
        rule(out, g, "\u250C", "\u2500", "\u252C", "\u2510");
    if (!shows_header(pr))
        return;
    print_cells(out, g, name, len, true);
    if (g->mode == MODE_TABLE || g->mode == MODE_BOX) {
        rule_between(out, g);
    } else if (g->mode == MODE_MARKDOWN) {
        rule(out, g, "|", "-", "|", "|");
    } else {
        for (int i = 0; i < g->ncols; i++) {
            put_n(out, "-", g->width[i]);
            fputs(i == g->ncols - 1 ? "\n" : "  ", out);
        }
    }
}

/* Lays out the held rows: the first time, measures the columns and prints
 * the top. Later rows that need a wider column widen it from there on (the
 * rows above stay as they were printed); in table and box a rule in the
 * new widths marks where. */
static void grid_flush(struct grid *g, const struct printer *pr, struct sink *k,
                       sqlited_rows *rows)
{
    size_t nrows = g->noff / (size_t)g->ncols;
    const char *cell[g->ncols];
    size_t len[g->ncols];
    bool wider = false, ruled = false;

    if (nrows == 0)
        return;
    g->off[g->noff] = g->cells.len;
    for (size_t c = 0; c < g->noff; c++) {
        int i = (int)(c % (size_t)g->ncols);
        bool several;
        size_t w = measure(g, i, g->cells.p + g->off[c],
                           g->off[c + 1] - g->off[c], &several);
        if (w > g->width[i]) {
            g->width[i] = w;
            wider = true;
        }
        g->multiline = g->multiline || several;
    }
    if (!g->started) {
        print_top(k->out, g, pr, rows);
        g->started = true;
    } else if (wider && (g->mode == MODE_TABLE || g->mode == MODE_BOX)) {
        rule_between(k->out, g);
        ruled = true;
    }
    for (size_t r = 0; r < nrows && !sink_failed(k) && !stop_asked(pr); r++) {
        if (g->any_row && g->multiline && !(r == 0 && ruled)) {
            if (g->mode == MODE_TABLE || g->mode == MODE_BOX)
                rule_between(k->out, g);
            else if (g->mode == MODE_COLUMN)
                putc('\n', k->out);
        }
        for (int i = 0; i < g->ncols; i++) {
            size_t c = r * (size_t)g->ncols + (size_t)i;
            cell[i] = g->cells.p + g->off[c];
            len[i] = g->off[c + 1] - g->off[c];
        }
        print_cells(k->out, g, cell, len, false);
        g->any_row = true;
        gate_check(k);
    }
    g->noff = 0;
    g->cells.len = 0;
}

/* Prints every row in table, box, markdown or column mode. */
static int print_grid(const struct printer *pr, struct sink *k,
                      sqlited_rows *rows)
{
    struct grid g = {.mode = pr->mode};
    int rc = SQLITED_DONE;

    g.ncols = sqlited_rows_column_count(rows);
    if (g.ncols <= 0)
        return SQLITED_DONE;
    size_t n = (size_t)g.ncols;
    g.width = calloc(n, sizeof(*g.width));
    g.wrap = calloc(n, sizeof(*g.wrap));
    g.right = calloc(n, sizeof(*g.right));
    g.pos = calloc(n, sizeof(*g.pos));
    g.more = calloc(n, sizeof(*g.more));
    /* Cells are pointers into g.cells: give it memory even when they are
     * all empty. */
    sbuf_add(&g.cells, "", 1);
    g.cells.len = 0;
    if (!g.width || !g.wrap || !g.right || !g.pos || !g.more || g.cells.oom) {
        rc = -ENOMEM;
        goto out;
    }
    for (int i = 0; i < g.ncols; i++) {
        int w = i < pr->nwidth ? pr->width[i] : 0;
        const char *name = sqlited_rows_column_name(rows, i);
        g.right[i] = w < 0;
        g.wrap[i] = w < 0 ? (size_t) - (long long)w : (size_t)w;
        g.width[i] = g.wrap[i];
        if (shows_header(pr)) {
            /* The first line of the name is what shows. */
            const char *s = name;
            bool more;
            size_t nw =
                cell_line(&s, name + strlen(name), g.wrap[i], NULL, &more);
            if (nw > g.width[i])
                g.width[i] = nw;
        }
    }
    for (;;) {
        rc = sqlited_rows_next(rows);
        if (rc != SQLITED_ROW)
            break;
        for (int i = 0; i < g.ncols; i++) {
            if (g.noff + 2 > g.capoff) {
                size_t cap = g.capoff ? g.capoff * 2 : 64;
                size_t *p = realloc(g.off, cap * sizeof(*g.off));
                if (!p) {
                    rc = -ENOMEM;
                    goto out;
                }
                g.off = p;
                g.capoff = cap;
            }
            g.off[g.noff++] = g.cells.len;
            add_value(&g.cells, pr, rows, i);
        }
        if (g.cells.oom) {
            rc = -ENOMEM;
            goto out;
        }
        if (stop_asked(pr)) {
            rc = SQLITED_INTERRUPTED;
            break;
        }
        if (g.noff / n >= GRID_ROWS || g.cells.len >= GRID_BYTES) {
            grid_flush(&g, pr, k, rows);
            if (sink_failed(k))
                goto out;
        }
    }
    /* Stopped by Ctrl-C, the rows held are shown, and the table closed. */
    if (rc != SQLITED_DONE && rc != SQLITED_INTERRUPTED)
        goto out;
    grid_flush(&g, pr, k, rows);
    if (g.started) {
        if (g.mode == MODE_TABLE)
            rule(k->out, &g, "+", "-", "+", "+");
        else if (g.mode == MODE_BOX)
            rule(k->out, &g, "\u2514", "\u2500", "\u2534", "\u2518");
    }

out:
    free(g.width);
    free(g.wrap);
    free(g.right);
    free(g.off);
    free(g.cells.p);
    free(g.pos);
    free(g.more);
    free(g.text.p);
    return rc;
}

int print_rows(struct printer *pr, sqlited_rows *rows)
{
    struct gate g;
    struct sink k = {.out = pr->out};
    int rc;

    if (gate_open(pr, &g)) {
        k.gate = &g;
        k.out = g.mem;
    }
    if (pr->mode == MODE_TABLE || pr->mode == MODE_BOX ||
        pr->mode == MODE_MARKDOWN || pr->mode == MODE_COLUMN)
        rc = print_grid(pr, &k, rows);
    else
        rc = print_stream(pr, &k, rows);
    gate_close(&k);
    /* A result cut short is followed by a message on standard error: all
     * of its text goes out first, not after it (a terminal's standard
     * output holds back a line until it ends). */
    if (rc != SQLITED_DONE)
        fflush(pr->out);
    return k.quit ? SQLITED_DONE : rc;
}

/* ------------------------------------------------------ .output and .once */

int output_error(struct printer *pr)
{
    if (pr->out == stdout)
        return EXIT_DAEMON_ERROR;
    /* A command that took what it wanted and left (.once '|head -2'):
     * the result ends there, which is no error; output_restore() tells
     * whether the command itself failed. */
    if (pr->out_pipe && reader_gone(pr->out, out_errno))
        return 0;
    fprintf(stderr, "%s: cannot write to %s: %s\n", PROG, pr->out_name,
            strerror(out_errno ? out_errno : EIO));
    return EXIT_DAEMON_ERROR;
}

int output_restore(struct printer *pr)
{
    int status = 0;

    pr->once = 0;
    if (pr->out == stdout)
        return 0;
    errno = 0;
    bool failed = out_failed(pr->out);
    if (failed && pr->out_pipe && reader_gone(pr->out, out_errno))
        failed = false; /* its reader left: as output_error() says */
    if (pr->out_pipe) {
        int st = pclose(pr->out);
        if (!failed && st != 0) {
            fprintf(stderr, "%s: %s exited with status %d\n", PROG,
                    pr->out_name + 1,
                    st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : st);
            status = EXIT_DAEMON_ERROR;
        }
    } else if (fclose(pr->out) != 0 && !failed) {
        out_errno = errno ? errno : EIO;
        failed = true;
    }
    if (failed) {
        fprintf(stderr, "%s: cannot write to %s: %s\n", PROG, pr->out_name,
                strerror(out_errno ? out_errno : EIO));
        status = EXIT_DAEMON_ERROR;
    }
    out_errno = 0;
    pr->out = stdout;
    pr->out_pipe = false;
    free(pr->out_name);
    pr->out_name = NULL;
    return status;
}

int output_open(struct printer *pr, const char *path, bool once)
{
    bool pipe = path[0] == '|';
    char *name;
    FILE *f;

    if (pipe && !path[1 + strspn(path + 1, " \t")])
        return -EINVAL;
    if (!(name = strdup(path)))
        return -ENOMEM;
    fflush(stdout);
    f = pipe ? popen(path + 1, "w") : fopen(path, "w");
    if (!f) {
        int err = errno ? errno : EIO;
        free(name);
        return -err;
    }
    int status = output_restore(pr);
    pr->out = f;
    pr->out_pipe = pipe;
    pr->out_name = name;
    /* The .once command itself, then the one after it. */
    pr->once = once ? 2 : 0;
    return status;
}

int output_command_done(struct printer *pr)
{
    if (pr->once > 0 && --pr->once == 0)
        return output_restore(pr);
    return 0;
}

int printer_close(struct printer *pr, int status)
{
    int rc = output_restore(pr);

    free(pr->nullvalue);
    free(pr->width);
    pr->nullvalue = NULL;
    pr->width = NULL;
    pr->nwidth = 0;
    return status ? status : rc;
}

int finish_output(int status)
{
    errno = 0;
    /* A failed flush sets the stream's error, which out_failed() reads;
     * it also tells whether the reader has gone. */
    fflush(stdout);
    if (out_failed(stdout)) {
        if (stdout_gone) {
            /* The reader took what it wanted (`| head`): end as SIGPIPE
             * ends sqlite3, psql or cat, quietly and with the status that
             * tells a shell (and set -o pipefail) that the output was cut
             * short. Everything else is closed by now. */
            sigset_t set;
            sigemptyset(&set);
            sigaddset(&set, SIGPIPE);
            sigprocmask(SIG_UNBLOCK, &set, NULL);
            signal(SIGPIPE, SIG_DFL);
            raise(SIGPIPE);
        }
        fprintf(stderr, "%s: cannot write output: %s\n", PROG,
                strerror(out_errno ? out_errno
                         : errno   ? errno
                                   : EIO));
        return status ? status : EXIT_DAEMON_ERROR;
    }
    return status;
}
