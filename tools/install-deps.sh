#!/usr/bin/env bash
# tools/install-deps.sh - installs, with apt-get, whatever of the build's
# needs is missing. With --examples (what tools/tour.sh needs): cmake, gcc,
# the C library headers, make, pkg-config, python3, libssl-dev (libcrypto:
# the Listener/Client handshake), libcjson-dev (the C/Python example pair)
# and Open MPI (openmpi-bin, libopenmpi-dev: the distributed pool). Without it (tools/test-all.sh), also g++ (the C++ header test),
# clang with libFuzzer (libclang-rt-14-dev) for the clang build and the
# fuzzers, clang-format (the format check), valgrind, doxygen (the
# reference pages), dpkg-dev (the Debian packages' dependencies), man-db
# (the installed packages' man pages are read back), python3-mpi4py (the MPI benchmark's Python peer) and
# the libraries of bench/peers (libzmq3-dev, libnng-dev, libck-dev,
# libboost-dev, libiceoryx-binding-c-dev and iceoryx for its RouDi daemon:
# what a C programmer would use instead; tools/test-all.sh
# builds every peer so that none can rot; only bench/compare-peers runs
# them). Does
# nothing (and needs no network) on a machine that has them; safe to run by
# itself.
#
# Usage: tools/install-deps.sh [--examples]
set -euo pipefail

missing=()
# want <package> <test...>: the package is missing when the test fails.
want() {
    local pkg=$1
    shift
    if ! "$@" >/dev/null 2>&1; then
        missing+=("$pkg")
    fi
}
# libFuzzer's runtime, wherever this clang keeps it.
have_libfuzzer() {
    local lib
    lib=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null) &&
        test -e "$lib" ||
        test -n "$(find /usr/lib/llvm-* -name 'libclang_rt.fuzzer*.a' 2>/dev/null)"
}
want cmake command -v cmake
want gcc command -v gcc
want libc6-dev test -e /usr/include/stdio.h
want make command -v make
want pkg-config command -v pkg-config
want python3 command -v python3
want libssl-dev test -e /usr/include/openssl/hmac.h
want libcjson-dev test -e /usr/include/cjson/cJSON.h
# Open MPI: libmultiproc_mpi, its example and the MPI tests (mpiexec).
want openmpi-bin command -v mpiexec
want libopenmpi-dev command -v mpicc
# ip netns: the MPI test across hosts (tests/mpi/netns.sh).
want iproute2 command -v ip
if [ "${1:-}" != --examples ]; then
    want g++ command -v g++
    want clang command -v clang
    want clang-format command -v clang-format
    want valgrind command -v valgrind
    want dpkg-dev command -v dpkg-shlibdeps
    want doxygen command -v doxygen
    want man-db command -v man
    want libclang-rt-14-dev have_libfuzzer
    # mpi4py.futures: the Python side of the MPI benchmark (bench/compare).
    want python3-mpi4py test -e /usr/lib/python3/dist-packages/mpi4py/__init__.py
    # bench/peers: ZeroMQ, nng, Concurrency Kit, Boost.Interprocess, iceoryx.
    want libzmq3-dev test -e /usr/include/zmq.h
    want libnng-dev test -e /usr/include/nng/nng.h
    want libck-dev test -e /usr/include/ck_ring.h
    want libboost-dev test -e /usr/include/boost/interprocess/ipc/message_queue.hpp
    want libiceoryx-binding-c-dev compgen -G '/usr/include/iceoryx/*/iceoryx_binding_c/runtime.h'
    want iceoryx command -v iox-roudi
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-deps: please install: ${missing[*]} (no apt-get here)" >&2
    exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
