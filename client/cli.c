/* sqlited-cli: run SQL on the daemon and print the rows like the sqlite3 shell,
 * and the operator's commands (ping, health, stats).
 *
 * A client of the public libsqlited API only. Exit status: 0 success, 1 an
 * error answered by the daemon (or a local failure such as a write error), 2
 * a usage error or a failed connection; `health` follows pg_isready instead
 * (see health_main()).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sqlited.h"

#define PROG "sqlited-cli"

enum { EXIT_DAEMON_ERROR = 1, EXIT_USAGE = 2 };

/* Exit statuses of `health`, pg_isready's: ready; the daemon answers but is
 * not ready; nothing answers; usage error. */
enum {
    HEALTH_READY = 0,
    HEALTH_NOT_READY = 1,
    HEALTH_NO_ANSWER = 2,
    HEALTH_USAGE = 3
};

/* What a usage error exits with: 3 for `health`, else EXIT_USAGE. */
static int usage_status = EXIT_USAGE;

/* The default --timeout, in milliseconds. */
#define DEFAULT_TIMEOUT_MS 5000

enum mode { MODE_LIST, MODE_TABLE, MODE_CSV, MODE_JSON, MODE_LINE };

static const struct {
    const char *name;
    enum mode mode;
} modes[] = {
    {"list", MODE_LIST}, {"table", MODE_TABLE}, {"csv", MODE_CSV},
    {"json", MODE_JSON}, {"line", MODE_LINE},
};

static void usage(FILE *f)
{
    fputs(
        "Usage: " PROG " [options] SQL\n"
        "       " PROG " [options] < script.sql\n"
        "       " PROG " [options] ping | health | stats | metrics\n"
        "       " PROG " [options] backup [DEST]\n"
        "       " PROG " [options] optimize [analyze]\n"
        "       " PROG " [options] vacuum\n"
        "       " PROG " [options] integrity [quick|full]\n"
        "       " PROG " [options] migrate up|down [VERSION] | status\n"
        "       " PROG " [options] checkpoint [MODE]\n"
        "\n"
        "Runs SQL (one argument, which may hold several statements; '-'\n"
        "reads it from standard input) on the sqlited daemon and prints\n"
        "the rows it returns.\n"
        "\n"
        "Commands:\n"
        "  ping                check that the daemon's event loop answers\n"
        "  health              readiness probe: exit 0 ready, 1 the daemon\n"
        "                      answers but is not ready, 2 nothing answers,\n"
        "                      3 usage error; one line (or --json)\n"
        "  stats               the daemon's counters, as JSON\n"
        "  metrics             the same, in Prometheus text format (--json:\n"
        "                      as stats)\n"
        "  backup [DEST]       have the daemon copy the database into its\n"
        "                      --backup-dir (DEST: a name or path inside it;\n"
        "                      default a timestamped name)\n"
        "  optimize [analyze]  PRAGMA optimize ('analyze': a full ANALYZE)\n"
        "  vacuum              rebuild the file and say what it reclaimed\n"
        "  integrity [quick|full]  check the database (exit status 1 on\n"
        "                      problems)\n"
        "  migrate up|down [VERSION] | status  apply, undo or list the\n"
        "                      migrations of the daemon's --migrations DIR\n"
        "  checkpoint [MODE]   checkpoint the WAL now; MODE is PASSIVE\n"
        "                      (default), FULL, RESTART or TRUNCATE (exit\n"
        "                      status 1 when it was busy)\n"
        "\n"
        "Options:\n"
        "  -s, --socket PATH   daemon socket (default: $SQLITED_SOCKET, "
        "else\n"
        "                      " SQLITED_DEFAULT_SOCKET ")\n"
        "  -m, --mode MODE     output: list, table, csv, json, line "
        "(default list)\n"
        "      --header        print column names (default for table, "
        "csv)\n"
        "      --no-header     do not print column names (default for "
        "list)\n"
        "  -t, --timeout MS    connect timeout in milliseconds, 0 for none\n"
        "                      (default 5000); for ping and health the\n"
        "                      whole probe's deadline, which must be set\n"
        "      --json          operations: print the result as JSON (for\n"
        "                      SQL: --mode json)\n"
        "      --quick         health: also run PRAGMA quick_check\n"
        "  -h, --help          show this help and exit\n"
        "  -V, --version       show the version and exit\n"
        "\n"
        "Exit status: 0 success, 1 the daemon reported an error, 2 usage\n"
        "error or no connection.\n",
        f);
}

static int usage_error(const char *what, const char *arg)
{
    if (arg)
        fprintf(stderr, "%s: %s: %s\n", PROG, what, arg);
    else
        fprintf(stderr, "%s: %s\n", PROG, what);
    fprintf(stderr, "Try '%s --help' for more information.\n", PROG);
    return usage_status;
}

/* With a standard descriptor closed, the socket would take its number and
 * the rows would be written into the connection. Occupy it with /dev/null,
 * opened read-only so that writing to it still fails and is reported. */
static void hold_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* ------------------------------------------------------------ text buffer */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void sbuf_add(struct sbuf *b, const void *data, size_t n)
{
    if (b->oom)
        return;
    if (n > b->cap - b->len) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

/* ----------------------------------------------------------------- values */

/* Formats a REAL with the fewest digits (15 to 17) that read back as the
 * same double, always recognisable as a REAL ("1.0", not "1"). */
static void format_real(double d, char *buf, size_t size)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".e") && !strstr(buf, "inf") && !strstr(buf, "nan"))
        strncat(buf, ".0", size - strlen(buf) - 1);
}

static void add_hex(struct sbuf *b, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789ABCDEF";

    for (size_t i = 0; i < n; i++) {
        char h[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
        sbuf_add(b, h, 2);
    }
}

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

/* Length of the valid UTF-8 sequence at @s (@n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp;
    size_t len;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
        return 0;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))
        return 0;
    return len;
}

/* Appends @s as a JSON string. Control characters become \u00XX; bytes that
 * are not valid UTF-8 (SQLite TEXT may hold any bytes) become U+FFFD, so the
 * output is always valid JSON. */
static void add_json_string(struct sbuf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    sbuf_add(b, "\"", 1);
    while (i < n) {
        size_t len = utf8_seq(p + i, n - i);
        if (len == 0) {
            sbuf_adds(b, "\\ufffd");
            i++;
        } else if (p[i] == '"' || p[i] == '\\') {
            char esc[2] = {'\\', (char)p[i]};
            sbuf_add(b, esc, 2);
            i++;
        } else if (p[i] < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04X", p[i]);
            sbuf_adds(b, esc);
            i++;
        } else {
            sbuf_add(b, p + i, len);
            i += len;
        }
    }
    sbuf_add(b, "\"", 1);
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

/* Appends @s as a CSV field (RFC 4180): quoted when it holds a comma, a
 * quote, CR or LF, with quotes doubled. */
static void add_csv_field(struct sbuf *b, const char *s, size_t n)
{
    bool quote = false;

    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        sbuf_add(b, s, n);
        return;
    }
    sbuf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            sbuf_add(b, "\"", 1);
        sbuf_add(b, s + i, 1);
    }
    sbuf_add(b, "\"", 1);
}

/* Display width of UTF-8 text in characters (code points). */
static size_t text_width(const char *s, size_t n)
{
    size_t w = 0;

    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}

/* ---------------------------------------------------------------- output */

struct printer {
    enum mode mode;
    bool header;
    FILE *out;
};

/* errno of the first failed write to standard output, kept for the message:
 * later stdio calls may change errno before it is reported. */
static int out_errno;

static bool out_failed(FILE *out)
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

/* ---------------------------------------------------------------- running */

/* Exit status for a failed call: the daemon's own answers are 1; a lost or
 * unusable connection is 2, like a failed connect. */
static int failure_status(int rc)
{
    if (rc == SQLITED_ECLOSED || rc == SQLITED_EPROTO || rc == SQLITED_EVERSION)
        return EXIT_USAGE;
    if (rc < 0 && rc > -1000 && rc != -ENOMEM)
        return EXIT_USAGE; /* a socket errno */
    return EXIT_DAEMON_ERROR;
}

static int report_call_error(sqlited *db, int rc)
{
    fprintf(stderr, "%s: %s: %s\n", PROG, sqlited_errname(db),
            sqlited_errmsg(db));
    return failure_status(rc);
}

/* Reading the rows failed after some were printed: a fetch fails with the
 * connection's error and message, a malformed row on its own. */
static int report_rows_error(sqlited *db, int rc)
{
    if (sqlited_errcode(db) == rc)
        fprintf(stderr, "%s: %s: reading the result: %s\n", PROG,
                sqlited_errname(db), sqlited_errmsg(db));
    else
        fprintf(stderr, "%s: %s: reading the result: %s\n", PROG,
                sqlited_codename(rc), sqlited_strerror(rc));
    return failure_status(rc);
}

/* Runs @sql. One statement runs as a query, on a reader, and a large
 * result streams in chunks, so that printing it takes constant memory
 * (but in table mode). The daemon refuses a script as a query with
 * SQLITED_BAD_REQUEST before running any of it; it then runs as exec,
 * whose result comes whole. */
static int run_sql(sqlited *db, const char *sql, sqlited_rows **rows)
{
    int rc = sqlited_query(db, sql, NULL, rows);

    if (rc == SQLITED_BAD_REQUEST)
        rc = sqlited_exec(db, sql, NULL, rows);
    return rc;
}

static int report_connect_error(const char *path, int rc)
{
    /* errno values read best in the C library's own words. */
    const char *why =
        rc < 0 && rc > -1000 ? strerror(-rc) : sqlited_strerror(rc);
    const char *hint = "";

    if (rc == -ENOENT || rc == -ECONNREFUSED)
        hint = " (is the daemon running? start it with make run)";
    fprintf(stderr, "%s: cannot connect to %s: %s%s\n", PROG, path, why, hint);
    return EXIT_USAGE;
}

/* Reads all of standard input into a NUL-terminated string. */
static int read_stdin(char **out)
{
    struct sbuf b = {0};
    char chunk[65536];
    size_t n;

    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        sbuf_add(&b, chunk, n);
    if (ferror(stdin)) {
        fprintf(stderr, "%s: cannot read SQL from standard input: %s\n", PROG,
                strerror(errno));
        free(b.p);
        return EXIT_USAGE;
    }
    sbuf_add(&b, "", 1);
    if (b.oom) {
        fprintf(stderr, "%s: %s\n", PROG, strerror(ENOMEM));
        free(b.p);
        return EXIT_DAEMON_ERROR;
    }
    if (memchr(b.p, '\0', b.len - 1)) {
        fprintf(stderr, "%s: SQL on standard input holds a NUL byte\n", PROG);
        free(b.p);
        return EXIT_USAGE;
    }
    *out = b.p;
    return 0;
}

/* Flushes standard output; a failure (closed descriptor, full disk, reader
 * gone) is an error of the run. */
static int finish_output(int status)
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

/* ------------------------------------------------------------- commands */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Why nothing answered, in a few words. */
static const char *no_answer_reason(int rc)
{
    switch (rc) {
    case -ENOENT:
        return "no socket";
    case -EACCES:
    case -EPERM:
        return "permission denied";
    case -ETIMEDOUT:
        return "timed out";
    case -ECONNREFUSED:
        return "refused";
    case SQLITED_ECLOSED:
        return "connection closed";
    default:
        return rc < 0 && rc > -1000 ? strerror(-rc) : sqlited_strerror(rc);
    }
}

static void print_json_string(const char *s)
{
    struct sbuf b = {0};
    add_json_string(&b, s, strlen(s));
    sbuf_add(&b, "", 1);
    fputs(b.oom ? "\"\"" : b.p, stdout);
    free(b.p);
}

/* Prints the verdict of a probe that got no verdict from the daemon. */
static int health_report(const char *path, bool json, int status,
                         const char *state, const char *reason)
{
    if (json) {
        fputs("{\"status\": ", stdout);
        print_json_string(state);
        printf(", \"ready\": false, \"reason\": ");
        print_json_string(reason);
        fputs(", \"socket\": ", stdout);
        print_json_string(path);
        fputs("}\n", stdout);
    } else {
        printf("%s: %s: %s\n", path,
               status == HEALTH_NO_ANSWER ? "no answer" : "not ready", reason);
    }
    return status;
}

/* `health`: pg_isready's exit statuses and one line (or JSON) on standard
 * output. The whole probe, connecting included, ends within @timeout_ms:
 * the daemon is given three quarters of what is left for its checks, so
 * that a daemon that answers does so before the client gives up. */
static int health_main(const char *path, int timeout_ms, bool json, bool quick)
{
    int64_t start = now_ms();
    char *answer = NULL;
    sqlited *db = NULL;
    int status, rc;

    rc = sqlited_open(path, timeout_ms, &db);
    if (rc == SQLITED_SHUTTING_DOWN)
        return health_report(path, json, HEALTH_NOT_READY, "failing",
                             "the daemon is shutting down");
    if (rc == SQLITED_TOO_MANY_CONNECTIONS)
        return health_report(path, json, HEALTH_NOT_READY, "failing",
                             "the daemon is at its connection limit");
    if (rc)
        return health_report(path, json, HEALTH_NO_ANSWER, "no_answer",
                             no_answer_reason(rc));
    int64_t left = timeout_ms - (now_ms() - start);
    if (left < 1)
        left = 1;
    int checks = (int)(left * 3 / 4);
    sqlited_set_io_timeout(db, (int)left);
    rc = sqlited_health(db, quick ? SQLITED_HEALTH_QUICK : 0,
                        checks < 1       ? 1
                        : checks > 60000 ? 60000
                                         : checks,
                        &status, json ? &answer : NULL);
    if (rc == 0 && json) {
        printf("%s\n", answer);
    } else if (rc == 0) {
        const char *reason = sqlited_health_reason(db);
        if (status == SQLITED_HEALTH_OK)
            printf("%s: ready\n", path);
        else if (status == SQLITED_HEALTH_DEGRADED)
            printf("%s: ready, degraded: %s\n", path, reason);
        else
            printf("%s: not ready: %s\n", path, reason);
    } else if (failure_status(rc) == EXIT_USAGE || rc == -ENOMEM) {
        status = HEALTH_NO_ANSWER;
        health_report(path, json, HEALTH_NO_ANSWER, "no_answer",
                      no_answer_reason(rc));
    } else {
        /* The daemon answered with an error: shutting down, or one that
         * does not know `health`. */
        health_report(path, json, HEALTH_NOT_READY, "failing",
                      sqlited_errmsg(db));
    }
    sqlited_free(answer);
    sqlited_close(db);
    if (rc)
        return failure_status(rc) == EXIT_USAGE || rc == -ENOMEM
                   ? HEALTH_NO_ANSWER
                   : HEALTH_NOT_READY;
    return status == SQLITED_HEALTH_FAILING ? HEALTH_NOT_READY : HEALTH_READY;
}

/* Whether argv holds the word @cmd as an argument rather than as the value
 * of an option: decides, before the options are parsed, what a usage error
 * exits with. */
static bool argv_has_command(int argc, char **argv, const char *cmd)
{
    for (int i = 1; i < argc; i++) {
        const char *prev = argv[i - 1];
        bool is_value =
            i > 1 &&
            (strcmp(prev, "-s") == 0 || strcmp(prev, "--socket") == 0 ||
             strcmp(prev, "-m") == 0 || strcmp(prev, "--mode") == 0 ||
             strcmp(prev, "-t") == 0 || strcmp(prev, "--timeout") == 0);
        if (strcmp(argv[i], "--") == 0)
            return i + 1 < argc && strcmp(argv[i + 1], cmd) == 0;
        if (!is_value && strcmp(argv[i], cmd) == 0)
            return true;
    }
    return false;
}

/* ping: the loop's liveness answer, every wait bounded by @timeout_ms. */
static int ping_main(const char *path, int timeout_ms)
{
    sqlited *db = NULL;
    int rc = sqlited_open(path, timeout_ms, &db);

    if (rc)
        return report_connect_error(path, rc);
    sqlited_set_io_timeout(db, timeout_ms);
    rc = sqlited_ping(db);
    int status = rc ? report_call_error(db, rc) : 0;
    if (rc == 0)
        puts("pong");
    sqlited_close(db);
    return finish_output(status);
}

/* ------------------------------------------------------------- operations
 *
 * Subcommands that act on the database as a whole. Each prints one line for
 * people, or with --json one JSON object.
 */

/* A JSON object built in a buffer. */
struct json {
    struct sbuf b;
    bool more; /* a member was added */
};

static void json_key(struct json *j, const char *key)
{
    sbuf_adds(&j->b, j->more ? ", " : "{");
    j->more = true;
    add_json_string(&j->b, key, strlen(key));
    sbuf_adds(&j->b, ": ");
}

static void json_str(struct json *j, const char *key, const char *value)
{
    json_key(j, key);
    if (value)
        add_json_string(&j->b, value, strlen(value));
    else
        sbuf_adds(&j->b, "null");
}

static void json_u64(struct json *j, const char *key, uint64_t value)
{
    char num[32];
    snprintf(num, sizeof(num), "%" PRIu64, value);
    json_key(j, key);
    sbuf_adds(&j->b, num);
}

/* Prints the object and frees it. */
static int json_print(struct json *j)
{
    sbuf_adds(&j->b, j->more ? "}\n" : "{}\n");
    if (j->b.oom) {
        free(j->b.p);
        fprintf(stderr, "%s: %s\n", PROG, strerror(ENOMEM));
        return EXIT_DAEMON_ERROR;
    }
    fwrite(j->b.p, 1, j->b.len, stdout);
    free(j->b.p);
    return 0;
}

static int cmd_backup(sqlited *db, int argc, char **argv, bool json)
{
    sqlited_backup_info info;
    int rc = sqlited_backup(db, argc > 0 ? argv[0] : NULL, &info);

    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        printf("backup %s: %" PRIu64 " bytes, %" PRIu64 " pages, %" PRIu64
               " ms\n",
               info.path, info.size, info.pages, info.duration_ms);
        return 0;
    }
    struct json j = {0};
    json_str(&j, "path", info.path);
    json_u64(&j, "size", info.size);
    json_u64(&j, "pages", info.pages);
    json_u64(&j, "duration_ms", info.duration_ms);
    return json_print(&j);
}

static int cmd_optimize(sqlited *db, int argc, char **argv, bool json)
{
    bool analyze = argc > 0;
    if (analyze && strcmp(argv[0], "analyze") != 0)
        return usage_error("optimize takes analyze or nothing", argv[0]);
    int rc = sqlited_optimize(db, analyze);
    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        puts(analyze ? "optimize: ANALYZE done" : "optimize: done");
        return 0;
    }
    struct json j = {0};
    json_key(&j, "analyze");
    sbuf_adds(&j.b, analyze ? "true" : "false");
    return json_print(&j);
}

static int cmd_vacuum(sqlited *db, int argc, char **argv, bool json)
{
    sqlited_vacuum_info info;
    (void)argc;
    (void)argv;
    int rc = sqlited_vacuum(db, &info);
    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        printf("vacuum: %" PRIu64 " bytes reclaimed (%" PRIu64 " -> %" PRIu64
               " bytes), %" PRIu64 " ms\n",
               info.reclaimed, info.size_before, info.size_after,
               info.duration_ms);
        return 0;
    }
    struct json j = {0};
    json_u64(&j, "size_before", info.size_before);
    json_u64(&j, "size_after", info.size_after);
    json_u64(&j, "reclaimed", info.reclaimed);
    json_u64(&j, "duration_ms", info.duration_ms);
    return json_print(&j);
}

/* Exit status 1 when the database has problems. */
static int cmd_integrity(sqlited *db, int argc, char **argv, bool json)
{
    sqlited_integrity_info info;
    int check = SQLITED_INTEGRITY_FULL;

    if (argc > 0 && strcmp(argv[0], "quick") == 0)
        check = SQLITED_INTEGRITY_QUICK;
    else if (argc > 0 && strcmp(argv[0], "full") != 0)
        return usage_error("integrity takes quick or full", argv[0]);
    int rc = sqlited_integrity(db, check, &info);
    if (rc)
        return report_call_error(db, rc);
    int status = info.ok ? 0 : EXIT_DAEMON_ERROR;
    if (!json) {
        if (info.ok)
            puts("ok");
        for (unsigned i = 0; i < info.nproblems; i++)
            puts(info.problems[i]);
        return status;
    }
    struct json j = {0};
    json_str(&j, "check", check == SQLITED_INTEGRITY_FULL ? "full" : "quick");
    json_key(&j, "ok");
    sbuf_adds(&j.b, info.ok ? "true" : "false");
    json_key(&j, "problems");
    sbuf_adds(&j.b, "[");
    for (unsigned i = 0; i < info.nproblems; i++) {
        if (i)
            sbuf_adds(&j.b, ", ");
        add_json_string(&j.b, info.problems[i], strlen(info.problems[i]));
    }
    sbuf_adds(&j.b, "]");
    int printed = json_print(&j);
    return printed ? printed : status;
}

static int cmd_migrate(sqlited *db, int argc, char **argv, bool json)
{
    sqlited_migrate_info info;
    int action;
    int64_t version = SQLITED_MIGRATE_DEFAULT;

    if (strcmp(argv[0], "up") == 0)
        action = SQLITED_MIGRATE_UP;
    else if (strcmp(argv[0], "down") == 0)
        action = SQLITED_MIGRATE_DOWN;
    else if (strcmp(argv[0], "status") == 0 && argc == 1)
        action = SQLITED_MIGRATE_STATUS;
    else
        return usage_error("usage", "migrate up|down [VERSION] | status");
    if (argc == 2) {
        char *end;
        errno = 0;
        long long v = strtoll(argv[1], &end, 10);
        if (errno || end == argv[1] || *end || v < 0)
            return usage_error("invalid version", argv[1]);
        version = v;
    }
    int rc = sqlited_migrate(db, action, version, &info);
    if (rc)
        return report_call_error(db, rc);
    if (!json) {
        if (action == SQLITED_MIGRATE_STATUS)
            printf("version %" PRId64 " of %" PRId64 "\n", info.to,
                   info.latest);
        else if (info.from == info.to)
            printf("at version %" PRId64 " of %" PRId64 ": nothing to do\n",
                   info.to, info.latest);
        else
            printf("migrated from version %" PRId64 " to %" PRId64
                   " (of %" PRId64 ")\n",
                   info.from, info.to, info.latest);
        for (unsigned i = 0; action == SQLITED_MIGRATE_STATUS && i < info.count;
             i++) {
            const sqlited_migration *m = &info.migrations[i];
            printf("%4" PRId64 " %-8s %s%s%s\n", m->version, m->state, m->file,
                   m->applied_at ? " " : "",
                   m->applied_at ? m->applied_at : "");
        }
        return 0;
    }
    struct json j = {0};
    json_u64(&j, "from", (uint64_t)info.from);
    json_u64(&j, "to", (uint64_t)info.to);
    json_u64(&j, "latest", (uint64_t)info.latest);
    json_key(&j, "migrations");
    sbuf_adds(&j.b, "[");
    for (unsigned i = 0; i < info.count; i++) {
        const sqlited_migration *m = &info.migrations[i];
        struct json o = {0};
        json_u64(&o, "version", (uint64_t)m->version);
        json_str(&o, "name", m->name);
        json_str(&o, "file", m->file);
        json_str(&o, "state", m->state);
        json_str(&o, "checksum", m->checksum);
        json_str(&o, "applied_at", m->applied_at);
        sbuf_adds(&o.b, "}");
        if (i)
            sbuf_adds(&j.b, ", ");
        sbuf_add(&j.b, o.b.p, o.b.len);
        j.b.oom |= o.b.oom;
        free(o.b.p);
    }
    sbuf_adds(&j.b, "]");
    return json_print(&j);
}

static const char *const checkpoint_modes[] = {
    [SQLITED_CHECKPOINT_PASSIVE] = "PASSIVE",
    [SQLITED_CHECKPOINT_FULL] = "FULL",
    [SQLITED_CHECKPOINT_RESTART] = "RESTART",
    [SQLITED_CHECKPOINT_TRUNCATE] = "TRUNCATE",
};

/* `checkpoint [MODE]`: busy (it could not finish) is exit status 1. */
static int cmd_checkpoint(sqlited *db, int argc, char **argv, bool json)
{
    sqlited_checkpoint_info info;
    int mode = SQLITED_CHECKPOINT_PASSIVE;

    if (argc > 0) {
        int n = (int)(sizeof(checkpoint_modes) / sizeof(*checkpoint_modes));
        for (mode = 0; mode < n; mode++)
            if (strcasecmp(argv[0], checkpoint_modes[mode]) == 0)
                break;
        if (mode == n)
            return usage_error("unknown checkpoint mode (PASSIVE, FULL, "
                               "RESTART, TRUNCATE)",
                               argv[0]);
    }
    int rc = sqlited_checkpoint(db, mode, &info);
    if (rc)
        return report_call_error(db, rc);
    int status = info.busy ? EXIT_DAEMON_ERROR : 0;
    if (!json) {
        printf("%s checkpoint%s: %" PRId64 " of %" PRId64
               " frames in the database, WAL %" PRId64 " -> %" PRId64
               " bytes, %.3f ms\n",
               checkpoint_modes[mode],
               info.busy ? " busy (readers held older snapshots)" : "",
               info.checkpointed_frames, info.log_frames, info.wal_bytes_before,
               info.wal_bytes_after, info.duration_ms);
        return status;
    }
    char ms[32];
    struct json j = {0};
    json_str(&j, "mode", checkpoint_modes[mode]);
    json_u64(&j, "busy", (uint64_t)info.busy);
    json_u64(&j, "log_frames", (uint64_t)info.log_frames);
    json_u64(&j, "checkpointed_frames", (uint64_t)info.checkpointed_frames);
    json_u64(&j, "wal_bytes_before", (uint64_t)info.wal_bytes_before);
    json_u64(&j, "wal_bytes_after", (uint64_t)info.wal_bytes_after);
    json_key(&j, "duration_ms");
    snprintf(ms, sizeof(ms), "%.3f", info.duration_ms);
    sbuf_adds(&j.b, ms);
    int printed = json_print(&j);
    return printed ? printed : status;
}

/* stats: the daemon's counters, always as JSON. */
static int cmd_stats(sqlited *db, int argc, char **argv, bool json)
{
    char *text = NULL;
    int rc = sqlited_stats(db, &text);
    (void)argc;
    (void)argv;
    (void)json;
    if (rc)
        return report_call_error(db, rc);
    puts(text);
    sqlited_free(text);
    return 0;
}

/* metrics: Prometheus text; with --json the same figures as stats. */
static int cmd_metrics(sqlited *db, int argc, char **argv, bool json)
{
    char *text = NULL;
    int rc = json ? sqlited_stats(db, &text) : sqlited_metrics(db, &text);
    (void)argc;
    (void)argv;
    if (rc)
        return report_call_error(db, rc);
    fputs(text, stdout);
    if (json)
        putchar('\n');
    sqlited_free(text);
    return 0;
}

static const struct command {
    const char *name;
    int min_args, max_args;
    const char *args; /* for the usage error */
    int (*run)(sqlited *db, int argc, char **argv, bool json);
} commands[] = {
    {"backup", 0, 1, "backup [DEST]", cmd_backup},
    {"optimize", 0, 1, "optimize [analyze]", cmd_optimize},
    {"vacuum", 0, 0, "vacuum", cmd_vacuum},
    {"integrity", 0, 1, "integrity [quick|full]", cmd_integrity},
    {"migrate", 1, 2, "migrate up|down [VERSION] | status", cmd_migrate},
    {"checkpoint", 0, 1, "checkpoint [PASSIVE|FULL|RESTART|TRUNCATE]",
     cmd_checkpoint},
    {"stats", 0, 0, "stats", cmd_stats},
    {"metrics", 0, 0, "metrics", cmd_metrics},
};

static const struct command *command_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"mode", required_argument, NULL, 'm'},
        {"header", no_argument, NULL, 'H'},
        {"no-header", no_argument, NULL, 'N'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'J'},
        {"quick", no_argument, NULL, 'Q'},
        {NULL, 0, NULL, 0},
    };
    const struct command *cmd = NULL;
    bool json = false, quick = false;
    struct printer pr = {.mode = MODE_LIST, .out = stdout};
    const char *path = getenv("SQLITED_SOCKET");
    const char *sql_arg = NULL;
    char *sql_buf = NULL;
    sqlited_rows *rows = NULL;
    sqlited *db = NULL;
    int header = -1, timeout_ms = DEFAULT_TIMEOUT_MS;
    int opt, rc, status;

    hold_std_fds();
    /* A reader that went away is reported as a write error (EPIPE), not a
     * silent death by signal. */
    signal(SIGPIPE, SIG_IGN);

    if (!path || !*path)
        path = SQLITED_DEFAULT_SOCKET;
    if (argv_has_command(argc, argv, "health"))
        usage_status = HEALTH_USAGE;
    while ((opt = getopt_long(argc, argv, "s:m:t:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            path = optarg;
            break;
        case 'm': {
            size_t i;
            for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
                if (strcmp(optarg, modes[i].name) == 0)
                    break;
            if (i == sizeof(modes) / sizeof(modes[0]))
                return usage_error("unknown mode (list, table, csv, json, "
                                   "line)",
                                   optarg);
            pr.mode = modes[i].mode;
            break;
        }
        case 'H':
            header = 1;
            break;
        case 'N':
            header = 0;
            break;
        case 'J':
            json = true;
            break;
        case 'Q':
            quick = true;
            break;
        case 't': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > INT_MAX)
                return usage_error("invalid timeout", optarg);
            timeout_ms = (int)v;
            break;
        }
        case 'h':
            usage(stdout);
            return finish_output(0);
        case 'V':
            printf("%s %s (protocol %d)\n", PROG, SQLITED_VERSION,
                   SQLITED_PROTOCOL_VERSION);
            return finish_output(0);
        default:
            return usage_error("invalid option", NULL);
        }
    }
    /* The probes. Each always has a deadline: against a daemon that hangs
     * (stopped with SIGSTOP, say) it must still answer. */
    const char *word = optind < argc ? argv[optind] : "";
    bool probe = strcmp(word, "ping") == 0 || strcmp(word, "health") == 0;
    if (probe && argc - optind > 1)
        return usage_error("too many arguments", word);
    if (probe && timeout_ms == 0)
        return usage_error("a probe needs a deadline: --timeout must be at "
                           "least 1 ms",
                           word);
    if (quick && strcmp(word, "health") != 0)
        return usage_error("--quick applies to health only", NULL);
    if (strcmp(word, "health") == 0)
        return finish_output(health_main(path, timeout_ms, json, quick));
    if (strcmp(word, "ping") == 0)
        return ping_main(path, timeout_ms);
    if (optind < argc && (cmd = command_find(argv[optind])) != NULL) {
        int nargs = argc - optind - 1;
        if (nargs < cmd->min_args || nargs > cmd->max_args)
            return usage_error("usage", cmd->args);
        rc = sqlited_open(path, timeout_ms, &db);
        if (rc)
            return report_connect_error(path, rc);
        status = cmd->run(db, nargs, argv + optind + 1, json);
        sqlited_close(db);
        return finish_output(status);
    }
    if (argc - optind > 1)
        return usage_error("too many arguments (pass the SQL as one quoted "
                           "argument)",
                           NULL);
    if (optind < argc)
        sql_arg = argv[optind];
    if (json)
        pr.mode = MODE_JSON;
    pr.header =
        header >= 0 ? header : (pr.mode == MODE_TABLE || pr.mode == MODE_CSV);

    if (!sql_arg || strcmp(sql_arg, "-") == 0) {
        if (!sql_arg && isatty(STDIN_FILENO))
            return usage_error("no SQL given (pass it as an argument, or "
                               "on standard input)",
                               NULL);
        status = read_stdin(&sql_buf);
        if (status)
            return status;
        sql_arg = sql_buf;
    }

    rc = sqlited_open(path, timeout_ms, &db);
    if (rc) {
        free(sql_buf);
        return report_connect_error(path, rc);
    }

    rc = run_sql(db, sql_arg, &rows);
    if (rc) {
        status = report_call_error(db, rc);
    } else {
        rc = pr.mode == MODE_TABLE ? print_table(&pr, rows)
                                   : print_stream(&pr, rows);
        status = 0;
        if (rc != SQLITED_DONE && !out_failed(stdout))
            status = report_rows_error(db, rc);
    }
    sqlited_rows_close(rows);
    sqlited_close(db);
    free(sql_buf);
    return finish_output(status);
}
