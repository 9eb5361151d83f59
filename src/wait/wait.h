/* SPDX-License-Identifier: MIT */
/* wait.h - the internal mutex every shared object is built on: a futex word
 * holding the owner's pid, which survives the death of its owner.
 *
 * Word layout: 0 = free; otherwise the holder's pid in the low 30 bits and
 * MP__MUTEX_WAITERS set when someone may sleep on it. A waiter sleeps in
 * slices; when a slice or its deadline runs out it asks whether the holder
 * still exists, and takes over the word of a dead holder (MP_EOWNERDEAD).
 * So the fast paths are one compare-and-swap each and make no syscall, and
 * a holder killed by SIGKILL delays the others by at most one slice. */
#ifndef MP_WAIT_H
#define MP_WAIT_H

#include "../platform/platform.h"

#define MP__MUTEX_WAITERS 0x80000000u
#define MP__MUTEX_PID_MASK 0x3fffffffu

/* How long a waiter sleeps before it checks that the holder is alive. */
#define MP__OWNER_CHECK_NS (100 * 1000000LL)

typedef struct mp__mutex {
    _Atomic uint32_t word;      /* shared; see above */
    _Atomic uint32_t dead_mark; /* shared; 1 after a holder died, until
                                   mp__mutex_consistent() */
} mp__mutex_t;

/* mp__mutex_init puts a mutex in shared memory into the free state. */
void mp__mutex_init(mp__mutex_t *m);

/* mp__mutex_lock takes the mutex for the calling process, waiting until
 * deadline. Returns 0, MP_ETIMEDOUT, or MP_EOWNERDEAD: the mutex is held and
 * its previous holder died (or died earlier and nobody has called
 * mp__mutex_consistent since). A deadline in the past means "try once";
 * a try on a mutex held by a dead process still takes it over. */
int mp__mutex_lock(mp__mutex_t *m, int64_t deadline);

/* mp__mutex_unlock frees the mutex and wakes one sleeper if there may be
 * one. Returns 0, or MP_EOVERRELEASE when it was not held. Any process may
 * unlock (Python's Lock has no owner). */
int mp__mutex_unlock(mp__mutex_t *m);

/* mp__mutex_consistent clears the "holder died" mark. */
void mp__mutex_consistent(mp__mutex_t *m);

/* mp__mutex_holder returns the pid holding the mutex, or 0 if free. */
pid_t mp__mutex_holder(const mp__mutex_t *m);

/* mp__wait_until sleeps on word while it equals expected, at most until
 * deadline and at most MP__OWNER_CHECK_NS at a time, so that callers can
 * look for dead peers between slices. Returns 0 (woken or slice over: check
 * your condition) or MP_ETIMEDOUT (deadline passed). */
int mp__wait_slice(_Atomic uint32_t *word, uint32_t expected, int64_t deadline);

#endif /* MP_WAIT_H */
