/* The writer's grouping and savepoint isolation, one turn at a time
 * (writer_turn(), without the writer thread): which jobs share a group
 * commit, what a failing one leaves behind, and which jobs must wait or run
 * alone. Each test writes to a fresh database in a temporary directory and
 * reads it back on a connection of its own. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../daemon/clock.h"
#include "../../daemon/conn.h"
#include "../../daemon/db.h"
#include "../../daemon/writer.h"
#include "harness.h"
#include "sqlited.h"

#define MAX_DONE 64

static struct config cfg;
static struct stats stats;
static atomic_bool stop;
static struct writer wr;
static char dir[64], db_path[128];
/* Two clients: only their ids (job->conn_id) matter to the writer. */
static struct conn client_a, client_b;

/* The jobs the writer handed back, in order. */
static struct job *done[MAX_DONE];
static int ndone;
static uint32_t last_msgid;

static void on_done(struct job *job, void *arg)
{
    (void)arg;
    cr_assert_lt(ndone, MAX_DONE);
    done[ndone++] = job;
}

static void setup(void)
{
    static bool library;
    char err[256];

    strcpy(dir, "/tmp/sqlited-unit-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db_path, sizeof(db_path), "%s/test.db", dir);
    config_defaults(&cfg);
    cfg.database = db_path;
    cfg.synchronous = "OFF";
    log_set_level(LOG_ERROR);
    client_a.id = 1;
    client_b.id = 2;
    if (!library)
        cr_assert_eq(db_library_init(&cfg), 0);
    library = true;
    cr_assert_eq(writer_init(&wr, &cfg, &stop, &stats, on_done, NULL, NULL, err,
                             sizeof(err)),
                 0, "writer_init: %s", err);
}

static void teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char path[160];

    writer_close(&wr);
    for (int i = 0; i < ndone; i++)
        job_free(done[i]);
    ndone = 0;
    for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
        snprintf(path, sizeof(path), "%s%s", db_path, suffixes[i]);
        unlink(path);
    }
    rmdir(dir);
}

TestSuite(writer, .init = setup, .fini = teardown);

/* A job of @method for @client running @sql (NULL: none), in transaction
 * @tx (0: none). */
static struct job *job_of(struct conn *client, enum rpc_method method,
                          const char *sql, uint64_t tx)
{
    struct job *job = conn_job_new(client, method, ++last_msgid);
    cr_assert_not_null(job);
    if (sql) {
        job->req.sql = sql;
        job->req.sql_len = (uint32_t)strlen(sql);
        job->msg_len = strlen(sql);
    }
    job->tx = tx;
    return job;
}

static struct job *exec_job(struct conn *client, const char *sql)
{
    return job_of(client, RPC_EXEC, sql, 0);
}

/* Links @n jobs into a list, in order; returns its head. */
static struct job *chain(int n, struct job **jobs)
{
    for (int i = 0; i < n; i++)
        jobs[i]->next = i + 1 < n ? jobs[i + 1] : NULL;
    return jobs[0];
}

static bool is_done(const struct job *job)
{
    for (int i = 0; i < ndone; i++)
        if (done[i] == job)
            return true;
    return false;
}

/* Decodes @job's reply (which must be there) into @rep. */
static void reply_of(const struct job *job, struct reply *rep)
{
    char why[128];
    cr_assert_not_null(job->reply, "job %u has no reply", job->msgid);
    char *copy = malloc(job->reply_len);
    cr_assert_not_null(copy);
    memcpy(copy, job->reply, job->reply_len);
    cr_assert_eq(
        harness_parse_reply(copy, job->reply_len, rep, why, sizeof(why)), 0,
        "job %u: %s", job->msgid, why);
}

static void assert_ok(const struct job *job)
{
    struct reply rep;
    reply_of(job, &rep);
    cr_assert_not(rep.is_error, "job %u failed: %s: %s", job->msgid, rep.name,
                  rep.message);
    reply_free(&rep);
}

static void assert_error(const struct job *job, int64_t code, const char *name,
                         const char *text)
{
    struct reply rep;
    reply_of(job, &rep);
    harness_assert_error(&rep, code, name, text);
    reply_free(&rep);
}

/* Runs turns until the writer has nothing it can serve. */
static void drain(void)
{
    for (int i = 0; writer_turn(&wr, NULL); i++)
        cr_assert_lt(i, 1000, "the writer never runs out of work");
}

/* The one integer @sql answers, read on a connection of the test's own. */
static int64_t read_int(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    cr_assert_eq(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
                 SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s", sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void create_table(void)
{
    struct job *job = exec_job(&client_a, "CREATE TABLE t(id INTEGER "
                                          "PRIMARY KEY, who TEXT)");
    cr_assert(writer_turn(&wr, job));
    assert_ok(job);
}

Test(writer, one_turn_commits_the_waiting_jobs_as_one_group)
{
    create_table();
    uint64_t groups = stats_get(&stats.groups);
    struct job *jobs[] = {
        exec_job(&client_a, "INSERT INTO t VALUES (1, 'a')"),
        exec_job(&client_b, "INSERT INTO t VALUES (2, 'b')"),
        exec_job(&client_a, "INSERT INTO t VALUES (3, 'a')"),
    };
    cr_assert(writer_turn(&wr, chain(3, jobs)));
    cr_assert_eq(ndone, 4, "every job is answered in the one turn");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(done[i + 1], jobs[i], "answered in their order");
        assert_ok(jobs[i]);
    }
    cr_assert_eq(stats_get(&stats.groups), groups + 1);
    cr_assert_eq(stats_get(&stats.group_requests), 4);
    cr_assert_eq(stats_get(&stats.writer_queue), 0);
    cr_assert_eq(read_int("SELECT count(*) FROM t"), 3);
    cr_assert_not(writer_turn(&wr, NULL), "nothing is left to serve");
}

Test(writer, a_failing_job_rolls_back_only_its_own_savepoint)
{
    create_table();
    /* The middle job's first statement succeeds, its second fails: its
     * savepoint must take the first back, and leave the others' rows. */
    struct job *jobs[] = {
        exec_job(&client_a, "INSERT INTO t VALUES (1, 'first')"),
        exec_job(&client_b, "INSERT INTO t VALUES (2, 'middle'); "
                            "INSERT INTO t VALUES (1, 'middle')"),
        exec_job(&client_a, "INSERT INTO t VALUES (3, 'last')"),
    };
    cr_assert(writer_turn(&wr, chain(3, jobs)));
    cr_assert_eq(ndone, 4);
    assert_ok(jobs[0]);
    assert_error(jobs[1], SQLITE_CONSTRAINT_PRIMARYKEY,
                 "SQLITE_CONSTRAINT_PRIMARYKEY",
                 "UNIQUE constraint failed: t.id");
    assert_ok(jobs[2]);
    cr_assert_eq(stats_get(&stats.groups), 2, "the three shared one group");
    cr_assert_eq(read_int("SELECT count(*) FROM t WHERE who = 'middle'"), 0);
    cr_assert_eq(read_int("SELECT group_concat(id) = '1,3' FROM t"), 1);
}

Test(writer, a_group_stops_at_group_max)
{
    cfg.group_max = 2;
    create_table();
    struct job *jobs[] = {
        exec_job(&client_a, "INSERT INTO t VALUES (1, 'a')"),
        exec_job(&client_a, "INSERT INTO t VALUES (2, 'a')"),
        exec_job(&client_a, "INSERT INTO t VALUES (3, 'a')"),
    };
    cr_assert(writer_turn(&wr, chain(3, jobs)));
    cr_assert(is_done(jobs[1]));
    cr_assert_not(is_done(jobs[2]), "a third job does not fit the group");
    cr_assert(writer_turn(&wr, NULL));
    cr_assert(is_done(jobs[2]));
    cr_assert_eq(stats_get(&stats.group_max), 2);
}

Test(writer, vacuum_runs_alone)
{
    create_table();
    struct job *jobs[] = {
        exec_job(&client_a, "INSERT INTO t VALUES (1, 'a')"),
        exec_job(&client_b, "VACUUM"),
        exec_job(&client_a, "INSERT INTO t VALUES (2, 'a')"),
    };
    cr_assert(writer_turn(&wr, chain(3, jobs)));
    cr_assert(is_done(jobs[0]));
    assert_ok(jobs[0]);
    cr_assert_not(is_done(jobs[1]), "VACUUM left the group");
    cr_assert_not(is_done(jobs[2]), "what follows VACUUM waits for it");
    cr_assert_null(jobs[1]->reply, "VACUUM gets no reply from the group");
    cr_assert_eq(read_int("SELECT count(*) FROM t"), 1);

    cr_assert(writer_turn(&wr, NULL));
    cr_assert(is_done(jobs[1]), "VACUUM is next, alone");
    cr_assert_not(is_done(jobs[2]));
    assert_ok(jobs[1]);

    cr_assert(writer_turn(&wr, NULL));
    assert_ok(jobs[2]);
    cr_assert_eq(read_int("SELECT count(*) FROM t"), 2);
}

Test(writer, a_transaction_is_not_grouped_with_other_jobs)
{
    create_table();
    struct job *b1 = exec_job(&client_b, "INSERT INTO t VALUES (1, 'b')");
    struct job *begin = job_of(&client_a, RPC_BEGIN, NULL, 0);
    struct job *b2 = exec_job(&client_b, "INSERT INTO t VALUES (2, 'b')");
    struct job *jobs[] = {b1, begin, b2};

    /* The group ends where the begin is; the begin runs alone. */
    cr_assert(writer_turn(&wr, chain(3, jobs)));
    cr_assert(is_done(b1));
    cr_assert_not(is_done(begin));
    cr_assert(writer_turn(&wr, NULL));
    cr_assert(is_done(begin));
    cr_assert(begin->opened_tx);
    cr_assert_eq(begin->tx, 1);
    struct reply rep;
    reply_of(begin, &rep);
    int64_t id = 0;
    cr_assert_eq(codec_read_int64(&rep.result, &id), 0);
    cr_assert_eq(id, 1, "begin answers the transaction's id");
    reply_free(&rep);

    /* While it is open, only its own jobs run; b2 waits. */
    struct job *a1 = job_of(&client_a, RPC_EXEC,
                            "INSERT INTO t VALUES (10, 'a')", begin->tx);
    struct job *a2 = job_of(&client_a, RPC_EXEC,
                            "INSERT INTO t VALUES (10, 'again')", begin->tx);
    struct job *txjobs[] = {a1, a2};
    cr_assert(writer_turn(&wr, chain(2, txjobs)));
    cr_assert(is_done(a1));
    cr_assert_not(is_done(a2), "one job of the transaction per turn");
    assert_ok(a1);
    cr_assert(writer_turn(&wr, NULL));
    /* A failed job of the transaction leaves the transaction open. */
    assert_error(a2, SQLITE_CONSTRAINT_PRIMARYKEY,
                 "SQLITE_CONSTRAINT_PRIMARYKEY", "UNIQUE constraint failed");
    cr_assert_not(writer_turn(&wr, NULL),
                  "nothing runs while the transaction waits for its client");
    cr_assert_not(is_done(b2));

    /* A write of the owner without the option tx is refused at once. */
    struct job *stray = exec_job(&client_a, "INSERT INTO t VALUES (20, 'a')");
    cr_assert(writer_turn(&wr, stray));
    assert_error(stray, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                 "this connection has transaction 1 open; send its writes "
                 "with the option tx");

    struct job *commit = job_of(&client_a, RPC_COMMIT, NULL, begin->tx);
    cr_assert(writer_turn(&wr, commit));
    assert_ok(commit);
    cr_assert(commit->ended_tx);
    cr_assert_not(is_done(b2), "b2 runs at the next turn, in a group");
    cr_assert(writer_turn(&wr, NULL));
    assert_ok(b2);
    cr_assert_eq(read_int("SELECT group_concat(id) = '1,2,10' FROM t"), 1);
    cr_assert_eq(stats_get(&stats.tx_committed), 1);
}

Test(writer, a_job_whose_client_is_gone_is_skipped)
{
    create_table();
    struct job *jobs[] = {
        exec_job(&client_a, "INSERT INTO t VALUES (1, 'a')"),
        exec_job(&client_b, "INSERT INTO t VALUES (2, 'gone')"),
        exec_job(&client_a, "INSERT INTO t VALUES (3, 'a')"),
    };
    atomic_store(&jobs[1]->cancelled, true);
    cr_assert(writer_turn(&wr, chain(3, jobs)));
    cr_assert_eq(ndone, 4, "the gone client's job is handed back too");
    assert_ok(jobs[0]);
    cr_assert_null(jobs[1]->reply, "nobody waits for an answer");
    assert_ok(jobs[2]);
    cr_assert_eq(stats_get(&stats.group_requests), 1 + 2);
    cr_assert_eq(read_int("SELECT count(*) FROM t WHERE who = 'gone'"), 0);
    cr_assert_eq(read_int("SELECT count(*) FROM t"), 2);
}

Test(writer, a_job_past_its_deadline_is_answered_without_running)
{
    create_table();
    struct job *late = exec_job(&client_a, "INSERT INTO t VALUES (1, 'late')");
    late->timeout_ms = 50;
    late->deadline = clock_now() - 1;
    struct job *jobs[] = {
        late,
        exec_job(&client_b, "INSERT INTO t VALUES (2, 'b')"),
    };
    cr_assert(writer_turn(&wr, chain(2, jobs)));
    cr_assert_eq(ndone, 3);
    assert_error(late, SQLITED_TIMEOUT, "SQLITED_TIMEOUT",
                 "the request's deadline (50 ms) passed before it could "
                 "run; nothing of it was applied");
    assert_ok(jobs[1]);
    cr_assert_eq(read_int("SELECT group_concat(id) FROM t"), 2);
}

Test(writer, a_job_of_a_transaction_no_longer_open_is_told_why)
{
    create_table();
    struct job *begin = job_of(&client_a, RPC_BEGIN, NULL, 0);
    cr_assert(writer_turn(&wr, begin));
    struct job *rollback = job_of(&client_a, RPC_ROLLBACK, NULL, begin->tx);
    cr_assert(writer_turn(&wr, rollback));
    assert_ok(rollback);
    struct job *late =
        job_of(&client_a, RPC_EXEC, "INSERT INTO t VALUES (1, 'a')", begin->tx);
    cr_assert(writer_turn(&wr, late));
    assert_error(late, SQLITED_TX_EXPIRED, "SQLITED_TX_EXPIRED",
                 "transaction 1 is no longer open: it was rolled back");
    drain();
    cr_assert_eq(read_int("SELECT count(*) FROM t"), 0);
}
