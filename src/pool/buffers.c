/* SPDX-License-Identifier: MIT */
/* buffers.c - the pool's large buffers. A buffer of 1 MiB and up is a
 * mapping aligned for transparent huge pages (mp__plat_map_huge: on a VM
 * a page fault costs microseconds, and a 2 MiB page takes one fault
 * instead of 512); from 64 KiB a plain mapping of its own, whose zero
 * pages cost nothing until used; a smaller one comes from the library's
 * allocator. A header before each buffer says which it is, so one free
 * takes them all. A worker's buffers are always mappings (map_grow): a
 * forked worker never calls the allocator (see pool_internal.h). Also a
 * plain copy of bytes for results handed to callers. Context: any
 * thread. */
#include "pool_internal.h"

#include <string.h>

#include "../platform/platform.h"

/* What precedes a big_alloc buffer: its mapping (map_len 0: it came from
 * the allocator). */
typedef struct big_hdr {
    void *map;
    size_t map_len;
} big_hdr_t;

/* big_alloc's buffers of this many bytes and up get a mapping of their
 * own (see there). */
#define BIG_MAP_MIN ((size_t)64 << 10)

/* For big_alloc and big_alloc_raw (heap true: small blocks from the
 * allocator, zeroed or not; mappings are zero pages in either case) and
 * map_grow (heap false: always a mapping). */
static void *
big_alloc(size_t size, bool zeroed, bool heap)
{
    if (size > SIZE_MAX / 2) {
        return NULL;
    }
    big_hdr_t *h;
    size_t total = sizeof *h + size;
    if (size < BIG_MAP_MIN && heap) {
        /* Not zeroed when not needed: clearing writes every page, a fault
         * each when fresh (or copy-on-write after a fork). */
        h = zeroed ? mp__calloc(1, total) : mp__malloc(total);
        if (h == NULL) {
            return NULL;
        }
        h->map = NULL;
        h->map_len = 0;
        return h + 1;
    }
    if (size < MP__POOL_BIG) {
        /* A mapping of its own: its zero pages cost nothing until used
         * (calloc could take them from a malloc heap and clear them all,
         * a page fault each, for a buffer a reply may never fill). */
        void *map = mp__plat_map_anon(false, total);
        if (map == NULL) {
            return NULL;
        }
        h = map;
        h->map = map;
        h->map_len = total;
        return h + 1;
    }
    void *map;
    size_t map_len;
    h = mp__plat_map_huge(total, &map, &map_len);
    if (h == NULL) {
        return NULL;
    }
    h->map = map;
    h->map_len = map_len;
    return h + 1;
}

void *
mp__pool_big_alloc(size_t size)
{
    return big_alloc(size, true, true);
}

void *
mp__pool_big_alloc_raw(size_t size)
{
    return big_alloc(size, false, true);
}

int
mp__pool_map_grow(char **buf, size_t *cap, size_t need, size_t keep)
{
    if (need <= *cap) {
        return 0;
    }
    /* From what fills the first page, doubling: a copy of all it holds
     * each time, so not too often. */
    size_t ncap = *cap > 0 ? *cap : 4096 - sizeof(big_hdr_t);
    while (ncap < need && ncap <= SIZE_MAX / 4) {
        ncap *= 2;
    }
    ncap = ncap < need ? need : ncap;
    char *nb = big_alloc(ncap, false, false);
    if (nb == NULL) {
        return MP_ENOMEM;
    }
    if (keep > 0) {
        memcpy(nb, *buf, keep);
    }
    mp__pool_big_free(*buf);
    *buf = nb;
    *cap = ncap;
    return 0;
}

void
mp__pool_big_free(void *p)
{
    if (p == NULL) {
        return;
    }
    big_hdr_t *h = (big_hdr_t *)p - 1;
    if (h->map_len == 0) {
        mp__free(h);
    } else {
        mp__plat_unmap(h->map, h->map_len);
    }
}

/* Returns a fresh copy of len bytes at data (a byte for len 0), or NULL. */
void *
mp__pool_dup_bytes(const void *data, size_t len)
{
    void *copy = mp__malloc(len > 0 ? len : 1);
    if (copy != NULL && len > 0) {
        memcpy(copy, data, len);
    }
    return copy;
}
