#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rpc.h"
#include "sqlited.h"

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

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: sqlited [options]\n"
        "\n"
        "Serve one SQLite database to local clients over a Unix socket.\n"
        "\n"
        "  -d, --database PATH        database file (default "
        "./var/sqlited.db)\n"
        "  -s, --socket PATH          Unix socket (default "
        "./var/sqlited.sock)\n"
        "      --socket-mode MODE     octal permissions of the socket (default "
        "0660)\n"
        "      --read-only            serve the database read-only (writes "
        "fail); a\n"
        "                             database the daemon cannot write needs "
        "it\n"
        "      --file-mode MODE       octal permissions of the database, its "
        "-wal and\n"
        "                             -shm when the daemon creates them "
        "(default 0600)\n"
        "  -r, --readers N            reader threads (default: CPUs, at least "
        "2)\n"
        "      --io-threads N         I/O threads, each serving its share of "
        "the\n"
        "                             connections (default: CPUs; 1 to 64)\n"
        "      --synchronous LEVEL    OFF, NORMAL, FULL or EXTRA (default "
        "FULL)\n"
        "      --timeout MS           a request's deadline unless it sets "
        "timeout_ms;\n"
        "                             0 for --max-timeout (default 30000)\n"
        "      --max-timeout MS       cap on every request's deadline, also "
        "on\n"
        "                             timeout_ms 0 (default 300000)\n"
        "      --tx-idle-timeout MS   roll back a transaction idle this long\n"
        "                             (default 5000)\n"
        "      --tx-max-duration MS   roll back a transaction open this long, "
        "busy\n"
        "                             or not; 0 for no limit (default 60000)\n"
        "      --group-max N          most requests committed together "
        "(default 1024)\n"
        "      --group-bytes B        most request bytes committed together\n"
        "                             (default 16777216)\n"
        "      --chunk-rows N         rows per chunk of a large result "
        "(default 1000)\n"
        "      --chunk-bytes B        bytes per chunk of a large result\n"
        "                             (default 1048576)\n"
        "      --cursor-idle-timeout MS  close a cursor not fetched this long\n"
        "                             (default 10000)\n"
        "      --cursor-max-age MS    end a cursor open this long, fetched "
        "or not\n"
        "                             (default 300000)\n"
        "      --max-cursors N        cursors open at once (default 64)\n"
        "      --max-connections N    clients connected at once (default "
        "1024)\n"
        "      --statement-cache N    prepared statements kept per database\n"
        "                             connection, 0 for none (default 64)\n"
        "      --cache-size N         PRAGMA cache_size: pages, or KiB if "
        "negative\n"
        "                             (default -2000)\n"
        "      --mmap-size BYTES      PRAGMA mmap_size (default 0)\n"
        "      --max-message-size B   largest request or response (default "
        "67108864)\n"
        "      --max-memory BYTES     memory held for all clients at once: "
        "requests\n"
        "                             read, in flight, answers unread; at "
        "least\n"
        "                             twice --max-message-size (default "
        "268435456)\n"
        "      --shutdown-grace MS    on SIGTERM, time left to work in flight "
        "before\n"
        "                             it is interrupted (default 10000)\n"
        "      --wal-checkpoint-bytes B  checkpoint (PASSIVE) when the WAL "
        "holds\n"
        "                             this much (default 4194304); also its "
        "size\n"
        "                             after a checkpoint (journal_size_limit)\n"
        "      --wal-max-bytes B      past this WAL size, end the oldest "
        "cursor or\n"
        "                             read so a checkpoint can finish "
        "(default\n"
        "                             4 x --wal-checkpoint-bytes)\n"
        "      --wal-idle-timeout MS  truncate the WAL once no write came "
        "for this\n"
        "                             long, 0 for never (default 1000)\n"
        "      --log-level LEVEL      error, warn, info or debug (default "
        "info)\n"
        "      --log-file PATH        append the log to PATH, reopened on "
        "SIGHUP\n"
        "                             (default: stderr)\n"
        "      --http ADDR:PORT       serve GET /metrics, /livez and /readyz "
        "over\n"
        "                             HTTP on this numeric address only "
        "(default:\n"
        "                             off), e.g. 127.0.0.1:9187\n"
        "      --backup-dir DIR       where backups go (created 0700 if "
        "missing);\n"
        "                             no backups without it\n"
        "      --backup-interval T    take a backup every T: seconds, or with "
        "a unit\n"
        "                             s, m, h or d (default: none)\n"
        "      --backup-keep N        keep the newest N scheduled backups "
        "(default 0:\n"
        "                             all)\n"
        "      --migrations DIR       apply the migrations in DIR at start-up "
        "and\n"
        "                             serve the migrate method\n"
        "  -h, --help                 show this help\n"
        "  -V, --version              show the version\n");
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

enum {
    OPT_SOCKET_MODE = 256,
    OPT_FILE_MODE,
    OPT_READ_ONLY,
    OPT_LOG_FILE,
    OPT_SYNCHRONOUS,
    OPT_TIMEOUT,
    OPT_MAX_TIMEOUT,
    OPT_TX_IDLE_TIMEOUT,
    OPT_TX_MAX_DURATION,
    OPT_GROUP_MAX,
    OPT_GROUP_BYTES,
    OPT_CHUNK_ROWS,
    OPT_CHUNK_BYTES,
    OPT_CURSOR_IDLE_TIMEOUT,
    OPT_MAX_CURSORS,
    OPT_MAX_CONNECTIONS,
    OPT_STATEMENT_CACHE,
    OPT_CACHE_SIZE,
    OPT_MMAP_SIZE,
    OPT_MAX_MESSAGE,
    OPT_MAX_MEMORY,
    OPT_SHUTDOWN_GRACE,
    OPT_LOG_LEVEL,
    OPT_BACKUP_DIR,
    OPT_HTTP,
    OPT_BACKUP_INTERVAL,
    OPT_BACKUP_KEEP,
    OPT_CURSOR_MAX_AGE,
    OPT_MIGRATIONS,
    OPT_IO_THREADS,
    OPT_WAL_CHECKPOINT_BYTES,
    OPT_WAL_MAX_BYTES,
    OPT_WAL_IDLE_TIMEOUT,
};

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

int config_parse(struct config *cfg, int argc, char **argv)
{
    static const struct option options[] = {
        {"database", required_argument, NULL, 'd'},
        {"socket", required_argument, NULL, 's'},
        {"socket-mode", required_argument, NULL, OPT_SOCKET_MODE},
        {"file-mode", required_argument, NULL, OPT_FILE_MODE},
        {"read-only", no_argument, NULL, OPT_READ_ONLY},
        {"log-file", required_argument, NULL, OPT_LOG_FILE},
        {"readers", required_argument, NULL, 'r'},
        {"synchronous", required_argument, NULL, OPT_SYNCHRONOUS},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-timeout", required_argument, NULL, OPT_MAX_TIMEOUT},
        {"tx-idle-timeout", required_argument, NULL, OPT_TX_IDLE_TIMEOUT},
        {"tx-max-duration", required_argument, NULL, OPT_TX_MAX_DURATION},
        {"group-max", required_argument, NULL, OPT_GROUP_MAX},
        {"group-bytes", required_argument, NULL, OPT_GROUP_BYTES},
        {"chunk-rows", required_argument, NULL, OPT_CHUNK_ROWS},
        {"chunk-bytes", required_argument, NULL, OPT_CHUNK_BYTES},
        {"cursor-idle-timeout", required_argument, NULL,
         OPT_CURSOR_IDLE_TIMEOUT},
        {"cursor-max-age", required_argument, NULL, OPT_CURSOR_MAX_AGE},
        {"max-cursors", required_argument, NULL, OPT_MAX_CURSORS},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
        {"statement-cache", required_argument, NULL, OPT_STATEMENT_CACHE},
        {"cache-size", required_argument, NULL, OPT_CACHE_SIZE},
        {"mmap-size", required_argument, NULL, OPT_MMAP_SIZE},
        {"max-message-size", required_argument, NULL, OPT_MAX_MESSAGE},
        {"max-memory", required_argument, NULL, OPT_MAX_MEMORY},
        {"shutdown-grace", required_argument, NULL, OPT_SHUTDOWN_GRACE},
        {"wal-checkpoint-bytes", required_argument, NULL,
         OPT_WAL_CHECKPOINT_BYTES},
        {"wal-max-bytes", required_argument, NULL, OPT_WAL_MAX_BYTES},
        {"wal-idle-timeout", required_argument, NULL, OPT_WAL_IDLE_TIMEOUT},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"backup-dir", required_argument, NULL, OPT_BACKUP_DIR},
        {"http", required_argument, NULL, OPT_HTTP},
        {"backup-interval", required_argument, NULL, OPT_BACKUP_INTERVAL},
        {"backup-keep", required_argument, NULL, OPT_BACKUP_KEEP},
        {"migrations", required_argument, NULL, OPT_MIGRATIONS},
        {"io-threads", required_argument, NULL, OPT_IO_THREADS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static const char *const sync_levels[] = {"OFF", "NORMAL", "FULL", "EXTRA"};
    int64_t v;
    int c;

    opterr = 0;
    optind = 1;
    int index;
    while ((index = -1,
            c = getopt_long(argc, argv, ":d:s:r:hV", options, &index)) != -1) {
        switch (c) {
        case 'd':
            cfg->database = optarg;
            break;
        case 's':
            cfg->socket = optarg;
            break;
        case OPT_SOCKET_MODE:
            if (parse_mode(optarg, 0, &cfg->socket_mode))
                goto bad_value;
            break;
        case OPT_READ_ONLY:
            cfg->read_only = true;
            break;
        case OPT_LOG_FILE:
            if (optarg[0] == '\0')
                goto bad_value;
            cfg->log_file = optarg;
            break;
        case OPT_FILE_MODE:
            /* The daemon itself must read and write what it creates. */
            if (parse_mode(optarg, 0600, &cfg->file_mode)) {
                fprintf(stderr,
                        "sqlited: invalid value '%s' for --file-mode: an "
                        "octal mode of at most 0777 that lets the owner read "
                        "and write (0600 at least)\n",
                        optarg);
                return -1;
            }
            break;
        case 'r':
            if (parse_int(optarg, 1, 256, &v))
                goto bad_value;
            cfg->readers = (unsigned)v;
            break;
        case OPT_IO_THREADS:
            if (parse_int(optarg, 1, CONFIG_MAX_IO_THREADS, &v)) {
                fprintf(stderr,
                        "sqlited: invalid value '%s' for --io-threads: the "
                        "number of I/O threads, an integer from 1 to %d\n",
                        optarg, CONFIG_MAX_IO_THREADS);
                return -1;
            }
            cfg->io_threads = (unsigned)v;
            break;
        case OPT_SYNCHRONOUS: {
            size_t i, n = sizeof(sync_levels) / sizeof(sync_levels[0]);
            for (i = 0; i < n; i++)
                if (strcasecmp(optarg, sync_levels[i]) == 0)
                    break;
            if (i == n)
                goto bad_value;
            cfg->synchronous = sync_levels[i];
            break;
        }
        case OPT_TIMEOUT:
            if (parse_int(optarg, 0, RPC_MAX_TIMEOUT_MS, &v))
                goto bad_value;
            cfg->timeout_ms = (uint32_t)v;
            break;
        case OPT_MAX_TIMEOUT:
            if (parse_int(optarg, 1, RPC_MAX_TIMEOUT_MS, &v))
                goto bad_value;
            cfg->max_timeout_ms = (uint32_t)v;
            break;
        case OPT_TX_IDLE_TIMEOUT:
            if (parse_int(optarg, 1, RPC_MAX_TIMEOUT_MS, &v))
                goto bad_value;
            cfg->tx_idle_timeout_ms = (uint32_t)v;
            break;
        case OPT_TX_MAX_DURATION:
            if (parse_int(optarg, 0, RPC_MAX_TIMEOUT_MS, &v))
                goto bad_value;
            cfg->tx_max_duration_ms = (uint32_t)v;
            break;
        case OPT_GROUP_MAX:
            if (parse_int(optarg, 1, 1 << 20, &v))
                goto bad_value;
            cfg->group_max = (unsigned)v;
            break;
        case OPT_GROUP_BYTES:
            if (parse_int(optarg, 1, INT64_MAX, &v))
                goto bad_value;
            cfg->group_bytes = (size_t)v;
            break;
        case OPT_CACHE_SIZE:
            if (parse_int(optarg, INT32_MIN, INT32_MAX, &v))
                goto bad_value;
            cfg->cache_size = v;
            break;
        case OPT_MMAP_SIZE:
            if (parse_int(optarg, 0, INT64_MAX, &v))
                goto bad_value;
            cfg->mmap_size = v;
            break;
        case OPT_MAX_MESSAGE:
            /* Below 4 KiB not even an error reply with its message fits. */
            if (parse_int(optarg, 4096, (int64_t)1 << 31, &v))
                goto bad_value;
            cfg->max_message_size = (size_t)v;
            break;
        case OPT_MAX_MEMORY:
            if (parse_int(optarg, 1, INT64_MAX, &v))
                goto bad_value;
            cfg->max_memory = (uint64_t)v;
            break;
        case OPT_SHUTDOWN_GRACE:
            if (parse_int(optarg, 0, INT32_MAX, &v))
                goto bad_value;
            cfg->shutdown_grace_ms = (unsigned)v;
            break;
        case OPT_CHUNK_ROWS:
            if (parse_int(optarg, 1, RPC_MAX_ITEMS, &v))
                goto bad_value;
            cfg->chunk_rows = (uint32_t)v;
            break;
        case OPT_CHUNK_BYTES:
            if (parse_int(optarg, 1, (int64_t)1 << 31, &v))
                goto bad_value;
            cfg->chunk_bytes = (size_t)v;
            break;
        case OPT_CURSOR_IDLE_TIMEOUT:
            if (parse_int(optarg, 1, RPC_MAX_TIMEOUT_MS, &v))
                goto bad_value;
            cfg->cursor_idle_timeout_ms = (uint32_t)v;
            break;
        case OPT_CURSOR_MAX_AGE:
            if (parse_int(optarg, 1, RPC_MAX_TIMEOUT_MS, &v))
                goto bad_value;
            cfg->cursor_max_age_ms = (uint32_t)v;
            break;
        case OPT_WAL_CHECKPOINT_BYTES:
            /* Below a few pages every commit would checkpoint. */
            if (parse_int(optarg, 65536, INT64_MAX / 8, &v))
                goto bad_value;
            cfg->wal_checkpoint_bytes = v;
            break;
        case OPT_WAL_MAX_BYTES:
            if (parse_int(optarg, 65536, INT64_MAX / 8, &v))
                goto bad_value;
            cfg->wal_max_bytes = v;
            break;
        case OPT_WAL_IDLE_TIMEOUT:
            if (parse_int(optarg, 0, RPC_MAX_TIMEOUT_MS, &v))
                goto bad_value;
            cfg->wal_idle_timeout_ms = (uint32_t)v;
            break;
        case OPT_MAX_CURSORS:
            if (parse_int(optarg, 0, 1 << 16, &v))
                goto bad_value;
            cfg->max_cursors = (unsigned)v;
            break;
        case OPT_MAX_CONNECTIONS:
            if (parse_int(optarg, 1, 1 << 20, &v))
                goto bad_value;
            cfg->max_connections = (unsigned)v;
            break;
        case OPT_STATEMENT_CACHE:
            if (parse_int(optarg, 0, 1 << 16, &v))
                goto bad_value;
            cfg->statement_cache = (unsigned)v;
            break;
        case OPT_LOG_LEVEL:
            if (log_parse_level(optarg, &cfg->log_level))
                goto bad_value;
            break;
        case OPT_BACKUP_DIR:
            if (optarg[0] == '\0')
                goto bad_value;
            cfg->backup_dir = optarg;
            break;
        case OPT_HTTP:
            if (strrchr(optarg, ':') == NULL)
                goto bad_value;
            cfg->http = optarg;
            break;
        case OPT_BACKUP_INTERVAL:
            if (parse_duration(optarg, &cfg->backup_interval_ms))
                goto bad_value;
            break;
        case OPT_MIGRATIONS:
            if (optarg[0] == '\0')
                goto bad_value;
            cfg->migrations = optarg;
            break;
        case OPT_BACKUP_KEEP:
            if (parse_int(optarg, 0, 1 << 20, &v))
                goto bad_value;
            cfg->backup_keep = (unsigned)v;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("sqlited %s\n", SQLITED_VERSION);
            return 1;
        case ':':
            fprintf(stderr, "sqlited: option %s needs a value\n",
                    argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "sqlited: unknown option %s (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sqlited: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return -1;
    }
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

bad_value:
    /* argv[optind - 1] is the value itself when it came as its own word
     * (--readers 0): name the flag from the table instead. */
    for (index = index >= 0 ? index : 0; options[index].name != NULL; index++)
        if (options[index].val == c)
            break;
    fprintf(stderr, "sqlited: invalid value '%s' for --%s (see --help)\n",
            optarg, options[index].name ? options[index].name : "?");
    return -1;
}
