"""Alerts raised by real conditions on real processes reach a webhook (a test HTTP server):
memory past 85% of maxmemory on a node filled with data, and a node of a 3-node dev cluster
stopped (its peers report it down).
"""
import http.server
import json
import queue
import signal
import subprocess
import tempfile
import threading
import time

import redis

from helpers import BIN, free_base, free_port, start_dev, wait_port


def webhook():
    """A test HTTP server that queues the JSON bodies POSTed to it."""
    events = queue.Queue()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            events.put(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", events, server


def wait_for(events, predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            e = events.get(timeout=max(0.1, deadline - time.time()))
        except queue.Empty:
            break
        if predicate(e):
            return e
    raise AssertionError("no matching alert reached the webhook")


def test_memory_alert_from_a_filled_node():
    url, events, server = webhook()
    port = free_port()
    proc = subprocess.Popen(
        [BIN, "server", "--port", str(port), "--dir", tempfile.mkdtemp(), "--maxmemory", "24mb",
         "--maxmemory-policy", "allkeys-lru", "--metrics-interval-ms", "200", "--alert-webhook", url],
        stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        r = redis.Redis(port=port)
        value = b"x" * 1000
        with r.pipeline(transaction=False) as p:
            for i in range(30000):
                p.set(f"fill:{i}", value)
                if i % 1000 == 999:
                    p.execute()
            p.execute()
        e = wait_for(events, lambda e: e["state"] == "firing" and e["alert"]["name"] == "memory")
        assert e["alert"]["value"] > 85, e
        r.flushall()
        wait_for(events, lambda e: e["state"] == "resolved" and e["alert"]["name"] == "memory")
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        server.shutdown()


def test_node_down_alert_from_a_stopped_cluster_node():
    url, events, server = webhook()
    base = free_base(3)
    dev = start_dev(base, 3, "--admin-base-port", "0", "--", "--metrics-interval-ms", "200",
                    "--alert-node-down-minutes", "0.02", "--alert-webhook", url)
    try:
        victim = subprocess.run(["pgrep", "-f", "--", f"--port {base + 2} "], capture_output=True, text=True)
        pids = [int(p) for p in victim.stdout.split()]
        assert pids, "node process not found"
        for pid in pids:
            subprocess.run(["kill", "-STOP", str(pid)])
        e = wait_for(events, lambda e: e["state"] == "firing" and e["alert"]["name"].startswith("node_down"))
        assert f":{base + 2}" in e["alert"]["message"], e
        for pid in pids:
            subprocess.run(["kill", "-CONT", str(pid)])
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)
        server.shutdown()
