/* SPDX-License-Identifier: MIT */
/* create.c - making, attaching, naming and destroying a queue: the
 * segment's layout from the options (ring size, heap size), formatting a
 * fresh segment, the checks an attach makes of a named one, the handle,
 * and the names a named queue has (its segment and its waker, see
 * wakeup.c). A private queue (a pool's) is an unnamed memfd mapping with
 * a private waker. */
#include "queue_private.h"

#include <stdio.h>

#define DEFAULT_CAPACITY (1ULL << 30)
#define MAX_CAPACITY (1ULL << 44)
#define MIN_HEAP_BLOCK (512ULL * 1024)
#define SEGMENT_HDR 4096u

/* A handle in a process allowed this many CPUs or fewer steps aside on a
 * lost claim (see lost_claim, and the top of queue.c). */
#define STEP_ASIDE_MAX_CPUS 2

uint32_t mp__queue_test_ring_cells;

/* Returns the smallest power of two >= n (n >= 1). */
static uint64_t
pow2_ceil(uint64_t n)
{
    uint64_t p = 1;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

/* Fills a handle for the segment of map_len bytes mapped at base: named
 * shm, or private (shm NULL, poll_fd its eventfd). */
static int
handle_new(mp_queue_t **out, mp_shm_t *shm, char *base, size_t map_len,
           pid_t creator, int poll_fd)
{
    mp_queue_t *q = mp__calloc(1, sizeof *q);
    if (q == NULL) {
        return MP_ENOMEM;
    }
    q->shm = shm;
    q->base = base;
    q->map_len = map_len;
    q->h = (mp__qhdr_t *)base;
    q->cells = (mp__qcell_t *)(base + q->h->cells_off);
    q->heap = (mp__heap_t *)(base + q->h->heap_off);
    q->mask = q->h->ncells - 1;
    q->exact = q->h->maxsize > 0 &&
               (uint64_t)q->h->maxsize <= MP__QUEUE_MAX_RING_CELLS;
    q->creator = creator;
    /* The affinity when the handle is made (a fork child inherits both). */
    q->step_aside = mp__plat_cpu_count() <= STEP_ASIDE_MAX_CPUS;
    atomic_init(&q->poll_fd, poll_fd);
    *out = q;
    return 0;
}

/* A queue's segment layout, from its options. */
typedef struct layout {
    mp_queue_opts_t o;
    uint64_t capacity;
    int64_t maxsize; /* 0: unbounded */
    uint64_t ncells;
    uint64_t heap_off, heap_size, total;
} layout_t;

/* Computes the layout for opts (NULL: defaults). Returns 0 or MP_EINVAL
 * (capacity too large). */
static int
layout_of(layout_t *l, const mp_queue_opts_t *opts)
{
    *l = (layout_t){0};
    if (opts != NULL) {
        l->o = *opts;
    }
    l->capacity = l->o.capacity != 0 ? l->o.capacity : DEFAULT_CAPACITY;
    if (l->capacity > MAX_CAPACITY) {
        return MP_EINVAL;
    }
    l->maxsize = l->o.maxsize > INT64_MAX ? INT64_MAX : (int64_t)l->o.maxsize;
    l->ncells = MP__QUEUE_UNBOUNDED_CELLS;
    if (l->maxsize > 0 && (uint64_t)l->maxsize <= MP__QUEUE_MAX_RING_CELLS) {
        l->ncells = pow2_ceil((uint64_t)l->maxsize);
    } else if (mp__queue_test_ring_cells != 0) {
        l->ncells = pow2_ceil(mp__queue_test_ring_cells);
    }
    /* The heap holds two blocks of the largest class a message of
     * capacity bytes needs (at least 512 KiB, for overflow nodes), plus
     * the header; it is sparse. */
    uint64_t block = pow2_ceil(l->capacity + 64);
    if (block < MIN_HEAP_BLOCK) {
        block = MIN_HEAP_BLOCK;
    }
    l->heap_size = MP__HEAP_HDR_SLOT + 2 * block;
    l->heap_off = SEGMENT_HDR + l->ncells * MP__QUEUE_CELL_SIZE;
    l->total = l->heap_off + l->heap_size;
    return 0;
}

/* Formats the mapped segment at base as an empty queue of layout l (its
 * magic stored last). The pages it writes (header, ring, heap header:
 * one run) are first brought in by one madvise (MADV_POPULATE_WRITE,
 * Linux 5.14; a hint) rather than a page fault each. */
static void
segment_format(char *base, const layout_t *l)
{
    mp__plat_populate(base, (size_t)(l->heap_off + MP__HEAP_HDR_SLOT), true);
    mp__qhdr_t *h = (mp__qhdr_t *)base;
    h->version = MP__QUEUE_VERSION;
    h->flags = l->o.joinable ? MP__QUEUE_FLAG_JOINABLE : 0;
    h->maxsize = l->maxsize;
    h->ncells = l->ncells;
    h->capacity = l->capacity;
    h->cells_off = SEGMENT_HDR;
    h->heap_off = l->heap_off;
    h->pidns = mp__plat_pidns_id();
    mp__mutex_init(&h->ovf_lock);
    mp__qcell_t *cells = (mp__qcell_t *)(base + SEGMENT_HDR);
    for (uint64_t i = 0; i < l->ncells; i++) {
        atomic_store_explicit(&cells[i].state, st_make(i, MP__QS_FREE, 0),
                              memory_order_relaxed);
    }
    mp__heap_init(base + l->heap_off, (size_t)l->heap_size);
}

/* The start of both creates: checks out, clears *out, and computes the
 * layout opts ask for. Returns 0 or an error. */
static int
create_begin(mp_queue_t **out, const mp_queue_opts_t *opts, layout_t *l)
{
    mp__init();
    if (out == NULL || MP__OPTS_BAD(opts)) {
        return MP_EINVAL;
    }
    *out = NULL;
    return layout_of(l, opts);
}

int
mp_queue_create(mp_queue_t **out, const mp_queue_opts_t *opts)
{
    layout_t l;
    int r = create_begin(out, opts, &l);
    if (r != 0) {
        return r;
    }
    mp_shm_t *shm = NULL;
    r = mp_shm_create(&shm, NULL, (size_t)l.total, 0);
    if (r != 0) {
        return r == MP_EFBIG ? MP_ENOSPC : r;
    }
    char *base = mp_shm_buf(shm);
    segment_format(base, &l);
    r = mp__queue_waker_create(mp_shm_name(shm));
    if (r != 0) {
        mp__shm_discard(shm);
        return r;
    }
    mp__qhdr_t *h = (mp__qhdr_t *)base;
    atomic_store_explicit(&h->magic, MP__QUEUE_MAGIC, memory_order_release);
    r = handle_new(out, shm, base, mp_shm_size(shm), mp__getpid(), -1);
    if (r != 0) {
        mp__queue_waker_remove(mp_shm_name(shm));
        mp__shm_discard(shm);
    }
    return r;
}

int
mp__queue_create_private(mp_queue_t **out, const mp_queue_opts_t *opts)
{
    layout_t l;
    int r = create_begin(out, opts, &l);
    if (r != 0) {
        return r;
    }
    if (l.total > (uint64_t)INT64_MAX || l.total > SIZE_MAX) {
        return MP_ENOSPC;
    }
    /* A memfd rather than MAP_SHARED | MAP_ANONYMOUS: a file mapping is
     * not charged against the commit limit, so the sparse heap costs only
     * the pages used, whatever the overcommit policy. */
    void *map = NULL;
    r = mp__plat_memfd_map("mp-queue", (size_t)l.total, &map);
    if (r != 0) {
        return r == MP_EFBIG ? MP_ENOSPC : r;
    }
    char *base = map;
    int efd = mp__plat_waker_open();
    if (efd < 0) {
        mp__plat_unmap(base, (size_t)l.total);
        return efd;
    }
    segment_format(base, &l);
    mp__qhdr_t *h = (mp__qhdr_t *)base;
    atomic_store_explicit(&h->magic, MP__QUEUE_MAGIC, memory_order_release);
    r = handle_new(out, NULL, base, (size_t)l.total, mp__getpid(), efd);
    if (r != 0) {
        mp__plat_waker_close(efd);
        mp__plat_unmap(base, (size_t)l.total);
    }
    return r;
}

int
mp_simple_queue_create(mp_queue_t **out)
{
    return mp_queue_create(out, NULL);
}

int
mp_joinable_queue_create(mp_queue_t **out, size_t maxsize)
{
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = maxsize;
    o.joinable = true;
    return mp_queue_create(out, &o);
}

const char *
mp_queue_name(const mp_queue_t *q)
{
    return q != NULL && q->shm != NULL ? mp_shm_name(q->shm) : NULL;
}

/* 1 if the mapped segment of size bytes at base holds a queue we can use. */
static bool
segment_valid(const char *base, size_t size)
{
    if (size < SEGMENT_HDR) {
        return false;
    }
    const mp__qhdr_t *h = (const mp__qhdr_t *)base;
    uint64_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
    if (magic != MP__QUEUE_MAGIC || h->version != MP__QUEUE_VERSION) {
        return false;
    }
    uint64_t n = h->ncells;
    if (n == 0 || (n & (n - 1)) != 0 || n > MP__QUEUE_MAX_RING_CELLS ||
        h->cells_off != SEGMENT_HDR ||
        h->heap_off != h->cells_off + n * MP__QUEUE_CELL_SIZE ||
        h->heap_off + MP__HEAP_HDR_SLOT > size) {
        return false;
    }
    return true;
}

int
mp_queue_attach(mp_queue_t **out, const char *name)
{
    mp__init();
    if (out == NULL || name == NULL) {
        return MP_EINVAL;
    }
    *out = NULL;
    mp_shm_t *shm = NULL;
    int r = mp_shm_attach(&shm, name);
    if (r != 0) {
        return r;
    }
    if (!segment_valid(mp_shm_buf(shm), mp_shm_size(shm))) {
        mp_shm_destroy(shm);
        return MP_EINVAL;
    }
    /* Cells and locks name processes by pid: another pid namespace's pids
     * name other processes (issue 21). */
    if (!mp__plat_pidns_same(((const mp__qhdr_t *)mp_shm_buf(shm))->pidns,
                             true)) {
        mp_shm_destroy(shm);
        return MP_EPIDNS;
    }
    r = handle_new(out, shm, mp_shm_buf(shm), mp_shm_size(shm), 0, -1);
    if (r != 0) {
        mp_shm_destroy(shm);
    }
    return r;
}

void
mp_queue_destroy(mp_queue_t *q)
{
    if (q == NULL) {
        return;
    }
    mp__queue_zc_drop(q);
    mp__plat_waker_close(atomic_load(&q->poll_fd));
    if (q->shm == NULL) {
        mp__plat_unmap(q->base, q->map_len); /* private: no name */
        mp__free(q);
        return;
    }
    if (q->creator != 0 && q->creator == mp__getpid()) {
        mp__queue_waker_remove(mp_shm_name(q->shm));
        (void)mp_shm_unlink(q->shm);
    }
    mp_shm_destroy(q->shm);
    mp__free(q);
}

void
mp__queue_remove_name(const char *name)
{
    char path[QUEUE_PATH_MAX];
    if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
        snprintf(path, sizeof path, "/%s", name) >= (int)sizeof path) {
        return;
    }
    mp__queue_waker_remove(name);
    /* Unlink first, then forget: as mp_shm_unlink does. */
    (void)mp__plat_shm_unlink(path);
    (void)mp__tracker_unregister(path);
}
