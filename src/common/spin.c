/* SPDX-License-Identifier: MIT */
/* spin.c - learning whether a bounded spin pays (mp__spin_*): the one
 * policy by which a waiter that spins before it sleeps (a connection's
 * receive, a queue handle's put or get) stops spinning while its spins
 * keep ending empty, and starts again once one catches what it waited for.
 * Pure bookkeeping: no clock and no OS call. */
#include "mp_internal.h"

/* Spins in a row that may end empty before the waiter rests. */
#define SPIN_MISSES 3
/* The first rest (waits that sleep without spinning), and the longest:
 * each probe that misses doubles the next rest up to SPIN_REST_MAX. */
#define SPIN_REST_MIN 8
#define SPIN_REST_MAX 1024

#define RELAXED memory_order_relaxed

bool
mp__spin_begin(mp__spin_learn_t *l)
{
    uint16_t rest = atomic_load_explicit(&l->rest, RELAXED);
    if (rest == 0) {
        return true;
    }
    atomic_store_explicit(&l->rest, (uint16_t)(rest - 1), RELAXED);
    return false;
}

void
mp__spin_missed(mp__spin_learn_t *l)
{
    uint16_t misses = atomic_load_explicit(&l->misses, RELAXED);
    if (misses + 1 < SPIN_MISSES) {
        atomic_store_explicit(&l->misses, (uint16_t)(misses + 1), RELAXED);
        return;
    }
    /* Rest now; a probe after the rest that misses too rests again at
     * once, twice as long. */
    atomic_store_explicit(&l->misses, (uint16_t)(SPIN_MISSES - 1), RELAXED);
    uint16_t next = atomic_load_explicit(&l->backoff, RELAXED);
    if (next < SPIN_REST_MIN) {
        next = SPIN_REST_MIN;
    }
    atomic_store_explicit(&l->rest, next, RELAXED);
    if (next < SPIN_REST_MAX) {
        next = (uint16_t)(next * 2);
    }
    atomic_store_explicit(&l->backoff, next, RELAXED);
}

void
mp__spin_paid(mp__spin_learn_t *l)
{
    if (atomic_load_explicit(&l->misses, RELAXED) != 0) {
        atomic_store_explicit(&l->misses, 0, RELAXED);
    }
    if (atomic_load_explicit(&l->backoff, RELAXED) > SPIN_REST_MIN) {
        atomic_store_explicit(&l->backoff, SPIN_REST_MIN, RELAXED);
    }
}
