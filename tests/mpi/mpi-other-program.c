/* SPDX-License-Identifier: MIT */
/* mpi-other-program.c - a program other than test-mpi-pool (another
 * build-id), run beside it in one MPI job (mpiexec -n 1 test-mpi-pool
 * --expect-refusal : -n 1 mpi-other-program): its rank must refuse to work
 * for rank 0, and mp_mpi_init must say so (MP_EPROTO) on both sides. */
#include <multiproc.h>
#include <multiproc/mpi.h>

#include <stdio.h>

int
main(int argc, char **argv)
{
    mp_mpi_t *mpi;
    int role = mp_mpi_init(&mpi, &argc, &argv, NULL);
    printf("other program: mp_mpi_init: %s\n", mp_strerror(role));
    return role == MP_EPROTO ? 0 : 1;
}
