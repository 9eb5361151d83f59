/* SPDX-License-Identifier: MIT */
/* arena.c - the one shared allocator of the library: a heap over a region
 * (mp__heap_*), and the process tree's arena for the library's own objects.
 *
 * A heap's blocks come in power-of-two classes from 64 B up to what its
 * region holds, each with a 16-byte header, carved by a bump pointer and
 * recycled through one free list per class. A large block (64 KiB and up)
 * from mp__heap_alloc has its pages mapped by one madvise in the allocating
 * process (see populate; mp__heap_alloc_to leaves that to its caller). The heap
 * header sits at the start of the region and blocks are named by offsets from
 * it, so processes that map the region at different addresses share it.
 *
 * The arenas: the fork arena, one heap per process tree over a 1 GiB
 * sparse memfd mapping made on first use and inherited by every child
 * forked afterwards (pages cost memory only once touched); it serves blocks
 * up to 512 KiB, larger ones get a mapping of their own. Objects of the
 * spawn and forkserver contexts live in the named arena instead (named.c;
 * shobj.c picks).
 *
 * Crash safety: the heap lock is the death-surviving mutex, and every
 * update is a single store of a list head or the bump pointer done last, so
 * a process killed at any point leaves the lists valid (at worst one block
 * leaks). mp__heap_alloc_to and mp__heap_free_from leak nothing: they name
 * the block in a word of the caller's in the same step, journalled in the
 * heap's header so that the locker after a dead holder finishes the step
 * (heap_journal_repair). */
#include "shm_internal.h"

#include <pthread.h>
#include <string.h>

#define ARENA_SIZE (1ULL << 30)
#define HEAP_MAGIC 0x6d7061726e6131ULL /* "mparna1" */
#define BLOCK_MAGIC 0x6d70626bu        /* "mpbk" */
#define MIN_CLASS_SHIFT 6              /* 64 B */
#define ARENA_CLASSES 14               /* the arena's heap: up to 512 KiB */
#define LARGE_CLASS 0xffffffffu
#define HDR_SIZE 16u
/* Blocks of this many bytes and up have their pages mapped by the
 * allocating process at once (populate). */
#define POPULATE_MIN ((size_t)64 << 10)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* The steps an mp__heap_alloc_to or mp__heap_free_from is taking under
 * the lock (the heap's jr_op). */
#define JR_NONE 0u
#define JR_ALLOC_LIST 1u /* taking jr_off off its free list */
#define JR_ALLOC_BUMP 2u /* carving jr_off at the bump pointer */
#define JR_FREE 3u       /* pushing jr_off onto its free list */
#define JR_MOVE 4u       /* block jr_off: from word jr_from to word jr_ref */

typedef struct block_hdr {
    uint32_t magic;
    uint32_t cls;     /* size class, or LARGE_CLASS */
    uint64_t mapsize; /* LARGE_CLASS: bytes of the mapping */
} block_hdr_t;

_Static_assert(sizeof(block_hdr_t) == HDR_SIZE, "block header size");
_Static_assert(sizeof(mp__heap_t) <= MP__HEAP_HDR_SLOT, "heap header fits");

/* --- heap over a region ------------------------------------------------- */

/* Returns the smallest class whose blocks hold size bytes, or
 * MP__HEAP_CLASSES when none does. */
static unsigned
class_of(size_t size)
{
    unsigned cls = 0;
    while (cls < MP__HEAP_CLASSES &&
           ((uint64_t)1 << (cls + MIN_CLASS_SHIFT)) - HDR_SIZE < size) {
        cls++;
    }
    return cls;
}

mp__heap_t *
mp__heap_init(void *region, size_t size)
{
    MP__ASSERT(size >= MP__HEAP_HDR_SLOT);
    mp__heap_t *h = region;
    mp__mutex_init(&h->lock);
    h->size = size;
    h->bump = MP__HEAP_HDR_SLOT;
    memset(h->free_head, 0, sizeof h->free_head);
    h->jr_op = JR_NONE;
    h->magic = HEAP_MAGIC;
    return h;
}

/* Maps the pages of len bytes at p, a large block about to be written,
 * into the calling process with one madvise(MADV_POPULATE_WRITE) (Linux
 * 5.14) rather than a page fault per 4 KiB page as they are first written
 * (~15 us each on a VM): in fresh territory the pages are also allocated;
 * a recycled block's pages exist but may never have been mapped here (a
 * block freed by another process); pages already mapped cost a page-table
 * walk (~1 % of writing them). Only a hint: on an older kernel (EINVAL)
 * or when the memory cannot be had (ENOMEM, EFAULT) the pages come on
 * first touch, as before. */
static void
populate(char *p, size_t len)
{
    mp__plat_populate(p, len, true);
}

/* Keeps the compiler from moving the stores of one step of the journal
 * past the next: a holder killed between two steps must have made every
 * store before the step it reached (its stores reach memory in any case;
 * only their order in the program matters to the locker after it). */
#define JR_STEP() atomic_signal_fence(memory_order_seq_cst)

void (*mp__heap_test_hook)(int point);

/* Calls the test hook, if a test set one. */
static inline void
heap_test_hook(int point)
{
    void (*fn)(int) = mp__heap_test_hook;
    if (fn != NULL) {
        fn(point);
    }
}

/* The reference word a journal step names. */
static inline _Atomic uint64_t *
jr_ref_word(mp__heap_t *h)
{
    return (_Atomic uint64_t *)(void *)((char *)h + h->jr_ref);
}

/* Called with the lock just taken over from a dead holder: finishes the
 * step of mp__heap_alloc_to or mp__heap_free_from it was in, or forgets
 * one it had not made yet. Nothing else changed the heap since it died. */
static void
heap_journal_repair(mp__heap_t *h)
{
    uint64_t off = h->jr_off;
    unsigned cls = h->jr_cls;
    switch (h->jr_op) {
    case JR_ALLOC_LIST:
    case JR_ALLOC_BUMP: {
        bool taken = h->jr_op == JR_ALLOC_LIST ? h->free_head[cls] != off
                                               : h->bump > off;
        if (taken) {
            atomic_store(jr_ref_word(h), off + HDR_SIZE);
        }
        break;
    }
    case JR_FREE:
        if (h->free_head[cls] == off) { /* pushed: it is free */
            ((block_hdr_t *)((char *)h + off))->magic = 0;
            atomic_store(jr_ref_word(h), 0);
        }
        break;
    case JR_MOVE: /* redo both stores: the block is to's */
        atomic_store((_Atomic uint64_t *)(void *)((char *)h + h->jr_from), 0);
        atomic_store(jr_ref_word(h), off);
        break;
    default:
        break;
    }
    h->jr_op = JR_NONE;
}

/* Takes the heap lock; a dead holder left the lists valid (see the top),
 * and its journal step is finished or forgotten. */
static void
heap_lock(mp__heap_t *h)
{
    if (mp__mutex_lock(&h->lock, MP__NO_DEADLINE) == MP_EOWNERDEAD) {
        heap_journal_repair(h);
        mp__mutex_consistent(&h->lock);
    }
}

/* With the lock held: the block of class cls to hand out next (its
 * header's offset), from its free list (*op JR_ALLOC_LIST) or carved at
 * the bump pointer (JR_ALLOC_BUMP); 0 when the region has no room. Nothing
 * is taken yet: heap_take does that, in one store. */
static uint64_t
heap_next(const mp__heap_t *h, unsigned cls, uint32_t *op)
{
    uint64_t block_size = (uint64_t)1 << (cls + MIN_CLASS_SHIFT);
    *op = JR_ALLOC_LIST;
    if (h->free_head[cls] != 0) {
        return h->free_head[cls];
    }
    *op = JR_ALLOC_BUMP;
    if (h->bump <= h->size && block_size <= h->size - h->bump) {
        return h->bump;
    }
    return 0;
}

/* Writes the header of a block: its class (LARGE_CLASS for one with a
 * mapping of its own, of mapsize bytes; 0 otherwise) and the magic that
 * marks it allocated. */
static inline void
block_stamp(block_hdr_t *b, uint32_t cls, uint64_t mapsize)
{
    b->cls = cls;
    b->mapsize = mapsize;
    b->magic = BLOCK_MAGIC;
}

/* The header of h's allocated block whose payload is at offset off; panics
 * (MP__ASSERT) unless off names one inside h that is allocated. */
static inline block_hdr_t *
heap_block_of(mp__heap_t *h, uint64_t off)
{
    MP__ASSERT(off >= MP__HEAP_HDR_SLOT + HDR_SIZE && off < h->size);
    block_hdr_t *b = (block_hdr_t *)((char *)h + off - HDR_SIZE);
    MP__ASSERT(b->magic == BLOCK_MAGIC);
    MP__ASSERT(b->cls < MP__HEAP_CLASSES);
    return b;
}

/* With the lock held: takes block off of class cls, which heap_next gave
 * with op, with one store (the free list's head or the bump pointer). */
static void
heap_take(mp__heap_t *h, uint64_t off, unsigned cls, uint32_t op)
{
    if (op == JR_ALLOC_LIST) {
        h->free_head[cls] = *(uint64_t *)((char *)h + off + HDR_SIZE);
    } else {
        h->bump = off + ((uint64_t)1 << (cls + MIN_CLASS_SHIFT));
    }
}

/* Takes h's lock and picks a block for size bytes (heap_next): returns its
 * offset, with the lock held and its class and how to take it in *cls and
 * *op; or 0, with the lock not held, when size is past the classes or h
 * has no room. */
static inline uint64_t
heap_lock_pick(mp__heap_t *h, size_t size, unsigned *cls, uint32_t *op)
{
    *cls = class_of(size);
    if (*cls == MP__HEAP_CLASSES) {
        return 0;
    }
    heap_lock(h);
    uint64_t off = heap_next(h, *cls, op);
    if (off == 0) {
        mp__mutex_unlock(&h->lock);
    }
    return off;
}

uint64_t
mp__heap_alloc(mp__heap_t *h, size_t size)
{
    char *base = (char *)h;
    unsigned cls;
    uint32_t op;
    uint64_t off = heap_lock_pick(h, size, &cls, &op);
    if (off == 0) {
        return 0;
    }
    heap_take(h, off, cls, op);
    mp__mutex_unlock(&h->lock);
    if (size >= POPULATE_MIN) {
        populate(base + off, HDR_SIZE + size);
    }
    block_stamp((block_hdr_t *)(base + off), cls, 0);
    return off + HDR_SIZE;
}

void
mp__heap_free(mp__heap_t *h, uint64_t off)
{
    char *base = (char *)h;
    block_hdr_t *b = heap_block_of(h, off);
    b->magic = 0; /* a second free of the block now panics */
    heap_lock(h);
    *(uint64_t *)(base + off) = h->free_head[b->cls];
    h->free_head[b->cls] = off - HDR_SIZE;
    mp__mutex_unlock(&h->lock);
}

uint64_t
mp__heap_alloc_to(mp__heap_t *h, size_t size, _Atomic uint64_t *ref)
{
    char *base = (char *)h;
    unsigned cls;
    uint32_t op;
    uint64_t off = heap_lock_pick(h, size, &cls, &op);
    if (off == 0) {
        return 0;
    }
    /* The journal, then the header, then the one store that takes the
     * block, then the reference: see heap_journal_repair. */
    h->jr_off = off;
    h->jr_cls = cls;
    h->jr_ref = (int64_t)((char *)ref - base);
    JR_STEP();
    h->jr_op = op;
    JR_STEP();
    block_stamp((block_hdr_t *)(base + off), cls, 0);
    JR_STEP();
    heap_take(h, off, cls, op);
    JR_STEP();
    heap_test_hook(MP__HEAP_HOOK_TAKEN);
    atomic_store(ref, off + HDR_SIZE);
    JR_STEP();
    h->jr_op = JR_NONE;
    mp__mutex_unlock(&h->lock);
    return off + HDR_SIZE;
}

/* The journal's step: clear from first, then name the block in to, so
 * that a locker that does not know JR_MOVE (a process of 1.0 sharing the
 * heap) and forgets the step can at worst leak the block, never leave it
 * named twice. */
uint64_t
mp__heap_move(mp__heap_t *h, _Atomic uint64_t *from, _Atomic uint64_t *to)
{
    char *base = (char *)h;
    heap_lock(h);
    uint64_t off = atomic_load(from);
    if (off != 0) {
        MP__ASSERT(atomic_load(to) == 0);
        h->jr_off = off;
        h->jr_ref = (int64_t)((char *)to - base);
        h->jr_from = (int64_t)((char *)from - base);
        JR_STEP();
        h->jr_op = JR_MOVE;
        JR_STEP();
        atomic_store(from, 0);
        JR_STEP();
        heap_test_hook(MP__HEAP_HOOK_MOVING);
        atomic_store(to, off);
        JR_STEP();
        h->jr_op = JR_NONE;
    }
    mp__mutex_unlock(&h->lock);
    return off;
}

void
mp__heap_free_from(mp__heap_t *h, _Atomic uint64_t *ref)
{
    char *base = (char *)h;
    heap_lock(h);
    uint64_t off = atomic_load(ref);
    if (off == 0) {
        mp__mutex_unlock(&h->lock);
        return;
    }
    block_hdr_t *b = heap_block_of(h, off);
    h->jr_off = off - HDR_SIZE;
    h->jr_cls = b->cls;
    h->jr_ref = (int64_t)((char *)ref - base);
    *(uint64_t *)(base + off) = h->free_head[b->cls];
    JR_STEP();
    h->jr_op = JR_FREE;
    JR_STEP();
    h->free_head[b->cls] = off - HDR_SIZE;
    JR_STEP();
    heap_test_hook(MP__HEAP_HOOK_PUSHED);
    b->magic = 0;
    atomic_store(ref, 0);
    JR_STEP();
    h->jr_op = JR_NONE;
    mp__mutex_unlock(&h->lock);
}

uint64_t
mp__heap_free_bytes(mp__heap_t *h)
{
    char *base = (char *)h;
    heap_lock(h);
    uint64_t n = h->bump < h->size ? h->size - h->bump : 0;
    for (unsigned cls = 0; cls < MP__HEAP_CLASSES; cls++) {
        for (uint64_t off = h->free_head[cls]; off != 0;
             off = *(uint64_t *)(base + off + HDR_SIZE)) {
            n += (uint64_t)1 << (cls + MIN_CLASS_SHIFT);
        }
    }
    mp__mutex_unlock(&h->lock);
    return n;
}

/* --- the process tree's arena ------------------------------------------- */

static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static mp__heap_t *arena; /* inherited across fork with the mapping */

bool
mp__heap_block_ok(const mp__heap_t *h, uint64_t off, size_t need)
{
    if (off % 16 != 0 || off < MP__HEAP_HDR_SLOT + HDR_SIZE || off >= h->size) {
        return false;
    }
    const block_hdr_t *b =
        (const block_hdr_t *)((const char *)h + off - HDR_SIZE);
    if (b->magic != BLOCK_MAGIC || b->cls >= MP__HEAP_CLASSES) {
        return false;
    }
    uint64_t avail = ((uint64_t)1 << (b->cls + MIN_CLASS_SHIFT)) - HDR_SIZE;
    return need <= avail && avail <= h->size - off;
}

bool
mp__heap_check(const mp__heap_t *h, size_t size)
{
    return h->magic == HEAP_MAGIC && h->size == size;
}

size_t
mp__heap_block_room(const void *payload)
{
    const block_hdr_t *b = (const block_hdr_t *)payload - 1;
    if (b->magic != BLOCK_MAGIC || b->cls >= MP__HEAP_CLASSES) {
        return 0; /* freed meanwhile */
    }
    return ((size_t)1 << (b->cls + MIN_CLASS_SHIFT)) - HDR_SIZE;
}

static void
arena_create(void)
{
    void *base = NULL;
    if (mp__plat_memfd_map("mp-arena", ARENA_SIZE, &base) != 0) {
        return; /* allocations report MP_ENOMEM */
    }
    arena = mp__heap_init(base, ARENA_SIZE);
}

static mp__heap_t *
arena_get(void)
{
    pthread_once(&arena_once, arena_create);
    return arena;
}

static void *
large_alloc(size_t size)
{
    size_t page = mp__plat_page_size();
    if (size > SIZE_MAX - HDR_SIZE - page) {
        return NULL;
    }
    size_t mapsize = (size + HDR_SIZE + page - 1) / page * page;
    void *base = mp__plat_map_anon(true, mapsize);
    if (base == NULL) {
        return NULL;
    }
    block_stamp(base, LARGE_CLASS, mapsize);
    return (char *)base + HDR_SIZE;
}

void *
mp__shared_alloc(size_t size)
{
    if (class_of(size) >= ARENA_CLASSES) {
        return large_alloc(size);
    }
    mp__heap_t *h = arena_get();
    if (h == NULL) {
        return NULL;
    }
    uint64_t off = mp__heap_alloc(h, size);
    if (off == 0) {
        return NULL;
    }
    void *payload = (char *)h + off;
    memset(payload, 0, size);
    return payload;
}

void
mp__shared_free(void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    block_hdr_t *b = (block_hdr_t *)((char *)ptr - HDR_SIZE);
    MP__ASSERT(b->magic == BLOCK_MAGIC);
    if (b->cls == LARGE_CLASS) {
        b->magic = 0;
        mp__plat_unmap(b, b->mapsize);
        return;
    }
    mp__heap_t *h = arena;
    MP__ASSERT(h != NULL);
    mp__heap_free(h, (uint64_t)((char *)ptr - (char *)h));
}
