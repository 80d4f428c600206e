"""gRPC CacheService latency and throughput on a 3-node `shardcache dev` cluster, against
the seed's targets (P50 < 1 ms, P99 < 10 ms), with the RESP path of the same cluster
(redis-benchmark --cluster GET/SET) beside it for reference. The load client is
`crates/grpc/examples/grpc_load.rs` (tonic, 4 HTTP/2 channels, N concurrent callers; latency
measured per call on the client). Server CPU per call is the three nodes' CPU time divided
by calls (the gRPC service forwards keys owned elsewhere, so a call costs up to two nodes).

    cargo build --release -p shardcache -p grpc --examples
    python3 bench/grpc_vs_targets.py [--concurrency 32] [--seconds 5]
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import cpu_seconds  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "shardcache")
LOAD = os.path.join(ROOT, "target", "release", "examples", "grpc_load")


def node_pids(base, n):
    import redis
    return [int(redis.Redis(port=base + i).info("server")["process_id"]) for i in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--base", type=int, default=27400)
    a = ap.parse_args()
    dev = subprocess.Popen([BIN, "dev", "--nodes", "3", "--base-port", str(a.base), "--admin-base-port", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in dev.stdout:
        if line.startswith("Ctrl-C"):
            break
    try:
        pids = node_pids(a.base, 3)
        print(f"{'path':>10} {'op':>4} {'calls/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'cpu us/call':>12}")
        for op in ("set", "get"):
            before = sum(cpu_seconds(p) for p in pids)
            out = subprocess.run([LOAD, f"http://127.0.0.1:{a.base + 3000}", op, str(a.concurrency),
                                  str(a.seconds)], capture_output=True, text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            cpu = (sum(cpu_seconds(p) for p in pids) - before) * 1e6 / max(1, r["calls"])
            print(f"{'gRPC':>10} {op:>4} {r['ops_per_sec']:>10,.0f} {r['p50_us'] / 1000:>8.3f} "
                  f"{r['p99_us'] / 1000:>8.3f} {r['p999_us'] / 1000:>9.3f} {cpu:>12.1f}"
                  + ("" if r["errors"] == 0 else f"  errors={r['errors']}"))
        for op in ("set", "get"):
            out = subprocess.run(["redis-benchmark", "--cluster", "-p", str(a.base), "-t", op, "-c",
                                  str(a.concurrency), "-d", "32", "-r", "10000", "-n", "200000", "--csv"],
                                 capture_output=True, text=True, check=True).stdout
            row = [x.strip('"') for x in out.strip().splitlines()[-1].split(",")]
            print(f"{'RESP':>10} {op:>4} {float(row[1]):>10,.0f} {float(row[5]):>8.3f} {float(row[6]):>8.3f} "
                  f"{float(row[7]):>9.3f} {'':>12}")
        print("seed targets: P50 < 1 ms, P99 < 10 ms")
    finally:
        dev.send_signal(2)
        dev.wait(timeout=30)


if __name__ == "__main__":
    main()
