/* Name the daemon's threads, and leave a trace when one of them crashes. */
#ifndef SQLITED_CRASH_H
#define SQLITED_CRASH_H

#include <signal.h>

/* Installs the crash handler for SIGSEGV, SIGBUS, SIGFPE, SIGILL and
 * SIGABRT: it writes to stderr the signal, the name and id of the thread it
 * hit and a backtrace, then lets the action that was there before (the
 * default, or a sanitizer's) take the signal, so that core dumps and
 * AddressSanitizer's report still happen. Call once, from the main thread,
 * before any other thread starts. Returns 0 or -1 (errno set). */
int crash_install(void);

/* Names the calling thread @name (at most 15 characters, as the kernel
 * keeps them) and gives it the alternate signal stack the crash handler
 * runs on, so that a stack overflow can be reported too. Call first thing in
 * every thread the daemon starts, the main one included. */
void crash_thread_init(const char *name);

/* Fills @set with the signals the worker threads block: the asynchronous
 * ones, which belong to the loop thread (SIGINT, SIGTERM, SIGHUP, SIGCHLD,
 * SIGPIPE, ...). The synchronous ones (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT, SIGTRAP, SIGSYS) stay unblocked: blocked, a fault kills the
 * process without running any handler, and leaves no trace. */
void crash_async_signals(sigset_t *set);

#endif /* SQLITED_CRASH_H */
