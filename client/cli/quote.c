/* SQL identifiers and text literals, written as the sqlite3 shell writes
 * them: for .dump's statements and .import's. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quote.h"

/* ----------------------------------------------------------- identifiers */

/* SQLite's keywords (https://sqlite.org/lang_keywords.html), sorted: a
 * name that is one of them is quoted, as the sqlite3 shell does. */
static const char *const keywords[] = {
    "ABORT",
    "ACTION",
    "ADD",
    "AFTER",
    "ALL",
    "ALTER",
    "ALWAYS",
    "ANALYZE",
    "AND",
    "AS",
    "ASC",
    "ATTACH",
    "AUTOINCREMENT",
    "BEFORE",
    "BEGIN",
    "BETWEEN",
    "BY",
    "CASCADE",
    "CASE",
    "CAST",
    "CHECK",
    "COLLATE",
    "COLUMN",
    "COMMIT",
    "CONFLICT",
    "CONSTRAINT",
    "CREATE",
    "CROSS",
    "CURRENT",
    "CURRENT_DATE",
    "CURRENT_TIME",
    "CURRENT_TIMESTAMP",
    "DATABASE",
    "DEFAULT",
    "DEFERRABLE",
    "DEFERRED",
    "DELETE",
    "DESC",
    "DETACH",
    "DISTINCT",
    "DO",
    "DROP",
    "EACH",
    "ELSE",
    "END",
    "ESCAPE",
    "EXCEPT",
    "EXCLUDE",
    "EXCLUSIVE",
    "EXISTS",
    "EXPLAIN",
    "FAIL",
    "FILTER",
    "FIRST",
    "FOLLOWING",
    "FOR",
    "FOREIGN",
    "FROM",
    "FULL",
    "GENERATED",
    "GLOB",
    "GROUP",
    "GROUPS",
    "HAVING",
    "IF",
    "IGNORE",
    "IMMEDIATE",
    "IN",
    "INDEX",
    "INDEXED",
    "INITIALLY",
    "INNER",
    "INSERT",
    "INSTEAD",
    "INTERSECT",
    "INTO",
    "IS",
    "ISNULL",
    "JOIN",
    "KEY",
    "LAST",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MATCH",
    "MATERIALIZED",
    "NATURAL",
    "NO",
    "NOT",
    "NOTHING",
    "NOTNULL",
    "NULL",
    "NULLS",
    "OF",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OTHERS",
    "OUTER",
    "OVER",
    "PARTITION",
    "PLAN",
    "PRAGMA",
    "PRECEDING",
    "PRIMARY",
    "QUERY",
    "RAISE",
    "RANGE",
    "RECURSIVE",
    "REFERENCES",
    "REGEXP",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPLACE",
    "RESTRICT",
    "RETURNING",
    "RIGHT",
    "ROLLBACK",
    "ROW",
    "ROWS",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "TABLE",
    "TEMP",
    "TEMPORARY",
    "THEN",
    "TIES",
    "TO",
    "TRANSACTION",
    "TRIGGER",
    "UNBOUNDED",
    "UNION",
    "UNIQUE",
    "UPDATE",
    "USING",
    "VACUUM",
    "VALUES",
    "VIEW",
    "VIRTUAL",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHOUT",
};

static int keyword_cmp(const void *key, const void *elem)
{
    const char *a = key, *b = *(const char *const *)elem;
    for (; *a && *b; a++, b++) {
        int ca = *a >= 'a' && *a <= 'z' ? *a - 32 : *a;
        if (ca != *b)
            return ca - *b;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static bool is_keyword(const char *name)
{
    return bsearch(name, keywords, sizeof(keywords) / sizeof(*keywords),
                   sizeof(*keywords), keyword_cmp) != NULL;
}

void quote_identifier(struct sbuf *b, const char *name)
{
    bool plain = (*name >= 'a' && *name <= 'z') ||
                 (*name >= 'A' && *name <= 'Z') || *name == '_';

    for (const char *p = name; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || *p == '_';
    if (plain && !is_keyword(name)) {
        sbuf_adds(b, name);
        return;
    }
    sbuf_add(b, "\"", 1);
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            sbuf_add(b, "\"", 1);
        sbuf_add(b, p, 1);
    }
    sbuf_add(b, "\"", 1);
}

static bool holds(const char *s, size_t n, const char *what)
{
    size_t k = strlen(what);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(s + i, what, k) == 0)
            return true;
    return false;
}

/* A marker for @c in a text that holds neither @a nor @b (nor the other
 * marker @taken): the sqlite3 shell's unused_string(). */
static void unused_marker(const char *s, size_t n, const char *a, const char *b,
                          const char *taken, char *out, size_t size)
{
    if (!holds(s, n, a) && strcmp(a, taken) != 0) {
        snprintf(out, size, "%s", a);
        return;
    }
    if (!holds(s, n, b) && strcmp(b, taken) != 0) {
        snprintf(out, size, "%s", b);
        return;
    }
    for (unsigned i = 1;; i++) {
        snprintf(out, size, "(%s%u)", b, i);
        if (!holds(s, n, out) && strcmp(out, taken) != 0)
            return;
    }
}

/* Appends TEXT @s (@n bytes) as a SQL literal that reads back as the same
 * bytes: 'it''s'. As the sqlite3 shell does, newlines and carriage returns
 * are written as markers put back by replace(), so that every statement's
 * line breaks are the dump's own; text holding a NUL byte, which no SQL
 * string literal can, is written as CAST(X'...' AS TEXT). */
void quote_text(struct sbuf *b, const char *s, size_t n)
{
    if (memchr(s, '\0', n)) {
        sbuf_adds(b, "CAST(X'");
        add_hex(b, (const unsigned char *)s, n);
        sbuf_adds(b, "' AS TEXT)");
        return;
    }
    bool nl = memchr(s, '\n', n) != NULL, cr = memchr(s, '\r', n) != NULL;
    char nl_mark[32] = "", cr_mark[32] = "";
    if (nl)
        unused_marker(s, n, "\\n", "\\012", "", nl_mark, sizeof(nl_mark));
    if (cr)
        unused_marker(s, n, "\\r", "\\015", nl_mark, cr_mark, sizeof(cr_mark));
    if (nl)
        sbuf_adds(b, "replace(");
    if (cr)
        sbuf_adds(b, "replace(");
    sbuf_add(b, "'", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            sbuf_add(b, "''", 2);
        else if (s[i] == '\n')
            sbuf_adds(b, nl_mark);
        else if (s[i] == '\r')
            sbuf_adds(b, cr_mark);
        else
            sbuf_add(b, s + i, 1);
    }
    sbuf_add(b, "'", 1);
    if (nl) {
        sbuf_adds(b, ",'");
        sbuf_adds(b, nl_mark);
        sbuf_adds(b, "',char(10))");
    }
    if (cr) {
        sbuf_adds(b, ",'");
        sbuf_adds(b, cr_mark);
        sbuf_adds(b, "',char(13))");
    }
}
