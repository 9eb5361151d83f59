/* SPDX-License-Identifier: MIT */
/* shutdown_hooks.c - the hooks mp_shutdown runs: how a layer that the
 * process layer (mp_shutdown's home) may not call gives back what it holds
 * for this process (the fd sharer of src/ipc/fd_sharer.c). No OS call. */
#include "mp_internal.h"

#include <stdatomic.h>

#define HOOKS_MAX 4

static _Atomic(mp__shutdown_fn) hooks[HOOKS_MAX];

int
mp__shutdown_hook_add(mp__shutdown_fn fn)
{
    for (int i = 0; i < HOOKS_MAX; i++) {
        mp__shutdown_fn cur = NULL;
        if (atomic_compare_exchange_strong(&hooks[i], &cur, fn) || cur == fn) {
            return 0;
        }
    }
    return MP_ENOMEM;
}

void
mp__shutdown_hooks_run(void)
{
    for (int i = 0; i < HOOKS_MAX; i++) {
        mp__shutdown_fn fn = atomic_load(&hooks[i]);
        if (fn != NULL) {
            fn();
        }
    }
}
