"""Cross-slot MGET of 100 keys: through the cluster-aware proxy (`shardcache proxy
--cluster`, a plain redis-py client) vs the same keys fetched by redis-py's RedisCluster
client (`mget_nonatomic`, which splits into per-node pipelines itself), against the same
3-node `shardcache dev` cluster. Also the proxy's single-key GET against RedisCluster's.
Both sides use redis-py, N client threads, for a fixed time; latency per call on the client.

    cargo build --release -p shardcache
    python3 bench/cross_slot_mget.py [--threads 8] [--seconds 5]
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

import redis
from redis.cluster import RedisCluster

sys.path.insert(0, os.path.dirname(__file__))
from common import cpu_seconds, free_port, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "shardcache")


def drive(make_client, call, threads, seconds):
    lat, stop = [], time.time() + seconds
    lock = threading.Lock()

    def worker():
        c = make_client()
        mine = []
        while time.time() < stop:
            t = time.perf_counter()
            call(c)
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    return len(lat) / seconds, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--base", type=int, default=27600)
    a = ap.parse_args()
    dev = subprocess.Popen([BIN, "dev", "--nodes", "3", "--base-port", str(a.base), "--admin-base-port", "0",
                            "--grpc-base-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in dev.stdout:
        if line.startswith("Ctrl-C"):
            break
    port = free_port()
    proxy = subprocess.Popen([BIN, "proxy", "--cluster", f"127.0.0.1:{a.base}", "--listen", f"127.0.0.1:{port}",
                              "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    try:
        keys = [f"user:{i}" for i in range(10000)]
        rc = RedisCluster(host="127.0.0.1", port=a.base)
        for i in range(0, len(keys), 500):
            rc.mset_nonatomic({k: "v" * 32 for k in keys[i:i + 500]})
        nodes = [int(redis.Redis(port=a.base + i).info("server")["process_id"]) for i in range(3)]
        batches = [keys[i:i + 100] for i in range(0, len(keys), 100)]
        counter = iter(range(10**12))

        def mget_proxy(c):
            b = batches[next(counter) % len(batches)]
            assert len(c.mget(b)) == 100

        def mget_cluster(c):
            b = batches[next(counter) % len(batches)]
            assert len(c.mget_nonatomic(b)) == 100

        def get_proxy(c):
            c.get(keys[next(counter) % len(keys)])

        print(f"{'test':>28} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'server cpu us/call':>19}")
        for name, make, call, pids in [
            ("MGET 100 via proxy", lambda: redis.Redis(port=port), mget_proxy, nodes + [proxy.pid]),
            ("MGET 100 via RedisCluster", lambda: RedisCluster(host="127.0.0.1", port=a.base), mget_cluster, nodes),
            ("GET via proxy", lambda: redis.Redis(port=port), get_proxy, nodes + [proxy.pid]),
            ("GET via RedisCluster", lambda: RedisCluster(host="127.0.0.1", port=a.base), get_proxy, nodes),
        ]:
            before = sum(cpu_seconds(p) for p in pids)
            rate, p50, p99 = drive(make, call, a.threads, a.seconds)
            cpu = (sum(cpu_seconds(p) for p in pids) - before) * 1e6 / (rate * a.seconds)
            print(f"{name:>28} {rate:>9,.0f} {p50:>8.3f} {p99:>8.3f} {cpu:>19.1f}")
    finally:
        proxy.send_signal(signal.SIGINT)
        proxy.wait(timeout=20)
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)


if __name__ == "__main__":
    main()
