/* SPDX-License-Identifier: MIT */
/* wait.c - how a put or get that cannot go on waits: spin (only while
 * the handle's spins pay, mp__spin_*), yield, then sleep on a futex word
 * in slices (mp__queue_wait_step); and the waits
 * only puts make - spinning while consumers drain a full ring, sleeping
 * for it before spilling to the overflow list, and pacing large
 * messages. */
#include "queue_private.h"

#define SPIN_YIELD 16 /* yield iterations before sleeping */
/* A put that finds the ring full (or the overflow in use) first spins while
 * consumers make progress: at most DRAIN_BUDGET pauses, giving up after
 * DRAIN_IDLE pauses without progress (no consumer is running). */
#define DRAIN_BUDGET 4096
#define DRAIN_IDLE 64
/* Then it sleeps until a consumer takes a message, at most this long
 * without consumer progress, before it spills (see full_sleep). */
#define FULL_SLEEP_NS (2 * 1000 * 1000)
/* A put of a large message first waits while PACE_DEPTH messages are
 * queued and consumers take them (large_pace). */
#define PACE_DEPTH 4
#define PACE_SPIN 2000 /* pauses before it sleeps */

int
mp__queue_wait_step(waiter_t *w, mp_queue_t *q, _Atomic uint32_t *seq,
                    _Atomic uint32_t *waiters, bool (*blocked)(mp_queue_t *))
{
    if (w->spins < SPIN_PAUSE) {
        /* A call that may not wait (MP_NO_WAIT) still pauses for a cell
         * a peer is filling or emptying: it has no yield phase. */
        if (w->spins == 0 && !w->nowait && !mp__spin_begin(&q->learn)) {
            w->spins = SPIN_PAUSE; /* spins do not pay here now: yield */
        } else {
            test_hook(MP__QUEUE_HOOK_WAIT_PAUSE);
            cpu_relax();
            if (++w->spins == SPIN_PAUSE) {
                mp__spin_missed(&q->learn); /* the spin ended empty */
            }
            return 0;
        }
    }
    if (w->nowait || mp__now_ns() >= w->deadline) {
        return MP_ETIMEDOUT;
    }
    if (w->spins < SPIN_PAUSE + SPIN_YIELD) {
        w->spins++;
        mp__plat_yield();
        return 0;
    }
    atomic_fetch_add(waiters, 1);
    uint32_t s = atomic_load(seq);
    int r = 0;
    if (blocked(q)) {
        r = mp__wait_slice(seq, s, w->deadline);
    }
    atomic_fetch_sub(waiters, 1);
    if (r == MP_ETIMEDOUT) {
        /* A wake-up meant for a sleeper may have reached us as we gave
         * up: pass it on, or another sleeper would wait out its slice. */
        if (!blocked(q)) {
            wake_one(seq, waiters);
        }
        return MP_ETIMEDOUT;
    }
    return 0;
}

/* The deadline of a wait of at most FULL_SLEEP_NS from now, cut at the
 * put's own deadline. */
static int64_t
short_deadline(const waiter_t *w)
{
    int64_t t = mp__now_ns() + FULL_SLEEP_NS;
    return t < w->deadline ? t : w->deadline;
}

bool
mp__queue_full_sleep(mp_queue_t *q, waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    if (w->nowait || atomic_load_explicit(&q->full_off, memory_order_relaxed)) {
        return false;
    }
    uint64_t prog = cons_progress(h);
    if (w->give_up == 0) {
        w->give_up = short_deadline(w);
    } else if (mp__now_ns() >= w->give_up) {
        atomic_store_explicit(&q->full_off, true, memory_order_relaxed);
        /* A wake-up meant for another sleeper may have reached us. */
        if (ring_has_room(q)) {
            wake_producers(q);
        }
        return false;
    }
    /* Not counted in prod_waiters: see wake_producers. A flag left set by
     * a sleeper that timed out costs one spurious wake-up later. */
    atomic_store(&h->drain_wanted, 1);
    uint32_t s = atomic_load(&h->prod_seq);
    if (!ring_has_room(q)) {
        (void)mp__wait_slice(&h->prod_seq, s, w->give_up);
    }
    if (cons_progress(h) != prog) {
        w->idle = 0; /* consumers run again: drain_wait may spin anew */
        w->budget = 0;
    }
    return true;
}

/* 1 when PACE_DEPTH or more messages are queued. */
static inline bool
pace_blocked(mp_queue_t *q)
{
    return ring_count(q->h) + atomic_load(&q->h->ovf_count) >= PACE_DEPTH;
}

void
mp__queue_large_pace(mp_queue_t *q, const waiter_t *w)
{
    mp__qhdr_t *h = q->h;
    if (!pace_blocked(q)) {
        atomic_store_explicit(&q->pace_off, false, memory_order_relaxed);
        return;
    }
    if (w->nowait || atomic_load_explicit(&q->pace_off, memory_order_relaxed)) {
        return;
    }
    if (mp__spin_begin(&q->learn)) {
        for (unsigned spins = 0; spins < PACE_SPIN; spins++) {
            test_hook(MP__QUEUE_HOOK_WAIT_PAUSE);
            cpu_relax();
            if (!pace_blocked(q)) {
                mp__spin_paid(&q->learn);
                return;
            }
        }
        mp__spin_missed(&q->learn);
    }
    int64_t give_up = short_deadline(w);
    while (pace_blocked(q)) {
        if (mp__now_ns() >= give_up) {
            atomic_store_explicit(&q->pace_off, true, memory_order_relaxed);
            return;
        }
        atomic_fetch_add(&h->prod_waiters, 1);
        uint32_t s = atomic_load(&h->prod_seq);
        if (pace_blocked(q)) {
            (void)mp__wait_slice(&h->prod_seq, s, give_up);
        }
        atomic_fetch_sub(&h->prod_waiters, 1);
    }
}

bool
mp__queue_drain_wait(mp_queue_t *q, waiter_t *w)
{
    uint64_t now = cons_progress(q->h);
    if (now != w->seen) {
        w->seen = now;
        w->idle = 0;
    } else if (++w->idle > DRAIN_IDLE) {
        return false;
    }
    if (++w->budget > DRAIN_BUDGET) {
        return false;
    }
    cpu_relax();
    return true;
}
