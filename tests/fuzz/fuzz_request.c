/* Fuzz the request parser and validator: protocol/rpc.c's rpc_parse() and
 * the checks daemon/dispatch.c makes before it queues a request. The input
 * is a stream of messages, split by the daemon's decoder as a connection's
 * bytes are; each goes through dispatch_check(). Every message must get
 * either a well-formed answer or a job whose fields stay inside its own
 * copy of the message. Nothing runs: fuzz_execute does that. */
#include <string.h>

#include "cursor.h"
#include "dispatch.h"
#include "fuzz.h"
#include "job.h"

/* A job's pointers must point into its own message, never into the
 * caller's buffer (which the connection reuses). */
static void check_inside(const struct job *job, const void *p, size_t len)
{
    const char *c = p;
    if (c < job->msg || c + len > job->msg + job->msg_len)
        fuzz_fail("a job points outside its own copy of the message");
}

static void check_job(const struct job *job)
{
    if (job->msg == NULL || job->msg_len == 0)
        fuzz_fail("a job without its message");
    if (job->req.sql) {
        check_inside(job, job->req.sql, job->req.sql_len);
        if (job->req.sql_len == 0 ||
            memchr(job->req.sql, '\0', job->req.sql_len) != NULL)
            fuzz_fail("SQL passed that is empty or holds a NUL");
    }
    if (job->req.nparams > 0)
        check_inside(job, job->req.params.p,
                     (size_t)(job->req.params.end - job->req.params.p));
    if (job->method == RPC_BATCH || job->method == RPC_BULK) {
        if (job->nitems == 0)
            fuzz_fail("a batch or bulk of no steps passed");
        check_inside(job, job->items.p,
                     (size_t)(job->items.end - job->items.p));
    }
    if ((job->method == RPC_FETCH || job->method == RPC_CLOSE) &&
        job->cursor == NULL)
        fuzz_fail("a fetch or close without its cursor");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_core *f = fuzz_core_get();
    static struct cursor open_cursor = {.id = 1};
    struct codec_decoder dec;
    const char *msg;
    size_t len;

    /* One cursor is open (id 1), so that fetch and close can pass. */
    open_cursor.conn = &f->conn;
    list_add_tail(&f->conn.cursors, &open_cursor.node);
    codec_decoder_init(&dec, &f->srv.limits);
    if (codec_decoder_feed(&dec, data, size) != 0)
        fuzz_fail("out of memory");
    while (codec_decoder_next(&dec, &msg, &len) == CODEC_MESSAGE) {
        struct codec_buf answer;
        codec_buf_init(&answer, 0);
        struct job *job = dispatch_check(&f->conn, msg, len, &answer);
        if (job) {
            if (answer.len != 0)
                fuzz_fail("a request both answered and queued");
            check_job(job);
            job_free(job);
        } else {
            if (answer.error != CODEC_BUF_OK)
                fuzz_fail("an answer could not be encoded");
            fuzz_check_answer(answer.data, answer.len, UINT32_MAX);
        }
        codec_buf_close(&answer);
    }
    codec_decoder_close(&dec);
    list_remove(&open_cursor.node);
    return 0;
}
