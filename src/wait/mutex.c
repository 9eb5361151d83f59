/* SPDX-License-Identifier: MIT */
/* mutex.c - the owner-tracking, death-surviving futex mutex of wait.h. */
#include "wait.h"

#include <immintrin.h>

/* Spins before sleeping: a holder on another CPU usually releases within a
 * few hundred nanoseconds, far less than a futex sleep and wake-up. */
#define SPIN_TRIES 100

void
mp__mutex_init(mp__mutex_t *m)
{
    atomic_store(&m->word, 0);
    atomic_store(&m->dead_mark, 0);
}

static uint32_t
self_word(void)
{
    return (uint32_t)mp__getpid() & MP__MUTEX_PID_MASK;
}

/* Tries to take over the word `seen` whose holder is dead. Returns 1 if the
 * caller now holds the mutex. */
static int
take_from_dead(mp__mutex_t *m, uint32_t seen, uint32_t me)
{
    pid_t holder = (pid_t)(seen & MP__MUTEX_PID_MASK);
    if (holder == 0 || (uint32_t)holder == me || mp__plat_pid_alive(holder)) {
        return 0;
    }
    /* Keep the waiters bit: others may be asleep behind the dead holder. */
    uint32_t mine = me | (seen & MP__MUTEX_WAITERS);
    if (!atomic_compare_exchange_strong(&m->word, &seen, mine)) {
        return 0;
    }
    atomic_store(&m->dead_mark, 1);
    return 1;
}

static int
locked_result(mp__mutex_t *m)
{
    return atomic_load_explicit(&m->dead_mark, memory_order_relaxed)
               ? MP_EOWNERDEAD
               : 0;
}

int
mp__mutex_lock(mp__mutex_t *m, int64_t deadline)
{
    uint32_t me = self_word();
    uint32_t expected = 0;
    if (atomic_compare_exchange_strong_explicit(&m->word, &expected, me,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
        return locked_result(m);
    }
    for (int i = 0; i < SPIN_TRIES; i++) {
        _mm_pause();
        expected = atomic_load_explicit(&m->word, memory_order_relaxed);
        if (expected == 0 &&
            atomic_compare_exchange_weak_explicit(&m->word, &expected, me,
                                                  memory_order_acquire,
                                                  memory_order_relaxed)) {
            return locked_result(m);
        }
    }
    for (;;) {
        uint32_t seen = atomic_load(&m->word);
        if (seen == 0) {
            /* We were contended, so others may sleep too: keep the bit. */
            if (atomic_compare_exchange_strong(&m->word, &seen,
                                               me | MP__MUTEX_WAITERS)) {
                return locked_result(m);
            }
            continue;
        }
        if (deadline != MP__NO_DEADLINE && mp__now_ns() >= deadline) {
            /* Out of time (or a try): a dead holder is still taken over. */
            return take_from_dead(m, seen, me) ? MP_EOWNERDEAD : MP_ETIMEDOUT;
        }
        if (!(seen & MP__MUTEX_WAITERS)) {
            if (!atomic_compare_exchange_strong(&m->word, &seen,
                                                seen | MP__MUTEX_WAITERS)) {
                continue;
            }
            seen |= MP__MUTEX_WAITERS;
        }
        int r = mp__wait_slice(&m->word, seen, deadline);
        if (r == 0 && atomic_load(&m->word) != seen) {
            continue; /* woken: the word moved on */
        }
        /* The slice or the deadline ran out with the same holder. */
        if (take_from_dead(m, seen, me)) {
            return MP_EOWNERDEAD;
        }
        if (r == MP_ETIMEDOUT) {
            return MP_ETIMEDOUT;
        }
    }
}

int
mp__mutex_unlock(mp__mutex_t *m)
{
    uint32_t old = atomic_exchange_explicit(&m->word, 0, memory_order_release);
    if (old == 0) {
        return MP_EOVERRELEASE;
    }
    if (old & MP__MUTEX_WAITERS) {
        mp__plat_futex_wake(&m->word, 1);
    }
    return 0;
}

void
mp__mutex_consistent(mp__mutex_t *m)
{
    atomic_store(&m->dead_mark, 0);
}

pid_t
mp__mutex_holder(const mp__mutex_t *m)
{
    uint32_t w = atomic_load((_Atomic uint32_t *)&m->word);
    return (pid_t)(w & MP__MUTEX_PID_MASK);
}

int
mp__wait_slice(_Atomic uint32_t *word, uint32_t expected, int64_t deadline)
{
    int64_t slice_end = mp__now_ns() + MP__OWNER_CHECK_NS;
    if (deadline <= slice_end) {
        return mp__plat_futex_wait(word, expected, deadline);
    }
    int r = mp__plat_futex_wait(word, expected, slice_end);
    return r == MP_ETIMEDOUT ? 0 : r;
}
