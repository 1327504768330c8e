/* Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from
 * requests like those the tests send: every method, parameters of every
 * type, transactions and cursors. Run by `make fuzz-corpus`; the output is
 * committed. Usage: fuzz-corpus DIR */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"
#include "rpc.h"

static const char *root;

static void save(const char *target, const char *name, const char *prefix,
                 size_t prefix_len, const struct codec_buf *b)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL || b->error != CODEC_BUF_OK ||
        fwrite(prefix, 1, prefix_len, fp) != prefix_len ||
        fwrite(b->data, 1, b->len, fp) != b->len || fclose(fp) != 0) {
        fprintf(stderr, "fuzz-corpus: %s: %s\n", path, strerror(errno));
        exit(1);
    }
}

static uint32_t msgid;

static void head(struct codec_buf *b, const char *method, uint32_t nparams)
{
    rpc_pack_request_head(b, ++msgid, method, nparams);
}

static void sql(struct codec_buf *b, const char *method, const char *text)
{
    head(b, method, 1);
    codec_pack_cstr(b, text);
}

/* One value of every type SQLite stores, and a boolean. */
static void every_type(struct codec_buf *b)
{
    msgpack_pack_array(&b->pk, 6);
    msgpack_pack_int64(&b->pk, -42);
    msgpack_pack_double(&b->pk, 3.5);
    codec_pack_cstr(b, "text \xc3\xa9");
    msgpack_pack_bin(&b->pk, 3);
    msgpack_pack_bin_body(&b->pk, "\x00\xff\x01", 3);
    msgpack_pack_nil(&b->pk);
    msgpack_pack_true(&b->pk);
}

static void options(struct codec_buf *b, int64_t tx)
{
    msgpack_pack_map(&b->pk, tx ? 2 : 1);
    codec_pack_cstr(b, "timeout_ms");
    msgpack_pack_int64(&b->pk, 100);
    if (tx) {
        codec_pack_cstr(b, "tx");
        msgpack_pack_int64(&b->pk, tx);
    }
}

static const char create[] =
    "CREATE TABLE t(id INTEGER PRIMARY KEY, i, r, s, b, n, f)";
static const char insert[] = "INSERT INTO t(i, r, s, b, n, f) VALUES "
                             "(?, ?, ?, ?, ?, ?)";

/* Each kind of request alone (request), and in sequences that build on
 * each other (execute); both also feed the decoder. */
int main(int argc, char **argv)
{
    struct codec_buf b, all;

    if (argc != 2) {
        fprintf(stderr, "usage: fuzz-corpus DIR\n");
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    codec_buf_init(&b, 0);
    codec_buf_init(&all, 0);

#define ONE(name, ...)                                                         \
    do {                                                                       \
        codec_buf_reset(&b);                                                   \
        __VA_ARGS__;                                                           \
        save("request", name, "", 0, &b);                                      \
        codec_buf_append(&all, b.data, b.len);                                 \
    } while (0)
    ONE("hello", head(&b, "hello", 0));
    ONE("ping", head(&b, "ping", 0));
    ONE("stats", head(&b, "stats", 0));
    ONE("exec", sql(&b, "exec", create));
    ONE("query-params", {
        head(&b, "query", 3);
        codec_pack_cstr(&b, "SELECT ?, ?, ?, ?, ?, ?");
        every_type(&b);
        options(&b, 0);
    });
    ONE("query-named", {
        head(&b, "query", 2);
        codec_pack_cstr(&b, "SELECT :a, @b, $c");
        msgpack_pack_map(&b.pk, 3);
        codec_pack_cstr(&b, "a");
        msgpack_pack_int64(&b.pk, 1);
        codec_pack_cstr(&b, ":b");
        codec_pack_cstr(&b, "x");
        codec_pack_cstr(&b, "$c");
        msgpack_pack_double(&b.pk, -0.25);
    });
    ONE("batch", {
        head(&b, "batch", 2);
        msgpack_pack_array(&b.pk, 3);
        msgpack_pack_array(&b.pk, 1);
        codec_pack_cstr(&b, create);
        msgpack_pack_array(&b.pk, 2);
        codec_pack_cstr(&b, insert);
        every_type(&b);
        msgpack_pack_array(&b.pk, 1);
        codec_pack_cstr(&b, "SELECT * FROM t");
        msgpack_pack_map(&b.pk, 1);
        codec_pack_cstr(&b, "atomic");
        msgpack_pack_false(&b.pk);
    });
    ONE("bulk", {
        head(&b, "bulk", 2);
        codec_pack_cstr(&b, insert);
        msgpack_pack_array(&b.pk, 2);
        every_type(&b);
        every_type(&b);
    });
    ONE("begin", {
        head(&b, "begin", 1);
        codec_pack_cstr(&b, "immediate");
    });
    ONE("commit", {
        head(&b, "commit", 1);
        msgpack_pack_int64(&b.pk, 1);
    });
    ONE("rollback", {
        head(&b, "rollback", 1);
        msgpack_pack_int64(&b.pk, 1);
    });
    ONE("fetch", {
        head(&b, "fetch", 1);
        msgpack_pack_int64(&b.pk, 1);
    });
    ONE("close", {
        head(&b, "close", 1);
        msgpack_pack_int64(&b.pk, 1);
    });
    ONE("explain", sql(&b, "explain", "SELECT * FROM t WHERE id = 1"));
    ONE("query-options", {
        head(&b, "query", 3);
        codec_pack_cstr(&b, "SELECT 1");
        msgpack_pack_nil(&b.pk);
        msgpack_pack_map(&b.pk, 2);
        codec_pack_cstr(&b, "max_rows");
        msgpack_pack_int64(&b.pk, 10);
        codec_pack_cstr(&b, "max_bytes");
        msgpack_pack_int64(&b.pk, 1000);
    });
    ONE("unknown-method", head(&b, "nosuch", 0));
    ONE("notification", {
        msgpack_pack_array(&b.pk, 3);
        msgpack_pack_int(&b.pk, 2);
        codec_pack_cstr(&b, "ping");
        msgpack_pack_array(&b.pk, 0);
    });
#undef ONE
    /* The decoder: everything above in one stream, under roomy limits
     * (first byte) and with pieces from seed 7 (second byte). */
    save("decoder", "all", "\xff\x07", 2, &all);
    codec_buf_reset(&b);
    head(&b, "ping", 0);
    save("decoder", "ping", "\x3f\x01", 2, &b);

#define SEQ(name, ...)                                                         \
    do {                                                                       \
        codec_buf_reset(&b);                                                   \
        msgid = 0;                                                             \
        __VA_ARGS__;                                                           \
        save("execute", name, "", 0, &b);                                      \
    } while (0)
    SEQ("table", {
        sql(&b, "exec", create);
        head(&b, "exec", 2);
        codec_pack_cstr(&b, insert);
        every_type(&b);
        sql(&b, "query", "SELECT * FROM t");
        sql(&b, "exec", "UPDATE t SET i = i + 1; DELETE FROM t WHERE id > 5");
        sql(&b, "query", "INSERT INTO t(i) VALUES (1) RETURNING id");
    });
    SEQ("batch-bulk", {
        sql(&b, "exec", create);
        head(&b, "bulk", 3);
        codec_pack_cstr(&b, insert);
        msgpack_pack_array(&b.pk, 3);
        every_type(&b);
        every_type(&b);
        every_type(&b);
        options(&b, 0);
        head(&b, "batch", 1);
        msgpack_pack_array(&b.pk, 2);
        msgpack_pack_array(&b.pk, 2);
        codec_pack_cstr(&b, "SELECT * FROM t WHERE i = ?");
        msgpack_pack_array(&b.pk, 1);
        msgpack_pack_int64(&b.pk, -42);
        msgpack_pack_array(&b.pk, 1);
        codec_pack_cstr(&b, "INSERT INTO t(id) VALUES (1)");
    });
    SEQ("transaction", {
        sql(&b, "exec", create);
        head(&b, "begin", 0);
        head(&b, "exec", 3);
        codec_pack_cstr(&b, insert);
        every_type(&b);
        options(&b, 1);
        head(&b, "query", 3);
        codec_pack_cstr(&b, "SELECT count(*) FROM t");
        msgpack_pack_nil(&b.pk);
        options(&b, 1);
        head(&b, "commit", 1);
        msgpack_pack_int64(&b.pk, 1);
        head(&b, "begin", 1);
        codec_pack_cstr(&b, "immediate");
        head(&b, "exec", 3);
        codec_pack_cstr(&b, "DELETE FROM t");
        msgpack_pack_nil(&b.pk);
        options(&b, 2);
        head(&b, "rollback", 1);
        msgpack_pack_int64(&b.pk, 2);
    });
    SEQ("cursor", {
        sql(&b, "query",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 100) SELECT x, randomblob(x) FROM c");
        head(&b, "fetch", 1);
        msgpack_pack_int64(&b.pk, 1);
        head(&b, "fetch", 1);
        msgpack_pack_int64(&b.pk, 1);
        head(&b, "close", 1);
        msgpack_pack_int64(&b.pk, 1);
        sql(&b, "query",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 50) SELECT x FROM c");
    });
    SEQ("misc", {
        head(&b, "hello", 0);
        head(&b, "ping", 0);
        sql(&b, "exec", create);
        sql(&b, "explain", "SELECT * FROM t WHERE id = 1");
        head(&b, "stats", 0);
        sql(&b, "exec", "CREATE TEMP TABLE x(a)");
        sql(&b, "exec", "PRAGMA journal_mode=DELETE");
        sql(&b, "exec", "VACUUM");
    });
#undef SEQ
    codec_buf_close(&b);
    codec_buf_close(&all);
    return 0;
}
