/* Step a statement and encode its result: columns, rows (all of them, or
 * one chunk), and the counts of a write. Worker thread. */
#ifndef SQLITED_RESULT_H
#define SQLITED_RESULT_H

#include "run.h"

/* Steps @st once, with the authorizer told that a statement runs. */
int result_step(struct run *r, sqlite3_stmt *st);

/* The first step of @st. Only after it are @st's columns known: SQLite
 * prepares a statement again there when the schema changed since it was
 * prepared (by another client, or since it went into the cache). */
int result_step_first(struct run *r, sqlite3_stmt *st);

/* The number of map entries result_pack_columns() appends. */
unsigned result_column_keys(const struct run *r);

/* Appends the "columns" entry, the "decltypes" entry when the query asked
 * for it (nil for a column that is no table column), and the key "rows" of
 * a result map: result_column_keys() entries. */
int result_pack_columns(struct run *r, sqlite3_stmt *st, int ncols,
                        struct codec_buf *out);

/* Appends the array of @st's rows to @out, stepping on from where @st is:
 * @rc is what its last step returned (SQLITE_ROW: it stands on the first row
 * to send; SQLITE_DONE or an error: it is finished), or 0. With @chunk,
 * stops once the chunk is full and sets *@more when a row is left, on which
 * @st then stands. Enforces the job's max_rows and max_bytes over all the
 * chunks of the result (r->rows, r->bytes). */
int result_pack_rows(struct run *r, sqlite3_stmt *st, int rc, bool chunk,
                     bool *more, struct codec_buf *out);

/* Steps @st, whose first step returned @rc, to its end. When it has result
 * columns, appends the two map entries "columns" and "rows" to @out. Counts
 * the rows it changed. */
int result_step_all(struct run *r, sqlite3_stmt *st, int rc,
                    struct codec_buf *out);

/* Appends "changes" and "last_insert_rowid". */
void result_pack_counts(struct run *r, struct codec_buf *out);

#endif /* SQLITED_RESULT_H */
