"""redis-py's RedisCluster against `shardcache dev`: discovery, routing, MOVED after a node joins.

The cluster is the real binary (SHARDCACHE_BIN, default target/debug/shardcache).
"""
import os
import socket
import subprocess
import time

import pytest
import redis
from redis.cluster import RedisCluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SHARDCACHE_BIN", os.path.join(ROOT, "target", "debug", "shardcache"))


def free(port):
    """Whether a server can listen on `port` (as our servers do, with SO_REUSEADDR: a port
    held only by connections in TIME-WAIT, which a busy machine has thousands of, is free)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_base(n):
    """A base port whose node (+i), admin (+1000+i) and bus (+10000+i) ports are free."""
    start = 21000 + (os.getpid() * 13) % 8000
    for base in range(start, start + 4000, 17):
        if all(free(base + i) and free(base + 1000 + i) and free(base + 10000 + i) for i in range(n)):
            return base
    raise RuntimeError("no free ports")


def cluster_ok(port, nodes):
    """CLUSTER INFO of one node (redis-py parses it into a dict) says ok with `nodes` nodes."""
    info = redis.Redis(port=port, decode_responses=True).execute_command("CLUSTER INFO")
    return info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == nodes


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.time() > deadline:
            raise AssertionError("never happened: " + what)
        time.sleep(0.05)


@pytest.fixture(scope="module")
def dev():
    base = free_base(4)
    proc = subprocess.Popen(
        [BIN, "dev", "--nodes", "3", "--base-port", str(base), "--threads", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = ""
    for line in proc.stdout:
        seen += line
        if line.startswith("Ctrl-C"):
            break
    assert "a 3-node cluster is up" in seen, seen
    yield base
    proc.send_signal(2)
    assert proc.wait(timeout=20) == 0


def test_routes_20k_keys_and_follows_moved_after_a_join(dev):
    rc = RedisCluster(host="127.0.0.1", port=dev, decode_responses=True)
    assert len(rc.get_primaries()) == 3
    n = 20000
    for i in range(n):
        assert rc.set(f"key:{i}", i)
    for i in range(n):
        assert rc.get(f"key:{i}") == str(i)
    sizes = [redis.Redis(port=dev + i).dbsize() for i in range(3)]
    assert sum(sizes) == n
    assert all(abs(s - n / 3) < 600 for s in sizes), sizes
    # Hash tags keep related keys on one node; multi-key commands need them.
    assert rc.mset({"{u1}.name": "ann", "{u1}.mail": "a@x"})
    assert rc.mget("{u1}.name", "{u1}.mail") == ["ann", "a@x"]

    # A fourth node joins; the same client follows MOVED, moved slots start cold.
    fourth = subprocess.Popen(
        [BIN, "server", "--cluster-enabled", "--threads", "1", "--port", str(dev + 3),
         "--join", f"127.0.0.1:{dev}", "--loglevel", "warning"], stderr=subprocess.DEVNULL)
    try:
        wait_for("four nodes", lambda: all(cluster_ok(dev + i, 4) for i in range(4)))
        cold = 0
        for i in range(n):
            v = rc.get(f"key:{i}")
            if v is None:
                cold += 1
            else:
                assert v == str(i)
        assert 0.20 <= cold / n <= 0.30, cold
        for i in range(0, n, 5):
            assert rc.set(f"key:{i}", -i)
            assert rc.get(f"key:{i}") == str(-i)
        assert redis.Redis(port=dev + 3).dbsize() > 0
    finally:
        fourth.terminate()
        fourth.wait(timeout=15)
