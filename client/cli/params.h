/* The named parameters of .param (:NAME, @NAME, $NAME), kept by a session
 * and bound to each statement it runs that names them. */
#ifndef SQLITED_CLI_PARAMS_H
#define SQLITED_CLI_PARAMS_H

#include <stddef.h>
#include <stdio.h>

#include "sqlited.h"

struct param;

/* The parameters set so far, sorted by name. Starts zeroed ({0});
 * params_clear() frees them. */
struct params {
    struct param *v;
    size_t n, cap;
};

/* Sets parameter @name (":x", "@x", "$x", or "x", which binds whichever
 * prefix a statement uses) to the value written in @value as sqlite3's
 * .param set reads it: an integer (42, -7, 0x1F), a real (1.5, 2e3),
 * 'quoted text' ('' for a quote), NULL, X'hex' for a BLOB; any other word
 * is the text itself. Returns 0, or -EINVAL (a malformed name, quoted text
 * or hex) or -ENOMEM, with the reason in @err (at least 128 bytes). */
int params_set(struct params *p, const char *name, const char *value, char *err,
               size_t errsize);

/* Removes parameter @name; returns whether it was set. */
int params_unset(struct params *p, const char *name);

/* Forgets every parameter. */
void params_clear(struct params *p);

/* Prints the parameters, one "NAME VALUE" line each, the value as an SQL
 * literal (as sqlite3's .param list does). */
void params_list(const struct params *p, FILE *out);

/* The values for the parameters @sql names (outside its strings, quoted
 * names and comments) that are set, in a new list in *@out, or NULL in
 * *@out when there are none (a parameter that is not set is left for the
 * daemon to report). Returns 0 or -ENOMEM. */
int params_bind(const struct params *p, const char *sql, sqlited_params **out);

#endif
