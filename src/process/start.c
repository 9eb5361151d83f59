/* SPDX-License-Identifier: MIT */
/* start.c - whether the program called the entry hook mp_main (and with
 * which argv[0]), which spawn and forkserver need. The default method and
 * its names live with the contexts (src/shm/context.c). */
#include "process_internal.h"

/* Set by mp_main; argv[0] as the program was started. */
static _Atomic bool hook_called;
static const char *hook_argv0;

void
mp__start_mark_hook(const char *argv0)
{
    hook_argv0 = argv0;
    atomic_store(&hook_called, true);
}

bool
mp__start_hook_called(void)
{
    return atomic_load(&hook_called);
}

const char *
mp__start_argv0(void)
{
    return hook_argv0 != NULL ? hook_argv0 : "multiproc";
}

void
mp__start_test_forget_hook(void)
{
    atomic_store(&hook_called, false);
}
