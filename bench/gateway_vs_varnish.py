"""The HTTP gateway's hit path vs Varnish (Debian `varnish`), same upstream, same URLs, side
by side with `wrk` (2 threads, 32 connections, 1000 URLs all cached). The gateway caches in
a shared store (a 3-node `shardcache dev` cluster, and a single local node), optionally with a
near cache in its own memory (`--local-cache-size`, entries at most 1 s old); Varnish in its
own memory — reported every way. Server CPU per request counts every process of each side
(varnishd's; the gateway's and its cache nodes').

    apt-get install -y varnish wrk; cargo build --release -p shardcache
    python3 bench/gateway_vs_varnish.py [--seconds 10]
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from common import cpu_seconds, free_port, wait_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "shardcache")
URLS = 1000
BODY = b"x" * 512


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Cache-Control", "public, max-age=600")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)


WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/item/" .. math.fmod(counter, URLS))
end
""".replace("URLS", str(URLS))


def warm(port):
    for i in range(URLS):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/item/{i}").read()
    for i in range(URLS):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/item/{i}").read()


def wrk(port, seconds, script):
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", "-s", script,
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    return rps, pct(50), pct(99), out


def pids_of(proc):
    out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    return [proc.pid] + [int(p) for p in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    a = ap.parse_args()
    api = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    up = api.server_address[1]
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    script.write(WRK_SCRIPT)
    script.close()
    results = {}
    procs = []
    try:
        # Varnish, default VCL, the same upstream.
        vport = free_port()
        vdir = tempfile.mkdtemp(prefix="varnish-bench-")
        varnish = subprocess.Popen(["varnishd", "-j", "none", "-F", "-a", f"127.0.0.1:{vport}", "-b", f"127.0.0.1:{up}",
                                    "-s", "malloc,256m", "-n", vdir],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(varnish)
        wait_port(vport)
        # The gateway over a 3-node cluster.
        base = 27800
        dev = subprocess.Popen([BIN, "dev", "--nodes", "3", "--base-port", str(base), "--admin-base-port", "0",
                                "--grpc-base-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(dev)
        for line in dev.stdout:
            if line.startswith("Ctrl-C"):
                break
        import redis
        node_pids = [int(redis.Redis(port=base + i).info("server")["process_id"]) for i in range(3)]
        gport = free_port()
        gw = subprocess.Popen([BIN, "gateway", "--listen", f"127.0.0.1:{gport}", "--upstream", f"http://127.0.0.1:{up}",
                               "--cluster", f"127.0.0.1:{base}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(gw)
        wait_port(gport)
        # The gateway over one local node.
        nport = free_port()
        node = subprocess.Popen([BIN, "server", "--port", str(nport)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        procs.append(node)
        wait_port(nport)
        lport = free_port()
        gw1 = subprocess.Popen([BIN, "gateway", "--listen", f"127.0.0.1:{lport}", "--upstream", f"http://127.0.0.1:{up}"],
                               env={**os.environ, "CACHE_SHARD_URLS": f"redis://127.0.0.1:{nport}"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(gw1)
        wait_port(lport)
        # The gateway over the cluster with a near cache (64 MB, entries at most 1 s old).
        nearport = free_port()
        gwn = subprocess.Popen([BIN, "gateway", "--listen", f"127.0.0.1:{nearport}", "--upstream",
                                f"http://127.0.0.1:{up}", "--cluster", f"127.0.0.1:{base}",
                                "--local-cache-size", "64mb", "--local-cache-ttl-ms", "1000"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(gwn)
        wait_port(nearport)
        sides = {
            "varnish": (vport, lambda: pids_of(varnish)),
            "gateway+cluster+near 1s": (nearport, lambda: [gwn.pid] + node_pids),
            "gateway+3-node cluster": (gport, lambda: [gw.pid] + node_pids),
            "gateway+1 local node": (lport, lambda: [gw1.pid, node.pid]),
        }
        for _, (port, _) in sides.items():
            warm(port)
        for rnd in range(2):
            order = list(sides) if rnd == 0 else list(sides)[::-1]
            for name in order:
                port, pids = sides[name]
                ps = pids()
                before = sum(cpu_seconds(p) for p in ps)
                rps, p50, p99, _ = wrk(port, a.seconds, script.name)
                cpu = (sum(cpu_seconds(p) for p in ps) - before) * 1e6 / (rps * a.seconds)
                results.setdefault(name, []).append((rps, p50, p99, cpu))
        print(f"{'side':>26} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/req':>11} {'vs varnish':>11}")
        best = lambda rows: max(rows, key=lambda r: r[0])  # noqa: E731
        v = best(results["varnish"])[0]
        for name, rows in results.items():
            rps, p50, p99, cpu = best(rows)
            print(f"{name:>26} {rps:>9,.0f} {p50:>8.3f} {p99:>8.3f} {cpu:>11.1f} {rps / v:>10.2f}x")
        print("(best of 2 rounds each; hit path only: every URL cached before the runs)")
    finally:
        for p in procs[::-1]:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        api.shutdown()


if __name__ == "__main__":
    main()
