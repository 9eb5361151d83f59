/* SPDX-License-Identifier: MIT */
/* main.c - mp_main, the entry hook at the top of a program's main: a
 * normal run records the hook and returns; a process the library started
 * by exec (a spawned child, the forkserver) becomes what its argv names
 * and never returns into main. */
#include "process_internal.h"

#include <stdlib.h>
#include <string.h>

/* Tells whether argv[2] names the boot channel's fd (MP__BOOT_FD). */
static bool
boot_fd_arg(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    return *s != '\0' && *end == '\0' && v == MP__BOOT_FD;
}

int
mp_main(int argc, char **argv)
{
    mp__start_mark_hook(argc > 0 && argv != NULL ? argv[0] : NULL);
    if (argc != 3 || argv == NULL || !boot_fd_arg(argv[2])) {
        return 0;
    }
    if (strcmp(argv[1], MP__BOOT_ARG_SPAWN) == 0) {
        mp__boot_child(MP__BOOT_FD, true, -1, 0);
    }
    if (strcmp(argv[1], MP__BOOT_ARG_FORKSERVER) == 0) {
        mp__forkserver_serve(MP__BOOT_FD);
    }
    return 0;
}
