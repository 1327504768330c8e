#include "sqltext.h"

#include <sqlite3.h>
#include <string.h>

/* Skips what SQLite's tokenizer skips between statements: white space,
 * semicolons and comments. Returns where the next statement starts. */
static const char *skip_filler(const char *p, const char *end)
{
    while (p < end) {
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\f' || *p == '\r' ||
            *p == ';') {
            p++;
        } else if (*p == '-' && p + 1 < end && p[1] == '-') {
            while (p < end && *p != '\n')
                p++;
        } else if (*p == '/' && p + 1 < end && p[1] == '*') {
            for (p += 2; p < end && !(*p == '*' && p + 1 < end && p[1] == '/');)
                p++;
            p = p < end ? p + 2 : end; /* an open comment runs to the end */
        } else {
            return p;
        }
    }
    return end;
}

bool sqltext_only_filler(const char *p, const char *end)
{
    return skip_filler(p, end) == end;
}

const char *sqltext_word(const char *p, const char *end, const char *word)
{
    const size_t n = strlen(word);
    p = skip_filler(p, end);
    if ((size_t)(end - p) < n || sqlite3_strnicmp(p, word, (int)n) != 0)
        return NULL;
    p += n;
    if (p < end &&
        (*p == '_' || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
         (*p >= 'A' && *p <= 'Z') || (unsigned char)*p >= 0x80))
        return NULL;
    return p;
}

/* True when the statement at @p starts with the keyword @word. */
static bool starts_with(const char *p, const char *end, const char *word)
{
    return sqltext_word(p, end, word) != NULL;
}

/* True when the statement at @p is VACUUM, which cannot run inside a
 * transaction. */
bool sqltext_is_vacuum(const char *p, const char *end)
{
    return starts_with(p, end, "vacuum");
}

/* True when the statement at @p is a PRAGMA. */
bool sqltext_is_pragma(const char *p, const char *end)
{
    return starts_with(p, end, "pragma");
}

/* True when the statement at @p may be SAVEPOINT, RELEASE or ROLLBACK TO
 * (a plain ROLLBACK the authorizer refuses all the same). */
bool sqltext_is_savepoint(const char *p, const char *end)
{
    return starts_with(p, end, "savepoint") || starts_with(p, end, "release") ||
           starts_with(p, end, "rollback");
}
