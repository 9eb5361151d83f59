#!/usr/bin/env bash
# tools/test-all.sh - the README's second command: installs what is missing,
# then builds and runs every test in four builds, each with warnings as errors
# (MP_WERROR, off for users): a normal build (build/, with the reference
# pages and every bench/peers program: MP_BENCH_PEERS=ON makes a missing
# peer library a build failure; the peers are built, never run, here), a
# sanitizer build (build-asan/, AddressSanitizer +
# UndefinedBehaviorSanitizer), a Release build as distributions make it
# (build-release/, -O3 and fortified), and a clang build (build-clang/).
# The tests include the examples, the packaging tests (install, Debian
# packages, subproject), the C++ header test, the source-structure check and
# the short soak. Then: the tour (tools/tour.sh, the README's first command),
# the normal build's runner tests, examples and tour again under the
# forkserver and the spawn start method (MULTIPROC_START_METHOD),
# a subset of the tests under valgrind (tools/valgrind-check.sh), and the
# libFuzzer targets built with clang (build-fuzz/), each run for 20 s (a
# crash counts as a failure; its input is left in build-fuzz/).
# Ends with the line "all: N passed, M failed" over everything and exits
# non-zero if anything failed (a build that fails counts as one failure).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

tools/install-deps.sh || exit 1

passed=0
failed=0

# suite <build dir> <cmake options...>: configures and builds in the
# directory, runs CTest there, and adds its counts to passed and failed.
suite() {
    local dir=$1
    shift
    echo "=== $dir: build"
    if ! cmake -S . -B "$dir" "$@" || ! cmake --build "$dir" -j "$(nproc)"; then
        echo "=== $dir: the build failed"
        failed=$((failed + 1))
        return
    fi
    echo "=== $dir: tests"
    run_ctest "$dir" ctest.log
}

# run_ctest <build dir> <log name> [ctest options...]: runs CTest there
# (two at a time), its output also in <build dir>/<log name>, and adds its
# counts to passed and failed (a skipped test counts as neither).
run_ctest() {
    local dir=$1 log=$2
    shift 2
    (cd "$dir" && ctest --output-on-failure -j2 "$@") 2>&1 | tee "$dir/$log"
    # CTest's summary: "97% tests passed, 1 tests failed out of 37".
    local summary
    summary=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$dir/$log" |
        tail -n 1)
    if [ -z "$summary" ]; then
        echo "=== $dir: CTest reported no results"
        failed=$((failed + 1))
        return
    fi
    local f t s
    read -r f _ _ _ _ t <<<"$summary"
    # Skipped tests are in the total too ("The following tests did not
    # run:", one line each ending in "(Skipped)").
    s=$(grep -c '(Skipped)$' "$dir/$log")
    passed=$((passed + t - f - s))
    failed=$((failed + f))
}

suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMP_SANITIZER=none -DMP_WERROR=ON \
    -DMP_BUILD_DOCS=ON -DMP_BENCH_PEERS=ON
suite build-asan -DCMAKE_BUILD_TYPE=Debug -DMP_SANITIZER=address,undefined \
    -DMP_WERROR=ON
suite build-release -DCMAKE_BUILD_TYPE=Release -DMP_SANITIZER=none -DMP_WERROR=ON
suite build-clang -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=Debug -DMP_SANITIZER=none -DMP_WERROR=ON

# The README's first command must keep working too: the tour of the
# examples, on the normal build just made (counted as one test).
echo "=== tour: tools/tour.sh"
if tools/tour.sh >build/tour.log 2>&1; then
    passed=$((passed + 1))
    tail -n 1 build/tour.log
else
    cat build/tour.log
    echo "=== tour: failed"
    failed=$((failed + 1))
fi

# The packages as a user installs them: dpkg -i of the normal build's .deb
# packages into this system, then man pages, a program built with
# pkg-config, the installed mpcopy and the C/Python example pair, using only
# what was installed; purged again (tests/package/system-install.sh). It
# runs only where CI=true or MP_TEST_SYSTEM_INSTALL=1, as root, with no
# multiproc package installed; elsewhere it says why and is not counted.
echo "=== system install: tests/package/system-install.sh"
sysinst=0
tests/package/system-install.sh build >build/system-install.log 2>&1 || sysinst=$?
tail -n 1 build/system-install.log
if [ "$sysinst" = 0 ]; then
    passed=$((passed + 1))
elif [ "$sysinst" != 77 ]; then
    cat build/system-install.log
    echo "=== system install: failed"
    failed=$((failed + 1))
fi

# The other start methods: the normal build's runner tests (every test of
# mp_run_tests; not their no-pidfd repeats), the examples and mpcopy's
# unit and tree tests, then the tour, once with MULTIPROC_START_METHOD=forkserver
# and once with spawn, which name the default start method of every program
# that sets none (docs/design.md, "Tests"); the sanitizer, Release and clang
# builds run under fork only.
for m in forkserver spawn; do
    echo "=== build: tests under the $m start method"
    MULTIPROC_START_METHOD=$m run_ctest build "ctest-$m.log" \
        -E '^(nopidfd_|package_|source_|subproject_|reference_|cxx_|fuzz_|bench_|soak_|mpi_|mpcopy_install)'
    echo "=== tour under the $m start method: tools/tour.sh"
    if MULTIPROC_START_METHOD=$m tools/tour.sh >"build/tour-$m.log" 2>&1; then
        passed=$((passed + 1))
        tail -n 1 "build/tour-$m.log"
    else
        cat "build/tour-$m.log"
        echo "=== tour under $m: failed"
        failed=$((failed + 1))
    fi
done

# valgrind: memcheck in a normal build of its own (tools/valgrind-check.sh)
# over a representative subset: processes (with and without pidfds), a pool,
# queues, a lock whose holder is killed, a manager, connections. Each counts
# as one test. (The script's own default list is longer: about 15 minutes.)
echo "=== valgrind: tools/valgrind-check.sh"
tools/valgrind-check.sh build-valgrind process_exit_codes \
    process_terminate_and_kill nopidfd_parent_death_seen_despite_siblings \
    pool_apply_and_apply_async queue_put_get_roundtrip queue_large_messages \
    lock_holder_killed_next_acquirer_gets_ownerdead manager_dict_calls \
    conn_duplex_round_trip_sizes conn_truncated_frames 2>&1 |
    tee build/valgrind.log
vsummary=$(grep -Eo '^valgrind: [0-9]+ passed, [0-9]+ failed' build/valgrind.log |
    tail -n 1)
if [ -z "$vsummary" ]; then
    echo "=== valgrind: no summary"
    failed=$((failed + 1))
else
    read -r _ vp _ vf _ <<<"$vsummary"
    passed=$((passed + vp))
    failed=$((failed + vf))
fi

# fuzz: builds fuzz_framing, fuzz_handshake, fuzz_manager and fuzz_address
# with clang and
# -fsanitize=fuzzer,address,undefined in build-fuzz/ and runs each for 20 s
# from the seed corpus; each clean run counts one pass, a crash one failure.
fuzz() {
    local dir=build-fuzz t work
    echo "=== $dir: build"
    if ! cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang \
        -DCMAKE_BUILD_TYPE=Debug -DMP_WERROR=OFF -DMP_BUILD_EXAMPLES=OFF \
        -DMP_FUZZ=ON -DMP_SANITIZER=fuzzer-no-link,address,undefined ||
        ! cmake --build "$dir" -j "$(nproc)" --target fuzz_framing fuzz_handshake fuzz_manager fuzz_address; then
        echo "=== $dir: the build failed"
        failed=$((failed + 1))
        return
    fi
    for t in framing handshake manager address; do
        echo "=== $dir: fuzz_$t for 20 s"
        work=$(mktemp -d "${TMPDIR:-/tmp}/mp-fuzz.XXXXXX")
        if "$dir/tests/fuzz/fuzz_$t" -max_total_time=20 -max_len=4096 \
            -artifact_prefix="$dir/" "$work" tests/fuzz/corpus \
            >"$dir/fuzz_$t.log" 2>&1; then
            passed=$((passed + 1))
        else
            tail -n 40 "$dir/fuzz_$t.log"
            echo "=== $dir: fuzz_$t failed (see $dir/fuzz_$t.log)"
            failed=$((failed + 1))
        fi
        rm -rf "$work"
    done
}
fuzz

echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
