#include "config_args.h"

#include <criterion/criterion.h>
#include <unistd.h>

#include "../../daemon/config.h"

void slurp(FILE *file, char *buf, size_t size)
{
    rewind(file);
    size_t n = fread(buf, 1, size - 1, file);
    buf[n] = '\0';
    fclose(file);
}

int config_parse_captured(struct config *cfg, const char *const *args,
                          char *out, size_t outlen, char *err, size_t errlen)
{
    char *argv[64];
    int argc = 0;

    config_defaults(cfg);
    argv[argc++] = (char *)"sqlited";
    while (*args) {
        cr_assert_lt(argc, 63);
        argv[argc++] = (char *)*args++;
    }
    argv[argc] = NULL;

    FILE *o = tmpfile(), *e = tmpfile();
    cr_assert(o && e);
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(e), 2);
    int rc = config_parse(cfg, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    slurp(o, out, outlen);
    slurp(e, err, errlen);
    return rc;
}
