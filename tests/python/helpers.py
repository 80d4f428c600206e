"""Helpers shared by the Python client tests: the binary under test and port handling."""
import os
import socket
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SHARDCACHE_BIN", os.path.join(ROOT, "target", "debug", "shardcache"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what="shardcache"):
    """Waits until something accepts on `port`; kills `proc` and fails after 10 s."""
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.02)
