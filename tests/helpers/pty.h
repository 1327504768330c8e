/* Drive sqlited-cli's interactive shell (or any program) through a
 * pseudo-terminal, as a person at a terminal would.
 *
 * pty_cli() starts SQLITED_CLI on a new pty (the child's stdin, stdout
 * and stderr are the pty's terminal side, its controlling terminal, 80x24,
 * TERM=dumb), so that isatty() holds and the shell starts. The test then types
 * with pty_send() (text, and the keys below: Tab, Ctrl-C, Ctrl-D), and waits
 * for what it expects to see with pty_expect(). Nothing here measures time:
 * every wait is for a condition, bounded by a generous deadline (PTY_TIMEOUT_MS
 * times harness_slowdown()) that only keeps a broken shell from hanging the
 * suite.
 *
 * What the test sees is the transcript: every byte the program wrote to the
 * terminal (its prompts, its output, its errors, and the echo of what was
 * typed), with carriage returns, BELs and terminal escape sequences (CSI,
 * OSC, two-byte ESC) removed, so that a line reads "42\n" whatever the
 * terminal made of it. Backspaces (\b) stay.
 *
 * pty_expect() searches the transcript from a mark, and moves the mark past
 * what it found: a test reads the session in order, and text matched once
 * cannot satisfy a later expectation. Since typed text is echoed, expect
 * something the typing does not contain: type "SELECT 6 * 7;" and expect
 * "\n42\n", not "42".
 *
 * Usage:
 *
 *     struct pty_proc p;
 *     pty_cli(&p, &d, NULL, NULL);       // sqlited-cli -s DIR/sqlited.sock
 *     pty_expect(&p, "> ");              // the prompt
 *     pty_send(&p, "SELECT 6 * 7;\n");
 *     pty_expect(&p, "\n42\n");
 *     pty_send(&p, PTY_CTRL_D);
 *     cr_assert_eq(pty_wait_exit(&p), 0);
 *     pty_close(&p);
 *
 * The helpers fail the running test (cr_assert) when something not under
 * test goes wrong, or when what a pty_expect*() waits for never comes; the
 * failure message holds the transcript.
 */
#ifndef SQLITED_TEST_PTY_H
#define SQLITED_TEST_PTY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "harness.h"

/* Keys, as the terminal sends them. */
#define PTY_TAB "\t"
#define PTY_CTRL_C "\003"
#define PTY_CTRL_D "\004"
#define PTY_ENTER "\n"

/* The deadline of each wait, before harness_slowdown(). Generous: it only
 * keeps a broken shell from hanging the suite. */
#define PTY_TIMEOUT_MS 30000

/* A program running on a pty. Zero-initialise it (static storage does);
 * pty_close() accepts one never started, and may be called more than
 * once. */
struct pty_proc {
    bool started; /* pty_spawn() ran, pty_close() not yet */
    pid_t pid;    /* 0 once reaped (or never started) */
    int fd;       /* the pty's master side */
    int status;   /* exit code or 128 + signal, once exited (pid == 0) */
    /* The raw bytes read so far (NUL-terminated). */
    char *raw;
    size_t raw_len, raw_cap;
    size_t raw_done; /* raw bytes already cleaned into the transcript */
    /* The transcript (NUL-terminated): see above. */
    char *text;
    size_t text_len, text_cap;
    size_t mark; /* where pty_expect() searches from */
    bool eof;    /* the terminal side is closed: the program is gone */
};

/* Starts @argv[0] (a path) with @argv on a new pty. @env ("NAME=value",
 * NULL-terminated; may be NULL) is added to the environment, which also
 * gets TERM=dumb and COLUMNS/LINES unset (the pty says 80x24) unless @env
 * sets them. Fails the test if it cannot be started. */
void pty_spawn(struct pty_proc *p, const char *const *argv,
               const char *const *env);

/* Starts SQLITED_CLI -s @d's socket @args (NULL-terminated; may be NULL)
 * on a new pty, as pty_spawn() does. Unless @env sets them, HOME is @d's
 * directory and SQLITED_HISTORY is DIR/history, so that a test never
 * touches the user's history. */
void pty_cli(struct pty_proc *p, struct daemon *d, const char *const *env,
             const char *const *args);

/* Types @keys (text, or the PTY_* keys, or both). Fails the test if the
 * pty does not take them. */
void pty_send(struct pty_proc *p, const char *keys);

/* Waits until the transcript from the mark holds @text; then moves the
 * mark just past it and returns true. Returns false, mark unmoved, if it
 * does not come within @timeout_ms or the program's output ends first. */
bool pty_wait_for(struct pty_proc *p, const char *text, int timeout_ms);

/* pty_wait_for() with the deadline PTY_TIMEOUT_MS * harness_slowdown();
 * fails the test, showing the transcript from the mark, if @text never
 * comes. */
void pty_expect(struct pty_proc *p, const char *text);

/* Reads what the program wrote so far, without waiting, and returns the
 * transcript from the mark (borrowed: valid until the next call on @p).
 * For checking that something did not appear, after a pty_expect() for
 * what comes after it. */
const char *pty_since_mark(struct pty_proc *p);

/* Waits (bounded) until sqlited-cli's shell runs what was entered: its
 * line editor, which reads key by key, has given the terminal back in
 * canonical mode, with Ctrl-D an ordinary key for the time (so that one
 * typed ahead is kept for the next prompt). Fails the test if that never
 * comes. */
void pty_wait_running(struct pty_proc *p);

/* Waits (bounded) until the program exits, reading its output meanwhile
 * (the transcript then holds everything it wrote), and returns its exit
 * code, or 128 + the signal that killed it. Fails the test if it does not
 * exit in time. */
int pty_wait_exit(struct pty_proc *p);

/* Kills the program if it still runs (SIGKILL) and reaps it, closes the pty
 * and frees the buffers. */
void pty_close(struct pty_proc *p);

/* The transcript from @from on, escaped for an assertion message ("\n" as
 * \n, other control bytes as \xNN); malloc'd. */
char *pty_show(const struct pty_proc *p, size_t from);

#endif /* SQLITED_TEST_PTY_H */
