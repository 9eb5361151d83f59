/* SPDX-License-Identifier: MIT */
/* test-pool-more.c - Pool extras: the per-task timeout, success and error
 * callbacks, mp_pool_map_async, mp_pool_stats and the mp_progress_t bar
 * (formatted into a memory stream with an injected clock). */
#include "runner.h"

#include "pool/pool_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Tasks that block wait on gate (nobody writes it unless the test says);
 * they tell the test they run through running. Opened before the pool,
 * whose workers are forked under every default method to inherit them. */
static mpt_pipe_t gate, running;

/* x -> x * x on int64 items; -1 blocks on gate (then fails). */
static int
square_or_block(const void *in, size_t len, mp_pool_out_t *out)
{
    int64_t x;
    if (len != sizeof x) {
        mp_pool_out_error(out, "bad item size");
        return -1;
    }
    memcpy(&x, in, sizeof x);
    if (x == -1) {
        uint8_t b;
        mpt_signal(&running, 1);
        (void)mpt_wait_signal(&gate, &b);
        return -1;
    }
    if (x < -1) {
        mp_pool_out_error(out, "negative");
        return -2;
    }
    x *= x;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* Says it runs (with its pid), waits for gate, then returns "ok". */
static int
gated(const void *in, size_t len, mp_pool_out_t *out)
{
    (void)in;
    (void)len;
    uint8_t b;
    pid_t pid = getpid();
    mpt_write_all(running.wr, &pid, sizeof pid);
    if (mpt_wait_signal(&gate, &b) != 0) {
        return -1;
    }
    return mp_pool_out_write(out, "ok", 2);
}

/* Runs apply(square_or_block, x) and checks the result x * x. */
static void
check_square(mp_pool_t *pool, int64_t x)
{
    void *res;
    ASSERT_EQ(mp_pool_apply(pool, square_or_block, &x, sizeof x, &res,
                            MP_WAIT_FOREVER),
              (ssize_t)sizeof x);
    int64_t y;
    memcpy(&y, res, sizeof y);
    ASSERT_EQ(y, x * x);
    mp_free(res);
}

/*--- task timeout ----------------------------------------------------------*/

/* The timeout is generous for the quick tasks that share the pool: they
 * must never time out, even on a loaded machine under sanitizers. */
#define TASK_TIMEOUT_MS 500

TEST(pool_more_task_timeout_kills_blocked_task)
{
    mpt_pipe_open(&gate);
    mpt_pipe_open(&running);
    mp_pool_t *pool = mpt_pool_make_by(2, TASK_TIMEOUT_MS, MP_START_FORK);
    int64_t block = -1;
    mp_result_t *r;
    ASSERT_OK(
        mp_pool_apply_async(pool, square_or_block, &block, sizeof block, &r));
    uint8_t b;
    ASSERT_OK(mpt_wait_signal(&running, &b));
    /* The other worker keeps serving while the first one is stuck. */
    for (int64_t x = 0; x < 4; x++) {
        check_square(pool, x);
    }
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_ETIMEDOUT);
    ASSERT_EQ(mp_result_ready(r), 1);
    bool ok = true;
    ASSERT_OK(mp_result_successful(r, &ok));
    ASSERT(!ok);
    const char *msg = mp_result_error_message(r);
    ASSERT_NOT_NULL(msg);
    ASSERT(strstr(msg, "timed out after 500 ms") != NULL);
    int code;
    ASSERT_ERR(mp_result_exitcode(r, &code), MP_ENOENT);
    mp_result_destroy(r);
    /* The killed worker was replaced: both slots serve again. */
    for (int64_t x = 4; x < 8; x++) {
        check_square(pool, x);
    }
    mp_pool_stats_t st;
    ASSERT_EQ(mp_pool_stats(pool, &st, NULL, 0), 0);
    ASSERT_EQ(st.timed_out, 1u);
    ASSERT_EQ(st.failed, 1u);
    ASSERT_EQ(st.done, 8u);
    mpt_pool_finish(pool);
    mpt_pipe_close(&gate);
    mpt_pipe_close(&running);
}

TEST(pool_more_task_timeout_in_map)
{
    mpt_pipe_open(&gate);
    mpt_pipe_open(&running);
    mp_pool_t *pool = mpt_pool_make_by(2, TASK_TIMEOUT_MS, MP_START_FORK);
    int64_t in[6] = {1, 2, -1, 3, 4, 5}, out[6];
    int status[6];
    ASSERT_ERR(mp_pool_map(pool, square_or_block, in, sizeof in[0], 6, 1, out,
                           sizeof out[0], status, MP_WAIT_FOREVER),
               MP_ETIMEDOUT);
    for (int i = 0; i < 6; i++) {
        ASSERT_EQ(status[i], i == 2 ? MP_ETIMEDOUT : 0);
        if (i != 2) {
            ASSERT_EQ(out[i], in[i] * in[i]);
        }
    }
    mpt_pool_finish(pool);
    mpt_pipe_close(&gate);
    mpt_pipe_close(&running);
}

TEST(pool_more_task_timeout_bad_input)
{
    mp_pool_t *pool = NULL;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 1;
    o.task_timeout = -2;
    ASSERT_ERR(mp_pool_create(&pool, &o), MP_EINVAL);
    o.task_timeout = INT64_MIN;
    ASSERT_ERR(mp_pool_create(&pool, &o), MP_EINVAL);
    ASSERT_NULL(pool);
    /* A huge timeout is as good as none, and so is MP_WAIT_FOREVER. */
    o.task_timeout = INT64_MAX;
    ASSERT_OK(mp_pool_create(&pool, &o));
    check_square(pool, 3);
    mpt_pool_finish(pool);
    o.task_timeout = MP_WAIT_FOREVER;
    ASSERT_OK(mp_pool_create(&pool, &o));
    check_square(pool, 4);
    mpt_pool_finish(pool);
}

/*--- callbacks -------------------------------------------------------------*/

/* What the callbacks saw: written in the handler thread before the result
 * is ready, read by the test after get (the result's lock orders them). */
static struct {
    int successes, errors;
    int64_t value;
    int err;
    char msg[128];
    const void *data;
    size_t len;
    int ret; /* what the callbacks return */
} seen;

static int
on_success(const void *data, size_t len, void *arg)
{
    ASSERT_EQ(arg, (void *)&seen);
    seen.successes++;
    seen.data = data;
    seen.len = len;
    if (len == sizeof seen.value) {
        memcpy(&seen.value, data, len);
    }
    return seen.ret;
}

static int
on_error(int err, const char *msg, void *arg)
{
    ASSERT_EQ(arg, (void *)&seen);
    seen.errors++;
    seen.err = err;
    snprintf(seen.msg, sizeof seen.msg, "%s", msg);
    return seen.ret;
}

static const mp_pool_callbacks_t cbs = {on_success, on_error, &seen};

TEST(pool_more_apply_async_callbacks)
{
    mp_pool_t *pool = mpt_pool_make(2, 0);
    memset(&seen, 0, sizeof seen);
    int64_t x = 7;
    mp_result_t *r;
    ASSERT_OK(
        mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x, &cbs, &r));
    ASSERT_OK(mp_result_get(r, NULL, MP_WAIT_FOREVER));
    ASSERT_EQ(seen.successes, 1);
    ASSERT_EQ(seen.errors, 0);
    ASSERT_EQ(seen.value, 49);
    mp_result_destroy(r);

    x = -5;
    ASSERT_OK(
        mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x, &cbs, &r));
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EREMOTE);
    ASSERT_EQ(seen.successes, 1);
    ASSERT_EQ(seen.errors, 1);
    ASSERT_EQ(seen.err, MP_EREMOTE);
    ASSERT_STR_EQ(seen.msg, "negative");
    mp_result_destroy(r);

    /* Failing callbacks are counted and break nothing. */
    seen.ret = -1;
    x = 3;
    ASSERT_OK(
        mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x, &cbs, &r));
    ASSERT_OK(mp_result_get(r, NULL, MP_WAIT_FOREVER));
    mp_result_destroy(r);
    x = -3;
    ASSERT_OK(
        mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x, &cbs, &r));
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EREMOTE);
    mp_result_destroy(r);
    mp_pool_stats_t st;
    ASSERT_EQ(mp_pool_stats(pool, &st, NULL, 0), 0);
    ASSERT_EQ(st.callback_errors, 2u);
    ASSERT_EQ(seen.successes, 2);
    ASSERT_EQ(seen.errors, 2);
    check_square(pool, 11);

    /* Only one callback, or none: the other kind of outcome runs none. */
    mp_pool_callbacks_t only_err = {NULL, on_error, &seen};
    x = 2;
    ASSERT_OK(mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x,
                                     &only_err, &r));
    ASSERT_OK(mp_result_get(r, NULL, MP_WAIT_FOREVER));
    mp_result_destroy(r);
    ASSERT_OK(
        mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x, NULL, &r));
    ASSERT_OK(mp_result_get(r, NULL, MP_WAIT_FOREVER));
    mp_result_destroy(r);
    ASSERT_EQ(seen.successes, 2);
    ASSERT_EQ(seen.errors, 2);
    mpt_pool_finish(pool);
}

TEST(pool_more_error_callback_on_terminate)
{
    mpt_pipe_open(&gate);
    mpt_pipe_open(&running);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    memset(&seen, 0, sizeof seen);
    int64_t block = -1;
    mp_result_t *r;
    ASSERT_OK(mp_pool_apply_async_cb(pool, square_or_block, &block,
                                     sizeof block, &cbs, &r));
    uint8_t b;
    ASSERT_OK(mpt_wait_signal(&running, &b));
    ASSERT_OK(mp_pool_terminate(pool));
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_ECANCELED);
    ASSERT_EQ(seen.errors, 1);
    ASSERT_EQ(seen.err, MP_ECANCELED);
    mp_result_destroy(r);
    mp_pool_destroy(pool);
    mpt_pipe_close(&gate);
    mpt_pipe_close(&running);
}

TEST(pool_more_apply_async_cb_bad_input)
{
    mp_pool_t *pool = mpt_pool_make(1, 0);
    mp_result_t *r = NULL;
    int64_t x = 1;
    ASSERT_ERR(
        mp_pool_apply_async_cb(NULL, square_or_block, &x, sizeof x, &cbs, &r),
        MP_EINVAL);
    ASSERT_ERR(mp_pool_apply_async_cb(pool, NULL, &x, sizeof x, &cbs, &r),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_apply_async_cb(pool, square_or_block, NULL, 8, &cbs, &r),
               MP_EINVAL);
    ASSERT_ERR(
        mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x, &cbs, NULL),
        MP_EINVAL);
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_ERR(
        mp_pool_apply_async_cb(pool, square_or_block, &x, sizeof x, &cbs, &r),
        MP_ECLOSED);
    ASSERT_NULL(r);
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
}

/*--- map_async -------------------------------------------------------------*/

TEST(pool_more_map_async_fills_output)
{
    mp_pool_t *pool = mpt_pool_make(3, 0);
    memset(&seen, 0, sizeof seen);
    enum { N = 10 };
    int64_t in[N], out[N];
    int status[N];
    for (int i = 0; i < N; i++) {
        in[i] = i;
    }
    mp_result_t *r;
    ASSERT_OK(mp_pool_map_async(pool, square_or_block, in, sizeof in[0], N, 0,
                                &cbs, out, sizeof out[0], status, &r));
    void *data = (void *)1;
    ASSERT_EQ(mp_result_get(r, &data, MP_WAIT_FOREVER), 0);
    mp_free(data);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(out[i], (int64_t)i * i);
        ASSERT_EQ(status[i], 0);
    }
    ASSERT_EQ(seen.successes, 1);
    ASSERT_EQ(seen.data, (const void *)out);
    ASSERT_EQ(seen.len, sizeof out);
    mp_result_destroy(r);

    /* A failed item: the first failure's code, status per item. */
    in[4] = -9;
    ASSERT_OK(mp_pool_map_async(pool, square_or_block, in, sizeof in[0], N, 2,
                                &cbs, out, sizeof out[0], status, &r));
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EREMOTE);
    ASSERT_NOT_NULL(strstr(mp_result_error_message(r), "item 4"));
    ASSERT_EQ(status[4], MP_EREMOTE);
    ASSERT_EQ(status[5], 0);
    ASSERT_EQ(seen.errors, 1);
    ASSERT_EQ(seen.err, MP_EREMOTE);
    mp_result_destroy(r);

    /* Zero items: ready at once, callback already run, no callbacks. */
    ASSERT_OK(mp_pool_map_async(pool, square_or_block, NULL, 8, 0, 1, &cbs,
                                NULL, 8, NULL, &r));
    ASSERT_EQ(mp_result_ready(r), 1);
    ASSERT_EQ(seen.successes, 2);
    ASSERT_OK(mp_result_get(r, NULL, 0));
    mp_result_destroy(r);
    ASSERT_OK(mp_pool_map_async(pool, square_or_block, in, sizeof in[0], N, 3,
                                NULL, out, sizeof out[0], NULL, &r));
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_EREMOTE);
    mp_result_destroy(r);
    mpt_pool_finish(pool);
}

TEST(pool_more_map_async_get_timeout_then_terminate)
{
    mpt_pipe_open(&gate);
    mpt_pipe_open(&running);
    mp_pool_t *pool = mpt_pool_make_by(1, 0, MP_START_FORK);
    int64_t in[3] = {-1, 2, 3}, out[3];
    int status[3];
    mp_result_t *r;
    ASSERT_OK(mp_pool_map_async(pool, square_or_block, in, sizeof in[0], 3, 1,
                                NULL, out, sizeof out[0], status, &r));
    uint8_t b;
    ASSERT_OK(mpt_wait_signal(&running, &b));
    ASSERT_ERR(mp_result_get(r, NULL, 0), MP_ETIMEDOUT);
    ASSERT_ERR(mp_result_wait(r, 1), MP_ETIMEDOUT);
    ASSERT_EQ(mp_result_ready(r), 0);
    ASSERT_OK(mp_pool_terminate(pool));
    ASSERT_ERR(mp_result_get(r, NULL, MP_WAIT_FOREVER), MP_ECANCELED);
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(status[i], MP_ECANCELED);
    }
    mp_result_destroy(r);
    mp_pool_destroy(pool);
    mpt_pipe_close(&gate);
    mpt_pipe_close(&running);
}

TEST(pool_more_map_async_bad_input)
{
    mp_pool_t *pool = mpt_pool_make(1, 0);
    int64_t in[2] = {1, 2}, out[2];
    mp_result_t *r = NULL;
    ASSERT_ERR(mp_pool_map_async(NULL, square_or_block, in, 8, 2, 1, NULL, out,
                                 8, NULL, &r),
               MP_EINVAL);
    ASSERT_ERR(
        mp_pool_map_async(pool, NULL, in, 8, 2, 1, NULL, out, 8, NULL, &r),
        MP_EINVAL);
    ASSERT_ERR(mp_pool_map_async(pool, square_or_block, in, 8, 2, 1, NULL, out,
                                 8, NULL, NULL),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_async(pool, square_or_block, NULL, 8, 2, 1, NULL,
                                 out, 8, NULL, &r),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_async(pool, square_or_block, in, 8, 2, 1, NULL, NULL,
                                 8, NULL, &r),
               MP_EINVAL);
    ASSERT_ERR(mp_pool_map_async(pool, square_or_block, in, 8, SIZE_MAX, 1,
                                 NULL, out, 8, NULL, &r),
               MP_EINVAL);
    ASSERT_NULL(r);
    ASSERT_OK(mp_pool_close(pool));
    ASSERT_ERR(mp_pool_map_async(pool, square_or_block, in, 8, 2, 1, NULL, out,
                                 8, NULL, &r),
               MP_ECLOSED);
    ASSERT_ERR(mp_pool_map_async(pool, square_or_block, in, 8, 0, 1, NULL, out,
                                 8, NULL, &r),
               MP_ECLOSED);
    ASSERT_NULL(r);
    ASSERT_OK(mp_pool_join(pool, MP_WAIT_FOREVER));
    mp_pool_destroy(pool);
}

/*--- stats -----------------------------------------------------------------*/

TEST(pool_more_stats_track_workers_and_counts)
{
    mpt_pipe_open(&gate);
    mpt_pipe_open(&running);
    mp_pool_t *pool = mpt_pool_make_by(2, 0, MP_START_FORK);
    mp_pool_worker_info_t wi[4];
    mp_pool_stats_t st;
    ASSERT_EQ(mp_pool_stats(pool, &st, wi, 4), 2);
    ASSERT_EQ(st.processes, 2);
    ASSERT_EQ(st.submitted, 0u);
    for (int i = 0; i < 2; i++) {
        ASSERT(wi[i].state == MP_POOL_WORKER_STARTING ||
               wi[i].state == MP_POOL_WORKER_IDLE);
        ASSERT_GT(wi[i].pid, 0);
    }
    mp_result_t *r;
    ASSERT_OK(mp_pool_apply_async(pool, gated, NULL, 0, &r));
    pid_t busy;
    mpt_read_all(running.rd, &busy, sizeof busy);
    ASSERT_EQ(mp_pool_stats(pool, &st, wi, 2), 2);
    int nbusy = 0;
    for (int i = 0; i < 2; i++) {
        if (wi[i].state == MP_POOL_WORKER_BUSY) {
            nbusy++;
            ASSERT_EQ(wi[i].pid, busy);
        }
    }
    ASSERT_EQ(nbusy, 1);
    ASSERT_EQ(st.submitted, 1u);
    ASSERT_EQ(st.done, 0u);
    mpt_signal(&gate, 1);
    ASSERT_OK(mp_result_get(r, NULL, MP_WAIT_FOREVER));
    mp_result_destroy(r);
    int64_t in[5] = {1, 2, -3, 4, 5}, out[5];
    ASSERT_ERR(mp_pool_map(pool, square_or_block, in, 8, 5, 1, out, 8, NULL,
                           MP_WAIT_FOREVER),
               MP_EREMOTE);
    ASSERT_EQ(mp_pool_stats(pool, &st, wi, 1), 1);
    ASSERT_EQ(st.submitted, 6u);
    ASSERT_EQ(st.done, 5u);
    ASSERT_EQ(st.failed, 1u);
    ASSERT_EQ(st.timed_out, 0u);
    ASSERT_OK(mp_pool_terminate(pool));
    ASSERT_EQ(mp_pool_stats(pool, &st, wi, 2), 2);
    for (int i = 0; i < 2; i++) {
        ASSERT_EQ(wi[i].state, MP_POOL_WORKER_STOPPED);
        ASSERT_EQ(wi[i].pid, 0);
    }
    ASSERT_EQ(wi[0].tasks + wi[1].tasks, 6u);
    mp_pool_destroy(pool);
    mpt_pipe_close(&gate);
    mpt_pipe_close(&running);
}

TEST(pool_more_stats_bad_input)
{
    mp_pool_t *pool = mpt_pool_make(1, 0);
    mp_pool_stats_t st;
    mp_pool_worker_info_t wi;
    ASSERT_ERR(mp_pool_stats(NULL, &st, NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_pool_stats(pool, NULL, NULL, 0), MP_EINVAL);
    ASSERT_ERR(mp_pool_stats(pool, &st, NULL, 1), MP_EINVAL);
    ASSERT_EQ(mp_pool_stats(pool, &st, &wi, 0), 0);
    mpt_pool_finish(pool);
}

/*--- progress bar ----------------------------------------------------------*/

static int64_t fake_now;

/* The injected clock. */
static int64_t
fake_clock(void *arg)
{
    ASSERT_EQ(arg, (void *)&fake_now);
    return fake_now;
}

#define MS 1000000LL

/* Makes a bar on a memory stream, tty as mp_progress_opts_t says. */
static mp_progress_t *
make_bar(FILE *f, uint64_t total, const char *label, int tty)
{
    mp_progress_t *p;
    mp_progress_opts_t o = MP_PROGRESS_OPTS_INIT;
    o.stream = f;
    o.tty = tty;
    o.clock = fake_clock;
    o.clock_arg = &fake_now;
    fake_now = 1000 * MS;
    ASSERT_OK(mp_progress_create(&p, total, label, &o));
    return p;
}

TEST(pool_progress_plain_lines_once_a_second)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    ASSERT_NOT_NULL(f);
    /* tty 0 asks isatty: a memory stream is no TTY. */
    mp_progress_t *p = make_bar(f, 100, "squares", 0);
    ASSERT_OK(mp_progress_update(p, 0, 0));
    fake_now += 500 * MS;
    ASSERT_OK(mp_progress_update(p, 10, 0)); /* too soon: nothing */
    fake_now += 500 * MS;
    ASSERT_OK(mp_progress_update(p, 20, 0));
    fake_now += 999 * MS;
    ASSERT_OK(mp_progress_update(p, 30, 0)); /* too soon again */
    fake_now += 1 * MS;
    ASSERT_OK(mp_progress_update(p, 50, 3 * 1024 * 1024));
    fake_now += 500 * MS;
    ASSERT_OK(mp_progress_update(p, 100, 5 * 1024 * 1024));
    ASSERT_OK(mp_progress_finish(p));
    ASSERT_OK(mp_progress_finish(p));         /* once only */
    ASSERT_OK(mp_progress_update(p, 100, 0)); /* after finish: ignored */
    fclose(f);
    ASSERT_STR_EQ(buf, "squares: 0/100 (0%), 0.0/s, ETA ?\n"
                       "squares: 20/100 (20%), 20.0/s, ETA 0:04\n"
                       "squares: 50/100 (50%), 25.0/s, 3.0 MiB (1.5 MiB/s), "
                       "ETA 0:02\n"
                       "squares: 100/100 (100%), 40.0/s, 5.0 MiB (2.0 MiB/s),"
                       " done in 0:03\n");
    free(buf);
    mp_progress_destroy(p);
}

TEST(pool_progress_tty_redraws_one_line)
{
    char buf[1024] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    ASSERT_NOT_NULL(f);
    mp_progress_t *p = make_bar(f, 0, NULL, 1);
    ASSERT_OK(mp_progress_update(p, 1000, 0));
    fake_now += 50 * MS;
    ASSERT_OK(mp_progress_update(p, 1100, 0)); /* throttled */
    fake_now += 50 * MS;
    ASSERT_OK(mp_progress_update(p, 5, 0));
    fake_now += 900 * MS;
    ASSERT_OK(mp_progress_finish(p));
    fclose(f);
    /* No total: counts and rate only; a shorter line blanks the rest. */
    ASSERT_STR_EQ(buf, "\r1000, 0.0/s"
                       "\r5, 50.0/s  "
                       "\r5, 5.0/s, done in 0:01\n");
    mp_progress_destroy(p);
}

TEST(pool_progress_long_run_eta_hours)
{
    char buf[512] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    ASSERT_NOT_NULL(f);
    mp_progress_t *p = make_bar(f, 100000, "big", -1);
    fake_now += 10000 * MS;
    ASSERT_OK(mp_progress_update(p, 10, 512));
    fclose(f);
    ASSERT_STR_EQ(buf,
                  "big: 10/100000 (0%), 1.0/s, 512 B (51 B/s), ETA 27:46:30\n");
    mp_progress_destroy(p);
}

TEST(pool_progress_eta_from_bytes)
{
    char buf[512] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    ASSERT_NOT_NULL(f);
    mp_progress_t *p;
    mp_progress_opts_t o = MP_PROGRESS_OPTS_INIT;
    o.stream = f;
    o.tty = -1;
    o.clock = fake_clock;
    o.clock_arg = &fake_now;
    o.total_bytes = 100 * 1024 * 1024;
    fake_now = 1000 * MS;
    ASSERT_OK(mp_progress_create(&p, 2, "copy", &o));
    /* One of two files, but a tenth of the bytes: the ETA follows the
     * bytes (90 MiB left at 1 MiB/s), not the files (10 s). */
    fake_now += 10000 * MS;
    ASSERT_OK(mp_progress_update(p, 1, 10 * 1024 * 1024));
    fake_now += 15000 * MS;
    ASSERT_OK(mp_progress_update(p, 1, 25 * 1024 * 1024));
    ASSERT_OK(mp_progress_finish(p));
    fclose(f);
    ASSERT_STR_EQ(buf, "copy: 1/2 (50%), 0.1/s, 10.0 MiB/100.0 MiB "
                       "(1.0 MiB/s), ETA 1:30\n"
                       "copy: 1/2 (50%), 0.0/s, 25.0 MiB/100.0 MiB "
                       "(1.0 MiB/s), ETA 1:15\n"
                       "copy: 1/2 (50%), 0.0/s, 25.0 MiB/100.0 MiB "
                       "(1.0 MiB/s), done in 0:25\n");
    mp_progress_destroy(p);
}

TEST(pool_progress_bad_input)
{
    mp_progress_t *p = NULL;
    ASSERT_ERR(mp_progress_create(NULL, 1, "x", NULL), MP_EINVAL);
    ASSERT_ERR(mp_progress_update(NULL, 1, 0), MP_EINVAL);
    ASSERT_ERR(mp_progress_finish(NULL), MP_EINVAL);
    mp_progress_destroy(NULL);
    /* A stream that cannot take the line reports MP_EIO. */
    char buf[8];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    ASSERT_NOT_NULL(f);
    setvbuf(f, NULL, _IONBF, 0);
    mp_progress_opts_t po = MP_PROGRESS_OPTS_INIT;
    po.stream = f;
    po.tty = -1;
    ASSERT_OK(mp_progress_create(&p, 10, "a long label", &po));
    ASSERT_ERR(mp_progress_update(p, 1, 0), MP_EIO);
    mp_progress_destroy(p);
    fclose(f);
}
