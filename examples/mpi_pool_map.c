/* SPDX-License-Identifier: MIT */
/* mpi_pool_map.c - the same Pool calls over MPI ranks: run it with
 *
 *     mpiexec -n 3 ./mpi_pool_map
 *
 * (as root, Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 and
 * OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; with more ranks than cores,
 * --oversubscribe). Rank 0 is the parent; ranks 1 and 2 run the tasks, each
 * in a local pool of forked children. The Python peer (mpi4py.futures,
 * run with `mpiexec -n 3 python3 -m mpi4py.futures script.py`):
 *
 *     def f(x): return x * x
 *     with MPIPoolExecutor() as ex:
 *         print(list(ex.map(f, range(10))))
 *         print(ex.submit(f, 12).result())
 *
 * Only mp_mpi_init, mp_mpi_pool_create and mp_mpi_finalize are MPI's;
 * everything between is the local pool's API. */
#include <multiproc.h>
#include <multiproc/mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* A task: x -> x * x, on 8-byte integers. */
static int
square(const void *in, size_t in_len, mp_pool_out_t *out)
{
    int64_t x;
    if (in_len != sizeof x) {
        mp_pool_out_error(out, "want one int64_t");
        return 1;
    }
    memcpy(&x, in, sizeof x);
    x *= x;
    return mp_pool_out_write(out, &x, sizeof x);
}

int
main(int argc, char **argv)
{
    mp_mpi_t *mpi;
    int role = mp_mpi_init(&mpi, &argc, &argv, NULL);
    if (role == MP_MPI_WORKER) {
        return 0; /* a worker rank: its work is done */
    }
    if (role < 0) {
        fprintf(stderr, "ERROR: mp_mpi_init: %s\n", mp_strerror(role));
        return 1;
    }
    mp_mpi_pool_opts_t opts = MP_MPI_POOL_OPTS_INIT;
    opts.processes = 1; /* children per rank (0: its CPU count) */
    mp_pool_t *pool;
    int rc = mp_mpi_pool_create(mpi, &opts, &pool);
    if (rc != 0) {
        fprintf(stderr, "ERROR: mp_mpi_pool_create: %s\n", mp_strerror(rc));
        return 1;
    }
    int64_t in[10], out[10];
    for (int i = 0; i < 10; i++) {
        in[i] = i;
    }
    rc = mp_pool_map(pool, square, in, sizeof in[0], 10,
                     0 /* chunk size: automatic */, out, sizeof out[0], NULL,
                     60000);
    if (rc == 0) {
        printf("%d workers: [", mp_mpi_workers(mpi));
        for (int i = 0; i < 10; i++) {
            printf("%s%lld", i > 0 ? ", " : "", (long long)out[i]);
        }
        printf("]\n");
        int64_t x = 12;
        void *r = NULL;
        ssize_t n = mp_pool_apply(pool, square, &x, sizeof x, &r, 60000);
        if (n == (ssize_t)sizeof x) {
            memcpy(&x, r, sizeof x);
            printf("apply: %lld\n", (long long)x);
        }
        rc = n < 0 ? (int)n : 0;
        mp_free(r);
    }
    if (rc != 0) {
        fprintf(stderr, "ERROR: %s\n", mp_strerror(rc));
    }
    mp_pool_close(pool);
    mp_pool_join(pool, 60000);
    mp_pool_destroy(pool);
    int frc = mp_mpi_finalize(mpi, 60000);
    return rc == 0 && frc == 0 ? 0 : 1;
}
