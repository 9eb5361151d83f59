/* SPDX-License-Identifier: MIT */
/* pool_long_tasks.c - apply_async into a pool smaller than the work, then
 * close and join; a second pool of 3 over ten tasks whose progress the
 * parent watches with mp_pool_stats and a progress bar.
 *
 * The C twin of seed 000 (000_7984725b68a0ecd0.txt):
 *
 *     def long_time_task(name):
 *         print('Run task %s (%s)...' % (name, os.getpid()))
 *         start = time.time()
 *         time.sleep(random.random() * 3)
 *         print('Task %s runs %0.2f seconds.' % (name, time.time() - start))
 *     print('Parent process %s.' % os.getpid())
 *     p = Pool(4)
 *     for i in range(5):
 *         p.apply_async(long_time_task, args=(i,))
 *     print('Waiting for all subprocesses done...')
 *     p.close(); p.join()
 *     print('All subprocesses done.')
 *
 * and of seed 002 (002_5ac3e8d32ecfde20.txt): Pool(3), ten apply_async of
 * worker(msg), "------start------", close, join, "-------end-------".
 * The tasks sleep at most 0.1 s instead of 3 s (or 2 s). Task 4 waits for
 * a free worker, as the seed's article explains: 4 workers, 5 tasks. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
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

/* Seconds on the monotonic clock. */
static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps a random time below 0.1 s (random per worker and task). */
static void
random_nap(int name)
{
    unsigned seed = (unsigned)getpid() * 31u + (unsigned)name;
    usleep((useconds_t)(rand_r(&seed) % 100000));
}

/* The seed's long_time_task(name). */
static int
long_time_task(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in_len;
    (void)out;
    int name = *(const int *)in;
    printf("Run task %d (%d)...\n", name, (int)getpid());
    double start = now_s();
    random_nap(name);
    printf("Task %d runs %0.2f seconds.\n", name, now_s() - start);
    return 0;
}

/* Seed 002's worker(msg). */
static int
worker(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in_len;
    (void)out;
    int msg = *(const int *)in;
    double start = now_s();
    printf("%d starts task %d\n", (int)getpid(), msg);
    random_nap(msg);
    printf("task %d done, %d free, took %0.2f\n", msg, (int)getpid(),
           now_s() - start);
    return 0;
}

/* Submits n tasks of fn (arguments 0 .. n-1) to pool; keeps the handles. */
static void
submit_all(mp_pool_t *pool, mp_pool_fn fn, int n, mp_result_t **res)
{
    for (int i = 0; i < n; i++) {
        check(mp_pool_apply_async(pool, fn, &i, sizeof i, &res[i]),
              "apply_async");
    }
}

/* Checks every task succeeded and frees the handles. */
static void
check_all(mp_result_t **res, int n)
{
    for (int i = 0; i < n; i++) {
        check(mp_result_get(res[i], NULL, 0), "task result");
        mp_result_destroy(res[i]);
    }
}

int
main(int argc, char **argv)
{
    /* Lines are flushed as they end: workers share this process's
     * stdout. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);
    printf("Parent process %d.\n", (int)getpid());
    mp_pool_t *p;
    mp_result_t *res[10];
    mp_pool_opts_t o = MP_POOL_OPTS_INIT;
    o.processes = 4;
    check(mp_pool_create(&p, &o), "Pool(4)");
    submit_all(p, long_time_task, 5, res);
    printf("Waiting for all subprocesses done...\n");
    check(mp_pool_close(p), "close");
    check(mp_pool_join(p, MP_WAIT_FOREVER), "join");
    printf("All subprocesses done.\n");
    check_all(res, 5);
    mp_pool_destroy(p);

    /* Seed 002: Pool(3) over ten tasks; the parent watches the counts. */
    mp_pool_t *po;
    o.processes = 3;
    check(mp_pool_create(&po, &o), "Pool(3)");
    submit_all(po, worker, 10, res);
    printf("------start------\n");
    check(mp_pool_close(po), "close");
    /* The bar prints plain lines (at most one a second) when stdout is
     * not a terminal, and redraws one line when it is. */
    mp_progress_t *bar;
    mp_progress_opts_t bo = MP_PROGRESS_OPTS_INIT;
    bo.stream = stdout;
    check(mp_progress_create(&bar, 10, "tasks", &bo), "progress");
    mp_pool_stats_t st;
    do {
        check(mp_pool_stats(po, &st, NULL, 0), "stats");
        check(mp_progress_update(bar, st.done + st.failed, 0), "update");
    } while (mp_pool_join(po, 50) == MP_ETIMEDOUT);
    check(mp_pool_stats(po, &st, NULL, 0), "stats");
    check(mp_progress_update(bar, st.done + st.failed, 0), "update");
    check(mp_progress_finish(bar), "finish");
    mp_progress_destroy(bar);
    printf("-------end------- (%llu done, %llu failed)\n",
           (unsigned long long)st.done, (unsigned long long)st.failed);
    check_all(res, 10);
    mp_pool_destroy(po);
    return 0;
}
