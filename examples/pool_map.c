/* SPDX-License-Identifier: MIT */
/* pool_map.c - a process pool: map, imap_unordered, apply_async with a
 * timeout, and a range split into work items fanned out with apply_async.
 *
 * The C twin of seed 001 (001_01cd50162f04c994.txt):
 *
 *     def f(x): return x*x
 *     with Pool(5) as p: print(p.map(f, [1, 2, 3]))          # [1, 4, 9]
 *
 *     with Pool(processes=4) as pool:
 *         print(pool.map(f, range(10)))
 *         for i in pool.imap_unordered(f, range(10)): print(i)
 *         res = pool.apply_async(f, [10]); print(res.get(timeout=1))
 *         res = pool.apply_async(sleep, [10]); print(res.get(timeout=1))
 *                                          # multiprocessing.TimeoutError
 *
 *     task_list = [(0, 199), (200, 399), ...]        # range split in work
 *     pool = Pool(processes=len(task_list))
 *     for i, task in enumerate(task_list):
 *         pool.apply_async(fronter, args=(i,) + task)
 *     pool.close(); pool.join()
 *     print('[+] Total workers: %d' % len(task_list))
 *
 * The seed's fronter() fetches a web page; here each work item sums its
 * range instead, and the pool has 4 workers rather than one per item.
 * freeze_support() has no C counterpart: nothing to do. */
#include <multiproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TOTAL_END 10000
#define WORKLOAD 200
#define NTASKS (TOTAL_END / WORKLOAD)

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

/* f(x) = x*x on one int. */
static int
square(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in_len;
    int x = *(const int *)in;
    int y = x * x;
    return mp_pool_out_write(out, &y, sizeof y);
}

/* The seed's sleep(10): runs until the pool is terminated. */
static int
sleep_ten(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in;
    (void)in_len;
    (void)out;
    sleep(10);
    return 0;
}

/* One work item of the range split: (id, since, end). */
struct work {
    int id, since, end;
};

/* The seed's fronter(): reports start and finish, returns the range sum. */
static int
fronter(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in_len;
    const struct work *w = in;
    printf("[%d] Starting ...\n", w->id);
    long sum = 0;
    for (int v = w->since; v <= w->end; v++) {
        sum += v;
    }
    printf("[%d] Finish with %ld\n", w->id, sum);
    fflush(stdout);
    return mp_pool_out_write(out, &sum, sizeof sum);
}

/* Prints ints as a Python list. */
static void
print_list(const int *v, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        printf("%s%d", i > 0 ? ", " : "", v[i]);
    }
    printf("]\n");
}

int
main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* A spawned child or the forkserver never returns from here (stdout
     * is line-buffered first: in a spawned child too). */
    mp_main(argc, argv);

    /* with Pool(5) as p: print(p.map(f, [1, 2, 3])) */
    mp_pool_t *pool;
    mp_pool_opts_t opts = MP_POOL_OPTS_INIT;
    opts.processes = 5;
    check(mp_pool_create(&pool, &opts), "pool create");
    int in3[3] = {1, 2, 3}, out3[3];
    /* Chunk size 0: the pool picks it. */
    check(mp_pool_map(pool, square, in3, sizeof(int), 3, 0, out3, sizeof(int),
                      NULL, MP_WAIT_FOREVER),
          "map");
    print_list(out3, 3);
    mp_pool_destroy(pool); /* leaving `with`: terminate */

    /* with Pool(processes=4) as pool: */
    opts.processes = 4;
    check(mp_pool_create(&pool, &opts), "pool create");
    int in10[10], out10[10];
    for (int i = 0; i < 10; i++) {
        in10[i] = i;
    }
    check(mp_pool_map(pool, square, in10, sizeof(int), 10, 0, out10,
                      sizeof(int), NULL, MP_WAIT_FOREVER),
          "map");
    print_list(out10, 10);

    mp_imap_t *it;
    check(mp_pool_imap_unordered(pool, square, in10, sizeof(int), 10, 1, &it),
          "imap_unordered");
    for (;;) {
        void *res;
        size_t index;
        ssize_t len = mp_imap_next(it, &res, &index, MP_WAIT_FOREVER);
        if (len == MP_EOF) {
            break;
        }
        check((int)len, "imap next");
        printf("%d\n", *(int *)res);
        mp_free(res);
    }
    mp_imap_destroy(it);

    mp_result_t *res;
    int ten = 10;
    check(mp_pool_apply_async(pool, square, &ten, sizeof ten, &res),
          "apply_async");
    void *val;
    check((int)mp_result_get(res, &val, 1000), "get");
    printf("%d\n", *(int *)val);
    mp_free(val);
    mp_result_destroy(res);

    check(mp_pool_apply_async(pool, sleep_ten, NULL, 0, &res), "apply_async");
    ssize_t r = mp_result_get(res, &val, 1000);
    if (r == MP_ETIMEDOUT) {
        printf("multiprocessing.TimeoutError (get(timeout=1) gave %s)\n",
               mp_err_name((int)r));
    } else {
        check(r < 0 ? (int)r : MP_EINVAL, "get of the sleeping task");
    }
    mp_pool_destroy(pool); /* leaving `with`: terminate stops the sleeper */
    mp_result_destroy(res);

    /* The range split, fanned out with apply_async. */
    struct work tasks[NTASKS];
    mp_result_t *results[NTASKS];
    check(mp_pool_create(&pool, &opts), "pool create");
    for (int i = 0; i < NTASKS; i++) {
        int since = i * WORKLOAD;
        int end = i + 1 < NTASKS ? since + WORKLOAD - 1 : TOTAL_END;
        tasks[i] = (struct work){i, since, end};
        check(mp_pool_apply_async(pool, fronter, &tasks[i], sizeof tasks[i],
                                  &results[i]),
              "apply_async");
    }
    check(mp_pool_close(pool), "close");
    check(mp_pool_join(pool, MP_WAIT_FOREVER), "join");
    long total = 0;
    for (int i = 0; i < NTASKS; i++) {
        check((int)mp_result_get(results[i], &val, MP_NO_WAIT), "get");
        total += *(long *)val;
        mp_free(val);
        mp_result_destroy(results[i]);
    }
    mp_pool_destroy(pool);
    printf("[+] Total workers: %d, sum of 0..%d = %ld\n", NTASKS, TOTAL_END,
           total);
    return total == (long)TOTAL_END * (TOTAL_END + 1) / 2 ? 0 : 1;
}
