/* SPDX-License-Identifier: MIT */
/* mutex.c - the owner-tracking, death-surviving futex mutex of mutex.h. */
#include "mutex.h"

void
mp__mutex_init(mp__mutex_t *m)
{
    atomic_store(&m->word, 0);
    atomic_store(&m->dead_mark, 0);
}

/* Tries to take over the word `seen` whose holder is dead. Returns 1 if the
 * caller now holds the mutex. */
static int
take_from_dead(mp__mutex_t *m, uint64_t seen, uint64_t me)
{
    uint64_t holder = seen & MP__MUTEX_HOLDER_MASK;
    if (holder == 0 || holder == me || mp__plat_ident_alive(holder)) {
        return 0;
    }
    /* Keep the waiters bit: others may be asleep behind the dead holder. */
    uint64_t mine = me | (seen & MP__MUTEX_WAITERS);
    if (!atomic_compare_exchange_strong(&m->word, &seen, mine)) {
        return 0;
    }
    atomic_store(&m->dead_mark, 1);
    return 1;
}

/* The result of a lock that just took m: was its previous holder dead? */
static int
locked_result(mp__mutex_t *m)
{
    return atomic_load_explicit(&m->dead_mark, memory_order_relaxed)
               ? MP_EOWNERDEAD
               : 0;
}

/* The contended path of mp__mutex_lock (mutex.h): sleep in slices with the
 * waiters bit set. It does not spin first: on few CPUs a spinning waiter
 * keeps pulling the word's cache line away from the holder, who then pays
 * a miss on every lock and unlock, while a sleeping one lets the holder
 * run at full speed until the wake-up (pthread_mutex does not spin
 * either). */
int
mp__mutex_lock_slow(mp__mutex_t *m, int64_t deadline, uint64_t me)
{
    for (;;) {
        uint64_t seen;
        if (deadline != MP__NO_DEADLINE && mp__now_ns() >= deadline) {
            /* Out of time (or a try): take a free word or a dead holder's,
             * without marking it (nobody will sleep). */
            seen = atomic_load(&m->word);
            if ((seen & MP__MUTEX_HOLDER_MASK) != 0) {
                return take_from_dead(m, seen, me) ? MP_EOWNERDEAD
                                                   : MP_ETIMEDOUT;
            }
            if (atomic_compare_exchange_strong(
                    &m->word, &seen, me | (seen & MP__MUTEX_WAITERS))) {
                return locked_result(m);
            }
            continue;
        }
        /* Set the waiters bit with one read-modify-write that cannot fail
         * (glibc's mutex exchanges in a 2 for the same reason): a
         * compare-and-swap loop would keep losing against a holder that
         * locks and unlocks in a tight loop, and bounce the line as a spin
         * does. A free word marked this way (no holder) is still free. */
        seen = atomic_fetch_or(&m->word, (uint64_t)MP__MUTEX_WAITERS) |
               MP__MUTEX_WAITERS;
        if ((seen & MP__MUTEX_HOLDER_MASK) == 0) {
            /* Free: take it, keeping the bit, as others may sleep too. */
            if (atomic_compare_exchange_strong(&m->word, &seen,
                                               me | MP__MUTEX_WAITERS)) {
                return locked_result(m);
            }
            continue;
        }
        /* The futex compares the low half (pid and waiters bit); a holder
         * that differs only in its start time ends the slice instead. */
        int r = mp__wait_slice(mp__mutex_futex(m), (uint32_t)seen, deadline);
        if (r != MP_ETIMEDOUT && atomic_load(&m->word) != seen) {
            if (r == MP__PLAT_FUTEX_MOVED) {
                /* The holder unlocked (waking nobody: the bit brought it
                 * into the kernel before we got there) and likely locked
                 * again. Marking the word at once would lock-step the two,
                 * every mark costing the holder a futex wake; give way
                 * once instead (docs/performance.md, "Lock contention:
                 * giving way after a missed sleep"). */
                mp__plat_yield();
            }
            continue; /* the word moved on */
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

void
mp__mutex_wake(mp__mutex_t *m)
{
    mp__plat_futex_wake(mp__mutex_futex(m), 1);
}

void
mp__mutex_consistent(mp__mutex_t *m)
{
    atomic_store(&m->dead_mark, 0);
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
