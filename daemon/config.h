/* The daemon's settings: defaults, the configuration file, command-line
 * flags, --help and --check-config, all driven by one option table. */
#ifndef SQLITED_CONFIG_H
#define SQLITED_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "log.h"

/* The configuration file read when --config does not name one, if it
 * exists (a daemon started by hand in a checkout has none). */
#ifndef CONFIG_DEFAULT_FILE
#define CONFIG_DEFAULT_FILE "/etc/sqlited/sqlited.conf"
#endif

/* The most I/O loops (--io-threads) the daemon runs. */
#define CONFIG_MAX_IO_THREADS 64

/* Room for the option table's entries (config.c checks it at compile
 * time). */
#define CONFIG_MAX_OPTIONS 64

/* Where an option's value came from. */
enum config_source {
    CONFIG_DEFAULT, /* the embedded default */
    CONFIG_FILE,    /* the configuration file, at a line */
    CONFIG_FLAG,    /* the command line */
};

struct config_origin {
    unsigned char source; /* enum config_source */
    unsigned line;        /* for CONFIG_FILE */
};

struct config {
    const char *database;            /* path of the database file */
    const char *socket;              /* path of the Unix socket */
    mode_t socket_mode;              /* permissions of the socket file */
    mode_t file_mode;                /* of the database files it creates */
    bool read_only;                  /* serve the database read-only */
    const char *log_file;            /* append the log there; NULL: stderr */
    unsigned readers;                /* reader threads */
    unsigned io_threads;             /* I/O loops (loop.h) */
    const char *synchronous;         /* OFF, NORMAL, FULL or EXTRA */
    uint32_t timeout_ms;             /* a request's default deadline; 0: the
                                        cap */
    uint32_t max_timeout_ms;         /* cap on every request's deadline */
    uint32_t tx_idle_timeout_ms;     /* an idle transaction is rolled back */
    uint32_t tx_max_duration_ms;     /* so is one open this long; 0: never */
    unsigned group_max;              /* requests in one group commit */
    size_t group_bytes;              /* request bytes in one group commit */
    uint32_t chunk_rows;             /* rows in one chunk of a result */
    size_t chunk_bytes;              /* bytes after which a chunk ends */
    uint32_t cursor_idle_timeout_ms; /* an idle cursor is closed */
    uint32_t cursor_max_age_ms;      /* a cursor older than this is ended */
    unsigned max_cursors;            /* cursors open at once */
    unsigned max_connections;        /* clients connected at once */
    unsigned statement_cache;     /* prepared statements kept per connection */
    uint32_t inline_budget_ms;    /* a read the loop runs itself stops and
                                     goes to a reader after this; 0: none */
    int64_t cache_size;           /* PRAGMA cache_size (negative: KiB) */
    int64_t mmap_size;            /* PRAGMA mmap_size, bytes */
    size_t max_message_size;      /* largest message in either direction */
    uint64_t max_memory;          /* held for all connections at once */
    unsigned shutdown_grace_ms;   /* on SIGTERM, time for work in flight */
    int64_t wal_checkpoint_bytes; /* a PASSIVE checkpoint past this WAL size */
    int64_t wal_max_bytes;        /* past this, end the oldest snapshot */
    uint32_t wal_idle_timeout_ms; /* TRUNCATE the WAL once idle this long */
    enum log_level log_level;
    const char *backup_dir; /* where backups go; NULL: no backups */
    const char *http;       /* --http ADDR:PORT for /metrics, /livez, /readyz */
    uint64_t backup_interval_ms; /* scheduled backups; 0: none */
    unsigned backup_keep;        /* scheduled backups kept; 0: all */
    const char *migrations;      /* directory of migration files; NULL: none */
    uint32_t slow_query_ms;      /* log requests this slow; 0: none */
    /* Who may do what (access.h); all NULL: everyone may do everything. */
    const char *allow_read, *allow_write, *allow_operator;

    /* Not settings: how this configuration was made. */
    const char *config_file; /* the file read; NULL: none */
    bool check_config;       /* --check-config: validate, print, exit */
    struct config_origin origin[CONFIG_MAX_OPTIONS]; /* by table entry */
    struct config_string *strings; /* the file's values, owned */
    int argc; /* the command line, parsed again on SIGHUP */
    char **argv;
};

/* Reads an option that SIGHUP may change (config_reload()) while threads
 * read it: log-level, slow-query-ms, max-connections, timeout,
 * max-timeout, backup-interval, backup-keep and the allow- lists. */
#define CONFIG_LIVE(cfg, field) __atomic_load_n(&(cfg)->field, __ATOMIC_RELAXED)

/* Fills @cfg with the embedded defaults. */
void config_defaults(struct config *cfg);

/* Parses the command line into @cfg, over the configuration file (--config
 * PATH, or CONFIG_DEFAULT_FILE if it exists): flags override the file,
 * which overrides the defaults. Strings point into @argv or into copies
 * owned by @cfg (config_free()). Returns 0 to go on, 1 when --help or
 * --version was answered (exit 0), -1 after printing an error that names
 * the bad flag, or the file and line of the bad key or value (exit 2; 1
 * under --check-config). */
int config_parse(struct config *cfg, int argc, char **argv);

/* Prints the effective configuration of @cfg to @out, one "key = value"
 * line per option with where the value came from, in a form the
 * configuration file accepts: --check-config's output. */
void config_print(const struct config *cfg, FILE *out);

/* On SIGHUP, on the thread that handles it: parses the command line
 * config_parse() saw and the configuration file again, copies into @live
 * the options that may change while the daemon runs (each read with
 * CONFIG_LIVE() where other threads read it), and logs each change, and
 * each change that takes a restart. Returns the number of options changed,
 * or -1 when the configuration now has mistakes (logged; nothing
 * changes). */
int config_reload(struct config *live);

/* Frees what config_parse() copied from the file. @cfg is unusable after. */
void config_free(struct config *cfg);

#endif /* SQLITED_CONFIG_H */
