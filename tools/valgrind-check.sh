#!/usr/bin/env bash
# tools/valgrind-check.sh - runs a representative subset of the tests
# (process, pool, queue, lock, manager, connection) under valgrind's
# memcheck on a normal build, and fails if valgrind reports any error in any
# process of a test (forked children included) or a test fails.
#
#   tools/valgrind-check.sh [BUILD_DIR [TEST...]]
#
# BUILD_DIR (default build-valgrind) is configured and built here as
# RelWithDebInfo without sanitizers (valgrind cannot run under ASan).
# Prints one line per test and ends with "valgrind: N passed, M failed";
# exits non-zero if M > 0. Each test runs in the test binary's in-process
# mode (mp_run_tests --run NAME: the test, then its leak checks for
# children, fds and /dev/shm names) under
#   valgrind --error-exitcode=1 --leak-check=full
# with a time limit of VALGRIND_TEST_TIMEOUT seconds (default 300); a
# failing test's valgrind output is kept in BUILD_DIR/valgrind/NAME.log.
# Debian 12's valgrind 3.19 does not know pidfd_open: the library falls
# back to sentinel pipes there, which these runs therefore exercise. The
# subset keeps to pools of two workers: every forked process is
# leak-checked when it exits, which takes a pool test minutes under
# valgrind (the whole run about 15 minutes on two CPUs).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

dir=${1:-build-valgrind}
shift $(($# > 0 ? 1 : 0))
limit=${VALGRIND_TEST_TIMEOUT:-300}

if ! command -v valgrind >/dev/null; then
    echo "valgrind-check: valgrind is not installed (apt-get install -y valgrind)" >&2
    exit 2
fi

tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    tests=(
        process_exit_codes
        process_terminate_and_kill
        process_names
        process_parent_process_in_child
        process_active_children
        process_sentinel
        nopidfd_parent_death_seen_despite_siblings
        pool_apply_and_apply_async
        pool_task_failure_carries_message
        nopidfd_pool_map_and_worker_death
        queue_put_get_roundtrip
        queue_large_messages
        queue_bounded_full_nowait_and_timeout
        lock_acquire_release_basics
        lock_mutual_exclusion_between_processes
        lock_holder_killed_next_acquirer_gets_ownerdead
        rlock_recursion_counts
        manager_lifecycle_and_errors
        manager_dict_calls
        conn_duplex_round_trip_sizes
        pipe_simplex_round_trip_sizes
        conn_eof_after_peer_close
        conn_truncated_frames
    )
fi

echo "=== valgrind-check: building $dir"
if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DMP_SANITIZER=none >"$dir.cmake.log" 2>&1 ||
    ! cmake --build "$dir" -j "$(nproc)" --target mp_run_tests \
        >>"$dir.cmake.log" 2>&1; then
    echo "valgrind-check: the build failed (see $dir.cmake.log)" >&2
    echo "valgrind: 0 passed, 1 failed"
    exit 1
fi
runner=$dir/tests/mp_run_tests
logs=$dir/valgrind
mkdir -p "$logs"

passed=0
failed=0
for t in "${tests[@]}"; do
    log=$logs/$t.log
    # timeout runs the test in a process group of its own and kills the
    # whole group when the limit passes.
    timeout --kill-after=10 "$limit" \
        valgrind --error-exitcode=1 --leak-check=full \
        --errors-for-leak-kinds=definite,indirect --track-fds=no \
        "$runner" --run "$t" >"$log" 2>&1
    rc=$?
    # Valgrind's own notes on a syscall it does not know are not errors.
    errors=$(grep -E '^==[0-9]+== ERROR SUMMARY: [1-9]' "$log" | head -n 1)
    if [ $rc -eq 0 ] && [ -z "$errors" ]; then
        echo "ok - $t"
        passed=$((passed + 1))
        rm -f "$log"
    else
        why="exit status $rc"
        [ $rc -eq 124 ] || [ $rc -eq 137 ] && why="timed out after ${limit}s"
        [ -n "$errors" ] && why="${errors#*== }"
        echo "not ok - $t ($why; see $log)"
        failed=$((failed + 1))
    fi
done
echo "valgrind: $passed passed, $failed failed"
[ $failed -eq 0 ]
