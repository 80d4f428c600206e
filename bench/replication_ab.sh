#!/bin/bash
# The cost of a replica on the primary, two builds interleaved in one run (steadier than
# two runs of bench/replication_vs_redis.py on this shared machine): for each build, a
# primary with one replica and a primary alone, all running at once; `redis-benchmark`
# SET rounds alternate between them; CPU per request from /proc/<pid>/stat.
#
# Usage: bash bench/replication_ab.sh OLD_BINARY NEW_BINARY [rounds=3]
set -euo pipefail
old=$1; new=$2; rounds=${3:-3}
dir=$(mktemp -d /tmp/repl-ab-XXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
start() { # binary port [replicaof-port]
  mkdir -p "$dir/$2"
  local extra=()
  [ -n "${3:-}" ] && extra=(--replicaof "127.0.0.1 $3")
  "$1" server --port "$2" --dir "$dir/$2" --loglevel warning "${extra[@]}" >/dev/null 2>&1 &
  pids+=($!)
}
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
# Fixed ports (check nothing else listens there first: a leftover node makes one fail).
declare -A pid_of replica_of
# old: 7210 (replica 7220), 7230 alone; new: 7240 (replica 7250), 7260 alone
start "$old" 7210; pid_of[7210]=${pids[-1]}
start "$old" 7230; pid_of[7230]=${pids[-1]}
start "$new" 7240; pid_of[7240]=${pids[-1]}
start "$new" 7260; pid_of[7260]=${pids[-1]}
sleep 0.5
start "$old" 7220 7210; pid_of[7220]=${pids[-1]}; replica_of[7210]=7220
start "$new" 7250 7240; pid_of[7250]=${pids[-1]}; replica_of[7240]=7250
sleep 2
run() { # port pipeline requests
  local p=$1 pl=$2 n=$3 r=${replica_of[$1]:-} t0 t1 r0=0 r1=0 ops
  t0=$(cpu "${pid_of[$p]}")
  [ -n "$r" ] && r0=$(cpu "${pid_of[$r]}")
  ops=$(redis-benchmark -p "$p" -t set -c 50 -d 32 -r 100000 -P "$pl" -n "$n" -q 2>&1 | tr '\r' '\n' | grep "requests per" | tail -1 | awk '{print $2}')
  t1=$(cpu "${pid_of[$p]}")
  [ -n "$r" ] && r1=$(cpu "${pid_of[$r]}")
  local build=old kind=alone
  [ "$p" -ge 7240 ] && build=new
  [ -n "$r" ] && kind=replica
  printf "%-3s %-7s P%-2s %10s ops/s  primary %.3f us/op  replica %.3f us/SET\n" \
    "$build" "$kind" "$pl" "$ops" "$(echo "($t1-$t0)*10000/$n" | bc -l)" "$(echo "($r1-$r0)*10000/$n" | bc -l)"
}
for pl in 16 1; do
  n=2000000; [ "$pl" = 1 ] && n=300000
  for _ in $(seq "$rounds"); do
    for p in 7230 7210 7260 7240; do run "$p" "$pl" "$n"; done
  done
done
