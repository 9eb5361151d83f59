/* SPDX-License-Identifier: MIT */
/* test-event.c - Event: set/clear/is_set/wait, time-outs, bad input, and
 * waiters and setters in different processes. */
#include "runner.h"

#define WAITERS 3

TEST(event_bad_input)
{
    mp_event_t *ev;
    ASSERT_ERR(mp_event_create(NULL), MP_EINVAL);
    ASSERT_ERR(mp_event_set(NULL), MP_EINVAL);
    ASSERT_ERR(mp_event_clear(NULL), MP_EINVAL);
    ASSERT(!mp_event_is_set(NULL));
    ASSERT_ERR(mp_event_wait(NULL, MP_WAIT_FOREVER), MP_EINVAL);
    mp_event_destroy(NULL);
    ASSERT_OK(mp_event_create(&ev));
    ASSERT_ERR(mp_event_wait(ev, -5), MP_EINVAL);
    ASSERT_ERR(mp_event_wait(ev, MP_WAIT_DEFAULT), MP_EINVAL);
    ASSERT_OK(mp_event_set(ev));
    /* The timeout is checked even when the flag is set. */
    ASSERT_ERR(mp_event_wait(ev, -5), MP_EINVAL);
    mp_event_destroy(ev);
}

TEST(event_set_clear_wait)
{
    mp_event_t *ev;
    ASSERT_OK(mp_event_create(&ev));
    ASSERT_EQ(mp_event_is_set(ev), 0);
    ASSERT_ERR(mp_event_wait(ev, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_event_wait(ev, 10), MP_ETIMEDOUT);
    ASSERT_OK(mp_event_set(ev));
    ASSERT_EQ(mp_event_is_set(ev), 1);
    ASSERT_OK(mp_event_set(ev)); /* idempotent */
    ASSERT_EQ(mp_event_is_set(ev), 1);
    ASSERT_OK(mp_event_wait(ev, MP_NO_WAIT));
    ASSERT_OK(mp_event_wait(ev, MP_WAIT_FOREVER));
    ASSERT_OK(mp_event_wait(ev, 10));
    ASSERT_OK(mp_event_clear(ev));
    ASSERT_EQ(mp_event_is_set(ev), 0);
    ASSERT_OK(mp_event_clear(ev));
    ASSERT_ERR(mp_event_wait(ev, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_OK(mp_event_set(ev));
    ASSERT_OK(mp_event_wait(ev, MP_NO_WAIT));
    mp_event_destroy(ev);
}

typedef struct event_arg {
    mp_event_t *ev, *back;
    mpt_pipe_t ready;
} event_arg_t;

/* Child: says it is about to wait, waits for ev, then sets back. */
static int
child_wait_then_answer(void *arg)
{
    event_arg_t *a = arg;
    mpt_signal(&a->ready, 1);
    if (mp_event_wait(a->ev, MP_WAIT_FOREVER) != 0 ||
        mp_event_is_set(a->ev) != 1) {
        return 1;
    }
    return mp_event_set(a->back) == 0 ? 0 : 2;
}

TEST(event_wait_across_processes)
{
    event_arg_t a;
    ASSERT_OK(mp_event_create(&a.ev));
    ASSERT_OK(mp_event_create(&a.back));
    mpt_pipe_open(&a.ready);
    pid_t kids[WAITERS];
    for (int i = 0; i < WAITERS; i++) {
        kids[i] = mpt_fork(child_wait_then_answer, &a);
    }
    for (int i = 0; i < WAITERS; i++) {
        ASSERT_OK(mpt_wait_signal(&a.ready, NULL));
    }
    ASSERT_EQ(mp_event_is_set(a.back), 0);
    ASSERT_OK(mp_event_set(a.ev));
    ASSERT_OK(mp_event_wait(a.back, MP_WAIT_FOREVER));
    for (int i = 0; i < WAITERS; i++) {
        ASSERT_EQ(mpt_join(kids[i]), 0);
    }
    mpt_pipe_close(&a.ready);
    mp_event_destroy(a.ev);
    mp_event_destroy(a.back);
}

/* Child: a short wait on a clear event must time out. */
static int
child_wait_briefly(void *arg)
{
    event_arg_t *a = arg;
    return mp_event_wait(a->ev, 10) == MP_ETIMEDOUT ? 0 : 1;
}

/* Child: clears the event. */
static int
child_clear(void *arg)
{
    event_arg_t *a = arg;
    return mp_event_clear(a->ev) == 0 ? 0 : 1;
}

TEST(event_timeout_and_clear_across_processes)
{
    event_arg_t a;
    ASSERT_OK(mp_event_create(&a.ev));
    a.back = NULL;
    ASSERT_EQ(mpt_join(mpt_fork(child_wait_briefly, &a)), 0);
    ASSERT_OK(mp_event_set(a.ev));
    ASSERT_EQ(mpt_join(mpt_fork(child_clear, &a)), 0);
    ASSERT_EQ(mp_event_is_set(a.ev), 0);
    mp_event_destroy(a.ev);
}

/* Child: drops its inherited handle (which must not free the state). */
static int
child_destroy(void *arg)
{
    event_arg_t *a = arg;
    mp_event_destroy(a->ev);
    return 0;
}

TEST(event_destroy_in_child_keeps_the_shared_state)
{
    event_arg_t a;
    mp_event_t *other;
    ASSERT_OK(mp_event_create(&a.ev));
    ASSERT_EQ(mpt_join(mpt_fork(child_destroy, &a)), 0);
    /* Had the child freed the state, the next event would reuse it. */
    ASSERT_OK(mp_event_create(&other));
    ASSERT_OK(mp_event_set(other));
    ASSERT_EQ(mp_event_is_set(a.ev), 0);
    ASSERT_OK(mp_event_set(a.ev));
    ASSERT_OK(mp_event_wait(a.ev, MP_NO_WAIT));
    mp_event_destroy(other);
    mp_event_destroy(a.ev);
}
