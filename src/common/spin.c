/* SPDX-License-Identifier: MIT */
/* spin.c - learning whether a bounded spin pays (mp__spin_*): the one
 * policy by which a waiter that spins before it sleeps (a connection's
 * receive, a queue handle's put or get) stops spinning while its spins
 * end empty more often than they pay, and starts again once they pay.
 * Pure bookkeeping: no clock and no OS call. */
#include "mp_internal.h"

/* What a spin that ends empty adds to the waiter's debt, and the debt at
 * which it rests: SPIN_DEBT_MAX / SPIN_MISS_COST misses in a row, or one
 * miss in fewer than SPIN_MISS_COST spins that pay, over time. A miss can
 * cost much more than a paying spin saves (where a stranger ran at the
 * spinner's yield, a whole time slice against a wake-up's few us), hence
 * the weight. */
#define SPIN_MISS_COST 8
#define SPIN_DEBT_MAX 24
/* The first rest (waits that sleep without spinning), and the longest:
 * each probe that misses doubles the next rest up to SPIN_REST_MAX, until
 * spins pay the debt off. */
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
    uint16_t debt = atomic_load_explicit(&l->debt, RELAXED);
    debt = (uint16_t)(debt + SPIN_MISS_COST);
    if (debt < SPIN_DEBT_MAX) {
        atomic_store_explicit(&l->debt, debt, RELAXED);
        return;
    }
    /* Rest now; a probe after the rest that misses too rests again at
     * once, twice as long. */
    atomic_store_explicit(&l->debt, SPIN_DEBT_MAX - SPIN_MISS_COST, RELAXED);
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
    uint16_t debt = atomic_load_explicit(&l->debt, RELAXED);
    if (debt > 0) {
        debt--;
        atomic_store_explicit(&l->debt, debt, RELAXED);
    }
    if (debt == 0 &&
        atomic_load_explicit(&l->backoff, RELAXED) > SPIN_REST_MIN) {
        /* Paid off: the next rest starts short again. */
        atomic_store_explicit(&l->backoff, SPIN_REST_MIN, RELAXED);
    }
}
