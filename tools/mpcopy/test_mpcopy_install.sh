#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/mpcopy/test_mpcopy_install.sh - what `cmake --install` gives a
# user of mpcopy: the tool in bin/ and its man page in share/man/man1/,
# under a fresh prefix; the page renders without groff warnings and names
# every option that `mpcopy --help` lists; the installed mpcopy runs
# (--version, exit 0) against the installed library.
#
# Usage: test_mpcopy_install.sh CMAKE BUILD_DIR SOURCE_MAN_PAGE
set -u
CMAKE=$1 BUILD=$2 PAGE=$3
PREFIX=$(mktemp -d "${TMPDIR:-/tmp}/mpcopy-install.XXXXXX")
trap 'rm -rf "$PREFIX"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The shared library (component "runtime") and the tool ("mpcopy").
"$CMAKE" --install "$BUILD" --prefix "$PREFIX" --component runtime >/dev/null ||
    fail "installing the library"
"$CMAKE" --install "$BUILD" --prefix "$PREFIX" --component mpcopy >/dev/null ||
    fail "installing mpcopy"
[ -x "$PREFIX/bin/mpcopy" ] || fail "no $PREFIX/bin/mpcopy"
man1=$PREFIX/share/man/man1/mpcopy.1
[ -f "$man1" ] || fail "no $man1"
cmp -s "$man1" "$PAGE" || fail "the installed page is not mpcopy.1"

libdirs=$(find "$PREFIX" -name 'libmultiproc*.so*' -printf '%h\n' | sort -u | tr '\n' ':')
out=$(LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:-}" "$PREFIX/bin/mpcopy" --version) ||
    fail "installed mpcopy --version: exit $?"
echo "$out" | grep -Eq '^mpcopy [0-9.]+ \(multiproc library [0-9.]+\)$' ||
    fail "--version says: $out"
help=$(LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:-}" "$PREFIX/bin/mpcopy" --help) ||
    fail "installed mpcopy --help: exit $?"

if command -v groff >/dev/null; then
    warnings=$(groff -man -Tutf8 -ww -z "$man1" 2>&1)
    [ -z "$warnings" ] || fail "groff warns: $warnings"
    text=$(groff -man -Tutf8 -P-c -P-b -P-u "$man1" 2>/dev/null)
    for opt in $(echo "$help" | grep -oE -- '--[a-z]+' | sort -u); do
        echo "$text" | grep -q -- "$opt" || fail "the man page lacks $opt"
    done
else
    echo "(no groff here: the page's rendering is not checked)"
fi
echo "ok: mpcopy and mpcopy(1) installed under a fresh prefix"
