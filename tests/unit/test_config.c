/* The daemon's command line (daemon/config.c): the defaults, each flag's
 * good values and the bad ones it refuses, with the message that names the
 * flag, and the checks between flags. Flags are tested one by one, so a
 * flag added later needs tests of its own and breaks none of these. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/config.h"
#include "config_args.h"
#include "rpc.h"
#include "sqlited.h"

/* What the last parse() printed. */
static char out[16384], err[1024];

/* Runs config_parse() on "sqlited" and @args (NULL-terminated) over the
 * defaults in @cfg, keeping what it prints in out and err. */
static int parse_args(struct config *cfg, const char *const *args)
{
    return config_parse_captured(cfg, args, out, sizeof(out), err, sizeof(err));
}

#define PARSE(cfg, ...)                                                        \
    parse_args(cfg, (const char *const[]){__VA_ARGS__, NULL})

/* Fails unless the arguments are refused with exactly @message. */
#define REFUSED(message, ...)                                                  \
    do {                                                                       \
        struct config refused_cfg;                                             \
        cr_assert_eq(PARSE(&refused_cfg, __VA_ARGS__), -1, "accepted: %s",     \
                     #__VA_ARGS__);                                            \
        cr_assert_str_eq(err, message, "%s", #__VA_ARGS__);                    \
    } while (0)

Test(config, defaults)
{
    struct config c;
    cr_assert_eq(PARSE(&c, NULL), 0);
    cr_assert_str_empty(err);
    cr_assert_str_eq(c.database, "./var/sqlited.db");
    cr_assert_str_eq(c.socket, SQLITED_DEFAULT_SOCKET);
    cr_assert_eq(c.socket_mode, 0660);
    cr_assert_eq(c.file_mode, 0600);
    cr_assert_not(c.read_only);
    cr_assert_null(c.log_file);
    cr_assert_geq(c.readers, 2);
    cr_assert_str_eq(c.synchronous, "FULL");
    cr_assert_eq(c.timeout_ms, 30000);
    cr_assert_eq(c.max_timeout_ms, 300000);
    cr_assert_eq(c.tx_idle_timeout_ms, 5000);
    cr_assert_eq(c.tx_max_duration_ms, 60000);
    cr_assert_eq(c.group_max, 1024);
    cr_assert_eq(c.group_bytes, 16u << 20);
    cr_assert_eq(c.chunk_rows, 1000);
    cr_assert_eq(c.chunk_bytes, 1u << 20);
    cr_assert_eq(c.cursor_idle_timeout_ms, 10000);
    cr_assert_eq(c.cursor_max_age_ms, 300000);
    cr_assert_eq(c.max_cursors, 64);
    cr_assert_eq(c.max_connections, 1024);
    cr_assert_eq(c.statement_cache, 64);
    cr_assert_eq(c.inline_budget_ms, 1);
    cr_assert_eq(c.cache_size, -2000);
    cr_assert_eq(c.mmap_size, 0);
    cr_assert_eq(c.max_message_size, RPC_MAX_MESSAGE_DEFAULT);
    cr_assert_eq(c.max_memory, UINT64_C(256) << 20);
    cr_assert_eq(c.shutdown_grace_ms, 10000);
    cr_assert_eq(c.wal_checkpoint_bytes, 4 << 20);
    cr_assert_eq(c.wal_max_bytes, 16 << 20, "4 x --wal-checkpoint-bytes");
    cr_assert_eq(c.wal_idle_timeout_ms, 1000);
    cr_assert_eq(c.log_level, LOG_INFO);
    cr_assert_null(c.backup_dir);
    cr_assert_null(c.http);
    cr_assert_eq(c.backup_interval_ms, 0);
    cr_assert_eq(c.backup_keep, 0);
    cr_assert_null(c.migrations);
}

/* A flag that takes an integer, the field it sets, a value it takes, and
 * values it refuses (below its least, above its most, not a number). */
struct int_flag {
    const char *name;    /* without the dashes */
    size_t offset, size; /* 4 bytes: unsigned; 8: at most INT64_MAX */
    const char *good;
    int64_t want;
    const char *bad[4];
};

#define FIELD(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)

static int64_t field_value(const struct config *c, const struct int_flag *f)
{
    const char *p = (const char *)c + f->offset;
    if (f->size == 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    cr_assert_eq(f->size, 8);
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

static const struct int_flag int_flags[] = {
    {"readers", FIELD(readers), "4", 4, {"0", "257", "two", "4x"}},
    {"timeout", FIELD(timeout_ms), "0", 0, {"-1", "86400001", "", "1.5"}},
    {"max-timeout",
     FIELD(max_timeout_ms),
     "86400000",
     86400000,
     {"0", "86400001", "x"}},
    {"tx-idle-timeout",
     FIELD(tx_idle_timeout_ms),
     "250",
     250,
     {"0", "86400001", "1s"}},
    {"tx-max-duration",
     FIELD(tx_max_duration_ms),
     "0",
     0,
     {"-1", "86400001", "forever"}},
    {"group-max", FIELD(group_max), "1", 1, {"0", "1048577", "many"}},
    {"group-bytes",
     FIELD(group_bytes),
     "9223372036854775807",
     INT64_MAX,
     {"0", "9223372036854775808", "1k"}},
    {"chunk-rows", FIELD(chunk_rows), "1048576", 1048576, {"0", "1048577"}},
    {"chunk-bytes", FIELD(chunk_bytes), "1", 1, {"0", "2147483649", "1M"}},
    {"cursor-idle-timeout",
     FIELD(cursor_idle_timeout_ms),
     "1",
     1,
     {"0", "86400001"}},
    {"cursor-max-age",
     FIELD(cursor_max_age_ms),
     "86400000",
     86400000,
     {"0", "86400001"}},
    {"max-cursors", FIELD(max_cursors), "0", 0, {"-1", "65537"}},
    {"max-connections",
     FIELD(max_connections),
     "1048576",
     1048576,
     {"0", "1048577"}},
    {"statement-cache", FIELD(statement_cache), "0", 0, {"-1", "65537"}},
    {"inline-budget", FIELD(inline_budget_ms), "0", 0, {"-1", "1001", "1ms"}},
    {"cache-size",
     FIELD(cache_size),
     "-2147483648",
     INT32_MIN,
     {"-2147483649", "2147483648", "big"}},
    {"mmap-size", FIELD(mmap_size), "268435456", 268435456, {"-1", "1e9"}},
    {"max-message-size",
     FIELD(max_message_size),
     "4096",
     4096,
     {"4095", "2147483649", "64M"}},
    {"max-memory",
     FIELD(max_memory),
     "134217728",
     134217728,
     {"0", "9223372036854775808", "-5"}},
    {"shutdown-grace",
     FIELD(shutdown_grace_ms),
     "2147483647",
     INT32_MAX,
     {"-1", "2147483648"}},
    {"wal-checkpoint-bytes",
     FIELD(wal_checkpoint_bytes),
     "65536",
     65536,
     {"65535", "1152921504606846976", "4MiB"}},
    {"wal-max-bytes",
     FIELD(wal_max_bytes),
     "1152921504606846975",
     INT64_MAX / 8,
     {"65535", "1152921504606846976"}},
    {"wal-idle-timeout",
     FIELD(wal_idle_timeout_ms),
     "0",
     0,
     {"-1", "86400001"}},
    {"backup-keep", FIELD(backup_keep), "1048576", 1048576, {"-1", "1048577"}},
};

Test(config, integer_flags_take_their_range_and_refuse_the_rest)
{
    char flag[64], eq[96], want[256];

    for (size_t i = 0; i < sizeof(int_flags) / sizeof(*int_flags); i++) {
        const struct int_flag *f = &int_flags[i];
        struct config c;
        snprintf(flag, sizeof(flag), "--%s", f->name);

        cr_assert_eq(PARSE(&c, flag, f->good), 0, "%s %s: %s", flag, f->good,
                     err);
        cr_assert_eq(field_value(&c, f), f->want, "%s %s", flag, f->good);
        snprintf(eq, sizeof(eq), "--%s=%s", f->name, f->good);
        cr_assert_eq(PARSE(&c, eq), 0, "%s: %s", eq, err);
        cr_assert_eq(field_value(&c, f), f->want, "%s", eq);

        for (size_t j = 0; j < 4 && f->bad[j]; j++) {
            const char *bad = f->bad[j];
            snprintf(want, sizeof(want),
                     "sqlited: invalid value '%s' for --%s (see --help)\n", bad,
                     f->name);
            cr_assert_eq(PARSE(&c, flag, bad), -1, "%s %s accepted", flag, bad);
            cr_assert_str_eq(err, want);
            snprintf(eq, sizeof(eq), "--%s=%s", f->name, bad);
            cr_assert_eq(PARSE(&c, eq), -1, "%s accepted", eq);
            cr_assert_str_eq(err, want, "%s", eq);
        }
    }
}

Test(config, short_flags)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "-d", "/tmp/x.db", "-s", "/tmp/x.sock", "-r", "3"),
                 0);
    cr_assert_str_eq(c.database, "/tmp/x.db");
    cr_assert_str_eq(c.socket, "/tmp/x.sock");
    cr_assert_eq(c.readers, 3);
    /* The message names the long flag, whichever spelling was used. */
    REFUSED("sqlited: invalid value '0' for --readers (see --help)\n", "-r",
            "0");
    REFUSED("sqlited: invalid value '0' for --readers (see --help)\n", "-r0");
}

Test(config, paths)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "--database", "a.db", "--socket", "a.sock",
                       "--log-file", "a.log", "--backup-dir", "backups",
                       "--migrations", "migrations"),
                 0, "%s", err);
    cr_assert_str_eq(c.database, "a.db");
    cr_assert_str_eq(c.socket, "a.sock");
    cr_assert_str_eq(c.log_file, "a.log");
    cr_assert_str_eq(c.backup_dir, "backups");
    cr_assert_str_eq(c.migrations, "migrations");
    REFUSED("sqlited: invalid value '' for --log-file (see --help)\n",
            "--log-file", "");
    REFUSED("sqlited: invalid value '' for --backup-dir (see --help)\n",
            "--backup-dir", "");
    REFUSED("sqlited: invalid value '' for --migrations (see --help)\n",
            "--migrations", "");
}

Test(config, read_only)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "--read-only"), 0);
    cr_assert(c.read_only);
    REFUSED("sqlited: unexpected argument 'yes' (see --help)\n", "--read-only",
            "yes");
}

Test(config, synchronous_in_any_case)
{
    static const char *const levels[][2] = {{"off", "OFF"},
                                            {"Normal", "NORMAL"},
                                            {"FULL", "FULL"},
                                            {"extra", "EXTRA"}};
    struct config c;
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(PARSE(&c, "--synchronous", levels[i][0]), 0);
        cr_assert_str_eq(c.synchronous, levels[i][1]);
    }
    REFUSED("sqlited: invalid value 'fast' for --synchronous (see --help)\n",
            "--synchronous", "fast");
    REFUSED("sqlited: invalid value '2' for --synchronous (see --help)\n",
            "--synchronous", "2");
}

Test(config, log_level)
{
    static const struct {
        const char *name;
        enum log_level level;
    } levels[] = {{"error", LOG_ERROR},
                  {"warn", LOG_WARN},
                  {"info", LOG_INFO},
                  {"debug", LOG_DEBUG}};
    struct config c;
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(PARSE(&c, "--log-level", levels[i].name), 0);
        cr_assert_eq(c.log_level, levels[i].level);
    }
    REFUSED("sqlited: invalid value 'loud' for --log-level (see --help)\n",
            "--log-level", "loud");
}

Test(config, modes)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "--socket-mode", "0600", "--file-mode", "640"), 0);
    cr_assert_eq(c.socket_mode, 0600);
    cr_assert_eq(c.file_mode, 0640);
    cr_assert_eq(PARSE(&c, "--socket-mode", "0"), 0);
    cr_assert_eq(c.socket_mode, 0);
    static const char *const bad[] = {"0800", "01000", "-1", "rw", ""};
    char want[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        snprintf(want, sizeof(want),
                 "sqlited: invalid value '%s' for --socket-mode (see --help)\n",
                 bad[i]);
        REFUSED(want, "--socket-mode", bad[i]);
    }
    /* The daemon must read and write the files it creates. */
    REFUSED("sqlited: invalid value '0400' for --file-mode: an octal mode of "
            "at most 0777 that lets the owner read and write (0600 at "
            "least)\n",
            "--file-mode", "0400");
    REFUSED("sqlited: invalid value '0778' for --file-mode: an octal mode of "
            "at most 0777 that lets the owner read and write (0600 at "
            "least)\n",
            "--file-mode", "0778");
}

Test(config, http_needs_a_port)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "--http", "127.0.0.1:9187"), 0);
    cr_assert_str_eq(c.http, "127.0.0.1:9187");
    REFUSED("sqlited: invalid value '127.0.0.1' for --http (see --help)\n",
            "--http", "127.0.0.1");
}

Test(config, backup_interval_units)
{
    static const struct {
        const char *value;
        uint64_t ms;
    } good[] = {{"90", 90000},
                {"90s", 90000},
                {"5m", 300000},
                {"2h", 7200000},
                {"1d", 86400000},
                {"365d", 31536000000},
                {"31536000", 31536000000}};
    struct config c;
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
        cr_assert_eq(
            PARSE(&c, "--backup-dir", "b", "--backup-interval", good[i].value),
            0, "%s: %s", good[i].value, err);
        cr_assert_eq(c.backup_interval_ms, good[i].ms, "%s", good[i].value);
    }
    static const char *const bad[] = {"0", "-5m", "366d", "5x", "5mm", "m"};
    char want[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        snprintf(want, sizeof(want),
                 "sqlited: invalid value '%s' for --backup-interval (see "
                 "--help)\n",
                 bad[i]);
        REFUSED(want, "--backup-dir", "b", "--backup-interval", bad[i]);
    }
    REFUSED("sqlited: --backup-interval needs --backup-dir (where the backups "
            "go)\n",
            "--backup-interval", "1h");
}

Test(config, checks_between_flags)
{
    struct config c;
    REFUSED("sqlited: --max-memory 100000 is below twice --max-message-size "
            "65536 (see --help)\n",
            "--max-message-size", "65536", "--max-memory", "100000");
    cr_assert_eq(
        PARSE(&c, "--max-message-size", "65536", "--max-memory", "131072"), 0,
        "exactly twice is enough");

    REFUSED("sqlited: --wal-max-bytes 65536 is below --wal-checkpoint-bytes "
            "4194304 (see --help)\n",
            "--wal-max-bytes", "65536");
    cr_assert_eq(PARSE(&c, "--wal-checkpoint-bytes", "131072"), 0);
    cr_assert_eq(c.wal_max_bytes, 4 * 131072, "follows the checkpoint size");
    cr_assert_eq(PARSE(&c, "--wal-checkpoint-bytes", "131072",
                       "--wal-max-bytes", "131072"),
                 0);
    cr_assert_eq(c.wal_max_bytes, 131072, "set, it stays");

    REFUSED("sqlited: --timeout 300001 is above --max-timeout 300000 (see "
            "--help)\n",
            "--timeout", "300001");
    cr_assert_eq(PARSE(&c, "--timeout", "600000", "--max-timeout", "600000"),
                 0);

    /* A chunk leaves room for the row that ends it. */
    cr_assert_eq(
        PARSE(&c, "--max-message-size", "65536", "--chunk-bytes", "1000000"),
        0);
    cr_assert_eq(c.chunk_bytes, 32768);
}

Test(config, command_line_mistakes)
{
    REFUSED("sqlited: unknown option --readerz (see --help)\n", "--readerz",
            "2");
    REFUSED("sqlited: unknown option -x (see --help)\n", "-x");
    REFUSED("sqlited: option --readers needs a value\n", "--readers");
    REFUSED("sqlited: option -r needs a value\n", "-r");
    REFUSED("sqlited: unexpected argument 'extra' (see --help)\n", "extra");
}

Test(config, help_and_version_answer_on_stdout)
{
    struct config c;
    cr_assert_eq(PARSE(&c, "--help"), 1);
    cr_assert(strstr(out, "usage: sqlited [options]") != NULL);
    cr_assert(strstr(out, "--wal-max-bytes B") != NULL);
    cr_assert_str_empty(err);
    cr_assert_eq(PARSE(&c, "-h"), 1);
    cr_assert(strstr(out, "usage: sqlited") != NULL);
    cr_assert_eq(PARSE(&c, "--version"), 1);
    cr_assert_str_eq(out, "sqlited " SQLITED_VERSION "\n");
    cr_assert_eq(PARSE(&c, "-V"), 1);
    cr_assert_str_eq(out, "sqlited " SQLITED_VERSION "\n");
}
