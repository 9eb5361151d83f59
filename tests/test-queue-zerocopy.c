/* SPDX-License-Identifier: MIT */
/* test-queue-zerocopy.c - the zero-copy calls of a queue
 * (mp_queue_put_begin/_commit/_abort, mp_queue_get_begin/_release): round
 * trips of every size class, interplay with mp_queue_put and mp_queue_get
 * (ring and overflow list), every documented error and bad input, the
 * slots a handle's destroy gives back, and SIGKILL of a producer holding a
 * borrowed slot or of a consumer holding a message, at each point of the
 * calls (parked by the test hooks): nothing leaks (the heap gets every
 * byte back), nothing hangs, the memory of a dead holder is reused when a
 * put needs it, and later messages flow. */
#include "queue_test_util.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define WAIT_MS 20000 /* bounds a call that would otherwise hang */

/* Fills len bytes at p with a pattern of seed. */
static void
fill(void *p, size_t len, unsigned seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        b[i] = (unsigned char)(seed + i * 7u);
    }
}

/* Checks len bytes at p hold fill's pattern of seed. */
static void
check_fill(const void *p, size_t len, unsigned seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        ASSERT_EQ(b[i], (unsigned char)(seed + i * 7u));
    }
}

/* Puts a len-byte message of seed's pattern through a borrowed slot. */
static void
zc_put(mp_queue_t *q, size_t len, unsigned seed)
{
    void *p = NULL;
    ASSERT_OK(mp_queue_put_begin(q, len, &p, WAIT_MS));
    ASSERT_NOT_NULL(p);
    ASSERT_EQ((uintptr_t)p % 16, 0);
    fill(p, len, seed);
    ASSERT_OK(mp_queue_put_commit(q, p, len, WAIT_MS));
}

/* Takes a message in place, checks it is len bytes of seed's pattern, and
 * releases it. */
static void
zc_expect(mp_queue_t *q, size_t len, unsigned seed)
{
    void *p = NULL;
    ASSERT_EQ(mp_queue_get_begin(q, &p, WAIT_MS), (ssize_t)len);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ((uintptr_t)p % 16, 0);
    check_fill(p, len, seed);
    ASSERT_OK(mp_queue_get_release(q, p));
}

/* Puts a len-byte message of seed's pattern with mp_queue_put. */
static void
plain_put(mp_queue_t *q, size_t len, unsigned seed)
{
    unsigned char *m = malloc(len + 1);
    ASSERT_NOT_NULL(m);
    fill(m, len, seed);
    ASSERT_OK(mp_queue_put(q, m, len, WAIT_MS));
    free(m);
}

/* Gets a message with mp_queue_get and checks it. */
static void
plain_expect(mp_queue_t *q, size_t len, unsigned seed)
{
    void *m = NULL;
    ASSERT_EQ(mp_queue_get(q, &m, WAIT_MS), (ssize_t)len);
    check_fill(m, len, seed);
    mp_free(m);
}

/* Checks the queue is drained and its heap whole (queue_test_util.h). */
static void
expect_drained(mp_queue_t *q, uint64_t free0)
{
    mptq_expect_drained(q, free0);
}

/* Makes a queue: maxsize (0: unbounded), capacity (0: default), and a ring
 * of ring_cells cells when not 0 (so a few messages spill). */
static mp_queue_t *
make_queue(size_t maxsize, size_t capacity, uint32_t ring_cells, bool joinable)
{
    mp_queue_opts_t o = MP_QUEUE_OPTS_INIT;
    o.maxsize = maxsize;
    o.capacity = capacity;
    o.joinable = joinable;
    mp__queue_test_ring_cells = ring_cells;
    mp_queue_t *q = NULL;
    int r = mp_queue_create(&q, &o);
    mp__queue_test_ring_cells = 0;
    ASSERT_OK(r);
    return q;
}

static const size_t SIZES[] = {
    1, 95, 96, 97, 5000, 64 * 1024 - 1, 64 * 1024, 1024 * 1024};

/* --- the normal path ---------------------------------------------------- */

TEST(queue_zc_round_trip_every_size)
{
    mp_queue_t *q = make_queue(0, 0, 0, false);
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    for (size_t i = 0; i < MP__ARRAY_SIZE(SIZES); i++) {
        zc_put(q, SIZES[i], (unsigned)i);
        ASSERT_EQ(mp_queue_qsize(q), 1);
        zc_expect(q, SIZES[i], (unsigned)i);
        ASSERT_EQ(mp_queue_qsize(q), 0);
    }
    /* Several out at once, given back out of order. */
    void *p[4];
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(mp_queue_put_begin(q, 3000, &p[i], MP_NO_WAIT));
        fill(p[i], 3000, 40u + (unsigned)i);
    }
    for (int i = 3; i >= 0; i--) {
        ASSERT_OK(mp_queue_put_commit(q, p[i], 3000, MP_NO_WAIT));
    }
    for (int i = 3; i >= 0; i--) {
        ASSERT_EQ(mp_queue_get_begin(q, &p[i], MP_NO_WAIT), 3000);
        check_fill(p[i], 3000, 40u + (unsigned)i);
    }
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(mp_queue_get_release(q, p[i]));
    }
    /* A commit of fewer bytes than borrowed, and of none. */
    void *s;
    ASSERT_OK(mp_queue_put_begin(q, 4096, &s, MP_NO_WAIT));
    fill(s, 100, 9);
    ASSERT_OK(mp_queue_put_commit(q, s, 100, MP_NO_WAIT));
    ASSERT_OK(mp_queue_put_begin(q, 4096, &s, MP_NO_WAIT));
    ASSERT_OK(mp_queue_put_commit(q, s, 0, MP_NO_WAIT));
    zc_expect(q, 100, 9);
    ASSERT_EQ(mp_queue_get_begin(q, &s, MP_NO_WAIT), 0);
    ASSERT_OK(mp_queue_get_release(q, s));
    /* An aborted slot puts nothing. */
    ASSERT_OK(mp_queue_put_begin(q, 70000, &s, MP_NO_WAIT));
    ASSERT_OK(mp_queue_put_abort(q, s));
    expect_drained(q, free0);
    mp_queue_destroy(q);
}

/* What the consumer child of queue_zc_across_processes checks. */
typedef struct xarg {
    mp_queue_t *q;
    int n;
} xarg_t;

/* Child: takes n messages in place and checks each (size and pattern
 * from its index), then puts one back in place for the parent. */
static int
xchild(void *arg)
{
    xarg_t *a = arg;
    for (int i = 0; i < a->n; i++) {
        void *p;
        ssize_t len = mp_queue_get_begin(a->q, &p, WAIT_MS);
        size_t want = SIZES[(size_t)i % MP__ARRAY_SIZE(SIZES)];
        if (len != (ssize_t)want) {
            return 10;
        }
        const unsigned char *b = p;
        for (size_t k = 0; k < want; k++) {
            if (b[k] != (unsigned char)((unsigned)i + k * 7u)) {
                return 11;
            }
        }
        if (mp_queue_get_release(a->q, p) != 0) {
            return 12;
        }
    }
    void *p;
    if (mp_queue_put_begin(a->q, 200000, &p, WAIT_MS) != 0) {
        return 13;
    }
    fill(p, 200000, 77);
    return mp_queue_put_commit(a->q, p, 200000, WAIT_MS) == 0 ? 0 : 14;
}

TEST_TIMEOUT(queue_zc_across_processes, 60)
{
    /* Bounded (the producer waits for the consumer's releases to make
     * room) and unbounded. */
    size_t maxsizes[] = {2, 0};
    for (size_t m = 0; m < MP__ARRAY_SIZE(maxsizes); m++) {
        mp_queue_t *q = make_queue(maxsizes[m], 0, 0, false);
        uint64_t free0 = mp__queue_heap_free_bytes(q);
        xarg_t a = {q, 40};
        pid_t pid = mpt_fork(xchild, &a);
        for (int i = 0; i < a.n; i++) {
            zc_put(q, SIZES[(size_t)i % MP__ARRAY_SIZE(SIZES)], (unsigned)i);
        }
        ASSERT_EQ(mpt_join(pid), 0); /* it took them all, then put one */
        zc_expect(q, 200000, 77);
        expect_drained(q, free0);
        mp_queue_destroy(q);
    }
}

/* --- with mp_queue_put and mp_queue_get ---------------------------------- */

TEST(queue_zc_interoperates_with_put_and_get)
{
    /* A ring of 4 cells: the later messages spill to the overflow list,
     * which both kinds of get take from too. */
    for (uint32_t ring = 0; ring <= 4; ring += 4) {
        mp_queue_t *q = make_queue(0, 0, ring, false);
        uint64_t free0 = mp__queue_heap_free_bytes(q);
        for (size_t i = 0; i < MP__ARRAY_SIZE(SIZES); i++) {
            if (i % 2 == 0) {
                zc_put(q, SIZES[i], (unsigned)i);
            } else {
                plain_put(q, SIZES[i], (unsigned)i);
            }
        }
        /* In order, whichever way each was put. */
        for (size_t i = 0; i < MP__ARRAY_SIZE(SIZES); i++) {
            if (i % 3 == 0) {
                plain_expect(q, SIZES[i], (unsigned)i);
            } else {
                zc_expect(q, SIZES[i], (unsigned)i);
            }
        }
        /* mp_queue_get_into of a message put in place. */
        zc_put(q, 5000, 3);
        unsigned char buf[5000];
        ASSERT_EQ(mp_queue_get_into(q, buf, sizeof buf, MP_NO_WAIT), 5000);
        check_fill(buf, 5000, 3);
        expect_drained(q, free0);
        mp_queue_destroy(q);
    }
}

TEST(queue_zc_joinable_counts_commits)
{
    mp_queue_t *q = make_queue(0, 0, 0, true);
    void *p;
    ASSERT_OK(mp_queue_put_begin(q, 1000, &p, MP_NO_WAIT));
    ASSERT_OK(mp_queue_join(q, MP_NO_WAIT)); /* borrowed: no task yet */
    ASSERT_OK(mp_queue_put_commit(q, p, 1000, MP_NO_WAIT));
    ASSERT_ERR(mp_queue_join(q, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_queue_put_begin(q, 1000, &p, MP_NO_WAIT));
    ASSERT_OK(mp_queue_put_abort(q, p)); /* aborted: no task */
    ASSERT_EQ(mp_queue_get_begin(q, &p, MP_NO_WAIT), 1000);
    ASSERT_OK(mp_queue_get_release(q, p));
    ASSERT_ERR(mp_queue_join(q, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_queue_task_done(q));
    ASSERT_OK(mp_queue_join(q, MP_NO_WAIT));
    mp_queue_destroy(q);
}

/* --- errors and bad input ----------------------------------------------- */

TEST(queue_zc_bad_input)
{
    mp_queue_t *q = make_queue(0, 1 << 20, 0, false);
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    void *p = (void *)1;
    ASSERT_ERR(mp_queue_put_begin(NULL, 10, &p, MP_NO_WAIT), MP_EINVAL);
    ASSERT_NULL(p);
    ASSERT_ERR(mp_queue_put_begin(q, 10, NULL, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_begin(q, 0, &p, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_begin(q, (1 << 20) + 1, &p, MP_NO_WAIT),
               MP_EMSGSIZE);
    ASSERT_ERR(mp_queue_put_begin(q, SIZE_MAX, &p, MP_NO_WAIT), MP_EMSGSIZE);
    ASSERT_ERR(mp_queue_put_begin(q, SIZE_MAX - 15, &p, MP_NO_WAIT),
               MP_EMSGSIZE);
    ASSERT_ERR(mp_queue_put_begin(q, 10, &p, -2), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_begin(q, 10, &p, INT64_MIN), MP_EINVAL);
    ASSERT_NULL(p);
    p = (void *)1;
    ASSERT_ERR(mp_queue_get_begin(NULL, &p, MP_NO_WAIT), MP_EINVAL);
    ASSERT_NULL(p);
    ASSERT_ERR(mp_queue_get_begin(q, NULL, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_begin(q, &p, -5), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_begin(q, &p, INT64_MIN), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_begin(q, &p, MP_NO_WAIT), MP_EEMPTY);
    ASSERT_ERR(mp_queue_get_begin(q, &p, 1), MP_EEMPTY);
    ASSERT_NULL(p);

    void *s;
    ASSERT_OK(mp_queue_put_begin(q, 100, &s, INT64_MAX)); /* huge: forever */
    ASSERT_ERR(mp_queue_put_commit(NULL, s, 100, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_commit(q, NULL, 100, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_commit(q, s, 101, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_commit(q, s, SIZE_MAX, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_commit(q, s, 100, -3), MP_EINVAL);
    /* Foreign pointers: inside the slot, the process's own memory. */
    char local[16];
    ASSERT_ERR(mp_queue_put_commit(q, (char *)s + 16, 10, MP_NO_WAIT),
               MP_EINVAL);
    ASSERT_ERR(mp_queue_put_commit(q, local, 10, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_abort(q, local), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_abort(NULL, s), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_abort(q, NULL), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_release(q, s), MP_EINVAL); /* borrowed, not held */
    ASSERT_EQ(mp_queue_qsize(q), 0); /* nothing was put by the refusals */
    ASSERT_OK(mp_queue_put_commit(q, s, 100, MP_NO_WAIT));
    ASSERT_ERR(mp_queue_put_commit(q, s, 100, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_abort(q, s), MP_EINVAL);

    ASSERT_EQ(mp_queue_get_begin(q, &p, INT64_MAX), 100);
    ASSERT_ERR(mp_queue_get_release(NULL, p), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_release(q, NULL), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_release(q, local), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_release(q, (char *)p + 1), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_commit(q, p, 10, MP_NO_WAIT), MP_EINVAL);
    ASSERT_ERR(mp_queue_put_abort(q, p), MP_EINVAL); /* held, not borrowed */
    ASSERT_OK(mp_queue_get_release(q, p));
    ASSERT_ERR(mp_queue_get_release(q, p), MP_EINVAL); /* twice */
    /* An inline message (held in the handle) too. */
    ASSERT_OK(mp_queue_put(q, "abc", 3, MP_NO_WAIT));
    ASSERT_EQ(mp_queue_get_begin(q, &p, MP_NO_WAIT), 3);
    ASSERT_MEM_EQ(p, "abc", 3);
    ASSERT_OK(mp_queue_get_release(q, p));
    ASSERT_ERR(mp_queue_get_release(q, p), MP_EINVAL);
    expect_drained(q, free0);
    mp_queue_destroy(q);
}

TEST(queue_zc_closed_handle)
{
    mp_queue_t *q = make_queue(0, 0, 0, false);
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    void *s, *h;
    ASSERT_OK(mp_queue_put_begin(q, 500, &s, MP_NO_WAIT));
    ASSERT_OK(mp_queue_put(q, "x", 1, MP_NO_WAIT));
    zc_put(q, 600, 1);
    ASSERT_EQ(mp_queue_get(q, &h, MP_NO_WAIT), 1);
    mp_free(h);
    ASSERT_EQ(mp_queue_get_begin(q, &h, MP_NO_WAIT), 600);
    ASSERT_OK(mp_queue_close(q));
    void *p;
    ASSERT_ERR(mp_queue_put_begin(q, 10, &p, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_queue_get_begin(q, &p, MP_NO_WAIT), MP_ECLOSED);
    ASSERT_ERR(mp_queue_put_commit(q, s, 500, MP_NO_WAIT), MP_ECLOSED);
    /* Giving back still works on a closed handle. */
    ASSERT_OK(mp_queue_put_abort(q, s));
    ASSERT_OK(mp_queue_get_release(q, h));
    ASSERT_EQ(mp_queue_qsize(q), 0);
    ASSERT_EQ(mp__queue_heap_free_bytes(q), free0);
    mp_queue_destroy(q);
}

TEST(queue_zc_full_busy_and_no_memory)
{
    /* A bounded queue at maxsize: a commit waits, then MP_EFULL, and the
     * slot stays borrowed. */
    mp_queue_t *q = make_queue(1, 0, 0, false);
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    zc_put(q, 1000, 1);
    void *s;
    ASSERT_OK(mp_queue_put_begin(q, 1000, &s, MP_NO_WAIT));
    fill(s, 1000, 2);
    ASSERT_ERR(mp_queue_put_commit(q, s, 1000, MP_NO_WAIT), MP_EFULL);
    ASSERT_ERR(mp_queue_put_commit(q, s, 1000, 1), MP_EFULL);
    zc_expect(q, 1000, 1);
    ASSERT_OK(mp_queue_put_commit(q, s, 1000, MP_NO_WAIT));
    zc_expect(q, 1000, 2);
    ASSERT_EQ(mp__queue_heap_free_bytes(q), free0);
    mp_queue_destroy(q);

    /* 16 borrowed slots, then MP_EBUSY; 16 held messages, then MP_EBUSY. */
    q = make_queue(0, 0, 0, false);
    free0 = mp__queue_heap_free_bytes(q);
    void *b[MP__QUEUE_BORROW_HANDS + 1];
    for (unsigned i = 0; i < MP__QUEUE_BORROW_HANDS; i++) {
        ASSERT_OK(mp_queue_put_begin(q, 200, &b[i], MP_NO_WAIT));
    }
    ASSERT_ERR(mp_queue_put_begin(q, 200, &s, MP_NO_WAIT), MP_EBUSY);
    ASSERT_ERR(mp_queue_put_begin(q, 200, &s, 1), MP_EBUSY);
    plain_put(q, 300, 5); /* the put hands of the lower half stay free */
    plain_expect(q, 300, 5);
    for (unsigned i = 0; i < MP__QUEUE_BORROW_HANDS; i++) {
        fill(b[i], 200, i);
        ASSERT_OK(mp_queue_put_commit(q, b[i], 200, MP_NO_WAIT));
    }
    zc_put(q, 200, 99);
    for (unsigned i = 0; i < MP__QUEUE_HOLD_HANDS; i++) {
        ASSERT_EQ(mp_queue_get_begin(q, &b[i], MP_NO_WAIT), 200);
        check_fill(b[i], 200, i);
    }
    ASSERT_ERR(mp_queue_get_begin(q, &s, MP_NO_WAIT), MP_EBUSY);
    ASSERT_ERR(mp_queue_get_begin(q, &s, 1), MP_EBUSY);
    plain_expect(q, 200, 99); /* a plain get still takes it */
    for (unsigned i = 0; i < MP__QUEUE_HOLD_HANDS; i++) {
        ASSERT_OK(mp_queue_get_release(q, b[i]));
    }
    ASSERT_EQ(mp__queue_heap_free_bytes(q), free0);
    mp_queue_destroy(q);

    /* A small data area: borrowed slots fill it, then MP_ENOMEM. */
    q = make_queue(0, 256 * 1024, 0, false);
    free0 = mp__queue_heap_free_bytes(q);
    ASSERT_OK(mp_queue_put_begin(q, 256 * 1024, &b[0], MP_NO_WAIT));
    ASSERT_OK(mp_queue_put_begin(q, 256 * 1024, &b[1], MP_NO_WAIT));
    ASSERT_ERR(mp_queue_put_begin(q, 256 * 1024, &s, MP_NO_WAIT), MP_ENOMEM);
    ASSERT_OK(mp_queue_put_abort(q, b[0]));
    ASSERT_OK(mp_queue_put_begin(q, 256 * 1024, &b[0], MP_NO_WAIT));
    ASSERT_OK(mp_queue_put_abort(q, b[0]));
    ASSERT_OK(mp_queue_put_abort(q, b[1]));
    ASSERT_EQ(mp__queue_heap_free_bytes(q), free0);
    mp_queue_destroy(q);
}

TEST(queue_zc_destroy_gives_back_the_handles_slots)
{
    mp_queue_t *q = make_queue(0, 0, 0, false);
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    mp_queue_t *q2;
    ASSERT_OK(mp_queue_attach(&q2, mp_queue_name(q)));
    void *s, *h;
    zc_put(q, 70000, 4);
    ASSERT_OK(mp_queue_put_begin(q2, 70000, &s, MP_NO_WAIT));
    ASSERT_EQ(mp_queue_get_begin(q2, &h, MP_NO_WAIT), 70000);
    /* Another handle of the same process cannot give them back. */
    ASSERT_ERR(mp_queue_put_abort(q, s), MP_EINVAL);
    ASSERT_ERR(mp_queue_get_release(q, h), MP_EINVAL);
    mp_queue_destroy(q2);
    ASSERT_EQ(mp__queue_heap_free_bytes(q), free0);
    mp_queue_destroy(q);
}

/* What the child of queue_zc_forked_child_cannot_give_back tries. */
typedef struct farg {
    mp_queue_t *q;
    void *borrowed;
    void *held;
    bool destroy_first; /* only destroy the handle (which must drop none) */
} farg_t;

/* Child: the parent's slots are not its to give back, nor to drop. */
static int
fchild(void *arg)
{
    farg_t *a = arg;
    if (a->destroy_first) {
        mp_queue_destroy(a->q);
        return 0;
    }
    if (mp_queue_put_commit(a->q, a->borrowed, 10, MP_NO_WAIT) != MP_EINVAL ||
        mp_queue_put_abort(a->q, a->borrowed) != MP_EINVAL ||
        mp_queue_get_release(a->q, a->held) != MP_EINVAL) {
        return 1;
    }
    mp_queue_destroy(a->q);
    return 0;
}

TEST(queue_zc_forked_child_cannot_give_back)
{
    mp_queue_t *q = make_queue(0, 0, 0, false);
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    farg_t a = {q, NULL, NULL, true};
    zc_put(q, 3000, 6);
    ASSERT_EQ(mp_queue_get_begin(q, &a.held, MP_NO_WAIT), 3000);
    ASSERT_OK(mp_queue_put_begin(q, 3000, &a.borrowed, MP_NO_WAIT));
    fill(a.borrowed, 3000, 8);
    ASSERT_EQ(mpt_join(mpt_fork(fchild, &a)), 0);
    a.destroy_first = false;
    ASSERT_EQ(mpt_join(mpt_fork(fchild, &a)), 0);
    check_fill(a.held, 3000, 6);
    ASSERT_OK(mp_queue_get_release(q, a.held));
    ASSERT_OK(mp_queue_put_commit(q, a.borrowed, 3000, MP_NO_WAIT));
    zc_expect(q, 3000, 8);
    ASSERT_EQ(mp__queue_heap_free_bytes(q), free0);
    mp_queue_destroy(q);
}

/* --- SIGKILL at the worst moments --------------------------------------- */

/* Where a child is parked to be killed: a queue hook point, a heap hook
 * point, or HOLDING (the call returned: it holds the slot). */
enum { AT_QUEUE, AT_HEAP, HOLDING };

typedef struct kill_case {
    int where; /* AT_QUEUE, AT_HEAP, HOLDING */
    int point;
    bool put;    /* the child borrows and commits (else it takes) */
    bool landed; /* (put) the message was put when it died */
    int shapes;  /* the shapes (1 << RING, 1 << LIST) it is reached in */
} kill_case_t;

/* Where the message goes or comes from: a ring cell, the overflow list. */
enum { RING, LIST };
#define BOTH ((1 << RING) | (1 << LIST))

typedef struct kill_arg {
    mp_queue_t *q;
    size_t len;
    const kill_case_t *k;
} kill_arg_t;

/* Child: a zero-copy put or get, parked at the case's point. */
static int
kill_child(void *arg)
{
    kill_arg_t *a = arg;
    if (a->k->where == AT_QUEUE) {
        mp__queue_test_hook = mptq_park_hook;
    } else if (a->k->where == AT_HEAP) {
        mp__heap_test_hook = mptq_park_hook;
    }
    void *p;
    if (a->k->put) {
        if (mp_queue_put_begin(a->q, a->len, &p, WAIT_MS) != 0) {
            return 5;
        }
        fill(p, a->len, 200);
        if (a->k->where == HOLDING) {
            mptq_park_here();
        }
        (void)mp_queue_put_commit(a->q, p, a->len, WAIT_MS);
    } else {
        if (mp_queue_get_begin(a->q, &p, WAIT_MS) < 0) {
            return 6;
        }
        if (a->k->where == HOLDING) {
            mptq_park_here();
        }
    }
    return 4; /* not reached */
}

/* Runs kill_child and SIGKILLs it once parked. */
static void
kill_parked(kill_arg_t *a)
{
    mptq_park_and_kill(kill_child, a, a->k->point);
}

/* After a kill: messages put and got both ways, large and inline, flow,
 * one at a time (a queue of maxsize 1 too; in a JoinableQueue each is
 * task_done and join returns at once). */
static void
flow_after_kill(mp_queue_t *q, bool joinable)
{
    for (unsigned i = 0; i < 3; i++) {
        zc_put(q, 70000, 10u + i);
        plain_expect(q, 70000, 10u + i);
        plain_put(q, 40, 20u + i);
        zc_expect(q, 40, 20u + i);
        for (int t = 0; joinable && t < 2; t++) {
            ASSERT_OK(mp_queue_task_done(q));
        }
    }
    if (joinable) {
        ASSERT_OK(mp_queue_join(q, MP_NO_WAIT));
    }
}

static const kill_case_t put_kills[] = {
    {AT_HEAP, MP__HEAP_HOOK_TAKEN, true, false, BOTH}, /* in put_begin */
    {HOLDING, 0, true, false, BOTH}, /* borrowed, not committed */
    {AT_QUEUE, MP__QUEUE_HOOK_PUT_CLAIMED, true, false, 1 << RING},
    {AT_QUEUE, MP__QUEUE_HOOK_PUT_PUBLISHED, true, true, 1 << RING},
    {AT_QUEUE, MP__QUEUE_HOOK_OVF_COUNTED, true, false, 1 << LIST},
    {AT_QUEUE, MP__QUEUE_HOOK_OVF_LINKED, true, true, 1 << LIST},
};

static const kill_case_t get_kills[] = {
    {AT_QUEUE, MP__QUEUE_HOOK_GET_CLAIMED, false, false, 1 << RING},
    {AT_QUEUE, MP__QUEUE_HOOK_OVF_POPPED, false, false, 1 << LIST},
    {AT_HEAP, MP__HEAP_HOOK_MOVING, false, false, BOTH},
    {AT_QUEUE, MP__QUEUE_HOOK_HOLD_MOVED, false, false, BOTH},
    {HOLDING, 0, false, false, BOTH},
};

/* A producer killed at each point of a zero-copy put, on a bounded queue
 * (ring), an unbounded one, and one whose message spills to the overflow
 * list: the message is put whole or not at all, the slot's block is
 * freed, and later messages (both ways) flow. */
TEST_TIMEOUT(queue_zc_producer_killed_at_every_point, 120)
{
    for (size_t c = 0; c < MP__ARRAY_SIZE(put_kills); c++) {
        for (int shape = 0; shape < 3; shape++) {
            const kill_case_t *k = &put_kills[c];
            if (!(k->shapes & (1 << (shape == 2 ? LIST : RING)))) {
                continue;
            }
            for (int joinable = 0; joinable <= 1; joinable++) {
                mp_queue_t *q = make_queue(shape == 0 ? 2 : 0, 0,
                                           shape == 2 ? 2 : 0, joinable);
                uint64_t free0 = mp__queue_heap_free_bytes(q);
                if (shape == 2) { /* fill the ring: the child spills */
                    plain_put(q, 5000, 1);
                    plain_put(q, 5000, 2);
                }
                kill_arg_t a = {q, 5000, k};
                kill_parked(&a);
                if (shape == 2) {
                    plain_expect(q, 5000, 1);
                    plain_expect(q, 5000, 2);
                }
                if (k->landed) {
                    zc_expect(q, 5000, 200);
                }
                char b[8];
                ASSERT_ERR(mp_queue_get_into(q, b, sizeof b, MP_NO_WAIT),
                           MP_EEMPTY);
                if (joinable) {
                    int tasks = (shape == 2 ? 2 : 0) + (k->landed ? 1 : 0);
                    for (int t = 0; t < tasks; t++) {
                        ASSERT_OK(mp_queue_task_done(q));
                    }
                    ASSERT_OK(mp_queue_join(q, WAIT_MS));
                }
                flow_after_kill(q, joinable);
                expect_drained(q, free0);
                mp_queue_destroy(q);
            }
        }
    }
}

/* A consumer killed at each point of a zero-copy get, from the ring (a
 * queue of one cell, so the next put repairs the dead reader's cell) and
 * from the overflow list: the message is lost (as for a consumer killed
 * in mp_queue_get; a JoinableQueue keeps its task unfinished), its block
 * is freed, and later messages flow. */
TEST_TIMEOUT(queue_zc_consumer_killed_at_every_point, 120)
{
    for (size_t c = 0; c < MP__ARRAY_SIZE(get_kills); c++) {
        for (int spill = 0; spill <= 1; spill++) {
            const kill_case_t *k = &get_kills[c];
            if (!(k->shapes & (1 << (spill ? LIST : RING)))) {
                continue;
            }
            mp_queue_t *q = make_queue(spill ? 0 : 1, 0, spill ? 2 : 0, true);
            uint64_t free0 = mp__queue_heap_free_bytes(q);
            zc_put(q, 5000, 1);
            if (spill) { /* the third spills; the first two are taken */
                zc_put(q, 5000, 2);
                zc_put(q, 5000, 3);
                zc_expect(q, 5000, 1);
                zc_expect(q, 5000, 2);
                ASSERT_OK(mp_queue_task_done(q));
                ASSERT_OK(mp_queue_task_done(q));
            }
            kill_arg_t a = {q, 5000, k};
            kill_parked(&a);
            ASSERT_ERR(mp_queue_join(q, MP_NO_WAIT), MP_ETIMEDOUT);
            /* (This takes the overflow lock: a taker killed under it left
             * the list's count stale until then.) */
            ASSERT_OK(mp_queue_task_done(q)); /* for the lost message */
            ASSERT_EQ(mp_queue_qsize(q), 0);
            ASSERT_OK(mp_queue_join(q, WAIT_MS));
            flow_after_kill(q, true);
            expect_drained(q, free0);
            mp_queue_destroy(q);
        }
    }
}

/* The memory a killed holder had is reused when a put needs it: a data
 * area of two 256 KiB blocks, one held by a dead process; the put that
 * finds no room cleans its hand and goes on. */
TEST_TIMEOUT(queue_zc_dead_holders_memory_is_reused, 60)
{
    const size_t len = 256 * 1024;
    for (int put = 0; put <= 1; put++) {
        mp_queue_t *q = make_queue(0, len, 0, false);
        uint64_t free0 = mp__queue_heap_free_bytes(q);
        if (!put) {
            zc_put(q, len, 1);
        }
        kill_case_t k = {HOLDING, 0, put != 0, false, BOTH};
        kill_arg_t a = {q, len, &k};
        kill_parked(&a);
        void *s1, *s2;
        ASSERT_OK(mp_queue_put_begin(q, len, &s1, MP_NO_WAIT));
        ASSERT_OK(mp_queue_put_begin(q, len, &s2, MP_NO_WAIT));
        fill(s1, len, 2);
        fill(s2, len, 3);
        ASSERT_OK(mp_queue_put_commit(q, s1, len, MP_NO_WAIT));
        ASSERT_OK(mp_queue_put_commit(q, s2, len, MP_NO_WAIT));
        zc_expect(q, len, 2);
        plain_expect(q, len, 3);
        expect_drained(q, free0);
        mp_queue_destroy(q);
    }
}

/* --- mapping large blocks once ------------------------------------------ */

static unsigned block_maps; /* MP__QUEUE_HOOK_BLOCK_MAP calls */

/* Test hook: counts the madvise calls that map a large block. */
static void
count_maps(int point)
{
    if (point == MP__QUEUE_HOOK_BLOCK_MAP) {
        block_maps++;
    }
}

/* A handle maps a large block's pages (one madvise each way) the first
 * time it meets the block, not at every message: 40 messages of 1 MiB
 * through the same few blocks, both ways, cost a few maps, not 80 (the
 * madvise's walk of pages already mapped cost as much CPU as reading the
 * message, docs/performance.md). */
TEST(queue_zc_large_blocks_are_mapped_once_per_handle)
{
    const size_t len = 1024 * 1024;
    for (int zc = 0; zc <= 1; zc++) {
        mp_queue_t *q = make_queue(0, 0, 0, false);
        block_maps = 0;
        mp__queue_test_hook = count_maps;
        for (unsigned i = 0; i < 40; i++) {
            if (zc) {
                zc_put(q, len, i);
                zc_expect(q, len, i);
            } else {
                plain_put(q, len, i);
                plain_expect(q, len, i);
            }
        }
        mp__queue_test_hook = NULL;
        ASSERT_LE(block_maps, 4u);
        ASSERT_GE(block_maps, 1u);
        mp_queue_destroy(q);
    }
}

/* --- threads sharing one handle ----------------------------------------- */

#define THR_N 300 /* messages per producer thread */

typedef struct thr_arg {
    mp_queue_t *q;
    unsigned id;           /* producer: its seed base */
    _Atomic unsigned *got; /* consumers: messages checked */
    _Atomic int *bad;      /* consumers: a wrong message seen */
} thr_arg_t;

/* The size of message i of a producer: inline, small and large blocks. */
static size_t
thr_size(unsigned i)
{
    static const size_t sizes[] = {8, 500, 5000, 70000};
    return sizes[i % 4];
}

/* Producer thread: THR_N messages through borrowed slots. */
static void *
thr_producer(void *arg)
{
    thr_arg_t *a = arg;
    for (unsigned i = 0; i < THR_N; i++) {
        void *p;
        if (mp_queue_put_begin(a->q, thr_size(i), &p, WAIT_MS) != 0) {
            return (void *)1;
        }
        fill(p, thr_size(i), a->id * 1000u + i);
        if (mp_queue_put_commit(a->q, p, thr_size(i), WAIT_MS) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

/* Consumer thread: takes messages in place until a 0-byte one; each must
 * be some producer's message i, whole (its size tells i mod 4, and the
 * pattern is checked against every producer's seeds for it). */
static void *
thr_consumer(void *arg)
{
    thr_arg_t *a = arg;
    for (;;) {
        void *p;
        ssize_t n = mp_queue_get_begin(a->q, &p, WAIT_MS);
        if (n < 0) {
            atomic_store(a->bad, 1);
            return NULL;
        }
        if (n == 0) {
            (void)mp_queue_get_release(a->q, p);
            return NULL;
        }
        /* The first byte is (seed) mod 256: find the seed whose pattern
         * the message holds. */
        const unsigned char *b = p;
        bool ok = false;
        for (unsigned id = 1; id <= 2 && !ok; id++) {
            for (unsigned i = 0; i < THR_N && !ok; i++) {
                unsigned seed = id * 1000u + i;
                if (thr_size(i) != (size_t)n || b[0] != (unsigned char)seed) {
                    continue;
                }
                ok = b[n - 1] == (unsigned char)(seed + (size_t)(n - 1) * 7u);
            }
        }
        if (!ok || mp_queue_get_release(a->q, p) != 0) {
            atomic_store(a->bad, 1);
        }
        atomic_fetch_add(a->got, 1);
    }
}

TEST_TIMEOUT(queue_zc_threads_share_a_handle, 60)
{
    mp_queue_t *q = make_queue(8, 0, 0, false);
    uint64_t free0 = mp__queue_heap_free_bytes(q);
    _Atomic unsigned got = 0;
    _Atomic int bad = 0;
    thr_arg_t args[4] = {{q, 1, &got, &bad},
                         {q, 2, &got, &bad},
                         {q, 0, &got, &bad},
                         {q, 0, &got, &bad}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(pthread_create(&t[i], NULL,
                                 i < 2 ? thr_producer : thr_consumer, &args[i]),
                  0);
    }
    for (int i = 0; i < 2; i++) {
        void *r;
        ASSERT_EQ(pthread_join(t[i], &r), 0);
        ASSERT_NULL(r);
    }
    for (int i = 0; i < 2; i++) {
        ASSERT_OK(mp_queue_put(q, NULL, 0, WAIT_MS));
    }
    for (int i = 2; i < 4; i++) {
        ASSERT_EQ(pthread_join(t[i], NULL), 0);
    }
    ASSERT_EQ(atomic_load(&bad), 0);
    ASSERT_EQ(atomic_load(&got), 2 * THR_N);
    expect_drained(q, free0);
    mp_queue_destroy(q);
}
