/* Runs a fuzz target's entry point over files, without libFuzzer: each
 * argument is an input file or a directory of them (files whose names start
 * with '.' are skipped). `make test` replays every input that ever crashed
 * a target, and the seed corpus, with the normal compiler's build. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0, n;
    uint8_t *data = malloc(cap);
    while (data && (n = fread(data + len, 1, cap - len, fp)) > 0) {
        len += n;
        if (len == cap)
            data = realloc(data, cap *= 2);
    }
    fclose(fp);
    if (data == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    unsigned files = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            if (errno == ENOENT)
                continue; /* no crash was ever kept for this target */
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) != 0)
                return 1;
            files++;
            continue;
        }
        struct dirent **names;
        int n = scandir(argv[i], &names, NULL, NULL);
        if (n < 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        char **paths = calloc((size_t)n + 1, sizeof(*paths));
        int k = 0;
        for (int j = 0; j < n; j++) {
            if (names[j]->d_name[0] != '.' && paths) {
                size_t plen = strlen(argv[i]) + strlen(names[j]->d_name) + 2;
                if ((paths[k] = malloc(plen)) != NULL)
                    snprintf(paths[k++], plen, "%s/%s", argv[i],
                             names[j]->d_name);
            }
            free(names[j]);
        }
        free(names);
        if (paths == NULL)
            return 1;
        qsort(paths, (size_t)k, sizeof(*paths), by_name);
        for (int j = 0; j < k; j++) {
            int rc = replay_file(paths[j]);
            free(paths[j]);
            if (rc != 0)
                return 1;
            files++;
        }
        free(paths);
    }
    printf("replay %s: %u inputs, no failure\n", argv[0], files);
    return 0;
}
