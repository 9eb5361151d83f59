/* SPDX-License-Identifier: MIT */
/* queue_test_util.h - what the queue fault tests share (test-queue-faults.c,
 * test-queue-zerocopy.c): parking a child at a test hook point and killing
 * it there, and the check that a queue is drained and its heap whole
 * again. Static inline, so each test file has its own copy of the parking
 * state and a file that uses only part of it gets no warning. */
#ifndef MP_QUEUE_TEST_UTIL_H
#define MP_QUEUE_TEST_UTIL_H

#include "runner.h"

#include "queue/queue_internal.h"

#include <signal.h>
#include <unistd.h>

/* The parking state: the child signals ready once parked and then waits
 * on block, which is never written (the parent kills it). */
static mpt_pipe_t mptq_park_ready;
static mpt_pipe_t mptq_park_block;
static int mptq_park_point;

/* In the child: tells the parent it is parked, and blocks until killed. */
static inline void
mptq_park_here(void)
{
    mpt_signal(&mptq_park_ready, 1);
    uint8_t b;
    (void)mpt_wait_signal(&mptq_park_block, &b);
    _exit(3); /* not reached: the parent kills us */
}

/* A test hook (queue or heap): parks at mptq_park_point. */
static inline void
mptq_park_hook(int point)
{
    if (point == mptq_park_point) {
        mptq_park_here();
    }
}

/* Forks child(arg), which parks (mptq_park_here, or a hook at point),
 * waits until it is parked, and SIGKILLs it. */
static inline void
mptq_park_and_kill(int (*child)(void *), void *arg, int point)
{
    mptq_park_point = point;
    mpt_pipe_open(&mptq_park_ready);
    mpt_pipe_open(&mptq_park_block);
    pid_t pid = mpt_fork(child, arg);
    ASSERT_EQ(mpt_wait_signal(&mptq_park_ready, NULL), 0);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_EQ(mpt_join(pid), -SIGKILL);
    mpt_pipe_close(&mptq_park_ready);
    mpt_pipe_close(&mptq_park_block);
}

/* Checks the queue is empty (a dead producer's cell in the way is repaired
 * by this get) and, once dead processes' hands are cleaned, its heap has
 * every byte it had when free0 was taken. */
static inline void
mptq_expect_drained(mp_queue_t *q, uint64_t free0)
{
    char b[8];
    ASSERT_ERR(mp_queue_get_into(q, b, sizeof b, MP_NO_WAIT), MP_EEMPTY);
    ASSERT_EQ(mp_queue_qsize(q), 0);
    (void)mp__queue_reclaim(q);
    ASSERT_EQ(mp__queue_heap_free_bytes(q), free0);
}

#endif
