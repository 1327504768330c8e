/* What SQLite skips between statements, and the keywords the daemon looks
 * for at a statement's start, read from SQL text without preparing it. */
#ifndef SQLITED_SQLTEXT_H
#define SQLITED_SQLTEXT_H

#include <stdbool.h>

/* True when [@p, @end) holds only what SQLite skips between statements:
 * white space, semicolons and comments. */
bool sqltext_only_filler(const char *p, const char *end);

/* Skips filler at @p and matches the keyword or identifier @word there,
 * ignoring case. Returns where the word ends, or NULL when it is not there
 * (or is only the start of a longer word). */
const char *sqltext_word(const char *p, const char *end, const char *word);

/* True when the statement at @p is VACUUM, which cannot run inside a
 * transaction. */
bool sqltext_is_vacuum(const char *p, const char *end);

/* True when the statement at @p is a PRAGMA. */
bool sqltext_is_pragma(const char *p, const char *end);

/* True when the statement at @p may be SAVEPOINT, RELEASE or ROLLBACK TO
 * (a plain ROLLBACK the authorizer refuses all the same). */
bool sqltext_is_savepoint(const char *p, const char *end);

#endif /* SQLITED_SQLTEXT_H */
