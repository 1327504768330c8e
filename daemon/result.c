#include "result.h"

#include <inttypes.h>

#include "sqlited.h"

/* Each value through sqlite3_column_value(): one call into the statement
 * per value where sqlite3_column_type(), _text() and _bytes() make three,
 * each taking the connection's mutex and checking for a memory failure.
 * The value is read at once, on the worker's own thread, as those would. */
static int pack_row(struct run *r, sqlite3_stmt *st, int ncols,
                    struct codec_buf *out)
{
    codec_pack_array(out, (uint32_t)ncols);
    for (int i = 0; i < ncols; i++) {
        sqlite3_value *v = sqlite3_column_value(st, i);
        switch (sqlite3_value_type(v)) {
        case SQLITE_INTEGER:
            codec_pack_int64(out, sqlite3_value_int64(v));
            break;
        case SQLITE_FLOAT:
            codec_pack_double(out, sqlite3_value_double(v));
            break;
        case SQLITE_TEXT: {
            const char *s = (const char *)sqlite3_value_text(v);
            size_t n = (size_t)sqlite3_value_bytes(v);
            if (s == NULL)
                return run_fail(r, SQLITE_NOMEM, "out of memory");
            /* SQLite stores whatever bytes it is given as TEXT. A str must
             * be UTF-8 or strict decoders reject the whole reply, so other
             * bytes travel as bin: nothing is lost, and the type says so. */
            if (codec_utf8_valid(s, n))
                codec_pack_str(out, s, n);
            else
                codec_pack_bin(out, s, n);
            break;
        }
        case SQLITE_BLOB: {
            const void *b = sqlite3_value_blob(v);
            int n = sqlite3_value_bytes(v);
            codec_pack_bin(out, b, (size_t)n);
            break;
        }
        default:
            codec_pack_nil(out);
            break;
        }
    }
    return SQLITE_OK;
}

/* Whether the answer of @r carries "decltypes" beside "columns" (a query
 * that asked for them). */
static bool wants_decltypes(const struct run *r)
{
    return r->job->method == RPC_QUERY && r->job->decltypes;
}

/* The number of map entries result_pack_columns() appends. */
unsigned result_column_keys(const struct run *r)
{
    return wants_decltypes(r) ? 3u : 2u;
}

/* Appends the "columns" entry, the "decltypes" entry when the query asked
 * for it (nil for a column that is no table column), and the key "rows" of
 * a result map: result_column_keys() entries. */
int result_pack_columns(struct run *r, sqlite3_stmt *st, int ncols,
                        struct codec_buf *out)
{
    codec_pack_cstr(out, "columns");
    msgpack_pack_array(&out->pk, (size_t)ncols);
    for (int i = 0; i < ncols; i++) {
        const char *name = sqlite3_column_name(st, i);
        if (name == NULL)
            return run_fail(r, SQLITE_NOMEM, "out of memory");
        codec_pack_cstr(out, name);
    }
    if (wants_decltypes(r)) {
        codec_pack_cstr(out, "decltypes");
        msgpack_pack_array(&out->pk, (size_t)ncols);
        for (int i = 0; i < ncols; i++) {
            const char *type = sqlite3_column_decltype(st, i);
            if (type == NULL)
                msgpack_pack_nil(&out->pk);
            else
                codec_pack_cstr(out, type);
        }
    }
    codec_pack_cstr(out, "rows");
    return SQLITE_OK;
}

int result_step(struct run *r, sqlite3_stmt *st)
{
    r->w->auth.stepping = true;
    int rc = sqlite3_step(st);
    r->w->auth.stepping = false;
    return rc;
}

/* The first step of @st. Only after it are @st's columns known: SQLite
 * prepares a statement again there when the schema changed since it was
 * prepared (by another client, or since it went into the cache). */
int result_step_first(struct run *r, sqlite3_stmt *st)
{
    r->total_before = sqlite3_total_changes64(r->w->db);
    return result_step(r, st);
}

/* Appends the array of @st's rows to @out, stepping on from where @st is:
 * @rc is what its last step returned (SQLITE_ROW: it stands on the first row
 * to send; SQLITE_DONE or an error: it is finished), or 0. With @chunk,
 * stops once the chunk is full and sets *@more when a row is left, on which
 * @st then stands. Enforces the job's max_rows and max_bytes over all the
 * chunks of the result (r->rows, r->bytes). */
/* The bytes of @st's text and blob values in its current row: about what
 * encoding the row takes. Asking expands no zeroblob() and converts no text
 * (the daemon's text is UTF-8). */
static size_t row_bytes(sqlite3_stmt *st, int ncols)
{
    size_t n = 0;
    for (int i = 0; i < ncols; i++) {
        int type = sqlite3_column_type(st, i);
        if (type == SQLITE_TEXT || type == SQLITE_BLOB)
            n += (size_t)sqlite3_column_bytes(st, i);
    }
    return n;
}

int result_pack_rows(struct run *r, sqlite3_stmt *st, int rc, bool chunk,
                     bool *more, struct codec_buf *out)
{
    const struct config *cfg = r->w->cfg;
    int ncols = sqlite3_column_count(st);
    size_t at = codec_pack_array_later(out), start = out->len;
    uint32_t n = 0;

    *more = false;
    for (;; rc = 0) {
        if (rc == 0)
            rc = result_step(r, st);
        if (rc != SQLITE_ROW)
            break;
        if (chunk &&
            (n >= cfg->chunk_rows || out->len - start >= cfg->chunk_bytes)) {
            *more = true;
            break;
        }
        if (r->max_rows && r->rows >= r->max_rows)
            return run_fail(r, SQLITED_TOO_LARGE,
                            "the result has more than %" PRIu64
                            " rows (max_rows)",
                            r->max_rows);
        /* The loop encodes no more than a chunk, not even one huge row: a
         * reader does the rest (cursor_first_chunk() hands it off). */
        if (chunk && r->w->on_loop &&
            row_bytes(st, ncols) > cfg->chunk_bytes - (out->len - start)) {
            *more = true;
            break;
        }
        if (pack_row(r, st, ncols, out) != SQLITE_OK)
            return r->code;
        if (out->error)
            return run_fail_out(r, out);
        n++;
        r->rows++;
        if (r->max_bytes && r->bytes + (out->len - start) > r->max_bytes)
            return run_fail(r, SQLITED_TOO_LARGE,
                            "the result's rows take more than %" PRIu64
                            " bytes (max_bytes)",
                            r->max_bytes);
    }
    if (!*more && rc != SQLITE_DONE)
        return run_fail_sqlite(r, rc);
    r->bytes += out->len - start;
    codec_patch_array(out, at, n);
    return out->error ? run_fail_out(r, out) : SQLITE_OK;
}

/* Steps @st, whose first step returned @rc, to its end. When it has result
 * columns, appends the two map entries "columns" and "rows" to @out. Counts
 * the rows it changed. */
int result_step_all(struct run *r, sqlite3_stmt *st, int rc,
                    struct codec_buf *out)
{
    sqlite3 *db = r->w->db;
    int ncols = sqlite3_column_count(st);
    bool more;

    if (ncols > 0) {
        if (result_pack_columns(r, st, ncols, out) != SQLITE_OK ||
            result_pack_rows(r, st, rc, false, &more, out) != SQLITE_OK)
            return r->code;
    } else {
        while (rc == SQLITE_ROW)
            rc = result_step(r, st);
        if (rc != SQLITE_DONE)
            return run_fail_sqlite(r, rc);
    }
    /* sqlite3_changes64() keeps the count of the last INSERT, UPDATE or
     * DELETE, whatever ran since: only trust it when this statement changed
     * something. */
    if (sqlite3_total_changes64(db) != r->total_before)
        r->changes += sqlite3_changes64(db);
    return out->error ? run_fail_out(r, out) : SQLITE_OK;
}

void result_pack_counts(struct run *r, struct codec_buf *out)
{
    codec_pack_cstr(out, "changes");
    msgpack_pack_int64(&out->pk, r->changes);
    codec_pack_cstr(out, "last_insert_rowid");
    msgpack_pack_int64(&out->pk, sqlite3_last_insert_rowid(r->w->db));
}
