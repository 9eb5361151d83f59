/* SPDX-License-Identifier: MIT */
/* shutdown.c - mp_shutdown: give back what the library holds for this
 * process without harming live handles. */
#include "process_internal.h"

int
mp_shutdown(void)
{
    /* The children list is process-local and needs no set-up: reaping an
     * empty list is a no-op, so this works before any other call. */
    mp__registry_lock();
    mp__registry_reap_all_locked();
    mp__registry_unlock();
    mp__tracker_disconnect();
    return 0;
}
