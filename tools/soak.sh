#!/usr/bin/env bash
# tools/soak.sh - the long soak run (issue 21, "Keep it fixed"): builds
# mp_soak (tests/soak/) in a normal build, build/ unless BUILD_DIR names
# another, and runs it; by default for 30 minutes of SIGKILL storms. Any
# arguments go to mp_soak instead: --seconds S, --kills N, --seed X,
# --scenario NAME (--list names them), --round-seed X to replay one round,
# --verbose for a line per round. Ends with mp_soak's last line,
# "soak: N passed, M failed", and exits non-zero when a round failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir=${BUILD_DIR:-build}
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$dir" -j "$(nproc)" --target mp_soak >/dev/null
[ $# -gt 0 ] || set -- --seconds 1800
exec "$dir/tests/soak/mp_soak" "$@"
