/* SPDX-License-Identifier: MIT */
/* alloc.c - the library's process-local allocator and its user hook
 * (mp_set_allocator), plus mp_free for buffers handed to callers. */
#include "mp_internal.h"

#include <stdlib.h>
#include <string.h>

static struct {
    void *(*malloc_fn)(size_t);
    void *(*realloc_fn)(void *, size_t);
    void *(*calloc_fn)(size_t, size_t);
    void (*free_fn)(void *);
} allocator = {malloc, realloc, calloc, free};

/* Set on the first allocation: after it, swapping allocators would hand
 * blocks from one allocator to the other's free. */
static atomic_bool allocated;

int
mp_set_allocator(void *(*malloc_fn)(size_t),
                 void *(*realloc_fn)(void *, size_t),
                 void *(*calloc_fn)(size_t, size_t), void (*free_fn)(void *))
{
    if (malloc_fn == NULL || realloc_fn == NULL || calloc_fn == NULL ||
        free_fn == NULL) {
        return MP_EINVAL;
    }
    if (atomic_load(&allocated)) {
        return MP_EBUSY;
    }
    allocator.malloc_fn = malloc_fn;
    allocator.realloc_fn = realloc_fn;
    allocator.calloc_fn = calloc_fn;
    allocator.free_fn = free_fn;
    return 0;
}

/* Sets allocated. Loads first: a store on every allocation would write
 * the library's data page, a copy-on-write fault after every fork. */
static inline void
note_allocation(void)
{
    if (!atomic_load_explicit(&allocated, memory_order_relaxed)) {
        atomic_store_explicit(&allocated, true, memory_order_relaxed);
    }
}

void *
mp__malloc(size_t size)
{
    note_allocation();
    return allocator.malloc_fn(size);
}

void *
mp__calloc(size_t n, size_t size)
{
    note_allocation();
    return allocator.calloc_fn(n, size);
}

void *
mp__realloc(void *ptr, size_t size)
{
    note_allocation();
    return allocator.realloc_fn(ptr, size);
}

void
mp__free(void *ptr)
{
    if (ptr != NULL) {
        allocator.free_fn(ptr);
    }
}

char *
mp__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = mp__malloc(n);
    if (copy != NULL) {
        memcpy(copy, s, n);
    }
    return copy;
}

void
mp_free(void *ptr)
{
    mp__free(ptr);
}
