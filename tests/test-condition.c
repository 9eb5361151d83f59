/* SPDX-License-Identifier: MIT */
/* test-condition.c - Condition: the lock rules, notify(1) waking exactly
 * one waiter, notify_all, time-outs, wait_for, an RLock released at every
 * level while waiting, and waiters or lock holders killed mid-way. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <pthread.h>
#include <signal.h>

#define WAITERS 3

typedef struct cond_shared {
    int woken; /* guarded by the condition's lock */
    int value; /* guarded by the condition's lock */
} cond_shared_t;

typedef struct cond_arg {
    mp_condition_t *cond;
    mpt_pipe_t ready; /* child -> parent: "registered / about to wait" */
    mpt_pipe_t woke;  /* child -> parent: "woken" */
    cond_shared_t *sh;
} cond_arg_t;

/* Creates the condition (on lock), the pipes and the shared ints. */
static void
arg_open(cond_arg_t *a, mp_lock_t *lock)
{
    ASSERT_OK(mp_condition_create(&a->cond, lock));
    mpt_pipe_open(&a->ready);
    mpt_pipe_open(&a->woke);
    a->sh = mp__shared_alloc(sizeof *a->sh);
    ASSERT_NOT_NULL(a->sh);
}

/* Undoes arg_open (a caller lock stays). */
static void
arg_close(cond_arg_t *a)
{
    mpt_pipe_close(&a->ready);
    mpt_pipe_close(&a->woke);
    mp__shared_free(a->sh);
    mp_condition_destroy(a->cond);
}

/* Child: takes the lock, says "ready" while holding it, then waits. Once
 * the parent gets the lock after that, the child is registered. */
static int
child_waiter(void *arg)
{
    cond_arg_t *a = arg;
    if (mp_condition_acquire(a->cond, MP_WAIT_FOREVER) != 0) {
        return 1;
    }
    mpt_signal(&a->ready, 1);
    int r = mp_condition_wait(a->cond, MP_WAIT_FOREVER);
    if (r != 0) {
        return 2;
    }
    a->sh->woken++;
    mpt_signal(&a->woke, 1);
    return mp_condition_release(a->cond) == 0 ? 0 : 3;
}

/* Child: takes the lock (possible only while the parent waits), sets the
 * value, notifies one waiter and releases. */
static int
child_set_and_notify(void *arg)
{
    cond_arg_t *a = arg;
    if (mp_condition_acquire(a->cond, MP_WAIT_FOREVER) != 0) {
        return 1;
    }
    a->sh->value = 1;
    if (mp_condition_notify(a->cond, 1) != 0) {
        return 2;
    }
    return mp_condition_release(a->cond) == 0 ? 0 : 3;
}

/* Child: raises the value to 1, 2, 3, notifying all each time. */
static int
child_count_up(void *arg)
{
    cond_arg_t *a = arg;
    for (int i = 1; i <= 3; i++) {
        if (mp_condition_acquire(a->cond, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
        a->sh->value = i;
        if (mp_condition_notify_all(a->cond) != 0) {
            return 2;
        }
        if (mp_condition_release(a->cond) != 0) {
            return 3;
        }
    }
    return 0;
}

/* Child: takes the lock once the parent waits, notifies, and dies
 * holding it. */
static int
child_notify_and_die(void *arg)
{
    cond_arg_t *a = arg;
    if (mp_condition_acquire(a->cond, MP_WAIT_FOREVER) != 0) {
        return 1;
    }
    if (mp_condition_notify(a->cond, 1) != 0) {
        return 2;
    }
    kill(getpid(), SIGKILL);
    return 3;
}

/* Thread: takes the condition's lock and exits holding it. */
static void *
thread_acquire(void *arg)
{
    mp_condition_acquire(arg, MP_WAIT_FOREVER);
    return NULL; /* and ends holding the lock */
}

/* Predicate: the shared value reached 3. */
static int
value_at_least_3(void *arg)
{
    return ((cond_shared_t *)arg)->value >= 3;
}

/* Predicate: the shared value reached 4 (never, here). */
static int
value_at_least_4(void *arg)
{
    return ((cond_shared_t *)arg)->value >= 4;
}

/* Predicate: always true; counts its calls in `woken`. */
static int
count_calls_true(void *arg)
{
    ((cond_shared_t *)arg)->woken++;
    return 1;
}

TEST(cond_bad_input)
{
    mp_condition_t *cond;
    ASSERT_ERR(mp_condition_create(NULL, NULL), MP_EINVAL);
    ASSERT_NULL(mp_condition_get_lock(NULL));
    ASSERT_ERR(mp_condition_acquire(NULL, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_condition_release(NULL), MP_EINVAL);
    ASSERT_ERR(mp_condition_wait(NULL, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_condition_wait_for(NULL, value_at_least_3, NULL, 0),
               MP_EINVAL);
    ASSERT_ERR(mp_condition_notify(NULL, 1), MP_EINVAL);
    ASSERT_ERR(mp_condition_notify_all(NULL), MP_EINVAL);
    mp_condition_destroy(NULL);
    ASSERT_OK(mp_condition_create(&cond, NULL));
    ASSERT_ERR(mp_condition_acquire(cond, -5), MP_EINVAL);
    ASSERT_ERR(mp_condition_wait(cond, -5), MP_EINVAL);
    ASSERT_ERR(mp_condition_wait(cond, MP_WAIT_DEFAULT), MP_EINVAL);
    ASSERT_OK(mp_condition_acquire(cond, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_condition_wait_for(cond, NULL, NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_condition_wait_for(cond, value_at_least_3, NULL, -5),
               MP_EINVAL);
    ASSERT_EQ(mp_lock_is_mine(mp_condition_get_lock(cond)), 1);
    ASSERT_OK(mp_condition_release(cond));
    mp_condition_destroy(cond);
}

TEST(cond_requires_the_lock)
{
    mp_condition_t *cond;
    cond_shared_t sh = {0, 0};
    ASSERT_OK(mp_condition_create(&cond, NULL));
    ASSERT_ERR(mp_condition_wait(cond, MP_WAIT_FOREVER), MP_ENOTOWNER);
    ASSERT_ERR(mp_condition_wait(cond, MP_NO_WAIT), MP_ENOTOWNER);
    ASSERT_ERR(mp_condition_wait_for(cond, value_at_least_3, &sh, 10),
               MP_ENOTOWNER);
    ASSERT_ERR(mp_condition_notify(cond, 1), MP_ENOTOWNER);
    ASSERT_ERR(mp_condition_notify_all(cond), MP_ENOTOWNER);
    ASSERT_ERR(mp_condition_release(cond), MP_ENOTOWNER);
    /* Held by another thread is not held by us. */
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, thread_acquire, cond), 0);
    ASSERT_EQ(pthread_join(th, NULL), 0);
    ASSERT_EQ(mp_lock_locked(mp_condition_get_lock(cond)), 1);
    ASSERT_ERR(mp_condition_wait(cond, MP_WAIT_FOREVER), MP_ENOTOWNER);
    ASSERT_ERR(mp_condition_notify(cond, 1), MP_ENOTOWNER);
    ASSERT_ERR(mp_condition_release(cond), MP_ENOTOWNER);
    mp_condition_destroy(cond);
}

TEST(cond_wait_timeouts_keep_the_lock)
{
    mp_condition_t *cond;
    ASSERT_OK(mp_condition_create(&cond, NULL));
    mp_lock_t *lock = mp_condition_get_lock(cond);
    ASSERT_NOT_NULL(lock);
    ASSERT_OK(mp_condition_acquire(cond, MP_WAIT_FOREVER));
    ASSERT_OK(mp_condition_notify(cond, 1)); /* nobody waits: no-op */
    ASSERT_OK(mp_condition_notify_all(cond));
    ASSERT_OK(mp_condition_notify(cond, 0));
    ASSERT_ERR(mp_condition_wait(cond, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_EQ(mp_lock_is_mine(lock), 1);
    ASSERT_ERR(mp_condition_wait(cond, 10), MP_ETIMEDOUT);
    ASSERT_EQ(mp_lock_is_mine(lock), 1);
    ASSERT_EQ(mp_lock_recursion(lock), 1);
    /* The earlier notifies left nothing behind to wake us. */
    ASSERT_ERR(mp_condition_wait(cond, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_condition_release(cond));
    ASSERT_EQ(mp_lock_locked(lock), 0);
    mp_condition_destroy(cond);
}

TEST(cond_notify_one_wakes_exactly_one)
{
    cond_arg_t a;
    arg_open(&a, NULL);
    pid_t kids[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        kids[i] = mpt_fork(child_waiter, &a);
    }
    for (int i = 0; i < WAITERS; i++) {
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    }
    /* Each child signalled while holding the lock: when we get it, all
     * of them are inside wait. */
    for (int round = 1; round < WAITERS; round++) {
        ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
        ASSERT_EQ(a.sh->woken, round - 1);
        ASSERT_OK(mp_condition_notify(a.cond, 1));
        ASSERT_OK(mp_condition_release(a.cond));
        ASSERT_OK(mpt_wait_signal(&a.woke, NULL));
        /* The woken child signals while it holds the lock. */
        ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
        ASSERT_EQ(a.sh->woken, round);
        ASSERT_OK(mp_condition_release(a.cond));
    }
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_OK(mp_condition_notify(a.cond, 5)); /* more than wait */
    ASSERT_OK(mp_condition_release(a.cond));
    for (int i = 0; i < WAITERS; i++) {
        ASSERT_EQ(mpt_join(kids[i]), 0);
    }
    ASSERT_EQ(a.sh->woken, WAITERS);
    arg_close(&a);
}

TEST(cond_notify_all_wakes_everyone)
{
    cond_arg_t a;
    arg_open(&a, NULL);
    pid_t kids[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        kids[i] = mpt_fork(child_waiter, &a);
    }
    for (int i = 0; i < WAITERS; i++) {
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    }
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_OK(mp_condition_notify_all(a.cond));
    ASSERT_OK(mp_condition_release(a.cond));
    for (int i = 0; i < WAITERS; i++) {
        ASSERT_EQ(mpt_join(kids[i]), 0);
    }
    ASSERT_EQ(a.sh->woken, WAITERS);
    /* Those notifications were all taken: a new wait times out. */
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_condition_wait(a.cond, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_condition_release(a.cond));
    arg_close(&a);
}

TEST(cond_rlock_fully_released_and_restored)
{
    cond_arg_t a;
    arg_open(&a, NULL);
    mp_lock_t *lock = mp_condition_get_lock(a.cond);
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_lock_recursion(lock), 2);
    pid_t kid = mpt_fork(child_set_and_notify, &a);
    while (a.sh->value == 0) {
        ASSERT_OK(mp_condition_wait(a.cond, MP_WAIT_FOREVER));
    }
    ASSERT_EQ(mp_lock_is_mine(lock), 1);
    ASSERT_EQ(mp_lock_recursion(lock), 2);
    ASSERT_EQ(mpt_join(kid), 0);
    ASSERT_OK(mp_condition_release(a.cond));
    ASSERT_OK(mp_condition_release(a.cond));
    ASSERT_ERR(mp_condition_release(a.cond), MP_ENOTOWNER);
    arg_close(&a);
}

TEST(cond_bound_to_a_caller_lock)
{
    for (int rec = 0; rec < 2; rec++) {
        mp_lock_t *lock;
        ASSERT_OK(rec ? mp_rlock_create(&lock) : mp_lock_create(&lock));
        cond_arg_t a;
        arg_open(&a, lock);
        ASSERT(mp_condition_get_lock(a.cond) == lock);
        ASSERT_OK(mp_lock_acquire(lock, MP_WAIT_FOREVER));
        pid_t kid = mpt_fork(child_set_and_notify, &a);
        while (a.sh->value == 0) {
            ASSERT_OK(mp_condition_wait(a.cond, MP_WAIT_FOREVER));
        }
        ASSERT_EQ(mp_lock_is_mine(lock), 1);
        ASSERT_EQ(mpt_join(kid), 0);
        ASSERT_OK(mp_lock_release(lock));
        arg_close(&a);
        /* The condition did not destroy the caller's lock. */
        ASSERT_OK(mp_lock_acquire(lock, MP_NO_WAIT));
        ASSERT_OK(mp_lock_release(lock));
        mp_lock_destroy(lock);
    }
}

TEST(cond_wait_for_predicate)
{
    cond_arg_t a;
    arg_open(&a, NULL);
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    pid_t kid = mpt_fork(child_count_up, &a);
    ASSERT_OK(
        mp_condition_wait_for(a.cond, value_at_least_3, a.sh, MP_WAIT_FOREVER));
    ASSERT_EQ(a.sh->value, 3);
    ASSERT_EQ(mp_lock_is_mine(mp_condition_get_lock(a.cond)), 1);
    ASSERT_OK(mp_condition_release(a.cond));
    ASSERT_EQ(mpt_join(kid), 0);

    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_ERR(mp_condition_wait_for(a.cond, value_at_least_4, a.sh, 10),
               MP_ETIMEDOUT);
    ASSERT_ERR(mp_condition_wait_for(a.cond, value_at_least_4, a.sh, 0),
               MP_ETIMEDOUT);
    ASSERT_EQ(mp_lock_is_mine(mp_condition_get_lock(a.cond)), 1);
    /* A true predicate returns at once, checked exactly once. */
    a.sh->woken = 0;
    ASSERT_OK(
        mp_condition_wait_for(a.cond, count_calls_true, a.sh, MP_WAIT_FOREVER));
    ASSERT_EQ(a.sh->woken, 1);
    ASSERT_OK(mp_condition_release(a.cond));
    arg_close(&a);
}

TEST(cond_killed_waiter_does_not_block_others)
{
    cond_arg_t a;
    arg_open(&a, NULL);
    pid_t dead = mpt_fork(child_waiter, &a);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER)); /* it waits */
    ASSERT_OK(mp_condition_release(a.cond));
    ASSERT_EQ(kill(dead, SIGKILL), 0);
    ASSERT_EQ(mpt_join(dead), -SIGKILL);

    pid_t live = mpt_fork(child_waiter, &a);
    ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_OK(mp_condition_notify(a.cond, 1));
    ASSERT_OK(mp_condition_release(a.cond));
    ASSERT_EQ(mpt_join(live), 0);
    ASSERT_EQ(a.sh->woken, 1);
    /* notify_all with only the dead waiter left returns at once. */
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_OK(mp_condition_notify_all(a.cond));
    ASSERT_OK(mp_condition_release(a.cond));
    arg_close(&a);
}

TEST(cond_lock_holder_dies_while_we_wait)
{
    cond_arg_t a;
    arg_open(&a, NULL);
    mp_lock_t *lock = mp_condition_get_lock(a.cond);
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    ASSERT_OK(mp_condition_acquire(a.cond, MP_WAIT_FOREVER));
    pid_t kid = mpt_fork(child_notify_and_die, &a);
    ASSERT_ERR(mp_condition_wait(a.cond, MP_WAIT_FOREVER), MP_EOWNERDEAD);
    ASSERT_EQ(mp_lock_is_mine(lock), 1);
    ASSERT_EQ(mp_lock_recursion(lock), 2);
    ASSERT_EQ(mpt_join(kid), -SIGKILL);
    ASSERT_OK(mp_lock_consistent(lock));
    ASSERT_OK(mp_condition_release(a.cond));
    ASSERT_OK(mp_condition_release(a.cond));
    ASSERT_OK(mp_condition_acquire(a.cond, MP_NO_WAIT));
    ASSERT_OK(mp_condition_release(a.cond));
    arg_close(&a);
}
