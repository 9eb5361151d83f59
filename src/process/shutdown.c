/* SPDX-License-Identifier: MIT */
/* shutdown.c - mp_shutdown: give back what the library holds for this
 * process without harming live handles (its forkserver included, once no
 * child of it runs). */
#include "process_internal.h"

int
mp_shutdown(void)
{
    /* The children list is process-local and needs no set-up: reaping an
     * empty list is a no-op, so this works before any other call. */
    mp__registry_lock();
    mp__registry_reap_all_locked();
    /* The forkserver reports its children's exit codes: it stays while
     * one of them runs. */
    bool server_needed = mp__registry_has_method_locked(MP_START_FORKSERVER);
    mp__registry_unlock();
    if (!server_needed) {
        mp__forkserver_stop();
    }
    /* What layers above this one hold (the fd sharer), before the tracker
     * goes: their socket files are registered with it. */
    mp__shutdown_hooks_run();
    mp__tracker_disconnect();
    return 0;
}
