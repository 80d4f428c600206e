#!/usr/bin/env bash
# Runs Redis's own test suite (the Tcl units of the redis-server version Debian ships, 7.0.15)
# against a fresh Shard-Cache node per unit, as an external server, and prints a table of
# passed / failed tests per unit. Not part of CI (it takes ~10 minutes and fetches the Redis
# source); a compatibility check to run by hand, and the way we found what the differential
# tests had missed.
#
#   bash tools/redis_suite.sh [unit ...]        # e.g. unit/type/list unit/multi
#
# Needs tclsh, and the Redis source: fetched once with apt's deb-src (into target/redis-src).
# Units are run with --singledb (the node has one database) and a fresh node each, so a unit
# that stops half-way (an unknown command ends a unit: streams, AOF) cannot spoil the next.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${SHARDCACHE_BIN:-$ROOT/target/release/shardcache}
SRC=$ROOT/target/redis-src
PORT=${PORT:-7777}
OUT=${OUT:-$ROOT/target/redis-suite}

if [ ! -d "$SRC/tests" ]; then
  command -v tclsh >/dev/null || apt-get install -y tcl
  mkdir -p "$SRC.fetch" && cd "$SRC.fetch"
  if ! ls redis_*.orig.tar.gz >/dev/null 2>&1; then
    list=/etc/apt/sources.list.d/shardcache-redis-src.sources
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$list"
    apt-get update -qq && apt-get source --download-only redis
    rm -f "$list" && apt-get update -qq
  fi
  tar xzf redis_*.orig.tar.gz && mv redis-*/ "$SRC"
  cd "$ROOT"
fi

units=("$@")
if [ ${#units[@]} -eq 0 ]; then
  # Every unit the suite lists, less modules and clusters of real redis-servers.
  mapfile -t units < <(sed -n '/set ::all_tests {/,/^}/p' "$SRC/tests/test_helper.tcl" |
    grep -o 'unit/[^ ]*' | grep -v 'unit/moduleapi\|unit/cluster/')
fi
mkdir -p "$OUT"
printf '%-28s %6s %6s  %s\n' unit passed failed "stopped by"
for u in "${units[@]}"; do
  redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
  dir=$(mktemp -d)
  (cd "$dir" && exec "$BIN" server --port "$PORT" --loglevel warning >"$dir/log" 2>&1) &
  node=$!
  for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  log="$OUT/$(echo "$u" | tr / _).log"
  (cd "$SRC" && timeout 300 ./runtest --host 127.0.0.1 --port "$PORT" --singledb --clients 1 \
    --timeout 60 --single "$u" >"$log" 2>&1) || true
  kill -9 "$node" 2>/dev/null || true
  wait "$node" 2>/dev/null || true
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  ok=$(grep -c '^\[ok\]' <<<"$plain" || true)
  err=$(grep -c '^\[err\]' <<<"$plain" || true)
  why=$(grep -A1 '^\[exception\]' <<<"$plain" | tail -1 | cut -c1-60 || true)
  grep -q '^\[TIMEOUT\]' <<<"$plain" && why="timeout: $(grep -A1 '^\[TIMEOUT\]' <<<"$plain" | tail -1 | cut -c1-50)"
  printf '%-28s %6s %6s  %s\n' "$u" "$ok" "$err" "$why"
done
