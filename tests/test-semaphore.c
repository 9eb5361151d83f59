/* SPDX-License-Identifier: MIT */
/* test-semaphore.c - Semaphore and BoundedSemaphore: counting, time-outs,
 * over-release, the MP_SEM_VALUE_MAX bound, bad input, and producers and
 * consumers in different processes. */
#include "runner.h"

#include "shm/shm_internal.h"

#define RING_SLOTS 8
#define ITEMS_PER_PRODUCER 1000

TEST(sem_bad_input)
{
    mp_semaphore_t *sem;
    ASSERT_ERR(mp_semaphore_create(NULL, 1), MP_EINVAL);
    ASSERT_ERR(mp_bounded_semaphore_create(NULL, 1), MP_EINVAL);
    ASSERT_ERR(mp_semaphore_create(&sem, (unsigned)MP_SEM_VALUE_MAX + 1),
               MP_EINVAL);
    ASSERT_ERR(mp_bounded_semaphore_create(&sem, UINT32_MAX), MP_EINVAL);
    ASSERT_ERR(mp_semaphore_acquire(NULL, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_semaphore_release(NULL), MP_EINVAL);
    ASSERT_ERR(mp_semaphore_get_value(NULL), MP_EINVAL);
    mp_semaphore_destroy(NULL);
    ASSERT_OK(mp_semaphore_create(&sem, 1));
    ASSERT_ERR(mp_semaphore_acquire(sem, -5), MP_EINVAL);
    ASSERT_ERR(mp_semaphore_acquire(sem, MP_WAIT_DEFAULT), MP_EINVAL);
    ASSERT_EQ(mp_semaphore_get_value(sem), 1); /* nothing was taken */
    mp_semaphore_destroy(sem);
}

TEST(sem_counts_and_timeouts)
{
    mp_semaphore_t *sem;
    ASSERT_OK(mp_semaphore_create(&sem, 2));
    ASSERT_EQ(mp_semaphore_get_value(sem), 2);
    ASSERT_OK(mp_semaphore_acquire(sem, MP_NO_WAIT));
    ASSERT_OK(mp_semaphore_acquire(sem, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_semaphore_get_value(sem), 0);
    ASSERT_ERR(mp_semaphore_acquire(sem, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_semaphore_acquire(sem, 10), MP_ETIMEDOUT);
    ASSERT_EQ(mp_semaphore_get_value(sem), 0);
    /* An unbounded semaphore may go past its initial value. */
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(mp_semaphore_release(sem));
    }
    ASSERT_EQ(mp_semaphore_get_value(sem), 4);
    ASSERT_OK(mp_semaphore_acquire(sem, 1000));
    ASSERT_EQ(mp_semaphore_get_value(sem), 3);
    mp_semaphore_destroy(sem);

    ASSERT_OK(mp_semaphore_create(&sem, 0));
    ASSERT_ERR(mp_semaphore_acquire(sem, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_semaphore_release(sem));
    ASSERT_OK(mp_semaphore_acquire(sem, MP_NO_WAIT));
    mp_semaphore_destroy(sem);
}

TEST(sem_bounded_over_release)
{
    mp_semaphore_t *sem;
    ASSERT_OK(mp_bounded_semaphore_create(&sem, 2));
    ASSERT_ERR(mp_semaphore_release(sem), MP_EOVERRELEASE);
    ASSERT_OK(mp_semaphore_acquire(sem, MP_NO_WAIT));
    ASSERT_OK(mp_semaphore_acquire(sem, MP_NO_WAIT));
    ASSERT_ERR(mp_semaphore_acquire(sem, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_semaphore_release(sem));
    ASSERT_OK(mp_semaphore_release(sem));
    ASSERT_ERR(mp_semaphore_release(sem), MP_EOVERRELEASE);
    ASSERT_EQ(mp_semaphore_get_value(sem), 2);
    mp_semaphore_destroy(sem);

    ASSERT_OK(mp_bounded_semaphore_create(&sem, 0));
    ASSERT_ERR(mp_semaphore_release(sem), MP_EOVERRELEASE);
    ASSERT_ERR(mp_semaphore_acquire(sem, MP_NO_WAIT), MP_ETIMEDOUT);
    mp_semaphore_destroy(sem);
}

TEST(sem_value_max_bounds)
{
    mp_semaphore_t *sem;
    ASSERT_OK(mp_semaphore_create(&sem, MP_SEM_VALUE_MAX));
    ASSERT_EQ(mp_semaphore_get_value(sem), MP_SEM_VALUE_MAX);
    ASSERT_ERR(mp_semaphore_release(sem), MP_EOVERFLOW);
    ASSERT_OK(mp_semaphore_acquire(sem, MP_NO_WAIT));
    ASSERT_OK(mp_semaphore_release(sem));
    ASSERT_EQ(mp_semaphore_get_value(sem), MP_SEM_VALUE_MAX);
    mp_semaphore_destroy(sem);

    ASSERT_OK(mp_bounded_semaphore_create(&sem, MP_SEM_VALUE_MAX));
    ASSERT_ERR(mp_semaphore_release(sem), MP_EOVERRELEASE);
    mp_semaphore_destroy(sem);

    ASSERT_OK(mp_semaphore_create(&sem, MP_SEM_VALUE_MAX - 1));
    ASSERT_OK(mp_semaphore_release(sem));
    ASSERT_ERR(mp_semaphore_release(sem), MP_EOVERFLOW);
    mp_semaphore_destroy(sem);
}

typedef struct sleeper_arg {
    mp_semaphore_t *sem;
    mpt_pipe_t ready;
} sleeper_arg_t;

/* Child: says it is about to wait, then acquires forever. */
static int
child_acquire_forever(void *arg)
{
    sleeper_arg_t *a = arg;
    mpt_signal(&a->ready, 1);
    return mp_semaphore_acquire(a->sem, MP_WAIT_FOREVER) == 0 ? 0 : 1;
}

TEST(sem_release_wakes_sleeping_processes)
{
    sleeper_arg_t a;
    ASSERT_OK(mp_semaphore_create(&a.sem, 0));
    mpt_pipe_open(&a.ready);
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = mpt_fork(child_acquire_forever, &a);
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_OK(mp_semaphore_release(a.sem));
    }
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(mpt_join(kids[i]), 0);
    }
    ASSERT_EQ(mp_semaphore_get_value(a.sem), 0);
    mpt_pipe_close(&a.ready);
    mp_semaphore_destroy(a.sem);
}

/* A bounded buffer: `slots` counts free slots, `items` filled ones, and
 * the mutex guards the ring indexes between several producers/consumers. */
typedef struct ring {
    mp__mutex_t m;
    unsigned head, tail; /* guarded by m */
    long data[RING_SLOTS];
    long consumed_sum; /* guarded by m */
    mp_semaphore_t *slots, *items;
} ring_t;

/* Child: puts 1..ITEMS_PER_PRODUCER into the ring. */
static int
producer(void *arg)
{
    ring_t *r = arg;
    for (long i = 1; i <= ITEMS_PER_PRODUCER; i++) {
        if (mp_semaphore_acquire(r->slots, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
        mp__mutex_lock(&r->m, MP__NO_DEADLINE);
        r->data[r->tail++ % RING_SLOTS] = i;
        mp__mutex_unlock(&r->m);
        if (mp_semaphore_release(r->items) != 0) {
            return 2;
        }
    }
    return 0;
}

/* Child: takes ITEMS_PER_PRODUCER items and adds them up. */
static int
consumer(void *arg)
{
    ring_t *r = arg;
    for (long i = 1; i <= ITEMS_PER_PRODUCER; i++) {
        if (mp_semaphore_acquire(r->items, MP_WAIT_FOREVER) != 0) {
            return 1;
        }
        mp__mutex_lock(&r->m, MP__NO_DEADLINE);
        r->consumed_sum += r->data[r->head++ % RING_SLOTS];
        mp__mutex_unlock(&r->m);
        if (mp_semaphore_release(r->slots) != 0) {
            return 2;
        }
    }
    return 0;
}

TEST(sem_producers_consumers_across_processes)
{
    ring_t *r = mp__shared_alloc(sizeof *r);
    ASSERT_NOT_NULL(r);
    mp__mutex_init(&r->m);
    ASSERT_OK(mp_bounded_semaphore_create(&r->slots, RING_SLOTS));
    ASSERT_OK(mp_semaphore_create(&r->items, 0));
    pid_t kids[4];
    kids[0] = mpt_fork(producer, r);
    kids[1] = mpt_fork(consumer, r);
    kids[2] = mpt_fork(producer, r);
    kids[3] = mpt_fork(consumer, r);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(mpt_join(kids[i]), 0);
    }
    long n = ITEMS_PER_PRODUCER;
    ASSERT_EQ(r->consumed_sum, 2 * n * (n + 1) / 2);
    ASSERT_EQ(mp_semaphore_get_value(r->items), 0);
    ASSERT_EQ(mp_semaphore_get_value(r->slots), RING_SLOTS);
    mp_semaphore_destroy(r->slots);
    mp_semaphore_destroy(r->items);
    mp__shared_free(r);
}
