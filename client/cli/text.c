/* The CLI's growable text buffer, and the escaping every output needs:
 * JSON strings, CSV fields, REALs (as the sqlite3 shell shows them, or in
 * every digit that reads back), hex for BLOBs. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "text.h"

void sbuf_add(struct sbuf *b, const void *data, size_t n)
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

void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

/* Formats a REAL with the fewest digits (15 to 17) that read back as the
 * same double, always recognisable as a REAL ("1.0", not "1"). */
void format_real(double d, char *buf, size_t size)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, d);
        if (strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".e") && !strstr(buf, "inf") && !strstr(buf, "nan"))
        strncat(buf, ".0", size - strlen(buf) - 1);
}

/* sqlite3's own printf, so that every corner (Inf, -0.0, the exponent's
 * two digits) is the shell's: its "!" flag keeps a REAL recognisable
 * ("1.0", "1.0e+20"). */
void format_real_shell(double d, char *buf, size_t size)
{
    sqlite3_snprintf(size > INT_MAX ? INT_MAX : (int)size, buf, "%!.15g", d);
}

static void hex_digits(struct sbuf *b, const unsigned char *p, size_t n,
                       const char digits[16])
{
    for (size_t i = 0; i < n; i++) {
        char h[2] = {digits[p[i] >> 4], digits[p[i] & 15]};
        sbuf_add(b, h, 2);
    }
}

void add_hex(struct sbuf *b, const unsigned char *p, size_t n)
{
    hex_digits(b, p, n, "0123456789ABCDEF");
}

void add_hex_lower(struct sbuf *b, const unsigned char *p, size_t n)
{
    hex_digits(b, p, n, "0123456789abcdef");
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
void add_json_string(struct sbuf *b, const char *s, size_t n)
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

/* Appends @s as a CSV field (RFC 4180): quoted when it holds a comma, a
 * quote, CR or LF, with quotes doubled. */
void add_csv_field(struct sbuf *b, const char *s, size_t n)
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
size_t text_width(const char *s, size_t n)
{
    size_t w = 0;

    for (size_t i = 0; i < n; i++)
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    return w;
}
