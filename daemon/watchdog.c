#include "watchdog.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "clock.h"
#include "crash.h"
#include "log.h"

struct watchdog_slot {
    atomic_bool used;
    atomic_int_fast64_t since; /* clock_now() of the last watchdog_busy();
                                  0: idle */
    char name[48];             /* written while unused, under the mutex */
};

static struct {
    int64_t interval; /* ns; 0: no watchdog */
    pthread_t thread;
    bool running;
    pthread_mutex_t mutex; /* guards stopping, registration and names */
    pthread_cond_t cond;
    bool stopping;
    bool stalled; /* the last check found a stalled thread (logged) */
    struct watchdog_slot slots[WATCHDOG_SLOTS];
} wd = {.mutex = PTHREAD_MUTEX_INITIALIZER};

int64_t watchdog_interval(void)
{
    return wd.interval;
}

/* Under the mutex: the first registered thread that has owed progress for
 * longer than the interval at @now, with how long in *@owed; NULL: none. */
static const struct watchdog_slot *stalled_slot(int64_t now, int64_t *owed)
{
    for (size_t i = 0; i < WATCHDOG_SLOTS; i++) {
        const struct watchdog_slot *slot = &wd.slots[i];
        if (!atomic_load(&slot->used))
            continue;
        int64_t since = atomic_load(&slot->since);
        if (since != 0 && now - since > wd.interval) {
            *owed = now - since;
            return slot;
        }
    }
    return NULL;
}

/* One check: WATCHDOG=1 when every thread makes progress; otherwise no
 * ping, and the stalled thread named in the log (once per stall). */
static void check(void)
{
    int64_t owed = 0;
    const struct watchdog_slot *slot = stalled_slot(clock_now(), &owed);
    if (slot == NULL) {
        if (wd.stalled)
            log_warn("watchdog: every thread makes progress again: "
                     "WATCHDOG=1 resumes");
        wd.stalled = false;
        sd_notify(0, "WATCHDOG=1");
        return;
    }
    if (!wd.stalled)
        log_error("watchdog: %s has made no progress for %.1f s, longer "
                  "than the watchdog interval (%.1f s): WATCHDOG=1 stops "
                  "until it does, and systemd restarts the daemon if it "
                  "stays stuck",
                  slot->name, (double)owed / 1e9, (double)wd.interval / 1e9);
    wd.stalled = true;
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    crash_thread_init("sqlited-wdog");
    pthread_mutex_lock(&wd.mutex);
    while (!wd.stopping) {
        check();
        int64_t next = clock_now() + wd.interval / 2;
        struct timespec ts = {.tv_sec = next / 1000000000,
                              .tv_nsec = next % 1000000000};
        while (!wd.stopping &&
               pthread_cond_timedwait(&wd.cond, &wd.mutex, &ts) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&wd.mutex);
    return NULL;
}

int watchdog_start(void)
{
    uint64_t usec = 0;
    int rc = sd_watchdog_enabled(0, &usec);
    if (rc < 0) {
        log_error("cannot read systemd's watchdog settings (WATCHDOG_USEC, "
                  "WATCHDOG_PID): %s",
                  strerror(-rc));
        return -1;
    }
    if (rc == 0 || usec == 0)
        return 0;
    wd.interval = (int64_t)usec * 1000;
    wd.stopping = false;
    wd.stalled = false;

    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&wd.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0) {
        log_error("cannot start the watchdog: %s", strerror(rc));
        wd.interval = 0;
        return -1;
    }
    /* Asynchronous signals are the loop's: the thread starts with them
     * blocked (crash.h). */
    sigset_t all, old;
    crash_async_signals(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&wd.thread, NULL, watchdog_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_error("cannot start the watchdog thread: %s", strerror(rc));
        pthread_cond_destroy(&wd.cond);
        wd.interval = 0;
        return -1;
    }
    wd.running = true;
    log_info("watchdog: WATCHDOG=1 every %.1f s while the I/O loops and the "
             "writer make progress",
             (double)wd.interval / 2e9);
    return 0;
}

void watchdog_stop(void)
{
    if (!wd.running)
        return;
    pthread_mutex_lock(&wd.mutex);
    wd.stopping = true;
    pthread_cond_signal(&wd.cond);
    pthread_mutex_unlock(&wd.mutex);
    pthread_join(wd.thread, NULL);
    pthread_cond_destroy(&wd.cond);
    wd.running = false;
    wd.interval = 0;
}

struct watchdog_slot *watchdog_register(const char *name)
{
    if (wd.interval == 0)
        return NULL;
    struct watchdog_slot *found = NULL;
    pthread_mutex_lock(&wd.mutex);
    for (size_t i = 0; i < WATCHDOG_SLOTS && found == NULL; i++) {
        struct watchdog_slot *slot = &wd.slots[i];
        if (atomic_load(&slot->used))
            continue;
        snprintf(slot->name, sizeof(slot->name), "%s", name);
        atomic_store(&slot->since, 0);
        atomic_store(&slot->used, true);
        found = slot;
    }
    pthread_mutex_unlock(&wd.mutex);
    if (found == NULL)
        log_warn("watchdog: no free slot for %s: the watchdog does not "
                 "watch it",
                 name);
    return found;
}

void watchdog_unregister(struct watchdog_slot *slot)
{
    if (slot == NULL)
        return;
    pthread_mutex_lock(&wd.mutex);
    atomic_store(&slot->since, 0);
    atomic_store(&slot->used, false);
    pthread_mutex_unlock(&wd.mutex);
}

void watchdog_busy(struct watchdog_slot *slot)
{
    if (slot)
        atomic_store_explicit(&slot->since, clock_now(), memory_order_relaxed);
}

void watchdog_idle(struct watchdog_slot *slot)
{
    if (slot)
        atomic_store_explicit(&slot->since, 0, memory_order_relaxed);
}

static void on_beat(uv_timer_t *timer)
{
    struct watchdog_beat *b = timer->data;
    watchdog_busy(b->slot);
}

void watchdog_beat_start(struct watchdog_beat *b, uv_loop_t *loop,
                         const char *name)
{
    b->slot = watchdog_register(name);
    if (b->slot == NULL)
        return;
    uint64_t period_ms = (uint64_t)(wd.interval / 4 / CLOCK_NS_PER_MS);
    if (period_ms == 0)
        period_ms = 1;
    uv_timer_init(loop, &b->timer);
    b->timer.data = b;
    uv_unref((uv_handle_t *)&b->timer);
    watchdog_busy(b->slot);
    uv_timer_start(&b->timer, on_beat, period_ms, period_ms);
}

void watchdog_beat_stop(struct watchdog_beat *b)
{
    if (b->slot == NULL)
        return;
    watchdog_unregister(b->slot);
    b->slot = NULL;
    if (!uv_is_closing((uv_handle_t *)&b->timer))
        uv_close((uv_handle_t *)&b->timer, NULL);
}
