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

/* Heap over a region (arena.c): a size-class allocator whose state lives at
 * the start of a region of shared memory, so that every process mapping the
 * region (at any address) can allocate and free in it. Blocks are handed
 * out as offsets from the heap header. Power-of-two classes from 64 B up to
 * what the region holds, each block with a 16-byte header, carved by a bump
 * pointer and recycled through one free list per class. Crash safety: the
 * lock is the death-surviving mutex and every update is a single store of a
 * list head or the bump pointer done last, so a process killed at any point
 * leaves the heap valid (at worst one block leaks). Blocks are not zeroed. */
#define MP__HEAP_CLASSES 48
#define MP__HEAP_HDR_SLOT 512u /* bytes the heap header takes */
typedef struct mp__heap {
    uint64_t magic;
    mp__mutex_t lock;
    uint64_t size; /* bytes of the region, header included */
    uint64_t bump; /* offset of the next fresh block */
    uint64_t free_head[MP__HEAP_CLASSES]; /* offsets; 0 = empty */
} mp__heap_t;

/* mp__heap_init formats size bytes at region (>= MP__HEAP_HDR_SLOT) as an
 * empty heap and returns it. */
mp__heap_t *mp__heap_init(void *region, size_t size);

/* mp__heap_alloc returns the offset (from the heap) of size bytes, 16-byte
 * aligned and not zeroed, or 0 when the region has no room. */
uint64_t mp__heap_alloc(mp__heap_t *heap, size_t size);

/* mp__heap_free returns a block that mp__heap_alloc gave out. */
void mp__heap_free(mp__heap_t *heap, uint64_t off);

/* The process-local half of every shared object's handle. */
typedef struct mp__shobj {
    void *state;   /* in shared memory */
    pid_t creator; /* the only process whose release frees state */
} mp__shobj_t;

/* mp__shobj_alloc allocates size zeroed shared bytes for a new object made
 * by the calling process. Returns 0 or MP_ENOMEM. */
int mp__shobj_alloc(mp__shobj_t *obj, size_t size);

/* mp__shobj_wrap allocates a zeroed handle of handle_size bytes, whose
 * first member must be an mp__shobj_t, for a state that lives elsewhere
 * (a manager's store): no release ever frees that state. Returns 0 or
 * MP_EINVAL (NULL out or state), MP_ENOMEM. */
int mp__shobj_wrap(void **out, size_t handle_size, void *state);

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
