/* Who may connect, and what each client may do: its peer credentials
 * (SO_PEERCRED) against the configuration's allow-read, allow-write and
 * allow-operator lists. */
#ifndef SQLITED_ACCESS_H
#define SQLITED_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rpc.h"

struct config;
struct job;

/* What a client may do; each level includes the ones before it. */
enum access_level {
    ACCESS_NONE,     /* refused at connect */
    ACCESS_READ,     /* queries that only read */
    ACCESS_WRITE,    /* every query and write */
    ACCESS_OPERATOR, /* and the operator methods (access_operator_method) */
};

/* A client's credentials and what they let it do, fixed at connect. */
struct access_peer {
    pid_t pid; /* -1 when unknown */
    uid_t uid;
    gid_t gid;
    enum access_level level;
    const char *rule; /* why: the list (and entry) that gave the level;
                         static or owned by the rules, which are never
                         freed before the daemon closes */
};

/* Checks a list of the configuration ("uid:N", "gid:N", "user:NAME" or
 * "group:NAME", separated by commas or blanks). Returns 0, or -1 with the
 * problem in @why. */
int access_check_list(const char *list, char *why, size_t len);

/* Builds the rules of @cfg's lists and makes them the ones new connections
 * meet (existing ones keep what they were given). Names are looked up now.
 * Returns 0, or -1 after logging why (the old rules stay). Call from one
 * thread at a time (start-up, SIGHUP); connections may read meanwhile. */
int access_load(const struct config *cfg);

/* Frees every set of rules access_load() made. At exit, once no
 * connection can open. */
void access_close(void);

/* Reads the credentials (SO_PEERCRED) of the client on socket @fd into
 * @peer: pid -1 when unknown; level operator, rule "no allow- list is set",
 * until access_peer_open() decides. */
void access_peer_read(int fd, struct access_peer *peer);

/* Reads the credentials of the client on socket @fd, connection @conn_id,
 * and decides what it may do into @peer; logs the connection (info) or
 * its refusal (warn). Returns 0, or -1 when it may not connect: @peer
 * then says who it is and @why what to tell it. Thread-safe. */
int access_peer_open(int fd, uint64_t conn_id, struct access_peer *peer,
                     char *why, size_t len);

/* The name hello gives @level: "none", "read", "write" or "operator". */
const char *access_level_name(enum access_level level);

/* Whether @method is an operator's (backup, checkpoint, vacuum, optimize,
 * integrity, migrate). */
bool access_operator_method(enum rpc_method method);

/* Whether @method may change the database whatever its SQL (exec, batch,
 * bulk, begin, commit, rollback): refused to a reader at once. */
bool access_write_method(enum rpc_method method);

/* Answers @job, a read-only client's request that would write, with
 * SQLITE_AUTH naming the rule in job->read_only, and logs it. The worker
 * that holds the job. */
void access_refuse_write(struct job *job);

/* Logs the end of connection @conn_id of @peer. */
void access_peer_close(uint64_t conn_id, const struct access_peer *peer);

/* Decides whether @peer may call @method. Returns 0, or SQLITE_AUTH with a
 * message naming the rule in @why (and logs the refusal). */
int access_check_method(const struct access_peer *peer, enum rpc_method method,
                        char *why, size_t len);

#endif /* SQLITED_ACCESS_H */
