/* Memory accounting: what each connection holds, and the daemon's total.
 *
 * Each connection has an account whose parent is the daemon's. The loop
 * thread adds and removes what a connection holds (its read buffer, its
 * requests in flight, its answers waiting to be written); a worker adds the
 * answer it built, checking both limits, before it hands the job back.
 * Counters are atomics, so either thread may read them.
 */
#ifndef SQLITED_MEMORY_H
#define SQLITED_MEMORY_H

#include <stdatomic.h>
#include <stdint.h>

struct memory {
    atomic_uint_fast64_t used;   /* bytes */
    uint64_t max;                /* what memory_try_add() stays within */
    struct memory *parent;       /* the daemon's total; NULL for that one */
    atomic_uint_fast64_t *gauge; /* a stats counter mirroring used, or NULL */
};

/* Prepares @m with limit @max, under @parent (may be NULL), mirrored into
 * @gauge (may be NULL). */
void memory_init(struct memory *m, uint64_t max, struct memory *parent,
                 atomic_uint_fast64_t *gauge);

/* Adds (or takes back) @n bytes to @m and its parent, without a check. */
void memory_add(struct memory *m, uint64_t n);
void memory_sub(struct memory *m, uint64_t n);

/* Adds @n bytes to @m and its parent unless that would take either past
 * its limit. Returns NULL when added, else the account that is full (and
 * nothing was added). Thread-safe. */
const struct memory *memory_try_add(struct memory *m, uint64_t n);

static inline uint64_t memory_used(const struct memory *m)
{
    return atomic_load_explicit(&m->used, memory_order_relaxed);
}

/* Writes @n bytes as "12.3 MiB" into @buf. */
void memory_format(uint64_t n, char *buf, int len);

#endif /* SQLITED_MEMORY_H */
