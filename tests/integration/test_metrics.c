/* The full stats, and the Prometheus text of the metrics method and of
 * `sqlited-cli metrics`, checked with Prometheus' own parser. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct daemon d;
static struct harness_raw c;
static sqlited *db;

static void setup(void)
{
    db = harness_start_with_raw(&d, &c, NULL);
}

static void teardown(void)
{
    harness_cleanup_with_raw(&d, &db, &c);
}

TestSuite(metrics, .init = setup, .fini = teardown, .timeout = 60);

/* Some traffic of known shape: two writes, one failing read, one ping. */
static void traffic(void)
{
    sqlited_rows *rows = NULL;
    harness_exec(db, "CREATE TABLE t(x)");
    harness_exec(db, "INSERT INTO t VALUES (1)");
    cr_assert_eq(sqlited_query(db, "SELECT * FROM nope", NULL, &rows),
                 SQLITE_ERROR);
    cr_assert_eq(sqlited_ping(db), 0);
    cr_assert_eq(harness_query_int(db, "SELECT count(*) FROM t"), 1);
}

static int64_t map_int(struct codec_reader map, const char *key)
{
    return harness_result_int(map, key);
}

static struct codec_reader map_at(struct codec_reader map, const char *key)
{
    struct codec_reader v;
    cr_assert(harness_map_find(map, key, &v), "no \"%s\"", key);
    return v;
}

Test(metrics, stats_has_the_full_set)
{
    struct reply rep;

    traffic();
    /* The loop answered both queries itself; explain runs on a reader. */
    uint32_t msgid = ++c.last_msgid;
    harness_pack_request(&c.b, msgid, "explain", 1);
    codec_pack_cstr(&c.b, "SELECT x FROM t");
    harness_raw_call(&c, msgid, &rep);
    cr_assert_not(rep.is_error, "%s", rep.message);
    reply_free(&rep);
    msgid = ++c.last_msgid;
    harness_pack_request(&c.b, msgid, "stats", 0);
    harness_raw_call(&c, msgid, &rep);
    cr_assert_not(rep.is_error, "%s", rep.message);
    struct codec_reader r = rep.result;

    /* The keys of before are still there. */
    cr_assert_eq(map_int(r, "groups"), 2);
    cr_assert_geq(map_int(r, "stmt_cache_misses"), 1);

    cr_assert_eq(map_int(map_at(r, "requests"), "exec"), 2);
    cr_assert_eq(map_int(map_at(r, "requests"), "query"), 2);
    cr_assert_eq(map_int(map_at(r, "requests"), "ping"), 1);
    cr_assert_eq(map_int(map_at(r, "errors"), "query"), 1);
    cr_assert_eq(map_int(map_at(r, "errors_by_name"), "SQLITE_ERROR"), 1);
    struct codec_reader exec = map_at(map_at(r, "latency"), "exec");
    cr_assert_eq(map_int(exec, "count"), 2);
    struct codec_reader groups = map_at(r, "group_sizes");
    cr_assert_eq(map_int(groups, "count"), 2);
    cr_assert_gt(map_int(r, "bytes_in"), 0);
    cr_assert_gt(map_int(r, "bytes_out"), 0);
    cr_assert_gt(map_int(r, "writer_busy_ns"), 0);
    cr_assert_gt(map_int(r, "reader_busy_ns"), 0);
    cr_assert_eq(map_int(r, "inline_reads"), 2);
    cr_assert_eq(map_int(r, "inline_handoffs"), 0);
    cr_assert_gt(map_int(r, "page_cache_writes"), 0);
    cr_assert_gt(
        map_int(r, "page_cache_hits") + map_int(r, "page_cache_misses"), 0);
    cr_assert_gt(map_int(r, "sqlite_memory_bytes"), 0);
    cr_assert_eq(map_int(r, "in_flight"), 0,
                 "the loop answers stats at once: not in flight");
    reply_free(&rep);
}

Test(metrics, takes_no_params)
{
    struct reply rep;
    uint32_t msgid = ++c.last_msgid;
    harness_pack_request(&c.b, msgid, "metrics", 1);
    msgpack_pack_nil(&c.b.pk);
    harness_raw_call(&c, msgid, &rep);
    harness_assert_error(&rep, SQLITED_BAD_REQUEST, "SQLITED_BAD_REQUEST",
                         "metrics takes no params, 1 given");
    reply_free(&rep);
}

/* Parses the text on standard input with prometheus_client's parser (as
 * Prometheus would scrape it) and checks names, types, units and the
 * figures of traffic(). Prints "ok" or what is wrong. */
static const char checker[] =
    "import sys\n"
    "from prometheus_client.parser import text_string_to_metric_families\n"
    "text = sys.stdin.read()\n"
    "fams = {f.name: f for f in text_string_to_metric_families(text)}\n"
    "def fail(why):\n"
    "    print(why); sys.exit(1)\n"
    "for name, f in fams.items():\n"
    "    if not name.startswith('sqlited_'): fail('unprefixed ' + name)\n"
    "    if not f.documentation: fail('no HELP for ' + name)\n"
    "    if f.type == 'unknown': fail('no TYPE for ' + name)\n"
    "def sample(metric, **labels):\n"
    "    for f in fams.values():\n"
    "        for s in f.samples:\n"
    "            if s.name == metric and all(s.labels.get(k) == v\n"
    "                                      for k, v in labels.items()):\n"
    "                return s.value\n"
    "    fail('no sample %s %s' % (metric, labels))\n"
    "def expect(metric, want, **labels):\n"
    "    got = sample(metric, **labels)\n"
    "    if got != want: fail('%s %s = %s, not %s' % (metric, labels, got, "
    "want))\n"
    "expect('sqlited_requests_total', 2, method='exec')\n"
    "expect('sqlited_request_errors_total', 1, method='query')\n"
    "expect('sqlited_errors_total', 1, name='SQLITE_ERROR')\n"
    "h = fams['sqlited_request_duration_seconds']\n"
    "if h.type != 'histogram': fail('latency is a ' + h.type)\n"
    "expect('sqlited_request_duration_seconds_bucket', 2, method='exec', "
    "le='+Inf')\n"
    "expect('sqlited_request_duration_seconds_count', 2, method='exec')\n"
    "if sample('sqlited_request_duration_seconds_sum', method='exec') <= 0:\n"
    "    fail('no time spent on exec')\n"
    "buckets = [s for s in h.samples if s.name.endswith('_bucket')\n"
    "           and s.labels['method'] == 'exec']\n"
    "values = [s.value for s in buckets]\n"
    "if values != sorted(values): fail('buckets not cumulative')\n"
    "expect('sqlited_group_commit_requests_count', 2)\n"
    "if fams['sqlited_group_commit_requests'].type != 'histogram':\n"
    "    fail('group commit sizes are not a histogram')\n"
    "for unit in ('sqlited_received_bytes', 'sqlited_sent_bytes',\n"
    "             'sqlited_writer_busy_seconds'):\n"
    "    if fams[unit].type != 'counter': fail(unit + ' is no counter')\n"
    "    if sample(unit + '_total') <= 0: fail(unit + ' is 0')\n"
    "if sample('sqlited_sqlite_memory_bytes') <= 0: fail('no memory')\n"
    "expect('sqlited_info', 1, version='" SQLITED_VERSION "')\n"
    "print('ok')\n";

/* Runs the checker on @text. */
static void assert_parses(const char *text)
{
    struct harness_output o;
    const char *argv[] = {"/usr/bin/python3", "-c", checker, NULL};
    harness_run(argv, text, HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_eq(o.status, 0, "checker: %s%s\ntext:\n%s", o.out, o.err, text);
    cr_assert_str_eq(o.out, "ok\n");
    harness_output_free(&o);
}

Test(metrics, cli_output_parses_as_prometheus_text)
{
    struct harness_output o;

    traffic();
    harness_cli(&d, &o, NULL, (const char *const[]){"metrics", NULL});
    cr_assert_eq(o.status, 0, "stderr: %s", o.err);
    assert_parses(o.out);
    harness_output_free(&o);
}

Test(metrics, libsqlited_returns_the_same_text)
{
    char *text = NULL;

    traffic();
    HARNESS_ASSERT_OK(db, sqlited_metrics(db, &text));
    cr_assert(strncmp(text, "# HELP sqlited_", 15) == 0, "%s", text);
    assert_parses(text);
    sqlited_free(text);
    cr_assert_eq(sqlited_metrics(db, NULL), SQLITED_EMISUSE);
}

/* The checker itself refuses what Prometheus would not take. */
Test(metrics, checker_refuses_bad_text)
{
    struct harness_output o;
    const char *argv[] = {"/usr/bin/python3", "-c", checker, NULL};
    harness_run(argv, "# TYPE x counter\nx_total{a=\"1\" 2\n",
                HARNESS_RUN_TIMEOUT_MS, &o);
    cr_assert_neq(o.status, 0, "%s", o.out);
    harness_output_free(&o);
}
