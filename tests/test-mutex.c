/* SPDX-License-Identifier: MIT */
/* test-mutex.c - the internal death-surviving mutex (src/mutex/mutex.c):
 * mutual exclusion between processes, and the take-over of a mutex whose
 * holder was killed, by a sleeping waiter and by a try-lock. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <sched.h>
#include <signal.h>

#define INCREMENTS 20000

typedef struct shared_counter {
    mp__mutex_t m;
    volatile long value; /* guarded by m */
} shared_counter_t;

/* A zeroed counter with a free mutex in shared memory. */
static shared_counter_t *
counter_new(void)
{
    shared_counter_t *c = mp__shared_alloc(sizeof *c);
    ASSERT_NOT_NULL(c);
    mp__mutex_init(&c->m);
    return c;
}

/* Child: INCREMENTS read-modify-writes of the counter under the mutex. */
static int
child_increment(void *arg)
{
    shared_counter_t *c = arg;
    for (int i = 0; i < INCREMENTS; i++) {
        if (mp__mutex_lock(&c->m, MP__NO_DEADLINE) != 0) {
            return 1;
        }
        long v = c->value; /* read-modify-write that needs the mutex */
        c->value = v + 1;
        if (mp__mutex_unlock(&c->m) != 0) {
            return 2;
        }
    }
    return 0;
}

TEST(mutex_two_processes_count_exactly)
{
    shared_counter_t *c = counter_new();
    pid_t a = mpt_fork(child_increment, c);
    pid_t b = mpt_fork(child_increment, c);
    ASSERT_EQ(mpt_join(a), 0);
    ASSERT_EQ(mpt_join(b), 0);
    ASSERT_EQ(c->value, 2 * INCREMENTS);
    ASSERT_EQ(mp__mutex_holder(&c->m), 0);
    mp__shared_free(c);
}

/* Child: the mutex its parent holds is not its own, though the parent
 * read its identity (the inline fast path of mp__plat_self_ident keeps it
 * in the fork-local page) before the fork. */
static int
child_not_holder(void *arg)
{
    shared_counter_t *c = arg;
    uint64_t me = mp__mutex_self();
    if (mp__plat_ident_pid(me) != getpid() || mp__mutex_held_by(&c->m, me)) {
        return 1;
    }
    return mp__mutex_trylock(&c->m, me) == MP_EBUSY ? 0 : 2;
}

TEST(mutex_forked_child_is_not_its_parents_holder)
{
    shared_counter_t *c = counter_new();
    ASSERT_OK(mp__mutex_lock(&c->m, MP__NO_DEADLINE));
    ASSERT(mp__mutex_held_by(&c->m, mp__mutex_self()));
    ASSERT_EQ(mpt_join(mpt_fork(child_not_holder, c)), 0);
    ASSERT_OK(mp__mutex_unlock(&c->m));
    mp__shared_free(c);
}

TEST(mutex_unlock_free_is_over_release)
{
    shared_counter_t *c = counter_new();
    ASSERT_ERR(mp__mutex_unlock(&c->m), MP_EOVERRELEASE);
    ASSERT_OK(mp__mutex_lock(&c->m, MP__NO_DEADLINE));
    ASSERT_EQ(mp__mutex_holder(&c->m), getpid());
    /* A try on a mutex this (live) process holds fails. */
    ASSERT_ERR(mp__mutex_lock(&c->m, 0), MP_ETIMEDOUT);
    ASSERT_OK(mp__mutex_unlock(&c->m));
    ASSERT_ERR(mp__mutex_unlock(&c->m), MP_EOVERRELEASE);
    mp__shared_free(c);
}

/* The one wait primitive tells a wait that never slept (the word had
 * already moved on) from a wake-up: the mutex's waiter gives way on the
 * first, not after a real hand-over. */
TEST(futex_wait_reports_a_word_that_moved)
{
    _Atomic uint32_t word = 5;
    ASSERT_EQ(mp__plat_futex_wait(&word, 4, MP__NO_DEADLINE),
              MP__PLAT_FUTEX_MOVED);
    ASSERT_EQ(mp__wait_slice(&word, 4, MP__NO_DEADLINE), MP__PLAT_FUTEX_MOVED);
    ASSERT_EQ(mp__wait_slice(&word, 4, mp__now_ns() + 1000000),
              MP__PLAT_FUTEX_MOVED);
    /* The word as expected: it sleeps until the deadline. */
    ASSERT_ERR(mp__plat_futex_wait(&word, 5, mp__now_ns() + 1000000),
               MP_ETIMEDOUT);
    ASSERT_ERR(mp__wait_slice(&word, 5, mp__now_ns() - 1), MP_ETIMEDOUT);
}

typedef struct holder_arg {
    shared_counter_t *c;
    mpt_pipe_t ready; /* holder -> parent: "I hold it" */
    mpt_pipe_t block; /* never written: the holder blocks on it */
} holder_arg_t;

/* Takes the mutex, says so, and blocks until killed. */
static int
child_hold_forever(void *arg)
{
    holder_arg_t *h = arg;
    if (mp__mutex_lock(&h->c->m, MP__NO_DEADLINE) != 0) {
        return 1;
    }
    mpt_signal(&h->ready, 1);
    mpt_wait_signal(&h->block, NULL);
    return 2;
}

/* Sleeps in the mutex until the dead holder is noticed. */
static int
child_lock_expect_dead(void *arg)
{
    holder_arg_t *h = arg;
    int r = mp__mutex_lock(&h->c->m, MP__NO_DEADLINE);
    if (r != MP_EOWNERDEAD) {
        return 1;
    }
    return mp__mutex_holder(&h->c->m) == getpid() ? 0 : 2;
}

/* Sets up the counter and both pipes. */
static void
holder_open(holder_arg_t *h)
{
    h->c = counter_new();
    mpt_pipe_open(&h->ready);
    mpt_pipe_open(&h->block);
}

/* Undoes holder_open. */
static void
holder_close(holder_arg_t *h)
{
    mpt_pipe_close(&h->ready);
    mpt_pipe_close(&h->block);
    mp__shared_free(h->c);
}

TEST(mutex_sleeping_waiter_gets_ownerdead)
{
    holder_arg_t h;
    holder_open(&h);
    pid_t holder = mpt_fork(child_hold_forever, &h);
    ASSERT_OK(mpt_wait_signal(&h.ready, NULL));
    pid_t waiter = mpt_fork(child_lock_expect_dead, &h);
    /* The waiter sets the waiters bit just before it goes to sleep. */
    while (!(atomic_load(&h.c->m.word) & MP__MUTEX_WAITERS)) {
        sched_yield();
    }
    ASSERT_EQ(kill(holder, SIGKILL), 0);
    ASSERT_EQ(mpt_join(holder), -SIGKILL);
    ASSERT_EQ(mpt_join(waiter), 0);
    /* The waiter exited holding it too: the next try takes over again. */
    ASSERT_ERR(mp__mutex_lock(&h.c->m, 0), MP_EOWNERDEAD);
    mp__mutex_consistent(&h.c->m);
    ASSERT_OK(mp__mutex_unlock(&h.c->m));
    ASSERT_OK(mp__mutex_lock(&h.c->m, 0));
    ASSERT_OK(mp__mutex_unlock(&h.c->m));
    holder_close(&h);
}

TEST(mutex_try_lock_takes_over_dead_holder)
{
    holder_arg_t h;
    holder_open(&h);
    pid_t holder = mpt_fork(child_hold_forever, &h);
    ASSERT_OK(mpt_wait_signal(&h.ready, NULL));
    /* Alive: a try and a short wait both fail. */
    ASSERT_ERR(mp__mutex_lock(&h.c->m, 0), MP_ETIMEDOUT);
    ASSERT_ERR(mp__mutex_lock(&h.c->m, mp__now_ns() + 5 * 1000000),
               MP_ETIMEDOUT);
    ASSERT_EQ(mp__mutex_holder(&h.c->m), holder);
    ASSERT_EQ(kill(holder, SIGKILL), 0);
    ASSERT_EQ(mpt_join(holder), -SIGKILL);
    ASSERT_ERR(mp__mutex_lock(&h.c->m, 0), MP_EOWNERDEAD);
    ASSERT_EQ(mp__mutex_holder(&h.c->m), getpid());
    /* Until it is marked consistent, every locker hears of the death. */
    ASSERT_OK(mp__mutex_unlock(&h.c->m));
    ASSERT_ERR(mp__mutex_lock(&h.c->m, MP__NO_DEADLINE), MP_EOWNERDEAD);
    mp__mutex_consistent(&h.c->m);
    ASSERT_OK(mp__mutex_unlock(&h.c->m));
    ASSERT_OK(mp__mutex_lock(&h.c->m, MP__NO_DEADLINE));
    ASSERT_OK(mp__mutex_unlock(&h.c->m));
    holder_close(&h);
}
