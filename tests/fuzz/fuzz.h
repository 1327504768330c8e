/* The libFuzzer targets and what they share: the daemon's core without its
 * event loop, sockets or threads.
 *
 * Each target (fuzz_<name>.c) defines LLVMFuzzerTestOneInput(). `make fuzz`
 * links it with clang's libFuzzer; `make test` links it with replay.c, built
 * with the normal compiler, and runs it over every file of
 * tests/fuzz/crashes/<name>/ and tests/fuzz/corpus/<name>/. A target aborts
 * (which libFuzzer reports as a crash) when the daemon's code breaks one of
 * the promises the target checks, not only when it crashes.
 */
#ifndef SQLITED_FUZZ_H
#define SQLITED_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "execute.h"
#include "server.h"
#include "writer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz: " and the message to stderr, then abort()s. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));

/* Checks that @msg[0..len) is one well-formed answer of the daemon: a
 * response to @msgid (when @msgid is not UINT32_MAX) or an error
 * notification, whose error object, if any, has a code, a known name and a
 * message, and is not SQLITED_INTERNAL (a defect by definition). With
 * FUZZ_VERBOSE set in the environment, prints a line for each. */
void fuzz_check_answer(const char *msg, size_t len, uint32_t msgid);

/* The daemon's core on a database of its own, in a temporary directory
 * removed at exit: the server and connection that dispatch_check() needs,
 * the writer (writer.c, driven by writer_turn() without its thread), one
 * reader's SQLite connection, the cursors opened on the reader, and the
 * connection's open interactive transaction. One per process. */
struct fuzz_core {
    struct config cfg;
    struct server srv;    /* cfg, hello, stats, limits and one loop */
    struct io_loop loop;  /* never run: its metrics and lists only */
    struct conn conn;     /* never accepted: srv, loop, cursors and tx only */
    struct writer writer; /* opened by the first input, kept open */
    bool writer_open;
    struct worker reader;
    struct job *writing; /* the job on the writer, until it is done */
    atomic_bool stop;
    uint64_t cursor_ids; /* cursors opened by this input */
    char dir[96];
    char db_path[160];
};

/* Makes the process's core (the first call) and returns it. Its settings
 * keep every input small and quick: 1 MiB messages, 200 ms deadlines. */
struct fuzz_core *fuzz_core_get(void);

/* Gives one input an empty database (the first: creates it), and a new
 * reader connection. */
void fuzz_core_open(struct fuzz_core *f);

/* Runs @job (from dispatch_check()) where the daemon would: reads on the
 * reader (a write it meets goes to the writer), the rest on the writer, in
 * a group of one, alone, or in the open transaction. Sets job->reply. Keeps the
 * cursors a query opened; a fetch or close that ends one frees it. */
void fuzz_core_run(struct fuzz_core *f, struct job *job);

/* Checks what no request may change (the database is intact, the shared
 * connections' settings are the daemon's), closes the cursors and the
 * reader, and rolls back the transaction. The writer stays open for the
 * next input; the database is removed at exit. */
void fuzz_core_close(struct fuzz_core *f);

#endif /* SQLITED_FUZZ_H */
