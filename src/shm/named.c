/* SPDX-License-Identifier: MIT */
/* named.c - the named arena: where the objects of the spawn and forkserver
 * contexts live, so that a process not forked from their creator can map
 * them by name (token.c).
 *
 * It is a 1 GiB sparse POSIX shared-memory segment ("mp-<pid>-<16 hex>",
 * mode 0600: the same user only), made on the first such object and
 * registered with the tracker, so that a tree that dies leaves nothing. Its
 * first page holds a header (a magic word and the count of live objects in
 * it, across every process that allocates there); the heap of arena.c
 * fills the rest and serves every size. A forked child inherits the arena
 * with its mapping and allocates in it too.
 *
 * The name lives exactly as long as an object in it: the free that drops
 * the count to zero marks the arena retired (one compare-and-swap, which
 * an allocation racing it from another process loses or wins whole),
 * unlinks the name and unmaps the arena here; a process that finds its
 * arena retired unmaps it and makes a new one on its next allocation. So a
 * program that destroys what it made leaves no name, however it ends (the
 * tracker removes the rest), and the fork path costs nothing new. */
#include "shm_internal.h"

#include <pthread.h>
#include <string.h>

#define NAMED_MAGIC 0x6d706e6d61723175ULL /* "mpnmar1u" */
#define NAMED_HEAP_AT 4096                /* the heap starts on page 2 */
#define RETIRED UINT64_MAX                /* live: the name is gone */

typedef struct named_hdr {
    uint64_t magic;
    _Atomic uint64_t live; /* objects alive in it, or RETIRED */
} named_hdr_t;

/* This process's arena: the handle of its segment (inherited by a forked
 * child with the mapping) and its base, both guarded by *named_mu, a lock
 * in the fork-local page (a child finds it free whatever a thread of its
 * parent was doing). */
static pthread_once_t named_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t *named_mu;
static mp_shm_t *named_shm;
static named_hdr_t *named_base;

static void
named_once_fn(void)
{
    named_mu = mp__fork_local(sizeof *named_mu);
}

/* The heap of the arena at base. */
static mp__heap_t *
heap_of(named_hdr_t *base)
{
    return (mp__heap_t *)(void *)((char *)base + NAMED_HEAP_AT);
}

/* With the lock held: forgets this process's arena and unmaps it (its
 * objects are all gone). */
static void
named_drop_locked(void)
{
    mp_shm_destroy(named_shm);
    named_shm = NULL;
    named_base = NULL;
}

/* With the lock held: makes a new arena for this process. Returns 0 or
 * the error of creating its segment. */
static int
named_create_locked(void)
{
    mp_shm_t *shm = NULL;
    int err = mp_shm_create(&shm, NULL, MP__ARENA_SIZE, 0);
    if (err != 0) {
        return err;
    }
    named_hdr_t *h = mp_shm_buf(shm);
    (void)mp__heap_init(heap_of(h), MP__ARENA_SIZE - NAMED_HEAP_AT);
    atomic_store(&h->live, 0);
    h->magic = NAMED_MAGIC;
    named_shm = shm;
    named_base = h;
    return 0;
}

/* With the lock held: one object fewer in this process's arena; the last
 * one retires it (see the top). */
static void
named_put_locked(void)
{
    if (atomic_fetch_sub(&named_base->live, 1) != 1) {
        return;
    }
    uint64_t zero = 0;
    if (atomic_compare_exchange_strong(&named_base->live, &zero, RETIRED)) {
        (void)mp_shm_unlink(named_shm);
        named_drop_locked();
    }
}

void *
mp__named_alloc(size_t size)
{
    pthread_once(&named_once, named_once_fn);
    pthread_mutex_lock(named_mu);
    for (;;) {
        if (named_base == NULL && named_create_locked() != 0) {
            pthread_mutex_unlock(named_mu);
            return NULL;
        }
        uint64_t n = atomic_load(&named_base->live);
        if (n == RETIRED) {
            named_drop_locked(); /* retired by a process forked from us */
            continue;
        }
        if (atomic_compare_exchange_weak(&named_base->live, &n, n + 1)) {
            break;
        }
    }
    mp__heap_t *heap = heap_of(named_base);
    uint64_t off = mp__heap_alloc(heap, size);
    if (off == 0) {
        named_put_locked();
        pthread_mutex_unlock(named_mu);
        return NULL;
    }
    void *p = (char *)heap + off;
    memset(p, 0, size);
    pthread_mutex_unlock(named_mu);
    return p;
}

void
mp__named_free(void *ptr)
{
    pthread_once(&named_once, named_once_fn);
    pthread_mutex_lock(named_mu);
    MP__ASSERT(named_base != NULL && (char *)ptr > (char *)named_base &&
               (char *)ptr < (char *)named_base + MP__ARENA_SIZE);
    mp__heap_t *heap = heap_of(named_base);
    mp__heap_free(heap, (uint64_t)((char *)ptr - (char *)heap));
    named_put_locked();
    pthread_mutex_unlock(named_mu);
}

bool
mp__named_current(char name[MP__NAMED_NAME_MAX + 1], mp__heap_t **heap)
{
    pthread_once(&named_once, named_once_fn);
    pthread_mutex_lock(named_mu);
    bool have = named_base != NULL;
    if (have) {
        const char *n = mp_shm_name(named_shm);
        MP__ASSERT(strlen(n) <= MP__NAMED_NAME_MAX);
        strcpy(name, n);
        *heap = heap_of(named_base);
    }
    pthread_mutex_unlock(named_mu);
    return have;
}

mp__heap_t *
mp__named_check(void *base, size_t size)
{
    named_hdr_t *h = base;
    if (size != MP__ARENA_SIZE || h->magic != NAMED_MAGIC ||
        !mp__heap_check(heap_of(h), MP__ARENA_SIZE - NAMED_HEAP_AT)) {
        return NULL;
    }
    return heap_of(h);
}
