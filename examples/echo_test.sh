#!/usr/bin/env bash
# examples/echo_test.sh - the CTest example_echo: starts echo_server on a
# socket path in a temporary directory, waits for its "listening on" line
# (no sleeps), runs echo_client against it with the right and a wrong key,
# stops the server with SIGTERM and checks it exited 0 and removed the
# socket file.
#
# Usage: examples/echo_test.sh <echo_server> <echo_client>
set -euo pipefail

server=$1
client=$2
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mp-echo.XXXXXX")
pid=
cleanup() {
    if [ -n "$pid" ]; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

sock=$tmp/echo.sock
mkfifo "$tmp/ready"
"$server" "$sock" s3cret >"$tmp/ready" &
pid=$!
read -r line <"$tmp/ready"
if [ "$line" != "listening on $sock" ]; then
    echo "echo_test: unexpected first line: $line" >&2
    exit 1
fi

out=$("$client" "$sock" -k s3cret hello "two words" "")
expected=$(printf 'hello\ntwo words\n')
if [ "$out" != "$expected" ]; then
    echo "echo_test: wrong replies: $out" >&2
    exit 1
fi
echo "replies ok"

if "$client" "$sock" -k wrong hello 2>"$tmp/err"; then
    echo "echo_test: a wrong key was accepted" >&2
    exit 1
fi
grep -q "authentication failed" "$tmp/err"
echo "wrong key refused"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
if [ "$status" -ne 0 ]; then
    echo "echo_test: echo_server exited with $status" >&2
    exit 1
fi
if [ -e "$sock" ]; then
    echo "echo_test: the socket file was left behind" >&2
    exit 1
fi
echo "server stopped"
