/* sqlited-cli: run SQL on the daemon and print the rows like the sqlite3 shell,
 * and the operator's commands (ping, health, stats).
 *
 * A client of the public libsqlited API only. Exit status: 0 success, 1 an
 * error answered by the daemon (or a local failure such as a write error), 2
 * a usage error or a failed connection; `health` follows pg_isready instead
 * (see health_main()).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sqlited.h"

#include "cli.h"
#include "dot.h"
#include "operator.h"
#include "output.h"
#include "script.h"
#include "session.h"
#include "shell.h"

static void usage(FILE *f)
{
    fputs(
        "Usage: " PROG " [options] SQL\n"
        "       " PROG " [options]            (on a terminal: the shell)\n"
        "       " PROG " [options] -f script.sql\n"
        "       " PROG " [options] < script.sql\n"
        "       " PROG " [options] .dump [TABLE] | .import FILE TABLE\n"
        "       " PROG " [options] ping [--count N] [--interval MS] "
        "[--latency]\n"
        "       " PROG " [options] health [--quick] | metrics\n"
        "       " PROG " [options] stats [--watch SECONDS [--count N]]\n"
        "       " PROG " [options] backup [DEST]\n"
        "       " PROG " [options] optimize [analyze]\n"
        "       " PROG " [options] vacuum\n"
        "       " PROG " [options] integrity [quick|full]\n"
        "       " PROG " [options] migrate up|down [VERSION] | status\n"
        "       " PROG " [options] checkpoint [MODE]\n"
        "       " PROG " COMMAND --help\n"
        "\n"
        "Runs SQL on the sqlited daemon and prints the rows it returns:\n"
        "one argument, a script file (-f), or standard input ('-', or\n"
        "when it is not a terminal), statement by statement, printing\n"
        "each statement's rows. BEGIN, COMMIT and ROLLBACK open and end\n"
        "the daemon's transactions; lines starting with '.' are\n"
        "dot-commands (.read FILE runs another script); so is an\n"
        "argument starting with '.' ('.tables', '.schema users'; '.help'\n"
        "lists them).\n"
        "\n"
        "With no SQL on a terminal, it opens an interactive shell: a\n"
        "statement runs once a ';' ends it, a line starting with '.' is a\n"
        "dot-command (.help lists them), Tab completes keywords, tables,\n"
        "columns and dot-commands, Ctrl-C drops the statement being typed\n"
        "or interrupts the one running, Ctrl-D leaves. History is kept in\n"
        "$SQLITED_HISTORY, else ~/.sqlited_history.\n"
        "\n"
        "Commands:\n"
        "  .dump [TABLE]       SQL text that rebuilds the database (or the\n"
        "                      tables TABLE matches), from one snapshot\n"
        "  .import FILE TABLE  a CSV file into TABLE (created when missing),\n"
        "                      all or nothing; --skip N skips N records\n"
        "  ping                check that the daemon's event loop answers;\n"
        "                      --count N, --interval MS, --latency: measure\n"
        "                      round trips (min/avg/max/p99)\n"
        "  health              readiness probe: exit 0 ready, 1 the daemon\n"
        "                      answers but is not ready, 2 nothing answers,\n"
        "                      3 usage error; one line (or --json)\n"
        "  stats               the daemon's counters, as JSON; --watch\n"
        "                      SECONDS: their rates, refreshed (--count N\n"
        "                      lines, or until Ctrl-C)\n"
        "  metrics             the same, in Prometheus text format (--json:\n"
        "                      as stats)\n"
        "  backup [DEST]       have the daemon copy the database into its\n"
        "                      --backup-dir (DEST: a name or path inside it;\n"
        "                      default a timestamped name)\n"
        "  optimize [analyze]  PRAGMA optimize ('analyze': a full ANALYZE)\n"
        "  vacuum              rebuild the file and say what it reclaimed\n"
        "  integrity [quick|full]  check the database (exit status 1 on\n"
        "                      problems)\n"
        "  migrate up|down [VERSION] | status  apply, undo or list the\n"
        "                      migrations of the daemon's --migrations DIR\n"
        "  checkpoint [MODE]   checkpoint the WAL now; MODE is PASSIVE\n"
        "                      (default), FULL, RESTART or TRUNCATE (exit\n"
        "                      status 1 when it was busy)\n"
        "\n"
        "Options:\n"
        "  -s, --socket PATH   daemon socket (default: $SQLITED_SOCKET, "
        "else\n"
        "                      " SQLITED_DEFAULT_SOCKET ")\n"
        "  -m, --mode MODE     output: list, table, box, csv, json, line,\n"
        "                      markdown, column (default list)\n"
        "      --header        print column names (default for all but\n"
        "                      list, json, line)\n"
        "      --no-header     do not print column names (default for\n"
        "                      list; table, box and markdown always do)\n"
        "  -t, --timeout MS    connect timeout in milliseconds, 0 for none\n"
        "                      (default 5000); for ping and health the\n"
        "                      whole probe's deadline, which must be set\n"
        "      --json          operations: print the result as JSON (for\n"
        "                      SQL: --mode json)\n"
        "      --quick         health: also run PRAGMA quick_check\n"
        "      --cmd COMMAND   run COMMAND (a dot-command such as\n"
        "                      '.mode box', or SQL) first; repeatable\n"
        "  -f, --file FILE     run the script FILE ('-': standard input)\n"
        "      --bail          stop at the first statement that fails\n"
        "                      (the default)\n"
        "      --no-bail       run the rest of the script after a failure\n"
        "                      (the exit status is still 1)\n"
        "      --echo          print each statement before its output\n"
        "      --atomic        run the whole script as one transaction:\n"
        "                      all of it applies, or nothing (rolled back\n"
        "                      at the first failure)\n"
        "      --count N       ping: N pings; stats --watch: N lines\n"
        "      --interval MS   ping: between pings (default 1000, 10 with\n"
        "                      --latency)\n"
        "      --latency       ping: measure until Ctrl-C or --count\n"
        "      --watch SECONDS stats: print the rates every SECONDS\n"
        "  -h, --help          show this help and exit (after a command:\n"
        "                      that command's manual)\n"
        "  -V, --version       show the version and exit\n"
        "\n"
        "Exit status: 0 success, 1 a statement failed (the daemon reported\n"
        "an error) or a dot-command did, 2 a usage error on the command\n"
        "line, no connection, or a connection lost;\n"
        "a reader that goes away (| head) ends it quietly by SIGPIPE (141).\n",
        f);
}

static void hold_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
            open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* Parses @arg, a whole number from @min to INT_MAX, into *@out. */
static bool parse_count(const char *arg, long min, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < min || v > INT_MAX)
        return false;
    *out = v;
    return true;
}

/* Whether argv holds the word @cmd as an argument rather than as the value
 * of an option: decides, before the options are parsed, what a usage error
 * exits with. */
static bool argv_has_command(int argc, char **argv, const char *cmd)
{
    for (int i = 1; i < argc; i++) {
        const char *prev = argv[i - 1];
        bool is_value =
            i > 1 &&
            (strcmp(prev, "-s") == 0 || strcmp(prev, "--socket") == 0 ||
             strcmp(prev, "-m") == 0 || strcmp(prev, "--mode") == 0 ||
             strcmp(prev, "-t") == 0 || strcmp(prev, "--timeout") == 0 ||
             strcmp(prev, "-f") == 0 || strcmp(prev, "--file") == 0);
        if (strcmp(argv[i], "--") == 0)
            return i + 1 < argc && strcmp(argv[i + 1], cmd) == 0;
        if (!is_value && strcmp(argv[i], cmd) == 0)
            return true;
    }
    return false;
}

/* The usage error for @extra, the first word after what @usage takes. */
static int too_many_arguments(const char *usage, const char *extra)
{
    char what[128];
    snprintf(what, sizeof(what), "too many arguments (usage: %s)", usage);
    return usage_error(what, extra);
}

/* The usage error for what getopt_long() refused: @opt is ':' for an option
 * without its value, '?' for an unknown one or a long one given a value it
 * does not take (optopt names it). A short option inside a cluster (-hx) is
 * known only by optopt; a long one by the word just read. A negative number
 * (migrate up -1) reads as an option, so it is named as what it is. */
static int bad_option(int opt, int argc, char **argv)
{
    const char *word = argv[optind - 1];
    char shortopt[3] = {'-', (char)optopt, '\0'};
    bool in_cluster = optind < argc && optopt && argv[optind][0] == '-' &&
                      argv[optind][1] != '-' &&
                      strchr(argv[optind] + 1, optopt);

    if (in_cluster || strncmp(word, "--", 2) != 0)
        word = shortopt;
    if (opt == ':')
        return usage_error("option needs a value", word);
    if (word != shortopt && optopt && strchr(word, '='))
        return usage_error("option takes no value", word);
    if (optopt >= '0' && optopt <= '9')
        for (int i = 1; i < argc; i++)
            if (argv[i][0] == '-' && argv[i][1] == optopt)
                return usage_error("a negative number is not an argument "
                                   "any command takes",
                                   argv[i]);
    return usage_error("unknown option", word);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"mode", required_argument, NULL, 'm'},
        {"header", no_argument, NULL, 'H'},
        {"no-header", no_argument, NULL, 'N'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'J'},
        {"quick", no_argument, NULL, 'Q'},
        {"cmd", required_argument, NULL, 'M'},
        {"file", required_argument, NULL, 'f'},
        {"bail", no_argument, NULL, 'B'},
        {"no-bail", no_argument, NULL, 'b'},
        {"echo", no_argument, NULL, 'E'},
        {"atomic", no_argument, NULL, 'A'},
        {"count", required_argument, NULL, 'C'},
        {"interval", required_argument, NULL, 'I'},
        {"latency", no_argument, NULL, 'L'},
        {"watch", required_argument, NULL, 'W'},
        {NULL, 0, NULL, 0},
    };
    const struct command *cmd = NULL;
    bool json = false, quick = false, help = false;
    struct op_options op = {.interval_ms = -1};
    long v;
    struct session s = {.pr = {.mode = MODE_LIST, .out = stdout}, .bail = true};
    const char *cmds[argc]; /* --cmd's, in order */
    int ncmds = 0;
    const char *path = getenv("SQLITED_SOCKET");
    const char *sql_arg = NULL, *file = NULL, *name = NULL;
    FILE *in = NULL;
    bool no_bail = false;
    sqlited *db = NULL;
    int header = -1, timeout_ms = DEFAULT_TIMEOUT_MS;
    int opt, rc, status;

    hold_std_fds();
    /* A reader that went away shows as a write error (EPIPE), so that the
     * cursor, the transaction and the connection are closed properly
     * first; finish_output() then ends the process by SIGPIPE, quietly, as
     * sqlite3 and psql end. */
    signal(SIGPIPE, SIG_IGN);

    if (!path || !*path)
        path = SQLITED_DEFAULT_SOCKET;
    if (argv_has_command(argc, argv, "health"))
        usage_status = HEALTH_USAGE;
    opterr = 0; /* bad_option() says what was wrong, in one line */
    while ((opt = getopt_long(argc, argv, ":s:m:t:f:hV", longopts, NULL)) !=
           -1) {
        switch (opt) {
        case 's':
            path = optarg;
            break;
        case 'm':
            if (!mode_parse(optarg, &s.pr.mode)) {
                char what[128];
                snprintf(what, sizeof(what), "unknown mode (%s)", mode_names);
                return usage_error(what, optarg);
            }
            break;
        case 'H':
            header = 1;
            break;
        case 'N':
            header = 0;
            break;
        case 'J':
            json = true;
            break;
        case 'Q':
            quick = true;
            break;
        case 'M':
            cmds[ncmds++] = optarg;
            break;
        case 'f':
            if (file)
                return usage_error("one script at a time (-f given twice)",
                                   optarg);
            file = optarg;
            break;
        case 'B':
            s.bail = true;
            no_bail = false;
            break;
        case 'b':
            s.bail = false;
            no_bail = true;
            break;
        case 'E':
            s.echo = true;
            break;
        case 'A':
            s.atomic = true;
            break;
        case 't':
            if (!parse_count(optarg, 0, &v))
                return usage_error("invalid timeout", optarg);
            timeout_ms = (int)v;
            break;
        case 'C':
            if (!parse_count(optarg, 1, &v))
                return usage_error("--count takes a number, 1 or more", optarg);
            op.count = v;
            break;
        case 'I':
            if (!parse_count(optarg, 0, &v))
                return usage_error("--interval takes milliseconds", optarg);
            op.interval_ms = (int)v;
            break;
        case 'L':
            op.latency = true;
            break;
        case 'W':
            if (!parse_count(optarg, 1, &v) || v > 86400)
                return usage_error("--watch takes seconds, 1 to 86400", optarg);
            op.watch_s = (int)v;
            break;
        case 'h':
            help = true;
            break;
        case 'V':
            printf("%s %s (protocol %d)\n", PROG, SQLITED_VERSION,
                   SQLITED_PROTOCOL_VERSION);
            return finish_output(0);
        default:
            return bad_option(opt, argc, argv);
        }
    }
    const char *word = optind < argc ? argv[optind] : "";
    /* `COMMAND --help` is that command's manual. */
    if (help) {
        const char *manual = command_help(word);
        if (manual) {
            fputs(manual, stdout);
        } else if (word[0] == '.') {
            /* `.dump --help`: that dot-command's help. */
            if (dot_command_help(word, stdout) != 0)
                return usage_error("no such dot-command (try .help)", word);
        } else {
            usage(stdout);
        }
        return finish_output(0);
    }
    op.json = json;
    if ((op.count || op.interval_ms >= 0 || op.latency) &&
        strcmp(word, "ping") != 0 &&
        !(strcmp(word, "stats") == 0 && op.watch_s && !op.latency &&
          op.interval_ms < 0))
        return usage_error("--count, --interval and --latency apply to ping "
                           "(and --count to stats --watch)",
                           NULL);
    if (op.watch_s && strcmp(word, "stats") != 0)
        return usage_error("--watch applies to stats", NULL);
    /* The probes. Each always has a deadline: against a daemon that hangs
     * (stopped with SIGSTOP, say) it must still answer. */
    bool probe = strcmp(word, "ping") == 0 || strcmp(word, "health") == 0;
    if (probe && argc - optind > 1)
        return too_many_arguments(strcmp(word, "ping") == 0
                                      ? "ping [--count N] [--interval MS] "
                                        "[--latency]"
                                      : "health [--quick]",
                                  argv[optind + 1]);
    if (probe && timeout_ms == 0)
        return usage_error("a probe needs a deadline: --timeout must be at "
                           "least 1 ms",
                           word);
    if (quick && strcmp(word, "health") != 0)
        return usage_error("--quick applies to health only", NULL);
    if (strcmp(word, "health") == 0)
        return finish_output(health_main(path, timeout_ms, json, quick));
    if (strcmp(word, "ping") == 0)
        return ping_main(path, timeout_ms, &op);
    if (optind < argc && (cmd = command_find(argv[optind])) != NULL) {
        int nargs = argc - optind - 1;
        if (nargs > cmd->max_args)
            return too_many_arguments(cmd->args,
                                      argv[optind + 1 + cmd->max_args]);
        if (nargs < cmd->min_args)
            return usage_error("missing argument: usage", cmd->args);
        rc = sqlited_open(path, timeout_ms, &db);
        if (rc)
            return report_connect_error(path, rc);
        status = cmd->run(db, nargs, argv + optind + 1, &op);
        sqlited_close(db);
        return finish_output(status);
    }
    if (argc - optind > 1)
        return usage_error("too many arguments (pass the SQL as one quoted "
                           "argument)",
                           NULL);
    if (optind < argc)
        sql_arg = argv[optind];
    if (sql_arg && file)
        return usage_error("give the SQL as an argument or a script (-f), "
                           "not both",
                           NULL);
    if (s.atomic && no_bail)
        return usage_error("--atomic stops at the first failure: it does "
                           "not go with --no-bail",
                           NULL);
    if (json)
        s.pr.mode = MODE_JSON;
    s.pr.header_set = header >= 0;
    s.pr.header = header >= 0 ? header : mode_default_header(s.pr.mode);

    /* No SQL and no script, on a terminal: the interactive shell, after
     * the --cmd's (as sqlite3's -cmd). */
    if (!sql_arg && !file && isatty(STDIN_FILENO)) {
        rc = sqlited_open(path, timeout_ms, &s.db);
        if (rc)
            return report_connect_error(path, rc);
        status = 0;
        for (int i = 0; i < ncmds && status == 0 && !s.quit && !s.broken; i++)
            status = script_run_text(&s, cmds[i], NULL);
        if (!s.quit && !s.broken)
            status = shell_main(&s, path);
        return finish_output(session_close(&s, status));
    }
    if (sql_arg && strcmp(sql_arg, "-") == 0) {
        sql_arg = NULL;
        file = "-";
    }
    if (!sql_arg && !file)
        file = "-";
    if (file) {
        /* Before connecting: a script that is not there is a usage error,
         * whatever the daemon. */
        status = script_open(file, &in);
        if (status)
            return status;
        name = in == stdin ? "<stdin>" : file;
    }

    rc = sqlited_open(path, timeout_ms, &s.db);
    if (rc) {
        if (in && in != stdin)
            fclose(in);
        return report_connect_error(path, rc);
    }
    /* --cmd's first, then the SQL argument or the script; the first
     * failure stops the run. A dot-command as the argument runs as the
     * sqlite3 shell's does (sqlited-cli ".dump t"): the script runner takes
     * a line starting with '.' as one. */
    status = 0;
    for (int i = 0; i < ncmds && status == 0 && !s.quit; i++)
        status = script_run_text(&s, cmds[i], NULL);
    if (status == 0 && !s.quit)
        status = script_main(&s, in, sql_arg, name);
    status = session_close(&s, status);
    if (in && in != stdin)
        fclose(in);
    return finish_output(status);
}
