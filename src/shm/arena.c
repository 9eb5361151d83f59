/* SPDX-License-Identifier: MIT */
/* arena.c - the shared allocator for the library's own objects.
 *
 * One arena per process tree: a 1 GiB sparse memfd mapping made on first use
 * and inherited by every child forked afterwards (pages cost memory only
 * once touched). Blocks come in power-of-two classes from 64 B to 512 KiB,
 * each with a 16-byte header, carved by a bump pointer and recycled through
 * one free list per class. Larger blocks get a mapping of their own.
 *
 * Crash safety: the arena lock is the death-surviving mutex, and every
 * update is a single store of a list head or the bump pointer done last, so
 * a process killed at any point leaves the lists valid (at worst one block
 * leaks). */
#include "shm_internal.h"

#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARENA_SIZE (1ULL << 30)
#define ARENA_MAGIC 0x6d7061726e6131ULL /* "mparna1" */
#define BLOCK_MAGIC 0x6d70626bu          /* "mpbk" */
#define MIN_CLASS_SHIFT 6                /* 64 B */
#define NCLASSES 14                      /* up to 512 KiB */
#define LARGE_CLASS 0xffffffffu
#define HDR_SIZE 16u

typedef struct block_hdr {
    uint32_t magic;
    uint32_t cls;     /* size class, or LARGE_CLASS */
    uint64_t mapsize; /* LARGE_CLASS: bytes of the mapping */
} block_hdr_t;

typedef struct arena_hdr {
    uint64_t magic;
    mp__mutex_t lock;
    uint64_t bump;                /* offset of the next fresh block */
    uint64_t free_head[NCLASSES]; /* offsets; 0 = empty */
} arena_hdr_t;

_Static_assert(sizeof(block_hdr_t) == HDR_SIZE, "block header size");
_Static_assert(sizeof(arena_hdr_t) <= 256, "arena header fits its slot");

static pthread_once_t arena_once = PTHREAD_ONCE_INIT;
static arena_hdr_t *arena; /* inherited across fork with the mapping */

static void
arena_create(void)
{
    int fd = memfd_create("mp-arena", MFD_CLOEXEC);
    void *base = MAP_FAILED;
    if (fd >= 0 && ftruncate(fd, (off_t)ARENA_SIZE) == 0) {
        base = mmap(NULL, ARENA_SIZE, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_NORESERVE, fd, 0);
    }
    if (fd >= 0) {
        mp__plat_close(fd); /* the mapping keeps the memory alive */
    }
    if (base == MAP_FAILED) {
        return; /* allocations report MP_ENOMEM */
    }
    arena_hdr_t *h = base;
    mp__mutex_init(&h->lock);
    h->bump = 256;
    h->magic = ARENA_MAGIC;
    arena = h;
}

static arena_hdr_t *
arena_get(void)
{
    pthread_once(&arena_once, arena_create);
    return arena;
}

static void *
large_alloc(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (size > SIZE_MAX - HDR_SIZE - page) {
        return NULL;
    }
    size_t mapsize = (size + HDR_SIZE + page - 1) / page * page;
    void *base = mmap(NULL, mapsize, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        return NULL;
    }
    block_hdr_t *b = base;
    b->cls = LARGE_CLASS;
    b->mapsize = mapsize;
    b->magic = BLOCK_MAGIC;
    return (char *)base + HDR_SIZE;
}

void *
mp__shared_alloc(size_t size)
{
    unsigned cls = 0;
    while (cls < NCLASSES &&
           ((size_t)1 << (cls + MIN_CLASS_SHIFT)) - HDR_SIZE < size) {
        cls++;
    }
    if (cls == NCLASSES) {
        return large_alloc(size);
    }
    arena_hdr_t *h = arena_get();
    if (h == NULL) {
        return NULL;
    }
    uint64_t block_size = (uint64_t)1 << (cls + MIN_CLASS_SHIFT);
    char *base = (char *)h;
    /* A dead holder leaves the lists valid (see the top of this file). */
    if (mp__mutex_lock(&h->lock, MP__NO_DEADLINE) == MP_EOWNERDEAD) {
        mp__mutex_consistent(&h->lock);
    }
    uint64_t off = h->free_head[cls];
    if (off != 0) {
        h->free_head[cls] = *(uint64_t *)(base + off + HDR_SIZE);
    } else if (h->bump + block_size <= ARENA_SIZE) {
        off = h->bump;
        h->bump = off + block_size;
    }
    mp__mutex_unlock(&h->lock);
    if (off == 0) {
        return NULL;
    }
    block_hdr_t *b = (block_hdr_t *)(base + off);
    b->cls = cls;
    b->mapsize = 0;
    b->magic = BLOCK_MAGIC;
    void *payload = base + off + HDR_SIZE;
    memset(payload, 0, block_size - HDR_SIZE);
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
        munmap(b, b->mapsize);
        return;
    }
    MP__ASSERT(b->cls < NCLASSES);
    arena_hdr_t *h = arena;
    MP__ASSERT(h != NULL);
    uint64_t off = (uint64_t)((char *)b - (char *)h);
    b->magic = 0; /* a second free of the block now panics */
    if (mp__mutex_lock(&h->lock, MP__NO_DEADLINE) == MP_EOWNERDEAD) {
        mp__mutex_consistent(&h->lock);
    }
    *(uint64_t *)ptr = h->free_head[b->cls];
    h->free_head[b->cls] = off;
    mp__mutex_unlock(&h->lock);
}

int
mp__shobj_alloc(mp__shobj_t *obj, size_t size)
{
    mp__init();
    obj->state = mp__shared_alloc(size);
    obj->creator = mp__getpid();
    return obj->state != NULL ? 0 : MP_ENOMEM;
}

void
mp__shobj_release(mp__shobj_t *obj)
{
    if (obj->state != NULL && obj->creator == mp__getpid()) {
        mp__shared_free(obj->state);
    }
    obj->state = NULL;
}
