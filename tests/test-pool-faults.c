/* SPDX-License-Identifier: MIT */
/* test-pool-faults.c - Pool when workers die: a task that crashes, aborts
 * or exits fails alone with the cause; a worker SIGKILLed from outside
 * mid-task fails only its task; workers killed during a map; a crashing
 * initializer breaks the pool instead of forking forever; terminate and
 * destroy with tasks running; workers never call the allocator (they may
 * be forked while another thread holds its lock). */
#include "runner.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* Dies with SIGSEGV (default action, also under sanitizers). */
static int
crash_segv(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    (void)out;
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}

/* Dies with SIGABRT. */
static int
crash_abort(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    (void)out;
    signal(SIGABRT, SIG_DFL);
    abort();
}

/* Ends the worker with status 3 (Python's os._exit(3) in a task). */
static int
crash_exit(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    (void)out;
    _exit(3);
}

/* running: a pipe the signal tests below use. */
static mpt_pipe_t running;

/* Shared with the workers (MAP_SHARED): progress of the killed map. */
typedef struct progress {
    atomic_long done;
    atomic_int last_pid;
    atomic_bool finished;
} progress_t;
static progress_t *prog;

/* mpt_task_square that records progress for the killer thread. */
static int
sq_progress(const void *in, size_t len, mp_pool_out_t *out)
{
    atomic_store(&prog->last_pid, (int)getpid());
    atomic_fetch_add(&prog->done, 1);
    return mpt_task_square(in, len, out);
}

/* Checks that pool still computes, then closes, joins and frees it. */
static void
check_and_finish(mp_pool_t *pool)
{
    int64_t in[8], out[8];
    for (int i = 0; i < 8; i++) {
        in[i] = i + 1;
    }
    ASSERT_OK(mp_pool_map(pool, mpt_task_square, in, 8, 8, 1, out, 8, NULL,
                          MP_WAIT_FOREVER));
    for (int i = 0; i < 8; i++) {
        ASSERT_EQ(out[i], (i + 1) * (i + 1));
    }
    mpt_pool_finish(pool);
}

/* Runs fn among good tasks; fn's task must fail with MP_EWORKER and
 * exit code code, the others must succeed. */
static void
crash_case(mp_pool_fn fn, int code, const char *text)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    enum { N = 6 };
    mp_result_t *good[N], *bad;
    for (int64_t i = 0; i < N / 2; i++) {
        ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &i, 8, &good[i]));
    }
    ASSERT_OK(mp_pool_apply_async(pool, fn, NULL, 0, &bad));
    for (int64_t i = N / 2; i < N; i++) {
        ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &i, 8, &good[i]));
    }
    ASSERT_ERR(mp_result_get(bad, NULL, MP_WAIT_FOREVER), MP_EWORKER);
    int got;
    ASSERT_OK(mp_result_exitcode(bad, &got));
    ASSERT_EQ(got, code);
    bool ok = true;
    ASSERT_OK(mp_result_successful(bad, &ok));
    ASSERT(!ok);
    ASSERT_NOT_NULL(strstr(mp_result_error_message(bad), text));
    mp_result_destroy(bad);
    for (int64_t i = 0; i < N; i++) {
        void *buf;
        int64_t y;
        ASSERT_EQ(mp_result_get(good[i], &buf, MP_WAIT_FOREVER),
                  (ssize_t)sizeof y);
        memcpy(&y, buf, sizeof y);
        mp_free(buf);
        ASSERT_EQ(y, i * i);
        mp_result_destroy(good[i]);
    }
    check_and_finish(pool);
}

TEST(pool_faults_task_segfault)
{
    crash_case(crash_segv, -SIGSEGV, "worker killed by signal 11");
}

TEST(pool_faults_task_abort)
{
    crash_case(crash_abort, -SIGABRT, "worker killed by signal 6");
}

TEST(pool_faults_task_exit)
{
    crash_case(crash_exit, 3, "worker exited with status 3");
}

TEST(pool_faults_worker_killed_mid_task)
{
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    mp_result_t *victim, *r[4];
    ASSERT_OK(mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL, 0,
                                  &victim));
    for (int64_t i = 0; i < 4; i++) {
        ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &i, 8, &r[i]));
    }
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    ASSERT_OK(kill(pid, SIGKILL) == 0 ? 0 : -1);
    ASSERT_ERR(mp_result_get(victim, NULL, MP_WAIT_FOREVER), MP_EWORKER);
    int code;
    ASSERT_OK(mp_result_exitcode(victim, &code));
    ASSERT_EQ(code, -SIGKILL);
    mp_result_destroy(victim);
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(mp_result_get(r[i], NULL, MP_WAIT_FOREVER));
        mp_result_destroy(r[i]);
    }
    check_and_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

/* The killer thread: SIGKILLs the worker that last ran an item, each time
 * the map has made some more progress, until the map returns. */
static void *
killer_main(void *arg)
{
    int *kills = arg;
    pid_t last_killed = 0;
    long next = 100;
    while (!atomic_load(&prog->finished)) {
        pid_t pid = atomic_load(&prog->last_pid);
        if (atomic_load(&prog->done) < next || pid == last_killed || pid == 0) {
            /* Polling a counter, not timing anything. */
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
            continue;
        }
        if (kill(pid, SIGKILL) == 0) {
            (*kills)++;
            /* Dead before the next look (and before the join below). */
            mpt_wait_pid_exit(pid);
        }
        last_killed = pid;
        next = atomic_load(&prog->done) + 150;
    }
    return NULL;
}

TEST_TIMEOUT(pool_faults_random_kills_during_map, 60)
{
    enum { N = 1000 };
    prog = mmap(NULL, sizeof *prog, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT(prog != MAP_FAILED);
    /* Forked workers under every default method: they report progress in
     * the anonymous mapping they inherit. */
    mp_pool_t *pool = mpt_pool_make_by(3, 0, MP_START_FORK);
    static int64_t in[N], out[N];
    static int status[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
        out[i] = -1;
    }
    int kills = 0;
    pthread_t killer;
    ASSERT_EQ(pthread_create(&killer, NULL, killer_main, &kills), 0);
    int err = mp_pool_map(pool, sq_progress, in, 8, N, 5, out, 8, status,
                          MP_WAIT_FOREVER);
    atomic_store(&prog->finished, true);
    ASSERT_EQ(pthread_join(killer, NULL), 0);
    int failed = 0;
    for (int i = 0; i < N; i++) {
        if (status[i] == 0) {
            ASSERT_EQ(out[i], (int64_t)i * i);
        } else {
            ASSERT_ERR(status[i], MP_EWORKER);
            failed++;
        }
    }
    ASSERT(err == 0 || err == MP_EWORKER);
    ASSERT_EQ(err == 0, failed == 0);
    /* Each kill fails at most the one chunk its worker held. */
    ASSERT_LE(failed, kills * 5);
    check_and_finish(pool);
    munmap(prog, sizeof *prog);
}

/* An initializer that dies. */
static int
init_crash(void *arg)
{
    (void)arg;
    mpt_signal(&running, 1);
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
    return 0;
}

TEST(pool_faults_crashing_initializer_no_fork_loop)
{
    mpt_pipe_open(&running);
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 2;
    o.initializer = init_crash;
    o.start_method = MP_START_FORK; /* it signals on the inherited pipe */
    ASSERT_OK(mp_pool_create(&pool, &o));
    mp_result_t *r;
    int err = mp_pool_apply_async(pool, mpt_task_square, "12345678", 8, &r);
    if (err == 0) {
        ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EBROKEN);
        ASSERT_NOT_NULL(
            strstr(mp_result_error_message(r), "workers keep dying at start"));
        mp_result_destroy(r);
    } else {
        ASSERT_ERR(err, MP_EBROKEN);
    }
    ASSERT_OK(mp_pool_terminate(pool));
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    mpt_signal(&running, 0);
    int runs = 0;
    uint8_t b;
    while (mpt_wait_signal(&running, &b) == 0 && b == 1) {
        runs++;
    }
    /* 2 * processes + 2 failed starts in a row break the pool. */
    ASSERT_GE(runs, 7);
    ASSERT_LE(runs, 7 + 2);
    mpt_pipe_close(&running);
}

TEST(pool_faults_terminate_with_tasks_running)
{
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    mp_result_t *r[4];
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL,
                                      0, &r[i]));
    }
    for (int i = 0; i < 2; i++) {
        pid_t pid;
        mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    }
    ASSERT_OK(mp_pool_terminate(pool));
    for (int i = 0; i < 4; i++) {
        ASSERT_ERR(mp_result_get(r[i], NULL, MP_WAIT_FOREVER), MP_ECANCELED);
        ASSERT_STR_EQ(mp_result_error_message(r[i]), "the pool was terminated");
    }
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    int64_t x = 1;
    mp_result_t *late = NULL;
    ASSERT_ERR(mp_pool_apply_async(pool, mpt_task_square, &x, 8, &late),
               MP_ECLOSED);
    ASSERT_OK(mp_pool_terminate(pool));
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
    for (int i = 0; i < 4; i++) {
        mp_result_destroy(r[i]); /* handles outlive the pool */
    }
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

TEST(pool_faults_destroy_without_join)
{
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    mp_result_t *r;
    ASSERT_OK(
        mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL, 0, &r));
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    int64_t x = 4;
    for (int i = 0; i < 5; i++) {
        mp_result_t *q;
        ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &x, 8, &q));
        mp_result_destroy(q);
    }
    mp_pool_destroy(pool);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    ASSERT_ERR(mp_result_get(r, NULL, MP_NO_WAIT), MP_ECANCELED);
    mp_result_destroy(r);
    /* A closed pool with work queued is destroyed the same way. */
    pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    ASSERT_OK(
        mp_pool_apply_async(pool, mpt_task_announce_and_block, NULL, 0, &r));
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    ASSERT_OK(mp_pool_close(pool));
    mp_pool_destroy(pool);
    ASSERT_ERR(mp_result_get(r, NULL, MP_NO_WAIT), MP_ECANCELED);
    mp_result_destroy(r);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}

/* mpt_task_square, but item 3 crashes its worker. */
static int
sq_crash_3(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x == 3) {
        return crash_segv(in, len, out);
    }
    return mpt_task_square(in, len, out);
}

TEST(pool_faults_imap_item_crash)
{
    enum { N = 8 };
    mp_pool_t *pool = mpt_pool_make(2, 0);
    int64_t in[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    mp_imap_t *it;
    ASSERT_OK(mp_pool_imap(pool, sq_crash_3, in, 8, N, 1, &it));
    for (size_t k = 0; k < N; k++) {
        void *buf = NULL;
        size_t idx;
        ssize_t got = mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER);
        ASSERT_EQ(idx, k);
        if (k == 3) {
            ASSERT_ERR(got, MP_EWORKER);
            ASSERT_NOT_NULL(strstr((char *)buf, "signal 11"));
        } else {
            int64_t y;
            ASSERT_EQ(got, (ssize_t)sizeof y);
            memcpy(&y, buf, sizeof y);
            ASSERT_EQ(y, (int64_t)(k * k));
        }
        mp_free(buf);
    }
    mp_imap_destroy(it);
    check_and_finish(pool);
}

TEST(pool_faults_idle_worker_killed)
{
    /* A task given to a worker that died idle never started: it goes to
     * another worker instead of failing (whichever the pool notices first,
     * the death or the new task). */
    mp_pool_t *pool = mpt_pool_make(1, 0);
    for (int round = 0; round < 5; round++) {
        void *buf;
        pid_t pid;
        ASSERT_EQ(
            mp_pool_apply(pool, mpt_task_pid, NULL, 0, &buf, MP_WAIT_FOREVER),
            (ssize_t)sizeof pid);
        memcpy(&pid, buf, sizeof pid);
        mp_free(buf);
        ASSERT_EQ(kill(pid, SIGKILL), 0);
        mpt_wait_pid_exit(pid);
        int64_t x = round;
        ASSERT_EQ(
            mp_pool_apply(pool, mpt_task_square, &x, 8, &buf, MP_WAIT_FOREVER),
            8);
        int64_t y;
        memcpy(&y, buf, sizeof y);
        mp_free(buf);
        ASSERT_EQ(y, x * x);
    }
    check_and_finish(pool);
}

/*--- workers never call the allocator -------------------------------------*/

/* A worker is forked, perhaps while another thread of the program holds
 * the allocator's lock: it must not call the allocator itself. This
 * allocator counts the calls made in any process but the test's. */
static pid_t alloc_parent;
static _Atomic long *child_alloc_calls; /* shared with the children */

static void
count_child_call(void)
{
    if (getpid() != alloc_parent) {
        atomic_fetch_add(child_alloc_calls, 1);
    }
}

static void *
counting_malloc(size_t n)
{
    count_child_call();
    return malloc(n);
}

static void *
counting_realloc(void *p, size_t n)
{
    count_child_call();
    return realloc(p, n);
}

static void *
counting_calloc(size_t n, size_t size)
{
    count_child_call();
    return calloc(n, size);
}

static void
counting_free(void *p)
{
    count_child_call();
    free(p);
}

/* Item: {kind, size}. Kind 0 writes size bytes of 'r' (in two writes);
 * 1 fails with a message of size bytes; 2 fails with a code only; 3
 * checks the out calls' answers to bad input, then writes "ok". */
typedef struct shape {
    int64_t kind, size;
} shape_t;

static int
shaped_task(const void *in, size_t len, mp_pool_out_t *out)
{
    shape_t s;
    if (len < sizeof s) {
        return -1;
    }
    memcpy(&s, in, sizeof s);
    if (s.kind == 2) {
        return -7;
    }
    if (s.kind == 3) {
        bool ok = mp_pool_out_error(out, NULL) == MP_EINVAL &&
                  mp_pool_out_write(out, NULL, 1) == MP_EINVAL &&
                  mp_pool_out_write(out, "x", SIZE_MAX) == MP_EINVAL &&
                  mp_pool_out_write(out, NULL, 0) == 0 &&
                  mp_pool_out_error(out, "") == 0;
        return ok ? mp_pool_out_write(out, "ok", 2) : -1;
    }
    /* Not malloc: under the sanitizers it is not safe after a fork from a
     * program with threads (see docs/design.md). */
    static char text[((size_t)1 << 21) + 1];
    if (s.size < 0 || (size_t)s.size >= sizeof text) {
        return -1;
    }
    memset(text, s.kind == 0 ? 'r' : 'e', (size_t)s.size);
    text[s.size] = '\0';
    int rc;
    if (s.kind == 1) {
        rc = mp_pool_out_error(out, text) == 0 ? -1 : -2;
    } else {
        size_t half = (size_t)s.size / 2;
        rc = mp_pool_out_write(out, text, half);
        if (rc == 0) {
            rc = mp_pool_out_write(out, text + half, (size_t)s.size - half);
        }
    }
    return rc;
}

TEST(pool_faults_worker_never_calls_the_allocator)
{
    child_alloc_calls =
        mmap(NULL, sizeof *child_alloc_calls, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(child_alloc_calls, MAP_FAILED);
    alloc_parent = getpid();
    ASSERT_OK(mp_set_allocator(counting_malloc, counting_realloc,
                               counting_calloc, counting_free));
    /* maxtasksperchild 3: workers are replaced (forked from the pool's
     * thread) as the test goes. */
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 2;
    o.maxtasksperchild = 3;
    ASSERT_OK(mp_pool_create(&pool, &o));
    /* Results of every size class the worker's buffers go through (up to a
     * huge-page one), items that differ (the per-item table), errors with
     * long messages, and inputs that grow the worker's task buffer. */
    enum { N = 40 };
    shape_t in[N];
    for (int i = 0; i < N; i++) {
        in[i] = (shape_t){.kind = i % 7 == 3    ? 1
                                  : i % 11 == 5 ? 2
                                                : 0,
                          .size = (int64_t)1 << (i % 22)};
    }
    int status[N];
    void *outs[N];
    size_t out_lens[N];
    const void *bufs[N];
    size_t lens[N];
    char *big = calloc(1, 300000);
    ASSERT_NOT_NULL(big);
    for (int i = 0; i < N; i++) {
        /* Every fifth input is padded to 300000 bytes. */
        if (i % 5 == 0) {
            memcpy(big, &in[i], sizeof in[i]);
        }
        bufs[i] = i % 5 == 0 ? (const void *)big : (const void *)&in[i];
        lens[i] = i % 5 == 0 ? 300000 : sizeof in[i];
    }
    for (size_t chunksize = 1; chunksize <= 8; chunksize *= 8) {
        int rc =
            mp_pool_map_buffers(pool, shaped_task, bufs, lens, N, chunksize,
                                outs, out_lens, status, MP_WAIT_FOREVER);
        ASSERT_ERR(rc, MP_EREMOTE);
        for (int i = 0; i < N; i++) {
            shape_t s;
            memcpy(&s, bufs[i], sizeof s);
            if (s.kind == 0) {
                ASSERT_OK(status[i]);
                ASSERT_EQ(out_lens[i], (size_t)s.size);
                ASSERT_EQ(((char *)outs[i])[0], 'r');
                ASSERT_EQ(((char *)outs[i])[s.size - 1], 'r');
            } else {
                ASSERT_ERR(status[i], MP_EREMOTE);
                ASSERT_NULL(outs[i]);
            }
            mp_free(outs[i]);
        }
    }
    /* Bad input to the out calls is refused, and an error text set by a
     * task that then succeeds is dropped. */
    shape_t bad = {3, 0};
    void *res;
    ASSERT_EQ(mp_pool_apply(pool, shaped_task, &bad, sizeof bad, &res,
                            MP_WAIT_FOREVER),
              2);
    ASSERT_MEM_EQ(res, "ok", 2);
    mp_free(res);
    /* A message from mp_pool_out_error reaches the caller (its first 1023
     * bytes). */
    size_t sizes[] = {1000, 5000};
    for (size_t k = 0; k < 2; k++) {
        shape_t e = {1, (int64_t)sizes[k]};
        mp_result_t *r;
        ASSERT_OK(mp_pool_apply_async(pool, shaped_task, &e, sizeof e, &r));
        ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EREMOTE);
        const char *m = mp_result_error_message(r);
        ASSERT_EQ(strlen(m), sizes[k] < 1023 ? sizes[k] : 1023);
        ASSERT_EQ(strspn(m, "e"), strlen(m));
        mp_result_destroy(r);
    }
    free(big);
    mpt_pool_finish(pool);
    ASSERT_EQ(atomic_load(child_alloc_calls), 0);
    munmap(child_alloc_calls, sizeof *child_alloc_calls);
}

/* Item 0 announces its worker and blocks until the gate opens; the others
 * are squared. */
static int
first_blocks_then_square(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    if (len != sizeof x) {
        return -1;
    }
    memcpy(&x, in, sizeof x);
    if (x == 0 && mpt_task_announce_and_block(in, len, out) != 0) {
        return -1;
    }
    return mpt_task_square(in, len, out);
}

/* Returns x squared by a task of pool (item 0 would block). */
static int64_t
square_in_pool(mp_pool_t *pool, int64_t x)
{
    void *y = NULL;
    ASSERT_EQ(
        mp_pool_apply(pool, first_blocks_then_square, &x, sizeof x, &y, 10000),
        (ssize_t)sizeof x);
    memcpy(&x, y, sizeof x);
    mp_free(y);
    return x;
}

/* A map reads its fixed-size items in the caller's array rather than
 * copying them (issue 20), so once it returned - here timed out, with
 * chunks still pending and others in the worker's inbox - nothing may read
 * that array again: the input is unmapped, then the worker holding the
 * rest is SIGKILLed, so that its inbox's chunks would be queued again from
 * the array. They fail instead, and the pool goes on: the apply queued
 * behind them runs. There are many more of them than one round of dispatch
 * hands out (32 per worker); dropped chunks once used those rounds up, so
 * that the apply stayed pending while the handler slept. */
TEST_TIMEOUT(pool_faults_map_timeout_then_input_unmapped_and_worker_killed, 60)
{
    enum { N = 1024 };
    mpt_pipe_open(&mpt_announce);
    mpt_pipe_open(&mpt_gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    /* Once its worker is ready, the map hands item 0 to it before it
     * returns, however slow the machine. */
    ASSERT_EQ(square_in_pool(pool, 3), 9);
    size_t bytes = N * sizeof(int64_t);
    int64_t *in = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT(in != MAP_FAILED);
    int64_t out[N];
    int status[N];
    for (int64_t i = 0; i < N; i++) {
        in[i] = i;
    }
    ASSERT_ERR(mp_pool_map(pool, first_blocks_then_square, in, sizeof *in, N, 1,
                           out, sizeof *out, status, 50),
               MP_ETIMEDOUT);
    ASSERT_OK(munmap(in, bytes));
    pid_t pid;
    mpt_read_all(mpt_announce.rd, &pid, sizeof pid);
    ASSERT_OK(kill(pid, SIGKILL));
    /* The pool replaces the worker and runs new work. */
    ASSERT_EQ(square_in_pool(pool, 9), 81);
    mpt_pool_finish(pool);
    mpt_pipe_close(&mpt_announce);
    mpt_pipe_close(&mpt_gate);
}
