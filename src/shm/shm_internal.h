/* SPDX-License-Identifier: MIT */
/* shm_internal.h - shared memory inside the library: the shared allocator
 * that holds the state of every lock, event, value ..., the handle helper
 * that knows which process may free that state, and the tracker that
 * removes named segments a process tree leaves behind. */
#ifndef MP_SHM_INTERNAL_H
#define MP_SHM_INTERNAL_H

#include "../wait/wait.h"

/* mp__shared_alloc returns size zeroed bytes, 16-byte aligned, in memory
 * shared with every process forked from now on (an arena mapped once per
 * process tree; blocks over 512 KiB get a mapping of their own). NULL when
 * out of memory. Context: any thread, any process. */
void *mp__shared_alloc(size_t size);

/* mp__shared_free returns a block to the arena (NULL is ignored). Other
 * processes must no longer use it. */
void mp__shared_free(void *ptr);

/* The process-local half of every shared object's handle. */
typedef struct mp__shobj {
    void *state;   /* in shared memory */
    pid_t creator; /* the only process whose release frees state */
} mp__shobj_t;

/* mp__shobj_alloc allocates size zeroed shared bytes for a new object made
 * by the calling process. Returns 0 or MP_ENOMEM. */
int mp__shobj_alloc(mp__shobj_t *obj, size_t size);

/* mp__shobj_release frees the shared state if the caller created it, and
 * in any case forgets it. */
void mp__shobj_release(mp__shobj_t *obj);

/* Tracker (tracker.c): names registered here are shm_unlink()ed once every
 * process of this tree has exited, however they ended. */
int mp__tracker_register(const char *name);
int mp__tracker_unregister(const char *name);
/* Closes this process's connection to the tracker (mp_shutdown). */
void mp__tracker_disconnect(void);
/* The tracker's pid, or 0 when none runs for this process (for tests). */
pid_t mp__tracker_pid(void);

#endif /* MP_SHM_INTERNAL_H */
