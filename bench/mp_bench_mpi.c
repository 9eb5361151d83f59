/* SPDX-License-Identifier: MIT */
/* mp_bench_mpi.c - the distributed pool's benchmark: the shapes of
 * ../shared/bench/py_mpi_anchor.py (mpi4py.futures, trivial x*x tasks), one
 * `name<TAB>value<TAB>unit<TAB>notes` line per figure, run as the pool runs:
 *
 *     mpiexec -n 3 build/bench/mp_bench_mpi [--scale F] [--processes P]
 *                                           [--only NAME]
 *
 * Rank 0 is the parent; every other rank is a worker running a local pool
 * of P children (default 1, so that 3 ranks give the anchor's 2 workers).
 * bench/compare --mpi runs it beside the anchor. Not a test: timings
 * depend on the machine and its load. */
#include <multiproc.h>
#include <multiproc/mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define WAIT_MS 600000

static int
sq(const void *in, size_t in_len, mp_pool_out_t *out)
{
    (void)in_len;
    int64_t x;
    memcpy(&x, in, sizeof x);
    x *= x;
    return mp_pool_out_write(out, &x, sizeof x);
}

/* Maps sq over 0..n-1 in chunks of chunksize; returns items/s, or -1. */
static double
map_rate(mp_pool_t *pool, size_t n, size_t chunksize)
{
    int64_t *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    if (in == NULL || out == NULL) {
        free(in);
        free(out);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)i;
    }
    double t = bench_now();
    int rc = mp_pool_map(pool, sq, in, sizeof *in, n, chunksize, out,
                         sizeof *out, NULL, WAIT_MS);
    double dt = bench_now() - t;
    bool ok = rc == 0 && out[n - 1] == (int64_t)(n - 1) * (int64_t)(n - 1);
    free(in);
    free(out);
    if (!ok) {
        fprintf(stderr, "mp_bench_mpi: map failed: %s\n", mp_strerror(rc));
        return -1;
    }
    return (double)n / dt;
}

/* Whether the figure named name is to be taken (--only: that one). */
static bool
wanted(const char *only, const char *name)
{
    return only == NULL || strcmp(only, name) == 0;
}

/* Maps sq over n items in chunks of chunksize and prints the rate as
 * figure name, unless --only names another; returns whether it failed. */
static bool
map_figure(mp_pool_t *pool, const char *only, const char *name, size_t n,
           size_t chunksize, int workers, int processes)
{
    if (!wanted(only, name)) {
        return false;
    }
    double r = map_rate(pool, n, chunksize);
    bench_emit(name, r, "items/s",
               "multiproc %d ranks x %d children, x*x, n=%zu", workers,
               processes, n);
    return r < 0;
}

static size_t
scaled(double scale, double base, size_t least)
{
    double v = base * scale;
    return v < (double)least ? least : (size_t)v;
}

int
main(int argc, char **argv)
{
    mp_mpi_t *mpi;
    int role = mp_mpi_init(&mpi, &argc, &argv, NULL);
    if (role == MP_MPI_WORKER) {
        return 0;
    }
    if (role < 0) {
        fprintf(stderr, "mp_bench_mpi: mp_mpi_init: %s\n", mp_strerror(role));
        return 1;
    }
    double scale = 1, procs = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc &&
            bench_positive(argv[i + 1], &scale)) {
            i++;
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--processes") == 0 && i + 1 < argc &&
                   bench_positive(argv[i + 1], &procs)) {
            i++;
        } else {
            fprintf(stderr,
                    "usage: mpiexec -n N %s [--scale F] [--processes P] "
                    "[--only NAME]\n",
                    argv[0]);
            mp_mpi_finalize(mpi, WAIT_MS);
            return 2;
        }
    }
    mp_mpi_pool_opts_t o = MP_MPI_POOL_OPTS_INIT;
    o.processes = (int)procs;
    mp_pool_t *pool;
    int rc = mp_mpi_pool_create(mpi, &o, &pool);
    if (rc != 0) {
        fprintf(stderr, "mp_bench_mpi: pool: %s\n", mp_strerror(rc));
        return 1;
    }
    int workers = mp_mpi_workers(mpi);
    int failed = map_rate(pool, 1000, 1) < 0; /* warm-up */
    failed |= map_figure(pool, only, "mpi_pool_map_chunksize1",
                         scaled(scale, 20000, 1000), 1, workers, o.processes);
    failed |=
        map_figure(pool, only, "mpi_pool_map_chunksize256",
                   scaled(scale, 2000000, 10000), 256, workers, o.processes);
    if (wanted(only, "mpi_pool_submit_roundtrip")) {
        size_t n = scaled(scale, 5000, 200);
        double t = bench_now();
        for (size_t i = 0; i < n && !failed; i++) {
            int64_t x = (int64_t)i;
            void *out = NULL;
            failed |= mp_pool_apply(pool, sq, &x, sizeof x, &out, WAIT_MS) !=
                      (ssize_t)sizeof x;
            mp_free(out);
        }
        double dt = bench_now() - t;
        bench_emit("mpi_pool_submit_roundtrip", dt / (double)n * 1e6, "us",
                   "multiproc mp_pool_apply, n=%zu", n);
    }
    mp_pool_close(pool);
    mp_pool_join(pool, WAIT_MS);
    mp_pool_destroy(pool);
    rc = mp_mpi_finalize(mpi, WAIT_MS);
    return failed || rc != 0 ? 1 : 0;
}
