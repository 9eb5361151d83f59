/* SPDX-License-Identifier: MIT */
/* mutex.h - the internal mutex every shared object is built on: a futex word
 * holding the owner's identity, which survives the death of its owner.
 *
 * Word layout (64 bits): the holder's identity (mp__plat_self_ident: pid
 * in bits 0-29, a tag of the process - its pidfs inode or its start time -
 * in bits 30 and 32-63; 0 = free) and MP__MUTEX_WAITERS
 * (bit 31) set when someone may sleep on it (also, briefly, on a free word:
 * a waiter sets the bit before it looks at the holder). Lock and unlock
 * change the whole word with one atomic operation; sleepers wait on its
 * low 32 bits (pid, tag kind and waiters bit), the futex word. A waiter sleeps
 * in slices; when a slice or its deadline runs out it asks whether the holder
 * still lives (mp__plat_ident_alive: a process that merely got the dead
 * holder's pid does not count), and takes over the word of a dead holder
 * (MP_EOWNERDEAD).
 * So the fast paths are one compare-and-swap each and make no syscall, and
 * a holder killed by SIGKILL delays the others by at most one slice. */
#ifndef MP_MUTEX_H
#define MP_MUTEX_H

#include "../platform/platform.h"

#define MP__MUTEX_WAITERS 0x80000000u
#define MP__MUTEX_PID_MASK MP__PLAT_IDENT_PID_MASK
/* The holder's identity: every bit but the waiters bit. */
#define MP__MUTEX_HOLDER_MASK (~(uint64_t)MP__MUTEX_WAITERS)

/* How long a waiter sleeps before it checks that the holder is alive. */
#define MP__OWNER_CHECK_NS (100 * 1000000LL)

typedef struct mp__mutex {
    _Atomic uint64_t word;      /* shared; see above */
    _Atomic uint32_t dead_mark; /* shared; 1 after a holder died, until
                                   mp__mutex_consistent() */
} mp__mutex_t;

/* The futex word of m: the low 32 bits of its word. */
static inline _Atomic uint32_t *
mp__mutex_futex(mp__mutex_t *m)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (_Atomic uint32_t *)(void *)((char *)&m->word + 4);
#else
    return (_Atomic uint32_t *)(void *)&m->word;
#endif
}

/* mp__mutex_init puts a mutex in shared memory into the free state. */
void mp__mutex_init(mp__mutex_t *m);

/* mp__mutex_lock takes the mutex for the calling process, waiting until
 * deadline. Returns 0, MP_ETIMEDOUT, or MP_EOWNERDEAD: the mutex is held and
 * its previous holder died (or died earlier and nobody has called
 * mp__mutex_consistent since). A deadline in the past means "try once";
 * a try on a mutex held by a dead process still takes it over. */
static inline int mp__mutex_lock(mp__mutex_t *m, int64_t deadline);

/* mp__mutex_lock_slow is mp__mutex_lock after its first compare-and-swap
 * found the mutex taken; me is the caller's identity (mp__mutex_self()). */
int mp__mutex_lock_slow(mp__mutex_t *m, int64_t deadline, uint64_t me);

/* mp__mutex_wake wakes one sleeper of a mutex that was just freed. */
void mp__mutex_wake(mp__mutex_t *m);

/* mp__mutex_unlock frees the mutex and wakes one sleeper if there may be
 * one. Returns 0, or MP_EOVERRELEASE when it was not held. Any process may
 * unlock (Python's Lock has no owner). */
static inline int mp__mutex_unlock(mp__mutex_t *m);

/* mp__mutex_consistent clears the "holder died" mark. */
void mp__mutex_consistent(mp__mutex_t *m);

/* mp__mutex_holder returns the pid holding the mutex, or 0 if free. */
static inline pid_t mp__mutex_holder(const mp__mutex_t *m);

/* mp__mutex_held_by returns whether the process of identity me (from
 * mp__mutex_self()) holds the mutex: not merely a process with its pid. */
static inline bool mp__mutex_held_by(const mp__mutex_t *m, uint64_t me);

/* mp__wait_slice sleeps on word while it equals expected, at most until
 * deadline and at most MP__OWNER_CHECK_NS at a time, so that callers can
 * look for dead peers between slices. Returns 0 (woken or slice over: check
 * your condition), MP__PLAT_FUTEX_MOVED (word already differed: it did not
 * sleep) or MP_ETIMEDOUT (deadline passed). */
int mp__wait_slice(_Atomic uint32_t *word, uint32_t expected, int64_t deadline);

/* The fast paths are inline: an uncontended lock+unlock pair is then two
 * atomic instructions and no call, as close to pthread_mutex as we get. */

/* mp__mutex_self returns the word the calling process stores in a mutex it
 * takes: its identity. */
static inline uint64_t
mp__mutex_self(void)
{
    return mp__plat_self_ident();
}

/* mp__mutex_trylock takes m for me (mp__mutex_self()) with one
 * compare-and-swap if it is free. Returns 0 or MP_EOWNERDEAD (taken, as
 * mp__mutex_lock), or MP_EBUSY: held, nothing changed (not even a dead
 * holder is taken over). */
static inline int
mp__mutex_trylock(mp__mutex_t *m, uint64_t me)
{
    uint64_t expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&m->word, &expected, me,
                                                 memory_order_acquire,
                                                 memory_order_relaxed)) {
        return MP_EBUSY;
    }
    return atomic_load_explicit(&m->dead_mark, memory_order_relaxed)
               ? MP_EOWNERDEAD
               : 0;
}

static inline int
mp__mutex_lock(mp__mutex_t *m, int64_t deadline)
{
    uint64_t me = mp__mutex_self();
    int r = mp__mutex_trylock(m, me);
    return r != MP_EBUSY ? r : mp__mutex_lock_slow(m, deadline, me);
}

static inline int
mp__mutex_unlock(mp__mutex_t *m)
{
    uint64_t old = atomic_exchange_explicit(&m->word, 0, memory_order_release);
    if (old & MP__MUTEX_WAITERS) {
        mp__mutex_wake(m);
    }
    /* A free word may carry the waiters bit (see mp__mutex_lock_slow). */
    return (old & MP__MUTEX_HOLDER_MASK) != 0 ? 0 : MP_EOVERRELEASE;
}

static inline pid_t
mp__mutex_holder(const mp__mutex_t *m)
{
    uint64_t w = atomic_load_explicit((_Atomic uint64_t *)&m->word,
                                      memory_order_acquire);
    return (pid_t)(w & MP__MUTEX_PID_MASK);
}

static inline bool
mp__mutex_held_by(const mp__mutex_t *m, uint64_t me)
{
    uint64_t w = atomic_load_explicit((_Atomic uint64_t *)&m->word,
                                      memory_order_acquire);
    return (w & MP__MUTEX_HOLDER_MASK) == me;
}

#endif /* MP_MUTEX_H */
