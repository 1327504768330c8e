/* .param's named parameters: parsing their values the way sqlite3's shell
 * does, and finding the ones a statement names so that exactly those are
 * bound (the daemon refuses a value for a parameter the statement lacks). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "params.h"
#include "quote.h"
#include "text.h"

struct param {
    char *name;
    int type; /* SQLITED_INTEGER, _FLOAT, _TEXT, _BLOB or _NULL */
    int64_t i;
    double d;
    char *data; /* text or blob */
    size_t len;
};

static void param_free(struct param *v)
{
    free(v->name);
    free(v->data);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads @s (@n bytes, trimmed) into @v as .param set does. */
static int parse_value(struct param *v, const char *s, size_t n, char *err,
                       size_t errsize)
{
    char buf[64], *end;

    if (n == 4 && strncasecmp(s, "null", 4) == 0) {
        v->type = SQLITED_NULL;
        return 0;
    }
    if (n >= 2 && s[0] == '\'') {
        /* 'text', with '' standing for one quote. */
        if (s[n - 1] != '\'') {
            snprintf(err, errsize, "unterminated quoted text: %.*s",
                     (int)(n > 64 ? 64 : n), s);
            return -EINVAL;
        }
        if (!(v->data = malloc(n)))
            return -ENOMEM;
        size_t k = 0;
        for (size_t j = 1; j < n - 1; j++) {
            if (s[j] == '\'' && (j + 1 >= n - 1 || s[j + 1] != '\'')) {
                snprintf(err, errsize,
                         "a quote inside quoted text must be doubled: %.*s",
                         (int)(n > 64 ? 64 : n), s);
                return -EINVAL;
            }
            v->data[k++] = s[j];
            if (s[j] == '\'')
                j++;
        }
        v->type = SQLITED_TEXT;
        v->len = k;
        return 0;
    }
    if (n >= 3 && (s[0] == 'x' || s[0] == 'X') && s[1] == '\'') {
        size_t digits = n - 3;
        if (s[n - 1] != '\'' || digits % 2 != 0) {
            snprintf(err, errsize,
                     "a BLOB is X'...' with an even number of hex digits: "
                     "%.*s",
                     (int)(n > 64 ? 64 : n), s);
            return -EINVAL;
        }
        if (!(v->data = malloc(digits / 2 + 1)))
            return -ENOMEM;
        for (size_t j = 0; j < digits; j += 2) {
            int hi = hexval((unsigned char)s[2 + j]);
            int lo = hexval((unsigned char)s[3 + j]);
            if (hi < 0 || lo < 0) {
                snprintf(err, errsize, "not a hex digit in %.*s",
                         (int)(n > 64 ? 64 : n), s);
                return -EINVAL;
            }
            v->data[j / 2] = (char)(hi << 4 | lo);
        }
        v->type = SQLITED_BLOB;
        v->len = digits / 2;
        return 0;
    }
    if (n > 0 && n < sizeof(buf) &&
        (isdigit((unsigned char)s[0]) || s[0] == '-' || s[0] == '+' ||
         s[0] == '.')) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        errno = 0;
        bool hex = n > 2 && buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X');
        if (hex) {
            uint64_t u = strtoull(buf + 2, &end, 16);
            if (!errno && *end == '\0' && end != buf + 2) {
                v->type = SQLITED_INTEGER;
                v->i = (int64_t)u; /* as SQLite reads 0xFFFFFFFFFFFFFFFF: -1 */
                return 0;
            }
        } else {
            long long ll = strtoll(buf, &end, 10);
            if (!errno && *end == '\0') {
                v->type = SQLITED_INTEGER;
                v->i = ll;
                return 0;
            }
            errno = 0;
            double d = strtod(buf, &end);
            /* strtod also reads "inf", "nan" and hex floats; SQL has none
             * of them, so such words stay text. */
            if (*end == '\0' && !strpbrk(buf, "xXiInN")) {
                v->type = SQLITED_FLOAT;
                v->d = d;
                return 0;
            }
        }
    }
    /* Any other word is the text itself, as in sqlite3's shell. */
    if (!(v->data = malloc(n + 1)))
        return -ENOMEM;
    memcpy(v->data, s, n);
    v->type = SQLITED_TEXT;
    v->len = n;
    return 0;
}

static bool name_char(unsigned char c)
{
    return isalnum(c) || c == '_' || c >= 0x80;
}

/* Where @name is in @p, or where it would go (*@found false). */
static size_t find(const struct params *p, const char *name, bool *found)
{
    size_t lo = 0, hi = p->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(p->v[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

int params_set(struct params *p, const char *name, const char *value, char *err,
               size_t errsize)
{
    struct param v = {0};
    const char *bare = strchr(":@$", name[0]) && name[0] ? name + 1 : name;
    size_t n = strlen(value);
    bool found;
    int rc;

    if (!*bare) {
        snprintf(err, errsize, "a parameter needs a name: %s", name);
        return -EINVAL;
    }
    for (const char *c = bare; *c; c++) {
        if (!name_char((unsigned char)*c)) {
            snprintf(err, errsize,
                     "a parameter name is letters, digits and _ after its "
                     ":, @ or $: %s",
                     name);
            return -EINVAL;
        }
    }
    while (n > 0 && isspace((unsigned char)*value)) {
        value++;
        n--;
    }
    while (n > 0 && isspace((unsigned char)value[n - 1]))
        n--;
    if ((rc = parse_value(&v, value, n, err, errsize)) != 0) {
        if (rc == -ENOMEM)
            snprintf(err, errsize, "%s", strerror(ENOMEM));
        param_free(&v);
        return rc;
    }
    if (!(v.name = strdup(name))) {
        param_free(&v);
        snprintf(err, errsize, "%s", strerror(ENOMEM));
        return -ENOMEM;
    }
    size_t at = find(p, name, &found);
    if (found) {
        param_free(&p->v[at]);
        p->v[at] = v;
        return 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        struct param *nv = realloc(p->v, cap * sizeof(*nv));
        if (!nv) {
            param_free(&v);
            snprintf(err, errsize, "%s", strerror(ENOMEM));
            return -ENOMEM;
        }
        p->v = nv;
        p->cap = cap;
    }
    memmove(&p->v[at + 1], &p->v[at], (p->n - at) * sizeof(*p->v));
    p->v[at] = v;
    p->n++;
    return 0;
}

int params_unset(struct params *p, const char *name)
{
    bool found;
    size_t at = find(p, name, &found);

    if (!found)
        return 0;
    param_free(&p->v[at]);
    memmove(&p->v[at], &p->v[at + 1], (p->n - at - 1) * sizeof(*p->v));
    p->n--;
    return 1;
}

void params_clear(struct params *p)
{
    for (size_t i = 0; i < p->n; i++)
        param_free(&p->v[i]);
    free(p->v);
    *p = (struct params){0};
}

void params_list(const struct params *p, FILE *out)
{
    int w = 0;

    for (size_t i = 0; i < p->n; i++) {
        size_t len = strlen(p->v[i].name);
        if (len > (size_t)w)
            w = len > 1000 ? 1000 : (int)len;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct param *v = &p->v[i];
        struct sbuf b = {0};
        char num[64];
        switch (v->type) {
        case SQLITED_INTEGER:
            snprintf(num, sizeof(num), "%" PRId64, v->i);
            sbuf_adds(&b, num);
            break;
        case SQLITED_FLOAT:
            format_real(v->d, num, sizeof(num));
            sbuf_adds(&b, num);
            break;
        case SQLITED_TEXT:
            quote_text(&b, v->data, v->len);
            break;
        case SQLITED_BLOB:
            sbuf_adds(&b, "X'");
            add_hex(&b, (const unsigned char *)v->data, v->len);
            sbuf_adds(&b, "'");
            break;
        default:
            sbuf_adds(&b, "NULL");
            break;
        }
        fprintf(out, "%-*s %.*s\n", w, v->name, b.oom ? 0 : (int)b.len,
                b.p ? b.p : "");
        free(b.p);
    }
}

/* Skips the SQL token at @s that cannot hold a parameter (a string, a
 * quoted name, a comment) and returns where it ends; @s itself when there
 * is none there. */
static const char *skip_quoted(const char *s)
{
    char close;

    switch (*s) {
    case '\'':
    case '"':
    case '`':
        close = *s;
        break;
    case '[':
        close = ']';
        break;
    case '-':
        if (s[1] != '-')
            return s;
        {
            const char *e = strchr(s, '\n');
            return e ? e + 1 : s + strlen(s);
        }
    case '/':
        if (s[1] != '*')
            return s;
        {
            const char *e = strstr(s + 2, "*/");
            return e ? e + 2 : s + strlen(s);
        }
    default:
        return s;
    }
    /* A doubled closing quote stands for one and does not end it. */
    for (s++; *s; s++) {
        if (*s == close) {
            if (close != ']' && s[1] == close) {
                s++;
                continue;
            }
            return s + 1;
        }
    }
    return s;
}

/* Adds the value of parameter @tok (@len bytes, with its prefix) if it is
 * set and not added yet. */
static int bind_one(const struct params *p, sqlited_params *list,
                    const char *tok, size_t len, char **seen, size_t *nseen)
{
    char name[256];
    const struct param *v = NULL;
    bool found;

    if (len >= sizeof(name))
        return 0;
    memcpy(name, tok, len);
    name[len] = '\0';
    for (size_t i = 0; i < *nseen; i++)
        if (strcmp(seen[i], name) == 0)
            return 0;
    size_t at = find(p, name, &found);
    if (!found)
        at = find(p, name + 1, &found); /* set without its prefix */
    if (!found)
        return 0;
    v = &p->v[at];
    if (!(seen[*nseen] = strdup(name)))
        return -ENOMEM;
    (*nseen)++;
    switch (v->type) {
    case SQLITED_INTEGER:
        return sqlited_params_add_int64(list, name, v->i);
    case SQLITED_FLOAT:
        return sqlited_params_add_double(list, name, v->d);
    case SQLITED_TEXT:
        return sqlited_params_add_text(list, name, v->data, (int64_t)v->len);
    case SQLITED_BLOB:
        return sqlited_params_add_blob(list, name, v->data, (int64_t)v->len);
    default:
        return sqlited_params_add_null(list, name);
    }
}

int params_bind(const struct params *p, const char *sql, sqlited_params **out)
{
    sqlited_params *list = NULL;
    char **seen = NULL;
    size_t nseen = 0;
    int rc = 0;

    *out = NULL;
    if (p->n == 0)
        return 0;
    if ((rc = sqlited_params_open(&list)) != 0)
        return rc;
    /* A name set without its prefix binds each spelling the statement
     * uses (:n, @n and $n): at most three names bound per value. */
    size_t most = 3 * p->n;
    if (!(seen = calloc(most, sizeof(*seen)))) {
        sqlited_params_close(list);
        return -ENOMEM;
    }
    for (const char *s = sql; *s && rc == 0 && nseen < most;) {
        const char *e = skip_quoted(s);
        if (e != s) {
            s = e;
        } else if (name_char((unsigned char)*s)) {
            /* A word (a name, a keyword, a number): '$' may be part of it
             * after its first character, as in SQLite's tokenizer. */
            while (name_char((unsigned char)*s) || *s == '$')
                s++;
        } else if (strchr(":@$", *s) && name_char((unsigned char)s[1])) {
            e = s + 1;
            while (name_char((unsigned char)*e))
                e++;
            rc = bind_one(p, list, s, (size_t)(e - s), seen, &nseen);
            s = e;
        } else {
            s++;
        }
    }
    for (size_t i = 0; i < nseen; i++)
        free(seen[i]);
    free(seen);
    if (rc != 0 || sqlited_params_count(list) == 0) {
        sqlited_params_close(list);
        return rc;
    }
    *out = list;
    return 0;
}
