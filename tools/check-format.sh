#!/usr/bin/env bash
# tools/check-format.sh - the CTest "source_format": every C and C++ source
# and header of the project is formatted as .clang-format says. Lists the
# files that are not, with the command that formats them, and exits 1.
#
# Usage: tools/check-format.sh [<clang-format>]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tool=${1:-clang-format}

if [ -d .git ] || git rev-parse --git-dir >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files '*.c' '*.h' '*.cpp')
else
    mapfile -t files < <(find src include tests examples bench tools \
        -name '*.c' -o -name '*.h' -o -name '*.cpp' | sort)
fi
bad=()
for f in "${files[@]}"; do
    if ! "$tool" --dry-run --Werror "$f" >/dev/null 2>&1; then
        bad+=("$f")
    fi
done
if [ ${#bad[@]} -ne 0 ]; then
    printf 'not formatted: %s\n' "${bad[@]}"
    echo "fix with: $tool -i ${bad[*]}"
    echo "source_format: ${#bad[@]} of ${#files[@]} files not formatted"
    exit 1
fi
echo "source_format: ok (${#files[@]} files)"
