/* SPDX-License-Identifier: MIT */
/* test-pool.c - Pool: map, apply, apply_async and AsyncResult, the
 * chunksize rule, close/terminate/join ordering, bad input, tasks that
 * fail, initializers and maxtasksperchild. Worker deaths are in
 * test-pool-faults.c. */
#include "runner.h"

#include "pool/pool_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Returns the worker's pid. */
static int
whoami(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    pid_t pid = getpid();
    return mp_pool_out_write(out, &pid, sizeof pid);
}

/* Fails with a message, or (empty input) with a bare code. */
static int
failing(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    if (len > 0) {
        mp_pool_out_error(out, "boom: bad value");
    }
    return -7;
}

/* The pipe blocking tasks wait on; opened before the pool, whose workers
 * are forked under every default method to inherit it. */
static mpt_pipe_t gate;

/* Blocks until the test writes a byte to gate, then returns "done". */
static int
gated(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    uint8_t b;
    if (mpt_wait_signal(&gate, &b) != 0) {
        return -1;
    }
    return mp_pool_out_write(out, "done", 4);
}

/* Set by init_set in each worker; read by read_init. */
static int init_value;
static mpt_pipe_t init_pipe;

/* An initializer that records its arg and tells the test it ran. */
static int
init_set(void *arg)
{
    init_value = *(int *)arg;
    pid_t pid = getpid();
    mpt_write_all(init_pipe.wr, &pid, sizeof pid);
    return 0;
}

/* An initializer that fails (after saying it ran). */
static int
init_fail(void *arg)
{
    (void)arg;
    mpt_signal(&init_pipe, 1);
    return 5;
}

/* Returns init_value. */
static int
read_init(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    return mp_pool_out_write(out, &init_value, sizeof init_value);
}

TEST(pool_map_squares_five_workers)
{
    mp_pool_t *pool = mpt_pool_make(5, 0);
    ASSERT_EQ(mp_pool_processes(pool), 5);
    int64_t in[3] = {1, 2, 3}, out[3] = {0};
    int status[3] = {-1, -1, -1};
    ASSERT_OK(mp_pool_map(pool, mpt_task_square, in, sizeof in[0], 3, 0, out,
                          sizeof out[0], status, MP_WAIT_FOREVER));
    ASSERT_EQ(out[0], 1);
    ASSERT_EQ(out[1], 4);
    ASSERT_EQ(out[2], 9);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(status[i], 0);
    }
    mpt_pool_finish(pool);
}

TEST(pool_map_range_ten_four_workers)
{
    mp_pool_t *pool = mpt_pool_make(4, 0);
    int64_t in[10], out[10];
    for (int i = 0; i < 10; i++) {
        in[i] = i;
    }
    /* Each chunk size gives the same order: 0 (automatic), and SIZE_MAX,
     * one chunk for every item, among them. */
    size_t sizes[] = {0, 1, 3, 10, 100, SIZE_MAX};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        memset(out, 0xff, sizeof out);
        ASSERT_OK(mp_pool_map(pool, mpt_task_square, in, sizeof in[0], 10,
                              sizes[s], out, sizeof out[0], NULL, 10000 * 60));
        for (int i = 0; i < 10; i++) {
            ASSERT_EQ(out[i], i * i);
        }
    }
    mpt_pool_finish(pool);
}

TEST(pool_map_zero_items_and_short_results)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    ASSERT_OK(mp_pool_map(pool, mpt_task_square, NULL, 8, 0, 0, NULL, 8, NULL,
                          MP_WAIT_FOREVER));
    /* Wider slots are zero-padded; narrower ones fail with MP_EMSGSIZE. */
    int64_t in[2] = {3, 4};
    int64_t wide[4];
    memset(wide, 0xff, sizeof wide);
    ASSERT_OK(mp_pool_map(pool, mpt_task_square, in, 8, 2, 1, wide, 16, NULL,
                          MP_WAIT_FOREVER));
    ASSERT_EQ(wide[0], 9);
    ASSERT_EQ(wide[1], 0);
    ASSERT_EQ(wide[2], 16);
    ASSERT_EQ(wide[3], 0);
    int32_t narrow[2];
    int status[2];
    ASSERT_ERR(mp_pool_map(pool, mpt_task_square, in, 8, 2, 1, narrow, 4,
                           status, MP_WAIT_FOREVER),
               MP_EMSGSIZE);
    ASSERT_EQ(status[0], MP_EMSGSIZE);
    ASSERT_EQ(status[1], MP_EMSGSIZE);
    mpt_pool_finish(pool);
}

TEST(pool_map_reports_failed_items)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    /* Item size 4 makes mpt_task_square fail; 8 passes. Mixed through the fn.
     */
    char in[4][8] = {{0}};
    int64_t out[4];
    int status[4];
    ASSERT_ERR(mp_pool_map(pool, failing, in, 8, 4, 2, out, 8, status,
                           MP_WAIT_FOREVER),
               MP_EREMOTE);
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(status[i], MP_EREMOTE);
    }
    mpt_pool_finish(pool);
}

/* Odd items fail with a message naming them, item 4 with a bare -3
 * ("task returned -3"); the others succeed with x * x. */
static int
odd_fails(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    memcpy(&x, in, len < sizeof x ? len : sizeof x);
    if (x % 2 != 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "odd value %lld", (long long)x);
        mp_pool_out_error(out, msg);
        return -1;
    }
    if (x == 4) {
        return -3;
    }
    x *= x;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* Python's map re-raises the failed task's own exception: each failed
 * item's message reaches the caller of map (mp_pool_map_errors), of
 * starmap_async and of map_async (the handle's message, on_error's, and
 * mp_result_item_error). */
static int
note_error_text(int err, const char *msg, void *arg)
{
    (void)err;
    snprintf(arg, 128, "%s", msg);
    return 0;
}

TEST(pool_map_failed_items_carry_their_messages)
{
    enum { N = 7 };
    mp_pool_t *pool = mpt_pool_make(2, 0);
    int64_t in[N], out[N];
    int status[N];
    char *errors[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
        errors[i] = (char *)1; /* set to NULL by the call */
    }
    ASSERT_ERR(mp_pool_map_errors(pool, odd_fails, in, sizeof in[0], N, 2, out,
                                  sizeof out[0], status, errors,
                                  MP_WAIT_FOREVER),
               MP_EREMOTE);
    for (int i = 0; i < N; i++) {
        if (i % 2 != 0) {
            char want[64];
            snprintf(want, sizeof want, "odd value %d", i);
            ASSERT_STR_EQ(errors[i], want);
        } else if (i == 4) {
            ASSERT_STR_EQ(errors[i], "task returned -3");
        } else {
            ASSERT_NULL(errors[i]);
            ASSERT_EQ(out[i], (int64_t)i * i);
        }
        mp_free(errors[i]);
    }
    /* A result too long for its slot says so. */
    int64_t one = 2;
    int32_t small;
    ASSERT_ERR(mp_pool_map_errors(pool, odd_fails, &one, sizeof one, 1, 1,
                                  &small, sizeof small, status, errors,
                                  MP_WAIT_FOREVER),
               MP_EMSGSIZE);
    ASSERT_NOT_NULL(strstr(errors[0], "longer than out_size"));
    mp_free(errors[0]);

    char seen[128] = "";
    mp_pool_callbacks_t cbs = {.on_error = note_error_text, .arg = seen};
    for (int star = 0; star < 2; star++) {
        mp_result_t *r;
        in[1] = 2; /* the first failure is now item 3 */
        ASSERT_OK((star ? mp_pool_starmap_async : mp_pool_map_async)(
            pool, odd_fails, in, sizeof in[0], N, 1, &cbs, out, sizeof out[0],
            status, &r));
        ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EREMOTE);
        ASSERT_STR_EQ(mp_result_error_message(r), "item 3 failed: odd value 3");
        ASSERT_STR_EQ(seen, "item 3 failed: odd value 3");
        ASSERT_NULL(mp_result_item_error(r, 0));
        ASSERT_NULL(mp_result_item_error(r, 1));
        ASSERT_STR_EQ(mp_result_item_error(r, 3), "odd value 3");
        ASSERT_STR_EQ(mp_result_item_error(r, 4), "task returned -3");
        ASSERT_STR_EQ(mp_result_item_error(r, 5), "odd value 5");
        ASSERT_NULL(mp_result_item_error(r, N));
        mp_result_destroy(r);
        in[1] = 1;
    }
    /* An apply's handle has no items. */
    mp_result_t *r;
    ASSERT_OK(mp_pool_apply_async(pool, odd_fails, &in[1], sizeof in[1], &r));
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EREMOTE);
    ASSERT_NULL(mp_result_item_error(r, 0));
    mp_result_destroy(r);
    ASSERT_NULL(mp_result_item_error(NULL, 0));
    mpt_pool_finish(pool);
}

TEST(pool_chunksize_rule)
{
    /* Python: divmod(len, 4 * processes), +1 if remainder. */
    ASSERT_EQ(mp__pool_chunksize(10, 2, 8), 2);
    ASSERT_EQ(mp__pool_chunksize(100, 3, 8), 9);
    ASSERT_EQ(mp__pool_chunksize(3, 5, 8), 1);
    ASSERT_EQ(mp__pool_chunksize(16, 4, 8), 1);
    ASSERT_EQ(mp__pool_chunksize(17, 4, 8), 2);
    ASSERT_EQ(mp__pool_chunksize(1000, 4, 8), 63);
    ASSERT_EQ(mp__pool_chunksize(0, 4, 8), 1);
    /* ... cut to 63 KiB of items a chunk (a chunk's message, headers
     * included, stays under the queues' 64 KiB large-message path), at
     * least one item. */
    ASSERT_EQ(mp__pool_chunksize(3000000, 2, 8), 8064);
    ASSERT_EQ(mp__pool_chunksize(3000000, 2, 0), 64512);
    ASSERT_EQ(mp__pool_chunksize(3000000, 2, 1), 64512);
    ASSERT_EQ(mp__pool_chunksize(1000, 2, 1000), 64);
    ASSERT_EQ(mp__pool_chunksize(1000, 2, 1 << 20), 1);
    ASSERT_EQ(mp__pool_chunksize(1000, 2, SIZE_MAX), 1);
    ASSERT_EQ(mp__pool_chunksize(SIZE_MAX, 1, 1), 64512);
    /* A chunk of longs with its task header and function reference stays
     * under the large-message threshold. */
    ASSERT_LT(mp__task_data_offset(256) + 8 * mp__pool_chunksize(3000000, 2, 8),
              (size_t)MP__QUEUE_LARGE_MIN - 16);
}

/* The tasks (chunks) a Pool(2)'s workers have completed so far. */
static uint64_t
tasks_done(mp_pool_t *pool)
{
    mp_pool_stats_t st;
    mp_pool_worker_info_t w[2];
    ASSERT_EQ(mp_pool_stats(pool, &st, w, 2), 2);
    return w[0].tasks + w[1].tasks;
}

/* Returns its input's length as an int64. */
static int
length_task(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    int64_t n = (int64_t)len;
    return mp_pool_out_write(out, &n, sizeof n);
}

TEST(pool_chunksize_public)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    ASSERT_EQ(mp_pool_chunksize(pool, 100, 8), 13);
    ASSERT_EQ(mp_pool_chunksize(pool, 3000000, 8), 8064);
    ASSERT_EQ(mp_pool_chunksize(pool, 0, 8), 1);
    ASSERT_EQ(mp_pool_chunksize(pool, SIZE_MAX, SIZE_MAX), 1);
    ASSERT_EQ(mp_pool_chunksize(NULL, 100, 8), MP_EINVAL);

    /* map with chunk size 0 (automatic) cuts its work as the call says:
     * each chunk is one task, counted by the workers' task counters. */
    enum { N = 100000 };
    int64_t *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
    ASSERT(in != NULL && out != NULL);
    for (int64_t i = 0; i < N; i++) {
        in[i] = i;
    }
    uint64_t before = tasks_done(pool);
    ASSERT_EQ(mp_pool_map(pool, mpt_task_square, in, sizeof *in, N, 0, out,
                          sizeof *out, NULL, MP_WAIT_FOREVER),
              0);
    ssize_t chunk = mp_pool_chunksize(pool, N, sizeof *in);
    ASSERT_EQ(chunk, 8064);
    ASSERT_EQ(tasks_done(pool) - before, (uint64_t)((N + chunk - 1) / chunk));
    for (int64_t i = 0; i < N; i++) {
        ASSERT_EQ(out[i], i * i);
    }

    /* map_buffers counts the average buffer: 40 buffers of 20000 bytes
     * (20016 in a task) make chunks of 3, where Python's rule says 5. */
    enum { NB = 40, LEN = 20000 };
    const void *bufs[NB];
    size_t lens[NB], out_lens[NB];
    void *outs[NB];
    char *data = calloc(1, LEN);
    ASSERT(data != NULL);
    for (int i = 0; i < NB; i++) {
        bufs[i] = data;
        lens[i] = LEN;
    }
    chunk = mp_pool_chunksize(pool, NB, mp__var_item_span(LEN));
    ASSERT_EQ(chunk, 3);
    before = tasks_done(pool);
    ASSERT_EQ(mp_pool_map_buffers(pool, length_task, bufs, lens, NB, 0, outs,
                                  out_lens, NULL, MP_WAIT_FOREVER),
              0);
    ASSERT_EQ(tasks_done(pool) - before, (uint64_t)((NB + chunk - 1) / chunk));
    for (int i = 0; i < NB; i++) {
        int64_t n;
        ASSERT_EQ(out_lens[i], sizeof n);
        memcpy(&n, outs[i], sizeof n);
        ASSERT_EQ(n, LEN);
        mp_free(outs[i]);
    }
    free(data);
    free(in);
    free(out);
    mpt_pool_finish(pool);
}

TEST(pool_apply_and_apply_async)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    int64_t x = 12, y = 0;
    void *buf = NULL;
    /* The call returns the result's length. */
    ASSERT_EQ(mp_pool_apply(pool, mpt_task_square, &x, sizeof x, &buf,
                            MP_WAIT_FOREVER),
              (ssize_t)sizeof y);
    memcpy(&y, buf, sizeof y);
    mp_free(buf);
    ASSERT_EQ(y, 144);
    /* NULL out: just wait for success; the length comes back all the same. */
    ASSERT_EQ(mp_pool_apply(pool, mpt_task_square, &x, sizeof x, NULL,
                            MP_WAIT_FOREVER),
              (ssize_t)sizeof y);

    mp_result_t *r;
    x = 7;
    ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &x, sizeof x, &r));
    ASSERT_OK(mp_result_wait(r, MP_WAIT_FOREVER));
    ASSERT_EQ(mp_result_ready(r), 1);
    bool ok = false;
    ASSERT_OK(mp_result_successful(r, &ok));
    ASSERT(ok);
    ASSERT_NULL(mp_result_error_message(r));
    int code;
    ASSERT_ERR(mp_result_exitcode(r, &code), MP_ENOENT);
    /* Gettable again and again. */
    for (int k = 0; k < 2; k++) {
        ASSERT_EQ(mp_result_get(r, &buf, MP_NO_WAIT), (ssize_t)sizeof y);
        memcpy(&y, buf, sizeof y);
        mp_free(buf);
        ASSERT_EQ(y, 49);
    }
    mp_result_destroy(r);
    mpt_pool_finish(pool);
}

TEST(pool_many_apply_async)
{
    enum { N = 200 };
    mp_pool_t *pool = mpt_pool_make(3, 0);
    mp_result_t *r[N];
    for (int64_t i = 0; i < N; i++) {
        ASSERT_OK(
            mp_pool_apply_async(pool, mpt_task_square, &i, sizeof i, &r[i]));
    }
    /* Destroying some unread handles early is allowed. */
    for (int i = 0; i < N; i += 10) {
        mp_result_destroy(r[i]);
        r[i] = NULL;
    }
    for (int64_t i = 0; i < N; i++) {
        if (r[i] == NULL) {
            continue;
        }
        void *buf;
        int64_t y;
        ASSERT_EQ(mp_result_get(r[i], &buf, MP_WAIT_FOREVER),
                  (ssize_t)sizeof y);
        memcpy(&y, buf, sizeof y);
        mp_free(buf);
        ASSERT_EQ(y, i * i);
        mp_result_destroy(r[i]);
    }
    mpt_pool_finish(pool);
}

TEST(pool_get_timeout_leaves_result_gettable)
{
    mpt_pipe_open(&gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    mp_result_t *r;
    ASSERT_OK(mp_pool_apply_async(pool, gated, NULL, 0, &r));
    void *buf = NULL;
    ASSERT_ERR(mp_result_get(r, &buf, 20), MP_ETIMEDOUT);
    ASSERT_ERR(mp_result_get(r, &buf, MP_NO_WAIT), MP_ETIMEDOUT);
    ASSERT_ERR(mp_result_wait(r, 1), MP_ETIMEDOUT);
    ASSERT_EQ(mp_result_ready(r), 0);
    bool ok;
    ASSERT_ERR(mp_result_successful(r, &ok), MP_ERUNNING);
    ASSERT_NULL(mp_result_error_message(r));
    int code;
    ASSERT_ERR(mp_result_exitcode(r, &code), MP_ERUNNING);
    ASSERT_ERR(mp_result_get(r, &buf, -5), MP_EINVAL);
    ASSERT_ERR(mp_result_wait(r, -5), MP_EINVAL);
    /* mp_pool_apply's timeout: the task stays queued behind the first. */
    ASSERT_ERR(mp_pool_apply(pool, gated, NULL, 0, NULL, 1), MP_ETIMEDOUT);
    mpt_signal(&gate, 1);
    ASSERT_EQ(mp_result_get(r, &buf, MP_WAIT_FOREVER), 4);
    ASSERT_MEM_EQ(buf, "done", 4);
    mp_free(buf);
    mp_result_destroy(r);
    mpt_signal(&gate, 1); /* the timed-out apply's task */
    mpt_pool_finish(pool);
    mpt_pipe_close(&gate);
}

TEST(pool_task_failure_carries_message)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    mp_result_t *r1, *r2;
    ASSERT_OK(mp_pool_apply_async(pool, failing, "x", 1, &r1));
    ASSERT_OK(mp_pool_apply_async(pool, failing, NULL, 0, &r2));
    void *buf = NULL;
    ASSERT_ERR(mp_result_get(r1, &buf, MP_WAIT_FOREVER), MP_EREMOTE);
    ASSERT_NULL(buf);
    bool ok1 = true;
    ASSERT_OK(mp_result_successful(r1, &ok1));
    ASSERT(!ok1);
    ASSERT_STR_EQ(mp_result_error_message(r1), "boom: bad value");
    ASSERT_ERR(mp_result_wait(r2, MP_WAIT_FOREVER), 0);
    ASSERT_ERR(mp_result_get(r2, NULL, MP_NO_WAIT), MP_EREMOTE);
    ASSERT_STR_EQ(mp_result_error_message(r2), "task returned -7");
    mp_result_destroy(r1);
    mp_result_destroy(r2);
    /* The workers are fine afterwards. */
    int64_t x = 5;
    ASSERT_OK(mp_pool_apply(pool, mpt_task_square, &x, sizeof x, NULL,
                            MP_WAIT_FOREVER));
    mpt_pool_finish(pool);
}

TEST(pool_close_join_ordering)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    ASSERT_ERR(mp_pool_join(pool, MP_WAIT_FOREVER), MP_ERUNNING);
    ASSERT_ERR(mp_pool_join(pool, -7), MP_EINVAL);
    int64_t x = 3;
    mp_result_t *r;
    ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &x, sizeof x, &r));
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_OK(mp_pool_close(pool));
    /* Submitting after close: "pool not running". */
    mp_result_t *r2 = NULL;
    ASSERT_ERR(mp_pool_apply_async(pool, mpt_task_square, &x, sizeof x, &r2),
               MP_ECLOSED);
    ASSERT_NULL(r2);
    ASSERT_ERR(mp_pool_apply(pool, mpt_task_square, &x, sizeof x, NULL,
                             MP_WAIT_FOREVER),
               MP_ECLOSED);
    ASSERT_ERR(mp_pool_map(pool, mpt_task_square, &x, sizeof x, 1, 0, &x,
                           sizeof x, NULL, MP_WAIT_FOREVER),
               MP_ECLOSED);
    /* Queued work still completes after close. */
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    ASSERT_OK(mp_pool_join(pool, MP_NO_WAIT));
    ASSERT_OK(mp_result_get(r, NULL, MP_NO_WAIT));
    mp_result_destroy(r);
    ASSERT_OK(mp_pool_terminate(pool));
    mp_pool_destroy(pool);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
}

TEST(pool_join_timeout_while_closing)
{
    mpt_pipe_open(&gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    mp_result_t *r;
    ASSERT_OK(mp_pool_apply_async(pool, gated, NULL, 0, &r));
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_ERR(mp_pool_join(pool, 10), MP_ETIMEDOUT);
    mpt_signal(&gate, 1);
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    ASSERT_OK(mp_result_get(r, NULL, MP_NO_WAIT));
    mp_result_destroy(r);
    mp_pool_destroy(pool);
    mpt_pipe_close(&gate);
}

TEST(pool_bad_input)
{
    mp_pool_t *pool = NULL;
    mp_pool_opts_t neg = MP_POOL_OPTS_INIT;
    neg.processes = -1;
    ASSERT_ERR(mp_pool_create(&pool, &neg), MP_EINVAL);
    ASSERT_ERR(mp_pool_create(NULL, NULL), MP_EINVAL);
    ASSERT_NULL(pool);
    ASSERT_ERR(mp_pool_processes(NULL), MP_EINVAL);

    pool = mpt_pool_make(1, 0);
    int64_t x = 2, y;
    mp_result_t *r = NULL;
    ASSERT_ERR(mp_pool_apply_async(NULL, mpt_task_square, &x, 8, &r),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_apply_async(pool, NULL, &x, 8, &r), MP_EINVAL);
    ASSERT_ERR(mp_pool_apply_async(pool, mpt_task_square, &x, 8, NULL),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_apply_async(pool, mpt_task_square, NULL, 8, &r),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_apply(pool, mpt_task_square, &x, 8, NULL, -3),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_apply(pool, NULL, &x, 8, NULL, 10), MP_EINVAL);
    ASSERT_ERR(mp_pool_map(NULL, mpt_task_square, &x, 8, 1, 1, &y, 8, NULL, 10),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map(pool, NULL, &x, 8, 1, 1, &y, 8, NULL, 10),
               MP_EINVAL);
    ASSERT_ERR(
        mp_pool_map(pool, mpt_task_square, NULL, 8, 1, 1, &y, 8, NULL, 10),
        MP_EINVAL);
    ASSERT_ERR(
        mp_pool_map(pool, mpt_task_square, &x, 8, 1, 1, NULL, 8, NULL, 10),
        MP_EINVAL);
    ASSERT_ERR(mp_pool_map(pool, mpt_task_square, &x, 8, 1, 1, &y, 8, NULL, -9),
               MP_EINVAL);
    ASSERT_ERR(
        mp_pool_map(pool, mpt_task_square, &x, 8, SIZE_MAX, 1, &y, 8, NULL, 10),
        MP_EINVAL);
    ASSERT_ERR(mp_pool_close(NULL), MP_EINVAL);
    ASSERT_ERR(mp_pool_terminate(NULL), MP_EINVAL);
    ASSERT_ERR(mp_pool_join(NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_result_get(NULL, NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_result_wait(NULL, 0), MP_EINVAL);
    ASSERT(!mp_result_ready(NULL));
    bool ok_null;
    ASSERT_ERR(mp_result_successful(NULL, &ok_null), MP_EINVAL);
    ASSERT_NULL(mp_result_error_message(NULL));
    int code;
    ASSERT_ERR(mp_result_exitcode(NULL, &code), MP_EINVAL);
    ASSERT_ERR(mp_pool_out_write(NULL, "x", 1), MP_EINVAL);
    ASSERT_ERR(mp_pool_out_error(NULL, "x"), MP_EINVAL);
    mp_result_destroy(NULL);
    mp_pool_destroy(NULL);
    ASSERT_OK(mp_pool_apply_async(pool, mpt_task_square, &x, 8, &r));
    ASSERT_ERR(mp_result_exitcode(r, NULL), MP_EINVAL);
    ASSERT_ERR(mp_result_successful(r, NULL), MP_EINVAL);
    mp_result_destroy(r);
    mpt_pool_finish(pool);
}

TEST(pool_default_processes_is_cpu_count)
{
    mp_pool_t *pool;
    ASSERT_OK(mp_pool_create(&pool, NULL));
    ASSERT_EQ(mp_pool_processes(pool), mp_cpu_count());
    mp_pool_destroy(pool);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
}

TEST(pool_initializer_runs_in_each_worker)
{
    mpt_pipe_open(&init_pipe);
    int arg = 42;
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.start_method = MP_START_FORK; /* the workers inherit pipes */
    o.processes = 3;
    o.initializer = init_set;
    o.initarg = &arg;
    ASSERT_OK(mp_pool_create(&pool, &o));
    pid_t pids[3];
    for (int i = 0; i < 3; i++) {
        mpt_read_all(init_pipe.rd, &pids[i], sizeof pids[i]);
    }
    ASSERT_NE(pids[0], pids[1]);
    ASSERT_NE(pids[0], pids[2]);
    ASSERT_NE(pids[1], pids[2]);
    for (int i = 0; i < 6; i++) {
        void *buf;
        int v;
        ASSERT_EQ(
            mp_pool_apply(pool, read_init, NULL, 0, &buf, MP_WAIT_FOREVER),
            (ssize_t)sizeof v);
        memcpy(&v, buf, sizeof v);
        mp_free(buf);
        ASSERT_EQ(v, 42);
    }
    mpt_pool_finish(pool);
    mpt_pipe_close(&init_pipe);
}

TEST(pool_failing_initializer_breaks_pool)
{
    mpt_pipe_open(&init_pipe);
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.start_method = MP_START_FORK; /* the workers inherit pipes */
    o.processes = 2;
    o.initializer = init_fail;
    ASSERT_OK(mp_pool_create(&pool, &o));
    mp_result_t *r;
    int err = mp_pool_apply_async(pool, whoami, NULL, 0, &r);
    if (err == 0) {
        ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EBROKEN);
        ASSERT_NOT_NULL(strstr(mp_result_error_message(r),
                               "initializer failed (returned 5)"));
        mp_result_destroy(r);
    } else {
        ASSERT_ERR(err, MP_EBROKEN);
    }
    /* Broken for good: later submissions fail at once. */
    ASSERT_ERR(mp_pool_join(pool, MP_WAIT_FOREVER), MP_ERUNNING);
    int64_t x = 1;
    ASSERT_ERR(mp_pool_map(pool, mpt_task_square, &x, 8, 1, 1, &x, 8, NULL,
                           MP_WAIT_FOREVER),
               MP_EBROKEN);
    mp_pool_destroy(pool);
    ASSERT_EQ(mp_active_children(NULL, 0), 0);
    /* No fork loop: a handful of initializer runs at most. */
    mpt_signal(&init_pipe, 0);
    int runs = 0;
    uint8_t b;
    while (mpt_wait_signal(&init_pipe, &b) == 0 && b == 1) {
        runs++;
    }
    ASSERT_GE(runs, 1);
    ASSERT_LE(runs, 2 * 3 + 4);
    mpt_pipe_close(&init_pipe);
}

TEST(pool_maxtasksperchild_replaces_workers)
{
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 1;
    o.maxtasksperchild = 2;
    ASSERT_OK(mp_pool_create(&pool, &o));
    pid_t pids[6];
    for (int i = 0; i < 6; i++) {
        void *buf;
        ASSERT_EQ(mp_pool_apply(pool, whoami, NULL, 0, &buf, MP_WAIT_FOREVER),
                  (ssize_t)sizeof(pid_t));
        memcpy(&pids[i], buf, sizeof(pid_t));
        mp_free(buf);
    }
    /* Two tasks per worker, then a new one. */
    for (int i = 0; i < 6; i += 2) {
        ASSERT_EQ(pids[i], pids[i + 1]);
        if (i > 0) {
            ASSERT_NE(pids[i], pids[i - 1]);
        }
    }
    mpt_pool_finish(pool);
}

/* x -> x * x, but fails for x == 13. */
static int
square_not_13(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x == 13) {
        mp_pool_out_error(out, "unlucky");
        return 1;
    }
    return mpt_task_square(in, len, out);
}

/* Takes the k-th result of it, of n items: its buffer goes to *buf and
 * its item number to *idx; returns its length or the item's code. Checks
 * that the item was not taken before (seen marks the items) and, when
 * ordered, that it is item k. */
static ssize_t
take_result(mp_imap_t *it, bool ordered, size_t k, size_t n, bool *seen,
            void **buf, size_t *idx)
{
    *buf = NULL;
    *idx = SIZE_MAX;
    ssize_t got = mp_imap_next(it, buf, idx, MP_WAIT_FOREVER);
    ASSERT_LT(*idx, n);
    ASSERT(!seen[*idx]);
    seen[*idx] = true;
    if (ordered) {
        ASSERT_EQ(*idx, k);
    }
    return got;
}

/* Takes every result of it, checking values; returns how many failed
 * (with the message "unlucky" at item 13). seen marks the items. */
static int
drain_imap(mp_imap_t *it, bool ordered, size_t n, bool *seen)
{
    int failed = 0;
    for (size_t k = 0; k < n; k++) {
        void *buf;
        size_t idx;
        ssize_t got = take_result(it, ordered, k, n, seen, &buf, &idx);
        if (idx == 13) {
            ASSERT_ERR(got, MP_EREMOTE);
            ASSERT_STR_EQ((const char *)buf, "unlucky");
            failed++;
        } else {
            int64_t y;
            ASSERT_EQ(got, (ssize_t)sizeof y);
            memcpy(&y, buf, sizeof y);
            ASSERT_EQ(y, (int64_t)(idx * idx));
        }
        mp_free(buf);
    }
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_NO_WAIT), MP_EOF);
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    return failed;
}

TEST(pool_imap_ordered_and_unordered)
{
    enum { N = 20 };
    mp_pool_t *pool = mpt_pool_make(3, 0);
    int64_t in[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    size_t sizes[] = {0, 3}; /* 0: automatic */
    for (int ordered = 0; ordered < 2; ordered++) {
        for (size_t s = 0; s < 2; s++) {
            mp_imap_t *it;
            if (ordered) {
                ASSERT_OK(
                    mp_pool_imap(pool, square_not_13, in, 8, N, sizes[s], &it));
            } else {
                ASSERT_OK(mp_pool_imap_unordered(pool, square_not_13, in, 8, N,
                                                 sizes[s], &it));
            }
            bool seen[N] = {false};
            ASSERT_EQ(drain_imap(it, ordered, N, seen), 1);
            mp_imap_destroy(it);
        }
    }
    /* No items: at the end at once. */
    mp_imap_t *it;
    ASSERT_OK(mp_pool_imap(pool, mpt_task_square, NULL, 8, 0, 1, &it));
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_WAIT_FOREVER), MP_EOF);
    mp_imap_destroy(it);
    mpt_pool_finish(pool);
}

/* Item i of the backlog test (input: i, then 1 when item i waits for the
 * gate first): (i % 41) bytes of value i % 251, or the error "unlucky"
 * when i % 97 == 5. */
static int
backlog_task(const void *in, size_t len, mp_pool_out_t *out)
{
    uint32_t v[2];
    ASSERT_EQ(len, sizeof v);
    memcpy(v, in, sizeof v);
    uint8_t b;
    if (v[1] != 0 && mpt_wait_signal(&gate, &b) != 0) {
        return -1;
    }
    if (v[0] % 97 == 5) {
        mp_pool_out_error(out, "unlucky");
        return 1;
    }
    uint8_t bytes[40];
    memset(bytes, (int)(v[0] % 251), sizeof bytes);
    return v[0] % 41 == 0 ? 0 : mp_pool_out_write(out, bytes, v[0] % 41);
}

/* Waits until pool counts at least n finished items in all. */
static void
wait_finished(mp_pool_t *pool, uint64_t n)
{
    mp_pool_stats_t st;
    for (;;) {
        ASSERT_EQ(mp_pool_stats(pool, &st, NULL, 0), 0);
        if (st.done + st.failed >= n) {
            return;
        }
        sched_yield();
    }
}

TEST(pool_imap_backlog_widens_the_ring)
{
    /* Far more results wait than the ring's first window (256 slots)
     * holds, so it widens several times with results in it, after the
     * first TAKEN were taken (so the waiting ones wrap around the ring and
     * must move): ordered, behind item TAKEN, which waits for the gate;
     * unordered, because nothing more is taken until half are done.
     * Results of 0 to 40 bytes cover both the ones kept in their slot and
     * the ones in a buffer of their own. */
    enum { N = 3000, TAKEN = 100 };
    static uint32_t in[N][2];
    mpt_pipe_open(&gate);
    mp_pool_t *pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    uint64_t finished = 0;
    for (int ordered = 1; ordered >= 0; ordered--) {
        for (uint32_t i = 0; i < N; i++) {
            in[i][0] = i;
            in[i][1] = i == TAKEN;
        }
        mp_imap_t *it;
        ASSERT_OK(ordered ? mp_pool_imap(pool, backlog_task, in, sizeof in[0],
                                         N, 1, &it)
                          : mp_pool_imap_unordered(pool, backlog_task, in,
                                                   sizeof in[0], N, 1, &it));
        static bool seen[N];
        memset(seen, 0, sizeof seen);
        for (size_t k = 0; k < N; k++) {
            if (k == TAKEN) {
                /* Item TAKEN holds one worker, the other runs the rest. */
                wait_finished(pool, finished + N / 2);
                mpt_signal(&gate, 1);
            }
            void *buf;
            size_t idx;
            ssize_t got = take_result(it, ordered, k, N, seen, &buf, &idx);
            ASSERT_NE(buf, NULL);
            if (idx % 97 == 5) {
                ASSERT_ERR(got, MP_EREMOTE);
                ASSERT_STR_EQ((const char *)buf, "unlucky");
            } else {
                ASSERT_EQ(got, (ssize_t)(idx % 41));
                for (ssize_t b = 0; b < got; b++) {
                    ASSERT_EQ(((uint8_t *)buf)[b], idx % 251);
                }
            }
            mp_free(buf);
        }
        ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_NO_WAIT), MP_EOF);
        mp_imap_destroy(it);
        finished += N;
    }
    /* Results left in a widened ring are freed with the iterator. */
    mp_imap_t *it;
    in[TAKEN][1] = 0;
    ASSERT_OK(mp_pool_imap_unordered(pool, backlog_task, in, sizeof in[0], N, 1,
                                     &it));
    wait_finished(pool, finished + N);
    void *buf;
    ASSERT_EQ(mp_imap_next(it, &buf, NULL, MP_WAIT_FOREVER) >= 0 || buf != NULL,
              1);
    mp_free(buf);
    mp_imap_destroy(it);
    mpt_pool_finish(pool);
    mpt_pipe_close(&gate);
}

TEST(pool_imap_next_timeout_and_early_destroy)
{
    mpt_pipe_open(&gate);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    mp_imap_t *it;
    ASSERT_OK(mp_pool_imap_unordered(pool, gated, NULL, 0, 2, 1, &it));
    size_t idx = 77;
    ASSERT_ERR(mp_imap_next(it, NULL, &idx, 10), MP_ETIMEDOUT);
    ASSERT_EQ(idx, 77);
    ASSERT_ERR(mp_imap_next(it, NULL, &idx, -4), MP_EINVAL);
    mpt_signal(&gate, 1);
    void *buf;
    ASSERT_EQ(mp_imap_next(it, &buf, &idx, MP_WAIT_FOREVER), 4);
    ASSERT_EQ(idx, 0);
    mp_free(buf);
    /* Destroyed with its second task still waiting on the gate. */
    mp_imap_destroy(it);
    mpt_signal(&gate, 1);
    ASSERT_ERR(mp_pool_imap(NULL, mpt_task_square, NULL, 0, 0, 1, &it),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_imap(pool, NULL, NULL, 0, 0, 1, &it), MP_EINVAL);
    ASSERT_ERR(mp_pool_imap(pool, mpt_task_square, NULL, 0, 0, 1, NULL),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_imap(pool, mpt_task_square, NULL, 8, 1, 1, &it),
               MP_EINVAL);
    /* Chunk size 0 is automatic, not an error (api-conventions rule 5). */
    ASSERT_OK(
        mp_pool_imap_unordered(pool, mpt_task_square, NULL, 0, 0, 0, &it));
    ASSERT_ERR(mp_imap_next(it, NULL, NULL, MP_NO_WAIT), MP_EOF);
    mp_imap_destroy(it);
    ASSERT_ERR(mp_imap_next(NULL, NULL, NULL, 0), MP_EINVAL);
    mp_imap_destroy(NULL);
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_ERR(mp_pool_imap(pool, mpt_task_square, NULL, 0, 0, 1, &it),
               MP_ECLOSED);
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
    mpt_pipe_close(&gate);
}
