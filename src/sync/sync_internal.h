/* SPDX-License-Identifier: MIT */
/* sync_internal.h - what the synchronisation primitives share between their
 * files: a condition variable releases its lock completely while it waits
 * and takes it back at the same recursion depth afterwards. */
#ifndef MP_SYNC_INTERNAL_H
#define MP_SYNC_INTERNAL_H

#include "../shm/shm_internal.h"

#include <stdbool.h>

/* mp__sync_take_one takes one from *count (a Semaphore's value, a
 * Condition's pool of notifications) if it is positive, in one atomic
 * step; returns whether it did. Lock-free; inline for the fast paths. */
static inline bool
mp__sync_take_one(_Atomic uint32_t *count)
{
    uint32_t v = atomic_load(count);
    while (v > 0) {
        if (atomic_compare_exchange_weak(count, &v, v - 1)) {
            return true;
        }
    }
    return false;
}

/* mp__lock_release_all releases every level the calling thread holds of
 * lock (one for a Lock) and stores that depth in *depth. Returns 0, or
 * MP_ENOTOWNER when the calling thread does not hold it. */
int mp__lock_release_all(mp_lock_t *lock, uint32_t *depth);

/* mp__lock_restore takes lock back for the calling thread, waiting as long
 * as it takes, and sets its recursion depth to depth. Returns 0 or
 * MP_EOWNERDEAD (held anyway; the previous holder died). */
int mp__lock_restore(mp_lock_t *lock, uint32_t depth);

/* For the tokens of objects that hold a lock (a Condition, a Value):
 * mp__lock_shobj is the lock's shared half (for mp__token_put_ref), and
 * mp__lock_attach_ref parses a lock's reference at *cur (advancing it)
 * into a new handle. Returns as mp__token_get_ref, or MP_ENOMEM. */
const mp__shobj_t *mp__lock_shobj(const mp_lock_t *lock);
int mp__lock_attach_ref(const char **cur, mp_lock_t **out);

/*--- states in caller-given shared memory (the manager's store) -----------
 * For each kind: mp__X_state_size() is the bytes its state takes (8-byte
 * alignment suffices); mp__X_state_init formats such bytes (zeroed or not)
 * as a new object; mp__X_wrap makes a normal handle on a state that lives
 * elsewhere: the public calls work on it, and its destroy frees only the
 * handle, never the state. Wrappers return 0, MP_EINVAL or MP_ENOMEM. */
size_t mp__lock_state_size(void);
void mp__lock_state_init(void *state, bool recursive);
int mp__lock_wrap(void *state, mp_lock_t **out);
/* Whether a lock state is an RLock. */
bool mp__lock_state_recursive(const void *state);

size_t mp__semaphore_state_size(void);
/* value <= MP_SEM_VALUE_MAX (checked by the caller). */
void mp__semaphore_state_init(void *state, unsigned value, bool bounded);
int mp__semaphore_wrap(void *state, mp_semaphore_t **out);

size_t mp__event_state_size(void);
void mp__event_state_init(void *state);
int mp__event_wrap(void *state, mp_event_t **out);

/* mp__event_wait_checked is mp_event_wait whose sleep is cut into slices
 * of at most 100 ms; after each slice it calls check(arg), and a non-zero
 * answer ends the wait and is returned. The set count is read once, when
 * the wait begins: a set() at any time after it wakes the waiter (returns
 * 0) even if a clear() follows before it looks, as in Python. check NULL:
 * never asked (one sleep to the deadline). */
int mp__event_wait_checked(mp_event_t *ev, mp_duration_t timeout,
                           int (*check)(void *arg), void *arg);
/* mp__event_state_waiters returns how many waits are under way on an
 * event state (each has read the set count it compares with): tests. */
uint32_t mp__event_state_waiters(const void *state);

size_t mp__condition_state_size(void);
void mp__condition_state_init(void *state);
/* lock is the condition's lock: the wrapper uses it but never destroys
 * it (the caller keeps it alive while the wrapper lives). */
int mp__condition_wrap(void *state, mp_lock_t *lock, mp_condition_t **out);

size_t mp__barrier_state_size(void);
/* 1 <= parties <= INT32_MAX (checked by the caller); no default timeout,
 * no action. */
void mp__barrier_state_init(void *state, unsigned parties);
int mp__barrier_wrap(void *state, mp_barrier_t **out);

/* mp__barrier_wait_checked is mp_barrier_wait whose sleep is cut into
 * slices of at most 100 ms; after each slice it calls check(arg), and a
 * non-zero answer breaks the barrier (its waiters get MP_EBROKEN) and is
 * returned. check NULL: never asked. */
int mp__barrier_wait_checked(mp_barrier_t *bar, mp_duration_t timeout,
                             int (*check)(void *arg), void *arg);

#endif /* MP_SYNC_INTERNAL_H */
