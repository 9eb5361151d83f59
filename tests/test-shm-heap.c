/* SPDX-License-Identifier: MIT */
/* test-shm-heap.c - the heap over a region (mp__heap_*) maps a large
 * block's pages into the allocating process when it hands the block out:
 * one carved from fresh territory, and one recycled that this mapping
 * never touched (freed through another mapping of the region, as a block
 * freed by another process is); small blocks are left alone. Skipped on
 * a kernel without MADV_POPULATE_WRITE (before Linux 5.14). And a holder
 * SIGKILLed inside mp__heap_alloc_to or mp__heap_free_from leaves the
 * caller's word and the free lists agreeing. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define REGION ((size_t)16 << 20)
#define BIG ((size_t)1 << 20)

/* Returns the Rss (KiB) of this process's mapping that starts at addr,
 * from /proc/self/smaps. */
static long
rss_kib(const void *addr)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    ASSERT_NOT_NULL(f);
    char line[512];
    bool in_it = false;
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long start, end;
        /* A mapping's first line; field lines never parse as a range. */
        if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
            in_it = start == (unsigned long)(uintptr_t)addr;
            continue;
        }
        if (in_it && sscanf(line, "Rss: %ld kB", &kib) == 1) {
            break;
        }
    }
    fclose(f);
    ASSERT_GE(kib, 0);
    return kib;
}

/* Two mappings of one fresh memfd of REGION bytes. */
static void
two_views(char **a, char **b)
{
    int fd = memfd_create("mpt-heap", MFD_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, (off_t)REGION), 0);
    *a = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    *b = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT(*a != MAP_FAILED && *b != MAP_FAILED);
    close(fd);
}

/* Skips the test unless the kernel has MADV_POPULATE_WRITE. */
static void
need_populate(void)
{
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(p != MAP_FAILED);
    int r = madvise(p, 4096, MADV_POPULATE_WRITE);
    munmap(p, 4096);
    if (r != 0) {
        exit(MPT_SKIP_CODE);
    }
}

/* --- tests -------------------------------------------------------------- */

TEST(shm_heap_large_block_is_mapped_when_carved)
{
    need_populate();
    char *a, *b;
    two_views(&a, &b);
    mp__heap_t *h = mp__heap_init(a, REGION);
    long before = rss_kib(a);
    uint64_t small = mp__heap_alloc(h, 100);
    ASSERT_NE(small, 0);
    ASSERT_LE(rss_kib(a), before + 4); /* at most its page */
    uint64_t off = mp__heap_alloc(h, BIG);
    ASSERT_NE(off, 0);
    ASSERT_GE(rss_kib(a), before + (long)(BIG >> 10));
    /* The memory is there and usable. */
    memset(a + off, 0x5a, BIG);
    ASSERT_EQ((unsigned char)b[off + BIG - 1], 0x5a);
    mp__heap_free(h, off);
    mp__heap_free(h, small);
    munmap(a, REGION);
    munmap(b, REGION);
}

TEST(shm_heap_recycled_block_is_mapped_in_the_new_owner)
{
    need_populate();
    char *a, *b;
    two_views(&a, &b);
    mp__heap_t *ha = mp__heap_init(a, REGION);
    uint64_t off = mp__heap_alloc(ha, BIG);
    ASSERT_NE(off, 0);
    memset(a + off, 1, BIG);
    mp__heap_free(ha, off);
    /* The same heap seen through b, which never touched the block. */
    mp__heap_t *hb = (mp__heap_t *)(void *)b;
    long before = rss_kib(b);
    ASSERT_LT(before, (long)(BIG >> 10));
    uint64_t again = mp__heap_alloc(hb, BIG);
    ASSERT_EQ(again, off); /* recycled */
    ASSERT_GE(rss_kib(b), before + (long)(BIG >> 10) - 4);
    mp__heap_free(hb, again);
    munmap(a, REGION);
    munmap(b, REGION);
}

TEST(shm_heap_block_too_large_for_the_region)
{
    char *a, *b;
    two_views(&a, &b);
    mp__heap_t *h = mp__heap_init(a, REGION);
    /* Nothing is carved (or populated) for a block the region lacks. */
    ASSERT_EQ(mp__heap_alloc(h, REGION), 0);
    ASSERT_EQ(h->bump, (uint64_t)MP__HEAP_HDR_SLOT);
    munmap(a, REGION);
    munmap(b, REGION);
}

/* --- a holder killed inside mp__heap_alloc_to / mp__heap_free_from ------
 * parked under the heap lock right after the store that takes (or frees)
 * the block and before the store that names it in (or clears) the
 * caller's word, then SIGKILLed: the next locker finishes the step, so the
 * word and the free lists agree - nothing leaks, nothing is freed twice. */

static mpt_pipe_t heap_parked; /* child -> parent: parked */
static mpt_pipe_t heap_never;  /* never written: the child waits on it */
static int heap_point;

/* Test hook: at heap_point, tells the parent and waits to be killed. */
static void
heap_park(int point)
{
    if (point == heap_point) {
        mpt_signal(&heap_parked, 1);
        (void)mpt_wait_signal(&heap_never, NULL);
        _exit(3);
    }
}

typedef struct heap_arg {
    mp__heap_t *h;
    _Atomic uint64_t *ref;
    bool alloc;
} heap_arg_t;

/* Child: allocates a block into *ref, or frees it from there. */
static int
heap_child(void *arg)
{
    heap_arg_t *a = arg;
    mp__heap_test_hook = heap_park;
    if (a->alloc) {
        (void)mp__heap_alloc_to(a->h, 1000, a->ref);
    } else {
        mp__heap_free_from(a->h, a->ref);
    }
    return 4; /* not reached */
}

/* Runs heap_child parked at point and SIGKILLs it there. */
static void
heap_kill_at(heap_arg_t *a, int point)
{
    heap_point = point;
    mpt_pipe_open(&heap_parked);
    mpt_pipe_open(&heap_never);
    pid_t pid = mpt_fork(heap_child, a);
    ASSERT_EQ(mpt_wait_signal(&heap_parked, NULL), 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    mpt_pipe_close(&heap_parked);
    mpt_pipe_close(&heap_never);
}

TEST(shm_heap_holder_killed_mid_step_leaks_nothing)
{
    char *a, *b;
    two_views(&a, &b);
    mp__heap_t *h = mp__heap_init(a, REGION);
    /* The caller's word lives in the heap's mapping, as a queue's hand. */
    uint64_t woff = mp__heap_alloc(h, sizeof(uint64_t));
    ASSERT_NE(woff, 0);
    _Atomic uint64_t *ref = (_Atomic uint64_t *)(void *)(a + woff);
    atomic_store(ref, 0);
    uint64_t free0 = mp__heap_free_bytes(h);
    /* Carved fresh, then recycled from a free list. */
    for (int round = 0; round < 2; round++) {
        heap_arg_t arg = {h, ref, true};
        heap_kill_at(&arg, MP__HEAP_HOOK_TAKEN);
        /* This takes the dead child's lock over: the block is named. */
        ASSERT_EQ(mp__heap_free_bytes(h), free0 - 1024);
        ASSERT_NE(atomic_load(ref), 0);
        arg.alloc = false;
        heap_kill_at(&arg, MP__HEAP_HOOK_PUSHED);
        ASSERT_EQ(mp__heap_free_bytes(h), free0);
        ASSERT_EQ(atomic_load(ref), 0);
        /* A repeat after the crash frees nothing twice. */
        mp__heap_free_from(h, ref);
        ASSERT_EQ(mp__heap_free_bytes(h), free0);
    }
    mp__heap_free(h, woff);
    munmap(a, REGION);
    munmap(b, REGION);
}
