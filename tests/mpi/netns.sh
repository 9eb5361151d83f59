#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mpi/netns.sh - the distributed pool across hosts on one machine:
# each "host" is a network namespace with its own address on a bridge
# (veth pairs, addresses inside the namespaces only) and its own host name
# (a UTS namespace); mpiexec's remote agent enters a host's namespaces
# instead of ssh, so the ranks reach each other over TCP only, as on
# separate machines. Runs test_mpi_pool with one rank per host (3 hosts),
# then test_mpi_pool --stop-rank (the rank on the second host stops
# answering: the parent's heartbeat must end the job naming that host),
# then test_mpi_pool --link-down (the second host's network goes away:
# the same, and the job must end, not hang).
# Needs root and `ip netns`; where they are missing it says so and exits
# 77 (skipped).
#
# Usage: tests/mpi/netns.sh <test_mpi_pool> <mpiexec>
set -uo pipefail
prog=$1
mpiexec=$2

skip() {
    echo "mpi_pool_netns: skipped: $*"
    exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null || skip "no ip (iproute2)"
command -v unshare >/dev/null || skip "no unshare (util-linux)"

tag=m$$
dir=$(mktemp -d)
bridge=b$tag
hosts=()
cleanup() {
    for h in "${hosts[@]}"; do
        # A host cut off the network keeps its daemon and rank: end them.
        ip netns pids "$h" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$h" 2>/dev/null
    done
    ip link del "$bridge" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT

# A /24 of 10.x.y.0 that no interface here uses yet.
net=
for y in $(seq 80 120); do
    if ! ip -o addr show | grep -q " 10\.$y\.$((($$ % 200) + 20))\."; then
        net=10.$y.$((($$ % 200) + 20))
        break
    fi
done
[ -n "$net" ] || skip "no free address range"

ip link add "$bridge" type bridge || skip "cannot make a bridge"
ip addr add "$net.1/24" dev "$bridge"
ip link set "$bridge" up
: >"$dir/map"
: >"$dir/hostfile"
# add_host <i>: host h<tag>x<i>, a namespace at $net.<i> on the bridge.
add_host() {
    local i=$1 h=h${tag}x$1
    ip netns add "$h" || skip "cannot make a network namespace"
    hosts+=("$h")
    ip link add "v${tag}x$i" type veth peer name "p${tag}x$i"
    ip link set "p${tag}x$i" netns "$h"
    ip link set "v${tag}x$i" master "$bridge"
    ip link set "v${tag}x$i" up
    ip netns exec "$h" ip addr add "$net.$i/24" dev "p${tag}x$i"
    ip netns exec "$h" ip link set "p${tag}x$i" up
    ip netns exec "$h" ip link set lo up
}
for i in 2 3 4; do
    add_host "$i"
    echo "$net.$i h${tag}x$i" >>"$dir/map"
    echo "$net.$i slots=1" >>"$dir/hostfile"
done

# The remote agent: "agent <host> <command...>" runs the command in the
# host's network namespace, under a host name of its own.
cat >"$dir/agent" <<EOF
#!/bin/sh
host=\$1
shift
ns=\$(awk -v h="\$host" '\$1 == h { print \$2 }' "$dir/map")
[ -n "\$ns" ] || { echo "agent: unknown host \$host" >&2; exit 1; }
exec ip netns exec "\$ns" unshare --uts /bin/sh -c "hostname \$ns && \$*"
EOF
chmod +x "$dir/agent"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_plm_rsh_agent=$dir/agent
export OMPI_MCA_oob_tcp_if_include=$net.0/24
export OMPI_MCA_btl_tcp_if_include=$net.0/24
export OMPI_MCA_btl=tcp,self
run() {
    timeout 240 "$mpiexec" -hostfile "$dir/hostfile" "$@" 2>&1
}

echo "--- 3 hosts, one rank each"
out=$(run -n 3 "$prog")
echo "$out"
echo "$out" | grep -q "mpi_pool: all cases passed" ||
    { echo "mpi_pool_netns: FAIL: the suite across hosts"; exit 1; }
echo "$out" | grep -q "rank [12] on h${tag}x[34])" ||
    { echo "mpi_pool_netns: FAIL: an item's failure does not name its host"; exit 1; }

echo "--- the second host's rank stops answering"
out=$(run -n 2 "$prog" --stop-rank)
echo "$out"
echo "$out" | grep -q "worker rank 1 on h${tag}x3 (pid [0-9]*) sent nothing" ||
    { echo "mpi_pool_netns: FAIL: the heartbeat did not end the job naming the host"; exit 1; }
echo "--- the second host's network goes away (its link down)"
# The parent's heartbeat (3 s) names the host and calls MPI_Abort; the
# launcher (mpiexec) then has to give up on that host's daemon, which it
# does only once TCP says the connection is dead: with Linux's and Open
# MPI's defaults that takes many minutes (keepalive after 300 s idle, 9
# probes 20 s apart; 15 retransmissions of unanswered data). So mpiexec
# runs on a launch host of its own (a fourth namespace) whose TCP gives up
# after 3 retransmissions (net.ipv4.tcp_retries2, per namespace), with
# keepalive after 5 s and 3 probes 1 s apart, as a cluster that wants a
# lost node to end its job soon sets them (both are needed: measured, the
# job took 5 minutes with the retries alone). The job must end by itself,
# not hang: the run's own limit (SIGKILL after it) is only the guard
# against a hang (exit 124 or 137).
launcher=h${tag}x5
add_host 5
ip netns exec "$launcher" sysctl -q -w net.ipv4.tcp_retries2=3
out=$(OMPI_MCA_oob_tcp_keepalive_time=5 OMPI_MCA_oob_tcp_keepalive_intvl=1 \
    OMPI_MCA_oob_tcp_keepalive_probes=3 \
    ip netns exec "$launcher" timeout -k 5 90 "$mpiexec" \
    -hostfile "$dir/hostfile" -n 2 "$prog" --link-down 2>&1)
rc=$?
echo "$out"
[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] ||
    { echo "mpi_pool_netns: FAIL: the job hung after its host's network went away"; exit 1; }
echo "$out" | grep -q "worker rank 1 on h${tag}x3 (pid [0-9]*) sent nothing" ||
    { echo "mpi_pool_netns: FAIL: the heartbeat did not end the job naming the host whose network went away"; exit 1; }
echo "mpi_pool_netns: ok"
