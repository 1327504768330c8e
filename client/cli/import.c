/* .import: a CSV file into a table, as the sqlite3 shell's .import does,
 * through libsqlited's bulk call.
 *
 * The file is RFC 4180 CSV: fields separated by commas, records by LF or
 * CRLF; a field in double quotes may hold commas, line breaks and doubled
 * quotes. When TABLE does not exist, the first record names its columns and
 * it is created with TEXT columns; when it exists, every record is a row
 * (skip a header with --skip 1), and each must have as many fields as the
 * table has columns. Every value goes in as TEXT.
 *
 * The whole import is one transaction of the daemon's (begin, a bulk call
 * per batch of rows, commit): a bad record, a failed constraint or an
 * interrupted run applies nothing, not even the CREATE TABLE. While it
 * runs, other clients' writes wait; one that takes longer than the daemon's
 * --tx-max-duration (60 s by default) is rolled back and fails. Inside the
 * user's transaction (BEGIN typed before it) it is a savepoint of that
 * one: all or nothing again, committed with it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dump.h"
#include "import.h"
#include "quote.h"
#include "text.h"

/* A batch is sent when it holds this many rows or bytes of values. */
#define BATCH_ROWS 1000
#define BATCH_BYTES (1024 * 1024)

/* ------------------------------------------------------------------- CSV */

struct csv {
    FILE *f;
    const char *path;
    unsigned char buf[65536];
    size_t len, pos;
    uint64_t consumed; /* bytes of the file read by the parser */
    uint64_t line;     /* the line the parser is on, from 1 */
    bool started;      /* the first byte (a BOM?) was looked at */
    /* The current record: its fields end to end, and where each ends. */
    struct sbuf rec;
    size_t *ends;
    size_t nfields, cap;
};

/* The next byte of the file, or EOF (also on a read error: csv_failed()). */
static int csv_getc(struct csv *c)
{
    if (c->pos == c->len) {
        c->len = fread(c->buf, 1, sizeof(c->buf), c->f);
        c->pos = 0;
        if (c->len == 0)
            return EOF;
    }
    c->consumed++;
    return c->buf[c->pos++];
}

/* Looks at the next byte without taking it. */
static int csv_peek(struct csv *c)
{
    int ch = csv_getc(c);
    if (ch != EOF) {
        c->pos--;
        c->consumed--;
    }
    return ch;
}

static bool csv_end_field(struct csv *c)
{
    if (c->nfields == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        size_t *e = realloc(c->ends, cap * sizeof(*e));
        if (!e)
            return false;
        c->ends = e;
        c->cap = cap;
    }
    c->ends[c->nfields++] = c->rec.len;
    return true;
}

/* Field @i of the current record: its bytes and length. */
static const char *csv_field(const struct csv *c, size_t i, size_t *len)
{
    size_t start = i ? c->ends[i - 1] : 0;
    *len = c->ends[i] - start;
    return c->rec.p ? c->rec.p + start : "";
}

/* Reads the next record into c->rec and c->ends; *@line receives the line
 * it starts on. Returns 1, 0 at the end of the file, or -1 after reporting
 * a malformed record (naming FILE:LINE), a read error or no memory. Empty
 * lines are skipped. */
static int csv_next(struct csv *c, uint64_t *line)
{
    enum { START, BARE, QUOTED, AFTER_QUOTE } state = START;
    uint64_t opened = 0; /* the line a quoted field opened on */

    c->rec.len = 0;
    c->nfields = 0;
    *line = c->line;
    if (!c->started) {
        c->started = true;
        /* A UTF-8 byte order mark, as spreadsheets write, is no data. */
        if (csv_peek(c) == 0xEF) {
            csv_getc(c);
            if (csv_getc(c) != 0xBB || csv_getc(c) != 0xBF) {
                fprintf(stderr, "%s: %s:1: not UTF-8 text\n", PROG, c->path);
                return -1;
            }
        }
    }
    for (;;) {
        int ch = csv_getc(c);
        bool end_record = false;
        if (ch == '\r' && state != QUOTED && csv_peek(c) == '\n')
            ch = csv_getc(c);
        switch (state) {
        case START:
        case BARE:
            if (ch == EOF || ch == '\n') {
                if (state == START && c->nfields == 0 && ch == EOF)
                    goto eof;
                if (state == START && c->nfields == 0) { /* empty line */
                    c->line++;
                    *line = c->line;
                    continue;
                }
                end_record = true;
            } else if (ch == ',') {
                if (!csv_end_field(c))
                    goto oom;
                state = START;
            } else if (ch == '"' && state == START) {
                state = QUOTED;
                opened = c->line;
            } else {
                char b = (char)ch;
                sbuf_add(&c->rec, &b, 1);
                state = BARE;
            }
            break;
        case QUOTED:
            if (ch == EOF) {
                if (ferror(c->f))
                    goto read_error;
                fprintf(stderr,
                        "%s: %s:%" PRIu64 ": unterminated quoted field: "
                        "its opening quote is never closed\n",
                        PROG, c->path, opened);
                return -1;
            }
            if (ch == '"') {
                state = AFTER_QUOTE;
            } else {
                char b = (char)ch;
                if (ch == '\n')
                    c->line++;
                sbuf_add(&c->rec, &b, 1);
            }
            break;
        case AFTER_QUOTE:
            if (ch == '"') {
                sbuf_add(&c->rec, "\"", 1);
                state = QUOTED;
            } else if (ch == ',') {
                if (!csv_end_field(c))
                    goto oom;
                state = START;
            } else if (ch == '\n' || ch == EOF) {
                end_record = true;
            } else {
                fprintf(stderr,
                        "%s: %s:%" PRIu64 ": unexpected character after "
                        "the closing quote of a field (a quote inside a "
                        "quoted field is written twice: \"\")\n",
                        PROG, c->path, c->line);
                return -1;
            }
            break;
        }
        if (c->rec.oom)
            goto oom;
        if (end_record) {
            if (ch == EOF && ferror(c->f))
                goto read_error;
            if (!csv_end_field(c))
                goto oom;
            if (ch == '\n')
                c->line++;
            return 1;
        }
    }
eof:
    if (ferror(c->f))
        goto read_error;
    return 0;
read_error:
    fprintf(stderr, "%s: %s: %s\n", PROG, c->path, strerror(errno));
    return -1;
oom:
    fprintf(stderr, "%s: %s:%" PRIu64 ": %s\n", PROG, c->path, c->line,
            strerror(ENOMEM));
    return -1;
}

/* -------------------------------------------------------------- progress */

struct progress {
    bool on;          /* standard error is a terminal */
    uint64_t size;    /* of the file; 0 when unknown (a pipe) */
    int64_t start_ms; /* when the import began */
    int64_t drawn_ms; /* when the bar was last drawn */
    bool drawn;       /* a bar is on the screen */
};

static int64_t clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Draws the bar: done, rows, rate and time left, on one line of standard
 * error that each drawing overwrites; at most ten times a second. The
 * @final drawing shows the time taken instead of the time left. */
static void progress_draw(struct progress *p, uint64_t rows, uint64_t bytes,
                          bool final)
{
    int64_t now = clock_ms();
    char bar[32], eta[32] = "";

    if (!p->on || (!final && p->drawn && now - p->drawn_ms < 100))
        return;
    p->drawn_ms = now;
    p->drawn = true;
    double secs = (double)(now - p->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)rows / secs : 0;
    if (p->size > 0) {
        double done = bytes >= p->size ? 1.0 : (double)bytes / (double)p->size;
        int fill = (int)(done * 20);
        memset(bar, '=', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(20 - fill));
        if (fill < 20)
            bar[fill] = '>';
        bar[20] = '\0';
        if (final) {
            snprintf(eta, sizeof(eta), "  in %.1f s", secs);
        } else if (bytes > 0 && secs > 0.2) {
            double left = secs * (double)(p->size - bytes) / (double)bytes;
            snprintf(eta, sizeof(eta), "  ETA %d:%02d", (int)left / 60,
                     (int)left % 60);
        }
        fprintf(stderr, "\r\033[K[%s] %3d%%  %" PRIu64 " rows  %.0f rows/s%s",
                bar, (int)(done * 100), rows, rate, eta);
    } else {
        if (final)
            snprintf(eta, sizeof(eta), "  in %.1f s", secs);
        fprintf(stderr, "\r\033[K%" PRIu64 " rows  %.0f rows/s%s", rows, rate,
                eta);
    }
    fflush(stderr);
}

/* Clears the bar, leaving the line for what comes next. */
static void progress_clear(struct progress *p)
{
    if (p->on && p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        p->drawn = false;
    }
}

/* ---------------------------------------------------------------- import */

struct import {
    struct session *s;
    const char *file, *table;
    uint64_t skip;
    struct csv csv;
    struct progress progress;
    size_t ncols;          /* of the table */
    bool create;           /* the table does not exist yet */
    struct sbuf insert;    /* INSERT INTO t VALUES(?1, ...) */
    sqlited_params *batch; /* the rows of the batch, end to end */
    uint64_t *lines;       /* the line each row of the batch starts on */
    size_t nrows;          /* rows in the batch */
    size_t bytes;          /* of values in the batch */
    uint64_t imported;     /* rows sent in batches that succeeded */
    bool nested;           /* a savepoint in the user's transaction */
};

static int import_oom(struct import *im)
{
    progress_clear(&im->progress);
    session_report(im->s, NULL, ".import: %s", strerror(ENOMEM));
    return EXIT_DAEMON_ERROR;
}

/* The columns of the table: sets im->ncols, or im->create when there is no
 * such table. Read in a snapshot, before the write transaction: the checks
 * keep no writer waiting. */
static int import_check_table(struct import *im)
{
    sqlited *db = im->s->db;
    sqlited_params *p = NULL;
    sqlited_rows *rows = NULL;
    int rc = sqlited_params_open(&p);

    if (rc == 0)
        rc = sqlited_params_add_text(p, NULL, im->table, -1);
    if (rc) {
        sqlited_params_close(p);
        return import_oom(im);
    }
    bool began;
    rc = dump_snapshot_begin(db, &began);
    if (rc == 0)
        rc = sqlited_query(db, "SELECT count(*) FROM pragma_table_info(?1)", p,
                           &rows);
    sqlited_params_close(p);
    if (rc == 0 && (rc = sqlited_rows_next(rows)) == SQLITED_ROW) {
        int64_t n = sqlited_column_int64(rows, 0);
        im->ncols = (size_t)n;
        im->create = n == 0;
        rc = 0;
    }
    sqlited_rows_close(rows);
    dump_snapshot_end(db, began);
    return rc ? report_call_error(db, rc) : 0;
}

/* The statement every row is inserted with, and for a new table the
 * CREATE TABLE from the file's first record. */
static int import_prepare(struct import *im, uint64_t line)
{
    sqlited *db = im->s->db;
    struct sbuf create = {0};

    if (im->create) {
        im->ncols = im->csv.nfields;
        sbuf_adds(&create, "CREATE TABLE ");
        quote_identifier(&create, im->table);
        sbuf_add(&create, "(", 1);
        for (size_t i = 0; i < im->ncols; i++) {
            size_t len;
            const char *name = csv_field(&im->csv, i, &len);
            char *z = strndup(name, len);
            if (!z) {
                free(create.p);
                return import_oom(im);
            }
            if (i)
                sbuf_adds(&create, ", ");
            quote_identifier(&create, z);
            sbuf_adds(&create, " TEXT");
            free(z);
        }
        sbuf_add(&create, ")", 2);
    }
    sbuf_adds(&im->insert, "INSERT INTO ");
    quote_identifier(&im->insert, im->table);
    sbuf_adds(&im->insert, " VALUES(");
    for (size_t i = 0; i < im->ncols; i++)
        sbuf_adds(&im->insert, i ? ",?" : "?");
    sbuf_add(&im->insert, ")", 2);
    im->lines = calloc(BATCH_ROWS, sizeof(*im->lines));
    if (create.oom || im->insert.oom || !im->lines) {
        free(create.p);
        return import_oom(im);
    }
    if (!im->create)
        return 0;
    int rc = sqlited_exec(db, create.p, NULL, NULL);
    free(create.p);
    if (rc) {
        progress_clear(&im->progress);
        session_report(im->s, NULL,
                       "%s:%" PRIu64 ": cannot create table %s: %s", im->file,
                       line, im->table, sqlited_errmsg(db));
        return failure_status(rc);
    }
    return 0;
}

/* Sends the batch. A set that fails is named by its line in the file. */
static int import_flush(struct import *im)
{
    sqlited *db = im->s->db;

    if (im->nrows == 0)
        return 0;
    int rc =
        sqlited_exec_many(db, im->insert.p, im->batch, (unsigned)im->ncols);
    if (rc) {
        const char *msg = sqlited_errmsg(db);
        unsigned long step;
        int used = 0;
        progress_clear(&im->progress);
        if (sscanf(msg, "step %lu: %n", &step, &used) == 1 && used > 0 &&
            step < im->nrows)
            session_report(im->s, NULL, "%s:%" PRIu64 ": %s: %s", im->file,
                           im->lines[step], sqlited_errname(db), msg + used);
        else if (rc == SQLITED_TOO_LARGE)
            session_report(im->s, NULL,
                           "%s:%" PRIu64 ": a batch of rows from this line on "
                           "is over the daemon's limits: %s",
                           im->file, im->lines[0], sqlited_strerror(rc));
        else
            report_call_error(db, rc);
        return failure_status(rc);
    }
    im->imported += im->nrows;
    im->nrows = 0;
    im->bytes = 0;
    sqlited_params_clear(im->batch);
    return 0;
}

/* Adds the current record to the batch, sending the batch when it is
 * full. */
static int import_row(struct import *im, uint64_t line)
{
    if (im->csv.nfields != im->ncols) {
        progress_clear(&im->progress);
        session_report(im->s, NULL,
                       "%s:%" PRIu64 ": expected %zu columns, found %zu "
                       "(table %s)",
                       im->file, line, im->ncols, im->csv.nfields, im->table);
        return EXIT_DAEMON_ERROR;
    }
    for (size_t i = 0; i < im->ncols; i++) {
        size_t len;
        const char *v = csv_field(&im->csv, i, &len);
        int rc = sqlited_params_add_text(im->batch, NULL, v, (int64_t)len);
        if (rc == -ENOMEM)
            return import_oom(im);
        if (rc) {
            progress_clear(&im->progress);
            session_report(im->s, NULL, "%s:%" PRIu64 ": %s", im->file, line,
                           sqlited_strerror(rc));
            return EXIT_DAEMON_ERROR;
        }
        im->bytes += len;
    }
    im->lines[im->nrows++] = line;
    if (im->nrows == BATCH_ROWS || im->bytes >= BATCH_BYTES)
        return import_flush(im);
    return 0;
}

/* Reads every record and sends it, inside the open transaction. */
static int import_records(struct import *im)
{
    uint64_t line;
    bool first = true;
    int got = 1, status = 0;

    for (uint64_t i = 0; i < im->skip; i++)
        if ((got = csv_next(&im->csv, &line)) <= 0)
            break;
    while (status == 0 && got >= 0 && (got = csv_next(&im->csv, &line)) > 0) {
        if (first) {
            first = false;
            status = import_prepare(im, line);
            if (status || im->create)
                continue; /* the header named the columns */
        }
        status = import_row(im, line);
        progress_draw(&im->progress, im->imported + im->nrows, im->csv.consumed,
                      false);
        if (status == 0 && im->s->interrupted && *im->s->interrupted) {
            progress_clear(&im->progress);
            session_report(im->s, NULL, ".import of %s: interrupted", im->file);
            status = EXIT_DAEMON_ERROR;
        }
    }
    if (status)
        return status;
    if (got < 0) {
        progress_clear(&im->progress);
        return EXIT_DAEMON_ERROR;
    }
    if (first && im->create) {
        session_report(im->s, NULL,
                       "%s: no record to name the columns of the new table "
                       "%s",
                       im->file, im->table);
        return EXIT_DAEMON_ERROR;
    }
    return import_flush(im);
}

/* Begins the import's transaction: its own, or in the user's, a
 * savepoint. */
static int import_begin(struct import *im)
{
    sqlited *db = im->s->db;

    im->nested = sqlited_tx_id(db) != 0;
    if (im->nested)
        return sqlited_exec(db, "SAVEPOINT sqlited_import", NULL, NULL);
    return sqlited_begin(db, SQLITED_TX_IMMEDIATE);
}

/* Commits (@commit) or rolls back what import_begin() began. A
 * transaction the daemon ended meanwhile applied nothing: there is nothing
 * to roll back, and a commit fails as the statement did. */
static int import_end(struct import *im, bool commit)
{
    sqlited *db = im->s->db;

    if (!im->nested && commit)
        return sqlited_commit(db);
    if (sqlited_tx_id(db) == 0)
        return 0;
    if (!im->nested)
        return sqlited_rollback(db);
    if (!commit)
        sqlited_exec(db, "ROLLBACK TO sqlited_import", NULL, NULL);
    return sqlited_exec(db, "RELEASE sqlited_import", NULL, NULL);
}

static int parse_skip(const struct session *s, const char *arg, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || end == arg || *end || arg[0] == '-') {
        session_report(s, NULL, ".import: --skip takes a number of records: %s",
                       arg);
        return EXIT_DAEMON_ERROR;
    }
    *out = v;
    return 0;
}

#define IMPORT_USAGE ".import [--csv] [--skip N] FILE TABLE"

int import_run(struct session *s, int argc, char **argv)
{
    struct import im = {.s = s};
    const char *args[2];
    int nargs = 0, status = 0;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--csv") == 0)
            continue;
        if (strcmp(argv[i], "--skip") == 0 && i + 1 < argc) {
            if ((status = parse_skip(s, argv[++i], &im.skip)) != 0)
                return status;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            session_report(s, NULL, ".import: unknown option %s (usage: %s)",
                           argv[i], IMPORT_USAGE);
            return EXIT_DAEMON_ERROR;
        } else if (nargs < 2) {
            args[nargs++] = argv[i];
        } else {
            nargs = 3;
        }
    }
    if (nargs != 2) {
        session_report(s, NULL, "usage: %s", IMPORT_USAGE);
        return EXIT_DAEMON_ERROR;
    }
    if (session_tx_state(s) == SESSION_TX_FAILED) {
        session_report(s, NULL,
                       ".import not run: the transaction is over (see "
                       "above); statements are refused until COMMIT or "
                       "ROLLBACK");
        return EXIT_DAEMON_ERROR;
    }
    im.file = args[0];
    im.table = args[1];
    im.csv.path = im.file;
    im.csv.line = 1;

    im.csv.f = fopen(im.file, "rb");
    if (!im.csv.f) {
        session_report(s, NULL, "cannot open %s: %s", im.file, strerror(errno));
        return EXIT_DAEMON_ERROR;
    }
    struct stat st;
    if (fstat(fileno(im.csv.f), &st) == 0 && S_ISREG(st.st_mode))
        im.progress.size = (uint64_t)st.st_size;
    im.progress.on = isatty(STDERR_FILENO);
    im.progress.start_ms = clock_ms();

    if ((status = import_check_table(&im)) != 0)
        goto out;
    if (sqlited_params_open(&im.batch) != 0) {
        status = import_oom(&im);
        goto out;
    }
    int rc = import_begin(&im);
    if (rc) {
        status = report_call_error(s->db, rc);
        goto out;
    }
    status = import_records(&im);
    if (status == 0) {
        rc = import_end(&im, true);
        if (rc) {
            progress_clear(&im.progress);
            status = report_call_error(s->db, rc);
        }
    } else {
        import_end(&im, false);
    }
    if (status == 0 && im.progress.on) {
        progress_draw(&im.progress, im.imported, im.csv.consumed, true);
        fputc('\n', stderr);
    } else if (status) {
        session_report(s, NULL, ".import of %s: nothing was imported", im.file);
    }
out:
    fclose(im.csv.f);
    sqlited_params_close(im.batch);
    free(im.csv.rec.p);
    free(im.csv.ends);
    free(im.insert.p);
    free(im.lines);
    return status;
}
