/* Bind a request's parameters to a prepared statement. Worker thread. */
#ifndef SQLITED_BIND_H
#define SQLITED_BIND_H

#include "run.h"

/* Binds @req's parameters to @st, refusing any mismatch between the values
 * given and the parameters the statement has (a missing, extra, unknown or
 * repeated one: SQLITE_RANGE). Text and blobs are bound in place: @req's
 * message must outlive the statement's use. Returns SQLITE_OK or the error
 * recorded in @r. */
int bind_params(struct run *r, const struct sql_req *req, sqlite3_stmt *st);

/* Reads one parameter list (nil, an array or a map, checked by the loop
 * thread) at @rd into @req and moves @rd past it. */
int bind_read_params(struct run *r, struct codec_reader *rd,
                     struct sql_req *req);

#endif /* SQLITED_BIND_H */
