/* Leveled logging to stderr, which systemd's journal collects. */
#ifndef SQLITED_LOG_H
#define SQLITED_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Messages above @level are dropped. Thread-safe (a SIGHUP changes it). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug". Returns 0 or -1. */
int log_parse_level(const char *name, enum log_level *level);
/* The name log_parse_level() takes for @level. */
const char *log_level_name(enum log_level level);

/* Sends the log (and everything else written to stderr, a sanitizer's
 * report say) to @path, appended, created 0640 if missing; the path is kept
 * (borrowed: it must outlive the process) for log_reopen(). Returns 0, or -1
 * with errno set. Call before threads start. */
int log_open(const char *path);

/* After a SIGHUP: opens the log file again (logrotate moved it away) and
 * says so in the new one; when the log goes to stderr, says that there is
 * nothing to reopen. Thread-safe. */
void log_reopen(void);

/* Writes one line to stderr: under systemd's journal (JOURNAL_STREAM names
 * stderr), prefixed with the syslog priority ("<3>") the journal
 * understands; anywhere else, with the local time to the millisecond
 * ("2026-12-03T15:04:05.123+0000 sqlited: info: ..."). Thread-safe: one
 * write(2) per line. */
void log_write(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

#endif /* SQLITED_LOG_H */
