#!/usr/bin/env bash
# docs/reference/check-pages.sh - the CTest "reference_pages": every public
# function declared in the headers under <include dir> has a man page in
# <docs dir>/man/man3 that names it and renders without warnings, the HTML
# reference exists, Doxygen reported no warnings, and the overview page
# multiproc(7) renders.
#
# Usage: docs/reference/check-pages.sh <include dir> <docs dir> <multiproc.7>
set -euo pipefail

include=$1
docs=$2
overview=$3
man3=$docs/man/man3
fail() {
    echo "reference_pages: $*" >&2
    exit 1
}

[ -d "$man3" ] || fail "no man pages in $man3 (was the reference_pages target built?)"
[ -f "$docs/html/index.html" ] || fail "no HTML reference in $docs/html"
if [ -s "$docs/warnings.log" ]; then
    cat "$docs/warnings.log" >&2
    fail "Doxygen warned (above)"
fi

# Every function a public header declares: "MP_EXTERN <type> name(".
mapfile -t functions < <(grep -rhoE 'MP_EXTERN[^(;]*\b(mp_[a-z0-9_]+)\(' \
    "$include" | grep -oE 'mp_[a-z0-9_]+\($' | tr -d '(' | sort -u)
[ ${#functions[@]} -gt 0 ] || fail "no public functions found under $include"

missing=()
for f in "${functions[@]}"; do
    page=$man3/$f.3
    # A link page (".so man3/x.3") points at the page that documents it.
    target=$(sed -n 's/^\.so //p' "$page" 2>/dev/null || true)
    if [ -n "$target" ]; then
        page=$docs/man/$target
    fi
    if [ ! -f "$page" ] || ! grep -q "$f" "$page"; then
        missing+=("$f")
    fi
done
if [ ${#missing[@]} -ne 0 ]; then
    fail "${#missing[@]} public functions have no page that documents them: ${missing[*]}"
fi

# The pages render (man's own parser, warnings on).
for page in "$man3"/*.3 "$overview"; do
    if [ -n "$(sed -n 's/^\.so //p' "$page")" ]; then
        continue
    fi
    out=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null || true)
    [ -z "$out" ] || fail "$page renders with warnings: $out"
done
echo "reference_pages: ok (${#functions[@]} functions)"
