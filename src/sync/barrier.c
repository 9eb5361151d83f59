/* SPDX-License-Identifier: MIT */
/* barrier.c - Barrier: parties processes meet, then all go on together.
 *
 * The state sits behind an internal death-surviving mutex. Each round is a
 * generation; the generation number is also the futex word the waiters
 * sleep on. A generation ends in one of two ways: normally (the last party
 * arrived) or broken (abort, reset, a time-out, a failed action, a peer
 * that died holding the mutex). Either way the number moves on, so every
 * waiter wakes, and a bitmap of the last 64 generations tells it which way
 * its own ended. While `broken` is set no new generation fills.
 *
 * The action runs with the mutex held, as Python runs it under the
 * barrier's lock: it may query the barrier (parties, n_waiting, broken,
 * all read without the mutex) but must not wait on, abort or reset it.
 *
 * In a spawn or forkserver context the action's checked reference
 * (fnref.h) follows the state in the same shared block, and the token
 * carries its length: a process that attaches the token resolves it, so
 * whichever process arrives last runs the same action. */
#include "../shm/fnref.h"
#include "sync_internal.h"

#include <stdbool.h>
#include <string.h>

typedef struct barrier_state {
    mp__mutex_t m;               /* shared; guards every field below */
    _Atomic uint32_t generation; /* shared; current round, futex word */
    uint32_t parties;            /* shared; fixed at creation */
    _Atomic uint32_t count;      /* shared; arrived in this generation */
    _Atomic uint32_t broken;     /* shared; 1 until reset */
    uint64_t broken_gens;        /* shared; bit g % 64: round g broke */
    mp_duration_t timeout;       /* shared; default, MP_WAIT_FOREVER */
} barrier_state_t;
/* count and broken are written under the mutex but read without it, so
 * that the action (run with the mutex held) may query the barrier. */

struct mp_barrier {
    mp__shobj_t obj;             /* state: barrier_state_t */
    mp_barrier_action_fn action; /* local; same in forked children */
    void *action_arg;
    size_t ref_len; /* the action's reference after the state; 0: none */
    int ref_err;    /* why an action has no reference (encoding failed) */
};

static int action_ref(mp_barrier_t *bar, size_t len);
static void barrier_lock(barrier_state_t *s);
static void break_barrier(barrier_state_t *s);
static void end_generation(barrier_state_t *s, bool failed);
static int wait_deadline(const barrier_state_t *s, mp_duration_t timeout,
                         int64_t *deadline);

/* The shared state behind a handle. */
static barrier_state_t *
state_of(const mp_barrier_t *bar)
{
    return bar->obj.state;
}

int
mp_barrier_create(mp_barrier_t **out, unsigned parties,
                  const mp_barrier_opts_t *opts)
{
    return mp_context_barrier(NULL, out, parties, opts);
}

int
mp_barrier_token(const mp_barrier_t *bar, char *buf, size_t buflen)
{
    size_t pos;
    int err = mp__shobj_token(bar, MP__KIND_BARRIER, buf, buflen, &pos);
    if (err != 0 || bar->action == NULL) {
        return err;
    }
    if (bar->action_arg != NULL || bar->ref_len == 0) {
        /* A pointer does not cross an exec; nor does an unnamed action. */
        return bar->action_arg == NULL && bar->ref_err != 0 ? bar->ref_err
                                                            : MP_ENOTSUP;
    }
    return mp__token_put_u64(buf, buflen, &pos, bar->ref_len);
}

int
mp_barrier_attach(mp_barrier_t **out, const char *token)
{
    mp_barrier_t *bar;
    const char *cur;
    int err =
        mp__shobj_attach((void **)&bar, sizeof(mp_barrier_t), MP__KIND_BARRIER,
                         sizeof(barrier_state_t), token, &cur);
    if (err != 0) {
        return err;
    }
    if (*cur != '\0') { /* the action's reference: its length */
        uint64_t len;
        err = mp__token_get_u64(&cur, &len);
        if (err == 0) {
            err = mp__token_end(cur);
        }
        if (err == 0) {
            err = len <= SIZE_MAX ? action_ref(bar, (size_t)len) : MP_EPROTO;
        }
        if (err != 0) {
            mp__shobj_destroy(bar);
            return err;
        }
    }
    *out = bar;
    return 0;
}

/* Resolves the len bytes of reference after an attached barrier's state
 * into its action (called with no argument). Returns 0, MP_EPROTO (len
 * outside the block, or not a reference), MP_ECLOSED (the block was freed
 * meanwhile) or the errors of mp__fnref_decode (MP_ENOENT: not this
 * program's code, or a name not registered here). */
static int
action_ref(mp_barrier_t *bar, size_t len)
{
    size_t room = mp__heap_block_room(bar->obj.hdr);
    size_t used = sizeof(mp__objhdr_t) + sizeof(barrier_state_t);
    if (room < used) {
        return MP_ECLOSED;
    }
    if (len == 0 || len > room - used) {
        return MP_EPROTO;
    }
    mp__fn_t fn;
    int err = mp__fnref_decode(state_of(bar) + 1, len, &fn);
    if (err == 0) {
        bar->action = (mp_barrier_action_fn)fn;
        bar->ref_len = len;
    }
    return err;
}

int
mp_context_barrier(const mp_context_t *ctx, mp_barrier_t **out,
                   unsigned parties, const mp_barrier_opts_t *opts)
{
    if (MP__OPTS_BAD(opts)) {
        return MP_EINVAL;
    }
    mp_duration_t timeout = opts != NULL ? opts->timeout : 0;
    if (out == NULL || parties == 0 || parties > INT32_MAX ||
        (timeout < 0 && timeout != MP_WAIT_FOREVER)) {
        return MP_EINVAL;
    }
    mp_barrier_action_fn action = opts != NULL ? opts->action : NULL;
    int method = mp__context_method(ctx);
    if (method < 0) {
        return method;
    }
    void *ref = NULL;
    ssize_t ref_len = 0;
    if (action != NULL && method != MP_START_FORK) {
        /* Named for the processes that attach a token (fnref.h). */
        ref_len = mp__fnref_encode((mp__fn_t)action, &ref);
    }
    mp_barrier_t *bar;
    int err = mp__shobj_new((void **)&bar, sizeof *bar, MP__KIND_BARRIER, ctx,
                            sizeof(barrier_state_t) +
                                (ref_len > 0 ? (size_t)ref_len : 0));
    if (err != 0) {
        mp__free(ref);
        return err;
    }
    if (opts != NULL) {
        bar->action = action;
        bar->action_arg = opts->action_arg;
    }
    if (ref_len > 0) {
        memcpy(state_of(bar) + 1, ref, (size_t)ref_len);
        bar->ref_len = (size_t)ref_len;
    } else {
        bar->ref_err = (int)ref_len;
    }
    mp__free(ref);
    barrier_state_t *s = state_of(bar);
    mp__barrier_state_init(s, parties);
    s->timeout = timeout == 0 ? MP_WAIT_FOREVER : timeout;
    *out = bar;
    return 0;
}

int
mp_barrier_wait(mp_barrier_t *bar, mp_duration_t timeout)
{
    return mp__barrier_wait_checked(bar, timeout, NULL, NULL);
}

int
mp__barrier_wait_checked(mp_barrier_t *bar, mp_duration_t timeout,
                         int (*check)(void *arg), void *arg)
{
    int64_t deadline;
    if (bar == NULL) {
        return MP_EINVAL;
    }
    barrier_state_t *s = state_of(bar);
    int r = wait_deadline(s, timeout, &deadline);
    if (r != 0) {
        return r;
    }
    barrier_lock(s);
    if (s->broken) {
        mp__mutex_unlock(&s->m);
        return MP_EBROKEN;
    }
    uint32_t gen = atomic_load(&s->generation);
    uint32_t index = s->count++;
    if (index + 1 == s->parties) {
        /* The last to arrive runs the action before anyone leaves. */
        r = bar->action != NULL ? bar->action(bar->action_arg) : 0;
        if (r != 0) {
            break_barrier(s);
        } else {
            end_generation(s, false);
        }
        mp__mutex_unlock(&s->m);
        return r != 0 ? MP_EBROKEN : (int)index;
    }
    for (;;) {
        mp__mutex_unlock(&s->m);
        /* The generation moves on however this round ends. */
        int64_t until = deadline;
        if (check != NULL) {
            int64_t slice_end = mp__now_ns() + MP__OWNER_CHECK_NS;
            until = slice_end < deadline ? slice_end : deadline;
        }
        int w = mp__plat_futex_wait(&s->generation, gen, until);
        int failed = 0;
        if (check != NULL && atomic_load(&s->generation) == gen) {
            failed = check(arg);
        }
        barrier_lock(s);
        if (atomic_load(&s->generation) != gen) {
            bool broke = (s->broken_gens >> (gen % 64)) & 1;
            mp__mutex_unlock(&s->m);
            return broke ? MP_EBROKEN : (int)index;
        }
        if (failed != 0 || (w == MP_ETIMEDOUT && until == deadline)) {
            break_barrier(s);
            mp__mutex_unlock(&s->m);
            return failed != 0 ? failed : MP_ETIMEDOUT;
        }
    }
}

int
mp_barrier_abort(mp_barrier_t *bar)
{
    if (bar == NULL) {
        return MP_EINVAL;
    }
    barrier_state_t *s = state_of(bar);
    barrier_lock(s);
    break_barrier(s);
    mp__mutex_unlock(&s->m);
    return 0;
}

int
mp_barrier_reset(mp_barrier_t *bar)
{
    if (bar == NULL) {
        return MP_EINVAL;
    }
    barrier_state_t *s = state_of(bar);
    barrier_lock(s);
    if (s->count > 0) {
        end_generation(s, true); /* its waiters get MP_EBROKEN */
    }
    atomic_store(&s->broken, 0);
    mp__mutex_unlock(&s->m);
    return 0;
}

int
mp_barrier_parties(const mp_barrier_t *bar)
{
    if (bar == NULL) {
        return MP_EINVAL;
    }
    return (int)state_of(bar)->parties;
}

int
mp_barrier_n_waiting(const mp_barrier_t *bar)
{
    if (bar == NULL) {
        return MP_EINVAL;
    }
    return (int)atomic_load((_Atomic uint32_t *)&state_of(bar)->count);
}

bool
mp_barrier_broken(const mp_barrier_t *bar)
{
    return bar != NULL &&
           atomic_load((_Atomic uint32_t *)&state_of(bar)->broken) != 0;
}

void
mp_barrier_destroy(mp_barrier_t *bar)
{
    mp__shobj_destroy(bar);
}

/* Takes the internal mutex. A peer that died holding it may have left the
 * round half done, so the barrier is broken then (its waiters wake up with
 * MP_EBROKEN) and the state is consistent again. */
static void
barrier_lock(barrier_state_t *s)
{
    if (mp__mutex_lock(&s->m, MP__NO_DEADLINE) == MP_EOWNERDEAD) {
        break_barrier(s);
        mp__mutex_consistent(&s->m);
    }
}

/* Marks the barrier broken until reset and fails the current generation.
 * The caller holds the mutex. */
static void
break_barrier(barrier_state_t *s)
{
    atomic_store(&s->broken, 1);
    end_generation(s, true);
}

/* Ends the current generation, normally or failed (its waiters then get
 * MP_EBROKEN), and wakes its waiters. The caller holds the mutex. */
static void
end_generation(barrier_state_t *s, bool failed)
{
    uint32_t gen = atomic_load(&s->generation);
    uint64_t bit = (uint64_t)1 << (gen % 64);
    if (failed) {
        s->broken_gens |= bit;
    } else {
        s->broken_gens &= ~bit;
    }
    /* Only those counted in this round can be asleep on its number. */
    bool sleepers = atomic_exchange(&s->count, 0) > 0;
    atomic_store(&s->generation, gen + 1);
    if (sleepers) {
        mp__plat_futex_wake(&s->generation, INT32_MAX);
    }
}

/* Turns the timeout of mp_barrier_wait into a deadline: MP_WAIT_DEFAULT
 * means the barrier's own. Returns 0 or MP_EINVAL. */
static int
wait_deadline(const barrier_state_t *s, mp_duration_t timeout,
              int64_t *deadline)
{
    return mp__deadline(timeout == MP_WAIT_DEFAULT ? s->timeout : timeout,
                        deadline);
}

/*--- states in caller-given memory (sync_internal.h) ----------------------*/

size_t
mp__barrier_state_size(void)
{
    return sizeof(barrier_state_t);
}

void
mp__barrier_state_init(void *state, unsigned parties)
{
    barrier_state_t *s = state;
    memset(s, 0, sizeof *s);
    mp__mutex_init(&s->m);
    s->parties = parties;
    s->timeout = MP_WAIT_FOREVER;
}

int
mp__barrier_wrap(void *state, mp_barrier_t **out)
{
    return mp__shobj_wrap((void **)out, sizeof(mp_barrier_t), state);
}
