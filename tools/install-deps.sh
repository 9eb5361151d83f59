#!/usr/bin/env bash
# tools/install-deps.sh - installs, with apt-get, whatever of the build's
# needs is missing: cmake, gcc, g++ (the C++ header test), the C library
# headers, make, pkg-config, python3, libssl-dev (libcrypto: the
# Listener/Client handshake), and clang with libFuzzer (libclang-rt-14-dev)
# for the clang build and the brief fuzz run. Does nothing (and needs no
# network) on a machine that has them.
# Called by tools/tour.sh and tools/test-all.sh; safe to run by itself.
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
want cmake command -v cmake
want gcc command -v gcc
want g++ command -v g++
want libc6-dev test -e /usr/include/stdio.h
want make command -v make
want pkg-config command -v pkg-config
want python3 command -v python3
want libssl-dev test -e /usr/include/openssl/hmac.h
want clang command -v clang
# libFuzzer's runtime, wherever this clang keeps it.
have_libfuzzer() {
    local lib
    lib=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a 2>/dev/null) &&
        test -e "$lib" ||
        test -n "$(find /usr/lib/llvm-* -name 'libclang_rt.fuzzer*.a' 2>/dev/null)"
}
want libclang-rt-14-dev have_libfuzzer

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
