/* Readiness: the `health` method, and the verdict the HTTP listener's
 * /readyz gives.
 *
 * A probe runs on the loop thread. It sends one job to the reader pool (a
 * real read of the database file and of its schema, plus PRAGMA quick_check
 * on request) and one through the writer's queue (a round trip that runs no
 * SQL), both with the probe's deadline, and a timer for that deadline. When
 * both jobs are back, or the timer fires first, the probe judges (see
 * health_judge() in health.c: the one place where every condition that makes
 * the daemon not ready is checked) and calls back with a report.
 */
#ifndef SQLITED_HEALTH_H
#define SQLITED_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "job.h"

struct io_loop;

/* The default deadline of a probe, and the longest a client may ask for. */
#define HEALTH_TIMEOUT_MS 5000
#define HEALTH_MAX_TIMEOUT_MS 60000

enum health_status {
    HEALTH_OK,       /* ready */
    HEALTH_DEGRADED, /* ready, but something needs an operator's look */
    HEALTH_FAILING,  /* not ready */
};

/* "ok", "degraded", "failing". */
const char *health_status_name(enum health_status status);

/* What a probe found, for its callback: valid during the callback only. */
struct health_report {
    enum health_status status;
    const char *reason; /* one line for people; "ready" when ok */
    const struct health_probe *probe;
};

typedef void health_done_fn(const struct health_report *report, void *arg);

/* Starts a probe on loop @l with deadline @timeout_ms (1 to
 * HEALTH_MAX_TIMEOUT_MS) that adds PRAGMA quick_check when @quick; @done is
 * called on the loop thread, exactly once, within the deadline (plus the loop's
 * own delay). Returns 0, or -1 when out of memory (@done is then never called).
 * @l's thread. */
int health_probe_start(struct io_loop *l, bool quick, uint32_t timeout_ms,
                       health_done_fn *done, void *arg);

/* Appends the result of `health` for @report (a map, PROTOCOL.md). */
void health_pack(const struct health_report *report, struct codec_buf *b);

/* Its worker half, health_run(), is declared in run.h. */

/* The loop got a probe's job back from its worker. Frees the job. */
void health_job_done(struct job *job);

#endif /* SQLITED_HEALTH_H */
