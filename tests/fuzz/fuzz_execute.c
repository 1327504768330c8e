/* Fuzz a whole request against the daemon's core: the input is a stream of
 * messages, as a client would send them on one connection, run in order on
 * a fresh database with the authorizer installed: checked by
 * dispatch_check(), then run by execute.c on the writer's or a reader's
 * connection (binding, stepping, encoding results, batch, bulk, cursors,
 * transactions). Every answer must be well-formed and never
 * SQLITED_INTERNAL; afterwards the database must be intact and the shared
 * connections' settings unchanged (fuzz_core_close()). */
#include "dispatch.h"
#include "fuzz.h"
#include "job.h"

/* Enough to build a table, fill it and read it back; more only slows the
 * fuzzer down. */
#define MAX_REQUESTS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_core *f = fuzz_core_get();
    struct codec_decoder dec;
    const char *msg;
    size_t len;
    unsigned n = 0;

    fuzz_core_open(f);
    codec_decoder_init(&dec, &f->srv.limits);
    if (codec_decoder_feed(&dec, data, size) != 0)
        fuzz_fail("out of memory");
    while (n++ < MAX_REQUESTS &&
           codec_decoder_next(&dec, &msg, &len) == CODEC_MESSAGE) {
        struct codec_buf answer;
        codec_buf_init(&answer, 0);
        struct job *job = dispatch_check(&f->conn, msg, len, &answer);
        if (job == NULL) {
            fuzz_check_answer(answer.data, answer.len, UINT32_MAX);
        } else {
            fuzz_core_run(f, job);
            if (job->reply == NULL)
                fuzz_fail("%s got no answer", rpc_method_name(job->method));
            fuzz_check_answer(job->reply, job->reply_len, job->msgid);
            job_free(job);
        }
        codec_buf_close(&answer);
    }
    codec_decoder_close(&dec);
    fuzz_core_close(f);
    return 0;
}
