#include "job.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "sqlited.h"

struct job *job_new(enum rpc_method method, uint32_t msgid)
{
    struct job *job = calloc(1, sizeof(*job));
    if (job == NULL)
        return NULL;
    job->method = method;
    job->msgid = msgid;
    atomic_init(&job->cancelled, false);
    atomic_init(&job->cancel_asked, false);
    atomic_init(&job->state, JOB_QUEUED);
    atomic_init(&job->waits_for_lock, false);
    return job;
}

bool job_claim(struct job *job)
{
    if (atomic_load(&job->cancelled))
        return false;
    int expected = JOB_QUEUED;
    return atomic_compare_exchange_strong(&job->state, &expected,
                                          JOB_CLAIMED) ||
           expected == JOB_CLAIMED;
}

void job_unclaim(struct job *job)
{
    atomic_store(&job->state, JOB_QUEUED);
}

bool job_dropped(struct job *job)
{
    return atomic_load(&job->cancelled) ||
           atomic_load(&job->state) == JOB_EXPIRED;
}

bool job_expire(struct job *job)
{
    int expected = JOB_QUEUED;
    return atomic_compare_exchange_strong(&job->state, &expected, JOB_EXPIRED);
}

void job_account_reply(struct job *job)
{
    if (job->mem == NULL)
        return;
    memory_sub(job->mem, job->mem_built);
    job->mem_built = 0;
    if (job->reply_len <= JOB_SMALL_REPLY)
        return;
    const struct memory *full = memory_try_add(job->mem, job->reply_len);
    if (full == NULL) {
        job->mem_built = job->reply_len;
        return;
    }
    char size[32], limit[32], message[400];
    memory_format(job->reply_len, size, sizeof(size));
    memory_format(full->max, limit, sizeof(limit));
    if (full->parent)
        snprintf(message, sizeof(message),
                 "the answer (%s) does not fit in this connection's memory "
                 "share (%s) beside the answers its client has not read yet: "
                 "read them first, or send fewer large queries at once",
                 size, limit);
    else
        snprintf(message, sizeof(message),
                 "the answer (%s) would take the daemon past its memory limit "
                 "(--max-memory, %s): answers clients have not read hold it; "
                 "try again later",
                 size, limit);
    job_fail(job, SQLITED_NO_MEMORY, message);
    memory_add(job->mem, job->reply_len);
    job->mem_built = job->reply_len;
}

void job_fail_busy(struct job *job)
{
    char message[200];
    snprintf(message, sizeof(message),
             "database is locked: another process held its write lock until "
             "the request's deadline (%u ms); nothing of it was applied",
             job->timeout_ms);
    job_fail(job, SQLITE_BUSY, message);
}

void job_fail_cancelled(struct job *job, bool running)
{
    job_fail(job, SQLITED_INTERRUPTED,
             running ? JOB_CANCELLED_RUNNING : JOB_CANCELLED_BEFORE);
}

void job_fail_timeout(struct job *job)
{
    char message[160];
    snprintf(message, sizeof(message),
             "the request's deadline (%u ms) passed before it could run; "
             "nothing of it was applied",
             job->timeout_ms);
    job_fail(job, SQLITED_TIMEOUT, message);
}

void job_free(struct job *job)
{
    if (job == NULL)
        return;
    free(job->msg);
    free(job->reply);
    free(job);
}

void job_fail(struct job *job, int code, const char *message)
{
    job_fail_step(job, code, message, -1);
}

/* Replaces the job's reply with the encoding in @b, or with nothing when it
 * could not be encoded. */
static void job_store(struct job *job, struct codec_buf *b)
{
    free(job->reply);
    job->reply = NULL;
    job->reply_len = 0;
    if (b->error == CODEC_BUF_OK)
        job->reply = codec_buf_steal(b, &job->reply_len);
    codec_buf_close(b);
}

void job_fail_step(struct job *job, int code, const char *message, int64_t step)
{
    struct codec_buf b;
    codec_buf_init(&b, 0);
    rpc_pack_error_response_at(&b, job->msgid, code, message, step);
    job_store(job, &b);
}

void job_reply(struct job *job, const char *result, size_t len)
{
    struct codec_buf b;
    codec_buf_init(&b, 0);
    rpc_pack_response_head(&b, job->msgid);
    codec_buf_append(&b, result, len);
    job_store(job, &b);
}

void job_reply_int(struct job *job, int64_t value)
{
    struct codec_buf b;
    codec_buf_init(&b, 0);
    rpc_pack_response_head(&b, job->msgid);
    if (value < 0)
        msgpack_pack_nil(&b.pk);
    else
        msgpack_pack_int64(&b.pk, value);
    job_store(job, &b);
}

int job_queue_init(struct job_queue *q)
{
    pthread_condattr_t attr;
    *q = (struct job_queue){0};
    if (pthread_mutex_init(&q->mutex, NULL))
        return -1;
    /* Timed waits count on the clock deadlines use (clock.h). */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&q->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (rc == 0 && sem_init(&q->ready, 0, 0)) {
        pthread_cond_destroy(&q->cond);
        rc = -1;
    }
    if (rc) {
        pthread_mutex_destroy(&q->mutex);
        return -1;
    }
    return 0;
}

void job_queue_close(struct job_queue *q)
{
    sem_destroy(&q->ready);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->mutex);
}

void job_queue_push(struct job_queue *q, struct job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&q->mutex);
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->length++;
    pthread_mutex_unlock(&q->mutex);
    /* Signalled after unlocking, so that the thread woken does not wake
     * only to wait for the mutex. */
    sem_post(&q->ready);
    pthread_cond_signal(&q->cond);
}

struct job *job_queue_pop(struct job_queue *q)
{
    for (;;) {
        while (sem_wait(&q->ready) != 0)
            ; /* EINTR */
        pthread_mutex_lock(&q->mutex);
        struct job *job = q->head;
        if (job) {
            q->head = job->next;
            if (q->head == NULL)
                q->tail = NULL;
            q->length--;
            job->next = NULL;
        }
        bool closed = q->closed;
        pthread_mutex_unlock(&q->mutex);
        if (job)
            return job;
        if (closed) {
            sem_post(&q->ready); /* wake the next thread to see it */
            return NULL;
        }
    }
}

/* Empties the queue, whose lock the caller holds. The semaphore's posts of
 * the jobs taken are taken back, so that it keeps counting queued jobs. */
static struct job *take_locked(struct job_queue *q)
{
    struct job *jobs = q->head;
    for (size_t i = 0; i < q->length; i++)
        sem_trywait(&q->ready);
    q->head = q->tail = NULL;
    q->length = 0;
    return jobs;
}

struct job *job_queue_take_all(struct job_queue *q)
{
    pthread_mutex_lock(&q->mutex);
    struct job *jobs = take_locked(q);
    pthread_mutex_unlock(&q->mutex);
    return jobs;
}

struct job *job_queue_wait_all(struct job_queue *q, int64_t until, bool *closed)
{
    struct timespec ts = {.tv_sec = until / 1000000000,
                          .tv_nsec = until % 1000000000};
    pthread_mutex_lock(&q->mutex);
    while (q->head == NULL && !q->closed && !q->woken) {
        if (until == 0)
            pthread_cond_wait(&q->cond, &q->mutex);
        else if (pthread_cond_timedwait(&q->cond, &q->mutex, &ts) == ETIMEDOUT)
            break;
    }
    struct job *jobs = take_locked(q);
    q->woken = false;
    *closed = q->closed;
    pthread_mutex_unlock(&q->mutex);
    return jobs;
}

void job_queue_wake(struct job_queue *q)
{
    pthread_mutex_lock(&q->mutex);
    q->woken = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mutex);
}

void job_queue_shutdown(struct job_queue *q)
{
    pthread_mutex_lock(&q->mutex);
    q->closed = true;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->mutex);
    sem_post(&q->ready);
}
