#!/usr/bin/env bash
# tools/test-all.sh - the README's second command: installs what is missing,
# then builds and runs every test twice: in a normal build (build/) and in a
# sanitizer build (build-asan/, AddressSanitizer + UndefinedBehaviorSanitizer).
# The tests include the examples and the packaging test (package_install).
# Ends with the line "all: N passed, M failed" over both runs and exits
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
    (cd "$dir" && ctest --output-on-failure -j2) 2>&1 | tee "$dir/ctest.log"
    # CTest's summary: "97% tests passed, 1 tests failed out of 37".
    local summary
    summary=$(grep -Eo '[0-9]+ tests failed out of [0-9]+' "$dir/ctest.log" |
        tail -n 1)
    if [ -z "$summary" ]; then
        echo "=== $dir: CTest reported no results"
        failed=$((failed + 1))
        return
    fi
    local f t
    read -r f _ _ _ _ t <<<"$summary"
    passed=$((passed + t - f))
    failed=$((failed + f))
}

suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMP_SANITIZER=none
suite build-asan -DCMAKE_BUILD_TYPE=Debug -DMP_SANITIZER=address,undefined

echo "all: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
