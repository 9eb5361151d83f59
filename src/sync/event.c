/* SPDX-License-Identifier: MIT */
/* event.c - Event: one futex word holding the flag (bit 0) and a count of
 * set() calls that found it clear (the bits above), plus a count of sleepers
 * so that set() makes a syscall only when someone may be asleep.
 *
 * The count lets a waiter that was asleep when set() came return 0 even if
 * clear() follows at once, as threading.Event does; it also makes every
 * set() change the word, so a waiter about to sleep never misses it. */
#include "sync_internal.h"

#include <stdbool.h>
#include <string.h>

#define EVENT_SET 1u
#define EVENT_GEN_STEP 2u

typedef struct event_state {
    _Atomic uint32_t word;    /* shared; flag and set count, futex word */
    _Atomic uint32_t waiters; /* shared; processes that may be asleep */
} event_state_t;

struct mp_event {
    mp__shobj_t obj; /* state: event_state_t */
};

static bool event_fired(uint32_t seen, uint32_t now);

/* The shared state behind a handle. */
static event_state_t *
state_of(const mp_event_t *ev)
{
    return ev->obj.state;
}

int
mp_event_create(mp_event_t **out)
{
    return mp_context_event(NULL, out);
}

int
mp_context_event(const mp_context_t *ctx, mp_event_t **out)
{
    if (out == NULL) {
        return MP_EINVAL;
    }
    return mp__shobj_new((void **)out, sizeof(mp_event_t), MP__KIND_EVENT, ctx,
                         sizeof(event_state_t));
}

int
mp_event_token(const mp_event_t *ev, char *buf, size_t buflen)
{
    return mp__shobj_token(ev, MP__KIND_EVENT, buf, buflen, NULL);
}

int
mp_event_attach(mp_event_t **out, const char *token)
{
    return mp__shobj_attach((void **)out, sizeof(mp_event_t), MP__KIND_EVENT,
                            sizeof(event_state_t), token, NULL);
}

int
mp_event_set(mp_event_t *ev)
{
    if (ev == NULL) {
        return MP_EINVAL;
    }
    event_state_t *s = state_of(ev);
    uint32_t w = atomic_load(&s->word);
    do {
        if (w & EVENT_SET) {
            return 0; /* already set: nobody sleeps on a set flag */
        }
    } while (!atomic_compare_exchange_weak(&s->word, &w,
                                           (w + EVENT_GEN_STEP) | EVENT_SET));
    if (atomic_load(&s->waiters) > 0) {
        mp__plat_futex_wake(&s->word, INT32_MAX);
    }
    return 0;
}

int
mp_event_clear(mp_event_t *ev)
{
    if (ev == NULL) {
        return MP_EINVAL;
    }
    atomic_fetch_and(&state_of(ev)->word, ~EVENT_SET);
    return 0;
}

bool
mp_event_is_set(const mp_event_t *ev)
{
    if (ev == NULL) {
        return false;
    }
    uint32_t w = atomic_load((_Atomic uint32_t *)&state_of(ev)->word);
    return (w & EVENT_SET) != 0;
}

int
mp_event_wait(mp_event_t *ev, mp_duration_t timeout)
{
    return mp__event_wait_checked(ev, timeout, NULL, NULL);
}

int
mp__event_wait_checked(mp_event_t *ev, mp_duration_t timeout,
                       int (*check)(void *arg), void *arg)
{
    int64_t deadline;
    if (ev == NULL) {
        return MP_EINVAL;
    }
    int r = mp__deadline(timeout, &deadline);
    if (r != 0) {
        return r;
    }
    event_state_t *s = state_of(ev);
    /* The set count when the wait began: a set() any time after it wakes
     * this waiter, however many slices later it looks. */
    uint32_t seen = atomic_load(&s->word);
    if (seen & EVENT_SET) {
        return 0;
    }
    /* Register before re-reading the word: set() stores the word first and
     * reads waiters second, so one of us sees the other. */
    atomic_fetch_add(&s->waiters, 1);
    bool timed_out = false, slice_over = false;
    for (;;) {
        uint32_t now = atomic_load(&s->word);
        if (event_fired(seen, now)) {
            r = 0;
            break;
        }
        if (timed_out) {
            r = MP_ETIMEDOUT;
            break;
        }
        if (slice_over) {
            slice_over = false;
            r = check(arg);
            if (r != 0) {
                break;
            }
        }
        int64_t until = deadline;
        if (check != NULL) {
            int64_t slice_end = mp__now_ns() + MP__OWNER_CHECK_NS;
            until = slice_end < deadline ? slice_end : deadline;
        }
        /* After a time-out, look once more: a set() may have raced it. */
        if (mp__plat_futex_wait(&s->word, now, until) == MP_ETIMEDOUT) {
            if (until == deadline) {
                timed_out = true;
            } else {
                slice_over = true;
            }
        }
    }
    atomic_fetch_sub(&s->waiters, 1);
    return r;
}

void
mp_event_destroy(mp_event_t *ev)
{
    mp__shobj_destroy(ev);
}

/* Was the event set when the word read `now`, or set at any time since it
 * read `seen` (the set count moved)? */
static bool
event_fired(uint32_t seen, uint32_t now)
{
    return (now & EVENT_SET) != 0 || (now & ~EVENT_SET) != (seen & ~EVENT_SET);
}

/*--- states in caller-given memory (sync_internal.h) ----------------------*/

size_t
mp__event_state_size(void)
{
    return sizeof(event_state_t);
}

void
mp__event_state_init(void *state)
{
    memset(state, 0, sizeof(event_state_t));
}

uint32_t
mp__event_state_waiters(const void *state)
{
    return atomic_load(&((event_state_t *)state)->waiters);
}

int
mp__event_wrap(void *state, mp_event_t **out)
{
    return mp__shobj_wrap((void **)out, sizeof(mp_event_t), state);
}
