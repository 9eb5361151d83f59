#!/usr/bin/env bash
# tests/package/deb.sh - the Debian packaging test (CTest "package_deb"):
# builds the packages of a build tree with `cpack -G DEB` into a temporary
# directory, checks each one's name, dependencies and contents, unpacks all
# of them into a temporary root (dpkg-deb -x: what dpkg -i would put on a
# machine, without touching this one), checks that the versions, the
# runtime package's name and the SONAME follow CMake's version, then builds tests/package/consumer.c
# against that root with pkg-config and runs it, and runs the unpacked
# mpcopy. Its temporary directory is removed however it ends.
#
# Usage: tests/package/deb.sh <build dir> <cpack> [<C compiler>]
set -euo pipefail

build=$(cd "$1" && pwd)
cpack=$2
cc=${3:-cc}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mp-deb.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
    echo "package_deb: $*" >&2
    exit 1
}

if ! "$cpack" -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake" \
    >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    fail "cpack -G DEB failed"
fi

# deb <package name>: the path of that package's .deb.
deb() {
    local f
    for f in "$tmp"/out/*.deb; do
        if [ "$(dpkg-deb -f "$f" Package)" = "$1" ]; then
            echo "$f"
            return
        fi
    done
    fail "no package $1 was built"
}
# contents <package>: the paths the package installs, in $tmp/<package>.list
# (listed once, to a file: a pipe that a grep -q leaves early would kill
# dpkg-deb, and pipefail would take that for a failure).
contents() {
    local list=$tmp/$1.list
    [ -f "$list" ] || dpkg-deb -c "$(deb "$1")" | awk '{ print $6 }' >"$list"
    echo "$list"
}
# has <package> <path>: the package installs path.
has() {
    grep -qx "./usr/$2" "$(contents "$1")" || fail "$1 does not install /usr/$2"
}

# The version is CMake's (project(multiproc VERSION ...)), never one of ours:
# the runtime package is named for its major version, as the SONAME is.
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
major=${version%%.*}
runtime=libmultiproc$major
echo "--- packages"
for f in "$tmp"/out/*.deb; do
    echo "$(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version):" \
        "$(dpkg-deb -f "$f" Depends)"
    [ "$(dpkg-deb -f "$f" Version)" = "$version" ] ||
        fail "$(dpkg-deb -f "$f" Package) has version" \
            "$(dpkg-deb -f "$f" Version), CMake $version"
done
grep -q "/libmultiproc\.so\.$major$" "$(contents "$runtime")" ||
    fail "$runtime has no soname link"
if grep -q '\.h$\|\.a$\|\.pc$' "$(contents "$runtime")"; then
    fail "$runtime carries development files"
fi
has libmultiproc-dev include/multiproc.h
has libmultiproc-dev include/multiproc/version.h
has libmultiproc-dev lib/pkgconfig/multiproc.pc
has libmultiproc-dev lib/cmake/multiproc/multiprocConfig.cmake
depends=$(dpkg-deb -f "$(deb libmultiproc-dev)" Depends)
[[ $depends == *"$runtime (= "* ]] ||
    fail "libmultiproc-dev does not depend on its $runtime"
if [ -d "$build/docs/reference/man/man3" ]; then
    has libmultiproc-dev share/man/man3/mp_queue_put.3
    has libmultiproc-dev share/man/man7/multiproc.7
fi
if grep -q '^MP_BUILD_TOOLS:BOOL=ON' "$build/CMakeCache.txt"; then
    has mpcopy bin/mpcopy
    has mpcopy share/man/man1/mpcopy.1
fi

echo "--- unpacked into a temporary root"
for f in "$tmp"/out/*.deb; do
    dpkg-deb -x "$f" "$tmp/root"
done
bash "$here/check-soname.sh" "$tmp/root" "$version" package_deb
pc=$(find "$tmp/root" -name multiproc.pc -print -quit)
export PKG_CONFIG_PATH=${pc%/*}
libdir=$(pkg-config --variable=libdir multiproc)
# shellcheck disable=SC2046 # pkg-config prints separate words on purpose
"$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/consumer" \
    "$here/consumer.c" $(pkg-config --cflags --libs multiproc)
LD_LIBRARY_PATH=$libdir "$tmp/consumer"
if [ -x "$tmp/root/usr/bin/mpcopy" ]; then
    LD_LIBRARY_PATH=$libdir "$tmp/root/usr/bin/mpcopy" --version
fi
echo "package_deb: ok"
