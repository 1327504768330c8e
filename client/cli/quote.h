/* SQL identifiers and text literals, written as the sqlite3 shell writes
 * them. */
#ifndef SQLITED_CLI_QUOTE_H
#define SQLITED_CLI_QUOTE_H

#include <stddef.h>

#include "text.h"

/* Appends @name as a SQL identifier: as it is when it is a plain word
 * ([A-Za-z_][A-Za-z0-9_]*) and no SQLite keyword, else in double quotes
 * with its double quotes doubled. */
void quote_identifier(struct sbuf *b, const char *name);

/* Appends TEXT @s (@n bytes) as a SQL expression that reads back as the
 * same bytes: 'it''s'. Newlines and carriage returns become markers that
 * replace() puts back, as in the sqlite3 shell's .dump, so that line
 * breaks are the statement's own; text holding a NUL byte, which no string
 * literal can, becomes CAST(X'...' AS TEXT). */
void quote_text(struct sbuf *b, const char *s, size_t n);

#endif
