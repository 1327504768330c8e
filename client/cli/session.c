/* Running SQL in a session and printing what it returns. */
#include "session.h"

#include "cli.h"

/* Runs @sql. One statement runs as a query, on a reader, and a large
 * result streams in chunks, so that printing it takes constant memory
 * (but in table mode). The daemon refuses a script as a query with
 * SQLITED_BAD_REQUEST before running any of it; it then runs as exec,
 * whose result comes whole. */
static int run_sql(sqlited *db, const char *sql, sqlited_rows **rows)
{
    int rc = sqlited_query(db, sql, NULL, rows);

    if (rc == SQLITED_BAD_REQUEST)
        rc = sqlited_exec(db, sql, NULL, rows);
    return rc;
}

int session_run(struct session *s, const char *sql)
{
    sqlited_rows *rows = NULL;
    int status = 0;
    int rc = run_sql(s->db, sql, &rows);

    if (rc) {
        status = report_call_error(s->db, rc);
    } else {
        rc = print_rows(&s->pr, rows);
        if (rc != SQLITED_DONE && !out_failed(s->pr.out))
            status = report_rows_error(s->db, rc);
    }
    sqlited_rows_close(rows);
    return status;
}
