#include "crash.h"

#include <execinfo.h>
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Signals that a fault of the thread itself raises (or abort()). */
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NFATAL (sizeof(fatal_signals) / sizeof(*fatal_signals))

/* The actions in place before ours: a sanitizer's handler, or the
 * default. Written before any thread starts, read-only afterwards. */
static struct sigaction previous[NFATAL];

/* Each thread's alternate stack: the handler must run even when the fault
 * was a stack overflow. */
#define ALT_STACK_SIZE (64 * 1024)
static _Thread_local char alt_stack[ALT_STACK_SIZE];

/* Async-signal-safe helpers: write(2) and nothing that allocates. */
static void put(const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void put_number(long v)
{
    char buf[24], *p = buf + sizeof(buf);
    *--p = '\0';
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    put(p);
}

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    default:
        return "a fatal signal";
    }
}

static void on_crash(int sig, siginfo_t *info, void *context)
{
    (void)context;
    char name[17] = "?";
    prctl(PR_GET_NAME, name, 0, 0, 0);
    name[16] = '\0';
    put("sqlited: error: crash: ");
    put(signal_name(sig));
    put(" in thread ");
    put(name);
    put(" (tid ");
    put_number((long)syscall(SYS_gettid));
    put(")");
    if ((sig == SIGSEGV || sig == SIGBUS) && info->si_code > 0) {
        char addr[2 + 16 + 1] = "0x";
        unsigned long a = (unsigned long)info->si_addr;
        for (int i = 0; i < 16; i++)
            addr[2 + i] = "0123456789abcdef"[(a >> (60 - 4 * i)) & 0xf];
        addr[18] = '\0';
        put(" at address ");
        put(addr);
    }
    if (info->si_code <= 0) {
        put(", sent by pid ");
        put_number((long)info->si_pid);
    }
    put("; backtrace:\n");
    void *frames[64];
    int n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    put("sqlited: error: crash: end of backtrace; handing the signal on\n");

    /* The previous action takes it from here: for a fault, once the
     * handler returns the instruction faults again; for a signal that was
     * sent (or abort()), raise it again, pending until we return. */
    for (size_t i = 0; i < NFATAL; i++)
        if (fatal_signals[i] == sig)
            sigaction(sig, &previous[i], NULL);
    if (info->si_code <= 0 || sig == SIGABRT)
        syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

int crash_install(void)
{
    /* backtrace() loads libgcc the first time: do that now, not in the
     * handler, where loading a library could deadlock. */
    void *frame;
    backtrace(&frame, 1);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_crash;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFATAL; i++)
        if (sigaction(fatal_signals[i], &sa, &previous[i]) != 0)
            return -1;
    return 0;
}

void crash_thread_init(const char *name)
{
    pthread_setname_np(pthread_self(), name);
    /* A thread that has an alternate stack keeps it: AddressSanitizer gives
     * each thread one, and unmaps whatever is installed when the thread
     * ends, which fails (and aborts) on this thread-local array. */
    stack_t old;
    if (sigaltstack(NULL, &old) == 0 && !(old.ss_flags & SS_DISABLE))
        return;
    stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof(alt_stack)};
    sigaltstack(&ss, NULL);
}

void crash_async_signals(sigset_t *set)
{
    sigfillset(set);
    static const int synchronous[] = {SIGSEGV, SIGBUS,  SIGFPE, SIGILL,
                                      SIGABRT, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof(synchronous) / sizeof(*synchronous); i++)
        sigdelset(set, synchronous[i]);
}
