/* SPDX-License-Identifier: MIT */
/* multiproc/sync.h - the synchronisation objects: Lock, RLock, Semaphore,
 * BoundedSemaphore, Condition, Event, Barrier. Included by multiproc.h;
 * including it alone works too. */
#ifndef MULTIPROC_SYNC_H
#define MULTIPROC_SYNC_H

#include "common.h"
#include "process.h"

#ifdef __cplusplus
extern "C" {
#endif

/*===== Tokens and contexts =================================================*/

/* Every object of this header and of multiproc/values.h is bound to a
 * context (mp_context_t, multiproc/process.h): the plain _create calls use
 * the default one (and so fix the default start method, as Python's
 * Lock() does), the mp_context_* calls the one given (NULL: the default).
 * An object of the spawn or forkserver context has a token: text of at
 * most MP_TOKEN_MAX bytes, terminator included, that mp_*_token
 * writes and mp_*_attach opens, in any process of the same user:
 * a spawn or forkserver child (pass it in the process's argument bytes),
 * or a program that was never forked from the creator. The token names
 * the object until its creator destroys it or the creator's whole process
 * tree is gone (no shared-memory name outlives the objects: see
 * docs/design.md, "Contexts and tokens").
 *
 * mp_*_token returns 0 or MP_EINVAL (NULL object or buf),
 * MP_ERANGE (buflen too small), MP_ECONTEXT (an object of the fork
 * context, or one with a lock of the fork context: it reaches only
 * children forked after it; Python raises RuntimeError there too),
 * and for a barrier with an action, MP_ENOTSUP when the action has an
 * argument (a pointer does not cross an exec) or cannot be named
 * (mp_register_function).
 *
 * mp_*_attach makes a new handle on the object a token names.
 * Returns 0 or MP_EINVAL (NULL out, not a token of that kind of object),
 * MP_ECLOSED (no such object any more: destroyed, its tree gone, or a
 * forged token), MP_ENOMEM, MP_EACCES (another user's). The handle is
 * destroyed as a forked child's copy is: its destroy never frees the
 * object. Context: any process, any thread. Python: pickling a
 * multiprocessing object to a spawned child. MP_TOKEN_MAX: see
 * multiproc/common.h. */

/*===== Locks: Lock and RLock ===============================================*/

/* One type for both: a Lock (not recursive, any process may release it) and
 * an RLock (recursive, owned by the acquiring thread). Both survive the death
 * of their holder: the next acquirer gets the lock with MP_EOWNERDEAD, also
 * when the dead holder's pid has been given to a new process meanwhile (a
 * holder is its pid and its pidfd's inode number, or before Linux 6.9 its
 * start time: there a pid reused within the same 10 ms clock tick is not
 * told apart; see docs/design.md). */
typedef struct mp_lock mp_lock_t;

/* mp_lock_create makes a Lock, mp_rlock_create an RLock, both unlocked.
 * Returns 0 or MP_EINVAL (NULL out), MP_ENOMEM. Context: any process, any
 * thread; the lock is shared with the children forked after it. */
MP_EXTERN int mp_lock_create(mp_lock_t **out);
MP_EXTERN int mp_rlock_create(mp_lock_t **out);

/* mp_lock_acquire takes the lock, waiting up to timeout. An RLock already
 * held by the calling thread is taken once more. Returns 0, MP_ETIMEDOUT
 * (not acquired; also for MP_NO_WAIT on a held lock), MP_EOWNERDEAD (the
 * holder died while holding it: the caller now holds it, and should repair
 * the state and call mp_lock_consistent), MP_EINVAL. Context: any process
 * that has the lock, any thread. */
MP_EXTERN int mp_lock_acquire(mp_lock_t *lock, mp_duration_t timeout);

/* mp_lock_release releases the lock (an RLock: one level). Returns 0,
 * MP_EOVERRELEASE (a Lock that is not held), MP_ENOTOWNER (an RLock not held
 * by the calling thread), MP_EINVAL. Context: any process that has the
 * lock, any thread (a Lock: any thread of any process, as Python's; an
 * RLock: its holding thread). */
MP_EXTERN int mp_lock_release(mp_lock_t *lock);

/* mp_lock_consistent marks the state a lock protects as repaired after
 * MP_EOWNERDEAD. Until it is called, every acquirer gets MP_EOWNERDEAD (with
 * the lock). Returns 0 or MP_ENOTOWNER (the caller does not hold it),
 * MP_EINVAL (NULL). Context: the thread that holds the lock, in any process
 * that has it. */
MP_EXTERN int mp_lock_consistent(mp_lock_t *lock);

/* mp_lock_locked tells whether someone holds the lock (false for NULL).
 * Context: any process that has the lock, any thread. */
MP_EXTERN bool mp_lock_locked(const mp_lock_t *lock);

/* mp_lock_is_mine tells whether the calling thread holds the lock (for a
 * Lock: it was the last to acquire it and has not released it); false for
 * NULL. Context: any process that has the lock, any thread. */
MP_EXTERN bool mp_lock_is_mine(const mp_lock_t *lock);

/* mp_lock_recursion returns how many times an RLock is held (0 if free;
 * 0 or 1 for a Lock), or MP_EINVAL (NULL). Context: any process that has
 * the lock, any thread. */
MP_EXTERN int mp_lock_recursion(const mp_lock_t *lock);

/* mp_lock_destroy frees the lock. In the creating process it also frees the
 * shared state, so call it once no other process uses the lock; in any other
 * process it only drops the local handle. NULL is ignored. Context: any
 * process that has the lock. */
MP_EXTERN void mp_lock_destroy(mp_lock_t *lock);

/* mp_context_lock and mp_context_rlock are mp_lock_create and
 * mp_rlock_create in context ctx (NULL: the default); they also return
 * MP_EINVAL for a ctx whose method is outside the enum. Python:
 * ctx.Lock(), ctx.RLock(). mp_lock_token and mp_lock_attach: see "Tokens
 * and contexts" above. Context: any process, any thread (the token: any
 * process that has the lock). */
MP_EXTERN int mp_context_lock(const mp_context_t *ctx, mp_lock_t **out);
MP_EXTERN int mp_context_rlock(const mp_context_t *ctx, mp_lock_t **out);
MP_EXTERN int mp_lock_token(const mp_lock_t *lock, char *buf, size_t buflen);
MP_EXTERN int mp_lock_attach(mp_lock_t **out, const char *token);

/*===== Semaphores: Semaphore and BoundedSemaphore ==========================*/

typedef struct mp_semaphore mp_semaphore_t;

#define MP_SEM_VALUE_MAX 2147483647

/* mp_semaphore_create makes a counter starting at value; releases may raise
 * it up to MP_SEM_VALUE_MAX. mp_bounded_semaphore_create makes one that may
 * never exceed value. Returns 0 or MP_EINVAL (NULL out, value above
 * MP_SEM_VALUE_MAX), MP_ENOMEM. Context: any process, any thread; the
 * semaphore is shared with the children forked after it. */
MP_EXTERN int mp_semaphore_create(mp_semaphore_t **out, unsigned value);
MP_EXTERN int mp_bounded_semaphore_create(mp_semaphore_t **out, unsigned value);

/* mp_semaphore_acquire decrements the counter, waiting up to timeout for it
 * to be positive. Returns 0, MP_ETIMEDOUT, MP_EINVAL. Context: any process
 * that has the semaphore, any thread. */
MP_EXTERN int mp_semaphore_acquire(mp_semaphore_t *sem, mp_duration_t timeout);

/* mp_semaphore_release increments the counter and wakes one waiter. Returns
 * 0, MP_EOVERRELEASE (a bounded semaphore at its initial value),
 * MP_EOVERFLOW (at MP_SEM_VALUE_MAX), MP_EINVAL. Context: any process that
 * has the semaphore, any thread; async-signal-safe (as sem_post). */
MP_EXTERN int mp_semaphore_release(mp_semaphore_t *sem);

/* mp_semaphore_get_value returns the counter (>= 0) or MP_EINVAL. Context:
 * any process that has the semaphore, any thread; async-signal-safe. */
MP_EXTERN int mp_semaphore_get_value(const mp_semaphore_t *sem);

/* Same ownership rule as mp_lock_destroy. NULL is ignored. Context: any
 * process that has the semaphore. */
MP_EXTERN void mp_semaphore_destroy(mp_semaphore_t *sem);

/* The semaphores in context ctx (NULL: the default), as mp_context_lock;
 * their token calls: see "Tokens and contexts" above. Python:
 * ctx.Semaphore(value), ctx.BoundedSemaphore(value). Context: any process,
 * any thread (the token: any process that has the semaphore). */
MP_EXTERN int mp_context_semaphore(const mp_context_t *ctx,
                                   mp_semaphore_t **out, unsigned value);
MP_EXTERN int mp_context_bounded_semaphore(const mp_context_t *ctx,
                                           mp_semaphore_t **out,
                                           unsigned value);
MP_EXTERN int mp_semaphore_token(const mp_semaphore_t *sem, char *buf,
                                 size_t buflen);
MP_EXTERN int mp_semaphore_attach(mp_semaphore_t **out, const char *token);

/*===== Conditions ==========================================================*/

typedef struct mp_condition mp_condition_t;

/* mp_condition_create makes a condition variable bound to lock (a Lock or an
 * RLock the caller keeps alive for the condition's lifetime), or to a new
 * RLock of its own when lock is NULL. Returns 0, MP_EINVAL, MP_ENOMEM.
 * Context: any process, any thread; the condition is shared with the
 * children forked after it. */
MP_EXTERN int mp_condition_create(mp_condition_t **out, mp_lock_t *lock);

/* The condition's lock, to acquire and release around waits and notifies:
 * mp_condition_get_lock returns it (NULL for NULL), mp_condition_acquire
 * and mp_condition_release are mp_lock_acquire and mp_lock_release on it.
 * Context: any process that has the condition, any thread. */
MP_EXTERN mp_lock_t *mp_condition_get_lock(mp_condition_t *cond);
MP_EXTERN int mp_condition_acquire(mp_condition_t *cond, mp_duration_t timeout);
MP_EXTERN int mp_condition_release(mp_condition_t *cond);

/* mp_condition_wait releases the lock (all levels of an RLock), waits up to
 * timeout for a notify, and takes the lock back before returning, whatever
 * the result. Returns 0 (notified), MP_ETIMEDOUT, MP_ENOTOWNER (the caller
 * does not hold the lock; nothing waited), MP_EOWNERDEAD (notified or timed
 * out, but the lock's previous holder died: the caller holds it), MP_EINVAL.
 * A waiter whose notifier died is not held past its timeout. Context: any
 * process that has the condition, the thread that holds its lock. */
MP_EXTERN int mp_condition_wait(mp_condition_t *cond, mp_duration_t timeout);

/* A predicate for mp_condition_wait_for: non-zero means "done". */
typedef int (*mp_predicate_fn)(void *arg);

/* mp_condition_wait_for waits until pred(arg) is non-zero, checking it with
 * the lock held first and after every wake-up, for up to timeout in all.
 * Returns 0 (the predicate holds), MP_ETIMEDOUT (it still does not), or the
 * errors of mp_condition_wait. Context: as mp_condition_wait; pred runs in
 * the calling thread with the lock held. */
MP_EXTERN int mp_condition_wait_for(mp_condition_t *cond, mp_predicate_fn pred,
                                    void *arg, mp_duration_t timeout);

/* mp_condition_notify wakes up to n waiters; mp_condition_notify_all wakes
 * them all. The caller must hold the lock. Never blocks. Returns 0,
 * MP_ENOTOWNER, MP_EINVAL. Context: any process that has the condition,
 * the thread that holds its lock. */
MP_EXTERN int mp_condition_notify(mp_condition_t *cond, unsigned n);
MP_EXTERN int mp_condition_notify_all(mp_condition_t *cond);

/* Same ownership rule as mp_lock_destroy; the lock given at creation is not
 * destroyed. NULL is ignored. Context: any process that has the
 * condition. */
MP_EXTERN void mp_condition_destroy(mp_condition_t *cond);

/* mp_context_condition is mp_condition_create in context ctx (NULL: the
 * default); a new lock is of that context too. Its token names the
 * condition and its lock, and the handle mp_condition_attach makes has a
 * handle of the lock of its own (mp_condition_get_lock). See "Tokens and
 * contexts" above. Python: ctx.Condition(lock). Context: any process, any
 * thread (the token: any process that has the condition). */
MP_EXTERN int mp_context_condition(const mp_context_t *ctx,
                                   mp_condition_t **out, mp_lock_t *lock);
MP_EXTERN int mp_condition_token(const mp_condition_t *cond, char *buf,
                                 size_t buflen);
MP_EXTERN int mp_condition_attach(mp_condition_t **out, const char *token);

/*===== Events ==============================================================*/

typedef struct mp_event mp_event_t;

/* mp_event_create makes an event flag, initially clear. Returns 0 or
 * MP_EINVAL (NULL out), MP_ENOMEM. Context: any process, any thread; the
 * event is shared with the children forked after it. */
MP_EXTERN int mp_event_create(mp_event_t **out);

/* mp_event_set sets the flag and wakes every waiter; mp_event_clear clears
 * it. Both return 0 or MP_EINVAL. Context: any process that has the event,
 * any thread; async-signal-safe. */
MP_EXTERN int mp_event_set(mp_event_t *ev);
MP_EXTERN int mp_event_clear(mp_event_t *ev);

/* mp_event_is_set tells whether the flag is set (false for NULL). Context:
 * any process that has the event, any thread; async-signal-safe. */
MP_EXTERN bool mp_event_is_set(const mp_event_t *ev);

/* mp_event_wait returns 0 once the flag is set (at once if it is),
 * MP_ETIMEDOUT if it was not set within timeout, or MP_EINVAL. Context: any
 * process that has the event, any thread. */
MP_EXTERN int mp_event_wait(mp_event_t *ev, mp_duration_t timeout);

/* Same ownership rule as mp_lock_destroy. NULL is ignored. Context: any
 * process that has the event. */
MP_EXTERN void mp_event_destroy(mp_event_t *ev);

/* mp_context_event is mp_event_create in context ctx (NULL: the default);
 * the token calls: see "Tokens and contexts" above. Python: ctx.Event().
 * Context: any process, any thread (the token: any process that has the
 * event). */
MP_EXTERN int mp_context_event(const mp_context_t *ctx, mp_event_t **out);
MP_EXTERN int mp_event_token(const mp_event_t *ev, char *buf, size_t buflen);
MP_EXTERN int mp_event_attach(mp_event_t **out, const char *token);

/*===== Barriers ============================================================*/

typedef struct mp_barrier mp_barrier_t;

/* Run once per generation by the last process to arrive, before anyone is
 * released. A non-zero return breaks the barrier. */
typedef int (*mp_barrier_action_fn)(void *arg);

typedef struct mp_barrier_opts {
    size_t size; /* sizeof(mp_barrier_opts_t): set by MP_BARRIER_OPTS_INIT */
    mp_barrier_action_fn action; /* NULL: none */
    void *action_arg;
    mp_duration_t timeout; /* default for MP_WAIT_DEFAULT; 0 means forever */
} mp_barrier_opts_t;
/* MP_BARRIER_OPTS_INIT: an mp_barrier_opts_t with its size set and every other
 * field at its default (see common.h, "Options structs"). */
#define MP_BARRIER_OPTS_INIT MP__OPTS_INIT(mp_barrier_opts_t)

/* mp_barrier_create makes a barrier for parties waiters (at least 1).
 * Returns 0, MP_EINVAL (NULL out, no parties, opts not initialised with
 * MP_BARRIER_OPTS_INIT: a wrong size), MP_ENOMEM. Context: any process, any
 * thread; the barrier (its action too) is shared with the children forked after
 * it. */
MP_EXTERN int mp_barrier_create(mp_barrier_t **out, unsigned parties,
                                const mp_barrier_opts_t *opts);

/* mp_barrier_wait waits until parties callers have arrived, then returns a
 * distinct index 0..parties-1 to each (exactly one gets 0). Errors:
 * MP_ETIMEDOUT (this caller timed out; the barrier is now broken),
 * MP_EBROKEN (the barrier is or became broken: aborted, reset while waiting,
 * a peer timed out, or the action failed), MP_EINVAL. Context: any process
 * that has the barrier, any thread; not from the barrier's own action (it
 * runs with the barrier's lock held). */
MP_EXTERN int mp_barrier_wait(mp_barrier_t *bar, mp_duration_t timeout);

/* mp_barrier_abort breaks the barrier: current and future waiters get
 * MP_EBROKEN until mp_barrier_reset, which makes it usable again (current
 * waiters get MP_EBROKEN). Both return 0 or MP_EINVAL. Context: any
 * process that has the barrier, any thread; not from its action. */
MP_EXTERN int mp_barrier_abort(mp_barrier_t *bar);
MP_EXTERN int mp_barrier_reset(mp_barrier_t *bar);

/* mp_barrier_parties and mp_barrier_n_waiting return the parties and the
 * number now waiting, or MP_EINVAL for NULL; mp_barrier_broken tells
 * whether the barrier is broken (false for NULL). Context: any process that
 * has the barrier, any thread, its action too. */
MP_EXTERN int mp_barrier_parties(const mp_barrier_t *bar);
MP_EXTERN int mp_barrier_n_waiting(const mp_barrier_t *bar);
MP_EXTERN bool mp_barrier_broken(const mp_barrier_t *bar);

/* Same ownership rule as mp_lock_destroy. NULL is ignored. Context: any
 * process that has the barrier. */
MP_EXTERN void mp_barrier_destroy(mp_barrier_t *bar);

/* mp_context_barrier is mp_barrier_create in context ctx (NULL: the
 * default); the token calls: see "Tokens and contexts" above. A barrier
 * whose action has no argument keeps it in its token as a checked function
 * reference: the attaching process resolves it (attach fails with
 * MP_ENOENT or MP_EPROTO when it names no code of that process), and
 * whichever process arrives last runs it, with a NULL argument. Python:
 * ctx.Barrier(parties, action, timeout). Context: any process, any thread
 * (the token: any process that has the barrier). */
MP_EXTERN int mp_context_barrier(const mp_context_t *ctx, mp_barrier_t **out,
                                 unsigned parties,
                                 const mp_barrier_opts_t *opts);
MP_EXTERN int mp_barrier_token(const mp_barrier_t *bar, char *buf,
                               size_t buflen);
MP_EXTERN int mp_barrier_attach(mp_barrier_t **out, const char *token);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_SYNC_H */
