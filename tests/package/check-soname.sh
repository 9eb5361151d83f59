#!/usr/bin/env bash
# tests/package/check-soname.sh - checks the shared library that a build or
# an install made against the version CMake gave the project
# (docs/api-conventions.md rule 10): libmultiproc.so.<version> is there, its
# SONAME is libmultiproc.so.<MAJOR>, and a link of that name leads to it.
# Used by the package, Debian package and subproject tests, so that none of
# them names a version of its own.
#
# Usage: tests/package/check-soname.sh <directory> <version> <test name>
set -euo pipefail

dir=$1
version=$2
name=$3
major=${version%%.*}
fail() {
    echo "$name: $*" >&2
    exit 1
}

[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] ||
    fail "\"$version\" is not a MAJOR.MINOR.PATCH version"
lib=$(find "$dir" -name "libmultiproc.so.$version" -print -quit)
[ -n "$lib" ] || fail "no libmultiproc.so.$version under $dir"
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[ "$soname" = "libmultiproc.so.$major" ] ||
    fail "$lib has SONAME \"$soname\", not libmultiproc.so.$major"
link=${lib%/*}/libmultiproc.so.$major
[ "$(readlink -f "$link")" = "$(readlink -f "$lib")" ] ||
    fail "$link does not lead to $lib"
echo "$name: libmultiproc.so.$version, SONAME libmultiproc.so.$major"
