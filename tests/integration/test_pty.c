/* The pty driver of the shell's tests (tests/helpers/pty.h), on a shell
 * script: what it types arrives, what the program writes is seen in order,
 * the program's terminal is a terminal, and its exit status comes back. */
#include <criterion/criterion.h>
#include <string.h>

#include "pty.h"

static struct pty_proc p;

static void teardown(void)
{
    pty_close(&p);
}

TestSuite(pty, .fini = teardown, .timeout = 60);

static const char *const script[] = {
    "/bin/sh", "-c",
    "test -t 0 && test -t 1 && echo on-a-terminal;"
    "printf '\\033[1mbold\\033[0m\\r\\n';"
    "read line; echo \"got <$line>\";"
    "trap 'echo interrupted; exit 3' INT; echo armed; while :; do sleep 1; "
    "done",
    NULL};

Test(pty, types_reads_and_signals)
{
    pty_spawn(&p, script, NULL);
    pty_expect(&p, "on-a-terminal\n");
    /* Escape sequences and carriage returns are not in the transcript. */
    pty_expect(&p, "bold\n");
    pty_send(&p, "hello" PTY_ENTER);
    pty_expect(&p, "got <hello>\n");
    /* Text matched once does not match again: the mark moved past it. */
    cr_assert_not(pty_wait_for(&p, "got <hello>", 0));
    pty_expect(&p, "armed\n");
    /* Ctrl-C reaches the program as SIGINT, through the terminal. */
    pty_send(&p, PTY_CTRL_C);
    pty_expect(&p, "interrupted\n");
    cr_assert_eq(pty_wait_exit(&p), 3);
}

Test(pty, ctrl_d_is_end_of_file)
{
    static const char *const cat[] = {"/bin/cat", NULL};
    pty_spawn(&p, cat, (const char *const[]){"TERM=xterm", NULL});
    pty_send(&p, "abc" PTY_ENTER);
    pty_expect(&p, "abc\nabc\n"); /* the echo, then cat's copy */
    pty_send(&p, PTY_CTRL_D);
    cr_assert_eq(pty_wait_exit(&p), 0);
}
