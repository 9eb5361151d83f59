/* SPDX-License-Identifier: MIT */
/* test-lock.c - Lock and RLock: ownership and recursion rules, time-outs,
 * bad input, release from other threads and processes, mutual exclusion
 * between processes, and a holder killed while it holds the lock. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <pthread.h>
#include <signal.h>

#define INCREMENTS 5000

/* --- helpers ------------------------------------------------------------ */

typedef struct lock_arg {
    mp_lock_t *lock;
    mpt_pipe_t ready;       /* child -> parent */
    mpt_pipe_t block;       /* never written: a holder blocks on it */
    volatile long *counter; /* shared, for the mutual-exclusion test */
    int depth;              /* how many times a holder acquires */
} lock_arg_t;

/* Sets up the pipes of an argument block for lock. */
static void
arg_open(lock_arg_t *a, mp_lock_t *lock)
{
    a->lock = lock;
    mpt_pipe_open(&a->ready);
    mpt_pipe_open(&a->block);
    a->counter = NULL;
    a->depth = 1;
}

/* Undoes arg_open (the lock stays). */
static void
arg_close(lock_arg_t *a)
{
    mpt_pipe_close(&a->ready);
    mpt_pipe_close(&a->block);
}

typedef struct thread_call {
    int (*fn)(mp_lock_t *);
    mp_lock_t *lock;
    int result;
} thread_call_t;

/* Thread body of in_thread. */
static void *
thread_main(void *arg)
{
    thread_call_t *t = arg;
    t->result = t->fn(t->lock);
    return NULL;
}

/* Runs fn(lock) in a new thread of this process and returns its result. */
static int
in_thread(int (*fn)(mp_lock_t *), mp_lock_t *lock)
{
    thread_call_t t = {fn, lock, 0};
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, thread_main, &t), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    return t.result;
}

/* Thread: releases once. */
static int
t_release(mp_lock_t *lock)
{
    return mp_lock_release(lock);
}

/* Thread: one try to acquire. */
static int
t_try_acquire(mp_lock_t *lock)
{
    return mp_lock_acquire(lock, MP_NO_WAIT);
}

/* Thread: does this thread hold it? */
static int
t_is_mine(mp_lock_t *lock)
{
    return mp_lock_is_mine(lock);
}

/* Thread: marks the lock consistent. */
static int
t_consistent(mp_lock_t *lock)
{
    return mp_lock_consistent(lock);
}

/* Child: acquires depth times, says so, blocks until killed. */
static int
child_hold_forever(void *arg)
{
    lock_arg_t *a = arg;
    for (int i = 0; i < a->depth; i++) {
        if (mp_lock_acquire(a->lock, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
    }
    mpt_signal(&a->ready, 1);
    mpt_wait_signal(&a->block, NULL);
    return 2;
}

/* Child: says it is about to wait, then waits for the lock forever and
 * expects to get it normally. */
static int
child_acquire_forever(void *arg)
{
    lock_arg_t *a = arg;
    mpt_signal(&a->ready, 1);
    if (mp_lock_acquire(a->lock, MP_WAIT_FOREVER) != 0) {
        return 1;
    }
    if (mp_lock_is_mine(a->lock) != 1) {
        return 2;
    }
    return mp_lock_release(a->lock) == 0 ? 0 : 3;
}

/* Child: waits for the lock forever; its holder gets killed meanwhile. */
static int
child_acquire_expect_dead(void *arg)
{
    lock_arg_t *a = arg;
    mpt_signal(&a->ready, 1);
    if (mp_lock_acquire(a->lock, MP_WAIT_FOREVER) != MP_EOWNERDEAD) {
        return 1;
    }
    if (mp_lock_is_mine(a->lock) != 1 || mp_lock_recursion(a->lock) != 1) {
        return 2;
    }
    if (mp_lock_consistent(a->lock) != 0) {
        return 3;
    }
    return mp_lock_release(a->lock) == 0 ? 0 : 4;
}

/* Child: releases the lock once (0 on success). */
static int
child_release(void *arg)
{
    lock_arg_t *a = arg;
    return mp_lock_release(a->lock) == 0 ? 0 : 1;
}

/* Child: checks that it does not own the RLock its parent holds. */
static int
child_rlock_not_mine(void *arg)
{
    lock_arg_t *a = arg;
    if (mp_lock_is_mine(a->lock) != 0 || mp_lock_locked(a->lock) != 1) {
        return 1;
    }
    if (mp_lock_release(a->lock) != MP_ENOTOWNER) {
        return 2;
    }
    if (mp_lock_acquire(a->lock, MP_NO_WAIT) != MP_ETIMEDOUT) {
        return 3;
    }
    return mp_lock_acquire(a->lock, 10) == MP_ETIMEDOUT ? 0 : 4;
}

/* Child (or parent): INCREMENTS read-modify-writes under the lock. */
static int
child_count(void *arg)
{
    lock_arg_t *a = arg;
    for (int i = 0; i < INCREMENTS; i++) {
        if (mp_lock_acquire(a->lock, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
        long v = *a->counter; /* read-modify-write that needs the lock */
        *a->counter = v + 1;
        if (mp_lock_release(a->lock) != 0) {
            return 2;
        }
    }
    return 0;
}

/* --- both kinds --------------------------------------------------------- */

TEST(lock_bad_input)
{
    mp_lock_t *lock;
    ASSERT_ERR(mp_lock_create(NULL), MP_EINVAL);
    ASSERT_ERR(mp_rlock_create(NULL), MP_EINVAL);
    ASSERT_ERR(mp_lock_acquire(NULL, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_lock_release(NULL), MP_EINVAL);
    ASSERT_ERR(mp_lock_consistent(NULL), MP_EINVAL);
    ASSERT(!mp_lock_locked(NULL));
    ASSERT(!mp_lock_is_mine(NULL));
    ASSERT_ERR(mp_lock_recursion(NULL), MP_EINVAL);
    mp_lock_destroy(NULL);
    for (int rec = 0; rec < 2; rec++) {
        ASSERT_OK(rec ? mp_rlock_create(&lock) : mp_lock_create(&lock));
        ASSERT_ERR(mp_lock_acquire(lock, -5), MP_EINVAL);
        ASSERT_ERR(mp_lock_acquire(lock, MP_WAIT_DEFAULT), MP_EINVAL);
        ASSERT_ERR(mp_lock_acquire(lock, INT64_MIN), MP_EINVAL);
        ASSERT_EQ(mp_lock_locked(lock), 0); /* nothing was taken */
        mp_lock_destroy(lock);
    }
}

TEST(lock_mutual_exclusion_between_processes)
{
    for (int rec = 0; rec < 2; rec++) {
        mp_lock_t *lock;
        ASSERT_OK(rec ? mp_rlock_create(&lock) : mp_lock_create(&lock));
        volatile long *counter = mp__shared_alloc(sizeof *counter);
        ASSERT_NOT_NULL(counter);
        lock_arg_t a;
        arg_open(&a, lock);
        a.counter = counter;
        pid_t p1 = mpt_fork(child_count, &a);
        pid_t p2 = mpt_fork(child_count, &a);
        ASSERT_EQ(child_count(&a), 0);
        ASSERT_EQ(mpt_join(p1), 0);
        ASSERT_EQ(mpt_join(p2), 0);
        ASSERT_EQ(*counter, 3 * INCREMENTS);
        ASSERT_EQ(mp_lock_locked(lock), 0);
        mp__shared_free((void *)counter);
        arg_close(&a);
        mp_lock_destroy(lock);
    }
}

TEST(lock_holder_killed_next_acquirer_gets_ownerdead)
{
    for (int rec = 0; rec < 2; rec++) {
        mp_lock_t *lock;
        ASSERT_OK(rec ? mp_rlock_create(&lock) : mp_lock_create(&lock));
        lock_arg_t a;
        arg_open(&a, lock);
        a.depth = rec ? 3 : 1;
        pid_t holder = mpt_fork(child_hold_forever, &a);
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
        ASSERT_EQ(mp_lock_locked(lock), 1);
        ASSERT_EQ(mp_lock_is_mine(lock), 0);
        ASSERT_ERR(mp_lock_acquire(lock, MP_NO_WAIT), MP_ETIMEDOUT);
        ASSERT_ERR(mp_lock_acquire(lock, 10), MP_ETIMEDOUT);
        ASSERT_EQ(kill(holder, SIGKILL), 0);
        ASSERT_EQ(mpt_join(holder), -SIGKILL);

        ASSERT_ERR(mp_lock_acquire(lock, MP_NO_WAIT), MP_EOWNERDEAD);
        ASSERT_EQ(mp_lock_is_mine(lock), 1);
        ASSERT_EQ(mp_lock_recursion(lock), 1); /* reset to the caller */
        ASSERT_OK(mp_lock_release(lock));
        ASSERT_EQ(mp_lock_locked(lock), 0);
        /* Not marked consistent: the next acquirer hears it again. */
        ASSERT_ERR(mp_lock_acquire(lock, MP_WAIT_FOREVER), MP_EOWNERDEAD);
        ASSERT_OK(mp_lock_consistent(lock));
        ASSERT_OK(mp_lock_release(lock));
        ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
        ASSERT_OK(mp_lock_release(lock));
        arg_close(&a);
        mp_lock_destroy(lock);
    }
}

TEST(lock_holder_killed_while_another_process_sleeps)
{
    for (int rec = 0; rec < 2; rec++) {
        mp_lock_t *lock;
        ASSERT_OK(rec ? mp_rlock_create(&lock) : mp_lock_create(&lock));
        lock_arg_t a;
        arg_open(&a, lock);
        pid_t holder = mpt_fork(child_hold_forever, &a);
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
        pid_t waiter = mpt_fork(child_acquire_expect_dead, &a);
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
        /* Whether the waiter sleeps yet or not, it must not hang. */
        ASSERT_EQ(kill(holder, SIGKILL), 0);
        ASSERT_EQ(mpt_join(holder), -SIGKILL);
        ASSERT_EQ(mpt_join(waiter), 0);
        ASSERT_EQ(mp_lock_locked(lock), 0);
        ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
        ASSERT_OK(mp_lock_release(lock));
        arg_close(&a);
        mp_lock_destroy(lock);
    }
}

TEST(lock_consistent_needs_the_holder)
{
    for (int rec = 0; rec < 2; rec++) {
        mp_lock_t *lock;
        ASSERT_OK(rec ? mp_rlock_create(&lock) : mp_lock_create(&lock));
        ASSERT_ERR(mp_lock_consistent(lock), MP_ENOTOWNER);
        ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
        ASSERT_ERR(in_thread(t_consistent, lock), MP_ENOTOWNER);
        ASSERT_OK(mp_lock_consistent(lock)); /* no-op when nobody died */
        ASSERT_OK(mp_lock_release(lock));
        mp_lock_destroy(lock);
    }
}

/* --- Lock --------------------------------------------------------------- */

TEST(lock_acquire_release_basics)
{
    mp_lock_t *lock;
    ASSERT_OK(mp_lock_create(&lock));
    ASSERT_EQ(mp_lock_locked(lock), 0);
    ASSERT_EQ(mp_lock_is_mine(lock), 0);
    ASSERT_EQ(mp_lock_recursion(lock), 0);
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_lock_locked(lock), 1);
    ASSERT_EQ(mp_lock_is_mine(lock), 1);
    ASSERT_EQ(mp_lock_recursion(lock), 1);
    /* Not recursive: even its holder times out (Python deadlocks). */
    ASSERT_ERR(mp_lock_acquire(lock, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_lock_acquire(lock, 10), MP_ETIMEDOUT);
    ASSERT_EQ(mp_lock_recursion(lock), 1);
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_EQ(mp_lock_locked(lock), 0);
    ASSERT_EQ(mp_lock_is_mine(lock), 0);
    ASSERT_ERR(mp_lock_release(lock), MP_EOVERRELEASE);
    ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_OK(mp_lock_acquire(lock, 1000));
    ASSERT_OK(mp_lock_release(lock));
    mp_lock_destroy(lock);
}

TEST(lock_released_by_another_thread)
{
    mp_lock_t *lock;
    ASSERT_OK(mp_lock_create(&lock));
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_EQ(in_thread(t_is_mine, lock), 0);
    ASSERT_ERR(in_thread(t_try_acquire, lock), MP_ETIMEDOUT);
    ASSERT_OK(in_thread(t_release, lock)); /* a Lock has no owner */
    ASSERT_EQ(mp_lock_locked(lock), 0);
    ASSERT_ERR(in_thread(t_release, lock), MP_EOVERRELEASE);
    ASSERT_OK(in_thread(t_try_acquire, lock));
    ASSERT_EQ(mp_lock_is_mine(lock), 0); /* the thread took it */
    ASSERT_OK(mp_lock_release(lock));
    mp_lock_destroy(lock);
}

TEST(lock_released_by_another_process)
{
    mp_lock_t *lock;
    ASSERT_OK(mp_lock_create(&lock));
    lock_arg_t a;
    arg_open(&a, lock);
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_EQ(mpt_join(mpt_fork(child_release, &a)), 0);
    ASSERT_EQ(mp_lock_locked(lock), 0);
    ASSERT_EQ(mp_lock_is_mine(lock), 0);
    /* Released too often by the child: over-release. */
    ASSERT_EQ(mpt_join(mpt_fork(child_release, &a)), 1);
    /* A child sleeping in acquire gets it once the parent releases. */
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    pid_t waiter = mpt_fork(child_acquire_forever, &a);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_EQ(mpt_join(waiter), 0);
    ASSERT_EQ(mp_lock_locked(lock), 0);
    arg_close(&a);
    mp_lock_destroy(lock);
}

/* --- RLock -------------------------------------------------------------- */

TEST(rlock_recursion_counts)
{
    mp_lock_t *lock;
    ASSERT_OK(mp_rlock_create(&lock));
    ASSERT_EQ(mp_lock_recursion(lock), 0);
    ASSERT_ERR(mp_lock_release(lock), MP_ENOTOWNER);
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
    ASSERT_OK(mp_lock_acquire(lock, 10));
    ASSERT_EQ(mp_lock_recursion(lock), 3);
    ASSERT_EQ(mp_lock_is_mine(lock), 1);
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_EQ(mp_lock_recursion(lock), 2);
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_EQ(mp_lock_locked(lock), 1);
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_EQ(mp_lock_locked(lock), 0);
    ASSERT_EQ(mp_lock_recursion(lock), 0);
    ASSERT_EQ(mp_lock_is_mine(lock), 0);
    ASSERT_ERR(mp_lock_release(lock), MP_ENOTOWNER);
    mp_lock_destroy(lock);
}

TEST(rlock_other_thread_cannot_release)
{
    mp_lock_t *lock;
    ASSERT_OK(mp_rlock_create(&lock));
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_ERR(in_thread(t_release, lock), MP_ENOTOWNER);
    ASSERT_ERR(in_thread(t_try_acquire, lock), MP_ETIMEDOUT);
    ASSERT_EQ(in_thread(t_is_mine, lock), 0);
    ASSERT_EQ(mp_lock_recursion(lock), 2);
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_OK(mp_lock_release(lock));
    /* Now a thread takes it and ends holding it: the main thread is not
     * its owner either. */
    ASSERT_OK(in_thread(t_try_acquire, lock));
    ASSERT_EQ(mp_lock_is_mine(lock), 0);
    ASSERT_ERR(mp_lock_release(lock), MP_ENOTOWNER);
    ASSERT_ERR(mp_lock_acquire(lock, MP_NO_WAIT), MP_ETIMEDOUT);
    mp_lock_destroy(lock);
}

TEST(rlock_other_process_is_not_owner)
{
    mp_lock_t *lock;
    ASSERT_OK(mp_rlock_create(&lock));
    lock_arg_t a;
    arg_open(&a, lock);
    ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
    ASSERT_EQ(mpt_join(mpt_fork(child_rlock_not_mine, &a)), 0);
    ASSERT_EQ(mp_lock_recursion(lock), 1);
    ASSERT_OK(mp_lock_release(lock));
    arg_close(&a);
    mp_lock_destroy(lock);
}

/* Child: drops its inherited handle (which must not free the state). */
static int
child_destroy(void *arg)
{
    lock_arg_t *a = arg;
    mp_lock_destroy(a->lock);
    return 0;
}

TEST(lock_destroy_in_child_keeps_the_shared_state)
{
    mp_lock_t *lock, *other;
    ASSERT_OK(mp_lock_create(&lock));
    lock_arg_t a;
    arg_open(&a, lock);
    ASSERT_EQ(mpt_join(mpt_fork(child_destroy, &a)), 0);
    /* Had the child freed the state, the next lock would reuse it. */
    ASSERT_OK(mp_lock_create(&other));
    ASSERT_OK(mp_lock_acquire(other, MP_NO_WAIT));
    ASSERT_EQ(mp_lock_locked(lock), 0);
    ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
    ASSERT_OK(mp_lock_release(lock));
    ASSERT_OK(mp_lock_release(other));
    arg_close(&a);
    mp_lock_destroy(other);
    mp_lock_destroy(lock);
}
