/* The interactive shell: a prompt naming the socket, line editing, history
 * and completion through libedit, statements over several lines until their
 * ';', dot-commands, and Ctrl-C that cancels what is typed or interrupts
 * what runs. */
#include <ctype.h>
#include <errno.h>
#include <histedit.h>
#include <locale.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"
#include "dot.h"
#include "quote.h"
#include "script.h"
#include "shell.h"
#include "text.h"

/* History entries kept, in memory and in the file. */
#define HISTORY_SIZE 1000

/* The prompt while a statement is typed over several lines (writable:
 * libedit's prompt function returns a char *). */
static char continuation_prompt[] = "   ...> ";
static char fallback_prompt[] = "sqlited> ";

/* ---------------------------------------------------------------- Ctrl-C */

/* Set by the SIGINT handler; cleared before each read and each statement. */
static volatile sig_atomic_t interrupted;

/* The connection a statement or dot-command runs on, NULL while the shell
 * reads: the handler interrupts the call waiting on it. Written only by the
 * main thread outside the handler; a pointer store is atomic on the
 * platforms libsqlited supports. */
static sqlited *volatile running;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    /* Async-signal-safe: the call waiting on it asks the daemon to stop the
     * request, and returns SQLITED_INTERRUPTED; the connection stays. */
    sqlited_interrupt(running);
}

/* While the shell reads, Ctrl-C must end the terminal's read() so that
 * el_gets() returns and the typed statement is dropped: no SA_RESTART.
 * While a statement runs, libsqlited restarts its own waits on EINTR, and
 * SA_RESTART keeps the writes of the output from failing with EINTR. */
static void catch_sigint(bool restart)
{
    struct sigaction sa = {.sa_handler = on_sigint};

    sigemptyset(&sa.sa_mask);
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGINT, &sa, NULL);
}

/* ------------------------------------------------------- keys typed ahead */

/* While a statement runs, the terminal is in libedit's "execute" mode,
 * canonical: what is typed meanwhile waits in the line discipline, and
 * libedit reads it at the next prompt (the next statement typed ahead runs
 * then, as in sqlite3 and psql). But a canonical terminal takes Ctrl-D as
 * end-of-file, which it keeps as no byte at all (an empty end of line), so
 * a Ctrl-D typed ahead would be gone by the time libedit reads, and the
 * shell would not leave. So while something runs, Ctrl-D is an ordinary
 * key (VEOF off): it waits as \004, which libedit then reads as its own
 * end-of-file key. VEOF is put back before libedit takes the terminal
 * again, so that libedit finds it as it left it. */
static cc_t saved_veof;
static bool veof_off;

static void typeahead_keep_eof(void)
{
    struct termios t;

    if (veof_off || tcgetattr(STDIN_FILENO, &t) != 0 || !(t.c_lflag & ICANON) ||
        t.c_cc[VEOF] == _POSIX_VDISABLE)
        return;
    saved_veof = t.c_cc[VEOF];
    t.c_cc[VEOF] = _POSIX_VDISABLE;
    /* TCSANOW: nothing typed is flushed. */
    veof_off = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0;
}

static void typeahead_restore_eof(void)
{
    struct termios t;

    if (!veof_off)
        return;
    veof_off = false;
    if (tcgetattr(STDIN_FILENO, &t) == 0) {
        t.c_cc[VEOF] = saved_veof;
        tcsetattr(STDIN_FILENO, TCSANOW, &t);
    }
}

/* ------------------------------------------------------------- the shell */

/* A table or view of the database, or one of its columns, for completion. */
struct schema_name {
    char *table;
    char *column; /* NULL: the table itself */
};

struct shell {
    struct session *s;
    const char *path;
    FILE *out; /* prompts, the banner and completion lists */
    EditLine *el;
    History *hist;
    HistEvent ev;
    char *hist_path; /* NULL: the history is not kept in a file */
    bool hist_warned;
    bool cancelled;   /* Ctrl-C ended the line being read */
    bool tx_noted;    /* the note on the daemon's transaction limits shown */
    struct sbuf stmt; /* the statement typed so far, lines joined by \n */
    char *prompt;
    /* The tables and columns, asked from the daemon at the first Tab after
     * a statement that may have changed them. */
    bool schema_loaded;
    struct schema_name *names;
    size_t nnames, capnames;
};

/* What the prompt shows of the user's transaction: '*' open (psql's
 * "=*>"), '!' failed (statements are refused until ROLLBACK). */
static const char *tx_mark(const struct session *s)
{
    switch (session_tx_state(s)) {
    case SESSION_TX_OPEN:
        return "*";
    case SESSION_TX_FAILED:
        return "!";
    default:
        return "";
    }
}

/* The first time the shell finds a transaction open (a BEGIN, typed or
 * from --cmd), a note, once per session: someone at a prompt pauses, and
 * the daemon, whose only writer the transaction holds, does not wait for
 * them. Its limits come from the handshake; a daemon that did not send
 * them gets the flags' defaults named. Scripts never come here. */
static void tx_note(struct shell *sh)
{
    int64_t idle = sqlited_tx_idle_timeout(sh->s->db);
    int64_t max = sqlited_tx_max_duration(sh->s->db);

    if (sh->tx_noted || session_tx_state(sh->s) != SESSION_TX_OPEN)
        return;
    sh->tx_noted = true;
    fprintf(stderr,
            "%s: note: an open transaction holds the daemon's only writer: "
            "it is rolled back once idle for ",
            PROG);
    if (idle < 0 || max < 0) {
        fputs("--tx-idle-timeout (5 s by default) or open for "
              "--tx-max-duration (60 s by default)\n",
              stderr);
        return;
    }
    fprintf(stderr, "%g s (--tx-idle-timeout)", (double)idle / 1000);
    if (max > 0)
        fprintf(stderr, " or open for %g s (--tx-max-duration)",
                (double)max / 1000);
    fputc('\n', stderr);
}

static char *prompt_fn(EditLine *el)
{
    struct shell *sh;

    el_get(el, EL_CLIENTDATA, &sh);
    if (sh->stmt.len > 0)
        return continuation_prompt;
    free(sh->prompt);
    if (asprintf(&sh->prompt, "sqlited %s%s> ", sh->path, tx_mark(sh->s)) < 0)
        sh->prompt = NULL;
    return sh->prompt ? sh->prompt : fallback_prompt;
}

/* -------------------------------------------------------------- history */

/* $SQLITED_HISTORY (empty: no file), else ~/.sqlited_history when HOME is
 * a directory we may write into, else none (malloc'd or NULL). */
static char *history_path(void)
{
    const char *p = getenv("SQLITED_HISTORY");
    const char *home = getenv("HOME");
    struct stat st;
    char *path;

    if (p)
        return *p ? strdup(p) : NULL;
    if (!home || home[0] != '/' || stat(home, &st) != 0 ||
        !S_ISDIR(st.st_mode) || access(home, W_OK | X_OK) != 0)
        return NULL;
    if (asprintf(&path, "%s/.sqlited_history", home) < 0)
        return NULL;
    return path;
}

static void history_open(struct shell *sh)
{
    sh->hist = history_init();
    if (!sh->hist)
        return;
    history(sh->hist, &sh->ev, H_SETSIZE, HISTORY_SIZE);
    history(sh->hist, &sh->ev, H_SETUNIQUE, 1);
    sh->hist_path = history_path();
    /* A file that is not there yet is not an error. */
    if (sh->hist_path)
        history(sh->hist, &sh->ev, H_LOAD, sh->hist_path);
    el_set(sh->el, EL_HIST, history, sh->hist);
}

/* Records @entry (a statement, with its newlines, or a dot-command) and
 * writes the history file at once, so that a shell that is killed loses
 * nothing. An entry that starts with a space is not recorded, like bash's
 * and psql's ignorespace. */
static void history_add(struct shell *sh, const char *entry)
{
    if (!sh->hist || entry[0] == ' ' || entry[0] == '\0')
        return;
    history(sh->hist, &sh->ev, H_ENTER, entry);
    if (sh->hist_path &&
        history(sh->hist, &sh->ev, H_SAVE, sh->hist_path) < 0 &&
        !sh->hist_warned) {
        fprintf(stderr, "%s: cannot write the history to %s\n", PROG,
                sh->hist_path);
        sh->hist_warned = true;
    }
}

/* ----------------------------------------------------------- completion */

static void schema_free(struct shell *sh)
{
    for (size_t i = 0; i < sh->nnames; i++) {
        free(sh->names[i].table);
        free(sh->names[i].column);
    }
    free(sh->names);
    sh->names = NULL;
    sh->nnames = sh->capnames = 0;
    sh->schema_loaded = false;
}

static bool schema_add(struct shell *sh, const char *table, const char *column)
{
    if (sh->nnames == sh->capnames) {
        size_t cap = sh->capnames ? sh->capnames * 2 : 64;
        struct schema_name *p = realloc(sh->names, cap * sizeof(*p));
        if (!p)
            return false;
        sh->names = p;
        sh->capnames = cap;
    }
    struct schema_name *n = &sh->names[sh->nnames];
    n->table = strdup(table);
    n->column = column ? strdup(column) : NULL;
    if (!n->table || (column && !n->column)) {
        free(n->table);
        free(n->column);
        return false;
    }
    sh->nnames++;
    return true;
}

/* Asks the daemon for the tables and views and their columns, through the
 * public API. A failure leaves the list empty until the next statement:
 * completion then offers keywords only. */
static void schema_load(struct shell *sh)
{
    static const char sql[] =
        "SELECT m.name, p.name FROM sqlite_schema AS m "
        "JOIN pragma_table_info(m.name) AS p "
        "WHERE m.type IN ('table', 'view') ORDER BY m.name, p.cid";
    sqlited_rows *rows = NULL;

    schema_free(sh);
    sh->schema_loaded = true;
    if (sqlited_query(sh->s->db, sql, NULL, &rows) != 0) {
        sqlited_rows_close(rows);
        return;
    }
    /* Each table's entry comes before those of its columns. */
    while (sqlited_rows_next(rows) == SQLITED_ROW) {
        const char *table = sqlited_column_text(rows, 0);
        const char *column = sqlited_column_text(rows, 1);
        if (!table || !column)
            continue;
        if ((sh->nnames == 0 ||
             strcmp(sh->names[sh->nnames - 1].table, table) != 0) &&
            !schema_add(sh, table, NULL))
            break;
        if (!schema_add(sh, table, column))
            break;
    }
    sqlited_rows_close(rows);
}

/* The candidates for one completion. */
struct cands {
    char **v;
    size_t n, cap;
    bool oom;
};

static void cands_add(struct cands *c, const char *prefix, size_t plen,
                      const char *s, size_t len)
{
    char *copy;

    if (c->oom)
        return;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        char **p = realloc(c->v, cap * sizeof(*p));
        if (!p) {
            c->oom = true;
            return;
        }
        c->v = p;
        c->cap = cap;
    }
    copy = malloc(plen + len + 1);
    if (!copy) {
        c->oom = true;
        return;
    }
    memcpy(copy, prefix, plen);
    memcpy(copy + plen, s, len);
    copy[plen + len] = '\0';
    c->v[c->n++] = copy;
}

static void cands_free(struct cands *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the candidates and drops repeats (a column in several tables). */
static void cands_sort(struct cands *c)
{
    size_t k = 0;

    qsort(c->v, c->n, sizeof(*c->v), cmp_str);
    for (size_t i = 0; i < c->n; i++) {
        if (k > 0 && strcmp(c->v[k - 1], c->v[i]) == 0)
            free(c->v[i]);
        else
            c->v[k++] = c->v[i];
    }
    c->n = k;
}

static bool is_word_byte(unsigned char c)
{
    return isalnum(c) || c == '_' || c == '$' || c == '.' || c >= 0x80;
}

/* Where the word that ends at @end starts, reading the line from @line: a
 * run of name bytes and double-quoted identifiers, as in "my tab".col or
 * "my t (an identifier still open). Inside a string literal, only the name
 * bytes before @end. */
static const char *word_start(const char *line, const char *end)
{
    const char *w = NULL;
    bool in_ident = false, in_string = false;

    /* From the start of the line: only there is it known whether a quote
     * opens or closes. A doubled quote ("" or '') closes and opens again. */
    for (const char *p = line; p < end; p++) {
        if (in_string) {
            in_string = *p != '\'';
        } else if (in_ident) {
            in_ident = *p != '"';
        } else if (*p == '\'') {
            in_string = true;
            w = NULL;
        } else if (*p == '"') {
            in_ident = true;
            w = w ? w : p;
        } else if (is_word_byte((unsigned char)*p)) {
            w = w ? w : p;
        } else {
            w = NULL;
        }
    }
    if (in_string)
        for (w = end; w > line && is_word_byte((unsigned char)w[-1]);)
            w--;
    return w ? w : end;
}

/* The first '.' of the word @w (@len bytes) outside double quotes, the one
 * of table.column; NULL when there is none. */
static const char *word_dot(const char *w, size_t len)
{
    bool quoted = false;

    for (size_t i = 0; i < len; i++) {
        if (w[i] == '"')
            quoted = !quoted;
        else if (w[i] == '.' && !quoted)
            return w + i;
    }
    return NULL;
}

/* Appends to @b, NUL-terminated, the name that the identifier @s (@n
 * bytes, as typed) stands for: without its double quotes, a doubled one
 * read as one ("my tab", "my t and my tab read my tab, my t, my tab).
 * Returns whether @s is quoted and its quote closed. */
static bool unquote(struct sbuf *b, const char *s, size_t n)
{
    bool closed = false;

    if (n == 0 || s[0] != '"') {
        sbuf_add(b, s, n);
    } else {
        for (size_t i = 1; i < n && !closed; i++) {
            if (s[i] != '"')
                sbuf_add(b, s + i, 1);
            else if (i + 1 < n && s[i + 1] == '"')
                sbuf_add(b, s + i++, 1);
            else
                closed = true;
        }
    }
    sbuf_add(b, "", 1);
    return closed;
}

/* Adds the candidate @prefix (@plen bytes) followed by the identifier
 * @name, quoted when it needs it (quote_identifier()) or when @quote. */
static void cands_add_name(struct cands *c, const char *prefix, size_t plen,
                           const char *name, bool quote)
{
    struct sbuf b = {0};

    quote_identifier(&b, name);
    if (quote && !b.oom && b.p[0] != '"') {
        /* A plain name: no double quote to double. */
        b.len = 0;
        sbuf_add(&b, "\"", 1);
        sbuf_adds(&b, name);
        sbuf_add(&b, "\"", 1);
    }
    if (b.oom)
        c->oom = true;
    else
        cands_add(c, prefix, plen, b.p, b.len);
    free(b.p);
}

/* Adds the candidates for the word @w (@len bytes) in the SQL: keywords
 * (in the case the word is typed in), tables and columns; after "table."
 * the columns of that table. A name that is no plain identifier is
 * offered in double quotes, and so is every name when the word (or the
 * part after "table.") starts with one: it is matched without them, and a
 * name is offered only whole when they are closed. Sets *@plen to the
 * bytes of the word before the part completed ("table.", else none). */
static void complete_sql(struct shell *sh, const char *w, size_t len,
                         struct cands *c, size_t *plen)
{
    const char *dot = word_dot(w, len);
    const char *part = dot ? dot + 1 : w;
    struct sbuf prefix = {0}, table = {0};

    *plen = (size_t)(part - w);
    size_t tlen = len - *plen;
    bool quoted = tlen > 0 && part[0] == '"';
    bool whole = unquote(&prefix, part, tlen);
    if (dot)
        unquote(&table, w, (size_t)(dot - w));
    if (prefix.oom || table.oom) {
        c->oom = true;
        goto out;
    }
    if (!sh->schema_loaded)
        schema_load(sh);
    for (size_t i = 0; i < sh->nnames; i++) {
        const struct schema_name *n = &sh->names[i];
        const char *name = n->column ? n->column : n->table;
        if (dot && (!n->column || strcasecmp(n->table, table.p) != 0))
            continue;
        if (whole ? strcasecmp(name, prefix.p) == 0
                  : strncasecmp(name, prefix.p, prefix.len - 1) == 0)
            cands_add_name(c, w, *plen, name, quoted);
    }
    if (dot || quoted)
        goto out;
    bool lower = len > 0 && islower((unsigned char)w[0]);
    for (int i = 0; i < sqlite3_keyword_count(); i++) {
        const char *kw;
        int kwlen;
        char buf[64];
        if (sqlite3_keyword_name(i, &kw, &kwlen) != SQLITE_OK ||
            kwlen >= (int)sizeof(buf) || (size_t)kwlen < len ||
            strncasecmp(kw, w, len) != 0)
            continue;
        for (int k = 0; k < kwlen; k++)
            buf[k] = (char)(lower ? tolower((unsigned char)kw[k]) : kw[k]);
        cands_add(c, "", 0, buf, (size_t)kwlen);
    }
out:
    free(prefix.p);
    free(table.p);
}

/* Prints the candidates under the line, in columns as wide as the
 * terminal. */
static void cands_print(FILE *out, const struct cands *c)
{
    struct winsize ws;
    size_t width = 0, cols, rows, term = 80;

    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        term = ws.ws_col;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->v[i]) > width)
            width = strlen(c->v[i]);
    width += 2;
    cols = term / width ? term / width : 1;
    rows = (c->n + cols - 1) / cols;
    fputc('\n', out);
    for (size_t r = 0; r < rows; r++) {
        for (size_t k = 0; k < cols; k++) {
            size_t i = k * rows + r;
            if (i >= c->n)
                break;
            if (k + 1 == cols || i + rows >= c->n)
                fputs(c->v[i], out);
            else
                fprintf(out, "%-*s", (int)width, c->v[i]);
        }
        fputc('\n', out);
    }
}

/* The characters (not bytes) of @s, @n bytes in the terminal's encoding:
 * what el_deletestr() counts. */
static int char_count(const char *s, size_t n)
{
    mbstate_t st = {0};
    int k = 0;

    while (n > 0) {
        size_t r = mbrlen(s, n, &st);
        if (r == 0 || r > n) /* NUL, or not a character: a byte */
            r = 1;
        s += r;
        n -= r;
        k++;
    }
    return k;
}

/* How many bytes the candidates agree on (ignoring case), cut back so as
 * not to end inside a UTF-8 character, nor (several candidates) just after
 * the quote that would close the identifier ("a" of "a" and "a""b"). */
static size_t cands_common(const struct cands *c, size_t plen)
{
    size_t common = strlen(c->v[0]);
    struct sbuf b = {0};

    for (size_t i = 1; i < c->n; i++) {
        size_t k = 0;
        while (k < common && c->v[i][k] &&
               tolower((unsigned char)c->v[i][k]) ==
                   tolower((unsigned char)c->v[0][k]))
            k++;
        common = k;
    }
    while (common > 0 && ((unsigned char)c->v[0][common] & 0xC0) == 0x80)
        common--;
    if (c->n > 1 && common > plen && unquote(&b, c->v[0] + plen, common - plen))
        common--;
    free(b.p);
    return common;
}

/* Replaces the @len bytes before the cursor with @n bytes of @s. */
static bool replace_before(EditLine *el, const char *typed, size_t len,
                           const char *s, size_t n)
{
    char *copy = strndup(s, n);
    bool ok = copy != NULL;

    if (ok) {
        el_deletestr(el, char_count(typed, len));
        ok = el_insertstr(el, copy) == 0;
    }
    free(copy);
    return ok;
}

/* Tab: completes the word before the cursor. One candidate is inserted
 * with a space after it; several are completed as far as they agree, and
 * listed when they agree no further; none rings the bell. What was typed
 * stays as typed when the candidates extend it; when they quote it (my to
 * "my tab"), the part being completed gives way to them. */
static unsigned char complete(EditLine *el, int ch)
{
    struct shell *sh;
    const LineInfo *li = el_line(el);
    const char *start = word_start(li->buffer, li->cursor);
    const char *first = li->buffer;
    struct cands c = {0};
    size_t plen = 0;
    unsigned char ret = CC_ERROR;

    (void)ch;
    el_get(el, EL_CLIENTDATA, &sh);
    while (first < li->cursor && isspace((unsigned char)*first))
        first++;
    size_t len = (size_t)(li->cursor - start);

    if (sh->stmt.len == 0 && start == first && len > 0 && *start == '.') {
        /* A dot-command's name. */
        const char *name;
        for (size_t i = 0; (name = dot_command_name(i)) != NULL; i++)
            if (strncmp(name, start + 1, len - 1) == 0)
                cands_add(&c, ".", 1, name, strlen(name));
    } else {
        complete_sql(sh, start, len, &c, &plen);
    }
    if (c.oom || c.n == 0)
        goto out;
    cands_sort(&c);
    size_t common = cands_common(&c, plen);
    bool extends = common >= len && strncasecmp(c.v[0], start, len) == 0;
    if (c.n == 1) {
        bool ok = extends
                      ? el_insertstr(el, c.v[0] + len) == 0
                      : replace_before(el, start + plen, len - plen,
                                       c.v[0] + plen, strlen(c.v[0]) - plen);
        if (ok && el_insertstr(el, " ") == 0)
            ret = CC_REFRESH;
        goto out;
    }
    if (extends && common > len) {
        char *more = strndup(c.v[0] + len, common - len);
        if (more && el_insertstr(el, more) == 0)
            ret = CC_REFRESH;
        free(more);
        goto out;
    }
    if (!extends && common > plen) {
        /* Quoted, they may still agree on more than was typed: "my t of
         * "my tab" and "my tub" for my. */
        struct sbuf typed = {0}, agreed = {0};
        unquote(&typed, start + plen, len - plen);
        unquote(&agreed, c.v[0] + plen, common - plen);
        bool more = !typed.oom && !agreed.oom && agreed.len > typed.len;
        free(typed.p);
        free(agreed.p);
        if (more) {
            if (replace_before(el, start + plen, len - plen, c.v[0] + plen,
                               common - plen))
                ret = CC_REFRESH;
            goto out;
        }
    }
    cands_print(sh->out, &c);
    ret = CC_REDISPLAY;
out:
    cands_free(&c);
    return ret;
}

/* Ctrl-C while typing: ends the line like Enter, marked as cancelled, so
 * that the loop drops the statement typed so far. */
static unsigned char cancel_line(EditLine *el, int ch)
{
    struct shell *sh;

    (void)ch;
    el_get(el, EL_CLIENTDATA, &sh);
    sh->cancelled = true;
    fputs("^C\n", sh->out);
    return CC_NEWLINE;
}

/* -------------------------------------------------------------- running */

/* Whether @sql may change the schema: anything but a query. The tables and
 * columns are then asked again at the next Tab. */
static bool may_change_schema(const char *sql)
{
    static const char *const reads[] = {"SELECT", "VALUES", "EXPLAIN"};

    while (isspace((unsigned char)*sql))
        sql++;
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        size_t n = strlen(reads[i]);
        if (strncasecmp(sql, reads[i], n) == 0 &&
            !isalnum((unsigned char)sql[n]) && sql[n] != '_')
            return false;
    }
    return true;
}

/* Runs the statement or dot-command @what with Ctrl-C interrupting it.
 * Returns what dot_run() returns for a dot-command, else the statement's
 * exit status (reported already). */
static int run(struct shell *sh, const char *what, bool dot)
{
    int rc;

    catch_sigint(true);
    interrupted = 0;
    /* Not for the commands that may read the terminal themselves (.read
     * /dev/stdin, .import /dev/stdin t), which need Ctrl-D to end it. */
    if (dot &&
        (strncmp(what, ".read", 5) == 0 || strncmp(what, ".import", 7) == 0))
        typeahead_restore_eof();
    running = sh->s->db;
    rc = dot ? dot_run(sh->s, what) : script_run_text(sh->s, what, NULL);
    running = NULL;
    fflush(sh->s->pr.out);
    if (dot || may_change_schema(what))
        schema_free(sh);
    tx_note(sh);
    return rc;
}

/* Whether the lines typed so far end a statement: sqlite3_complete() knows
 * where one ends (not at a ';' inside a string, a comment or a trigger's
 * body). */
static bool statement_complete(struct shell *sh)
{
    return sh->stmt.len > 0 && sqlite3_complete(sh->stmt.p);
}

static void banner(struct shell *sh)
{
    fprintf(sh->out,
            "%s %s on %s (sqlited %s, SQLite %s); enter .help for usage "
            "hints\n",
            PROG, SQLITED_VERSION, sh->path, sqlited_server_version(sh->s->db),
            sqlited_sqlite_version(sh->s->db));
}

/* Reads and runs until .quit or the end of input. */
static int shell_loop(struct shell *sh)
{
    for (;;) {
        const char *line;
        int n = 0;

        catch_sigint(false);
        interrupted = 0;
        fflush(stdout);
        errno = 0;
        sh->cancelled = false;
        /* The editor's terminal mode before the prompt shows, not after
         * (libedit's own order): a key typed as soon as the prompt shows is
         * then read as a key, not taken as a signal or as the end of a
         * canonical line. */
        typeahead_restore_eof();
        el_set(sh->el, EL_PREP_TERM, 1);
        line = el_gets(sh->el, &n);
        /* At once: a key may already be on its way. */
        typeahead_keep_eof();
        if (sh->cancelled || (!line && n < 0 && errno == EINTR)) {
            /* Ctrl-C: drop what was typed, like psql. */
            sh->stmt.len = 0;
            continue;
        }
        if (!line || n == 0) {
            fputc('\n', sh->out);
            if (n < 0)
                fprintf(stderr, "%s: cannot read the terminal: %s\n", PROG,
                        strerror(errno ? errno : EIO));
            if (sh->stmt.len > 0) {
                /* Never run silently what was never finished. */
                const char *nl = memchr(sh->stmt.p, '\n', sh->stmt.len);
                int first = nl ? (int)(nl - sh->stmt.p) : (int)sh->stmt.len;
                fprintf(stderr,
                        "%s: end of input inside a statement, not run: "
                        "%.*s%s\n",
                        PROG, first, sh->stmt.p,
                        nl && nl + 1 < sh->stmt.p + sh->stmt.len ? " ..." : "");
                return EXIT_DAEMON_ERROR;
            }
            return n < 0 ? EXIT_DAEMON_ERROR : 0;
        }
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (memchr(line, '\0', len)) {
            fprintf(stderr, "%s: a NUL byte in the line; not run\n", PROG);
            continue;
        }
        if (sh->stmt.len == 0) {
            size_t lead = 0;
            while (lead < len && isspace((unsigned char)line[lead]))
                lead++;
            if (lead == len)
                continue; /* an empty line */
            if (line[lead] == '.') {
                char *cmd = strndup(line, len);
                if (!cmd) {
                    fprintf(stderr, "%s: %s\n", PROG, strerror(ENOMEM));
                    continue;
                }
                history_add(sh, cmd);
                int rc = run(sh, cmd + lead, true);
                free(cmd);
                if (rc == DOT_QUIT)
                    return 0;
                if (output_reader_gone())
                    return rc;
                continue;
            }
        }
        sbuf_add(&sh->stmt, line, len);
        sbuf_add(&sh->stmt, "\n", 1);
        sbuf_add(&sh->stmt, "", 1);
        if (sh->stmt.oom) {
            fprintf(stderr, "%s: %s; the statement is dropped\n", PROG,
                    strerror(ENOMEM));
            free(sh->stmt.p);
            sh->stmt = (struct sbuf){0};
            continue;
        }
        sh->stmt.len--; /* the NUL stays, outside the length */
        if (!statement_complete(sh))
            continue;
        sh->stmt.p[sh->stmt.len - 1] = '\0'; /* its last newline */
        history_add(sh, sh->stmt.p);
        int status = run(sh, sh->stmt.p, false);
        sh->stmt.len = 0;
        if (output_reader_gone())
            return status; /* `sqlited-cli | head`: nobody reads any more */
        if (status == EXIT_USAGE || sh->s->broken) {
            /* The connection is gone (failure_status()): nothing more can
             * run on it, and a transaction open on it is over. */
            fprintf(stderr,
                    "%s: the connection to %s is lost; leaving the shell\n",
                    PROG, sh->path);
            return EXIT_USAGE;
        }
    }
}

int shell_main(struct session *s, const char *path)
{
    struct shell sh = {.s = s, .path = path};
    struct sigaction old;
    int status;

    s->interrupted = &interrupted;
    s->pr.interrupted = &interrupted;

    /* libedit reads and shows multibyte characters in the terminal's
     * encoding; nothing else depends on the locale's character type. */
    setlocale(LC_CTYPE, "");
    sh.out = isatty(STDOUT_FILENO) ? stdout : stderr;
    sh.el = el_init(PROG, stdin, sh.out, stderr);
    if (!sh.el) {
        fprintf(stderr, "%s: cannot start the line editor\n", PROG);
        return EXIT_DAEMON_ERROR;
    }
    el_set(sh.el, EL_CLIENTDATA, &sh);
    el_set(sh.el, EL_EDITOR, "emacs");
    el_set(sh.el, EL_PROMPT, prompt_fn);
    el_set(sh.el, EL_ADDFN, "sqlited-complete",
           "complete keywords, tables, columns and dot-commands", complete);
    el_set(sh.el, EL_BIND, "^I", "sqlited-complete", NULL);
    /* While a line is edited, Ctrl-C is a key, not a signal: a signal that
     * came between the editor's taking the terminal and its read() would
     * be lost; a key waits to be read. */
    el_set(sh.el, EL_SETTY, "-d", "-intr", "intr=", NULL);
    el_set(sh.el, EL_ADDFN, "sqlited-cancel", "drop the statement being typed",
           cancel_line);
    el_set(sh.el, EL_BIND, "^C", "sqlited-cancel", NULL);
    history_open(&sh);
    /* The user's ~/.editrc, as every libedit program reads it. */
    el_source(sh.el, NULL);

    sigaction(SIGINT, NULL, &old);
    banner(&sh);
    tx_note(&sh); /* --cmd BEGIN */
    status = shell_loop(&sh);
    typeahead_restore_eof();
    sigaction(SIGINT, &old, NULL);

    el_end(sh.el);
    if (sh.hist)
        history_end(sh.hist);
    schema_free(&sh);
    free(sh.hist_path);
    free(sh.stmt.p);
    free(sh.prompt);
    return status;
}
