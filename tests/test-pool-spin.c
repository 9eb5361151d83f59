/* SPDX-License-Identifier: MIT */
/* test-pool-spin.c - the pool's spinning waits spin only while they pay
 * (issue 20, the rule of every spinning wait: mp__spin_*): the handler
 * thread, whose spin for results keeps closing empty while tasks take
 * long, goes to sleep at once instead of spinning for every task; an imap
 * iterator whose spins for the next result keep ending empty rests too;
 * an apply's caller takes its reply itself, and a worker killed meanwhile
 * still fails the apply.
 * A map queues its chunks in parts, so that workers start while the
 * caller still builds the rest; a pool closed between parts still runs
 * the whole map. The watch they share (mp__pool_watch) reports what
 * its look saw, and rests with its learner. Every check counts events
 * (spin windows, rests, looks) or waits on pipes; none reads a clock. */
#include "runner.h"

#include "pool/batch_internal.h"
#include "pool/pool_state.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>

/* A look for the watch tests: answers[i] for its i-th call (then the
 * last one again), counting calls. */
typedef struct scripted_look {
    const int *answers;
    int n, calls;
} scripted_look_t;

static int
scripted(void *arg)
{
    scripted_look_t *l = arg;
    int i = l->calls < l->n ? l->calls : l->n - 1;
    l->calls++;
    return l->answers[i];
}

/* The pool's one watch loop: looks until its look says "came" (paid) or
 * "give up" (a miss), counting each watch that begins; no watch at all
 * (nothing counted, nothing learnt) with no time left or a learner that
 * rests after misses. */
TEST(pool_watch_reports_what_its_look_saw)
{
    mp__spin_learn_t learn = {0};
    _Atomic uint64_t count = 0;
    const int late[] = {0, 0, 1};
    scripted_look_t look = {late, 3, 0};
    ASSERT_EQ(mp__pool_watch(&learn, INT64_C(10000000000), MP__NO_DEADLINE,
                             scripted, &look, &count),
              MP__WATCH_PAID);
    ASSERT_EQ(look.calls, 3);
    ASSERT_EQ(atomic_load(&count), 1);

    const int give_up[] = {0, -1};
    look = (scripted_look_t){give_up, 2, 0};
    ASSERT_EQ(mp__pool_watch(&learn, INT64_C(10000000000), MP__NO_DEADLINE,
                             scripted, &look, NULL),
              MP__WATCH_MISSED);
    ASSERT_EQ(look.calls, 2);

    /* A deadline already past: no watch, no look, no count. */
    look = (scripted_look_t){late, 3, 0};
    ASSERT_EQ(mp__pool_watch(&learn, INT64_C(10000000000), mp__now_ns() - 1,
                             scripted, &look, &count),
              MP__WATCH_NONE);
    ASSERT_EQ(look.calls, 0);
    ASSERT_EQ(atomic_load(&count), 1);

    /* A window that closes with nothing seen is a miss; misses in a row
     * make the learner rest, and a resting watch looks at nothing. */
    const int never[] = {0};
    int missed = 0;
    for (;;) {
        look = (scripted_look_t){never, 1, 0};
        int w = mp__pool_watch(&learn, 1000, MP__NO_DEADLINE, scripted, &look,
                               &count);
        if (w == MP__WATCH_NONE) {
            break;
        }
        ASSERT_EQ(w, MP__WATCH_MISSED);
        ASSERT(look.calls >= 1);
        ASSERT(++missed <= 3); /* the learner rests after 3 misses */
    }
    ASSERT_EQ(look.calls, 0);
    ASSERT_EQ(atomic_load(&count), 1 + (uint64_t)missed);
}

/* Tasks run one after the other in the handler test: more than the
 * spin windows a learner that rests may open for them (3 misses, a rest
 * of 8 waits, a probe, a rest of 16 ...: 5 windows for 40 tasks). */
#define SLOW_TASKS 40

/* Waits until the handler thread of pool is in (or entering) a wait that
 * sleeps, its spin over; returns its spin windows so far. */
static uint64_t
wait_handler_asleep(mp_pool_t *pool)
{
    uint64_t spins, sleeps;
    while (!mp__pool_spin_counts(pool, &spins, &sleeps)) {
        sched_yield();
    }
    return spins;
}

/* A callback that does nothing: a pool given one handles every reply on
 * its handler thread. */
static int
ignore_result(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    (void)arg;
    return 0;
}

TEST_TIMEOUT(pool_spin_handler_rests_while_results_come_late, 120)
{
    /* The tasks have a callback, so that the handler, not the caller
     * waiting in mp_result_get, takes their replies. */
    const mp_pool_callbacks_t cb = {.on_success = ignore_result};
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    int64_t x = 7;
    void *y = NULL;
    ASSERT_EQ(
        mp_pool_apply(pool, mpt_task_square, &x, sizeof x, &y, MP_WAIT_FOREVER),
        (ssize_t)sizeof x);
    mp_free(y);
    uint64_t spins0, sleeps0;
    (void)mp__pool_spin_counts(pool, &spins0, &sleeps0);
    for (int i = 0; i < SLOW_TASKS; i++) {
        mp_result_t *r = NULL;
        ASSERT_OK(mp_pool_apply_async_cb(pool, mpt_task_announce_and_block,
                                         NULL, 0, &cb, &r));
        pid_t pid;
        mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
        /* The task runs; its result comes only once the handler has given
         * up on it (its spin, if it opened one, closed empty). */
        (void)wait_handler_asleep(pool);
        mpt_signal(&mpt_gate, 1);
        ASSERT_OK(mp_result_get(r, NULL, MP_WAIT_FOREVER));
        mp_result_destroy(r);
    }
    uint64_t spins, sleeps;
    (void)mp__pool_spin_counts(pool, &spins, &sleeps);
    /* Without the learner the handler opens a window after nearly every
     * result (SLOW_TASKS of them, less the few the caller was too slow
     * to follow within the window); with it, a handful. */
    ASSERT_LE(spins - spins0, 10);
    /* Each task after the first waited in a sleep of its own (the first
     * may have had the one the handler began before sleeps0 was read). */
    ASSERT_GE(sleeps - sleeps0, SLOW_TASKS - 1);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

TEST_TIMEOUT(pool_spin_imap_next_rests_while_results_come_late, 60)
{
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    mp_imap_t *it = NULL;
    char item = 0;
    ASSERT_OK(
        mp_pool_imap(pool, mpt_task_announce_and_block, &item, 1, 1, 1, &it));
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    /* The item blocks until the gate opens: each next() spins (while it
     * still does) for a result that cannot come, then times out. */
    void *out = NULL;
    for (int i = 0; i < 3; i++) {
        ASSERT_ERR(mp_imap_next(it, &out, NULL, 1), MP_ETIMEDOUT);
    }
    /* Three spins in a row ended empty: the iterator rests. */
    ASSERT(!mp__spin_begin(&it->learn));
    mpt_signal(&mpt_gate, 1);
    ASSERT_OK(mp_imap_next(it, &out, NULL, MP_WAIT_FOREVER));
    mp_free(out);
    ASSERT_ERR(mp_imap_next(it, &out, NULL, MP_WAIT_FOREVER), MP_EOF);
    mp_imap_destroy(it);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

/* The map of the parts test: item 0 announces its worker and blocks until
 * the gate opens, the others are squared. */
static int
task_first_blocks(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x == 0 && mpt_task_announce_and_block(in, len, out) != 0) {
        return -1;
    }
    return mpt_task_square(in, len, out);
}

static mp_pool_t *parts_pool;
static int parts_hook_calls;

/* The chunks of the first part of a map on Pool(2) (map.c, FIRST_PART). */
#define PARTS_FIRST 4

/* Between the first and the second part of the map: its first chunk runs
 * already; the pool is closed before the rest is queued. Then every job of
 * the first part ends and is freed (the handler is back asleep after
 * their results) before the caller places the next jobs in the same block:
 * the block must outlive them. */
static void
parts_hook(void)
{
    if (parts_hook_calls++ == 0) {
        pid_t pid;
        mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
        ASSERT_OK(mp_pool_close(parts_pool));
        mpt_signal(&mpt_gate, 1);
        mp_pool_stats_t st;
        uint64_t spins, sleeps;
        do {
            sched_yield();
            ASSERT_OK(mp_pool_stats(parts_pool, &st, NULL, 0));
        } while (st.done < PARTS_FIRST ||
                 !mp__pool_spin_counts(parts_pool, &spins, &sleeps));
    }
}

#define PARTS_ITEMS 200

TEST_TIMEOUT(pool_map_queues_in_parts_and_a_close_between_them_keeps_it, 60)
{
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    parts_pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    parts_hook_calls = 0;
    int64_t in[PARTS_ITEMS], out[PARTS_ITEMS];
    for (int i = 0; i < PARTS_ITEMS; i++) {
        in[i] = i;
        out[i] = -1;
    }
    mp__pool_part_hook = parts_hook;
    /* Chunks of one item: many parts. The hook sees item 0 running before
     * the caller queued the second part, and closes the pool then: the
     * map, accepted before the close, still runs every item. */
    int err =
        mp_pool_map(parts_pool, task_first_blocks, in, sizeof in[0],
                    PARTS_ITEMS, 1, out, sizeof out[0], NULL, MP_WAIT_FOREVER);
    mp__pool_part_hook = NULL;
    ASSERT_OK(err);
    ASSERT_GT(parts_hook_calls, 1);
    for (int i = 0; i < PARTS_ITEMS; i++) {
        ASSERT_EQ(out[i], (int64_t)i * i);
    }
    /* Closed: a new map is refused, and the pool joins. */
    ASSERT_ERR(mp_pool_map(parts_pool, mpt_task_square, in, sizeof in[0], 1, 1,
                           out, sizeof out[0], NULL, MP_WAIT_FOREVER),
               MP_ECLOSED);
    mpt_pool_finish(parts_pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

/* Records the thread it runs on. */
static int
note_cb_thread(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    *(pthread_t *)arg = pthread_self();
    return 0;
}

/* Applies x*x on pool, through mp_pool_apply or apply_async + get. */
static void
apply_square(mp_pool_t *pool, int64_t x, bool async)
{
    void *y = NULL;
    ssize_t n;
    if (async) {
        mp_result_t *r = NULL;
        ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &x, sizeof x, &r));
        n = mp_result_get(r, &y, MP_WAIT_FOREVER);
        mp_result_destroy(r);
    } else {
        n = mp_pool_apply(pool, mpt_task_square, &x, sizeof x, &y,
                          MP_WAIT_FOREVER);
    }
    ASSERT_EQ(n, (ssize_t)sizeof x);
    int64_t got;
    memcpy(&got, y, sizeof got);
    mp_free(y);
    ASSERT_EQ(got, x * x);
}

/* Issue 20: a caller waiting for its apply takes the reply from the result
 * queue itself, so the handler thread is not woken for it (one context
 * switch less per round trip on a shared CPU). Counted: without it the
 * handler opens a spin window or sleeps for every reply (about 2 per
 * apply); with it, at most the few waits it had begun before the caller
 * took over. A pool given a callback still runs it on the handler. */
TEST_TIMEOUT(pool_apply_caller_takes_its_reply_without_the_handler, 60)
{
    enum { APPLIES = 100 };
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    for (int64_t i = 0; i < 3; i++) {
        apply_square(pool, i, i % 2 == 0);
    }
    uint64_t spins0, sleeps0, spins, sleeps;
    (void)wait_handler_asleep(pool);
    (void)mp__pool_spin_counts(pool, &spins0, &sleeps0);
    for (int64_t i = 0; i < APPLIES; i++) {
        apply_square(pool, i, i % 2 == 0);
    }
    (void)mp__pool_spin_counts(pool, &spins, &sleeps);
    ASSERT_LE(spins - spins0 + sleeps - sleeps0, 4);
    /* A callback runs on the handler thread, never on the caller's. */
    pthread_t ran = pthread_self();
    const mp_pool_callbacks_t cb = {.on_success = note_cb_thread, .arg = &ran};
    for (int64_t i = 0; i < 3; i++) {
        mp_result_t *r = NULL;
        ASSERT_OK(mp_pool_apply_async_cb(pool, mpt_task_square, &i, sizeof i,
                                         &cb, &r));
        ASSERT_EQ(mp_result_get(r, NULL, MP_WAIT_FOREVER), (ssize_t)sizeof i);
        mp_result_destroy(r);
        ASSERT(!pthread_equal(ran, pthread_self()));
        ran = pthread_self();
        apply_square(pool, i, true);
    }
    mpt_pool_finish(pool);
}

/* The caller taking its apply's reply watches the result queue before it
 * sleeps only while such watches pay: a task that blocks makes each wait's
 * watch close empty, and after three the pool's takers rest (sleep at
 * once) for the next eight waits. */
TEST_TIMEOUT(pool_apply_taker_rests_while_results_come_late, 60)
{
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    mp_result_t *r = NULL;
    ASSERT_OK(
        mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL, 0, &r));
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    uint64_t watches0 = atomic_load(&pool->n_taker_watches);
    for (int i = 0; i < 10; i++) {
        /* Long enough that the watch (50 us) opens before the deadline
         * unless this thread is kept off the CPU for 20 ms. */
        ASSERT_ERR(mp_result_wait(r, 20), MP_ETIMEDOUT);
    }
    ASSERT_EQ(atomic_load(&pool->n_taker_watches) - watches0, 3);
    mpt_signal(&mpt_gate, 1);
    ASSERT_OK(mp_result_wait(r, MP_WAIT_FOREVER));
    ASSERT(mp_result_ready(r));
    mp_result_destroy(r);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

/* Two threads wait on applies of one pool: one of them takes the replies
 * (one taker at a time), and a reply it takes for the other's result ends
 * that result and wakes its waiter. */
typedef struct two_waiters {
    mp_pool_t *pool;
    int64_t base;
} two_waiters_t;

static void *
waiter_main(void *arg)
{
    two_waiters_t *w = arg;
    for (int64_t i = 0; i < 200; i++) {
        apply_square(w->pool, w->base + i, i % 2 == 0);
    }
    return NULL;
}

TEST_TIMEOUT(pool_apply_replies_taken_for_another_waiter_end_its_result, 60)
{
    mp_pool_t *pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    two_waiters_t a = {pool, 0}, b = {pool, 1000};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, waiter_main, &a), 0);
    (void)waiter_main(&b);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    /* A result nobody waits for ends for whoever asks whether it is ready. */
    int64_t x = 5;
    mp_result_t *r = NULL;
    ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &x, sizeof x, &r));
    while (!mp_result_ready(r)) {
        sched_yield();
    }
    mp_result_destroy(r);
    mpt_pool_finish(pool);
}

/* The killer of the test below: waits until the worker runs the task
 * (its pid announced) and the caller has begun taking its replies (a
 * watch counted), then SIGKILLs the worker. */
typedef struct taker_kill {
    mp_pool_t *pool;
    uint64_t watches0;
} taker_kill_t;

static void *
kill_under_taker(void *arg)
{
    taker_kill_t *k = arg;
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    while (atomic_load(&k->pool->n_taker_watches) == k->watches0) {
        sched_yield();
    }
    ASSERT_OK(kill(pid, SIGKILL));
    return NULL;
}

/* A worker SIGKILLed while the caller of its apply takes the pool's
 * replies (the handler then sleeps with the result queue out of its
 * wait): the handler still sees the exit, the apply fails with
 * MP_EWORKER instead of hanging, and the pool goes on. */
TEST_TIMEOUT(pool_apply_worker_killed_while_its_caller_takes, 60)
{
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    taker_kill_t k = {pool, atomic_load(&pool->n_taker_watches)};
    pthread_t t;
    ASSERT_EQ(pthread_create(&t, NULL, kill_under_taker, &k), 0);
    void *out = NULL;
    ASSERT_ERR(mp_pool_apply(pool, mpt_task_announce_and_block, NULL, 0, &out,
                             MP_WAIT_FOREVER),
               MP_EWORKER);
    ASSERT_EQ(pthread_join(t, NULL), 0);
    apply_square(pool, 6, true);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}
