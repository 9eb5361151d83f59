#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tools/mpcopy/test_mpcopy.sh - whole-run tests of mpcopy on generated
# trees: usage errors, a tree with every kind of entry (checked with
# diff -r and a Python tree compare of types, modes, nanosecond mtimes,
# link targets and contents), a sparse multi-GiB file (the copy's blocks
# stay few), a ~200-level tree longer than PATH_MAX, copies into themselves
# refused, unreadable entries skipped with exit 1, --verify, a worker
# SIGKILLed mid-copy and one SIGKILLed in the middle of a batch of small
# files, --version, a single file, hard links, owners (as
# root), --xattrs (attributes and ACLs), the status line on a 60-column
# terminal, SIGINT/SIGTERM/SIGHUP mid-copy then --resume, and --resume's
# refusals. After every run no /dev/shm/mp-<pid>-* is left.
#
# Unreadable files as root: root reads a chmod 000 file, so there the
# case runs mpcopy under `setpriv --bounding-set -dac_override,
# -dac_read_search` (root without the capabilities that bypass file
# modes); where that is not possible the case is skipped, saying so.
#
# Usage: test_mpcopy.sh PATH/TO/mpcopy [CASE...] (default: all cases).
# Exit 0 when every case passed.
set -u
MPCOPY=$(realpath "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mpcopy-test.XXXXXX")
RUN_TIMEOUT=180
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT

failures=0
fail() { echo "    FAIL: $*" >&2; return 1; }

# start_mpcopy [--paused] [WRAPPER...] -- ARGS...: starts mpcopy (under
# timeout and the optional wrapper) in the background, stdout/stderr to
# $WORK/out and $WORK/err; sets job (the timeout's pid); mpcopy's own pid
# is told in $WORK/pid by a shell that then execs it. With --paused that
# shell stops itself first (SIGSTOP; the caller sends SIGCONT).
start_mpcopy() {
    local wrap=() pause=:
    [ "$1" != --paused ] || { pause='kill -STOP $$'; shift; }
    while [ "$1" != -- ]; do wrap+=("$1"); shift; done
    shift
    rm -f "$WORK/pid"
    timeout "$RUN_TIMEOUT" "${wrap[@]}" bash -c 'echo $$ >"$0"; '"$pause"'; exec "$@"' \
        "$WORK/pid" "$MPCOPY" "$@" >"$WORK/out" 2>"$WORK/err" &
    job=$!
}

# finish_mpcopy: waits for the run; sets rc; checks that mpcopy left no
# shared-memory segment (/dev/shm/mp-<its pid>-*).
finish_mpcopy() {
    wait "$job"
    rc=$?
    mp_pid=$(cat "$WORK/pid" 2>/dev/null || echo none)
    local left
    left=$(ls /dev/shm 2>/dev/null | grep -E "^mp-$mp_pid-" || true)
    [ -z "$left" ] || fail "shared memory left: $left"
}

# run_mpcopy ARGS...: runs mpcopy to its end (see start/finish_mpcopy).
run_mpcopy() {
    start_mpcopy -- "$@"
    finish_mpcopy
}

# compare_trees A B: types, modes, mtimes (ns), link targets, sizes and
# contents of every entry equal, at any depth (os.fwalk: no long paths).
compare_trees() {
    python3 - "$1" "$2" <<'EOF'
import hashlib, os, stat, sys
def listing(root):
    out = {}
    for top, dirs, files, dfd in os.fwalk(root):
        rel = os.path.relpath(top, root)
        st = os.stat(dfd)
        out[rel] = ("d", stat.S_IMODE(st.st_mode), st.st_mtime_ns, None)
        for name in files:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            key = os.path.normpath(os.path.join(rel, name))
            if stat.S_ISLNK(st.st_mode):
                val = ("l", None, st.st_mtime_ns, os.readlink(name, dir_fd=dfd))
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(name, os.O_RDONLY, dir_fd=dfd)
                m = hashlib.sha256()
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b: break
                    m.update(b)
                os.close(fd)
                val = ("f", stat.S_IMODE(st.st_mode), st.st_mtime_ns, m.hexdigest())
            else:
                val = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_mtime_ns, None)
            out[key] = val
        # symlinks to directories show up in dirs; fwalk does not follow them
        for d in dirs:
            st = os.stat(d, dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                out[os.path.normpath(os.path.join(rel, d))] = ("l", None, st.st_mtime_ns, os.readlink(d, dir_fd=dfd))
    return out
a, b = listing(sys.argv[1]), listing(sys.argv[2])
bad = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
for k in bad[:10]:
    print("differs: %r: %r vs %r" % (k, a.get(k), b.get(k)), file=sys.stderr)
print("%d entries compared" % len(a))
sys.exit(1 if bad else 0)
EOF
}

# same_sparse A B: equal sizes and bytes, reading only the data segments
# of either file (outside them both read as zeros), so that comparing
# multi-GiB sparse files costs little.
same_sparse() {
    python3 - "$1" "$2" <<'EOF'
import os, sys
fa, fb = (os.open(p, os.O_RDONLY) for p in sys.argv[1:3])
size = os.fstat(fa).st_size
if os.fstat(fb).st_size != size:
    sys.exit("sizes differ")
def segments(fd):
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            return
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        yield data, hole
        pos = hole
for fd in (fa, fb):
    for start, end in segments(fd):
        while start < end:
            n = min(end - start, 1 << 20)
            if os.pread(fa, n, start) != os.pread(fb, n, start):
                sys.exit("bytes differ at %d" % start)
            start += n
EOF
}

# make_tree DIR: nested dirs, empty and binary files, modes, mtimes with
# nanoseconds, symlinks (to a file, to a dir, dangling), odd names, FIFO.
make_tree() {
    local d=$1
    mkdir -p "$d/a/b/c" "$d/empty dir" "$d/ro dir/inner" "$d/x"
    : >"$d/empty"
    : >"$d/a/b/c/empty too"
    head -c 300000 /dev/urandom >"$d/a/random.bin"
    head -c 5000 /dev/urandom >"$d/a/b/small.bin"
    for i in $(seq 1 60); do printf 'file %d\n' "$i" >"$d/x/f$i.txt"; done
    printf 'spaces\n' >"$d/a/name with  spaces"
    printf 'newline\n' >"$d/a/new
line"
    printf 'dash\n' >"$d/a/-leading-dash"
    printf 'utf8\n' >"$d/a/ünïcödé ✓"
    printf 'secret\n' >"$d/private"; chmod 0600 "$d/private"
    printf '#!/bin/sh\n' >"$d/a/script"; chmod 0755 "$d/a/script"
    printf 'ro\n' >"$d/ro dir/inner/readonly"; chmod 0444 "$d/ro dir/inner/readonly"
    printf 'g\n' >"$d/a/odd mode"; chmod 0640 "$d/a/odd mode"
    ln -s ../a/random.bin "$d/x/link to file"
    ln -s a/b "$d/link to dir"
    ln -s "does not exist" "$d/dangling"
    mkfifo "$d/a/fifo"
    touch -h -d '2003-04-05 06:07:08.123456789' "$d/dangling" "$d/link to dir"
    touch -d '2001-02-03 04:05:06.987654321' "$d/a/random.bin" "$d/private" \
        "$d/ro dir/inner/readonly" "$d/a/new
line" "$d/empty"
    touch -d '1999-12-31 23:59:59.000000001' "$d/a/b" "$d/empty dir" \
        "$d/ro dir/inner" "$d/a/fifo"
    chmod 0555 "$d/ro dir/inner"
    chmod 0700 "$d/a/b"
    touch -d '2010-10-10 10:10:10.5' "$d/ro dir" "$d"
}

case_help_and_usage() {
    run_mpcopy --help
    [ "$rc" = 0 ] || fail "--help exit $rc" || return
    grep -q '^Usage: mpcopy \[-j N\] \[--verify\] \[--resume\] \[--xattrs\] SRC DST' "$WORK/out" ||
        fail "--help text" || return
    grep -q 'never overwrites' "$WORK/out" || fail "--help: DST rule" || return
    local args
    for args in "" "one" "a b c" "-j 0 a b" "-j x a b" "-j" "--bogus a b" \
                "-j 2000 a b"; do
        # shellcheck disable=SC2086
        run_mpcopy $args
        [ "$rc" = 2 ] || fail "'$args': exit $rc, want 2" || return
        grep -q "Try 'mpcopy --help'" "$WORK/err" ||
            fail "'$args': no hint" || return
    done
    run_mpcopy "$WORK/nonexistent" "$WORK/d"
    [ "$rc" = 2 ] || fail "missing SRC: exit $rc" || return
    [ ! -e "$WORK/d" ] || fail "a refused run created DST"
}

case_full_tree() {
    local s=$WORK/full/src d=$WORK/full/dst
    mkdir -p "$WORK/full"; make_tree "$s"
    run_mpcopy -j 3 --verify "$s" "$d"
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    grep -q "copied and verified to $d$" "$WORK/out" || fail "no summary" || return
    grep -q '^verify: .*(100%)' "$WORK/err" || fail "no verify progress" || return
    # diff -r calls a FIFO pair a difference: compare_trees checks it.
    diff -r --no-dereference -x fifo "$s" "$d" || fail "diff -r" || return
    compare_trees "$s" "$d" >/dev/null || fail "tree compare" || return
    [ "$(readlink "$d/dangling")" = "does not exist" ] || fail "dangling link"
    [ "$(stat -c %a "$d/private")" = 600 ] || fail "0600 mode" || return
    [ "$(stat -c %a "$d/ro dir/inner/readonly")" = 444 ] || fail "0444" || return
    [ "$(stat -c %a "$d/a/script")" = 755 ] || fail "0755" || return
    [ "$(stat -c %y "$d/a/random.bin")" = "$(stat -c %y "$s/a/random.bin")" ] ||
        fail "mtime" || return
    [ -p "$d/a/fifo" ] || fail "fifo" || return
    [ "$(stat -c %y "$d")" = "$(stat -c %y "$s")" ] || fail "root mtime"
}

# DST exists: the copy goes to DST/NAME; once that exists, refused.
case_existing_dst() {
    local s=$WORK/ex/tree d=$WORK/ex/into
    mkdir -p "$s/sub" "$d"; echo one >"$s/sub/f"
    run_mpcopy "$s" "$d/"
    [ "$rc" = 0 ] || fail "exit $rc" || return
    diff -r "$s" "$d/tree" || fail "diff" || return
    run_mpcopy "$s" "$d"
    [ "$rc" = 2 ] || fail "second run: exit $rc, want 2" || return
    grep -q 'already exists' "$WORK/err" || fail "message" || return
    echo x >"$WORK/ex/file"
    run_mpcopy "$s" "$WORK/ex/file"
    [ "$rc" = 2 ] || fail "DST a file: exit $rc"
}

case_into_itself_refused() {
    local s=$WORK/self/src
    mkdir -p "$s/sub/deeper"; echo x >"$s/f"
    ln -s "$s/sub" "$WORK/self/alias"
    local before after
    before=$(find "$WORK/self" | wc -l)
    for dst in "$s" "$s/" "$s/new" "$s/sub/deeper/new" "$WORK/self/alias/x" \
               "$WORK/self/alias"; do
        run_mpcopy "$s" "$dst"
        [ "$rc" = 2 ] || fail "'$dst': exit $rc, want 2" || return
        grep -q 'into itself' "$WORK/err" || fail "'$dst': message" || return
    done
    after=$(find "$WORK/self" | wc -l)
    [ "$before" = "$after" ] || fail "a refused run created something"
}

case_sparse_big_file() {
    local s=$WORK/sparse/src d=$WORK/sparse/dst
    mkdir -p "$s"
    truncate -s 3G "$s/sparse.img"
    printf 'start' | dd of="$s/sparse.img" conv=notrunc status=none
    printf 'middle' | dd of="$s/sparse.img" bs=1 seek=1500000000 conv=notrunc status=none
    printf 'end' | dd of="$s/sparse.img" bs=1 seek=$((3 * 1024 * 1024 * 1024 - 3)) conv=notrunc status=none
    truncate -s 2G "$s/all hole"
    local src_kb
    src_kb=$(du -k "$s/sparse.img" | cut -f1)
    [ "$src_kb" -lt 10240 ] || { echo "    SKIP: this file system does not keep holes"; return 0; }
    run_mpcopy -j 2 --verify "$s" "$d"
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    same_sparse "$s/sparse.img" "$d/sparse.img" || fail "contents" || return
    same_sparse "$s/all hole" "$d/all hole" || fail "contents" || return
    [ "$(stat -c %s "$d/all hole")" = $((2 * 1024 * 1024 * 1024)) ] || fail "hole size" || return
    local kb
    kb=$(du -k "$d/sparse.img" | cut -f1)
    [ "$kb" -lt 10240 ] || fail "copy takes $kb KiB: holes lost" || return
    kb=$(du -k "$d/all hole" | cut -f1)
    [ "$kb" -lt 1024 ] || fail "all-hole copy takes $kb KiB"
}

# ~200 levels with 24-byte names: paths of ~5000 bytes, past PATH_MAX.
case_deep_tree() {
    local s=$WORK/deep/src d=$WORK/deep/dst
    mkdir -p "$s"
    (cd "$s" && for i in $(seq 1 200); do
        mkdir "level-$(printf %03d "$i")-padding-name" &&
            cd "level-$(printf %03d "$i")-padding-name" || exit 1
        echo "at $i" >"file $i"
    done; ln -s ../file.200 link) || fail "making the tree" || return
    run_mpcopy -j 2 --verify "$s" "$d"
    [ "$rc" = 0 ] || { head -5 "$WORK/err"; fail "exit $rc"; return; }
    compare_trees "$s" "$d" | grep -q '^402 entries' || fail "entry count" || return
    compare_trees "$s" "$d" >/dev/null || fail "tree compare"
}

# An unreadable file and directory are reported and skipped, exit 1, the
# rest copied (the files in the unreadable one's batch too). As root see
# the header.
case_unreadable_skipped() {
    local s=$WORK/unread/src d=$WORK/unread/dst
    mkdir -p "$s/ok" "$s/closed"
    echo fine >"$s/ok/f"; echo hidden >"$s/secret"; echo inside >"$s/closed/g"
    # Readable files beside the unreadable one go in the same batch.
    for i in 1 2 3 4 5; do echo "beside $i" >"$s/n$i"; done
    chmod 000 "$s/secret" "$s/closed"
    local wrap=()
    if [ "$(id -u)" = 0 ]; then
        wrap=(setpriv --bounding-set -dac_override,-dac_read_search)
        if ! "${wrap[@]}" true 2>/dev/null || "${wrap[@]}" cat "$s/secret" >/dev/null 2>&1; then
            chmod 700 "$s/closed"
            echo "    SKIP: root, and setpriv cannot drop DAC_OVERRIDE here"
            return 0
        fi
    fi
    start_mpcopy "${wrap[@]}" -- -j 2 --verify "$s" "$d"
    finish_mpcopy || return
    chmod 700 "$s/closed"; chmod 600 "$s/secret"
    [ "$rc" = 1 ] || { cat "$WORK/err"; fail "exit $rc, want 1"; return; }
    grep -q "secret: open: Permission denied" "$WORK/err" || { cat "$WORK/err"; fail "file not reported"; return; }
    grep -q "closed: cannot read directory" "$WORK/err" || fail "dir not reported" || return
    [ "$(cat "$d/ok/f")" = fine ] || fail "the rest was not copied" || return
    for i in 1 2 3 4 5; do
        [ "$(cat "$d/n$i")" = "beside $i" ] || fail "n$i, beside it, was not copied" || return
    done
    [ ! -e "$d/secret" ] || fail "a copy of the unreadable file exists" || return
    [ -d "$d/closed" ] || fail "the unreadable dir was not made"
}

# A worker killed with SIGKILL while it holds the big file's copy open
# (stopped there by stop_worker_on, so it is mid-task for sure): its range
# is retried, the copy is complete and the exit status 0.
case_worker_killed() {
    local s=$WORK/kill/src d=$WORK/kill/dst
    mkdir -p "$s/small"
    python3 - "$s/big.bin" <<'EOF2' || { fail "making big.bin"; return; }
import struct, sys
with open(sys.argv[1], "wb") as f:
    for mib in range(640):
        f.write(b"".join(struct.pack("<QQ", mib, blk) * 256 for blk in range(256)))
EOF2
    for i in $(seq 1 50); do echo "small $i" >"$s/small/$i"; done
    local holder others
    start_mpcopy --paused -- -j 2 --verify "$s" "$d"
    { read -r holder; read -r others; } < <(stop_worker_on "$s" "$d/big.bin")
    [ -n "$holder" ] || { wait "$job"; fail "mpcopy ended before a worker could be stopped"; return; }
    kill -KILL "$holder"
    # shellcheck disable=SC2086
    [ -z "$others" ] || kill -CONT $others
    finish_mpcopy || return
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    cmp "$s/big.bin" "$d/big.bin" || fail "big.bin differs" || return
    diff -r "$s" "$d" || fail "diff -r" || return
    grep -q 'retrying (attempt 2 of 3)' "$WORK/err" || { cat "$WORK/err"; fail "no retry"; return; }
    grep -m1 'retrying' "$WORK/err" | sed 's/^/    /'
}

# A worker SIGKILLed in the middle of a batch of small files: the stop
# shim (test_stop_shim.c, preloaded; its path in MPCOPY_STOP_SHIM) stops
# the first process to create its 10th copy, a worker 9 files into its
# batch of 32. Killed there, the batch is retried whole (the 9 copies made
# anew), the copy is complete and the exit status 0.
case_worker_killed_mid_batch() {
    if [ -z "${MPCOPY_STOP_SHIM:-}" ]; then
        echo "    skipped: no stop shim (MPCOPY_STOP_SHIM unset)"
        return 0
    fi
    local s=$WORK/batch/src d=$WORK/batch/dst mark=$WORK/batch/stopped
    mkdir -p "$s"
    for i in $(seq 1 40); do echo "small $i" >"$s/f$i"; done
    touch -d @1000000000 "$s"/f*
    start_mpcopy env LD_PRELOAD="$MPCOPY_STOP_SHIM" MPCOPY_STOP_AT_CREATE=10 \
        MPCOPY_STOP_MARK="$mark" \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        -- -j 2 "$s" "$d"
    local stopped
    stopped=$(python3 - "$WORK/pid" "$mark" <<'EOF2'
import os, sys, time
pidfile, mark = sys.argv[1:3]
def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]
deadline = time.monotonic() + 120
mp = None
while time.monotonic() < deadline:
    try:
        if mp is None:
            with open(pidfile) as f:
                mp = int(f.read())
        if state(mp) in "ZX":
            sys.exit(1)  # mpcopy ended: nothing stopped
        with open(mark) as f:
            line = f.read()
        if line.endswith("\n") and state(int(line)) == "T":
            print(int(line))
            sys.exit(0)
    except (OSError, ValueError):
        pass  # not written yet, or mpcopy gone (the next look says so)
sys.exit(1)
EOF2
    ) || { wait "$job"; cat "$WORK/err"; fail "no worker stopped at its 10th copy"; return; }
    kill -KILL "$stopped"
    finish_mpcopy || return
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    compare_trees "$s" "$d" || fail "trees differ" || return
    grep -q 'and 31 more files): worker killed by signal 9.*retrying (attempt 2 of 3)' "$WORK/err" ||
        { cat "$WORK/err"; fail "the batch of 32 was not retried"; return; }
    grep -m1 'retrying' "$WORK/err" | sed 's/^/    /'
}

case_version() {
    run_mpcopy --version
    [ "$rc" = 0 ] || fail "--version exit $rc" || return
    grep -Eq '^mpcopy [0-9]+\.[0-9]+\.[0-9]+ \(multiproc library [0-9]+\.[0-9]+\.[0-9]+\)$' \
        "$WORK/out" || { cat "$WORK/out"; fail "--version text"; }
}

# SRC a single file (or symlink), as cp -a copies it: to a new name, into
# a directory, never over an existing file without --resume.
case_single_file() {
    local w=$WORK/single
    mkdir -p "$w/into"
    head -c 70000 /dev/urandom >"$w/file.bin"; chmod 0640 "$w/file.bin"
    touch -d '2004-05-06 07:08:09.123456789' "$w/file.bin"
    ln -s file.bin "$w/link"
    run_mpcopy "$w/file.bin" "$w/copy.bin"
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    cmp "$w/file.bin" "$w/copy.bin" || fail "contents" || return
    [ "$(stat -c '%a %y' "$w/copy.bin")" = "$(stat -c '%a %y' "$w/file.bin")" ] ||
        fail "mode and mtime" || return
    run_mpcopy "$w/file.bin" "$w/into"
    [ "$rc" = 0 ] && cmp -s "$w/file.bin" "$w/into/file.bin" ||
        fail "into a directory: exit $rc" || return
    run_mpcopy "$w/file.bin" "$w/copy.bin"
    [ "$rc" = 2 ] || fail "over an existing file: exit $rc, want 2" || return
    run_mpcopy "$w/link" "$w/link2"
    [ "$rc" = 0 ] && [ "$(readlink "$w/link2")" = file.bin ] ||
        fail "a symlink is copied as a link: exit $rc" || return
    echo changed >"$w/copy.bin"
    run_mpcopy --resume "$w/file.bin" "$w/copy.bin"
    [ "$rc" = 0 ] && cmp -s "$w/file.bin" "$w/copy.bin" ||
        fail "--resume over a stale copy: exit $rc"
}

# Hard links stay links: three names of one file, one of another.
case_hard_links() {
    local s=$WORK/hard/src d=$WORK/hard/dst
    mkdir -p "$s/a" "$s/b"
    head -c 100000 /dev/urandom >"$s/a/one"
    ln "$s/a/one" "$s/b/two"; ln "$s/a/one" "$s/three"
    echo other >"$s/b/x"; ln "$s/b/x" "$s/a/y"
    run_mpcopy -j 2 "$s" "$d"
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    [ "$(stat -c %i "$d/a/one")" = "$(stat -c %i "$d/b/two")" ] &&
    [ "$(stat -c %i "$d/a/one")" = "$(stat -c %i "$d/three")" ] &&
    [ "$(stat -c %h "$d/a/one")" = 3 ] || fail "one, two, three: not one file" || return
    [ "$(stat -c %i "$d/b/x")" = "$(stat -c %i "$d/a/y")" ] || fail "x, y" || return
    [ "$(stat -c %i "$d/a/one")" != "$(stat -c %i "$d/b/x")" ] || fail "two files merged" || return
    grep -q 'hard links 3' "$WORK/out" || fail "summary: $(cat "$WORK/out")" || return
    compare_trees "$s" "$d" >/dev/null || fail "tree compare"
}

# As root the owners are kept (files, directories, symlinks, FIFOs).
case_owners() {
    [ "$(id -u)" = 0 ] || { echo "    SKIP: not root"; return 0; }
    local s=$WORK/own/src d=$WORK/own/dst
    mkdir -p "$s/sub"
    echo data >"$s/sub/f"; head -c 40000000 /dev/urandom >"$s/big"
    ln -s f "$s/sub/l"; mkfifo "$s/p"
    chown 1234:5678 "$s/sub/f" "$s/p"; chown 4321:8765 "$s/sub"
    chown 2222:3333 "$s/big"; chown -h 777:888 "$s/sub/l"; chown 55:66 "$s"
    chmod 4755 "$s/sub/f"
    run_mpcopy -j 2 "$s" "$d"
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    local p
    for p in "" /sub /sub/f /sub/l /p /big; do
        [ "$(stat -c '%u:%g %a' "$d$p")" = "$(stat -c '%u:%g %a' "$s$p")" ] ||
            fail "owner of '$p': $(stat -c '%u:%g %a' "$d$p")" || return
    done
}

# --xattrs copies extended attributes and ACLs (files, split files,
# directories); without it none are copied.
case_xattrs() {
    local s=$WORK/xattr/src d=$WORK/xattr/dst
    mkdir -p "$s/dir"
    echo data >"$s/dir/f"; head -c 40000000 /dev/urandom >"$s/big"
    if ! setfattr -n user.probe -v 1 "$s/dir/f" 2>/dev/null; then
        echo "    SKIP: no user extended attributes here (or no setfattr)"
        return 0
    fi
    setfattr -n user.colour -v blue "$s/dir/f"
    setfattr -n user.empty "$s/big"; setfattr -n user.k -v v "$s/dir"
    if command -v setfacl >/dev/null && setfacl -m u:1234:rwx "$s/dir/f" 2>/dev/null; then
        setfacl -d -m g:4321:rx "$s/dir"
    else
        echo "    (no setfacl or no ACLs here: attributes only)"
    fi
    run_mpcopy -j 2 --xattrs "$s" "$d"
    [ "$rc" = 0 ] || { cat "$WORK/err"; fail "exit $rc"; return; }
    python3 - "$s" "$d" <<'EOF2' || { fail "attributes differ"; return; }
import os, sys
s, d = sys.argv[1:3]
bad = 0
for rel in ("dir/f", "big", "dir", "."):
    a, b = (os.path.join(r, rel) for r in (s, d))
    xa = {n: os.getxattr(a, n) for n in os.listxattr(a)}
    xb = {n: os.getxattr(b, n) for n in os.listxattr(b)}
    if xa != xb or not xa and rel != ".":
        print("    %s: %r vs %r" % (rel, xa, xb)); bad = 1
sys.exit(bad)
EOF2
    run_mpcopy -j 2 "$s" "$WORK/xattr/plain"
    [ "$rc" = 0 ] || fail "without --xattrs: exit $rc" || return
    [ -z "$(python3 -c 'import os,sys; print(os.listxattr(sys.argv[1]))' \
        "$WORK/xattr/plain/dir/f" | tr -d '[]')" ] || fail "copied without --xattrs"
}

# The status line on a terminal 60 columns wide: no line reaches the last
# column, the copy shows the scan going on, and its last line says 100%.
case_status_line_fits() {
    local s=$WORK/tty/src
    mkdir -p "$s"
    for i in $(seq 1 30); do mkdir "$s/d$i"; for j in 1 2 3; do echo "$i $j" >"$s/d$i/f$j"; done; done
    python3 - "$MPCOPY" "$s" "$WORK/tty/dst" <<'EOF2' || fail "status line"
import fcntl, os, re, struct, subprocess, sys, termios
mpcopy, src, dst = sys.argv[1:4]
master, slave = os.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 60, 0, 0))
p = subprocess.Popen([mpcopy, "-j", "2", src, dst], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
out = b""
while True:
    try:
        b = os.read(master, 65536)
    except OSError:
        break
    if not b:
        break
    out += b
rc = p.wait(timeout=120)
text = re.sub(r"\x1b\[K", "", out.decode()).replace("\r\n", "\n")
lines = re.split(r"[\r\n]", text)
longest = max(len(l) for l in lines)
ok = rc == 0 and longest <= 59 and any(l.startswith("copy: ") and "scanning" in l for l in lines) \
     and any(l.startswith("copy: 90/90 files (100%)") for l in lines)
if not ok:
    print("    rc %d, longest %d: %r" % (rc, longest, lines[:12]))
sys.exit(0 if ok else 1)
EOF2
}

# make_signal_tree DIR: 60 small files at the top (a breadth-first scan
# queues them first) and a 320 MiB file one level down.
make_signal_tree() {
    mkdir -p "$1/sub"
    for i in $(seq 1 60); do echo "small $i" >"$1/f$i"; done
    python3 - "$1/sub/big.bin" <<'EOF2'
import struct, sys
with open(sys.argv[1], "wb") as f:
    for mib in range(320):
        f.write(b"".join(struct.pack("<QQ", mib, blk) * 256 for blk in range(256)))
EOF2
}

# stop_worker_on SRC FILE: lets mpcopy (started with --paused; pid in
# $WORK/pid) go on, then stops its workers at a moment one of them holds
# FILE open, and leaves them stopped: they are
# single-stepped together (SIGCONT, at once SIGSTOP, wait until they are
# stopped, look at their open files), so none can race past FILE between
# two looks. The workers are the children that have SRC open. Prints the
# pid of the one holding FILE, and on a second line the others' (the
# caller continues them). Exit 1 when mpcopy ended first.
stop_worker_on() {
    python3 - "$WORK/pid" "$1" "$2" <<'EOF2'
import os, signal, sys, time
pidfile, src, target = sys.argv[1:4]
def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]
def holds(pid, path):
    fds = "/proc/%d/fd" % pid
    for fd in os.listdir(fds):
        try:
            if os.readlink(os.path.join(fds, fd)) == path:
                return True
        except OSError:
            pass
    return False
def kids(pid):
    out = []
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                out += [int(x) for x in f.read().split()]
        except FileNotFoundError:  # a thread that ended
            pass
    return out
def descendants(pid):  # a forkserver's workers are its children
    out = []
    for k in kids(pid):
        out += [k] + descendants(k)
    return out
def alive(pid):
    try:
        return state(pid) not in "ZX"
    except OSError:
        return False
deadline = time.monotonic() + 120
mp = None
while mp is None and time.monotonic() < deadline:
    try:  # written by the shell that then execs mpcopy
        with open(pidfile) as f:
            mp = int(f.read())
    except (OSError, ValueError):
        pass
# mpcopy was started paused (start_mpcopy --paused): this loop runs
# before it forks its first worker.
while state(mp) != "T":
    pass
os.kill(mp, signal.SIGCONT)
workers = []
# The workers (any child that inherited SRC's fd for a moment, such as
# the tracker's short-lived intermediate or the forkserver before its exec,
# drops out, continued, once it no longer has SRC open) are stepped
# together.
while alive(mp) and time.monotonic() < deadline:
    try:
        workers += [k for k in descendants(mp)
                    if k not in workers and holds(k, src)]
    except OSError:
        continue
    for w in list(workers):
        try:
            os.kill(w, signal.SIGSTOP)
        except OSError:
            workers.remove(w)
    held = []
    for w in list(workers):
        try:
            while state(w) not in "TZX":
                pass
            if not holds(w, src):
                # Seen with SRC open only for a moment: a child between
                # fork and exec, such as the forkserver before it runs
                # (under forkserver, the workers' parent: left stopped it
                # never reaps a killed worker, and mpcopy waits for that).
                workers.remove(w)
                os.kill(w, signal.SIGCONT)
            elif holds(w, target):
                held.append(w)
        except OSError:
            if w in workers:
                workers.remove(w)
    if held:  # stopped mid-copy of target
        print(held[0])
        print(" ".join(str(w) for w in workers if w != held[0]))
        sys.exit(0)
    for w in workers:
        try:
            os.kill(w, signal.SIGCONT)
        except OSError:
            pass
sys.exit(1)
EOF2
}

# SIGINT, SIGTERM, SIGHUP mid-copy (the one worker, -j 1, stopped while
# it holds the big file's copy): exit 130/143/129, no worker left, the
# partial file named on stderr with the command to finish; then --resume
# with the same DST finishes the copy in place (no nested copy), keeping
# the files that were whole (same inode) and the trees compare equal.
case_signals_and_resume() {
    local s=$WORK/sig/src
    make_signal_tree "$s" || { fail "making the tree"; return; }
    local sig want d
    for sig in INT TERM HUP; do
        case $sig in INT) want=130;; TERM) want=143;; HUP) want=129;; esac
        d=$WORK/sig/dst-$sig
        start_mpcopy --paused -- -j 1 "$s" "$d"
        stop_worker_on "$s" "$d/sub/big.bin" >/dev/null ||
            { wait "$job"; cat "$WORK/err"; fail "$sig: mpcopy ended before the worker could be stopped"; return; }
        kill -s "$sig" "$(cat "$WORK/pid")"
        finish_mpcopy || return
        [ "$rc" = "$want" ] || { cat "$WORK/err"; fail "$sig: exit $rc, want $want"; return; }
        grep -q "interrupted by SIG$sig during the copy" "$WORK/err" &&
        grep -q "left partial: $d/sub/big.bin" "$WORK/err" &&
        grep -q "to finish, run: mpcopy --resume $s $d\$" "$WORK/err" ||
            { cat "$WORK/err"; fail "$sig: message"; return; }
        python3 - "$d" <<'EOF2' || { fail "$sig: a process still holds the copy"; return; }
import os, sys
d = sys.argv[1]
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        for fd in os.listdir("/proc/%s/fd" % p):
            if os.readlink("/proc/%s/fd/%s" % (p, fd)).startswith(d + "/"):
                sys.exit(1)
    except OSError:
        pass
EOF2
        cmp -s "$s/sub/big.bin" "$d/sub/big.bin" && fail "$sig: big.bin complete" && return
        # The copies already whole (size and mtime), with their inodes.
        local whole
        whole=$(cd "$s" && for f in f*; do
            [ "$(stat -c '%s %y' "$f")" = "$(stat -c '%s %y' "$d/$f" 2>/dev/null)" ] &&
                echo "$f $(stat -c %i "$d/$f")"; done)
        [ -n "$whole" ] || fail "$sig: no small file was whole" || return
        run_mpcopy --resume "$s" "$d"
        [ "$rc" = 0 ] || { cat "$WORK/err"; fail "$sig: resume exit $rc"; return; }
        [ ! -e "$d/src" ] || fail "$sig: resume nested a copy in the partial one" || return
        compare_trees "$s" "$d" >/dev/null || fail "$sig: trees differ after resume" || return
        grep -q "$(echo "$whole" | wc -l) already whole" "$WORK/out" ||
            fail "$sig: summary: $(cat "$WORK/out")" || return
        local f ino
        while read -r f ino; do
            [ "$(stat -c %i "$d/$f")" = "$ino" ] || fail "$sig: $f copied again" || return
        done <<<"$whole"
        rm -rf "$d"
    done
}

# --resume on a tree: DST a file is refused, DST inside SRC too.
case_resume_refusals() {
    local s=$WORK/rr/src
    mkdir -p "$s/sub"; echo x >"$s/f"; echo y >"$WORK/rr/file"
    run_mpcopy --resume "$s" "$WORK/rr/file"
    [ "$rc" = 2 ] || fail "DST a file: exit $rc" || return
    run_mpcopy --resume "$s" "$s/sub"
    [ "$rc" = 2 ] && grep -q 'into itself' "$WORK/err" || fail "DST in SRC: exit $rc" || return
    run_mpcopy --resume "$s" "$s"
    [ "$rc" = 2 ] || fail "DST = SRC: exit $rc"
}

cases=(case_help_and_usage case_version case_full_tree case_existing_dst
       case_into_itself_refused case_sparse_big_file case_deep_tree
       case_unreadable_skipped case_worker_killed case_worker_killed_mid_batch
       case_single_file
       case_hard_links case_owners case_xattrs case_status_line_fits
       case_signals_and_resume case_resume_refusals)
[ $# -gt 1 ] && cases=("${@:2}")
for c in "${cases[@]}"; do
    if "$c"; then
        echo "ok - $c"
    else
        echo "not ok - $c"
        failures=$((failures + 1))
    fi
done
[ "$failures" = 0 ] || { echo "$failures case(s) failed" >&2; exit 1; }
echo "all cases passed"
