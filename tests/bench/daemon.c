/* Starting and stopping the daemon under test, and reading its memory. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sqlited.h"

pid_t daemon_start(const char *bin, const char *db_path,
                   const char *socket_path, const char *synchronous,
                   int io_threads, const char *log_path)
{
    char threads[16];
    snprintf(threads, sizeof(threads), "%d", io_threads);
    const char *extra[] = {"--io-threads", threads, NULL};
    return daemon_start_args(bin, db_path, socket_path, synchronous, log_path,
                             io_threads > 0 ? extra : NULL);
}

pid_t daemon_start_args(const char *bin, const char *db_path,
                        const char *socket_path, const char *synchronous,
                        const char *log_path, const char *const *extra)
{
    const char *argv[64] = {bin,         "--database",  db_path,
                            "--socket",  socket_path,   "--synchronous",
                            synchronous, "--log-level", "warn"};
    size_t n = 9;
    for (size_t i = 0;
         extra && extra[i] && n + 1 < sizeof(argv) / sizeof(*argv); i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid == 0) {
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (log >= 0) {
            dup2(log, STDOUT_FILENO);
            dup2(log, STDERR_FILENO);
            close(log);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    /* Ready when it answers a handshake. */
    for (int i = 0; i < 1000; i++) {
        sqlited *db;
        if (sqlited_open(socket_path, 1000, &db) == 0) {
            sqlited_close(db);
            return pid;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
        usleep(10000);
    }
    fprintf(stderr, "bench: the daemon did not start; see %s\n", log_path);
    server_stop(pid);
    return -1;
}

int server_stop(pid_t pid)
{
    int status;
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    for (int i = 0; i < 1000; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status)
                                     : 128 + WTERMSIG(status);
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

long rss_kib(pid_t pid, bool peak)
{
    const char *field = peak ? "VmHWM:" : "VmRSS:";
    char path[64], line[256];
    long kib = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, strlen(field)) == 0)
            kib = strtol(line + strlen(field), NULL, 10);
    fclose(f);
    return kib;
}

/* Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS. */
void rss_reset_peak(pid_t pid)
{
    char path[64];
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
    fd = open(path, O_WRONLY);
    if (fd < 0)
        return;
    if (write(fd, "5", 1) != 1)
        fprintf(stderr, "bench: cannot reset the daemon's peak RSS: %s\n",
                strerror(errno));
    close(fd);
}

double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long utime, stime;
    FILE *f;
    char *p = NULL;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (fgets(buf, sizeof(buf), f))
        p = strrchr(buf, ')'); /* the name may hold spaces */
    fclose(f);
    /* After the name: state, then 10 fields, then utime and stime. */
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
               &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}
