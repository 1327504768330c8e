/* Short reads answered where they arrive: an I/O loop's own read-only
 * connection.
 *
 * The loop runs a query bound for the reader pool itself (route.h), on this
 * connection, under --inline-budget: the progress handler interrupts it
 * when the budget is spent, and the busy handler never waits. A read that
 * runs past the budget, meets a lock (SQLITE_BUSY, SQLITE_LOCKED), needs a
 * cursor (rows beyond one chunk) or turns out to write is reset, leaves no
 * trace (no reply, no statistics but the hand-off, no snapshot held), and
 * goes to the reader pool (or the writer), where it runs again to its own
 * deadline: its answer is what the pool alone would give. Between jobs the
 * connection holds no statement open and so no WAL snapshot: it cannot keep
 * a checkpoint from completing (checkpoint.h).
 *
 * One per I/O loop (struct io_loop), used by that loop's thread only;
 * opened and closed by the main thread before the loops start and after
 * they stop.
 */
#ifndef SQLITED_INLINE_READ_H
#define SQLITED_INLINE_READ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "stats.h"
#include "worker.h"

struct inline_reader {
    struct worker w;   /* its connection; w.db NULL when off */
    int64_t budget_ns; /* --inline-budget; 0: inline reads are off */
};

/* Opens the loop's read-only connection, unless --inline-budget is 0.
 * Returns 0, or -1 with a message in @err. */
int inline_read_init(struct inline_reader *ir, const struct config *cfg,
                     const atomic_bool *stop, struct stats *stats, char *err,
                     size_t errlen);

/* Closes the connection, if open. Accepts one never initialised (zeroed). */
void inline_read_close(struct inline_reader *ir);

/* True when the loop runs reads itself. */
bool inline_read_on(const struct inline_reader *ir);

enum inline_result {
    INLINE_ANSWERED, /* job->reply holds the answer: send it */
    INLINE_HANDOFF,  /* not finished here: give it to the reader pool */
    INLINE_WRITES,   /* it writes: give it to the writer */
};

/* Runs query @job, whose deadline is set, on the loop's connection within
 * the budget. Counts the job in the stats' inline_reads or
 * inline_handoffs. */
enum inline_result inline_read_run(struct inline_reader *ir, struct job *job);

#endif /* SQLITED_INLINE_READ_H */
