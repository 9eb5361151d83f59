/* SPDX-License-Identifier: MIT */
/* test-pool-stream.c - Pool input shapes and fault storms: imap over a
 * lazy source (the in-flight bound, order, a failing source), map over
 * byte buffers, the starmap aliases, and workers SIGKILLed at random
 * moments during an imap_unordered and during a storm of apply_async. */
#include "runner.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The checksum a task computes over bytes: length and byte sum. */
static uint64_t
checksum(const void *in, size_t len)
{
    uint64_t sum = len << 32;
    for (size_t i = 0; i < len; i++) {
        sum += ((const uint8_t *)in)[i];
    }
    return sum;
}

/* Returns checksum(in) as 8 bytes; input starting with 'X' fails. */
static int
sum_task(const void *in, size_t len, mp_pool_out_t *out)
{
    if (len > 0 && ((const char *)in)[0] == 'X') {
        mp_pool_out_error(out, "refused");
        return 7;
    }
    uint64_t sum = checksum(in, len);
    return mp_pool_out_write(out, &sum, sizeof sum);
}

/* A lazy input: item i is (i % 13) bytes of value i % 64 (never 'X'); counts
 * what it produced against what the test consumed. */
typedef struct counting_src {
    size_t total, produced, consumed, window, max_seen;
    size_t fail_at; /* SIZE_MAX: never */
    uint8_t buf[16];
} counting_src_t;

/* The source callback of counting_src_t: checks the in-flight bound. */
static int
counting_next(void *arg, const void **item, size_t *len)
{
    counting_src_t *s = arg;
    ASSERT_LT(s->produced - s->consumed, s->window);
    if (s->produced == s->fail_at) {
        return MP_EIO;
    }
    if (s->produced == s->total) {
        return 0;
    }
    size_t n = s->produced % 13;
    memset(s->buf, (int)(s->produced % 64), sizeof s->buf);
    *item = n > 0 ? s->buf : NULL;
    *len = n;
    s->produced++;
    if (s->produced - s->consumed > s->max_seen) {
        s->max_seen = s->produced - s->consumed;
    }
    return 1;
}

/* Runs a source imap of total items through a window of 16; checks
 * every result, the order when ordered, and the bound. */
static void
source_case(bool ordered, size_t total)
{
    enum { WINDOW = 16 };
    mp_pool_t *pool = mpt_pool_make(2, 0);
    counting_src_t s = {.total = total, .window = WINDOW, .fail_at = SIZE_MAX};
    uint8_t *seen = calloc(total, 1);
    ASSERT_NOT_NULL(seen);
    mp_imap_t *it;
    ASSERT_OK(mp_pool_imap_source(pool, sum_task, counting_next, &s, WINDOW,
                                  ordered, &it));
    for (size_t k = 0; k < total; k++) {
        void *buf;
        size_t idx;
        ssize_t len = mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER);
        ASSERT_OK(len);
        s.consumed++;
        ASSERT_LT(idx, total);
        ASSERT_EQ(seen[idx], 0);
        seen[idx] = 1;
        if (ordered) {
            ASSERT_EQ(idx, k);
        }
        uint8_t expect[16];
        memset(expect, (int)(idx % 64), sizeof expect);
        uint64_t sum;
        ASSERT_EQ(len, (ssize_t)sizeof sum);
        memcpy(&sum, buf, sizeof sum);
        mp_free(buf);
        ASSERT_EQ(sum, checksum(expect, idx % 13));
    }
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_NO_WAIT), MP_EOF);
    ASSERT_EQ(s.produced, total);
    /* The first fill reaches the bound: the window was really used. */
    ASSERT_EQ(s.max_seen, total < WINDOW ? total : WINDOW);
    mp_imap_destroy(it);
    free(seen);
    mpt_pool_finish(pool);
}

TEST_TIMEOUT(pool_stream_source_unordered, 60)
{
    source_case(false, (mpt_slow() ? 2000 : 10000));
}

TEST_TIMEOUT(pool_stream_source_ordered, 60)
{
    source_case(true, (mpt_slow() ? 2000 : 10000));
}

TEST(pool_stream_source_error_ends_iteration)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    for (int ordered = 0; ordered < 2; ordered++) {
        counting_src_t s = {.total = 100, .window = 4, .fail_at = 30};
        mp_imap_t *it;
        ASSERT_OK(mp_pool_imap_source(pool, sum_task, counting_next, &s, 4,
                                      ordered, &it));
        for (int k = 0; k < 30; k++) {
            ASSERT_OK(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER));
            s.consumed++;
        }
        size_t idx = 0;
        void *buf = &s;
        ASSERT_ERR(mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER), MP_EIO);
        ASSERT_EQ(idx, 30);
        ASSERT(buf == &s); /* nothing handed out */
        ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
        mp_imap_destroy(it);
    }
    /* A source failing at once, and an empty one. */
    counting_src_t s = {.total = 10, .window = 2, .fail_at = 0};
    mp_imap_t *it;
    ASSERT_OK(
        mp_pool_imap_source(pool, sum_task, counting_next, &s, 2, false, &it));
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EIO);
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    mp_imap_destroy(it);
    s = (counting_src_t){.total = 0, .window = 2, .fail_at = SIZE_MAX};
    ASSERT_OK(
        mp_pool_imap_source(pool, sum_task, counting_next, &s, 2, true, &it));
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    mp_imap_destroy(it);
    mpt_pool_finish(pool);
}

/* A source of "X" items (each task fails), then of "ok". */
static int
failing_items_next(void *arg, const void **item, size_t *len)
{
    int *n = arg;
    if (*n == 6) {
        return 0;
    }
    *item = (*n)++ % 2 == 0 ? "X" : "ok";
    *len = 2;
    return 1;
}

TEST(pool_stream_source_failed_items_go_on)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    int n = 0;
    mp_imap_t *it;
    ASSERT_OK(mp_pool_imap_source(pool, sum_task, failing_items_next, &n, 3,
                                  true, &it));
    for (size_t k = 0; k < 6; k++) {
        void *buf;
        size_t idx;
        ssize_t got = mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER);
        ASSERT_EQ(idx, k);
        if (k % 2 == 0) {
            ASSERT_ERR(got, MP_EREMOTE);
            ASSERT_STR_EQ((char *)buf, "refused");
        } else {
            ASSERT_OK(got);
        }
        mp_free(buf);
    }
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    mp_imap_destroy(it);
    mpt_pool_finish(pool);
}

TEST(pool_stream_source_bad_input)
{
    mp_pool_t *pool = mpt_pool_make(1, 0);
    counting_src_t s = {.total = 50, .window = 8, .fail_at = SIZE_MAX};
    mp_imap_t *it;
    ASSERT_ERR(
        mp_pool_imap_source(NULL, sum_task, counting_next, &s, 8, true, &it),
        MP_EINVAL);
    ASSERT_ERR(mp_pool_imap_source(pool, NULL, counting_next, &s, 8, true, &it),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_imap_source(pool, sum_task, NULL, &s, 8, true, &it),
               MP_EINVAL);
    ASSERT_ERR(
        mp_pool_imap_source(pool, sum_task, counting_next, &s, 8, true, NULL),
        MP_EINVAL);
    ASSERT_ERR(
        mp_pool_imap_source(pool, sum_task, counting_next, &s, 0, true, &it),
        MP_EINVAL);
    ASSERT_ERR(mp_pool_imap_source(pool, sum_task, counting_next, &s, SIZE_MAX,
                                   true, &it),
               MP_EINVAL);
    ASSERT_EQ(s.produced, 0);
    /* Destroyed early with items in flight: they finish unseen. */
    ASSERT_OK(
        mp_pool_imap_source(pool, sum_task, counting_next, &s, 8, false, &it));
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, -5), MP_EINVAL);
    ASSERT_OK(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER));
    s.consumed++;
    mp_imap_destroy(it);
    /* The pool closes mid-iteration: the input ends with MP_ECLOSED. */
    s = (counting_src_t){.total = 50, .window = 4, .fail_at = SIZE_MAX};
    ASSERT_OK(
        mp_pool_imap_source(pool, sum_task, counting_next, &s, 4, true, &it));
    ASSERT_OK(mp_pool_close(pool));
    for (int k = 0; k < 4; k++) {
        ASSERT_OK(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER));
        s.consumed++;
    }
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_ECLOSED);
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    mp_imap_destroy(it);
    ASSERT_ERR(
        mp_pool_imap_source(pool, sum_task, counting_next, &s, 4, true, &it),
        MP_ECLOSED);
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
}

TEST(pool_stream_map_buffers)
{
    enum { N = 40 };
    mp_pool_t *pool = mpt_pool_make(2, 0);
    static char data[N][64];
    const void *bufs[N];
    size_t lens[N], out_lens[N];
    void *outs[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        lens[i] = (size_t)(i * 7) % 64; /* zero-length ones included */
        memset(data[i], 'a' + i % 20, sizeof data[i]);
        bufs[i] = lens[i] > 0 ? data[i] : NULL;
    }
    const size_t chunks[] = {1, 3, 7, 0 /* automatic */, N};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        ASSERT_OK(mp_pool_map_buffers(pool, sum_task, bufs, lens, N, chunks[c],
                                      outs, out_lens, status, MP_WAIT_FOREVER));
        for (int i = 0; i < N; i++) {
            uint64_t sum;
            ASSERT_EQ(status[i], 0);
            ASSERT_EQ(out_lens[i], sizeof sum);
            memcpy(&sum, outs[i], sizeof sum);
            ASSERT_EQ(sum, checksum(data[i], lens[i]));
            mp_free(outs[i]);
        }
    }
    /* Failed items: NULL buffers, their codes, the first one returned. */
    data[5][0] = 'X';
    data[9][0] = 'X';
    lens[5] = lens[9] = 3;
    bufs[5] = data[5];
    bufs[9] = data[9];
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, N, 4, outs,
                                   out_lens, status, MP_WAIT_FOREVER),
               MP_EREMOTE);
    for (int i = 0; i < N; i++) {
        if (i == 5 || i == 9) {
            ASSERT_ERR(status[i], MP_EREMOTE);
            ASSERT_NULL(outs[i]);
            ASSERT_EQ(out_lens[i], 0);
        } else {
            ASSERT_EQ(status[i], 0);
            ASSERT_NOT_NULL(outs[i]);
        }
        mp_free(outs[i]);
    }
    /* status may be NULL; zero buffers succeed with NULL arrays. */
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, 12, 1, outs,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_EREMOTE);
    for (int i = 0; i < 12; i++) {
        mp_free(outs[i]);
    }
    ASSERT_OK(mp_pool_map_buffers(pool, sum_task, NULL, NULL, 0, 1, NULL, NULL,
                                  NULL, MP_WAIT_FOREVER));
    mpt_pool_finish(pool);
}

TEST(pool_stream_map_buffers_bad_input)
{
    mp_pool_t *pool = mpt_pool_make(1, 0);
    const void *bufs[2] = {"ab", NULL};
    size_t lens[2] = {2, 0}, out_lens[2];
    void *outs[2];
    ASSERT_ERR(mp_pool_map_buffers(NULL, sum_task, bufs, lens, 2, 1, outs,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_buffers(pool, NULL, bufs, lens, 2, 1, outs, out_lens,
                                   NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, NULL, lens, 2, 1, outs,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, NULL, 2, 1, outs,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, 2, 1, NULL,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, 2, 1, outs, NULL,
                                   NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    /* No chunk size is out of range: 0 picks one, and SIZE_MAX makes one
     * chunk of every item. */
    const size_t chunks[] = {0, SIZE_MAX};
    for (size_t k = 0; k < 2; k++) {
        ASSERT_OK(mp_pool_map_buffers(pool, sum_task, bufs, lens, 2, chunks[k],
                                      outs, out_lens, NULL, MP_WAIT_FOREVER));
        ASSERT_EQ(out_lens[0], sizeof(uint64_t));
        ASSERT_EQ(out_lens[1], sizeof(uint64_t));
        mp_free(outs[0]);
        mp_free(outs[1]);
    }
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, 2, 1, outs,
                                   out_lens, NULL, -5),
               MP_EINVAL);
    lens[1] = 1; /* a NULL buffer with a length */
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, 2, 1, outs,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    lens[1] = 0;
    lens[0] = SIZE_MAX; /* cannot fit a task */
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, 2, 1, outs,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    lens[0] = 2;
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, bufs, lens, 2, 1, outs,
                                   out_lens, NULL, MP_WAIT_FOREVER),
               MP_ECLOSED);
    ASSERT_ERR(mp_pool_map_buffers(pool, sum_task, NULL, NULL, 0, 1, NULL, NULL,
                                   NULL, MP_WAIT_FOREVER),
               MP_ECLOSED);
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
}

/* Blocks until gate is written (then succeeds). */
static mpt_pipe_t gate;

/* Waits for gate, then returns checksum(in). */
static int
gated_task(const void *in, size_t len, mp_pool_out_t *out)
{
    uint8_t b;
    if (mpt_wait_signal(&gate, &b) != 0) {
        return -1;
    }
    return sum_task(in, len, out);
}

TEST(pool_stream_map_buffers_timeout)
{
    mpt_pipe_open(&gate);
    mp_pool_t *pool = mpt_pool_make(1, 0);
    const void *bufs[2] = {"ab", "cd"};
    size_t lens[2] = {2, 2}, out_lens[2];
    void *outs[2];
    int status[2];
    ASSERT_ERR(mp_pool_map_buffers(pool, gated_task, bufs, lens, 2, 1, outs,
                                   out_lens, status, MP_NO_WAIT),
               MP_ETIMEDOUT);
    ASSERT_NULL(outs[0]);
    ASSERT_NULL(outs[1]);
    ASSERT_ERR(status[0], MP_ETIMEDOUT);
    ASSERT_ERR(status[1], MP_ETIMEDOUT);
    mpt_signal(&gate, 1);
    mpt_signal(&gate, 1);
    mpt_pool_finish(pool);
    mpt_pipe_close(&gate);
}

/* A starmap item: the tuple (a, b). */
typedef struct pair {
    int32_t a, b;
} pair_t;

/* (a, b) -> a * b. */
static int
mul_task(const void *in, size_t len, mp_pool_out_t *out)
{
    pair_t p;
    if (len != sizeof p) {
        return -1;
    }
    memcpy(&p, in, sizeof p);
    int64_t r = (int64_t)p.a * p.b;
    return mp_pool_out_write(out, &r, sizeof r);
}

TEST(pool_stream_starmap)
{
    enum { N = 20 };
    mp_pool_t *pool = mpt_pool_make(2, 0);
    pair_t in[N];
    int64_t out[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        in[i] = (pair_t){i, i + 3};
    }
    ASSERT_OK(mp_pool_starmap(pool, mul_task, in, sizeof in[0], N, 0, out,
                              sizeof out[0], status, MP_WAIT_FOREVER));
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(out[i], (int64_t)i * (i + 3));
        ASSERT_EQ(status[i], 0);
    }
    ASSERT_ERR(mp_pool_starmap(pool, NULL, in, sizeof in[0], N, 1, out,
                               sizeof out[0], NULL, MP_WAIT_FOREVER),
               MP_EINVAL);
    mpt_pool_finish(pool);
}

TEST(pool_stream_starmap_async)
{
    enum { N = 20 };
    mp_pool_t *pool = mpt_pool_make(2, 0);
    pair_t in[N];
    int64_t out[N];
    for (int i = 0; i < N; i++) {
        in[i] = (pair_t){-i, 5};
    }
    mp_result_t *r;
    ASSERT_OK(mp_pool_starmap_async(pool, mul_task, in, sizeof in[0], N, 3,
                                    NULL, out, sizeof out[0], NULL, &r));
    ASSERT_OK(mp_result_get(r, NULL, MP_WAIT_FOREVER));
    mp_result_destroy(r);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(out[i], (int64_t)-i * 5);
    }
    ASSERT_ERR(mp_pool_starmap_async(pool, mul_task, in, sizeof in[0], N, 3,
                                     NULL, out, sizeof out[0], NULL, NULL),
               MP_EINVAL);
    mpt_pool_finish(pool);
}

/*--- fault storms ---------------------------------------------------------*/

/* Every task releases this as it starts: the killer thread's clock. */
static mp_semaphore_t *started;
static atomic_bool storm_over;

/* x -> x * 3 + 1 on int64 items, telling the killer it runs. */
static int
storm_task(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    if (len != sizeof x) {
        return -1;
    }
    (void)mp_semaphore_release(started);
    memcpy(&x, in, sizeof x);
    x = x * 3 + 1;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* The killer thread: after a random number of task starts, SIGKILLs a
 * random worker that is ready (idle or busy: killing one still starting
 * would count as a failed start). Returns the number of kills. */
static void *
killer_main(void *arg)
{
    mp_pool_t *pool = arg;
    unsigned seed = 12345;
    long kills = 0;
    int until = 3;
    while (kills < 40) {
        ASSERT_OK(mp_semaphore_acquire(started, MP_WAIT_FOREVER));
        if (atomic_load(&storm_over)) {
            break;
        }
        if (--until > 0) {
            continue;
        }
        until = 2 + (int)(rand_r(&seed) % 25);
        mp_pool_stats_t st;
        mp_pool_worker_info_t w[4];
        int n = mp_pool_stats(pool, &st, w, 4);
        ASSERT_OK(n);
        int pick = (int)(rand_r(&seed) % (unsigned)n);
        for (int k = 0; k < n; k++) {
            const mp_pool_worker_info_t *c = &w[(pick + k) % n];
            if (c->pid > 0 && (c->state == MP_POOL_WORKER_IDLE ||
                               c->state == MP_POOL_WORKER_BUSY)) {
                kills += kill(c->pid, SIGKILL) == 0;
                break;
            }
        }
    }
    return (void *)(intptr_t)kills;
}

/* Makes the semaphore, then (so that the workers share it) a pool of 3
 * workers, and starts the killer on it. */
static mp_pool_t *
start_storm(pthread_t *killer)
{
    atomic_store(&storm_over, false);
    ASSERT_OK(mp_semaphore_create(&started, 0));
    mp_pool_t *pool = mpt_pool_make(3, 0);
    ASSERT_EQ(pthread_create(killer, NULL, killer_main, pool), 0);
    return pool;
}

/* Stops the killer; returns its kills. */
static long
stop_killer(pthread_t t)
{
    void *ret;
    atomic_store(&storm_over, true);
    ASSERT_OK(mp_semaphore_release(started));
    ASSERT_EQ(pthread_join(t, &ret), 0);
    return (long)(intptr_t)ret;
}

/* Checks that the pool still computes after a storm, then finishes it
 * and the semaphore. */
static void
check_after_storm(mp_pool_t *pool)
{
    int64_t in[16], out[16];
    for (int i = 0; i < 16; i++) {
        in[i] = i;
    }
    ASSERT_OK(mp_pool_map(pool, storm_task, in, 8, 16, 1, out, 8, NULL,
                          MP_WAIT_FOREVER));
    for (int i = 0; i < 16; i++) {
        ASSERT_EQ(out[i], i * 3 + 1);
    }
    mpt_pool_finish(pool);
    mp_semaphore_destroy(started);
}

TEST_TIMEOUT(pool_stream_storm_imap_unordered_kills, 90)
{
    size_t n = (mpt_slow() ? 300 : 1000);
    int64_t *in = calloc(n, sizeof *in);
    uint8_t *seen = calloc(n, 1);
    ASSERT_NOT_NULL(in);
    ASSERT_NOT_NULL(seen);
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)i;
    }
    pthread_t killer;
    mp_pool_t *pool = start_storm(&killer);
    mp_imap_t *it;
    ASSERT_OK(mp_pool_imap_unordered(pool, storm_task, in, 8, n, 1, &it));
    size_t failed = 0;
    for (size_t k = 0; k < n; k++) {
        void *buf;
        size_t idx;
        ssize_t got = mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER);
        ASSERT_LT(idx, n);
        ASSERT_EQ(seen[idx], 0);
        seen[idx] = 1;
        if (got >= 0) {
            int64_t y;
            ASSERT_EQ(got, (ssize_t)sizeof y);
            memcpy(&y, buf, sizeof y);
            ASSERT_EQ(y, (int64_t)idx * 3 + 1);
        } else {
            ASSERT_ERR(got, MP_EWORKER);
            ASSERT_NOT_NULL(strstr(buf, "killed by signal 9"));
            failed++;
        }
        mp_free(buf);
    }
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    mp_imap_destroy(it);
    long kills = stop_killer(killer);
    /* Each kill fails at most the one item its worker held. */
    ASSERT_LE(failed, (size_t)kills);
    mp_pool_stats_t st;
    ASSERT_OK(mp_pool_stats(pool, &st, NULL, 0));
    ASSERT_EQ(st.failed, failed);
    ASSERT_EQ(st.done, n - failed);
    free(seen);
    free(in);
    check_after_storm(pool);
}

TEST_TIMEOUT(pool_stream_storm_apply_async_kills, 90)
{
    size_t n = (mpt_slow() ? 150 : 500);
    mp_result_t **r = calloc(n, sizeof *r);
    ASSERT_NOT_NULL(r);
    pthread_t killer;
    mp_pool_t *pool = start_storm(&killer);
    for (size_t i = 0; i < n; i++) {
        int64_t x = (int64_t)i;
        ASSERT_OK(mp_pool_apply_async(pool, storm_task, &x, sizeof x, &r[i]));
    }
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        void *buf;
        ssize_t got = mp_result_get(r[i], &buf, MP_WAIT_FOREVER);
        ASSERT_EQ(mp_result_ready(r[i]), 1);
        if (got >= 0) {
            int64_t y;
            ASSERT_EQ(got, (ssize_t)sizeof y);
            memcpy(&y, buf, sizeof y);
            mp_free(buf);
            ASSERT_EQ(y, (int64_t)i * 3 + 1);
            ASSERT_ERR(mp_result_exitcode(r[i], &(int){0}), MP_ENOENT);
        } else {
            ASSERT_ERR(got, MP_EWORKER);
            int code;
            ASSERT_OK(mp_result_exitcode(r[i], &code));
            ASSERT_EQ(code, -SIGKILL);
            ASSERT_NOT_NULL(
                strstr(mp_result_error_message(r[i]), "killed by signal 9"));
            failed++;
        }
        mp_result_destroy(r[i]);
    }
    long kills = stop_killer(killer);
    ASSERT_LE(failed, (size_t)kills);
    free(r);
    check_after_storm(pool);
}
