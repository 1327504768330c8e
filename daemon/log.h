/* Leveled logging to stderr, which systemd's journal collects. */
#ifndef SQLITED_LOG_H
#define SQLITED_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Messages above @level are dropped. Not thread-safe: call before threads. */
void log_set_level(enum log_level level);
/* Parses "error", "warn", "info", "debug". Returns 0 or -1. */
int log_parse_level(const char *name, enum log_level *level);

/* Writes one line to stderr; under systemd, prefixed with the syslog priority
 * ("<3>") the journal understands. Thread-safe: one write(2) per line. */
void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

#endif /* SQLITED_LOG_H */
