/* Printing a result in the output modes of the sqlite3 shell (list, table,
 * csv, json, line), and the one check that standard output still works. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "text.h"

static const struct {
    const char *name;
    enum mode mode;
} modes[] = {
    {"list", MODE_LIST}, {"table", MODE_TABLE}, {"csv", MODE_CSV},
    {"json", MODE_JSON}, {"line", MODE_LINE},
};

const char mode_names[] = "list, table, csv, json, line";

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

/* errno of the first failed write to standard output, kept for the message:
 * later stdio calls may change errno before it is reported. */
static int out_errno;

/* Appends the text form of column @i (list, line, table and csv modes):
 * NULL as nothing, a BLOB as X'0A1B'. */
static void add_value(struct sbuf *b, const sqlited_rows *rows, int i)
{
    char num[64];

    switch (sqlited_column_type(rows, i)) {
    case SQLITED_INTEGER:
        snprintf(num, sizeof(num), "%" PRId64, sqlited_column_int64(rows, i));
        sbuf_adds(b, num);
        break;
    case SQLITED_FLOAT:
        format_real(sqlited_column_double(rows, i), num, sizeof(num));
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

bool out_failed(FILE *out)
{
    if (!ferror(out))
        return false;
    if (!out_errno)
        out_errno = errno ? errno : EIO;
    return true;
}

static void emit(const struct printer *pr, const struct sbuf *b)
{
    fwrite(b->p ? b->p : "", 1, b->len, pr->out);
}

/* Prints @n spaces or dashes. */
static void pad(FILE *out, int c, size_t n)
{
    while (n-- > 0)
        putc(c, out);
}

/* .mode table needs every cell before the first line to know the widths:
 * the cells are rendered into one buffer, then laid out. Unlike the other
 * modes, it holds the whole result, however many chunks it streams in. */
static int print_table(const struct printer *pr, sqlited_rows *rows)
{
    int ncols = sqlited_rows_column_count(rows);
    size_t *width = calloc((size_t)ncols + 1, sizeof(*width));
    size_t *off = NULL, noff = 0, capoff = 0;
    struct sbuf cells = {0}, line = {0};
    int rc = SQLITED_DONE;

    if (!width)
        return -ENOMEM;
    for (int i = 0; i < ncols; i++) {
        const char *name = sqlited_rows_column_name(rows, i);
        width[i] = text_width(name, strlen(name));
    }
    /* off[k] is where cell k starts; the cell ends where the next starts. */
    for (;;) {
        rc = sqlited_rows_next(rows);
        if (rc != SQLITED_ROW)
            break;
        for (int i = 0; i < ncols; i++) {
            if (noff + 2 > capoff) {
                size_t cap = capoff ? capoff * 2 : 64;
                size_t *p = realloc(off, cap * sizeof(*off));
                if (!p) {
                    rc = -ENOMEM;
                    goto out;
                }
                off = p;
                capoff = cap;
            }
            off[noff++] = cells.len;
            add_value(&cells, rows, i);
            if (cells.oom) {
                rc = -ENOMEM;
                goto out;
            }
            size_t w =
                text_width(cells.p + off[noff - 1], cells.len - off[noff - 1]);
            if (w > width[i])
                width[i] = w;
        }
    }
    if (rc != SQLITED_DONE || noff == 0)
        goto out;
    off[noff] = cells.len;

    /* +---+---+ */
    sbuf_add(&line, "+", 1);
    for (int i = 0; i < ncols; i++) {
        for (size_t k = 0; k < width[i] + 2; k++)
            sbuf_add(&line, "-", 1);
        sbuf_add(&line, "+", 1);
    }
    sbuf_add(&line, "\n", 1);
    if (line.oom) {
        rc = -ENOMEM;
        goto out;
    }

    emit(pr, &line);
    if (pr->header) {
        /* Names are centred, as in the sqlite3 shell. */
        putc('|', pr->out);
        for (int i = 0; i < ncols; i++) {
            const char *name = sqlited_rows_column_name(rows, i);
            size_t len = strlen(name), w = text_width(name, len);
            putc(' ', pr->out);
            pad(pr->out, ' ', (width[i] - w) / 2);
            fwrite(name, 1, len, pr->out);
            pad(pr->out, ' ', (width[i] - w + 1) / 2);
            fputs(" |", pr->out);
        }
        putc('\n', pr->out);
        emit(pr, &line);
    }
    for (size_t k = 0; k < noff && !out_failed(pr->out);) {
        putc('|', pr->out);
        for (int i = 0; i < ncols; i++, k++) {
            const char *s = cells.p + off[k];
            size_t len = off[k + 1] - off[k];
            putc(' ', pr->out);
            fwrite(s, 1, len, pr->out);
            pad(pr->out, ' ', width[i] - text_width(s, len));
            fputs(" |", pr->out);
        }
        putc('\n', pr->out);
    }
    emit(pr, &line);

out:
    free(line.p);
    free(width);
    free(off);
    free(cells.p);
    return rc;
}

/* Prints every row in one of the streaming modes. Returns SQLITED_DONE
 * or the failure of sqlited_rows_next(). */
static int print_stream(const struct printer *pr, sqlited_rows *rows)
{
    int ncols = sqlited_rows_column_count(rows);
    struct sbuf b = {0};
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
                add_value(&b, rows, i);
            }
            sbuf_add(&b, "\n", 1);
            break;
        case MODE_CSV:
            for (int i = 0; i < ncols; i++) {
                struct sbuf v = {0};
                if (i > 0)
                    sbuf_add(&b, ",", 1);
                add_value(&v, rows, i);
                if (v.oom)
                    b.oom = true;
                add_csv_field(&b, v.p, v.len);
                free(v.p);
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
                for (size_t k = len; k < (size_t)line_width; k++)
                    sbuf_add(&b, " ", 1);
                sbuf_add(&b, name, len);
                sbuf_add(&b, " = ", 3);
                add_value(&b, rows, i);
                sbuf_add(&b, "\n", 1);
            }
            break;
        }
        if (b.oom) {
            rc = -ENOMEM;
            break;
        }
        emit(pr, &b);
        n++;
        if (out_failed(pr->out))
            break;
    }
    if (pr->mode == MODE_JSON && n > 0 && rc == SQLITED_DONE)
        fputs("]\n", pr->out);
    free(b.p);
    return rc;
}

int print_rows(const struct printer *pr, sqlited_rows *rows)
{
    return pr->mode == MODE_TABLE ? print_table(pr, rows)
                                  : print_stream(pr, rows);
}

int finish_output(int status)
{
    errno = 0;
    if (fflush(stdout) != 0 || out_failed(stdout)) {
        fprintf(stderr, "%s: cannot write output: %s\n", PROG,
                strerror(out_errno ? out_errno
                         : errno   ? errno
                                   : EIO));
        return status ? status : EXIT_DAEMON_ERROR;
    }
    return status;
}
