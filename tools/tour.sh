#!/usr/bin/env bash
# tools/tour.sh - the README's first command: installs what is missing,
# builds the library and its examples in build/, then runs every example
# under examples/ with a banner saying what it shows and which seed program
# it mirrors, and last copies a small tree with tools/mpcopy. Exits
# non-zero if the build, any example or the copy fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

tools/install-deps.sh

echo "==> building in build/"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DMP_SANITIZER=none -DMP_BUILD_EXAMPLES=ON &&
        cmake --build build -j "$(nproc)"; } >"$log" 2>&1; then
    cat "$log"
    echo "tour: the build failed" >&2
    exit 1
fi

# Seed by seed (the README's example last), each seed's in name order.
mapfile -t sources < <(for f in examples/*.c; do
    printf '%s %s\n' "$(grep -o -m1 'seed [0-9]\{3\}' "$f" || echo z)" "$f"
done | sort | awk '{ print $NF }')

failed=()
count=0
for src in "${sources[@]}"; do
    name=$(basename "$src" .c)
    count=$((count + 1))
    # The banner: the first paragraph of the file's header comment (from
    # "<name>.c - " on) and the seed it mirrors.
    what=$(awk 'NR == 1 { next }
                NR == 2 { sub(/^\/\* [a-z_]+\.c - /, "") }
                NR > 2 { if ($0 ~ /^ \*$/) exit; sub(/^ \* ?/, "") }
                { end = sub(/ *\*\/$/, "")
                  printf "%s%s", (NR > 2 ? " " : ""), $0
                  if (end) exit }' "$src")
    seed=$(grep -o -m1 'seed [0-9]\{3\}' "$src" || echo "README")
    echo
    echo "=== $name ($seed)"
    echo "    $what" | fold -s -w 78 | sed '2,$s/^/    /'
    echo
    if [ "$name" = echo_client ]; then
        echo "    (runs with echo_server below)"
        continue
    fi
    run=("build/examples/$name")
    if [ "$name" = echo_server ]; then
        # The pair needs an address and a client: examples/echo_test.sh
        # starts the server, talks to it with echo_client and stops it.
        run=(bash examples/echo_test.sh build/examples/echo_server
             build/examples/echo_client)
    fi
    if ! timeout 60 "${run[@]}"; then
        failed+=("$name")
    fi
done

# Last: the tool grown from seed 002's folder copier. A small tree (a few
# hundred files, a few MB, nested dirs, a symlink) is copied with 2
# workers, verified, and compared with diff -r.
echo
echo "=== mpcopy (seed 002, tools/mpcopy)"
echo "    Copies a directory tree with the process pool while the parent" \
     "shows progress; --verify re-reads both sides in the workers." |
    fold -s -w 78 | sed '2,$s/^/    /'
echo
count=$((count + 1))
tree=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$tree"' EXIT
# The contents: slices of one random blob, written by the shell's printf
# (no process per file, so this stays quick).
blob=$(head -c 24000 /dev/urandom | base64 -w0)
for d in $(seq 1 8); do
    mkdir -p "$tree/src/dir$d/sub"
    for f in $(seq 1 40); do
        printf '%s' "${blob:$f:$((d * f * 100))}" >"$tree/src/dir$d/sub/file$f"
    done
done
ln -s dir1/sub/file1 "$tree/src/link"
echo "    \$ mpcopy -j 2 --verify $tree/src $tree/copy"
if timeout 60 build/tools/mpcopy/mpcopy -j 2 --verify "$tree/src" \
        "$tree/copy" && diff -r --no-dereference "$tree/src" "$tree/copy"; then
    echo "    diff -r: the copy is identical"
else
    failed+=(mpcopy)
fi
rm -rf "$tree"

echo
if [ ${#failed[@]} -ne 0 ]; then
    echo "tour: ${#failed[@]} of $count examples failed: ${failed[*]}" >&2
    exit 1
fi
echo "tour: all $count examples ran. Next: tools/test-all.sh"
