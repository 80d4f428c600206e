"""Helpers shared by the Python client tests: the binary under test and port handling."""
import os
import socket
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("SHARDCACHE_BIN", os.path.join(ROOT, "target", "debug", "shardcache"))


_HANDED_OUT = set()


def free_port():
    """A free port below Linux's ephemeral range (32768-60999) and below free_base's ports: a
    port the kernel picks for us (bind to 0) is an ephemeral one, which another test's
    outgoing connection can take between this check and the server binding it. Never the
    same port twice in one test run."""
    import random
    rng = random.Random(os.getpid() * 7919 + len(_HANDED_OUT))
    for _ in range(2000):
        port = rng.randrange(4000, 9900)
        if port in _HANDED_OUT or port == 6379 or 7000 <= port < 8000:
            continue
        if free(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no free ports")


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
    """A base port whose node (+i), admin (+1000+i), TLS (+2000+i), gRPC (+3000+i) and bus
    (+10000+i) ports are free. All of them lie below 32768, where Linux's ephemeral ports
    (ip_local_port_range 32768-60999) start: an outgoing connection of a busy test cannot take a
    bus port between this check and the node binding it."""
    start = 10000 + (os.getpid() * 13) % 8000
    for base in range(start, start + 4000, 17):
        if all(free(base + i) and free(base + 1000 + i) and free(base + 2000 + i) and free(base + 3000 + i)
               and free(base + 10000 + i) for i in range(n)):
            return base
    raise RuntimeError("no free ports")


def start_dev(base, nodes, *extra, stdin=None):
    """`shardcache dev --nodes N` on `base` (`extra`: more dev options, or node options after
    "--"), returned once it says the cluster is up."""
    proc = subprocess.Popen(
        [BIN, "dev", "--nodes", str(nodes), "--base-port", str(base), "--threads", "1", *extra],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen = ""
    for line in proc.stdout:
        seen += line
        if line.startswith("Ctrl-C"):
            break
    assert f"a {nodes}-node cluster is up" in seen, seen
    return proc


def wait_for(what, check, timeout=30):
    """Polls `check` until it is true (a Redis error counts as not yet); fails after `timeout` s."""
    import redis
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


def cluster_settled(port, nodes):
    """CLUSTER INFO of one node says ok, with `nodes` nodes and no slot moving."""
    import redis
    info = redis.Redis(port=port, decode_responses=True).execute_command("CLUSTER INFO")
    return (
        info["cluster_state"] == "ok"
        and int(info["cluster_known_nodes"]) == nodes
        and int(info.get("cluster_slots_moving", 0)) == 0
    )
