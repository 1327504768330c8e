#include "memory.h"

#include <stdio.h>

void memory_init(struct memory *m, uint64_t max, struct memory *parent,
                 atomic_uint_fast64_t *gauge)
{
    atomic_init(&m->used, 0);
    m->max = max;
    m->parent = parent;
    m->gauge = gauge;
}

void memory_add(struct memory *m, uint64_t n)
{
    for (; m; m = m->parent) {
        atomic_fetch_add_explicit(&m->used, n, memory_order_relaxed);
        if (m->gauge)
            atomic_fetch_add_explicit(m->gauge, n, memory_order_relaxed);
    }
}

void memory_sub(struct memory *m, uint64_t n)
{
    for (; m; m = m->parent) {
        atomic_fetch_sub_explicit(&m->used, n, memory_order_relaxed);
        if (m->gauge)
            atomic_fetch_sub_explicit(m->gauge, n, memory_order_relaxed);
    }
}

const struct memory *memory_try_add(struct memory *m, uint64_t n)
{
    /* Added first and checked after, so that two threads cannot both pass
     * the check with room for one; a refused add is taken back. */
    memory_add(m, n);
    for (struct memory *a = m; a; a = a->parent) {
        if (memory_used(a) > a->max) {
            memory_sub(m, n);
            return a;
        }
    }
    return NULL;
}

void memory_format(uint64_t n, char *buf, int len)
{
    if (n >= (UINT64_C(1) << 20))
        snprintf(buf, (size_t)len, "%.1f MiB", (double)n / (1 << 20));
    else
        snprintf(buf, (size_t)len, "%.1f KiB", (double)n / (1 << 10));
}
