/* A growable text buffer, and the escaping the CLI's outputs need. */
#ifndef SQLITED_CLI_TEXT_H
#define SQLITED_CLI_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* A buffer that grows as text is added. It starts zeroed ({0}); the owner
 * frees p. After a failed allocation, oom is set and adding does nothing. */
struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
};

void sbuf_add(struct sbuf *b, const void *data, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);

/* Formats a REAL with the fewest digits (15 to 17) that read back as the
 * same double, always recognisable as a REAL ("1.0", not "1"): for JSON,
 * .dump and parameters, which must read back exactly. */
void format_real(double d, char *buf, size_t size);

/* Formats a REAL as the sqlite3 shell shows it in its text modes: SQLite's
 * "%!.15g", 15 significant digits ("3.3" for 1.1*3, "0.333333333333333"),
 * "1.0e+20", "1.0e-07", "Inf", "-Inf", "0.0" for -0.0. Lossy: for display
 * only. @size is at least 32. */
void format_real_shell(double d, char *buf, size_t size);

/* Appends @n bytes as upper-case hex digits (as SQL's quote() writes a
 * BLOB), or lower-case ones (as the sqlite3 shell's .dump does). */
void add_hex(struct sbuf *b, const unsigned char *p, size_t n);
void add_hex_lower(struct sbuf *b, const unsigned char *p, size_t n);

/* Appends @s (@n bytes) as a JSON string; bytes that are not UTF-8 become
 * U+FFFD, so the output is always valid JSON. */
void add_json_string(struct sbuf *b, const char *s, size_t n);

/* Appends @s (@n bytes) as a CSV field (RFC 4180). */
void add_csv_field(struct sbuf *b, const char *s, size_t n);

/* Display width of UTF-8 text in characters (code points). */
size_t text_width(const char *s, size_t n);

#endif
