/* How the request log writes SQL (daemon/reqlog.c): cut at 200 bytes on a
 * character boundary, the full length said, one line whatever it holds. */
#include <criterion/criterion.h>
#include <string.h>

#include "../../daemon/reqlog.h"

Test(reqlog, short_sql_is_kept_whole)
{
    char buf[256];
    reqlog_sql("select 1", 8, buf, sizeof(buf));
    cr_assert_str_eq(buf, "select 1");
}

Test(reqlog, control_characters_become_blanks)
{
    char buf[256];
    reqlog_sql("select\n1\r\t\x1b[2J;", 15, buf, sizeof(buf));
    cr_assert_str_eq(buf, "select 1   [2J;");
}

Test(reqlog, long_sql_is_cut_with_its_length)
{
    char sql[300], buf[256], want[256];
    memset(sql, 'x', sizeof(sql));
    reqlog_sql(sql, sizeof(sql), buf, sizeof(buf));
    memset(want, 'x', REQLOG_SQL_MAX);
    strcpy(want + REQLOG_SQL_MAX, "... (300 bytes)");
    cr_assert_str_eq(buf, want);
}

Test(reqlog, a_cut_never_splits_a_character)
{
    char sql[300], buf[256];
    /* 'a' then two-byte characters: byte 200 is inside one. */
    sql[0] = 'a';
    for (size_t i = 1; i + 1 < sizeof(sql); i += 2) {
        sql[i] = (char)0xc3;
        sql[i + 1] = (char)0xa9; /* é */
    }
    reqlog_sql(sql, 299, buf, sizeof(buf));
    cr_assert_eq(strstr(buf, "...") - buf, 199, "%s", buf);
    cr_assert_eq((unsigned char)buf[198], 0xa9);
}
