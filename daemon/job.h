/* A request on its way through the daemon, and the queues that carry it.
 *
 * The loop thread builds a job from a decoded request (dispatch.c) and
 * queues it where route_decide() says (route.h, conn_submit()); a worker
 * thread (the writer, a reader, the backup thread) runs it and encodes the
 * reply; back on the loop (dispatch_job_done()), the connection writes the
 * reply to the client and frees the job.
 *
 * Who may touch what. A job belongs to one thread at a time: the loop
 * thread until it queues the job, then the worker that took it from its
 * queue until it hands it back (a reader may pass it on to the writer), then
 * the loop thread again. The queues' mutex orders each hand-over, so the
 * plain fields need no atomics; each field's comment says which side writes
 * it. Only the atomics (cancelled, cancel_asked, state, waits_for_lock)
 * and the memory accounts are shared while a worker holds the job. Fields
 * marked "loop" are never read by a worker at all.
 *
 * A job is linked three ways, each link its own thread's: @next by whoever
 * holds the job (a queue, the loop's finished jobs, a connection's answers
 * to write, a writer's group), @inflight by the loop (its connection's
 * jobs in flight), @pending by the writer thread (its jobs waiting for
 * their turn). A job is in one queue or chain at a time, but may be in
 * flight on its loop and pending on the writer at once.
 */
#ifndef SQLITED_JOB_H
#define SQLITED_JOB_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "access.h"
#include "codec.h"
#include "list.h"
#include "memory.h"
#include "rpc.h"

struct conn;
struct cursor;

/* Where a job ran, for the slow-request log (reqlog.h). */
enum job_runner {
    JOB_RAN_NOWHERE, /* answered before any thread ran it */
    JOB_RAN_LOOP,    /* inline, on its I/O loop */
    JOB_RAN_READER,
    JOB_RAN_WRITER,
    JOB_RAN_BACKUP, /* the backup thread */
};
struct health_probe;
struct io_loop;

/* One statement's SQL and parameters, pointing into a job's message. */
struct sql_req {
    const char *sql;
    uint32_t sql_len;
    struct codec_reader params; /* on the first value; unused when nparams 0 */
    uint32_t nparams;
    bool named; /* params is a map (else an array) */
};

struct job {
    struct job *next;     /* in a queue: the queue's holder's */
    struct list inflight; /* loop: in its connection's in-flight list */
    struct list pending;  /* writer thread: in its pending jobs (writer.c),
                             from when it takes the job from its queue until
                             the job's turn; never touched elsewhere */
    /* Set at creation, never changed. Only the loop thread follows @conn;
     * a worker that must tell connections apart (the writer, the owner of
     * a transaction) compares @conn_id, which outlives the connection. */
    struct conn *conn;
    uint64_t conn_id;     /* 0: the daemon's own (a health probe) */
    struct io_loop *loop; /* owns @conn (or runs the probe): the workers
                             hand the job back to it (loop_job_done()) */

    /* Set by the loop thread before it queues the job; read-only after. */

    enum rpc_method method;
    uint32_t msgid;
    char *msg; /* the request's bytes, owned; the pointers below point in */
    size_t msg_len;
    struct sql_req req;        /* query, exec; bulk: its sql alone */
    struct codec_reader items; /* batch: the steps; bulk: the sets */
    uint32_t nitems;
    bool atomic;         /* batch: all or nothing */
    bool immediate;      /* begin: BEGIN IMMEDIATE */
    bool read_only_tx;   /* begin: a read-only transaction (snapshot.h) */
    bool fks_at_commit;  /* begin: foreign keys checked at COMMIT only */
    bool alone;          /* must run outside any transaction (VACUUM) */
    bool full;           /* optimize: a full ANALYZE; integrity: the full
                            integrity_check, not quick_check; health: the
                            quick check */
    int64_t version;     /* migrate: the target version; -1: the default */
    bool internal;       /* rollback: the daemon's own, on a close */
    uint32_t timeout_ms; /* 0: no deadline */
    int64_t deadline;    /* clock_now() value; 0: none */
    uint64_t tx;         /* the transaction it runs in; 0: none.
                            begin: the writer sets the new id */
    uint64_t max_rows, max_bytes; /* query: limits on the result; 0: none */
    bool decltypes;          /* query: the answer carries the declared types */
    struct cursor *cursor;   /* fetch, close: the cursor; query: the one
                                a reader opened for the rest of its rows
                                (the reader sets it) */
    bool cursor_ended;       /* fetch, close: set by the reader: the cursor
                                is finished */
    struct cursor *snapshot; /* loop: the read-only transaction whose
                                connection it runs on (cursor.h), set
                                when it is queued there; NULL: none */
    bool may_open_cursor;    /* query: its connection has cursors left */
    int64_t started;         /* loop: clock_now() when it read it */
    struct health_probe *probe; /* a health check's own job (no conn): its
                                   reader or writer part (health.h) */
    const char *read_only;      /* its client may only read: the access rule
                                   that says so (access.h), for the writer's
                                   refusal; NULL: it may write */
    struct access_peer peer;    /* with @read_only: who the client is, a copy
                                   for the refusal's log line */
    int checkpoint; /* checkpoint, or a query or exec that is exactly PRAGMA
                       wal_checkpoint: SQLITE_CHECKPOINT_* mode + 1; else 0 */

    /* Set by the writer for the loop thread: the connection's transaction
     * opened (begin) or ended (commit, rollback, expiry). */
    bool opened_tx, ended_tx;
    /* Set by the worker that runs it (enum job_runner). */
    unsigned char ran_on;

    /* Shared while a worker holds the job. */

    /* Set by the loop thread when the client has gone: a worker skips the job
     * or interrupts it, and its reply is dropped. */
    atomic_bool cancelled;
    /* Set by the loop thread when the client sent `cancel` for it while a
     * worker held it: the worker answers it SQLITED_INTERRUPTED without
     * running it, or interrupts it if it runs (worker_cancel_asked()); one that
     * finished first is answered as it is. */
    atomic_bool cancel_asked;

    /* Who answers the job (enum job_state): a worker that claims it before
     * running or answering it, or the loop thread when its deadline passes
     * while it still waits for a worker. Exactly one of them wins. */
    atomic_int state;
    /* Set by the writer while the job's group waits for the database lock
     * another process holds: a deadline passing then means SQLITE_BUSY. */
    atomic_bool waits_for_lock;
    size_t deadline_at; /* loop: its place in the deadline heap, plus
                           one; 0: not in it */

    /* Memory: the connection's account (NULL: not accounted; set by the
     * loop before queuing; its counters are atomics), what the loop holds
     * on it for the job, and what its worker added for the reply. */
    struct memory *mem;
    uint64_t mem_held;  /* loop */
    uint64_t mem_built; /* set by the worker, released by the loop */

    /* The encoded reply, owned: built by the worker that holds the job (or
     * by the loop thread, for an answer of its own), written to the client
     * by the loop thread. */
    char *reply;
    size_t reply_len;
    uv_write_t write; /* loop: while the reply is being written */
};

enum job_state {
    JOB_QUEUED,  /* waiting for a worker */
    JOB_CLAIMED, /* a worker runs or answers it */
    JOB_EXPIRED, /* the loop answered SQLITED_TIMEOUT: no worker touches it */
};

/* A worker takes @job to run or answer it. Returns false when the job is no
 * longer the worker's to answer: its client has gone, or the loop answered
 * it at its deadline. The worker then only hands it back (its reply stays
 * NULL). Claiming a job already claimed returns true. */
bool job_claim(struct job *job);

/* A worker gives back a job it claimed but did not touch (a reader passing
 * a write on to the writer), so that the loop may again answer it at its
 * deadline while it waits. */
void job_unclaim(struct job *job);

/* True when no worker is to answer @job: cancelled, or answered by the
 * loop. For a worker that looks at a job it does not run yet. */
bool job_dropped(struct job *job);

/* The loop thread answers @job at its deadline, unless a worker claimed it
 * first. Returns true when the loop is now the one to answer. */
bool job_expire(struct job *job);

/* Stores the SQLITED_TIMEOUT reply of a job whose deadline passed before it
 * could run. */
void job_fail_timeout(struct job *job);

/* The messages of a job its client cancelled (`cancel`). */
#define JOB_CANCELLED_BEFORE                                                   \
    "cancelled by the client (cancel) before it ran; nothing of it was "       \
    "applied"
#define JOB_CANCELLED_WHILE "cancelled by the client (cancel) while it ran: "
#define JOB_CANCELLED_RUNNING                                                  \
    JOB_CANCELLED_WHILE "it was interrupted and nothing of it was applied"

/* Stores the SQLITED_INTERRUPTED reply of a job its client cancelled:
 * @running says whether it was stopped while it ran (else before). */
void job_fail_cancelled(struct job *job, bool running);

/* Stores the SQLITE_BUSY reply of a job that waited for the database lock
 * another process held until its deadline. */
void job_fail_busy(struct job *job);

/* Replies up to this size are left out of the accounts until the loop
 * queues them (an error reply must always fit, and the workers then touch
 * no counter the loop thread writes): at most 32 in flight per connection. */
#define JOB_SMALL_REPLY (64u << 10)

/* A worker stored the job's reply: takes back what an earlier reply of
 * the job had added, then adds a large reply's bytes to the connection's
 * account (job->mem_built). A large reply that would take the connection past
 * its share or the daemon past --max-memory is replaced by a SQLITED_NO_MEMORY
 * error that says which. */
void job_account_reply(struct job *job);

/* Allocates a zeroed job of no connection's (the daemon's own); a
 * connection's are made by conn_job_new() (conn.h). Returns NULL on
 * out-of-memory. */
struct job *job_new(enum rpc_method method, uint32_t msgid);
/* Frees the job, its message and its reply. Accepts NULL. */
void job_free(struct job *job);

/* Stores an encoded error reply for the job, replacing any reply. On
 * out-of-memory the reply stays NULL and the client is told nothing; the
 * caller decides (the loop closes such a connection). */
void job_fail(struct job *job, int code, const char *message);
/* The same, for the failure of step @step (>= 0) of a batch or bulk: the
 * error object carries "step". */
void job_fail_step(struct job *job, int code, const char *message,
                   int64_t step);
/* Stores a successful reply whose result is @result[0..len), encoded. */
void job_reply(struct job *job, const char *result, size_t len);
/* Stores a successful reply whose result is the integer @value, or nil when
 * @value is negative. */
void job_reply_int(struct job *job, int64_t value);

/* A FIFO of jobs shared between threads. */
struct job_queue {
    pthread_mutex_t mutex;
    /* job_queue_wait_all() waits on the condition variable. The readers'
     * job_queue_pop() waits on the semaphore, which counts queued jobs: a
     * post wakes one thread, which takes the mutex uncontended, where a
     * condition variable makes a woken thread queue for the mutex again
     * (measured: about 5 futex calls per point read, against 4). */
    pthread_cond_t cond;
    sem_t ready;
    struct job *head, *tail;
    size_t length;
    bool closed;
    bool woken; /* job_queue_wake() called since the last wait */
};

int job_queue_init(struct job_queue *q);
/* The queue must be empty. */
void job_queue_close(struct job_queue *q);
void job_queue_push(struct job_queue *q, struct job *job);
/* Waits for a job. Returns NULL once the queue is shut down and empty. */
struct job *job_queue_pop(struct job_queue *q);
/* Takes every queued job at once, in order, without waiting; NULL if none. */
struct job *job_queue_take_all(struct job_queue *q);
/* Waits until a job is queued, the queue is shut down, or the clock reaches
 * @until (0: no limit), then takes every queued job at once, in order. Sets
 * *@closed when the queue is shut down. */
struct job *job_queue_wait_all(struct job_queue *q, int64_t until,
                               bool *closed);
/* Wakes every waiter; pops return NULL when nothing is left. */
void job_queue_shutdown(struct job_queue *q);
/* Wakes every waiter without queuing anything. */
void job_queue_wake(struct job_queue *q);

#endif /* SQLITED_JOB_H */
