#!/usr/bin/env bash
# tools/tour.sh - the README's first command: installs what running the
# examples needs, builds the library and its examples in build/, then runs
# every example under examples/, simple ones first, printing one line each
# (ok or FAILED, its name, what it shows; its output goes to
# build/tour/<name>.log), the C/Python pair, and last copies a small tree
# with tools/mpcopy. -v shows every example's output as it runs. Exits
# non-zero if the build, any example or the copy fails, after printing the
# failed ones' output.
#
# Usage: tools/tour.sh [-v]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

verbose=0
if [ "${1:-}" = -v ]; then
    verbose=1
elif [ $# -ne 0 ]; then
    echo "usage: tools/tour.sh [-v]" >&2
    exit 2
fi

tools/install-deps.sh --examples

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

# Simple examples first: processes, then shared state, pipes, queues,
# pools, managers, and the programs that talk over a socket.
rank() {
    case $1 in
    process_*) echo 1 ;;
    no_shared_memory | lock_print | shared_counter) echo 2 ;;
    value_*) echo 3 ;;
    pipe_*) echo 4 ;;
    queue_* | joinable_*) echo 5 ;;
    sync_*) echo 6 ;;
    pool_*) echo 7 ;;
    manager_*) echo 8 ;;
    *) echo 9 ;;
    esac
}
mapfile -t sources < <(for f in examples/*.c; do
    printf '%s %s\n' "$(rank "$(basename "$f" .c)")" "$f"
done | sort | awk '{ print $NF }')

mkdir -p build/tour
failed=()
count=0
# show <name> <what> <command...>: runs one example, its output in
# build/tour/<name>.log (and on the terminal with -v), and prints one line:
# ok or FAILED, the name, and what it shows.
show() {
    local name=$1 what=$2 status=ok
    shift 2
    count=$((count + 1))
    if [ "$verbose" = 1 ]; then
        echo "=== $name: $what"
        timeout 60 "$@" 2>&1 | tee "build/tour/$name.log" || status=FAILED
    else
        timeout 60 "$@" >"build/tour/$name.log" 2>&1 || status=FAILED
    fi
    if [ "$status" != ok ]; then
        failed+=("$name")
    fi
    local line
    line=$(printf '%-6s %-24s %s' "$status" "$name" "$what")
    if [ ${#line} -gt 79 ]; then # cut at a word, within 80 columns
        line=${line:0:77}
        line="${line% *} ..."
    fi
    echo "$line"
}

for src in "${sources[@]}"; do
    name=$(basename "$src" .c)
    # What it shows: the first line of the file's header comment, after
    # "<name>.c - ".
    what=$(sed -n '2{s/^\/\* [a-z_]*\.c - //;s/ *\*\/$//;p}' "$src")
    case $name in
    echo_client | json_worker) continue ;; # run with their partners below
    mpi_pool_map)
        # Built where MPI is (cmake/mpi.cmake); run as CTest runs it: three
        # ranks under mpiexec (as root, Open MPI wants the two variables).
        [ -x build/examples/mpi_pool_map ] || continue
        show "$name" "$what" env OMPI_ALLOW_RUN_AS_ROOT=1 \
            OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
            OMPI_MCA_rmaps_base_oversubscribe=1 \
            mpiexec -n 3 build/examples/mpi_pool_map ;;
    echo_server)
        # The pair needs an address and a client: examples/echo_test.sh
        # starts the server, talks to it with echo_client and stops it.
        show echo "$what" bash examples/echo_test.sh \
            build/examples/echo_server build/examples/echo_client ;;
    *) show "$name" "$what" "build/examples/$name" ;;
    esac
done
if [ -x build/examples/json_worker ]; then
    show json_driver "a Python driver hands JSON tasks to C workers" \
        python3 examples/json_driver.py build/examples/json_worker 2
fi

# Last: the tool grown from seed 002's folder copier. A small tree (a few
# hundred files, a few MB, nested dirs, a symlink) is copied with 2
# workers, verified, and compared with diff -r.
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
# shellcheck disable=SC2016 # $0 is the inner shell's: the tree
show mpcopy "copies a tree with the pool, showing progress (tools/mpcopy)" \
    bash -c 'build/tools/mpcopy/mpcopy -j 2 --verify "$0/src" "$0/copy" &&
        diff -r --no-dereference "$0/src" "$0/copy" &&
        echo "diff -r: the copy is identical"' "$tree"
rm -rf "$tree"

if [ ${#failed[@]} -ne 0 ]; then
    for name in "${failed[@]}"; do
        echo "--- $name (build/tour/$name.log)"
        cat "build/tour/$name.log"
    done
    echo "tour: ${#failed[@]} of $count examples failed: ${failed[*]}" >&2
    exit 1
fi
echo "tour: all $count examples ran; their output is in build/tour/" \
    "(tools/tour.sh -v shows it). Next: tools/test-all.sh"
