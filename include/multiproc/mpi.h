/* SPDX-License-Identifier: MIT */
/* multiproc/mpi.h - the distributed Pool over MPI: the optional library
 * libmultiproc_mpi (built where CMake finds MPI; pkg-config multiproc-mpi,
 * CMake multiproc::multiproc_mpi). Not included by multiproc.h: a program
 * that includes it links libmultiproc_mpi and runs under mpiexec.
 *
 * World mode: `mpiexec -n N ./app` runs the same program on every rank.
 * mp_mpi_init, called first in main, makes rank 0 the parent and serves
 * the other ranks as workers until the parent calls mp_mpi_finalize. The
 * parent creates pools over the worker ranks with mp_mpi_pool_create and
 * drives them with the same mp_pool_* calls as a local pool. Each worker
 * rank runs its tasks in a local pool of its own forked children, so a
 * task that crashes, is killed or times out fails only its own item (its
 * message names the rank and host) and the job goes on. A rank that stops
 * answering (its whole process died or hangs) ends the job: the parent
 * prints which rank and host and calls MPI_Abort (MPI without ULFM cannot
 * go on without a rank). See docs/design.md, "The distributed pool (MPI)".
 *
 * Experimental (not yet under the ABI promise of docs/api-conventions.md):
 * everything in this header and libmultiproc_mpi, until the distributed
 * pool's remaining work (docs/design.md) is done; the core library's 1.0
 * promise does not depend on it.
 */
#ifndef MULTIPROC_MPI_H
#define MULTIPROC_MPI_H

#include "pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The job's MPI side in the parent (rank 0). */
typedef struct mp_mpi mp_mpi_t;

/* mp_mpi_init's roles. */
enum {
    MP_MPI_PARENT = 0, /* rank 0: go on with the program */
    MP_MPI_WORKER = 1  /* a worker rank whose work is over: return from main */
};

/* Options for mp_mpi_init: initialise with MP_MPI_OPTS_INIT (NULL: the
 * defaults). */
typedef struct mp_mpi_opts {
    size_t size; /* set by MP_MPI_OPTS_INIT (see common.h) */
    /* A worker rank that sends nothing this long (it answers a heartbeat
     * every quarter of it) ends the job with MPI_Abort and a message naming
     * it. 0: 30000 ms; MP_WAIT_FOREVER: never (a dead rank then hangs the
     * parent's calls until their own timeouts). */
    mp_duration_t heartbeat_timeout;
    /* Spawn mode: a program running as a job of one rank (started alone,
     * or by mpiexec -n 1) starts this many workers, fresh runs of its own
     * program (MPI_Comm_spawn), which serve it as worker ranks do. 0: none
     * (one rank is then MP_ENOTSUP). Ignored in a job of several ranks. */
    int spawn;
} mp_mpi_opts_t;
#define MP_MPI_OPTS_INIT MP__OPTS_INIT(mp_mpi_opts_t)

/* mp_mpi_init initializes MPI (unless the program already did, with at
 * least MPI_THREAD_SERIALIZED) and checks that every rank runs the same
 * program, library and ABI (the GNU build-ids of the program, libmultiproc
 * and libmultiproc_mpi; byte order and type sizes). Call it first in main,
 * on every rank, before any side effect. On rank 0 it stores the parent's
 * context in *out and returns MP_MPI_PARENT. On the other ranks it runs
 * tasks for the parent's pools until the parent's mp_mpi_finalize, then
 * finalizes MPI (when it initialized it), stores NULL in *out and returns
 * MP_MPI_WORKER: main should return 0 then. argc and argv are MPI_Init's
 * (may be NULL). Returns a role, or MP_EINVAL (NULL out, opts not from
 * MP_MPI_OPTS_INIT, a bad timeout),
 * MP_ENOTSUP (the program's MPI gives a thread level below SERIALIZED, or
 * the job has one rank only and opts.spawn is 0), MP_EPROTO (a rank runs
 * another program or ABI: each refusing rank is printed on stderr with its
 * host, on every rank; MPI is finalized), MP_ENOMEM. Context: the main thread,
 * once. */
MP_EXTERN int mp_mpi_init(mp_mpi_t **out, int *argc, char ***argv,
                          const mp_mpi_opts_t *opts);

/* mp_mpi_workers returns the number of worker ranks, or MP_EINVAL.
 * Context: the parent (rank 0), any thread. */
MP_EXTERN int mp_mpi_workers(const mp_mpi_t *mpi);

/* Options for mp_mpi_pool_create: initialise with MP_MPI_POOL_OPTS_INIT
 * (NULL: the defaults). */
typedef struct mp_mpi_pool_opts {
    size_t size;   /* set by MP_MPI_POOL_OPTS_INIT (see common.h) */
    int processes; /* each worker rank's local pool (forked children);
                      0: mp_cpu_count() of that rank */
    mp_pool_init_fn initializer; /* NULL: none; runs in every child */
    const void *initarg;         /* initarg_len bytes copied to every rank: */
    size_t initarg_len;          /* the initializer gets a pointer to the copy
                                    (NULL when initarg_len is 0) */
    size_t maxtasksperchild;     /* as mp_pool_opts_t's, per child */
    mp_duration_t task_timeout;  /* as mp_pool_opts_t's: the rank kills the
                                    child, the task fails with MP_ETIMEDOUT */
} mp_mpi_pool_opts_t;
#define MP_MPI_POOL_OPTS_INIT MP__OPTS_INIT(mp_mpi_pool_opts_t)

/* mp_mpi_pool_create makes a pool whose workers are the worker ranks (one
 * slot per rank, tasks handed out on demand with up to 32 in flight per
 * rank). Every mp_pool_* call works on it as on a local pool, with these
 * differences: mp_pool_processes and mp_pool_stats count ranks, not
 * children; an item that fails because of its child (killed, crashed,
 * timed out) or its rank's local pool (broken) carries the library code
 * (MP_EWORKER, MP_ETIMEDOUT, MP_EBROKEN) and a message ending with
 * "(rank R on HOST)"; where its child died, mp_result_exitcode gives
 * that child's exit code (an exit status, or minus a signal), as locally.
 * Several pools may live at once and share the ranks: a rank's 32
 * places for tasks in flight are split equally between the pools that
 * have work for it (a pool alone gets them all). Destroy every pool
 * before mp_mpi_finalize. Returns 0 or MP_EINVAL (NULL mpi or out, opts
 * not from MP_MPI_POOL_OPTS_INIT, negative processes, bad task_timeout, NULL
 * initarg with a length), MP_ENOMEM, or mp_pool_create's errors. Context: the
 * thread that called mp_mpi_init or any other thread of rank 0. */
MP_EXTERN int mp_mpi_pool_create(mp_mpi_t *mpi, const mp_mpi_pool_opts_t *opts,
                                 mp_pool_t **out);

/* mp_mpi_finalize tells every worker rank to finish (their mp_mpi_init
 * returns MP_MPI_WORKER), waits up to timeout for them to say so, then
 * finalizes MPI (when mp_mpi_init initialized it) and frees mpi. Returns 0,
 * MP_EBUSY (a pool of mpi is not destroyed yet: nothing was done),
 * MP_ETIMEDOUT (ranks did not answer: mpi stays valid, call again),
 * MP_EINVAL. Context: the thread that called mp_mpi_init. */
MP_EXTERN int mp_mpi_finalize(mp_mpi_t *mpi, mp_duration_t timeout);

#ifdef __cplusplus
}
#endif

#endif /* MULTIPROC_MPI_H */
