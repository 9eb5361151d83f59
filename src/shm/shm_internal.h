/* SPDX-License-Identifier: MIT */
/* shm_internal.h - shared memory inside the library: the shared allocator
 * that holds the state of every lock, event, value ..., the handle helper
 * that knows which process may free that state, and the tracker that
 * removes named segments a process tree leaves behind. */
#ifndef MP_SHM_INTERNAL_H
#define MP_SHM_INTERNAL_H

#include "../mutex/mutex.h"

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
    /* mp__heap_move's step only: the word the block moves from (its
     * offset from the heap). After the fields of 1.0, in the header's
     * slot (zero in a heap that 1.0 formatted). */
    int64_t jr_from;
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
 * owner of *ref frees it with mp__heap_free_from. Unlike mp__heap_alloc it
 * leaves mapping a large block's pages to the caller (a queue knows which
 * blocks it has mapped already, see block_map in queue_private.h). */
uint64_t mp__heap_alloc_to(mp__heap_t *heap, size_t size,
                           _Atomic uint64_t *ref);

/* mp__heap_free_from frees the block *ref names (nothing if 0) and stores 0
 * in *ref in the same step: a process killed at any point leaves either the
 * block taken and named, or free and *ref 0, so a caller that repeats the
 * call after a crash never frees it twice. *ref lies in the heap's mapping,
 * as for mp__heap_alloc_to. */
void mp__heap_free_from(mp__heap_t *heap, _Atomic uint64_t *ref);

/* mp__heap_move moves the block *from names to *to (which must be 0): in
 * one step under the heap lock, so that a process killed at any point
 * leaves the block named by exactly one of the two words (the locker after
 * a dead mover finishes the step), and a mp__heap_free_from of *from by
 * another process runs wholly before or after it. Both words lie in the
 * heap's mapping, as for mp__heap_alloc_to. Returns the block's offset, or
 * 0 when *from named none (nothing moved). */
uint64_t mp__heap_move(mp__heap_t *heap, _Atomic uint64_t *from,
                       _Atomic uint64_t *to);

/* Test hook: when non-NULL, called under the heap lock at the points
 * named, in the process allocating or freeing; fault tests park a process
 * there and SIGKILL it. */
#define MP__HEAP_HOOK_TAKEN 1  /* mp__heap_alloc_to: taken, ref not set */
#define MP__HEAP_HOOK_PUSHED 2 /* mp__heap_free_from: freed, ref not 0 */
#define MP__HEAP_HOOK_MOVING 3 /* mp__heap_move: from is 0, to not set */
extern void (*mp__heap_test_hook)(int point);

/* mp__heap_free_bytes returns how many bytes the heap could still hand out
 * as blocks (headers included): the region past the bump pointer plus every
 * block on the free lists. For probes and tests; takes the lock. */
uint64_t mp__heap_free_bytes(mp__heap_t *heap);

/* The header in shared memory before every library object's state: what
 * a token names (see token.c). magic is cleared, and gen set to 0, when the
 * creator frees the object, so a token of it is refused from then on. */
#define MP__OBJHDR_MAGIC 0x6d706f62u /* "mpob" */
typedef struct mp__objhdr {
    _Atomic uint32_t magic;
    uint8_t kind;   /* MP__KIND_* */
    uint8_t method; /* the context it was made in: MP_START_* */
    uint16_t pad;
    _Atomic uint64_t gen; /* random, never 0 while the object lives */
} mp__objhdr_t;
_Static_assert(sizeof(mp__objhdr_t) == 16, "object header keeps alignment");

/* The kinds of object a token names (also the tag letter of its text). */
#define MP__KIND_LOCK 'L'
#define MP__KIND_SEMAPHORE 'S'
#define MP__KIND_CONDITION 'C'
#define MP__KIND_EVENT 'E'
#define MP__KIND_BARRIER 'B'
#define MP__KIND_ARRAY 'A'
#define MP__KIND_VALUE 'V'
#define MP__KIND_CONN 'P' /* a connection's fd (ipc/fd_sharer.c): no header */

/* The process-local half of every shared object's handle. */
typedef struct mp__shobj {
    void *state;       /* in shared memory */
    mp__objhdr_t *hdr; /* just before state; NULL for a wrapped state */
    pid_t creator;     /* the only process whose release frees state */
} mp__shobj_t;

/* mp__shobj_alloc allocates size zeroed shared bytes (after an object
 * header of kind kind) for a new object made by the calling process in the
 * context ctx (NULL: the default context, which fixes the default method,
 * as Python's Lock() does): the fork arena for fork, this tree's named arena
 * (made on first use; a tracked segment) for spawn and forkserver, so that
 * a token can name it. Returns 0, MP_EINVAL (the default is unset and
 * MULTIPROC_START_METHOD names no method, or method outside the enum) or
 * MP_ENOMEM. */
int mp__shobj_alloc(mp__shobj_t *obj, int kind, const mp_context_t *ctx,
                    size_t size);

/* mp__shobj_new allocates a zeroed handle of handle_size bytes, whose
 * first member is an mp__shobj_t, with size bytes of state of a new object
 * of kind in context ctx (mp__shobj_alloc), into *out. Returns 0 or the
 * errors of mp__shobj_alloc. */
int mp__shobj_new(void **out, size_t handle_size, int kind,
                  const mp_context_t *ctx, size_t size);

/* mp__shobj_room returns how many bytes of state the block of an object
 * in an arena (obj->hdr not NULL, a block of a heap: any object a token
 * opened) has room for; 0 once it is freed. */
size_t mp__shobj_room(const mp__shobj_t *obj);

/* mp__shobj_wrap allocates a zeroed handle of handle_size bytes, whose
 * first member must be an mp__shobj_t, for a state that lives elsewhere
 * (a manager's store): no release ever frees that state. Returns 0 or
 * MP_EINVAL (NULL out or state), MP_ENOMEM. */
int mp__shobj_wrap(void **out, size_t handle_size, void *state);

/* mp__shobj_release frees the shared state if the caller created it, and
 * in any case forgets it. */
void mp__shobj_release(mp__shobj_t *obj);

/* mp__shobj_destroy ends a handle made by mp__shobj_new, _attach, _wrap or
 * _open_ref (its first member an mp__shobj_t): releases its state
 * (mp__shobj_release), then frees the handle. NULL is ignored. */
void mp__shobj_destroy(void *handle);

/* Contexts (context.c). mp__start_resolve returns asked (a method of the
 * enum), or the default when asked is MP_START_DEFAULT (mp_start_method:
 * fixing it), or MP_EINVAL. mp__context_method does that for a context
 * (NULL: the default). */
int mp__start_resolve(mp_start_method_t asked);
int mp__context_method(const mp_context_t *ctx);

/* Checks of a heap someone else formatted, before anything in it is
 * trusted (arena.c): mp__heap_check tells whether h is a heap over size
 * bytes; mp__heap_block_ok whether off (from h) is the payload of a live
 * block of h with room for need bytes. */
bool mp__heap_check(const mp__heap_t *h, size_t size);
/* mp__heap_block_room returns the bytes the block at payload (handed out
 * by a heap) holds, or 0 once it is freed. */
size_t mp__heap_block_room(const void *payload);
bool mp__heap_block_ok(const mp__heap_t *h, uint64_t off, size_t need);

/* The named arena (named.c): a tracked segment of MP__ARENA_SIZE bytes
 * whose name lives while an object does. mp__named_alloc returns size
 * zeroed bytes in this process's named arena (made on first use), or NULL;
 * mp__named_free frees such a block (the last one unlinks the name).
 * mp__named_current copies this process's arena's name into name and
 * stores its heap in *heap, or returns false while it has none.
 * mp__named_check returns the heap of size bytes mapped at base if they
 * are a named arena, else NULL. Context: any thread. */
#define MP__ARENA_SIZE ((size_t)1 << 30)
#define MP__NAMED_NAME_MAX 40 /* "mp-", a pid, '-', 16 hex digits */
void *mp__named_alloc(size_t size);
void mp__named_free(void *ptr);
bool mp__named_current(char name[MP__NAMED_NAME_MAX + 1], mp__heap_t **heap);
mp__heap_t *mp__named_check(void *base, size_t size);

/* Tokens (token.c): text that names shared objects in the named arena, so
 * that processes not forked from the creator open them. A token is
 * "mpt1:<tag>" followed by fields ":<field>": a reference to an object is
 * three (its arena's segment name, its offset there and its generation,
 * in hex), a number one (hex). The put calls append to buf (buflen bytes,
 * *pos used so far, kept NUL-terminated) and return 0, MP_ERANGE (buf too
 * small) or, for a reference, MP_ECONTEXT (the object was made in the fork
 * context: Python refuses such an object for a spawn or forkserver
 * process). The get calls parse from *cur and advance it; they return 0,
 * MP_EINVAL (not such a token) or, for a reference, MP_ECLOSED (no live
 * object of that kind there: destroyed, its tree gone, or forged) and the
 * errors of mapping the arena (MP_ENOMEM: this process has 16 arenas of
 * others mapped). A referenced handle's state is the object's (creator 0:
 * no release frees it; mp__token_release). */
int mp__token_begin(char *buf, size_t buflen, size_t *pos, int tag);
int mp__token_put_u64(char *buf, size_t buflen, size_t *pos, uint64_t v);
int mp__token_put_ref(char *buf, size_t buflen, size_t *pos,
                      const mp__shobj_t *obj);
int mp__token_expect(const char **cur, int tag);
int mp__token_get_u64(const char **cur, uint64_t *v);
int mp__token_get_ref(const char **cur, int kind, size_t size,
                      mp__shobj_t *obj);
/* mp__token_release forgets a handle mp__token_get_ref opened (from
 * mp__shobj_release): the arena it maps is unmapped with its last one. */
void mp__token_release(const mp__shobj_t *obj);
/* mp__token_end returns 0 when *cur is the token's end, else MP_EINVAL. */
int mp__token_end(const char *cur);
/* Every object's token starts with its own reference, its tag its kind.
 * mp__shobj_token writes that start for handle (whose first member is an
 * mp__shobj_t; NULL: MP_EINVAL) and, when pos is not NULL, its length in
 * *pos; it returns as the put calls do. mp__shobj_open_ref parses a
 * reference at *cur (advancing it) into a new zeroed handle of
 * handle_size bytes (first member an mp__shobj_t) on an object of kind
 * with size bytes of state; returns 0, MP_ENOMEM or the errors of
 * mp__token_get_ref. mp__shobj_attach parses it from token (the
 * whole token when cur is NULL; else *cur is left at what follows) and
 * allocates a
 * zeroed handle of handle_size bytes, whose first member is an
 * mp__shobj_t, on the object (size bytes of state) into *out; returns 0,
 * MP_EINVAL (NULL out, or not such a token), MP_ENOMEM or the errors of
 * mp__token_get_ref. The caller frees the handle with mp__free. */
int mp__shobj_token(const void *handle, int kind, char *buf, size_t buflen,
                    size_t *pos);
int mp__shobj_open_ref(void **out, size_t handle_size, int kind, size_t size,
                       const char **cur);
int mp__shobj_attach(void **out, size_t handle_size, int kind, size_t size,
                     const char *token, const char **cur);

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

/* Named segments (shared_memory.c). mp__shm_discard unlinks shm's name
 * (an error, as MP_ENOENT when someone did already, is ignored) and
 * destroys the handle: it undoes an mp_shm_create whose caller could not
 * finish setting the segment up, or ends one only its maker may remove.
 * NULL is ignored. */
void mp__shm_discard(mp_shm_t *shm);

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
