#include "access.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "job.h"
#include "log.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

/* The most supplementary groups of a client looked at. */
#define ACCESS_MAX_GROUPS 64

/* One entry of a list: a uid or a gid, and the level its list gives. */
struct access_entry {
    enum access_level level;
    bool group;
    unsigned id;
    char rule[96]; /* "allow-write user:www-data": said in refusals */
};

/* The rules new connections meet. Immutable once published; a set that
 * SIGHUP replaced is kept (a connection may be reading it) until
 * access_close(). */
struct access_rules {
    struct access_rules *older;
    size_t n; /* 0: no list configured, everyone may do everything */
    struct access_entry entries[];
};

static _Atomic(struct access_rules *) current;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
    [ACCESS_NONE] = "none",
    [ACCESS_READ] = "read",
    [ACCESS_WRITE] = "write",
    [ACCESS_OPERATOR] = "operator",
};

const char *access_level_name(enum access_level level)
{
    return level_names[level];
}

/* The configuration's key for the list of @level. */
static const char *list_name(enum access_level level)
{
    return level == ACCESS_READ    ? "allow-read"
           : level == ACCESS_WRITE ? "allow-write"
                                   : "allow-operator";
}

/* Parses one entry @s[0..len) into @e (level and rule left to the caller).
 * Returns 0, or -1 with the problem in @why. */
static int parse_entry(const char *s, size_t len, struct access_entry *e,
                       char *why, size_t why_len)
{
    static const struct {
        const char *prefix;
        bool group, name;
    } kinds[] = {{"uid:", false, false},
                 {"gid:", true, false},
                 {"user:", false, true},
                 {"group:", true, true}};
    char value[64];

    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_t plen = strlen(kinds[k].prefix);
        if (len <= plen || strncmp(s, kinds[k].prefix, plen) != 0)
            continue;
        if (len - plen >= sizeof(value))
            break;
        memcpy(value, s + plen, len - plen);
        value[len - plen] = '\0';
        e->group = kinds[k].group;
        if (!kinds[k].name) {
            char *end;
            errno = 0;
            unsigned long id = strtoul(value, &end, 10);
            if (errno || *end || !isdigit((unsigned char)value[0]) ||
                id >= (unsigned long)(uid_t)-1) {
                snprintf(why, why_len, "'%.*s': not a number", (int)len, s);
                return -1;
            }
            e->id = (unsigned)id;
            return 0;
        }
        /* Names are looked up once, when the configuration is loaded. */
        char buf[4096];
        int rc;
        if (kinds[k].group) {
            struct group gr, *found = NULL;
            rc = getgrnam_r(value, &gr, buf, sizeof(buf), &found);
            if (found) {
                e->id = (unsigned)found->gr_gid;
                return 0;
            }
        } else {
            struct passwd pw, *found = NULL;
            rc = getpwnam_r(value, &pw, buf, sizeof(buf), &found);
            if (found) {
                e->id = (unsigned)found->pw_uid;
                return 0;
            }
        }
        snprintf(why, why_len, "'%.*s': no such %s%s%s", (int)len, s,
                 kinds[k].group ? "group" : "user", rc ? ": " : "",
                 rc ? strerror(rc) : "");
        return -1;
    }
    snprintf(why, why_len,
             "'%.*s': an entry is uid:N, gid:N, user:NAME or group:NAME",
             (int)len, s);
    return -1;
}

/* Calls @fn on each entry of @list; stops at the first that fails. */
static int each_entry(const char *list, int (*fn)(const char *, size_t, void *),
                      void *arg)
{
    const char *p = list;
    while (*p) {
        p += strspn(p, ", \t");
        size_t len = strcspn(p, ", \t");
        if (len > 0 && fn(p, len, arg) != 0)
            return -1;
        p += len;
    }
    return 0;
}

struct check_ctx {
    char *why;
    size_t len;
    size_t n;
};

static int check_one(const char *s, size_t len, void *arg)
{
    struct check_ctx *ctx = arg;
    struct access_entry e;
    ctx->n++;
    return parse_entry(s, len, &e, ctx->why, ctx->len);
}

int access_check_list(const char *list, char *why, size_t len)
{
    struct check_ctx ctx = {why, len, 0};
    if (each_entry(list, check_one, &ctx) != 0)
        return -1;
    if (ctx.n == 0) {
        snprintf(why, len, "an empty list");
        return -1;
    }
    return 0;
}

struct load_ctx {
    struct access_rules *rules;
    enum access_level level;
    char why[256];
};

static int load_one(const char *s, size_t len, void *arg)
{
    struct load_ctx *ctx = arg;
    struct access_entry *e = &ctx->rules->entries[ctx->rules->n];
    if (parse_entry(s, len, e, ctx->why, sizeof(ctx->why)) != 0)
        return -1;
    e->level = ctx->level;
    snprintf(e->rule, sizeof(e->rule), "%s %.*s", list_name(ctx->level),
             (int)len, s);
    ctx->rules->n++;
    return 0;
}

int access_load(const struct config *cfg)
{
    const char *lists[] = {[ACCESS_READ] = cfg->allow_read,
                           [ACCESS_WRITE] = cfg->allow_write,
                           [ACCESS_OPERATOR] = cfg->allow_operator};
    size_t max = 0;
    for (int l = ACCESS_READ; l <= ACCESS_OPERATOR; l++)
        if (lists[l])
            max +=
                strlen(lists[l]) / 2 + 1; /* an entry takes 2 bytes or more */
    struct load_ctx ctx = {
        .rules = calloc(1, sizeof(struct access_rules) +
                               max * sizeof(struct access_entry))};
    if (ctx.rules == NULL) {
        log_error("out of memory loading the access lists");
        return -1;
    }
    for (int l = ACCESS_READ; l <= ACCESS_OPERATOR; l++) {
        ctx.level = (enum access_level)l;
        if (lists[l] && each_entry(lists[l], load_one, &ctx) != 0) {
            log_error("%s: %s; the access lists stay as they were",
                      list_name(ctx.level), ctx.why);
            free(ctx.rules);
            return -1;
        }
    }
    pthread_mutex_lock(&load_lock);
    ctx.rules->older = atomic_load(&current);
    atomic_store_explicit(&current, ctx.rules, memory_order_release);
    pthread_mutex_unlock(&load_lock);
    return 0;
}

void access_close(void)
{
    struct access_rules *r = atomic_exchange(&current, NULL);
    while (r) {
        struct access_rules *older = r->older;
        free(r);
        r = older;
    }
}

/* Whether @e names the client @peer, whose supplementary groups are
 * @groups[0..ngroups). */
static bool matches(const struct access_entry *e,
                    const struct access_peer *peer, const gid_t *groups,
                    size_t ngroups)
{
    if (!e->group)
        return e->id == (unsigned)peer->uid;
    if (e->id == (unsigned)peer->gid)
        return true;
    for (size_t i = 0; i < ngroups; i++)
        if (e->id == (unsigned)groups[i])
            return true;
    return false;
}

/* Decides what @peer, whose socket is @fd, may do under @rules. Returns
 * 0, or -1 with what to tell it in @why. */
static int decide(int fd, struct access_peer *peer,
                  const struct access_rules *rules, char *why, size_t len)
{
    if (rules == NULL || rules->n == 0)
        return 0;
    if (peer->pid < 0) {
        peer->level = ACCESS_NONE;
        peer->rule = "credentials unknown";
        snprintf(why, len,
                 "access denied: the daemon cannot read the client's "
                 "credentials (SO_PEERCRED)");
        return -1;
    }
    /* Root, and the daemon's own user, can open the database file
     * itself: refusing them protects nothing. */
    if (peer->uid == 0 || peer->uid == geteuid()) {
        peer->rule = peer->uid == 0 ? "root" : "the daemon's own user";
        return 0;
    }
    gid_t groups[ACCESS_MAX_GROUPS];
    socklen_t glen = sizeof(groups);
    size_t ngroups = 0;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
        ngroups = glen / sizeof(gid_t);
    peer->level = ACCESS_NONE;
    peer->rule = "in no allow- list";
    for (size_t i = 0; i < rules->n; i++) {
        const struct access_entry *e = &rules->entries[i];
        if (e->level > peer->level && matches(e, peer, groups, ngroups)) {
            peer->level = e->level;
            peer->rule = e->rule;
        }
    }
    if (peer->level != ACCESS_NONE)
        return 0;
    snprintf(why, len,
             "access denied: uid %u (gid %u) is in none of allow-read, "
             "allow-write and allow-operator",
             (unsigned)peer->uid, (unsigned)peer->gid);
    return -1;
}

void access_peer_read(int fd, struct access_peer *peer)
{
    struct ucred cred;
    socklen_t clen = sizeof(cred);

    *peer = (struct access_peer){.pid = -1,
                                 .uid = (uid_t)-1,
                                 .gid = (gid_t)-1,
                                 .level = ACCESS_OPERATOR,
                                 .rule = "no allow- list is set"};
    if (fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0) {
        peer->pid = cred.pid;
        peer->uid = cred.uid;
        peer->gid = cred.gid;
    }
}

int access_peer_open(int fd, uint64_t conn_id, struct access_peer *peer,
                     char *why, size_t len)
{
    access_peer_read(fd, peer);
    int rc =
        decide(fd, peer, atomic_load_explicit(&current, memory_order_acquire),
               why, len);
    if (rc != 0)
        log_warn("connection %" PRIu64 " refused: pid %ld uid %u gid %u: %s",
                 conn_id, (long)peer->pid, (unsigned)peer->uid,
                 (unsigned)peer->gid, why);
    else
        log_info("connection %" PRIu64 " accepted: pid %ld uid %u gid %u, "
                 "access %s (%s)",
                 conn_id, (long)peer->pid, (unsigned)peer->uid,
                 (unsigned)peer->gid, access_level_name(peer->level),
                 peer->rule);
    return rc;
}

void access_peer_close(uint64_t conn_id, const struct access_peer *peer)
{
    log_info("connection %" PRIu64 " closed: pid %ld uid %u gid %u", conn_id,
             (long)peer->pid, (unsigned)peer->uid, (unsigned)peer->gid);
}

bool access_operator_method(enum rpc_method method)
{
    switch (method) {
    case RPC_BACKUP:
    case RPC_CHECKPOINT:
    case RPC_VACUUM:
    case RPC_OPTIMIZE:
    case RPC_INTEGRITY:
    case RPC_MIGRATE:
        return true;
    default:
        return false;
    }
}

bool access_write_method(enum rpc_method method)
{
    switch (method) {
    case RPC_EXEC:
    case RPC_BATCH:
    case RPC_BULK:
    case RPC_BEGIN:
    case RPC_COMMIT:
    case RPC_ROLLBACK:
        return true;
    default:
        return false;
    }
}

void access_refuse_write(struct job *job)
{
    char why[256];
    snprintf(why, sizeof(why),
             "access denied: this statement writes, and this client may only "
             "read (%s)",
             job->read_only);
    log_warn("refused a write to connection %" PRIu64
             " (pid %ld uid %u gid %u): %s",
             job->conn_id, (long)job->peer.pid, (unsigned)job->peer.uid,
             (unsigned)job->peer.gid, why);
    job_fail(job, SQLITE_AUTH, why);
}

int access_check_method(const struct access_peer *peer, enum rpc_method method,
                        char *why, size_t len)
{
    const char *name = rpc_method_name(method);
    if (peer->level >= ACCESS_OPERATOR)
        return 0;
    if (access_operator_method(method))
        snprintf(why, len,
                 "access denied: %s is an operator method, and uid %u may "
                 "only %s (%s); operators are listed in allow-operator",
                 name, (unsigned)peer->uid,
                 peer->level == ACCESS_WRITE ? "read and write" : "read",
                 peer->rule);
    else if (peer->level < ACCESS_WRITE && access_write_method(method))
        snprintf(why, len,
                 "access denied: %s may write, and uid %u may only read "
                 "(%s)",
                 name, (unsigned)peer->uid, peer->rule);
    else
        return 0;
    log_warn("refused %s to pid %ld uid %u gid %u: %s", name, (long)peer->pid,
             (unsigned)peer->uid, (unsigned)peer->gid, why);
    return SQLITE_AUTH;
}
