/* The job queue between the loop and the workers (daemon/job.c): order,
 * taking everything at once, waiting with a deadline, waking and shutting
 * down, from one thread and from several; and who answers a job (claim,
 * unclaim, expire), where exactly one of a worker and the loop may win. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>

#include "../../daemon/clock.h"
#include "../../daemon/job.h"

/* Tests that wait without a deadline end here if the queue never wakes
 * them: a failure, never a hang. */
#define HANG_S 30

static struct job *make(uint32_t id)
{
    struct job *job = job_new(RPC_EXEC, id);
    cr_assert_not_null(job);
    return job;
}

/* Frees the list @jobs and returns its length. */
static int free_list(struct job *jobs)
{
    int n = 0;
    while (jobs) {
        struct job *next = jobs->next;
        job_free(jobs);
        jobs = next;
        n++;
    }
    return n;
}

Test(job_queue, pop_returns_jobs_in_push_order, .timeout = HANG_S)
{
    struct job_queue q;
    cr_assert_eq(job_queue_init(&q), 0);
    for (uint32_t i = 1; i <= 5; i++)
        job_queue_push(&q, make(i));
    cr_assert_eq(q.length, 5);
    for (uint32_t i = 1; i <= 5; i++) {
        struct job *job = job_queue_pop(&q);
        cr_assert_not_null(job);
        cr_assert_eq(job->msgid, i);
        cr_assert_null(job->next, "a popped job is unlinked");
        job_free(job);
    }
    cr_assert_eq(q.length, 0);
    job_queue_shutdown(&q);
    cr_assert_null(job_queue_pop(&q), "an empty queue shut down pops NULL");
    job_queue_close(&q);
}

Test(job_queue, shutdown_lets_the_queued_jobs_out_first, .timeout = HANG_S)
{
    struct job_queue q;
    cr_assert_eq(job_queue_init(&q), 0);
    job_queue_push(&q, make(1));
    job_queue_push(&q, make(2));
    job_queue_shutdown(&q);
    struct job *job = job_queue_pop(&q);
    cr_assert_eq(job->msgid, 1);
    job_free(job);
    job = job_queue_pop(&q);
    cr_assert_eq(job->msgid, 2);
    job_free(job);
    cr_assert_null(job_queue_pop(&q));
    cr_assert_null(job_queue_pop(&q), "and again: every popper sees the end");
    job_queue_close(&q);
}

Test(job_queue, take_all_empties_the_queue_in_order, .timeout = HANG_S)
{
    struct job_queue q;
    cr_assert_eq(job_queue_init(&q), 0);
    cr_assert_null(job_queue_take_all(&q), "nothing queued: NULL at once");
    for (uint32_t i = 1; i <= 3; i++)
        job_queue_push(&q, make(i));
    struct job *jobs = job_queue_take_all(&q);
    uint32_t want = 1;
    for (struct job *job = jobs; job; job = job->next)
        cr_assert_eq(job->msgid, want++);
    cr_assert_eq(want, 4);
    cr_assert_eq(free_list(jobs), 3);
    cr_assert_eq(q.length, 0);
    /* The poppers' semaphore counts queued jobs: none now, or a pop would
     * wake for a job that is not there. */
    int posts = -1;
    sem_getvalue(&q.ready, &posts);
    cr_assert_eq(posts, 0);
    cr_assert_null(job_queue_take_all(&q));

    /* The queue goes on working: what is pushed next is what pops. */
    job_queue_push(&q, make(4));
    struct job *job = job_queue_pop(&q);
    cr_assert_eq(job->msgid, 4);
    job_free(job);
    job_queue_shutdown(&q);
    cr_assert_null(job_queue_pop(&q));
    job_queue_close(&q);
}

Test(job_queue, wait_all_returns_what_is_queued_without_waiting,
     .timeout = HANG_S)
{
    struct job_queue q;
    bool closed = true;
    cr_assert_eq(job_queue_init(&q), 0);
    job_queue_push(&q, make(1));
    job_queue_push(&q, make(2));
    /* No deadline: it would wait forever if it did not see the jobs. */
    struct job *jobs = job_queue_wait_all(&q, 0, &closed);
    cr_assert_not(closed);
    cr_assert_eq(jobs->msgid, 1);
    cr_assert_eq(jobs->next->msgid, 2);
    cr_assert_eq(free_list(jobs), 2);
    job_queue_close(&q);
}

Test(job_queue, wait_all_returns_nothing_at_its_deadline)
{
    struct job_queue q;
    bool closed = true;
    cr_assert_eq(job_queue_init(&q), 0);
    int64_t until = clock_after_ms(20);
    cr_assert_null(job_queue_wait_all(&q, until, &closed));
    cr_assert_not(closed);
    cr_assert(clock_passed(until, clock_now()),
              "it returned before its deadline with nothing to do");
    /* A deadline already passed does not wait at all. */
    cr_assert_null(job_queue_wait_all(&q, clock_now() - 1, &closed));
    job_queue_close(&q);
}

Test(job_queue, a_wake_before_the_wait_is_not_lost, .timeout = HANG_S)
{
    struct job_queue q;
    bool closed = true;
    cr_assert_eq(job_queue_init(&q), 0);
    job_queue_wake(&q);
    /* Without a deadline this would hang if the wake were forgotten. */
    cr_assert_null(job_queue_wait_all(&q, 0, &closed));
    cr_assert_not(closed);
    /* It is used up: the next wait waits again, here until its deadline. */
    int64_t until = clock_after_ms(20);
    cr_assert_null(job_queue_wait_all(&q, until, &closed));
    cr_assert(clock_passed(until, clock_now()));
    job_queue_close(&q);
}

/* A thread in job_queue_wait_all() without a deadline, and what it got. */
struct waiter {
    struct job_queue *q;
    pthread_t thread;
    struct job *jobs;
    bool closed;
};

static void *wait_all_main(void *arg)
{
    struct waiter *w = arg;
    w->jobs = job_queue_wait_all(w->q, 0, &w->closed);
    return NULL;
}

static void waiter_start(struct waiter *w, struct job_queue *q)
{
    *w = (struct waiter){.q = q, .closed = true};
    cr_assert_eq(pthread_create(&w->thread, NULL, wait_all_main, w), 0);
}

Test(job_queue, wait_all_wakes_for_a_push_from_another_thread,
     .timeout = HANG_S)
{
    struct job_queue q;
    struct waiter w;
    cr_assert_eq(job_queue_init(&q), 0);
    waiter_start(&w, &q);
    job_queue_push(&q, make(7));
    pthread_join(w.thread, NULL);
    cr_assert_not_null(w.jobs);
    cr_assert_eq(w.jobs->msgid, 7);
    cr_assert_not(w.closed);
    free_list(w.jobs);
    job_queue_close(&q);
}

Test(job_queue, wait_all_wakes_for_wake_and_for_shutdown, .timeout = HANG_S)
{
    struct job_queue q;
    struct waiter w;
    cr_assert_eq(job_queue_init(&q), 0);

    waiter_start(&w, &q);
    job_queue_wake(&q);
    pthread_join(w.thread, NULL);
    cr_assert_null(w.jobs);
    cr_assert_not(w.closed, "a wake is not a shutdown");

    waiter_start(&w, &q);
    job_queue_shutdown(&q);
    pthread_join(w.thread, NULL);
    cr_assert_null(w.jobs);
    cr_assert(w.closed);

    /* Once shut down, every wait returns at once, closed. */
    bool closed = false;
    cr_assert_null(job_queue_wait_all(&q, 0, &closed));
    cr_assert(closed);
    job_queue_close(&q);
}

#define POPPERS 4
#define PUSHED 2000

struct popper {
    struct job_queue *q;
    pthread_t thread;
    unsigned char *seen; /* PUSHED + 1 counters, shared */
    pthread_mutex_t *lock;
    int popped;
};

static void *pop_main(void *arg)
{
    struct popper *p = arg;
    struct job *job;
    while ((job = job_queue_pop(p->q)) != NULL) {
        pthread_mutex_lock(p->lock);
        p->seen[job->msgid]++;
        pthread_mutex_unlock(p->lock);
        p->popped++;
        job_free(job);
    }
    return NULL;
}

Test(job_queue, several_poppers_take_each_job_exactly_once, .timeout = HANG_S)
{
    struct job_queue q;
    struct popper p[POPPERS];
    unsigned char *seen = calloc(PUSHED + 1, 1);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    cr_assert_eq(job_queue_init(&q), 0);
    for (int i = 0; i < POPPERS; i++) {
        p[i] = (struct popper){.q = &q, .seen = seen, .lock = &lock};
        cr_assert_eq(pthread_create(&p[i].thread, NULL, pop_main, &p[i]), 0);
    }
    for (uint32_t i = 1; i <= PUSHED; i++)
        job_queue_push(&q, make(i));
    job_queue_shutdown(&q);
    int total = 0;
    for (int i = 0; i < POPPERS; i++) {
        pthread_join(p[i].thread, NULL);
        total += p[i].popped;
    }
    cr_assert_eq(total, PUSHED);
    for (uint32_t i = 1; i <= PUSHED; i++)
        cr_assert_eq(seen[i], 1, "job %u popped %d times", i, seen[i]);
    cr_assert_eq(q.length, 0);
    job_queue_close(&q);
    free(seen);
}

Test(job_state, a_worker_claims_a_queued_job)
{
    struct job *job = make(1);
    cr_assert(job_claim(job));
    cr_assert(job_claim(job), "claiming again is still the worker's");
    cr_assert_not(job_expire(job), "the loop cannot answer a claimed job");
    cr_assert_not(job_dropped(job));
    job_free(job);
}

Test(job_state, the_loop_expires_a_queued_job)
{
    struct job *job = make(1);
    cr_assert(job_expire(job));
    cr_assert(job_dropped(job));
    cr_assert_not(job_claim(job), "no worker touches an expired job");
    cr_assert_not(job_expire(job), "the loop answers it once");
    job_free(job);
}

Test(job_state, unclaim_gives_the_deadline_back_to_the_loop)
{
    struct job *job = make(1);
    cr_assert(job_claim(job));
    job_unclaim(job);
    cr_assert(job_expire(job));
    cr_assert_not(job_claim(job));
    job_free(job);
}

Test(job_state, a_cancelled_job_is_nobody_s_to_answer)
{
    struct job *job = make(1);
    atomic_store(&job->cancelled, true);
    cr_assert(job_dropped(job));
    cr_assert_not(job_claim(job));
    job_free(job);
}

/* One side of a race for a job: a worker claims it, or the loop expires
 * it, once both are at the start line. */
struct racer {
    pthread_t thread;
    pthread_barrier_t *start;
    struct job **job;
    bool loop;
    int rounds;
    int won;
};

static void *race_main(void *arg)
{
    struct racer *r = arg;
    for (int i = 0; i < r->rounds; i++) {
        pthread_barrier_wait(r->start);
        struct job *job = *r->job;
        if (r->loop ? job_expire(job) : job_claim(job))
            r->won++;
        pthread_barrier_wait(r->start);
    }
    return NULL;
}

Test(job_state, exactly_one_of_worker_and_loop_answers, .timeout = HANG_S)
{
    enum { ROUNDS = 2000 };
    pthread_barrier_t start;
    struct job *job = NULL;
    struct racer worker = {.start = &start, .job = &job, .rounds = ROUNDS};
    struct racer loop = worker;
    loop.loop = true;
    cr_assert_eq(pthread_barrier_init(&start, NULL, 3), 0);
    cr_assert_eq(pthread_create(&worker.thread, NULL, race_main, &worker), 0);
    cr_assert_eq(pthread_create(&loop.thread, NULL, race_main, &loop), 0);
    for (int i = 0; i < ROUNDS; i++) {
        job = make((uint32_t)i);
        int before = worker.won + loop.won;
        pthread_barrier_wait(&start); /* go */
        pthread_barrier_wait(&start); /* both done */
        cr_assert_eq(worker.won + loop.won, before + 1, "round %d: %s", i,
                     worker.won + loop.won == before ? "nobody answers"
                                                     : "both answer");
        /* The winner's verdict stands. */
        cr_assert_eq(job_dropped(job), atomic_load(&job->state) == JOB_EXPIRED);
        job_free(job);
    }
    pthread_join(worker.thread, NULL);
    pthread_join(loop.thread, NULL);
    pthread_barrier_destroy(&start);
    cr_assert_eq(worker.won + loop.won, ROUNDS);
}
