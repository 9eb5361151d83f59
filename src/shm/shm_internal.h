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
    /* The step under the lock of mp__heap_alloc_to / mp__heap_free_from
     * (0: none): which block moves, its class, and the reference word
     * (its offset from the heap) that names it. A locker that takes the
     * lock over from a dead holder finishes or forgets the step. */
    uint32_t jr_op;
    uint32_t jr_cls;
    uint64_t jr_off;
    int64_t jr_ref;
} mp__heap_t;

/* mp__heap_init formats size bytes at region (>= MP__HEAP_HDR_SLOT) as an
 * empty heap and returns it. */
mp__heap_t *mp__heap_init(void *region, size_t size);

/* mp__heap_alloc returns the offset (from the heap) of size bytes, 16-byte
 * aligned and not zeroed, or 0 when the region has no room. */
uint64_t mp__heap_alloc(mp__heap_t *heap, size_t size);

/* mp__heap_free returns a block that mp__heap_alloc gave out. */
void mp__heap_free(mp__heap_t *heap, uint64_t off);

/* mp__heap_alloc_to is mp__heap_alloc that also names the block in *ref, a
 * word in the same shared mapping as the heap (so that every process finds
 * it at the same offset from the heap), in one step with taking the block:
 * a process killed at any point leaves the block either free with *ref
 * untouched, or taken with *ref naming it (a later locker finishes a step
 * its dead holder began). The block's header is written within the step.
 * Returns the block's offset (as stored in *ref) or 0 (no room; *ref
 * untouched). For a block that must not leak when its holder dies: the
 * owner of *ref frees it with mp__heap_free_from. */
uint64_t mp__heap_alloc_to(mp__heap_t *heap, size_t size,
                           _Atomic uint64_t *ref);

/* mp__heap_free_from frees the block *ref names (nothing if 0) and stores 0
 * in *ref in the same step: a process killed at any point leaves either the
 * block taken and named, or free and *ref 0, so a caller that repeats the
 * call after a crash never frees it twice. *ref lies in the heap's mapping,
 * as for mp__heap_alloc_to. */
void mp__heap_free_from(mp__heap_t *heap, _Atomic uint64_t *ref);

/* Test hook: when non-NULL, called under the heap lock at the points
 * named, in the process allocating or freeing; fault tests park a process
 * there and SIGKILL it. */
#define MP__HEAP_HOOK_TAKEN 1  /* mp__heap_alloc_to: taken, ref not set */
#define MP__HEAP_HOOK_PUSHED 2 /* mp__heap_free_from: freed, ref not 0 */
extern void (*mp__heap_test_hook)(int point);

/* mp__heap_free_bytes returns how many bytes the heap could still hand out
 * as blocks (headers included): the region past the bump pointer plus every
 * block on the free lists. For probes and tests; takes the lock. */
uint64_t mp__heap_free_bytes(mp__heap_t *heap);

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
/* Files of the tree that the tracker removes once the tree is gone, as
 * it does names: a socket file (sock: its stat, taken after its last
 * chmod) if the path still names that very file (inode and ctime), or a
 * directory (sock NULL) if it is empty by then. path is absolute, at most
 * 219 bytes. Return 0 or an error (MP_EINVAL for a path it cannot hold). */
struct stat;
int mp__tracker_register_file(const char *path, const struct stat *sock);
int mp__tracker_unregister_file(const char *path, const struct stat *sock);
/* A socket about to be bound at path (absolute, as above): registered
 * before bind, unregistered once the bound file is registered with its
 * identity (or the bind failed), so that a process killed in between
 * leaves nothing: once the tree is gone the tracker removes the path if it
 * is a socket nobody listens on. Return 0 or an error. */
int mp__tracker_register_pending(const char *path);
int mp__tracker_unregister_pending(const char *path);
/* Closes this process's connection to the tracker (mp_shutdown). */
void mp__tracker_disconnect(void);
/* The tracker's pid, or 0 when none runs for this process (for tests). */
pid_t mp__tracker_pid(void);

/* ShareableList (shareable_list.c), for lists made in a block someone else
 * created (a SharedMemoryManager's server): mp__shareable_list_size stores
 * in *size the bytes a list of the n items takes (returns 0 or MP_EINVAL:
 * items NULL with n > 0, or an item mp_shareable_list_create refuses);
 * mp__shareable_list_init writes that list into shm (a fresh block of at
 * least that size, whose handle the list then owns) and makes its handle.
 * Returns 0 or MP_ENOMEM (shm untouched, still the caller's). */
int mp__shareable_list_size(const mp_shareable_item_t *items, size_t n,
                            size_t *size);
int mp__shareable_list_init(mp_shareable_list_t **out, mp_shm_t *shm,
                            const mp_shareable_item_t *items, size_t n);

#endif /* MP_SHM_INTERNAL_H */
