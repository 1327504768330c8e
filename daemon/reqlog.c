#include "reqlog.h"

#include <inttypes.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>

#include "clock.h"
#include "config.h"
#include "job.h"
#include "log.h"
#include "rpc.h"

void reqlog_sql(const char *sql, size_t len, char *buf, size_t size)
{
    size_t n = len > REQLOG_SQL_MAX ? REQLOG_SQL_MAX : len;
    /* Not in the middle of a UTF-8 sequence. */
    if (n < len)
        while (n > 0 && ((unsigned char)sql[n] & 0xc0) == 0x80)
            n--;
    if (n + 1 > size)
        n = size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)sql[i];
        buf[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    buf[n] = '\0';
    if (n < len)
        snprintf(buf + n, size - n, "... (%zu bytes)", len);
}

/* What @job ran, for a log line: its SQL, or what stands for it. */
static void describe(const struct job *job, char *buf, size_t size)
{
    if (job->method == RPC_BATCH)
        snprintf(buf, size, "a batch of %" PRIu32 " steps", job->nitems);
    else if (job->req.sql != NULL)
        reqlog_sql(job->req.sql, job->req.sql_len, buf, size);
    else
        snprintf(buf, size, "-");
}

/* The daemon's own faults, not a client's mistakes. */
static bool is_fault(int code)
{
    switch (code & 0xff) {
    case SQLITE_IOERR:
    case SQLITE_CORRUPT:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_CANTOPEN:
    case SQLITE_INTERNAL:
        return code > 0;
    default:
        return false;
    }
}

static const char *const runners[] = {
    [JOB_RAN_NOWHERE] = "loop (answered before it ran)",
    [JOB_RAN_LOOP] = "I/O loop (inline)",
    [JOB_RAN_READER] = "reader",
    [JOB_RAN_WRITER] = "writer",
    [JOB_RAN_BACKUP] = "backup thread",
};

void reqlog_done(const struct config *cfg, const struct job *job,
                 uint64_t conn_id, pid_t pid)
{
    uint32_t slow_ms = CONFIG_LIVE(cfg, slow_query_ms);
    int64_t ms = (clock_now() - job->started) / CLOCK_NS_PER_MS;
    bool slow = slow_ms > 0 && ms >= (int64_t)slow_ms;
    const char *msg;
    uint32_t msg_len;
    int code = rpc_response_error(job->reply, job->reply_len, &msg, &msg_len);
    enum log_level level = is_fault(code) ? LOG_ERROR : LOG_INFO;

    if (!slow && (code == 0 || level > log_get_level()))
        return;
    char sql[REQLOG_SQL_MAX + 32];
    describe(job, sql, sizeof(sql));
    if (code != 0)
        log_write(level,
                  "request failed: connection %" PRIu64 " (pid %ld): %s: %s: "
                  "%.*s; sql: %s",
                  conn_id, (long)pid, rpc_method_name(job->method),
                  rpc_code_name(code), (int)msg_len, msg ? msg : "", sql);
    if (slow)
        log_warn("slow request: %" PRId64 " ms on the %s: connection %" PRIu64
                 " (pid %ld): %s%s%s: %s",
                 ms, runners[job->ran_on], conn_id, (long)pid,
                 rpc_method_name(job->method), code ? " failed with " : "",
                 code ? rpc_code_name(code) : "", sql);
}
