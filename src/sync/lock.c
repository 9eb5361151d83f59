/* SPDX-License-Identifier: MIT */
/* lock.c - Lock and RLock: the death-surviving mutex of mutex.h plus the
 * holding thread and, for an RLock, its recursion depth.
 *
 * The mutex records the holding process; owner_tid (a tid, unique across
 * the system while the thread lives) names the thread within it. Both are
 * needed: an RLock belongs to one thread, and a Condition must know whether
 * the calling thread holds its lock. owner_tid and count are written only
 * by the holder, after taking the mutex and before dropping it (and by a
 * release of a free Lock, which writes the zeros they already hold). */
#include "sync_internal.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

typedef struct lock_state {
    mp__mutex_t m;           /* shared; the lock itself */
    _Atomic pid_t owner_tid; /* shared; holding thread, 0 when free */
    _Atomic uint32_t count;  /* shared; recursion depth, written by holder */
    bool recursive;          /* shared; fixed at creation */
} lock_state_t;

struct mp_lock {
    mp__shobj_t obj; /* state: lock_state_t */
};

static int lock_create(mp_lock_t **out, const mp_context_t *ctx,
                       bool recursive);
static bool held_by_me(const lock_state_t *s);
static int lock_take(lock_state_t *s, int64_t deadline, uint32_t depth,
                     bool reenter);
static int lock_drop(lock_state_t *s);

/* The shared state behind a handle. */
static lock_state_t *
state_of(const mp_lock_t *lock)
{
    return lock->obj.state;
}

int
mp_lock_create(mp_lock_t **out)
{
    return lock_create(out, NULL, false);
}

int
mp_rlock_create(mp_lock_t **out)
{
    return lock_create(out, NULL, true);
}

int
mp_context_lock(const mp_context_t *ctx, mp_lock_t **out)
{
    return lock_create(out, ctx, false);
}

int
mp_context_rlock(const mp_context_t *ctx, mp_lock_t **out)
{
    return lock_create(out, ctx, true);
}

int
mp_lock_token(const mp_lock_t *lock, char *buf, size_t buflen)
{
    return mp__shobj_token(lock, MP__KIND_LOCK, buf, buflen, NULL);
}

int
mp_lock_attach(mp_lock_t **out, const char *token)
{
    return mp__shobj_attach((void **)out, sizeof(mp_lock_t), MP__KIND_LOCK,
                            sizeof(lock_state_t), token, NULL);
}

const mp__shobj_t *
mp__lock_shobj(const mp_lock_t *lock)
{
    return &lock->obj;
}

int
mp__lock_attach_ref(const char **cur, mp_lock_t **out)
{
    return mp__shobj_open_ref((void **)out, sizeof(mp_lock_t), MP__KIND_LOCK,
                              sizeof(lock_state_t), cur);
}

int
mp_lock_acquire(mp_lock_t *lock, mp_duration_t timeout)
{
    int64_t deadline = MP__NO_DEADLINE;
    if (lock == NULL) {
        return MP_EINVAL;
    }
    if (timeout != MP_WAIT_FOREVER) {
        int r = mp__deadline(timeout, &deadline);
        if (r != 0) {
            return r;
        }
    }
    return lock_take(state_of(lock), deadline, 1, true);
}

int
mp_lock_release(mp_lock_t *lock)
{
    if (lock == NULL) {
        return MP_EINVAL;
    }
    lock_state_t *s = state_of(lock);
    if (s->recursive) {
        if (!held_by_me(s)) {
            return MP_ENOTOWNER;
        }
        uint32_t depth = atomic_load_explicit(&s->count, memory_order_relaxed);
        if (depth > 1) {
            atomic_store_explicit(&s->count, depth - 1, memory_order_relaxed);
            return 0;
        }
    }
    /* A Lock has no owner: whoever releases it, once. Releasing a free one
     * only clears fields that are already clear, then reports the error. */
    return lock_drop(s);
}

int
mp_lock_consistent(mp_lock_t *lock)
{
    if (lock == NULL) {
        return MP_EINVAL;
    }
    lock_state_t *s = state_of(lock);
    if (!held_by_me(s)) {
        return MP_ENOTOWNER;
    }
    mp__mutex_consistent(&s->m);
    return 0;
}

bool
mp_lock_locked(const mp_lock_t *lock)
{
    return lock != NULL && mp__mutex_holder(&state_of(lock)->m) != 0;
}

bool
mp_lock_is_mine(const mp_lock_t *lock)
{
    return lock != NULL && held_by_me(state_of(lock));
}

int
mp_lock_recursion(const mp_lock_t *lock)
{
    if (lock == NULL) {
        return MP_EINVAL;
    }
    const lock_state_t *s = state_of(lock);
    if (mp__mutex_holder(&s->m) == 0) {
        return 0;
    }
    if (!s->recursive) {
        return 1;
    }
    return (int)atomic_load((_Atomic uint32_t *)&s->count);
}

void
mp_lock_destroy(mp_lock_t *lock)
{
    mp__shobj_destroy(lock);
}

int
mp__lock_release_all(mp_lock_t *lock, uint32_t *depth)
{
    lock_state_t *s = state_of(lock);
    if (!held_by_me(s)) {
        return MP_ENOTOWNER;
    }
    *depth = s->recursive ? atomic_load(&s->count) : 1;
    return lock_drop(s);
}

int
mp__lock_restore(mp_lock_t *lock, uint32_t depth)
{
    return lock_take(state_of(lock), MP__NO_DEADLINE, depth, false);
}

/* Allocates a free lock of either kind, of context ctx (NULL: the
 * default), into *out. */
static int
lock_create(mp_lock_t **out, const mp_context_t *ctx, bool recursive)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    mp_lock_t *lock;
    int err = mp__shobj_new((void **)&lock, sizeof *lock, MP__KIND_LOCK, ctx,
                            sizeof(lock_state_t));
    if (err != 0) {
        return err;
    }
    mp__lock_state_init(state_of(lock), recursive);
    *out = lock;
    return 0;
}

/* The calling thread's tid, cached with the pid it was read in: a forked
 * child's thread has another tid, and its pid tells us so. The
 * initial-exec model makes this a plain %fs access; the default model of a
 * shared library calls __tls_get_addr, a visible part of a lock's cost. */
static _Thread_local struct tid_cache {
    pid_t pid;
    pid_t tid;
} tid_cache __attribute__((tls_model("initial-exec")));

/* The calling thread's tid; pid is the calling process's. */
static pid_t
my_tid(pid_t pid)
{
    if (tid_cache.pid != pid) {
        tid_cache.tid = mp__gettid();
        tid_cache.pid = pid;
    }
    return tid_cache.tid;
}

/* Does the calling thread hold the lock? The identity check guards against
 * a tid that a dead holder's thread left behind being reused here (also by
 * a process that got the dead holder's pid). me is mp__mutex_self(). */
static bool
held_by(const lock_state_t *s, uint64_t me)
{
    return mp__mutex_held_by(&s->m, me) &&
           atomic_load_explicit((_Atomic pid_t *)&s->owner_tid,
                                memory_order_relaxed) ==
               my_tid(mp__plat_ident_pid(me));
}

/* held_by() for the calling process. */
static bool
held_by_me(const lock_state_t *s)
{
    return held_by(s, mp__mutex_self());
}

/* Takes the mutex until deadline and, once held (also after a dead
 * holder), records the calling thread as owner at recursion depth. With
 * reenter, an RLock the calling thread holds gains one level instead. */
static int
lock_take(lock_state_t *s, int64_t deadline, uint32_t depth, bool reenter)
{
    uint64_t me = mp__mutex_self();
    /* Try the free case first: a free RLock is not ours, and one
     * compare-and-swap moves a contended cache line once, not twice. */
    int r = mp__mutex_trylock(&s->m, me);
    if (r == MP_EBUSY) {
        if (reenter && s->recursive && held_by(s, me)) {
            /* Only this thread writes count while it holds the lock. */
            uint32_t n = atomic_load_explicit(&s->count, memory_order_relaxed);
            if (n >= INT_MAX) {
                return MP_EOVERFLOW;
            }
            atomic_store_explicit(&s->count, n + 1, memory_order_relaxed);
            return 0;
        }
        r = mp__mutex_lock_slow(&s->m, deadline, me);
    }
    if (r == 0 || r == MP_EOWNERDEAD) {
        /* Relaxed: the mutex's acquire and release order these for every
         * other holder, and nobody else writes them meanwhile. */
        atomic_store_explicit(&s->owner_tid, my_tid(mp__plat_ident_pid(me)),
                              memory_order_relaxed);
        atomic_store_explicit(&s->count, depth, memory_order_relaxed);
    }
    return r;
}

/* Forgets the owner and frees the mutex; the caller has checked that it
 * may. Returns 0, or MP_EOVERRELEASE if it was not held. */
static int
lock_drop(lock_state_t *s)
{
    atomic_store_explicit(&s->owner_tid, 0, memory_order_relaxed);
    atomic_store_explicit(&s->count, 0, memory_order_relaxed);
    return mp__mutex_unlock(&s->m);
}

/*--- states in caller-given memory (sync_internal.h) ----------------------*/

size_t
mp__lock_state_size(void)
{
    return sizeof(lock_state_t);
}

void
mp__lock_state_init(void *state, bool recursive)
{
    lock_state_t *s = state;
    memset(s, 0, sizeof *s);
    mp__mutex_init(&s->m);
    s->recursive = recursive;
}

bool
mp__lock_state_recursive(const void *state)
{
    return ((const lock_state_t *)state)->recursive;
}

int
mp__lock_wrap(void *state, mp_lock_t **out)
{
    return mp__shobj_wrap((void **)out, sizeof(mp_lock_t), state);
}
