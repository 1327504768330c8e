/* MessagePack-RPC messages of sqlited: envelopes, methods, errors, limits.
 *
 * Shared by daemon and client; I/O-free like the codec beneath it. The wire
 * contract this implements is protocol/PROTOCOL.md.
 */
#ifndef SQLITED_RPC_H
#define SQLITED_RPC_H

#include <stdint.h>

#include "codec.h"

/* Protocol limits: the daemon's defaults, reported by `hello`. */
#define RPC_MAX_MESSAGE_DEFAULT (64u << 20) /* bytes, configurable */
#define RPC_MAX_DEPTH 16                    /* nesting of arrays and maps */
#define RPC_MAX_ITEMS (1u << 20)            /* elements of one array or map */
#define RPC_MAX_SQL_LENGTH (16u << 20)      /* bytes of SQL text */
#define RPC_MAX_PARAMS 32766                /* bound values in one statement */
#define RPC_MAX_TIMEOUT_MS 86400000         /* option timeout_ms: one day */

/* Every method: X(ENUM, "wire name"). */
#define RPC_METHODS(X)                                                         \
    X(HELLO, "hello")                                                          \
    X(PING, "ping")                                                            \
    X(QUERY, "query")                                                          \
    X(EXEC, "exec")                                                            \
    X(BATCH, "batch")                                                          \
    X(BULK, "bulk")                                                            \
    X(BEGIN, "begin")                                                          \
    X(COMMIT, "commit")                                                        \
    X(ROLLBACK, "rollback")                                                    \
    X(STATS, "stats")                                                          \
    X(FETCH, "fetch")                                                          \
    X(CLOSE, "close")                                                          \
    X(EXPLAIN, "explain")                                                      \
    X(BACKUP, "backup")                                                        \
    X(OPTIMIZE, "optimize")                                                    \
    X(VACUUM, "vacuum")                                                        \
    X(INTEGRITY, "integrity")                                                  \
    X(MIGRATE, "migrate")                                                      \
    X(CHECKPOINT, "checkpoint")                                                \
    X(HEALTH, "health")                                                        \
    X(METRICS, "metrics")                                                      \
    X(CANCEL, "cancel")

#define RPC_METHOD_ENUM(id, name) RPC_##id,
enum rpc_method { RPC_METHODS(RPC_METHOD_ENUM) RPC_METHOD_COUNT };
#undef RPC_METHOD_ENUM

/* Returns the method named @name[0..len), or RPC_METHOD_COUNT. */
enum rpc_method rpc_method_lookup(const char *name, size_t len);
const char *rpc_method_name(enum rpc_method m);

enum rpc_kind { RPC_REQUEST = 0, RPC_RESPONSE = 1, RPC_NOTIFICATION = 2 };

/* One decoded envelope. Readers point into the message bytes, which must
 * outlive this struct. */
struct rpc_message {
    enum rpc_kind kind;
    uint32_t msgid;     /* requests and responses */
    const char *method; /* requests and notifications; not NUL-terminated */
    uint32_t method_len;
    uint32_t nparams; /* requests and notifications: params array size */
    struct codec_reader params; /* on the first element of params */
    struct codec_reader error;  /* responses: on the error value */
    struct codec_reader result; /* responses: on the result value */
    bool is_error;              /* responses: error is not nil */
};

/* Decodes the envelope of a complete message. Returns 0, or a SQLITED_* code
 * (SQLITED_BAD_REQUEST) with a static description in *@why. When the message
 * is an array whose first two elements are a request type and a valid msgid,
 * m->kind and m->msgid are set even on failure, so the caller can still
 * address its error reply (*@has_msgid is then true). */
int rpc_parse(const char *msg, size_t len, struct rpc_message *m,
              bool *has_msgid, const char **why);

/* The same for a message that codec_decoder_next() delivered: one complete,
 * well-formed MessagePack object, whose elements after the last one read
 * therefore end where the message ends. They are not walked again, which
 * saves a pass over every row of a result. On any other bytes, use
 * rpc_parse(). */
int rpc_parse_framed(const char *msg, size_t len, struct rpc_message *m,
                     bool *has_msgid, const char **why);

/* Encoders. Each appends one complete message, or its head where noted. */

/* [0, msgid, method, [ -- the caller then packs @nparams values. */
void rpc_pack_request_head(struct codec_buf *b, uint32_t msgid,
                           const char *method, uint32_t nparams);
/* [1, msgid, nil, -- the caller then packs the result value. */
void rpc_pack_response_head(struct codec_buf *b, uint32_t msgid);
/* [1, msgid, {error}, nil] */
void rpc_pack_error_response(struct codec_buf *b, uint32_t msgid, int code,
                             const char *message);
/* The same, whose error object also carries "step": @step when >= 0. */
void rpc_pack_error_response_at(struct codec_buf *b, uint32_t msgid, int code,
                                const char *message, int64_t step);
/* [2, "error", [{error}]]: how the daemon reports a problem with a message it
 * could not answer by msgid. */
void rpc_pack_error_notification(struct codec_buf *b, int code,
                                 const char *message);
/* The error object alone: {"code": code, "primary": code & 0xff for SQLite
 * codes (code itself for SQLITED_* codes), "name": rpc_code_name(code),
 * "message": message}. */
void rpc_pack_error(struct codec_buf *b, int code, const char *message);
/* The same plus "step": @step, the 0-based index of the failed step of a
 * batch or bulk request, when @step >= 0. */
void rpc_pack_error_at(struct codec_buf *b, int code, const char *message,
                       int64_t step);

/* Reads an error object. Unknown keys are skipped. Returns 0 or -1 when it is
 * not a map with an integer "code". name/message may come back NULL with
 * length 0 when absent. */
int rpc_read_error(struct codec_reader *r, int *code, const char **name,
                   uint32_t *name_len, const char **message,
                   uint32_t *message_len);

/* The error of an encoded response [1, msgid, error, result]: its code,
 * with its message in *@message[0..*@message_len) (NULL, 0 when absent);
 * 0 when error is nil, or the bytes are not a response. */
int rpc_response_error(const char *msg, size_t len, const char **message,
                       uint32_t *message_len);

/* Symbolic name and description of a code: SQLite primary and extended result
 * codes ("SQLITE_CONSTRAINT_UNIQUE"), SQLITED_* codes ("SQLITED_TIMEOUT"), and
 * negated errno values ("ECONNREFUSED"). Unknown codes give "UNKNOWN" and
 * "unknown error". Static strings. */
const char *rpc_code_name(int code);
const char *rpc_code_text(int code);

#endif /* SQLITED_RPC_H */
