#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""bench/py_mpi_bench.py - the Python side of bench/compare's MPI mode.

mpi4py.futures' MPIPoolExecutor (the peer a Python user picks to spread a
pool over MPI ranks) on the workloads that bench/mp_bench_mpi runs with
libmultiproc_mpi: the same names, shapes and default counts as the
reference ../shared/bench/py_mpi_anchor.py (bench/check-reference --mpi sets
the two side by side), so that the MPI table of docs/performance.md can be
taken from a bare clone.

Run it as the distributed pool runs, rank 0 the parent and the others
workers (Debian: openmpi-bin, python3-mpi4py, which is for /usr/bin/python3):

    mpiexec -n 3 /usr/bin/python3 -m mpi4py.futures bench/py_mpi_bench.py [--scale F]

As root Open MPI also wants OMPI_ALLOW_RUN_AS_ROOT=1 and
OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (bench/compare-mpi sets them).

Output: one ``name<TAB>value<TAB>unit<TAB>notes`` line per result;
``items/s`` is a rate (higher is better), ``us`` a time per submit round
trip (lower is better).
"""

import argparse
import sys
import time

from mpi4py import MPI
from mpi4py.futures import MPIPoolExecutor


def square(x):
    """The task of every workload: trivial, so the pool's cost shows."""
    return x * x


def timed_map(ex, n, chunksize):
    """Items per second of one map of square over range(n)."""
    start = time.perf_counter()
    out = list(ex.map(square, range(n), chunksize=chunksize))
    elapsed = time.perf_counter() - start
    if out[-1] != (n - 1) * (n - 1):
        raise SystemExit(f"map with chunksize {chunksize}: wrong last result")
    return n / elapsed


def report(name, value, unit, notes):
    print(f"{name}\t{value}\t{unit}\t{notes}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiplies every count (default 1)")
    args = parser.parse_args()
    workers = MPI.COMM_WORLD.Get_size() - 1
    who = f"mpi4py.futures {workers} workers"
    with MPIPoolExecutor() as ex:
        # Warm-up: the workers are started and connected before any timing.
        list(ex.map(square, range(1000)))
        n = max(1000, int(20000 * args.scale))
        report("mpi_pool_map_chunksize1", f"{timed_map(ex, n, 1):.0f}",
               "items/s", f"{who}, x*x, n={n}")
        n = max(10000, int(2000000 * args.scale))
        report("mpi_pool_map_chunksize256", f"{timed_map(ex, n, 256):.0f}",
               "items/s", f"{who}, x*x, n={n}")
        n = max(200, int(5000 * args.scale))
        start = time.perf_counter()
        for i in range(n):
            if ex.submit(square, i).result() != i * i:
                raise SystemExit("submit: wrong result")
        per_trip = (time.perf_counter() - start) / n * 1e6
        report("mpi_pool_submit_roundtrip", f"{per_trip:.2f}", "us",
               f"mpi4py.futures submit().result(), n={n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
