/* SPDX-License-Identifier: MIT */
/* semaphore.c - Semaphore and BoundedSemaphore: a counter that is its own
 * futex word, plus a count of sleepers so that release() makes a syscall
 * only when someone may be asleep.
 *
 * No lost wake-up: a waiter increments `waiters` before it looks at the
 * value and sleeps only while the value is 0; a releaser increments the
 * value before it looks at `waiters`. With sequentially consistent atomics
 * one of the two sees the other's write. */
#include "sync_internal.h"

#include <stdbool.h>
#include <string.h>

typedef struct sem_state {
    _Atomic uint32_t value;   /* shared; the counter and futex word */
    _Atomic uint32_t waiters; /* shared; processes that may be asleep */
    uint32_t max;             /* shared; highest value allowed */
    bool bounded;             /* shared; over-release is an error */
} sem_state_t;

struct mp_semaphore {
    mp__shobj_t obj; /* state: sem_state_t */
};

static int sem_create(mp_semaphore_t **out, const mp_context_t *ctx,
                      unsigned value, bool bounded);

/* The shared state behind a handle. */
static sem_state_t *
state_of(const mp_semaphore_t *sem)
{
    return sem->obj.state;
}

int
mp_semaphore_create(mp_semaphore_t **out, unsigned value)
{
    return sem_create(out, NULL, value, false);
}

int
mp_bounded_semaphore_create(mp_semaphore_t **out, unsigned value)
{
    return sem_create(out, NULL, value, true);
}

int
mp_context_semaphore(const mp_context_t *ctx, mp_semaphore_t **out,
                     unsigned value)
{
    return sem_create(out, ctx, value, false);
}

int
mp_context_bounded_semaphore(const mp_context_t *ctx, mp_semaphore_t **out,
                             unsigned value)
{
    return sem_create(out, ctx, value, true);
}

int
mp_semaphore_acquire(mp_semaphore_t *sem, mp_duration_t timeout)
{
    int64_t deadline;
    if (sem == NULL) {
        return MP_EINVAL;
    }
    int r = mp__deadline(timeout, &deadline);
    if (r != 0) {
        return r;
    }
    sem_state_t *s = state_of(sem);
    if (mp__sync_take_one(&s->value)) {
        return 0;
    }
    if (timeout == MP_NO_WAIT) {
        return MP_ETIMEDOUT;
    }
    atomic_fetch_add(&s->waiters, 1);
    for (;;) {
        if (mp__sync_take_one(&s->value)) {
            r = 0;
            break;
        }
        if (mp__plat_futex_wait(&s->value, 0, deadline) == MP_ETIMEDOUT) {
            /* A release may have woken us just as time ran out. */
            r = mp__sync_take_one(&s->value) ? 0 : MP_ETIMEDOUT;
            break;
        }
    }
    atomic_fetch_sub(&s->waiters, 1);
    return r;
}

int
mp_semaphore_release(mp_semaphore_t *sem)
{
    if (sem == NULL) {
        return MP_EINVAL;
    }
    sem_state_t *s = state_of(sem);
    uint32_t v = atomic_load(&s->value);
    do {
        if (v >= s->max) {
            return s->bounded ? MP_EOVERRELEASE : MP_EOVERFLOW;
        }
    } while (!atomic_compare_exchange_weak(&s->value, &v, v + 1));
    if (atomic_load(&s->waiters) > 0) {
        mp__plat_futex_wake(&s->value, 1);
    }
    return 0;
}

int
mp_semaphore_get_value(const mp_semaphore_t *sem)
{
    if (sem == NULL) {
        return MP_EINVAL;
    }
    return (int)atomic_load((_Atomic uint32_t *)&state_of(sem)->value);
}

void
mp_semaphore_destroy(mp_semaphore_t *sem)
{
    mp__shobj_destroy(sem);
}

int
mp_semaphore_token(const mp_semaphore_t *sem, char *buf, size_t buflen)
{
    return mp__shobj_token(sem, MP__KIND_SEMAPHORE, buf, buflen, NULL);
}

int
mp_semaphore_attach(mp_semaphore_t **out, const char *token)
{
    return mp__shobj_attach((void **)out, sizeof(mp_semaphore_t),
                            MP__KIND_SEMAPHORE, sizeof(sem_state_t), token,
                            NULL);
}

/* Allocates a semaphore of either kind starting at value, of context ctx
 * (NULL: the default), into *out. */
static int
sem_create(mp_semaphore_t **out, const mp_context_t *ctx, unsigned value,
           bool bounded)
{
    if (out == NULL || value > MP_SEM_VALUE_MAX) {
        return MP_EINVAL;
    }
    mp_semaphore_t *sem;
    int err = mp__shobj_new((void **)&sem, sizeof *sem, MP__KIND_SEMAPHORE, ctx,
                            sizeof(sem_state_t));
    if (err != 0) {
        return err;
    }
    mp__semaphore_state_init(state_of(sem), value, bounded);
    *out = sem;
    return 0;
}

/*--- states in caller-given memory (sync_internal.h) ----------------------*/

size_t
mp__semaphore_state_size(void)
{
    return sizeof(sem_state_t);
}

void
mp__semaphore_state_init(void *state, unsigned value, bool bounded)
{
    sem_state_t *s = state;
    memset(s, 0, sizeof *s);
    atomic_store(&s->value, value);
    s->max = bounded ? value : MP_SEM_VALUE_MAX;
    s->bounded = bounded;
}

int
mp__semaphore_wrap(void *state, mp_semaphore_t **out)
{
    return mp__shobj_wrap((void **)out, sizeof(mp_semaphore_t), state);
}
