/* SPDX-License-Identifier: MIT */
/* pool_async_timeout.c - apply_async, then get(timeout) on each result;
 * a get that times out; callbacks; and a per-task timeout that kills a
 * stuck task with its worker.
 *
 * The C twin of seed 003 (003_ebf8edffc6108dde.txt):
 *
 *     def f(x):
 *         print(x*x); time.sleep(2); return x*x
 *     pool = Pool(processes=4)
 *     res_list = []
 *     for i in range(10):
 *         res = pool.apply_async(f, [i]); res_list.append(res)
 *     for r in res_list:
 *         print(r.get(timeout=10))   # the timeout
 *
 * The task sleeps 20 ms instead of 2 s. Python's get(timeout) raises
 * multiprocessing.TimeoutError and the task keeps running; Python has no
 * way to stop a stuck task short of terminating the whole pool, which is
 * what mp_pool_opts_t.task_timeout adds. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Stops the example with the library's message when a call failed. */
static int
check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "ERROR: %s: %s (%s)\n", what, mp_strerror(rc),
                mp_err_name(rc));
        exit(1);
    }
    return rc;
}

/* The seed's f(x): x*x after a short nap. */
static int
f(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in_len;
    int x = *(const int *)in;
    usleep(20000);
    int y = x * x;
    return mp_pool_out_write(out, &y, sizeof y);
}

/* A task that never ends: it waits for a signal, which only the pool's
 * kill of its worker sends (it needs nothing the worker inherited, so it
 * blocks the same under every start method). */
static int
stuck(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in;
    (void)in_len;
    (void)out;
    for (;;) {
        pause();
    }
    return 0; /* not reached */
}

/* Callbacks: run in the pool's result-handler thread, before get returns. */
static int
on_success(const void *data, size_t len, void *arg)
{
    (void)len;
    int y;
    memcpy(&y, data, sizeof y);
    *(int *)arg += y;
    return 0;
}

static int
on_error(int err, const char *msg, void *arg)
{
    (void)arg;
    printf("error_callback: %s: %s\n", mp_err_name(err), msg);
    return 0;
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);
    mp_pool_t *pool;
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 4;
    check(mp_pool_create(&pool, &o), "Pool(4)");
    mp_result_t *res_list[10];
    int sum = 0;
    mp_pool_callbacks_t cb = {on_success, on_error, &sum};
    for (int i = 0; i < 10; i++) {
        check(mp_pool_apply_async_cb(pool, f, &i, sizeof i, &cb, &res_list[i]),
              "apply_async");
    }
    for (int i = 0; i < 10; i++) {
        void *y;
        check(mp_result_get(res_list[i], &y, 10000), "get(timeout=10)");
        printf("%d\n", *(int *)y);
        mp_free(y);
        mp_result_destroy(res_list[i]);
    }
    printf("callback sum: %d\n", sum);

    /* A get that times out leaves the task running and the result
     * gettable; terminate then cancels it. */
    mp_result_t *r;
    check(mp_pool_apply_async(pool, stuck, NULL, 0, &r), "apply_async");
    ssize_t rc = mp_result_get(r, NULL, 100);
    printf("get(timeout=0.1): %s, ready: %d\n", mp_err_name((int)rc),
           mp_result_ready(r));
    check(mp_pool_terminate(pool), "terminate");
    printf("after terminate: %s (%s)\n", mp_err_name(mp_result_get(r, NULL, 0)),
           mp_result_error_message(r));
    mp_result_destroy(r);
    mp_pool_destroy(pool);

    /* With a task timeout the stuck task is killed with its worker; the
     * pool replaces the worker and goes on. */
    o.processes = 2;
    o.task_timeout = 1000;
    check(mp_pool_create(&pool, &o), "Pool(2, task timeout)");
    check(mp_pool_apply_async_cb(pool, stuck, NULL, 0, &cb, &r), "apply_async");
    rc = mp_result_get(r, NULL, MP_WAIT_FOREVER);
    printf("stuck task: %s\n", mp_err_name((int)rc));
    mp_result_destroy(r);
    int x = 12;
    void *y;
    check(mp_pool_apply(pool, f, &x, sizeof x, &y, MP_WAIT_FOREVER), "apply");
    printf("pool still works: f(12) = %d\n", *(int *)y);
    mp_free(y);
    check(mp_pool_close(pool), "close");
    check(mp_pool_join(pool, MP_WAIT_FOREVER), "join");
    mp_pool_destroy(pool);
    return 0;
}
