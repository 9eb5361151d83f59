/* SPDX-License-Identifier: MIT */
/* test-arena.c - the shared allocator: blocks are zeroed, aligned, reused
 * after free, shared with children (both ways), large blocks get their own
 * mapping, only the creator's release frees an object, and a process killed
 * while it holds the arena lock does not wedge the others. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The head of the arena as arena.c lays it out; the magic number guards
 * this test's knowledge of the layout. */
typedef struct arena_head {
    uint64_t magic;
    mp__mutex_t lock;
} arena_head_t;
#define ARENA_MAGIC 0x6d7061726e6131ULL

/* Finds the arena's mapping (the memfd "mp-arena") in /proc/self/maps. */
static arena_head_t *
find_arena(void)
{
    void *p = mp__shared_alloc(1); /* make sure the arena exists */
    ASSERT_NOT_NULL(p);
    mp__shared_free(p);
    FILE *f = fopen("/proc/self/maps", "r");
    ASSERT_NOT_NULL(f);
    char line[512];
    unsigned long start = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strstr(line, "/memfd:mp-arena") != NULL) {
            ASSERT_EQ(sscanf(line, "%lx-", &start), 1);
            break;
        }
    }
    fclose(f);
    ASSERT_NE(start, 0);
    arena_head_t *h = (arena_head_t *)start;
    ASSERT_EQ(h->magic, ARENA_MAGIC);
    return h;
}

/* Checks that size bytes at p are zero. */
static void
assert_zero(const void *p, size_t size)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < size; i++) {
        ASSERT_EQ(b[i], 0);
    }
}

/* --- tests -------------------------------------------------------------- */

TEST(arena_alloc_free_reuses_memory)
{
    /* One size per size class, so each round hands back the same blocks. */
    static const size_t sizes[] = {1, 49, 200, 1000, 4000, 65536, 300000};
    enum { N = sizeof sizes / sizeof sizes[0], ROUNDS = 200 };
    void *first[N];
    for (size_t i = 0; i < N; i++) {
        first[i] = mp__shared_alloc(sizes[i]);
        ASSERT_NOT_NULL(first[i]);
    }
    for (size_t i = 0; i < N; i++) {
        mp__shared_free(first[i]);
    }
    /* Size 0 is a valid, smallest block. */
    void *zero = mp__shared_alloc(0);
    ASSERT_NOT_NULL(zero);
    ASSERT(zero == first[0]);
    mp__shared_free(zero);
    /* Freed blocks come back (so the arena does not grow), zeroed again
     * however they were scribbled on. */
    for (int r = 0; r < ROUNDS; r++) {
        void *p[N];
        for (size_t i = 0; i < N; i++) {
            p[i] = mp__shared_alloc(sizes[i]);
            ASSERT(p[i] == first[i]);
            assert_zero(p[i], sizes[i]);
            memset(p[i], 0xa5, sizes[i]);
        }
        for (size_t i = N; i-- > 0;) {
            mp__shared_free(p[i]);
        }
    }
    mp__shared_free(NULL); /* ignored */
}

TEST(arena_alignment_and_distinct_blocks)
{
    enum { N = 300 };
    void **p = calloc(N, sizeof *p);
    ASSERT_NOT_NULL(p);
    for (size_t i = 0; i < N; i++) {
        size_t size = 1 + i * 7;
        p[i] = mp__shared_alloc(size);
        ASSERT_NOT_NULL(p[i]);
        ASSERT_EQ((uintptr_t)p[i] % 16, 0);
        assert_zero(p[i], size);
        memset(p[i], (int)(i & 0xff), size);
    }
    /* No two live blocks overlap: each still holds its own pattern. */
    for (size_t i = 0; i < N; i++) {
        const unsigned char *b = p[i];
        for (size_t j = 0; j < 1 + i * 7; j++) {
            ASSERT_EQ(b[j], i & 0xff);
        }
    }
    for (size_t i = 0; i < N; i++) {
        mp__shared_free(p[i]);
    }
    free(p);
}

/* Child of arena_large_blocks: checks and rewrites the parent's block. */
static int
child_checks_large(void *arg)
{
    unsigned char *p = arg;
    if (p[0] != 1 || p[(1u << 20) - 1] != 2) {
        return 1;
    }
    p[0] = 3;
    p[(1u << 20) - 1] = 4;
    return 0;
}

TEST(arena_large_blocks)
{
    size_t size = 1u << 20; /* > 512 KiB: a mapping of its own */
    for (int r = 0; r < 3; r++) {
        unsigned char *p = mp__shared_alloc(size);
        ASSERT_NOT_NULL(p);
        ASSERT_EQ((uintptr_t)p % 16, 0);
        assert_zero(p, size);
        p[0] = 1;
        p[size - 1] = 2;
        ASSERT_EQ(mpt_join(mpt_fork(child_checks_large, p)), 0);
        ASSERT_EQ(p[0], 3);
        ASSERT_EQ(p[size - 1], 4);
        mp__shared_free(p);
    }
    /* Sizes no mapping can hold fail cleanly. */
    ASSERT_NULL(mp__shared_alloc(SIZE_MAX));
    ASSERT_NULL(mp__shared_alloc(SIZE_MAX - 4096));
}

typedef struct share_arg {
    char *parent_block;
    mpt_pipe_t report; /* child -> parent: a block pointer */
} share_arg_t;

/* Child of arena_children_share_blocks: reads the parent's block, then
 * allocates a block of its own in the same arena and hands it over. */
static int
child_shares(void *arg)
{
    share_arg_t *a = arg;
    if (strcmp(a->parent_block, "from parent") != 0) {
        return 1;
    }
    strcpy(a->parent_block, "child was here");
    char *mine = mp__shared_alloc(64);
    if (mine == NULL) {
        return 2;
    }
    strcpy(mine, "from child");
    return write(a->report.wr, &mine, sizeof mine) == sizeof mine ? 0 : 3;
}

TEST(arena_children_share_blocks)
{
    share_arg_t a;
    a.parent_block = mp__shared_alloc(64);
    ASSERT_NOT_NULL(a.parent_block);
    strcpy(a.parent_block, "from parent");
    mpt_pipe_open(&a.report);
    ASSERT_EQ(mpt_join(mpt_fork(child_shares, &a)), 0);
    char *childs = NULL;
    ASSERT_EQ(read(a.report.rd, &childs, sizeof childs),
              (ssize_t)sizeof childs);
    mpt_pipe_close(&a.report);
    ASSERT_STR_EQ(a.parent_block, "child was here");
    /* The arena is one mapping at one address in the whole tree. */
    ASSERT_STR_EQ(childs, "from child");
    ASSERT(childs != a.parent_block);
    mp__shared_free(childs);
    mp__shared_free(a.parent_block);
}

/* Child of arena_release_only_by_creator: releases its copy. */
static int
child_releases(void *arg)
{
    mp__shobj_t *obj = arg;
    mp__shobj_release(obj);
    return obj->state == NULL ? 0 : 1;
}

TEST(arena_release_only_by_creator)
{
    mp__shobj_t obj;
    const mp_context_t fork_ctx = {MP_START_FORK};
    const size_t block = sizeof(mp__objhdr_t) + 128; /* header, then state */
    ASSERT_OK(mp__shobj_alloc(&obj, MP__KIND_LOCK, &fork_ctx, 128));
    ASSERT_EQ(obj.creator, getpid());
    ASSERT(obj.state == obj.hdr + 1);
    strcpy(obj.state, "alive");
    ASSERT_EQ(mpt_join(mpt_fork(child_releases, &obj)), 0);
    /* The child's release freed nothing: a fresh block of the same class
     * is a different one, and our data is intact. */
    void *other = mp__shared_alloc(block);
    ASSERT(other != obj.hdr);
    ASSERT_STR_EQ(obj.state, "alive");
    mp__shared_free(other);
    void *was = obj.hdr;
    mp__shobj_release(&obj);
    ASSERT_NULL(obj.state);
    mp__shobj_release(&obj); /* a second release is harmless */
    /* Freed by the creator: the block is the next one handed out. */
    void *again = mp__shared_alloc(block);
    ASSERT(again == was);
    mp__shared_free(again);
}

typedef struct holder_arg {
    arena_head_t *arena;
    mpt_pipe_t ready;
} holder_arg_t;

/* Child: takes the arena lock, says so, and waits to be killed. */
static int
child_holds_arena_lock(void *arg)
{
    holder_arg_t *a = arg;
    mp__mutex_lock(&a->arena->lock, MP__NO_DEADLINE);
    mpt_signal(&a->ready, 1);
    for (;;) {
        pause();
    }
    return 0;
}

TEST(arena_killed_lock_holder_does_not_wedge)
{
    holder_arg_t a;
    a.arena = find_arena();
    mpt_pipe_open(&a.ready);
    pid_t pid = mpt_fork(child_holds_arena_lock, &a);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    ASSERT_EQ(mp__mutex_holder(&a.arena->lock), pid);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    /* The next allocation takes the lock over from the dead holder. */
    void *p = mp__shared_alloc(32);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(mp__mutex_holder(&a.arena->lock), 0);
    mp__shared_free(p);
    p = mp__shared_alloc(32);
    ASSERT_NOT_NULL(p);
    mp__shared_free(p);
    mpt_pipe_close(&a.ready);
}

/* Child: allocates and frees in a loop until killed. */
static int
child_churns(void *arg)
{
    holder_arg_t *a = arg;
    int signalled = 0;
    for (;;) {
        void *p = mp__shared_alloc(100);
        void *q = mp__shared_alloc(5000);
        mp__shared_free(p);
        mp__shared_free(q);
        if (!signalled) {
            mpt_signal(&a->ready, 1);
            signalled = 1;
        }
    }
    return 0;
}

TEST(arena_killed_during_alloc_loop)
{
    holder_arg_t a;
    mpt_pipe_open(&a.ready);
    void *warm = mp__shared_alloc(8); /* the arena exists before the fork */
    for (int round = 0; round < 5; round++) {
        pid_t pid = mpt_fork(child_churns, &a);
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        ASSERT_EQ(mpt_join(pid), -SIGKILL);
        /* Wherever it was killed, the lists are intact. */
        for (int i = 0; i < 50; i++) {
            void *p = mp__shared_alloc(100);
            void *q = mp__shared_alloc(5000);
            ASSERT_NOT_NULL(p);
            ASSERT_NOT_NULL(q);
            ASSERT(p != q);
            assert_zero(p, 100);
            mp__shared_free(q);
            mp__shared_free(p);
        }
    }
    mp__shared_free(warm);
    mpt_pipe_close(&a.ready);
}
