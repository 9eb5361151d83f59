#!/usr/bin/env bash
# tests/package/system-install.sh - the packages as a user meets them on a
# fresh machine: builds the Debian packages of a build tree with
# `cpack -G DEB`, installs them into the running system with `dpkg -i`,
# then, using only what they installed (no build tree, no LD_LIBRARY_PATH,
# no PKG_CONFIG_PATH): reads `man mp_pool_map`, `man 7 multiproc` and
# `man mpcopy`, builds tests/package/consumer.c with pkg-config and runs it,
# runs the installed `mpcopy` on a small tree, and builds the C/Python
# example pair's C worker (examples/json_worker.c, with cJSON) against the
# installed library and drives it from examples/json_driver.py. It removes
# the packages again (`dpkg --purge`) however it ends, and checks that
# nothing of theirs is left.
#
# It changes the system, so it runs only as root on a machine where no
# multiproc package is installed yet, and only when asked: CI=true (a fresh
# CI machine) or MP_TEST_SYSTEM_INSTALL=1. Otherwise it says why and exits 77
# (skipped). tools/test-all.sh runs it after the test suites.
#
# Usage: tests/package/system-install.sh <build dir> [<cpack>]
set -euo pipefail

build=$(cd "$1" && pwd)
cpack=${2:-cpack}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_dir=$(cd "$here/../.." && pwd)

skip() {
    echo "system_install: skipped: $*"
    exit 77
}
fail() {
    echo "system_install: $*" >&2
    exit 1
}

[ "${CI:-}" = true ] || [ "${MP_TEST_SYSTEM_INSTALL:-}" = 1 ] ||
    skip "it installs into this system; set MP_TEST_SYSTEM_INSTALL=1 (CI sets CI=true)"
[ "$(id -u)" = 0 ] || skip "dpkg -i needs root"
command -v dpkg >/dev/null || skip "not a Debian system"
for p in libmultiproc-dev mpcopy; do
    if dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok'; then
        skip "$p is already installed here; this test leaves existing installs alone"
    fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mp-sysinstall.XXXXXX")
installed=()
cleanup() {
    if [ "${#installed[@]}" -gt 0 ]; then
        dpkg --purge "${installed[@]}" >"$tmp/purge.log" 2>&1 ||
            cat "$tmp/purge.log" >&2
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

if ! "$cpack" -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake" \
    >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    fail "cpack -G DEB failed"
fi
for f in "$tmp"/out/*.deb; do
    installed+=("$(dpkg-deb -f "$f" Package)")
done
echo "--- dpkg -i ${installed[*]}"
dpkg -i "$tmp"/out/*.deb >"$tmp/log" 2>&1 || {
    cat "$tmp/log" >&2
    fail "dpkg -i failed"
}

# Nothing below may find the build tree.
unset LD_LIBRARY_PATH PKG_CONFIG_PATH
cd "$tmp"

echo "--- man pages"
if grep -qs '^path-exclude=*/usr/share/man' /etc/dpkg/dpkg.cfg.d/*; then
    # A minimal image (Debian's docker images) tells dpkg to drop man pages.
    echo "dpkg here is set to leave out man pages (/etc/dpkg/dpkg.cfg.d):" \
        "not read back"
elif command -v man >/dev/null; then
    for page in "3 mp_pool_map" "3 mp_queue_put" "7 multiproc" "1 mpcopy"; do
        # shellcheck disable=SC2086 # section and name are two words
        MANWIDTH=80 man -P cat $page >"$tmp/page" 2>/dev/null ||
            fail "man $page: no page"
        grep -q "${page#* }" "$tmp/page" || fail "man $page: does not name it"
    done
    echo "man mp_pool_map, mp_queue_put, multiproc(7), mpcopy(1): ok"
else
    for page in man3/mp_pool_map.3 man7/multiproc.7 man1/mpcopy.1; do
        ls /usr/share/man/"$page"* >/dev/null 2>&1 || fail "no $page installed"
    done
    echo "man is not installed here: the page files are present"
fi

echo "--- a program built with pkg-config against the installed library"
# shellcheck disable=SC2046 # pkg-config prints separate words on purpose
cc -std=c11 -Wall -Wextra -Werror -o consumer "$here/consumer.c" \
    $(pkg-config --cflags --libs multiproc)
./consumer

echo "--- the installed mpcopy"
command -v mpcopy >/dev/null || fail "mpcopy is not on PATH"
mpcopy --version
mkdir -p src/a/b
printf 'one\n' >src/a/one
head -c 300000 /dev/urandom >src/a/b/big
ln -s one src/a/link
mpcopy src dst >/dev/null
diff -r --no-dereference src dst || fail "mpcopy's copy differs"
echo "mpcopy copied a tree: ok"

echo "--- the C/Python example pair against the installed library"
if pkg-config --exists libcjson && command -v python3 >/dev/null; then
    # shellcheck disable=SC2046 # pkg-config prints separate words on purpose
    cc -std=c11 -Wall -Wextra -Werror -o json_worker \
        "$source_dir/examples/json_worker.c" \
        $(pkg-config --cflags --libs multiproc libcjson)
    python3 "$source_dir/examples/json_driver.py" ./json_worker 2
else
    echo "cJSON (libcjson-dev) or python3 missing: the example pair is not built"
fi

echo "--- dpkg --purge"
dpkg --purge "${installed[@]}" >"$tmp/log" 2>&1 || {
    cat "$tmp/log" >&2
    fail "dpkg --purge failed"
}
installed=()
for f in /usr/include/multiproc.h /usr/bin/mpcopy; do
    [ ! -e "$f" ] || fail "$f is left after the purge"
done
if ls /usr/lib/*/libmultiproc.so* /usr/lib/libmultiproc.so* >/dev/null 2>&1; then
    fail "a libmultiproc.so is left after the purge"
fi
echo "system_install: ok"
