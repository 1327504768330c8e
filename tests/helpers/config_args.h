/* The daemon's command line parsed as main() parses it, for the unit tests
 * of daemon/config.c: what it prints is kept rather than shown. */
#ifndef SQLITED_TEST_CONFIG_ARGS_H
#define SQLITED_TEST_CONFIG_ARGS_H

#include <stddef.h>
#include <stdio.h>

struct config;

/* Reads what @file holds into @buf (NUL-terminated, cut at @size - 1
 * bytes) and closes it. */
void slurp(FILE *file, char *buf, size_t size);

/* Runs config_parse() on "sqlited" and @args (NULL-terminated, at most 62)
 * over the defaults in @cfg; what it writes to stdout and stderr lands in
 * @out and @err. Returns config_parse()'s result. */
int config_parse_captured(struct config *cfg, const char *const *args,
                          char *out, size_t outlen, char *err, size_t errlen);

#endif /* SQLITED_TEST_CONFIG_ARGS_H */
