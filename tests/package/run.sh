#!/usr/bin/env bash
# tests/package/run.sh - the packaging test (CTest "package_install"):
# installs the library from a build tree into a temporary prefix, checks
# that pkg-config and the shared library's SONAME carry CMake's version
# (check-soname.sh), then
# builds consumer.c against that copy twice, once with
# `pkg-config --cflags --libs multiproc` (shared library) and once as a
# CMake project using find_package(multiproc) (static library), and runs
# both. Its temporary directory is removed however it ends.
#
# Usage: tests/package/run.sh <build dir> [<cmake> [<C compiler>]]
set -euo pipefail

build=$(cd "$1" && pwd)
cmake=${2:-cmake}
cc=${3:-cc}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mp-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Runs a command quietly, showing its output only if it fails.
quiet() {
    if ! "$@" >"$tmp/log" 2>&1; then
        cat "$tmp/log" >&2
        return 1
    fi
}

# A sanitizer build's library needs the same runtime in the program.
san=$(sed -n 's/^MP_SANITIZER:[A-Z]*=//p' "$build/CMakeCache.txt")
flags=()
if [ -n "$san" ] && [ "$san" != none ]; then
    flags=(-fsanitize="$san")
fi

quiet "$cmake" --install "$build" --prefix "$tmp/prefix"
pc=$(find "$tmp/prefix" -name multiproc.pc -print -quit)
if [ -z "$pc" ]; then
    echo "package_install: no multiproc.pc was installed" >&2
    exit 1
fi
# The version is CMake's (project(multiproc VERSION ...)), never one of ours.
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")

echo "--- pkg-config"
export PKG_CONFIG_PATH=${pc%/*}
if [ "$(pkg-config --modversion multiproc)" != "$version" ]; then
    echo "package_install: pkg-config says version" \
        "$(pkg-config --modversion multiproc), CMake $version" >&2
    exit 1
fi
# A static-only install (-DBUILD_SHARED_LIBS=OFF) links with --static, which
# adds the library's own dependencies.
static=()
if [ -z "$(find "$tmp/prefix" -name 'libmultiproc.so*' -print -quit)" ]; then
    static=(--static)
else
    bash "$here/check-soname.sh" "$tmp/prefix" "$version" package_install
fi
# shellcheck disable=SC2046 # pkg-config prints separate words on purpose
"$cc" -std=c11 -Wall -Wextra -pedantic -Werror "${flags[@]}" \
    -o "$tmp/consumer-pkgconfig" "$here/consumer.c" \
    $(pkg-config "${static[@]}" --cflags --libs multiproc)
LD_LIBRARY_PATH=$(pkg-config --variable=libdir multiproc) \
    "$tmp/consumer-pkgconfig"

echo "--- find_package(multiproc)"
quiet "$cmake" -S "$here" -B "$tmp/cmake-build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCMAKE_C_FLAGS="${flags[*]}" -DCMAKE_EXE_LINKER_FLAGS="${flags[*]}"
quiet "$cmake" --build "$tmp/cmake-build"
"$tmp/cmake-build/consumer"
