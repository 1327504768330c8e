#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "rpc.h"
#include "sqlited.h"

/* A string value read from the configuration file, kept as long as the
 * configuration. */
struct config_string {
    struct config_string *next;
    char text[];
};

void config_defaults(struct config *cfg)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    *cfg = (struct config){
        .database = "./var/sqlited.db",
        .socket = SQLITED_DEFAULT_SOCKET,
        .socket_mode = 0660,
        .file_mode = 0600,
        .readers = cpus < 2 ? 2 : (unsigned)cpus,
        .io_threads = cpus < 1                       ? 1
                      : cpus > CONFIG_MAX_IO_THREADS ? CONFIG_MAX_IO_THREADS
                                                     : (unsigned)cpus,
        .synchronous = "FULL",
        .timeout_ms = 30000,
        .max_timeout_ms = 300000,
        .tx_idle_timeout_ms = 5000,
        .tx_max_duration_ms = 60000,
        .group_max = 1024,
        .group_bytes = 16u << 20,
        .chunk_rows = 1000,
        .chunk_bytes = 1u << 20,
        .cursor_idle_timeout_ms = 10000,
        .cursor_max_age_ms = 300000,
        .max_cursors = 64,
        .max_connections = 1024,
        .statement_cache = 64,
        .inline_budget_ms = 1,
        .cache_size = -2000,
        .mmap_size = 0,
        .max_message_size = RPC_MAX_MESSAGE_DEFAULT,
        .max_memory = UINT64_C(256) << 20,
        .shutdown_grace_ms = 10000,
        .wal_checkpoint_bytes = 4 << 20,
        .wal_max_bytes = 0, /* 4 x wal_checkpoint_bytes, set after parsing */
        .wal_idle_timeout_ms = 1000,
        .log_level = LOG_INFO,
    };
}

/* The kinds of value an option takes. */
enum opt_type {
    T_STR,      /* a string: an empty one fails later, when it is used */
    T_PATH,     /* a non-empty string */
    T_SWITCH,   /* a flag without value; true/false in the file */
    T_INT,      /* a decimal integer in [min, max] */
    T_MODE,     /* octal permissions including the bits in min */
    T_SYNC,     /* OFF, NORMAL, FULL or EXTRA, any case */
    T_LEVEL,    /* a log level */
    T_DURATION, /* seconds, or with a unit s, m, h or d */
    T_ADDR,     /* ADDR:PORT */
    T_IDS,      /* a list of uid:N, gid:N, user:NAME, group:NAME */
    T_ACTION,   /* a flag only: --config, --check-config, --help... */
};

/* Added to an option's type: SIGHUP may change it while the daemon runs. */
#define LIVE 0x100
#define TYPE(o) ((enum opt_type)((o)->type & 0xff))

/* One option: its flag, its key in the configuration file (the same name),
 * the field it sets, the values it takes and its line in --help. This
 * table is the only list of options: flags, file keys, --help and
 * --check-config all come from it. */
struct opt {
    const char *name;    /* the long flag without dashes; the file's key */
    char short_name;     /* or 0 */
    const char *arg;     /* what --help calls the value; NULL for a switch */
    unsigned type;       /* enum opt_type, maybe with LIVE */
    size_t offset, size; /* of the field in struct config */
    int64_t min, max;    /* T_INT: the range; T_MODE: min is bits needed */
    const char *explain; /* said after a bad value instead of "(see --help)" */
    const char *help;    /* --help's text, wrapped there */
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define NOFIELD 0, 0

static const struct opt opts[] = {
    {"config", 0, "PATH", T_ACTION, NOFIELD, 0, 0, NULL,
     "read the configuration file PATH: 'key = value' lines, '#' comments, "
     "a key for each option below; flags override it "
     "(default " CONFIG_DEFAULT_FILE " if it exists)"},
    {"check-config", 0, NULL, T_ACTION, NOFIELD, 0, 0, NULL,
     "check the configuration file and the flags, print the effective "
     "configuration and where each value came from, and exit (0: valid, "
     "1: not)"},
    {"database", 'd', "PATH", T_STR, FIELD(database), 0, 0, NULL,
     "database file (default ./var/sqlited.db)"},
    {"socket", 's', "PATH", T_STR, FIELD(socket), 0, 0, NULL,
     "Unix socket (default " SQLITED_DEFAULT_SOCKET ")"},
    {"socket-mode", 0, "MODE", T_MODE, FIELD(socket_mode), 0, 0, NULL,
     "octal permissions of the socket (default 0660)"},
    {"read-only", 0, NULL, T_SWITCH, FIELD(read_only), 0, 0, NULL,
     "serve the database read-only (writes fail); a database the daemon "
     "cannot write needs it"},
    /* The daemon itself must read and write what it creates. */
    {"file-mode", 0, "MODE", T_MODE, FIELD(file_mode), 0600, 0,
     "an octal mode of at most 0777 that lets the owner read and write "
     "(0600 at least)",
     "octal permissions of the database, its -wal and -shm when the daemon "
     "creates them (default 0600)"},
    {"readers", 'r', "N", T_INT, FIELD(readers), 1, 256, NULL,
     "reader threads (default: CPUs, at least 2)"},
    {"io-threads", 0, "N", T_INT, FIELD(io_threads), 1, CONFIG_MAX_IO_THREADS,
     "the number of I/O threads, an integer from 1 to 64",
     "I/O threads, each serving its share of the connections (default: "
     "CPUs; 1 to 64)"},
    {"inline-budget", 0, "MS", T_INT, FIELD(inline_budget_ms), 0, 1000, NULL,
     "a read the I/O loop answers itself runs at most this long, then goes "
     "to a reader; 0 for no inline reads (default 1)"},
    {"synchronous", 0, "LEVEL", T_SYNC, FIELD(synchronous), 0, 0, NULL,
     "OFF, NORMAL, FULL or EXTRA (default FULL)"},
    {"timeout", 0, "MS", T_INT | LIVE, FIELD(timeout_ms), 0, RPC_MAX_TIMEOUT_MS,
     NULL,
     "a request's deadline unless it sets timeout_ms; 0 for --max-timeout "
     "(default 30000)"},
    {"max-timeout", 0, "MS", T_INT | LIVE, FIELD(max_timeout_ms), 1,
     RPC_MAX_TIMEOUT_MS, NULL,
     "cap on every request's deadline, also on timeout_ms 0 (default "
     "300000)"},
    {"tx-idle-timeout", 0, "MS", T_INT | LIVE, FIELD(tx_idle_timeout_ms), 1,
     RPC_MAX_TIMEOUT_MS, NULL,
     "roll back a transaction idle this long (default 5000)"},
    {"tx-max-duration", 0, "MS", T_INT | LIVE, FIELD(tx_max_duration_ms), 0,
     RPC_MAX_TIMEOUT_MS, NULL,
     "roll back a transaction open this long, busy or not; 0 for no limit "
     "(default 60000)"},
    {"group-max", 0, "N", T_INT, FIELD(group_max), 1, 1 << 20, NULL,
     "most requests committed together (default 1024)"},
    {"group-bytes", 0, "B", T_INT, FIELD(group_bytes), 1, INT64_MAX, NULL,
     "most request bytes committed together (default 16777216)"},
    {"chunk-rows", 0, "N", T_INT, FIELD(chunk_rows), 1, RPC_MAX_ITEMS, NULL,
     "rows per chunk of a large result (default 1000)"},
    {"chunk-bytes", 0, "B", T_INT, FIELD(chunk_bytes), 1, (int64_t)1 << 31,
     NULL, "bytes per chunk of a large result (default 1048576)"},
    {"cursor-idle-timeout", 0, "MS", T_INT | LIVE,
     FIELD(cursor_idle_timeout_ms), 1, RPC_MAX_TIMEOUT_MS, NULL,
     "close a cursor not fetched this long (default 10000)"},
    {"cursor-max-age", 0, "MS", T_INT | LIVE, FIELD(cursor_max_age_ms), 1,
     RPC_MAX_TIMEOUT_MS, NULL,
     "end a cursor open this long, fetched or not (default 300000)"},
    {"max-cursors", 0, "N", T_INT | LIVE, FIELD(max_cursors), 0, 1 << 16, NULL,
     "cursors open at once (default 64)"},
    {"max-connections", 0, "N", T_INT | LIVE, FIELD(max_connections), 1,
     1 << 20, NULL, "clients connected at once (default 1024)"},
    {"statement-cache", 0, "N", T_INT, FIELD(statement_cache), 0, 1 << 16, NULL,
     "prepared statements kept per database connection, 0 for none "
     "(default 64)"},
    {"cache-size", 0, "N", T_INT, FIELD(cache_size), INT32_MIN, INT32_MAX, NULL,
     "PRAGMA cache_size: pages, or KiB if negative (default -2000)"},
    {"mmap-size", 0, "BYTES", T_INT, FIELD(mmap_size), 0, INT64_MAX, NULL,
     "PRAGMA mmap_size (default 0)"},
    /* Below 4 KiB not even an error reply with its message fits. */
    {"max-message-size", 0, "B", T_INT, FIELD(max_message_size), 4096,
     (int64_t)1 << 31, NULL, "largest request or response (default 67108864)"},
    {"max-memory", 0, "BYTES", T_INT, FIELD(max_memory), 1, INT64_MAX, NULL,
     "memory held for all clients at once: requests read, in flight, "
     "answers unread; at least twice --max-message-size (default "
     "268435456)"},
    {"shutdown-grace", 0, "MS", T_INT, FIELD(shutdown_grace_ms), 0, INT32_MAX,
     NULL,
     "on SIGTERM, time left to work in flight before it is interrupted "
     "(default 10000)"},
    /* Below a few pages every commit would checkpoint. */
    {"wal-checkpoint-bytes", 0, "B", T_INT, FIELD(wal_checkpoint_bytes), 65536,
     INT64_MAX / 8, NULL,
     "checkpoint (PASSIVE) when the WAL holds this much (default 4194304); "
     "also its size after a checkpoint (journal_size_limit)"},
    {"wal-max-bytes", 0, "B", T_INT, FIELD(wal_max_bytes), 65536, INT64_MAX / 8,
     NULL,
     "past this WAL size, end the oldest cursor or read so a checkpoint can "
     "finish (default 4 x --wal-checkpoint-bytes)"},
    {"wal-idle-timeout", 0, "MS", T_INT, FIELD(wal_idle_timeout_ms), 0,
     RPC_MAX_TIMEOUT_MS, NULL,
     "truncate the WAL once no write came for this long, 0 for never "
     "(default 1000)"},
    {"log-level", 0, "LEVEL", T_LEVEL | LIVE, FIELD(log_level), 0, 0, NULL,
     "error, warn, info or debug (default info)"},
    {"log-file", 0, "PATH", T_PATH, FIELD(log_file), 0, 0, NULL,
     "append the log to PATH, reopened on SIGHUP (default: stderr)"},
    {"http", 0, "ADDR:PORT", T_ADDR, FIELD(http), 0, 0, NULL,
     "serve GET /metrics, /livez and /readyz over HTTP on this numeric "
     "address only (default: off), e.g. 127.0.0.1:9187"},
    {"backup-dir", 0, "DIR", T_PATH, FIELD(backup_dir), 0, 0, NULL,
     "where backups go (created 0700 if missing); no backups without it"},
    {"backup-interval", 0, "T", T_DURATION | LIVE, FIELD(backup_interval_ms), 0,
     0, NULL,
     "take a backup every T: seconds, or with a unit s, m, h or d (default: "
     "none)"},
    {"backup-keep", 0, "N", T_INT | LIVE, FIELD(backup_keep), 0, 1 << 20, NULL,
     "keep the newest N scheduled backups (default 0: all)"},
    {"migrations", 0, "DIR", T_PATH, FIELD(migrations), 0, 0, NULL,
     "apply the migrations in DIR at start-up and serve the migrate method"},
    {"slow-query-ms", 0, "MS", T_INT | LIVE, FIELD(slow_query_ms), 0,
     RPC_MAX_TIMEOUT_MS, NULL,
     "log each request that takes MS or longer, with its SQL, who sent it "
     "and where it ran; 0 for none (default 0)"},
    {"allow-read", 0, "IDS", T_IDS | LIVE, FIELD(allow_read), 0, 0, NULL,
     "clients that may only read: uid:N, gid:N, user:NAME or group:NAME, "
     "separated by commas (default: everyone may do everything while no "
     "allow- list is set)"},
    {"allow-write", 0, "IDS", T_IDS | LIVE, FIELD(allow_write), 0, 0, NULL,
     "clients that may read and write"},
    {"allow-operator", 0, "IDS", T_IDS | LIVE, FIELD(allow_operator), 0, 0,
     NULL,
     "clients that may also run the operator methods (backup, checkpoint, "
     "vacuum, optimize, integrity, migrate); root and the daemon's own "
     "user always may"},
    {"help", 'h', NULL, T_ACTION, NOFIELD, 0, 0, NULL, "show this help"},
    {"version", 'V', NULL, T_ACTION, NOFIELD, 0, 0, NULL, "show the version"},
};

#define NOPTS (sizeof(opts) / sizeof(opts[0]))
static_assert(NOPTS <= CONFIG_MAX_OPTIONS, "raise CONFIG_MAX_OPTIONS");

static const char *const sync_levels[] = {"OFF", "NORMAL", "FULL", "EXTRA"};

/* The column where --help's texts start, and its width. */
#define HELP_COLUMN 29
#define HELP_WIDTH 79

static void usage(FILE *out)
{
    fprintf(out, "usage: sqlited [options]\n"
                 "\n"
                 "Serve one SQLite database to local clients over a Unix "
                 "socket.\n"
                 "\n");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        char head[64];
        int col;
        if (o->short_name)
            col = snprintf(head, sizeof(head), "  -%c, --%s", o->short_name,
                           o->name);
        else
            col = snprintf(head, sizeof(head), "      --%s", o->name);
        if (o->arg)
            col +=
                snprintf(head + col, sizeof(head) - (size_t)col, " %s", o->arg);
        fputs(head, out);
        /* A long head keeps two spaces before its text. */
        int pad = col + 2 > HELP_COLUMN ? 2 : HELP_COLUMN - col;
        fprintf(out, "%*s", pad, "");
        col += pad;
        /* Words wrap at HELP_WIDTH, continuing at HELP_COLUMN. */
        const char *p = o->help;
        for (bool first = true; *p; first = false) {
            size_t word = strcspn(p, " ");
            if (!first && col + 1 + (int)word > HELP_WIDTH) {
                fprintf(out, "\n%*s", HELP_COLUMN, "");
                col = HELP_COLUMN;
            } else if (!first) {
                fputc(' ', out);
                col++;
            }
            fwrite(p, 1, word, out);
            col += (int)word;
            p += word;
            while (*p == ' ')
                p++;
        }
        fputc('\n', out);
    }
}

/* Parses octal permissions, at most 0777, that include the bits @need;
 * returns 0 or -1. */
static int parse_mode(const char *s, mode_t need, mode_t *out)
{
    char *end;
    errno = 0;
    unsigned long mode = strtoul(s, &end, 8);
    if (errno || end == s || *end || s[0] == '-' || mode > 0777 ||
        (mode & need) != need)
        return -1;
    *out = (mode_t)mode;
    return 0;
}

/* Parses a decimal integer in [min, max]; returns 0 or -1. */
static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Parses a duration: seconds, or a number with a unit s, m, h or d, from one
 * second to a year. Returns 0 with milliseconds in *@ms, or -1. */
static int parse_duration(const char *s, uint64_t *ms)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    uint64_t unit = 1000;
    if (errno || end == s || v < 1)
        return -1;
    if (*end != '\0') {
        if (end[1] != '\0')
            return -1;
        switch (*end) {
        case 's':
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        default:
            return -1;
        }
    }
    if ((uint64_t)v > UINT64_C(365) * 86400 * 1000 / unit)
        return -1;
    *ms = (uint64_t)v * unit;
    return 0;
}

/* Parses a switch's value in the configuration file. */
static int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
            *out = strcasecmp(s, yes[i]) == 0;
            return 0;
        }
    }
    return -1;
}

/* Sets @o's field in @cfg from @value, which must outlive @cfg. Returns 0,
 * or -1 when @value is not one @o takes, maybe with the reason in @why
 * (else left empty). */
static int opt_set(const struct opt *o, const char *value, struct config *cfg,
                   char *why, size_t why_len)
{
    void *field = (char *)cfg + o->offset;
    int64_t v;

    switch (TYPE(o)) {
    case T_PATH:
        if (value[0] == '\0')
            return -1;
        /* fall through */
    case T_STR:
        *(const char **)field = value;
        return 0;
    case T_SWITCH:
        return parse_bool(value, (bool *)field);
    case T_INT:
        if (parse_int(value, o->min, o->max, &v))
            return -1;
        if (o->size == sizeof(uint32_t)) {
            uint32_t u = (uint32_t)v;
            memcpy(field, &u, sizeof(u));
        } else {
            assert(o->size == sizeof(int64_t));
            memcpy(field, &v, sizeof(v));
        }
        return 0;
    case T_MODE:
        return parse_mode(value, (mode_t)o->min, (mode_t *)field);
    case T_SYNC:
        for (size_t i = 0; i < sizeof(sync_levels) / sizeof(sync_levels[0]);
             i++) {
            if (strcasecmp(value, sync_levels[i]) == 0) {
                *(const char **)field = sync_levels[i];
                return 0;
            }
        }
        return -1;
    case T_LEVEL:
        return log_parse_level(value, (enum log_level *)field);
    case T_DURATION:
        return parse_duration(value, (uint64_t *)field);
    case T_ADDR:
        if (strrchr(value, ':') == NULL)
            return -1;
        *(const char **)field = value;
        return 0;
    case T_IDS:
        if (access_check_list(value, why, why_len) != 0)
            return -1;
        *(const char **)field = value;
        return 0;
    case T_ACTION:
        break;
    }
    return -1;
}

/* Writes @o's value in @cfg to @buf as the configuration file would give
 * it. Returns false when the option is not set (a path without default). */
static bool opt_format(const struct opt *o, const struct config *cfg, char *buf,
                       size_t size)
{
    const void *field = (const char *)cfg + o->offset;
    const char *s;
    int64_t v;

    switch (TYPE(o)) {
    case T_STR:
    case T_PATH:
    case T_ADDR:
    case T_IDS:
    case T_SYNC:
        s = *(const char *const *)field;
        if (s == NULL)
            return false;
        snprintf(buf, size, "%s", s);
        return true;
    case T_SWITCH:
        snprintf(buf, size, "%s", *(const bool *)field ? "true" : "false");
        return true;
    case T_INT:
        if (o->size == sizeof(uint32_t)) {
            uint32_t u;
            memcpy(&u, field, sizeof(u));
            v = u;
        } else {
            memcpy(&v, field, sizeof(v));
        }
        snprintf(buf, size, "%" PRId64, v);
        return true;
    case T_MODE:
        snprintf(buf, size, "%04o", (unsigned)*(const mode_t *)field);
        return true;
    case T_LEVEL:
        snprintf(buf, size, "%s",
                 log_level_name(*(const enum log_level *)field));
        return true;
    case T_DURATION: {
        uint64_t ms = *(const uint64_t *)field;
        static const struct {
            uint64_t ms;
            char unit;
        } units[] = {{86400000, 'd'}, {3600000, 'h'}, {60000, 'm'}};
        if (ms == 0)
            return false;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (ms % units[i].ms == 0) {
                snprintf(buf, size, "%" PRIu64 "%c", ms / units[i].ms,
                         units[i].unit);
                return true;
            }
        }
        snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
        return true;
    }
    case T_ACTION:
        break;
    }
    return false;
}

/* Says that @value is not one @o takes, because @why (may be empty): for
 * a flag when @file is NULL, else at @file:@line. */
static void bad_value(const struct opt *o, const char *value, const char *why,
                      const char *file, unsigned line)
{
    if (file)
        fprintf(stderr, "sqlited: %s:%u: invalid value '%s' for %s", file, line,
                value, o->name);
    else
        fprintf(stderr, "sqlited: invalid value '%s' for --%s", value, o->name);
    if (why && why[0])
        fprintf(stderr, ": %s\n", why);
    else if (o->explain)
        fprintf(stderr, ": %s\n", o->explain);
    else
        fprintf(stderr, " (see --help)\n");
}

/* Copies @len bytes of @s into a string owned by @cfg. */
static const char *keep_string(struct config *cfg, const char *s, size_t len)
{
    struct config_string *str = malloc(sizeof(*str) + len + 1);
    if (str == NULL)
        return NULL;
    memcpy(str->text, s, len);
    str->text[len] = '\0';
    str->next = cfg->strings;
    cfg->strings = str;
    return str->text;
}

void config_free(struct config *cfg)
{
    while (cfg->strings) {
        struct config_string *next = cfg->strings->next;
        free(cfg->strings);
        cfg->strings = next;
    }
}

/* Trims blanks from both ends of [*@s, *@s + *@len). */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && isspace((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && isspace((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* The option a file's key names (dashes or underscores), or NULL. */
static const struct opt *find_key(const char *key, size_t len)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const char *name = opts[i].name;
        if (TYPE(&opts[i]) == T_ACTION || strlen(name) != len)
            continue;
        size_t j = 0;
        while (j < len &&
               (key[j] == name[j] || (key[j] == '_' && name[j] == '-')))
            j++;
        if (j == len)
            return &opts[i];
    }
    return NULL;
}

/* Applies one line @lineno of the configuration file @path: a comment, a
 * blank line or "key = value", with an optional comment after it. A key already
 * set by a flag keeps the flag's value, but the file's is checked all the same.
 * @seen holds the line where each option was set in the file. Returns 0 or -1
 * after saying what is wrong. */
static int apply_line(struct config *cfg, const char *path, unsigned lineno,
                      const char *line, size_t len, unsigned *seen)
{
    /* A '#' at the start or after a blank begins a comment. */
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '#' && (i == 0 || isblank((unsigned char)line[i - 1]))) {
            len = i;
            break;
        }
    }
    trim(&line, &len);
    if (len == 0)
        return 0;
    const char *eq = memchr(line, '=', len);
    if (eq == NULL) {
        fprintf(stderr, "sqlited: %s:%u: expected 'key = value', not '%.*s'\n",
                path, lineno, (int)len, line);
        return -1;
    }
    const char *key = line, *value = eq + 1;
    size_t key_len = (size_t)(eq - line), value_len = len - key_len - 1;
    trim(&key, &key_len);
    trim(&value, &value_len);
    const struct opt *o = find_key(key, key_len);
    if (o == NULL) {
        fprintf(stderr,
                "sqlited: %s:%u: unknown key '%.*s' (see sqlited --help)\n",
                path, lineno, (int)key_len, key);
        return -1;
    }
    size_t i = (size_t)(o - opts);
    if (seen[i]) {
        fprintf(stderr, "sqlited: %s:%u: %s is set twice (first on line %u)\n",
                path, lineno, o->name, seen[i]);
        return -1;
    }
    seen[i] = lineno;
    const char *copy = keep_string(cfg, value, value_len);
    if (copy == NULL) {
        fprintf(stderr, "sqlited: %s:%u: out of memory\n", path, lineno);
        return -1;
    }
    struct config scratch = *cfg;
    char why[256] = "";
    if (opt_set(o, copy, &scratch, why, sizeof(why)) != 0) {
        bad_value(o, copy, why, path, lineno);
        return -1;
    }
    if (cfg->origin[i].source != CONFIG_FLAG) {
        memcpy((char *)cfg + o->offset, (char *)&scratch + o->offset, o->size);
        cfg->origin[i] = (struct config_origin){CONFIG_FILE, lineno};
    }
    return 0;
}

/* Reads the configuration file @path into @cfg under the flags already
 * there. Every line with a mistake is reported. Returns 0 or -1. */
static int read_file(struct config *cfg, const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        fprintf(stderr, "sqlited: cannot read the configuration file %s: %s\n",
                path, strerror(errno));
        return -1;
    }
    unsigned seen[NOPTS] = {0}, lineno = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (memchr(line, '\0', (size_t)len) != NULL) {
            fprintf(stderr, "sqlited: %s:%u: a NUL byte: not a text file\n",
                    path, lineno);
            rc = -1;
            break;
        }
        if (apply_line(cfg, path, lineno, line, (size_t)len, seen) != 0)
            rc = -1;
    }
    if (ferror(f)) {
        fprintf(stderr, "sqlited: cannot read the configuration file %s: %s\n",
                path, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* The checks between options, once all are known; fills in what depends
 * on others. Returns 0 or -1 after printing the problem. */
static int check(struct config *cfg)
{
    /* One message of the largest size, and the answers of others beside. */
    if (cfg->max_memory < 2 * (uint64_t)cfg->max_message_size) {
        fprintf(stderr,
                "sqlited: --max-memory %" PRIu64
                " is below twice --max-message-size %zu (see --help)\n",
                cfg->max_memory, cfg->max_message_size);
        return -1;
    }
    if (cfg->wal_max_bytes == 0)
        cfg->wal_max_bytes = 4 * cfg->wal_checkpoint_bytes;
    if (cfg->wal_max_bytes < cfg->wal_checkpoint_bytes) {
        fprintf(stderr,
                "sqlited: --wal-max-bytes %" PRId64
                " is below --wal-checkpoint-bytes %" PRId64 " (see --help)\n",
                cfg->wal_max_bytes, cfg->wal_checkpoint_bytes);
        return -1;
    }
    if (cfg->timeout_ms > cfg->max_timeout_ms) {
        fprintf(stderr,
                "sqlited: --timeout %" PRIu32 " is above --max-timeout %" PRIu32
                " (see --help)\n",
                cfg->timeout_ms, cfg->max_timeout_ms);
        return -1;
    }
    if (cfg->backup_interval_ms > 0 && cfg->backup_dir == NULL) {
        fprintf(stderr, "sqlited: --backup-interval needs --backup-dir (where "
                        "the backups go)\n");
        return -1;
    }
    /* A chunk ends after the row that fills it: leave room for that row. */
    if (cfg->chunk_bytes > cfg->max_message_size / 2)
        cfg->chunk_bytes = cfg->max_message_size / 2;
    return 0;
}

/* The table entry of a short flag. */
static const struct opt *find_short(int c)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (opts[i].short_name == c)
            return &opts[i];
    return NULL;
}

int config_parse(struct config *cfg, int argc, char **argv)
{
    struct option longopts[NOPTS + 1];
    char shorts[1 + 2 * NOPTS + 1], *sp = shorts;
    const char *path = NULL;
    char why[256] = "";

    cfg->argc = argc;
    cfg->argv = argv;
    *sp++ = ':';
    for (size_t i = 0; i < NOPTS; i++) {
        longopts[i] = (struct option){
            opts[i].name, opts[i].arg ? required_argument : no_argument, NULL,
            256 + (int)i};
        if (opts[i].short_name) {
            *sp++ = opts[i].short_name;
            if (opts[i].arg)
                *sp++ = ':';
        }
    }
    longopts[NOPTS] = (struct option){NULL, 0, NULL, 0};
    *sp = '\0';

    /* Known before any error, so that the exit status is --check-config's. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--check-config") == 0)
            cfg->check_config = true;

    opterr = 0;
    optind = 0; /* glibc: start afresh, also after an earlier parse */
    int c;
    while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        const struct opt *o = c >= 256 ? &opts[c - 256] : NULL;
        if (c == ':') {
            fprintf(stderr, "sqlited: option %s needs a value\n",
                    argv[optind - 1]);
            return -1;
        }
        if (o == NULL && (c == '?' || (o = find_short(c)) == NULL)) {
            fprintf(stderr, "sqlited: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (TYPE(o) == T_ACTION) {
            if (strcmp(o->name, "help") == 0) {
                usage(stdout);
                return 1;
            }
            if (strcmp(o->name, "version") == 0) {
                printf("sqlited %s\n", SQLITED_VERSION);
                return 1;
            }
            if (strcmp(o->name, "config") == 0) {
                if (optarg[0] == '\0') {
                    bad_value(o, optarg, NULL, NULL, 0);
                    return -1;
                }
                path = optarg;
            }
            continue; /* --check-config: seen above */
        }
        if (TYPE(o) == T_SWITCH)
            *(bool *)((char *)cfg + o->offset) = true;
        else if (opt_set(o, optarg, cfg, why, sizeof(why)) != 0) {
            bad_value(o, optarg, why, NULL, 0);
            return -1;
        }
        cfg->origin[o - opts] = (struct config_origin){CONFIG_FLAG, 0};
    }
    if (optind < argc) {
        fprintf(stderr, "sqlited: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return -1;
    }

    /* A file named by --config must be there; the default one may not. */
    if (path == NULL && access(CONFIG_DEFAULT_FILE, F_OK) == 0)
        path = CONFIG_DEFAULT_FILE;
    if (path != NULL) {
        if (read_file(cfg, path) != 0)
            return -1;
        cfg->config_file = path;
    }
    return check(cfg);
}

void config_print(const struct config *cfg, FILE *out)
{
    char value[512], from[512];

    fprintf(out, "# sqlited %s: the effective configuration (%s%s)\n",
            SQLITED_VERSION,
            cfg->config_file ? "configuration file " : "no configuration file",
            cfg->config_file ? cfg->config_file : "");
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (TYPE(o) == T_ACTION)
            continue;
        switch (cfg->origin[i].source) {
        case CONFIG_FILE:
            snprintf(from, sizeof(from), "%s:%u", cfg->config_file,
                     cfg->origin[i].line);
            break;
        case CONFIG_FLAG:
            snprintf(from, sizeof(from), "flag --%s", o->name);
            break;
        default:
            snprintf(from, sizeof(from), "default");
        }
        char line[1100];
        if (opt_format(o, cfg, value, sizeof(value)))
            snprintf(line, sizeof(line), "%s = %s", o->name, value);
        else
            snprintf(line, sizeof(line), "# %s is not set", o->name);
        fprintf(out, "%-40s # %s\n", line, from);
    }
}

/* Copies @o's field from @from to @to with one atomic store, for the
 * threads that read it meanwhile with CONFIG_LIVE(). */
static void copy_live(const struct opt *o, struct config *to,
                      const struct config *from)
{
    void *dst = (char *)to + o->offset;
    const void *src = (const char *)from + o->offset;
    switch (o->size) {
    case 1: {
        uint8_t v;
        memcpy(&v, src, 1);
        __atomic_store_n((uint8_t *)dst, v, __ATOMIC_RELAXED);
        break;
    }
    case 4: {
        uint32_t v;
        memcpy(&v, src, 4);
        __atomic_store_n((uint32_t *)dst, v, __ATOMIC_RELAXED);
        break;
    }
    default: {
        static_assert(sizeof(const char *) == sizeof(uint64_t),
                      "a pointer is copied as 8 bytes");
        uint64_t v;
        memcpy(&v, src, 8);
        __atomic_store_n((uint64_t *)dst, v, __ATOMIC_RELAXED);
        break;
    }
    }
}

int config_reload(struct config *live)
{
    struct config next;
    char before[512], after[512];
    int changed = 0, restart = 0;

    config_defaults(&next);
    if (config_parse(&next, live->argc, live->argv) != 0) {
        log_error("SIGHUP: configuration not reloaded: it has mistakes "
                  "(above); nothing changed");
        config_free(&next);
        return -1;
    }
    for (size_t i = 0; i < NOPTS; i++) {
        const struct opt *o = &opts[i];
        if (TYPE(o) == T_ACTION)
            continue;
        if (!opt_format(o, live, before, sizeof(before)))
            snprintf(before, sizeof(before), "(not set)");
        if (!opt_format(o, &next, after, sizeof(after)))
            snprintf(after, sizeof(after), "(not set)");
        if (strcmp(before, after) == 0)
            continue;
        /* At warn: the operator sees them at any --log-level but error. */
        if (!(o->type & LIVE)) {
            log_warn("SIGHUP: %s changed from %s to %s, which takes a "
                     "restart: still %s until then",
                     o->name, before, after, before);
            restart++;
            continue;
        }
        copy_live(o, live, &next);
        live->origin[i] = next.origin[i];
        log_warn("SIGHUP: %s changed from %s to %s", o->name, before, after);
        changed++;
    }
    /* The new values may point into the file's strings: keep them all. */
    struct config_string **tail = &next.strings;
    while (*tail)
        tail = &(*tail)->next;
    *tail = live->strings;
    live->strings = next.strings;
    log_warn("SIGHUP: configuration reloaded: %d changed, %d would take a "
             "restart",
             changed, restart);
    return changed;
}
