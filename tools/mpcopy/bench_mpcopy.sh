#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/mpcopy/bench_mpcopy.sh - times mpcopy against `cp -a` and
# `rsync -a` copying one tree (default /usr/share) on the same file
# system as DIR (default /tmp), warm (the source read once before, so it
# is in the page cache) and cold (`echo 3 > /proc/sys/vm/drop_caches`
# before each run: needs root), the tools interleaved within each round
# so that a change in the machine's load hits all of them alike. Every
# copy gets a place of its own and all are kept until the end (then
# removed): a copy made where the previous one was just deleted measures
# that deletion too (ext4 without a journal, as on this project's VM,
# skips the inodes freed in the last minutes while it allocates, scanning
# past each one), so removing copies between runs made a run's time
# depend on which tool ran before it. On tmpfs, whose copies are memory
# and which has no such allocator, each copy is removed after its run.
# `sync` runs (untimed) after each copy, so that one run's writeback does
# not fall into the next. Prints one line per run: round, cache, tool,
# seconds; then the median of each tool and cache. Needs room for
# ROUNDS x 6 copies of SRC (one on tmpfs).
#
# Usage: bench_mpcopy.sh MPCOPY [SRC] [ROUNDS] [DIR]
set -eu
MPCOPY=$(realpath "$1") SRC=${2:-/usr/share} ROUNDS=${3:-3}
WORK=$(mktemp -d "${4:-/tmp}/mpcopy-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
command -v rsync >/dev/null || { echo "rsync is missing (apt-get install -y rsync)" >&2; exit 2; }
keep=1
[ "$(stat -f -c %T "$WORK")" = tmpfs ] && keep=0
cold_ok=0
[ -w /proc/sys/vm/drop_caches ] && cold_ok=1

# run TOOL DST: one copy of SRC to DST, its wall time in seconds on stdout.
run() {
    local start end
    start=$(date +%s.%N)
    case $1 in
        mpcopy) "$MPCOPY" "$SRC" "$2" >/dev/null 2>&1 ;;
        cp) cp -a "$SRC" "$2" ;;
        rsync) rsync -a "$SRC/" "$2/" ;;
    esac
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

results=$WORK/results
for round in $(seq 1 "$ROUNDS"); do
    for cache in warm cold; do
        [ "$cache" = cold ] && [ "$cold_ok" = 0 ] && continue
        for tool in mpcopy cp rsync; do
            if [ "$cache" = warm ]; then
                find "$SRC" -type f -print0 | xargs -0 cat >/dev/null 2>&1 || true
            else
                sync; echo 3 >/proc/sys/vm/drop_caches
            fi
            t=$(run "$tool" "$WORK/copy-$round-$cache-$tool")
            echo "$round $cache $tool $t" | tee -a "$results"
            [ "$keep" = 1 ] || rm -rf "$WORK/copy-$round-$cache-$tool"
            sync
        done
    done
done
echo "medians (s):"
for cache in warm cold; do
    for tool in mpcopy cp rsync; do
        awk -v c="$cache" -v t="$tool" '$2 == c && $3 == t {print $4}' "$results" |
            sort -n | awk -v c="$cache" -v t="$tool" \
            '{v[NR] = $1} END {if (NR) printf "  %s %-6s %.2f (of %d: %.2f-%.2f)\n", c, t,
              NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, NR, v[1], v[NR]}'
    done
done
