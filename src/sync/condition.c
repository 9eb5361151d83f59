/* SPDX-License-Identifier: MIT */
/* condition.c - Condition: a wait/notify channel bound to a Lock or RLock.
 *
 * The shared state is a notify sequence number (the futex word), the count
 * of waiters not yet notified (changed only by the holder of the lock), and
 * a pool of tokens: notify(n) moves up to n waiters from the count into the
 * pool, and a waiter returns "notified" only by taking a token. Tokens are
 * fungible, so whichever waiter takes one, the books stay right. notify()
 * never waits for the woken (Python's does): a waiter that dies must not
 * wedge its notifier. A dead waiter only leaves one token that a later
 * waiter takes as an early wake-up, which condition users tolerate. */
#include "sync_internal.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>

typedef struct cond_state {
    _Atomic uint32_t seq;    /* shared; bumped by notify, futex word */
    uint32_t nwaiters;       /* shared; guarded by the condition's lock */
    _Atomic uint32_t tokens; /* shared; notifications not yet taken */
} cond_state_t;

struct mp_condition {
    mp__shobj_t obj; /* state: cond_state_t */
    mp_lock_t *lock; /* the caller's lock, or own_lock's */
    bool own_lock;   /* lock was made here and is destroyed here */
};

static int cond_wait_until(mp_condition_t *cond, int64_t deadline);

/* The shared state behind a handle. */
static cond_state_t *
state_of(const mp_condition_t *cond)
{
    return cond->obj.state;
}

int
mp_condition_create(mp_condition_t **out, mp_lock_t *lock)
{
    return mp_context_condition(NULL, out, lock);
}

int
mp_condition_token(const mp_condition_t *cond, char *buf, size_t buflen)
{
    size_t pos;
    int err = mp__shobj_token(cond, MP__KIND_CONDITION, buf, buflen, &pos);
    if (err == 0) {
        err = mp__token_put_ref(buf, buflen, &pos, mp__lock_shobj(cond->lock));
    }
    return err;
}

int
mp_condition_attach(mp_condition_t **out, const char *token)
{
    const char *cur;
    mp_condition_t *cond;
    int err = mp__shobj_attach((void **)&cond, sizeof *cond, MP__KIND_CONDITION,
                               sizeof(cond_state_t), token, &cur);
    if (err != 0) {
        return err;
    }
    err = mp__lock_attach_ref(&cur, &cond->lock);
    if (err == 0 && (err = mp__token_end(cur)) != 0) {
        mp_lock_destroy(cond->lock);
    }
    if (err != 0) {
        mp__shobj_release(&cond->obj); /* the handle's, not the object */
        mp__free(cond);
        return err;
    }
    cond->own_lock = true; /* the handle, never the state (creator 0) */
    *out = cond;
    return 0;
}

int
mp_context_condition(const mp_context_t *ctx, mp_condition_t **out,
                     mp_lock_t *lock)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    mp_condition_t *cond;
    int r = mp__shobj_new((void **)&cond, sizeof *cond, MP__KIND_CONDITION, ctx,
                          sizeof(cond_state_t));
    if (r != 0) {
        return r;
    }
    cond->lock = lock;
    if (lock == NULL) {
        r = mp_context_rlock(ctx, &cond->lock);
        if (r != 0) {
            goto fail;
        }
        cond->own_lock = true;
    }
    *out = cond;
    return 0;
fail:
    mp__shobj_release(&cond->obj);
    mp__free(cond);
    return r;
}

mp_lock_t *
mp_condition_get_lock(mp_condition_t *cond)
{
    return cond != NULL ? cond->lock : NULL;
}

int
mp_condition_acquire(mp_condition_t *cond, mp_duration_t timeout)
{
    if (cond == NULL) {
        return MP_EINVAL;
    }
    return mp_lock_acquire(cond->lock, timeout);
}

int
mp_condition_release(mp_condition_t *cond)
{
    if (cond == NULL) {
        return MP_EINVAL;
    }
    return mp_lock_release(cond->lock);
}

int
mp_condition_wait(mp_condition_t *cond, mp_duration_t timeout)
{
    int64_t deadline;
    if (cond == NULL) {
        return MP_EINVAL;
    }
    int r = mp__deadline(timeout, &deadline);
    if (r != 0) {
        return r;
    }
    return cond_wait_until(cond, deadline);
}

int
mp_condition_wait_for(mp_condition_t *cond, mp_predicate_fn pred, void *arg,
                      mp_duration_t timeout)
{
    int64_t deadline;
    if (cond == NULL || pred == NULL) {
        return MP_EINVAL;
    }
    int r = mp__deadline(timeout, &deadline);
    if (r != 0) {
        return r;
    }
    if (mp_lock_is_mine(cond->lock) != 1) {
        return MP_ENOTOWNER;
    }
    for (;;) {
        if (pred(arg)) {
            return 0;
        }
        if (deadline != MP__NO_DEADLINE && mp__now_ns() >= deadline) {
            return MP_ETIMEDOUT;
        }
        r = cond_wait_until(cond, deadline);
        if (r == MP_EOWNERDEAD) {
            return r; /* the caller must repair the state first */
        }
    }
}

int
mp_condition_notify(mp_condition_t *cond, unsigned n)
{
    if (cond == NULL) {
        return MP_EINVAL;
    }
    if (mp_lock_is_mine(cond->lock) != 1) {
        return MP_ENOTOWNER;
    }
    cond_state_t *s = state_of(cond);
    uint32_t k = n < s->nwaiters ? n : s->nwaiters;
    if (k == 0) {
        return 0;
    }
    s->nwaiters -= k;
    /* Tokens before the sequence: a waiter that sees the new sequence
     * number must also see the tokens. */
    atomic_fetch_add(&s->tokens, k);
    atomic_fetch_add(&s->seq, 1);
    mp__plat_futex_wake(&s->seq, k > INT32_MAX ? INT32_MAX : (int)k);
    return 0;
}

int
mp_condition_notify_all(mp_condition_t *cond)
{
    return mp_condition_notify(cond, UINT_MAX);
}

void
mp_condition_destroy(mp_condition_t *cond)
{
    if (cond == NULL) {
        return;
    }
    if (cond->own_lock) {
        mp_lock_destroy(cond->lock);
    }
    mp__shobj_destroy(cond);
}

/* The body of wait: the calling thread must hold the lock (checked here).
 * Releases it completely, sleeps until notified or deadline, and takes it
 * back at the same depth whatever happened. */
static int
cond_wait_until(mp_condition_t *cond, int64_t deadline)
{
    cond_state_t *s = state_of(cond);
    uint32_t depth;
    if (mp_lock_is_mine(cond->lock) != 1) {
        return MP_ENOTOWNER;
    }
    s->nwaiters++;
    int r = mp__lock_release_all(cond->lock, &depth);
    MP__ASSERT(r == 0); /* we hold it: checked above */
    bool notified = false;
    for (;;) {
        /* Read the sequence before looking for a token: a notify that
         * adds one after our look also moves the sequence, so the futex
         * wait below returns at once instead of sleeping through it. */
        uint32_t seq = atomic_load(&s->seq);
        if (mp__sync_take_one(&s->tokens)) {
            notified = true;
            break;
        }
        if (mp__plat_futex_wait(&s->seq, seq, deadline) == MP_ETIMEDOUT) {
            break;
        }
    }
    r = mp__lock_restore(cond->lock, depth);
    if (!notified) {
        /* With the lock held again, no notify can move us into the pool
         * any more: either a token is there for us, or we leave the count
         * of waiters ourselves. */
        if (mp__sync_take_one(&s->tokens)) {
            notified = true;
        } else {
            s->nwaiters--;
        }
    }
    if (r == MP_EOWNERDEAD) {
        return r;
    }
    return notified ? 0 : MP_ETIMEDOUT;
}

/*--- states in caller-given memory (sync_internal.h) ----------------------*/

size_t
mp__condition_state_size(void)
{
    return sizeof(cond_state_t);
}

void
mp__condition_state_init(void *state)
{
    memset(state, 0, sizeof(cond_state_t));
}

int
mp__condition_wrap(void *state, mp_lock_t *lock, mp_condition_t **out)
{
    if (lock == NULL) {
        return MP_EINVAL;
    }
    int r = mp__shobj_wrap((void **)out, sizeof(mp_condition_t), state);
    if (r == 0) {
        (*out)->lock = lock; /* own_lock false: never destroyed here */
    }
    return r;
}
