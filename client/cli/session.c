/* Running SQL in a session and printing what it returns. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "session.h"

#include "cli.h"

/* Runs @sql with @params (NULL for none). One statement runs as a query,
 * on a reader, and a large result streams in chunks, so that printing it
 * takes bounded memory. The daemon refuses a script as a query with
 * SQLITED_BAD_REQUEST before running any of it; it then runs as exec,
 * whose result comes whole. */
static int run_sql(sqlited *db, const char *sql, const sqlited_params *params,
                   sqlited_rows **rows)
{
    int rc = sqlited_query(db, sql, params, rows);

    if (rc == SQLITED_BAD_REQUEST)
        rc = sqlited_exec(db, sql, params, rows);
    return rc;
}

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int session_run(struct session *s, const char *sql)
{
    sqlited_rows *rows = NULL;
    sqlited_params *params = NULL;
    double start = now();
    int status = 0;
    int rc = params_bind(&s->params, sql, &params);

    if (rc) {
        fprintf(stderr, "%s: binding parameters: %s\n", PROG,
                sqlited_strerror(rc));
        return EXIT_DAEMON_ERROR;
    }
    rc = run_sql(s->db, sql, params, &rows);
    if (rc) {
        status = report_call_error(s->db, rc);
    } else {
        rc = print_rows(&s->pr, rows);
        if (rc != SQLITED_DONE)
            status = out_failed(s->pr.out) ? output_error(&s->pr)
                                           : report_rows_error(s->db, rc);
    }
    sqlited_rows_close(rows);
    sqlited_params_close(params);
    /* sqlite3 prints it to standard output, after the rows. */
    if (s->timer)
        printf("Run Time: real %.3f\n", now() - start);
    output_command_done(&s->pr);
    return status;
}

int session_close(struct session *s, int status)
{
    sqlited_close(s->db);
    s->db = NULL;
    params_clear(&s->params);
    return printer_close(&s->pr, status);
}
