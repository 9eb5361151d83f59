/* SPDX-License-Identifier: MIT */
/* sync_internal.h - what the synchronisation primitives share between their
 * files: a condition variable releases its lock completely while it waits
 * and takes it back at the same recursion depth afterwards. */
#ifndef MP_SYNC_INTERNAL_H
#define MP_SYNC_INTERNAL_H

#include "../shm/shm_internal.h"

/* mp__lock_release_all releases every level the calling thread holds of
 * lock (one for a Lock) and stores that depth in *depth. Returns 0, or
 * MP_ENOTOWNER when the calling thread does not hold it. */
int mp__lock_release_all(mp_lock_t *lock, uint32_t *depth);

/* mp__lock_restore takes lock back for the calling thread, waiting as long
 * as it takes, and sets its recursion depth to depth. Returns 0 or
 * MP_EOWNERDEAD (held anyway; the previous holder died). */
int mp__lock_restore(mp_lock_t *lock, uint32_t depth);

#endif /* MP_SYNC_INTERNAL_H */
