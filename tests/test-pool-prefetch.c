/* SPDX-License-Identifier: MIT */
/* test-pool-prefetch.c - Pool with tasks queued ahead in the workers'
 * inboxes: a worker killed while tasks wait in its inbox fails only the
 * task it started, and the waiting ones still run, exactly once; kill
 * storms never run an item twice; an idle worker takes a task queued
 * behind a blocked one; imap keeps its order; replies whose items differ
 * (lengths, failures) come back intact. */
#include "runner.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

enum { MAX_ITEMS = 2000 };

/* Shared with the workers (MAP_SHARED): how often each item ran. */
typedef struct runs {
    atomic_int count[MAX_ITEMS];
} runs_t;
static runs_t *runs;

static void
runs_map(void)
{
    runs = mmap(NULL, sizeof *runs, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT(runs != MAP_FAILED);
}

/* Counts a run of item *in (an int64_t index), then squares it. */
static int
counted_square(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t i;
    if (len != sizeof i) {
        return -1;
    }
    memcpy(&i, in, sizeof i);
    atomic_fetch_add(&runs->count[i], 1);
    return mpt_task_square(in, len, out);
}

/* Opens the gate for a task blocked in mpt_task_announce_and_block. */
static int
open_gate(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    (void)out;
    mpt_signal(&mpt_gate, 1);
    return 0;
}

/* Gets result r (an int64_t) and checks it is want. */
static void
expect_value(mp_result_t *r, int64_t want)
{
    void *buf;
    int64_t y;
    ASSERT_EQ(mp_result_get(r, &buf, MP_WAIT_FOREVER), (ssize_t)sizeof y);
    memcpy(&y, buf, sizeof y);
    mp_free(buf);
    ASSERT_EQ(y, want);
}

TEST(pool_prefetch_killed_worker_queued_tasks_run_once)
{
    /* One worker: every task after the blocking one waits in its inbox
     * (or in the pool) when it is killed. */
    enum { N = 12 };
    runs_map();
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    mp_result_t *blocked, *r[N];
    ASSERT_OK(mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL, 0,
                                  &blocked));
    for (int64_t i = 0; i < N; i++) {
        ASSERT_OK(mp_pool_apply_async(pool, counted_square, &i, 8, &r[i]));
    }
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_ERR(mp_result_get(blocked, NULL, MP_WAIT_FOREVER), MP_EWORKER);
    int code;
    ASSERT_OK(mp_result_exitcode(blocked, &code));
    ASSERT_EQ(code, -SIGKILL);
    mp_result_destroy(blocked);
    for (int64_t i = 0; i < N; i++) {
        expect_value(r[i], i * i);
        mp_result_destroy(r[i]);
        ASSERT_EQ(atomic_load(&runs->count[i]), 1);
    }
    mp_pool_stats_t st;
    ASSERT_OK(mp_pool_stats(pool, &st, NULL, 0));
    ASSERT_EQ(st.done, N);
    ASSERT_EQ(st.failed, 1);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
    munmap(runs, sizeof *runs);
}

/* Items that are traps: they announce their worker and block until it
 * is killed. */
static bool
is_trap(int64_t i)
{
    return i % 150 == 75;
}

/* counted_square, except that traps block in mpt_task_announce_and_block. */
static int
trapped_square(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t i;
    memcpy(&i, in, sizeof i);
    if (is_trap(i)) {
        atomic_fetch_add(&runs->count[i], 1);
        return mpt_task_announce_and_block(in, len, out);
    }
    return counted_square(in, len, out);
}

/* Kills the worker of each trap as it announces itself; *arg holds how
 * many traps there are. */
static void *
storm_main(void *arg)
{
    int ntraps = *(int *)arg;
    for (int k = 0; k < ntraps; k++) {
        pid_t pid;
        mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        mpt_wait_pid_exit(pid);
    }
    return NULL;
}

/* A map (or an ordered imap) of n items, chunksize 1, whose trap items
 * get their workers killed while tasks wait in their inboxes: every trap
 * fails with MP_EWORKER, no item runs twice, and every other item ran
 * once with the right result (or, at most one per kill, failed with
 * MP_EWORKER should the result of the item before a trap still have
 * been on its way). */
static void
storm_case(int nproc, int n, bool ordered_imap)
{
    runs_map();
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(nproc, 0, MP_START_FORK);
    static int64_t in[MAX_ITEMS], out[MAX_ITEMS];
    static int status[MAX_ITEMS];
    int ntraps = 0;
    for (int i = 0; i < n; i++) {
        in[i] = i;
        out[i] = -1;
        status[i] = 1;
        ntraps += is_trap(i);
    }
    pthread_t killer;
    ASSERT_EQ(pthread_create(&killer, NULL, storm_main, &ntraps), 0);
    if (ordered_imap) {
        mp_imap_t *it;
        ASSERT_OK(mp_pool_imap(pool, trapped_square, in, 8, (size_t)n, 1, &it));
        for (int i = 0; i < n; i++) {
            void *buf = NULL;
            size_t idx = SIZE_MAX;
            ssize_t got = mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER);
            ASSERT_EQ(idx, (size_t)i); /* in order, kills or not */
            status[i] = got < 0 ? (int)got : 0;
            if (got >= 0) {
                ASSERT_EQ(got, 8);
                memcpy(&out[i], buf, 8);
            }
            mp_free(buf);
        }
        ASSERT_ERR(mp_imap_next(it, NULL, NULL, 0), MP_EOF);
        mp_imap_destroy(it);
    } else {
        ASSERT_ERR(mp_pool_map(pool, trapped_square, in, 8, (size_t)n, 1, out,
                               8, status, MP_WAIT_FOREVER),
                   MP_EWORKER);
    }
    ASSERT_EQ(pthread_join(killer, NULL), 0);
    int others_failed = 0;
    for (int i = 0; i < n; i++) {
        int c = atomic_load(&runs->count[i]);
        ASSERT_EQ(c, 1);
        if (is_trap(i)) {
            ASSERT_ERR(status[i], MP_EWORKER);
        } else if (status[i] == 0) {
            ASSERT_EQ(out[i], (int64_t)i * i);
        } else {
            ASSERT_ERR(status[i], MP_EWORKER);
            others_failed++;
        }
    }
    ASSERT_LE(others_failed, ntraps);
    mp_pool_stats_t st;
    ASSERT_OK(mp_pool_stats(pool, &st, NULL, 0));
    ASSERT_EQ(st.done + st.failed, (uint64_t)n);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
    munmap(runs, sizeof *runs);
}

TEST_TIMEOUT(pool_prefetch_kill_storm_map_runs_items_once, 90)
{
    storm_case(2, mpt_slow() ? 600 : 2000, false);
}

TEST_TIMEOUT(pool_prefetch_kill_storm_imap_keeps_order, 90)
{
    storm_case(3, mpt_slow() ? 600 : 1500, true);
}

TEST(pool_prefetch_idle_worker_takes_task_behind_blocked_one)
{
    /* A blocks until C runs. Whichever worker A lands on, C (submitted
     * after B) may be queued behind it; the other worker must take C
     * from there once it is idle, or this never ends. */
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    mp_result_t *a, *b, *c;
    int64_t x = 7;
    ASSERT_OK(
        mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL, 0, &a));
    ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &x, 8, &b));
    ASSERT_OK(mp_pool_apply_async(pool, open_gate, NULL, 0, &c));
    ASSERT_OK(mp_result_get(c, NULL, MP_WAIT_FOREVER));
    ASSERT_OK(mp_result_get(a, NULL, MP_WAIT_FOREVER));
    expect_value(b, 49);
    mp_result_destroy(a);
    mp_result_destroy(b);
    mp_result_destroy(c);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

TEST(pool_prefetch_single_worker_many_blocked_behind)
{
    /* With one worker nothing can be taken over: the queued tasks wait
     * for the blocked one and then all run, in order of submission. */
    enum { N = 10 };
    runs_map();
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    mp_result_t *a, *r[N];
    ASSERT_OK(
        mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL, 0, &a));
    for (int64_t i = 0; i < N; i++) {
        ASSERT_OK(mp_pool_apply_async(pool, counted_square, &i, 8, &r[i]));
    }
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    ASSERT_EQ(mp_result_ready(r[0]), 0);
    mpt_signal(&mpt_gate, 1);
    ASSERT_OK(mp_result_get(a, NULL, MP_WAIT_FOREVER));
    for (int64_t i = 0; i < N; i++) {
        expect_value(r[i], i * i);
        ASSERT_EQ(atomic_load(&runs->count[i]), 1);
        mp_result_destroy(r[i]);
    }
    mp_result_destroy(a);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
    munmap(runs, sizeof *runs);
}

/* Writes i bytes of value i for item i (an int64_t), and fails items
 * that are multiples of 7 with a message. */
static int
varied(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t i;
    if (len != sizeof i) {
        return -1;
    }
    memcpy(&i, in, sizeof i);
    uint8_t bytes[64];
    memset(bytes, (int)i, sizeof bytes);
    (void)mp_pool_out_write(out, bytes, (size_t)(i % 64));
    if (i % 7 == 0) {
        char msg[32];
        snprintf(msg, sizeof msg, "item %d refused", (int)i);
        (void)mp_pool_out_error(out, msg);
        return 5;
    }
    if (i % 5 == 0) {
        /* A message set by a task that then succeeds is dropped. */
        (void)mp_pool_out_error(out, "ignored");
    }
    return 0;
}

TEST(pool_prefetch_chunk_replies_with_varied_items)
{
    enum { N = 300 };
    mp_pool_t *pool = mpt_pool_make(2, 0);
    int64_t in[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    /* map_buffers keeps every length; chunks of 9 mix all kinds. */
    const void *bufs[N];
    size_t lens[N], out_lens[N];
    void *outs[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        bufs[i] = &in[i];
        lens[i] = 8;
    }
    ASSERT_ERR(mp_pool_map_buffers(pool, varied, bufs, lens, N, 9, outs,
                                   out_lens, status, MP_WAIT_FOREVER),
               MP_EREMOTE);
    for (int i = 0; i < N; i++) {
        if (i % 7 == 0) {
            ASSERT_ERR(status[i], MP_EREMOTE);
            ASSERT_NULL(outs[i]);
            continue;
        }
        ASSERT_EQ(status[i], 0);
        ASSERT_EQ(out_lens[i], (size_t)(i % 64));
        for (size_t k = 0; k < out_lens[i]; k++) {
            ASSERT_EQ(((uint8_t *)outs[i])[k], (uint8_t)i);
        }
        mp_free(outs[i]);
    }
    /* imap of the same: each failure carries its own message. */
    mp_imap_t *it;
    ASSERT_OK(mp_pool_imap(pool, varied, in, 8, N, 9, &it));
    for (int i = 0; i < N; i++) {
        void *buf = NULL;
        size_t idx = 0;
        ssize_t got = mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER);
        ASSERT_EQ(idx, (size_t)i);
        if (i % 7 == 0) {
            ASSERT_ERR(got, MP_EREMOTE);
            char want[32];
            snprintf(want, sizeof want, "item %d refused", i);
            ASSERT_NOT_NULL(strstr((char *)buf, want));
        } else {
            ASSERT_EQ(got, i % 64);
        }
        mp_free(buf);
    }
    mp_imap_destroy(it);
    mpt_pool_finish(pool);
}

TEST(pool_prefetch_maxtasksperchild_with_queued_tasks)
{
    /* Workers replaced every 3 tasks: the pool never queues more than a
     * worker may still run, so every task completes, once. */
    enum { N = 90 };
    runs_map();
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 2;
    o.maxtasksperchild = 3;
    o.start_method = MP_START_FORK; /* tasks count in the inherited map */
    ASSERT_OK(mp_pool_create(&pool, &o));
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    ASSERT_OK(mp_pool_map(pool, counted_square, in, 8, N, 1, out, 8, NULL,
                          MP_WAIT_FOREVER));
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(out[i], (int64_t)i * i);
        ASSERT_EQ(atomic_load(&runs->count[i]), 1);
    }
    mpt_pool_finish(pool);
    munmap(runs, sizeof *runs);
}
