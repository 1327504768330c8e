/* Monotonic time in nanoseconds, for deadlines shared between threads. */
#ifndef SQLITED_CLOCK_H
#define SQLITED_CLOCK_H

#include <stdint.h>
#include <time.h>

#define CLOCK_NS_PER_MS INT64_C(1000000)

static inline int64_t clock_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The instant @ms milliseconds from now; 0 (no deadline) when @ms is 0. */
static inline int64_t clock_after_ms(uint32_t ms)
{
    return ms == 0 ? 0 : clock_now() + (int64_t)ms * CLOCK_NS_PER_MS;
}

/* True when @deadline (0: none) has passed at @now. */
static inline int clock_passed(int64_t deadline, int64_t now)
{
    return deadline != 0 && now >= deadline;
}

#endif /* SQLITED_CLOCK_H */
