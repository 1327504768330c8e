/* Linked into the ThreadSanitizer build of the daemon only (make tsan): lets
 * TSan see the descriptors that libuv closes.
 *
 * Debian's libuv is not built with TSan, and on Linux it closes every
 * descriptor with syscall(SYS_close, fd) instead of close() (a TSan build of
 * libuv would call the sanitizer's syscall hooks there). TSan intercepts
 * close() but not syscall(), so it believes a client's socket that the loop
 * closed is still open. When the kernel then hands the same number to
 * another thread's open() or dup(), TSan reports a data race on "file
 * descriptor N" between the loop's accept4() and that thread, a race that
 * cannot happen. This syscall() comes before libc's for every library of the
 * process (the executable is searched first): it runs SYS_close through
 * close(), which TSan sees, and passes every other call on to libc's. */
#include <dlfcn.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

long syscall(long number, ...) __attribute__((visibility("default")));

long syscall(long number, ...)
{
    static long (*libc_syscall)(long, ...);
    long a[6];
    va_list ap;

    /* Six arguments whatever the call, as libc's syscall() takes them: the
     * ones not passed are whatever is in their registers, and unused. */
    va_start(ap, number);
    for (int i = 0; i < 6; i++)
        a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_close)
        return close((int)a[0]);
    long (*next)(long, ...) = __atomic_load_n(&libc_syscall, __ATOMIC_ACQUIRE);
    if (next == NULL) {
        *(void **)&next = dlsym(RTLD_NEXT, "syscall");
        __atomic_store_n(&libc_syscall, next, __ATOMIC_RELEASE);
    }
    return next(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
