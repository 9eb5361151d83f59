#!/usr/bin/env bash
# tests/subproject/run.sh - the subproject test (CTest "subproject_build"):
# builds tests/subproject, a project that pulls multiproc in with
# add_subdirectory, once with the defaults and once with
# -DBUILD_SHARED_LIBS=OFF; checks that only the library was built (no
# examples, tools, benchmarks or tests of multiproc's own), that the static
# configuration made no shared library, that the default one's SONAME
# follows the version CMake wrote into version.h, and runs the consumer each
# time. Its temporary directory is removed however it ends.
#
# Usage: tests/subproject/run.sh <multiproc source dir> [<cmake> [<C compiler>]]
set -euo pipefail

src=$(cd "$1" && pwd)
cmake=${2:-cmake}
cc=${3:-cc}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mp-subproject.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# build <name> <cmake options...>: configures and builds the consumer project
# in $tmp/<name>, showing the output only if a step fails.
build() {
    local dir=$tmp/$1
    shift
    if ! { "$cmake" -S "$here" -B "$dir" -DMP_SOURCE_DIR="$src" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release "$@" &&
        "$cmake" --build "$dir" -j 2; } >"$tmp/log" 2>&1; then
        cat "$tmp/log" >&2
        echo "subproject_build: $dir did not build" >&2
        exit 1
    fi
}

# only_library <dir>: fails if the build made any of multiproc's own programs.
only_library() {
    local extra
    extra=$(find "$1/multiproc" -type f -perm -u+x \
        \( -name mp_bench -o -name mpcopy -o -name mp_run_tests \
        -o -name shared_counter -o -name cxx_consumer \) -print)
    if [ -n "$extra" ]; then
        echo "subproject_build: a subproject build made: $extra" >&2
        exit 1
    fi
}

echo "--- add_subdirectory, defaults"
build default
only_library "$tmp/default"
"$tmp/default/consumer"
# The version CMake wrote into the header names the library and its SONAME.
version=$(sed -n 's/^#define MP_VERSION_STRING "\(.*\)"$/\1/p' \
    "$tmp/default/multiproc/include/multiproc/version.h")
bash "$here/../package/check-soname.sh" "$tmp/default" "$version" \
    subproject_build

echo "--- add_subdirectory, -DBUILD_SHARED_LIBS=OFF"
build static -DBUILD_SHARED_LIBS=OFF
only_library "$tmp/static"
if [ -n "$(find "$tmp/static" -name 'libmultiproc.so*' -print -quit)" ]; then
    echo "subproject_build: BUILD_SHARED_LIBS=OFF still built libmultiproc.so" >&2
    exit 1
fi
"$tmp/static/consumer"
echo "subproject_build: ok"
