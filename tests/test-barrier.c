/* SPDX-License-Identifier: MIT */
/* test-barrier.c - Barrier: distinct indexes per generation, the action
 * run once per generation, breaking by a failed action, abort, reset and
 * time-outs, the default timeout, bad input, and a party killed while the
 * others wait. */
#include "runner.h"

#include "shm/shm_internal.h"

#include <sched.h>
#include <signal.h>

#define PARTIES 4
#define GENERATIONS 5

/* Exit codes of children: an index as is, errors mapped here. */
#define CODE_BROKEN 100
#define CODE_TIMEDOUT 101
#define CODE_OTHER 102

typedef struct bar_shared {
    mp_barrier_t *bar;
    int actions;       /* incremented by the action */
    int action_result; /* what the action returns */
    int waiting_seen;  /* n_waiting as the action saw it */
    int index[GENERATIONS][PARTIES];
} bar_shared_t;

typedef struct party_arg {
    bar_shared_t *sh;
    int id;
    mp_duration_t timeout;
} party_arg_t;

/* The barrier action: counts its runs, records n_waiting, returns the
 * configured result. */
static int
count_action(void *arg)
{
    bar_shared_t *sh = arg;
    sh->actions++;
    sh->waiting_seen = mp_barrier_n_waiting(sh->bar);
    return sh->action_result;
}

/* Shared test block with a barrier for parties that runs count_action. */
static bar_shared_t *
shared_new(unsigned parties, mp_duration_t default_timeout)
{
    bar_shared_t *sh = mp__shared_alloc(sizeof *sh);
    ASSERT_NOT_NULL(sh);
    mp_barrier_opts_t o = MP_BARRIER_OPTS_INIT;
    o.action = count_action;
    o.action_arg = sh;
    o.timeout = default_timeout;
    ASSERT_OK(mp_barrier_create(&sh->bar, parties, &o));
    return sh;
}

/* Undoes shared_new. */
static void
shared_free(bar_shared_t *sh)
{
    mp_barrier_destroy(sh->bar);
    mp__shared_free(sh);
}

/* Maps a wait result to a child exit code. */
static int
code_of(int r)
{
    if (r >= 0) {
        return r;
    }
    return r == MP_EBROKEN     ? CODE_BROKEN
           : r == MP_ETIMEDOUT ? CODE_TIMEDOUT
                               : CODE_OTHER;
}

/* Child: one wait with its timeout; the exit code tells the result. */
static int
child_wait_once(void *arg)
{
    party_arg_t *p = arg;
    return code_of(mp_barrier_wait(p->sh->bar, p->timeout));
}

/* Child (or parent): GENERATIONS waits, recording each index. */
static int
party_rounds(void *arg)
{
    party_arg_t *p = arg;
    for (int g = 0; g < GENERATIONS; g++) {
        int r = mp_barrier_wait(p->sh->bar, MP_WAIT_FOREVER);
        if (r < 0) {
            return code_of(r);
        }
        p->sh->index[g][p->id] = r;
    }
    return 0;
}

/* Spins (yielding) until n parties wait or the barrier is broken. */
static void
wait_for_waiters(mp_barrier_t *bar, int n)
{
    while (mp_barrier_n_waiting(bar) < n && mp_barrier_broken(bar) == 0) {
        sched_yield();
    }
}

TEST(barrier_bad_input)
{
    mp_barrier_t *bar;
    mp_barrier_opts_t o = MP_BARRIER_OPTS_INIT;
    ASSERT_ERR(mp_barrier_create(NULL, 2, NULL), MP_EINVAL);
    ASSERT_ERR(mp_barrier_create(&bar, 0, NULL), MP_EINVAL);
    ASSERT_ERR(mp_barrier_create(&bar, UINT32_MAX, NULL), MP_EINVAL);
    o.timeout = -5;
    ASSERT_ERR(mp_barrier_create(&bar, 2, &o), MP_EINVAL);
    o.timeout = MP_WAIT_DEFAULT;
    ASSERT_ERR(mp_barrier_create(&bar, 2, &o), MP_EINVAL);
    ASSERT_ERR(mp_barrier_wait(NULL, MP_WAIT_FOREVER), MP_EINVAL);
    ASSERT_ERR(mp_barrier_abort(NULL), MP_EINVAL);
    ASSERT_ERR(mp_barrier_reset(NULL), MP_EINVAL);
    ASSERT_ERR(mp_barrier_parties(NULL), MP_EINVAL);
    ASSERT_ERR(mp_barrier_n_waiting(NULL), MP_EINVAL);
    ASSERT(!mp_barrier_broken(NULL));
    mp_barrier_destroy(NULL);
    ASSERT_OK(mp_barrier_create(&bar, 2, NULL));
    ASSERT_ERR(mp_barrier_wait(bar, -5), MP_EINVAL);
    ASSERT_ERR(mp_barrier_wait(bar, INT64_MIN), MP_EINVAL);
    /* Nothing happened: not broken, nobody counted. */
    ASSERT_EQ(mp_barrier_broken(bar), 0);
    ASSERT_EQ(mp_barrier_n_waiting(bar), 0);
    ASSERT_EQ(mp_barrier_parties(bar), 2);
    mp_barrier_destroy(bar);
}

TEST(barrier_one_party_returns_at_once)
{
    bar_shared_t *sh = shared_new(1, 0);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(mp_barrier_wait(sh->bar, MP_WAIT_FOREVER), 0);
    }
    ASSERT_EQ(mp_barrier_wait(sh->bar, MP_NO_WAIT), 0);
    ASSERT_EQ(mp_barrier_wait(sh->bar, MP_WAIT_DEFAULT), 0);
    ASSERT_EQ(sh->actions, 5);
    ASSERT_EQ(sh->waiting_seen, 1); /* the action sees its caller */
    ASSERT_EQ(mp_barrier_parties(sh->bar), 1);
    ASSERT_EQ(mp_barrier_n_waiting(sh->bar), 0);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 0);
    shared_free(sh);
}

TEST(barrier_indexes_distinct_action_once_per_generation)
{
    bar_shared_t *sh = shared_new(PARTIES, 0);
    party_arg_t p[PARTIES];
    pid_t kids[PARTIES];
    for (int i = 0; i < PARTIES; i++) {
        p[i].sh = sh;
        p[i].id = i;
        p[i].timeout = MP_WAIT_FOREVER;
    }
    for (int i = 1; i < PARTIES; i++) {
        kids[i] = mpt_fork(party_rounds, &p[i]);
    }
    ASSERT_EQ(party_rounds(&p[0]), 0);
    for (int i = 1; i < PARTIES; i++) {
        ASSERT_EQ(mpt_join(kids[i]), 0);
    }
    for (int g = 0; g < GENERATIONS; g++) {
        unsigned seen = 0;
        for (int i = 0; i < PARTIES; i++) {
            int idx = sh->index[g][i];
            ASSERT(idx >= 0 && idx < PARTIES);
            seen |= 1u << idx;
        }
        ASSERT_EQ(seen, (1u << PARTIES) - 1); /* each index once */
    }
    ASSERT_EQ(sh->actions, GENERATIONS);
    ASSERT_EQ(sh->waiting_seen, PARTIES);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 0);
    shared_free(sh);
}

TEST(barrier_failed_action_breaks_it)
{
    bar_shared_t *sh = shared_new(2, 0);
    sh->action_result = 1;
    party_arg_t p = {sh, 1, MP_WAIT_FOREVER};
    pid_t kid = mpt_fork(child_wait_once, &p);
    ASSERT_ERR(mp_barrier_wait(sh->bar, MP_WAIT_FOREVER), MP_EBROKEN);
    ASSERT_EQ(mpt_join(kid), CODE_BROKEN);
    ASSERT_EQ(sh->actions, 1);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 1);
    ASSERT_ERR(mp_barrier_wait(sh->bar, MP_WAIT_FOREVER), MP_EBROKEN);
    ASSERT_EQ(sh->actions, 1);
    /* Reset makes it usable again. */
    ASSERT_OK(mp_barrier_reset(sh->bar));
    ASSERT_EQ(mp_barrier_broken(sh->bar), 0);
    sh->action_result = 0;
    kid = mpt_fork(child_wait_once, &p);
    int mine = mp_barrier_wait(sh->bar, MP_WAIT_FOREVER);
    ASSERT_GE(mine, 0);
    ASSERT_EQ(mpt_join(kid), 1 - mine);
    ASSERT_EQ(sh->actions, 2);
    shared_free(sh);
}

TEST(barrier_abort_breaks_waiters)
{
    bar_shared_t *sh = shared_new(3, 0);
    party_arg_t p = {sh, 1, MP_WAIT_FOREVER};
    pid_t kid = mpt_fork(child_wait_once, &p);
    wait_for_waiters(sh->bar, 1);
    ASSERT_EQ(mp_barrier_n_waiting(sh->bar), 1);
    ASSERT_OK(mp_barrier_abort(sh->bar));
    ASSERT_EQ(mpt_join(kid), CODE_BROKEN);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 1);
    ASSERT_EQ(mp_barrier_n_waiting(sh->bar), 0);
    ASSERT_ERR(mp_barrier_wait(sh->bar, MP_NO_WAIT), MP_EBROKEN);
    ASSERT_OK(mp_barrier_abort(sh->bar)); /* twice is fine */
    ASSERT_OK(mp_barrier_reset(sh->bar));
    ASSERT_EQ(mp_barrier_broken(sh->bar), 0);
    ASSERT_EQ(sh->actions, 0);
    shared_free(sh);
}

TEST(barrier_reset_breaks_current_waiters_only)
{
    bar_shared_t *sh = shared_new(2, 0);
    party_arg_t p = {sh, 1, MP_WAIT_FOREVER};
    pid_t kid = mpt_fork(child_wait_once, &p);
    wait_for_waiters(sh->bar, 1);
    ASSERT_OK(mp_barrier_reset(sh->bar));
    ASSERT_EQ(mpt_join(kid), CODE_BROKEN);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 0);
    ASSERT_EQ(mp_barrier_n_waiting(sh->bar), 0);
    /* The next generation works normally. */
    kid = mpt_fork(child_wait_once, &p);
    int mine = mp_barrier_wait(sh->bar, MP_WAIT_FOREVER);
    ASSERT_GE(mine, 0);
    ASSERT_EQ(mpt_join(kid), 1 - mine);
    ASSERT_EQ(sh->actions, 1);
    ASSERT_OK(mp_barrier_reset(sh->bar)); /* nobody waiting: harmless */
    ASSERT_EQ(mp_barrier_broken(sh->bar), 0);
    shared_free(sh);
}

TEST(barrier_timeout_breaks_it)
{
    bar_shared_t *sh = shared_new(3, 0);
    ASSERT_ERR(mp_barrier_wait(sh->bar, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 1);
    ASSERT_ERR(mp_barrier_wait(sh->bar, MP_WAIT_FOREVER), MP_EBROKEN);
    ASSERT_OK(mp_barrier_reset(sh->bar));
    /* A peer already waiting forever hears of our time-out. */
    party_arg_t p = {sh, 1, MP_WAIT_FOREVER};
    pid_t kid = mpt_fork(child_wait_once, &p);
    wait_for_waiters(sh->bar, 1);
    ASSERT_ERR(mp_barrier_wait(sh->bar, 10), MP_ETIMEDOUT);
    ASSERT_EQ(mpt_join(kid), CODE_BROKEN);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 1);
    ASSERT_EQ(sh->actions, 0);
    shared_free(sh);
}

TEST(barrier_default_timeout)
{
    bar_shared_t *sh = shared_new(2, 10);
    ASSERT_ERR(mp_barrier_wait(sh->bar, MP_WAIT_DEFAULT), MP_ETIMEDOUT);
    ASSERT_EQ(mp_barrier_broken(sh->bar), 1);
    shared_free(sh);
    /* A default of 0 means forever. */
    sh = shared_new(2, 0);
    party_arg_t p = {sh, 1, MP_WAIT_DEFAULT};
    pid_t kid = mpt_fork(child_wait_once, &p);
    wait_for_waiters(sh->bar, 1);
    int mine = mp_barrier_wait(sh->bar, MP_WAIT_DEFAULT);
    ASSERT_GE(mine, 0);
    ASSERT_EQ(mpt_join(kid), 1 - mine);
    shared_free(sh);
}

TEST(barrier_killed_party_does_not_hang_the_others)
{
    bar_shared_t *sh = shared_new(PARTIES, 0);
    party_arg_t timed = {sh, 1, 200};
    party_arg_t forever = {sh, 3, MP_WAIT_FOREVER};
    pid_t victim = mpt_fork(child_wait_once, &forever);
    pid_t a = mpt_fork(child_wait_once, &timed);
    pid_t b = mpt_fork(child_wait_once, &timed);
    wait_for_waiters(sh->bar, 3);
    ASSERT_EQ(kill(victim, SIGKILL), 0);
    mpt_join(victim); /* killed, or broken already if the others timed out */
    int ca = mpt_join(a), cb = mpt_join(b);
    /* Exactly one timed out and broke the barrier for the other. */
    ASSERT((ca == CODE_TIMEDOUT && cb == CODE_BROKEN) ||
           (ca == CODE_BROKEN && cb == CODE_TIMEDOUT));
    ASSERT_EQ(mp_barrier_broken(sh->bar), 1);
    ASSERT_EQ(sh->actions, 0);
    shared_free(sh);
}
