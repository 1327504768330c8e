/* systemd's watchdog: WATCHDOG=1 only while every thread that must make
 * progress (each I/O loop, the writer) does.
 *
 * Under systemd with WatchdogSec= (WATCHDOG_USEC in the environment, as
 * sd_watchdog_enabled() reads it), watchdog_start() starts a thread of its
 * own that wakes every half interval and sends WATCHDOG=1 unless a
 * registered thread is stalled: one that has owed progress for longer than
 * the interval. A thread owes progress from its last watchdog_busy() until
 * its watchdog_idle():
 * - an I/O loop always owes it, and proves it with a timer on its own libuv
 *   loop that calls watchdog_busy() four times per interval (struct
 *   watchdog_beat): a loop that stops turning stops the pings;
 * - the writer calls watchdog_busy() as each job starts and watchdog_idle()
 *   when it waits for work: a writer idle for hours is fine, a job that runs
 *   longer than the interval counts as a stuck writer.
 * When pings stop, systemd kills and restarts the daemon once the interval
 * has passed without one (Restart=, WatchdogSignal=).
 *
 * The watchdog is the process's, as systemd keeps one per process: the
 * module's state is global. Without WATCHDOG_USEC every call is a no-op and
 * no thread starts. Thread-safe, except watchdog_start() and
 * watchdog_stop(), which the main thread calls before the other threads
 * start and after they stop.
 */
#ifndef SQLITED_WATCHDOG_H
#define SQLITED_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* How many threads may register at once: the I/O loops, the writer. */
#define WATCHDOG_SLOTS 256

struct watchdog_slot;

/* Reads WATCHDOG_USEC (and WATCHDOG_PID, which must be this process's when
 * set) and, when systemd asks for a watchdog, starts the pinging thread.
 * Returns 0 (also when there is no watchdog), or -1 after logging why. */
int watchdog_start(void);

/* Stops and joins the pinging thread; nothing happens without one. */
void watchdog_stop(void);

/* The watchdog's interval in ns; 0 when there is none. */
int64_t watchdog_interval(void);

/* A slot for the calling thread, named @name in the log ("the writer",
 * "I/O loop 2"; copied), idle until its first watchdog_busy(). Returns NULL
 * when there is no watchdog (or, logged, no free slot): the calls below
 * accept NULL and then do nothing. */
struct watchdog_slot *watchdog_register(const char *name);

/* Frees @slot (may be NULL): its thread no longer has to make progress. */
void watchdog_unregister(struct watchdog_slot *slot);

/* The slot's thread owes progress from now on (or made some just now): it
 * must call watchdog_busy() again, or watchdog_idle(), within the
 * interval. Cheap: a clock read and an atomic store. */
void watchdog_busy(struct watchdog_slot *slot);

/* The slot's thread waits for work: it owes nothing until its next
 * watchdog_busy(). */
void watchdog_idle(struct watchdog_slot *slot);

/* An I/O loop's heartbeat: a timer on the loop calling watchdog_busy(). */
struct watchdog_beat {
    uv_timer_t timer;
    struct watchdog_slot *slot; /* NULL: no watchdog, nothing started */
};

/* Registers @name and starts @b's timer on @loop (unreferenced: it keeps
 * no loop running); does nothing without a watchdog. Call on the loop's
 * thread, or before it runs. */
void watchdog_beat_start(struct watchdog_beat *b, uv_loop_t *loop,
                         const char *name);

/* Closes @b's timer (unless a walk closed it already) and frees its slot:
 * for a loop that is shutting down. Accepts a beat never started, and
 * being called twice. The timer is closed with uv_close(), so the loop must
 * run once more before uv_loop_close(), as for any handle. */
void watchdog_beat_stop(struct watchdog_beat *b);

#endif /* SQLITED_WATCHDOG_H */
