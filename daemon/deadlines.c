#include "deadlines.h"

#include <stdlib.h>

#include "clock.h"

static void heap_set(struct deadlines *d, size_t i, struct job *job)
{
    d->heap[i] = job;
    job->deadline_at = i + 1;
}

static void sift_up(struct deadlines *d, size_t i)
{
    struct job *job = d->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (d->heap[parent]->deadline <= job->deadline)
            break;
        heap_set(d, i, d->heap[parent]);
        i = parent;
    }
    heap_set(d, i, job);
}

static void sift_down(struct deadlines *d, size_t i)
{
    struct job *job = d->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= d->count)
            break;
        if (child + 1 < d->count &&
            d->heap[child + 1]->deadline < d->heap[child]->deadline)
            child++;
        if (job->deadline <= d->heap[child]->deadline)
            break;
        heap_set(d, i, d->heap[child]);
        i = child;
    }
    heap_set(d, i, job);
}

static void on_timer(uv_timer_t *timer);

/* Makes the timer fire at the earliest deadline, unless it fires sooner
 * already (a timer that fires early finds nothing and is set again). */
static void arm(struct deadlines *d)
{
    if (d->count == 0)
        return;
    int64_t at = d->heap[0]->deadline;
    if (d->armed != 0 && d->armed <= at)
        return;
    int64_t now = clock_now();
    uint64_t ms =
        at > now
            ? (uint64_t)((at - now + CLOCK_NS_PER_MS - 1) / CLOCK_NS_PER_MS)
            : 0;
    uv_timer_start(&d->timer, on_timer, ms, 0);
    d->armed = at;
}

static void on_timer(uv_timer_t *timer)
{
    struct deadlines *d = timer->data;
    int64_t now = clock_now();
    d->armed = 0;
    while (d->count > 0 && clock_passed(d->heap[0]->deadline, now)) {
        struct job *job = d->heap[0];
        deadlines_remove(d, job);
        d->expire(job);
    }
    arm(d);
}

void deadlines_init(struct deadlines *d, uv_loop_t *loop,
                    void (*expire)(struct job *job))
{
    *d = (struct deadlines){.expire = expire};
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_unref((uv_handle_t *)&d->timer);
}

void deadlines_close(struct deadlines *d)
{
    for (size_t i = 0; i < d->count; i++)
        d->heap[i]->deadline_at = 0;
    free(d->heap);
    d->heap = NULL;
    d->count = d->cap = 0;
}

void deadlines_add(struct deadlines *d, struct job *job)
{
    if (job->deadline == 0 || job->deadline_at != 0)
        return;
    if (d->count == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 64;
        struct job **heap = realloc(d->heap, cap * sizeof(*heap));
        if (heap == NULL)
            return;
        d->heap = heap;
        d->cap = cap;
    }
    d->count++;
    heap_set(d, d->count - 1, job);
    sift_up(d, d->count - 1);
    arm(d);
}

void deadlines_remove(struct deadlines *d, struct job *job)
{
    if (job->deadline_at == 0)
        return;
    size_t i = job->deadline_at - 1;
    job->deadline_at = 0;
    d->count--;
    if (i == d->count)
        return;
    struct job *last = d->heap[d->count];
    heap_set(d, i, last);
    if (i > 0 && d->heap[(i - 1) / 2]->deadline > last->deadline)
        sift_up(d, i);
    else
        sift_down(d, i);
}
