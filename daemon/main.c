/* sqlited: serve one SQLite database to local clients over a Unix socket. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "crash.h"
#include "db.h"
#include "log.h"
#include "server.h"

int main(int argc, char **argv)
{
    struct config cfg;
    struct server server;

    config_defaults(&cfg);
    int rc = config_parse(&cfg, argc, argv);
    if (cfg.check_config) {
        if (rc == 0)
            config_print(&cfg, stdout);
        config_free(&cfg);
        return rc < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
    }
    if (rc != 0) {
        config_free(&cfg);
        return rc > 0 ? EXIT_SUCCESS : 2;
    }
    log_set_level(cfg.log_level);
    if (cfg.log_file != NULL && log_open(cfg.log_file) != 0) {
        fprintf(stderr, "sqlited: cannot open the log file %s: %s\n",
                cfg.log_file, strerror(errno));
        return EXIT_FAILURE;
    }
    crash_thread_init("sqlited-loop");
    if (crash_install() != 0)
        log_warn("cannot install the crash handler: crashes will leave no "
                 "backtrace");

    /* A client that hangs up while we write must cost an EPIPE, not the
     * process. */
    signal(SIGPIPE, SIG_IGN);

    /* Each client is a file descriptor: allow as many as the hard limit
     * does (systemd's default soft limit of 1024 would cap
     * --max-connections below its own default). */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
        nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    int status = EXIT_FAILURE;
    if (db_library_init(&cfg) != 0) {
        log_error("cannot initialize SQLite");
        return status;
    }
    if (server_init(&server, &cfg) == 0 && server_run(&server) == 0)
        status = EXIT_SUCCESS;
    server_close(&server);
    if (status == EXIT_SUCCESS)
        log_info("stopped cleanly");
    config_free(&cfg);
    return status;
}
