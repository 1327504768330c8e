/* The access lists and the decisions on methods (daemon/access.c), without
 * a daemon: which entries a list takes, and what each level may call. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <string.h>

#include "../../daemon/access.h"
#include "../../daemon/log.h"

static void good(const char *list)
{
    char why[256] = "";
    cr_assert_eq(access_check_list(list, why, sizeof(why)), 0, "%s: %s", list,
                 why);
}

static void bad(const char *list, const char *message)
{
    char why[256] = "";
    cr_assert_eq(access_check_list(list, why, sizeof(why)), -1, "%s", list);
    cr_assert_str_eq(why, message, "%s", list);
}

Test(access_lists, entries_and_separators)
{
    good("uid:1000");
    good("gid:0");
    good("user:root");
    good("group:root");
    good("uid:1000, gid:27 user:root,group:root");
    good("  uid:1\t");
}

Test(access_lists, mistakes_are_named)
{
    bad("", "an empty list");
    bad(" , ", "an empty list");
    bad("1000", "'1000': an entry is uid:N, gid:N, user:NAME or group:NAME");
    bad("uid:", "'uid:': an entry is uid:N, gid:N, user:NAME or group:NAME");
    bad("uid:x1", "'uid:x1': not a number");
    bad("uid:-1", "'uid:-1': not a number");
    bad("gid:4294967295", "'gid:4294967295': not a number");
    bad("uid:1 user:no-such-user-here",
        "'user:no-such-user-here': no such user");
    bad("group:no-such-group-here", "'group:no-such-group-here': no such "
                                    "group");
}

static int check(enum access_level level, enum rpc_method m, char *why)
{
    struct access_peer peer = {.pid = 42,
                               .uid = 1001,
                               .gid = 1001,
                               .level = level,
                               .rule = "allow-x uid:1001"};
    why[0] = '\0';
    log_set_level(LOG_ERROR); /* each refusal is logged at warn */
    return access_check_method(&peer, m, why, 256);
}

Test(access_lists, what_each_level_may_call)
{
    char why[256];
    for (int m = 0; m < RPC_METHOD_COUNT; m++) {
        enum rpc_method method = (enum rpc_method)m;
        cr_assert_eq(check(ACCESS_OPERATOR, method, why), 0, "%s",
                     rpc_method_name(method));
        cr_assert_eq(check(ACCESS_WRITE, method, why),
                     access_operator_method(method) ? SQLITE_AUTH : 0, "%s",
                     rpc_method_name(method));
        cr_assert_eq(check(ACCESS_READ, method, why),
                     access_operator_method(method) ||
                             access_write_method(method)
                         ? SQLITE_AUTH
                         : 0,
                     "%s", rpc_method_name(method));
    }
    cr_assert_eq(check(ACCESS_READ, RPC_QUERY, why), 0,
                 "a query may read; one that writes is refused where it "
                 "runs");
    cr_assert_eq(check(ACCESS_READ, RPC_BEGIN, why), SQLITE_AUTH);
    cr_assert_str_eq(why, "access denied: begin may write, and uid 1001 may "
                          "only read (allow-x uid:1001)");
    cr_assert_eq(check(ACCESS_WRITE, RPC_BACKUP, why), SQLITE_AUTH);
    cr_assert_str_eq(why, "access denied: backup is an operator method, and "
                          "uid 1001 may only read and write (allow-x "
                          "uid:1001); operators are listed in "
                          "allow-operator");
    const enum rpc_method operators[] = {RPC_BACKUP,    RPC_CHECKPOINT,
                                         RPC_VACUUM,    RPC_OPTIMIZE,
                                         RPC_INTEGRITY, RPC_MIGRATE};
    for (size_t i = 0; i < sizeof(operators) / sizeof(*operators); i++)
        cr_assert(access_operator_method(operators[i]));
    cr_assert_not(access_operator_method(RPC_STATS));
    cr_assert_not(access_operator_method(RPC_HEALTH));
}

Test(access_lists, level_names)
{
    cr_assert_str_eq(access_level_name(ACCESS_READ), "read");
    cr_assert_str_eq(access_level_name(ACCESS_WRITE), "write");
    cr_assert_str_eq(access_level_name(ACCESS_OPERATOR), "operator");
}
