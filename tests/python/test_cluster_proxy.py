"""The cluster-aware proxy (`shardcache proxy --cluster`): redis-py's plain `Redis` client
(no cluster support) against a 3-node `shardcache dev` cluster through the proxy.

Faults injected: slots moved between nodes while clients read through the proxy (MOVED/ASK
followed by the proxy); a node killed (errors only for its keys).
"""
import os
import signal
import subprocess
import threading
import time

import pytest
import redis

from helpers import BIN, free_base, free_port, start_dev, wait_for, wait_port


def node_of(base, key):
    r = redis.Redis(port=base)
    slot = r.execute_command("CLUSTER KEYSLOT", key)
    for start, end, primary, *_ in r.execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            return primary[1]


@pytest.fixture(scope="module")
def cluster():
    base = free_base(3)
    dev = start_dev(base, 3, "--grpc-base-port", "0")
    port, admin = free_port(), free_port()
    proxy = subprocess.Popen(
        [BIN, "proxy", "--cluster", f"127.0.0.1:{base}", "--listen", f"127.0.0.1:{port}",
         "--admin-port", str(admin)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proxy, "proxy")
    yield base, port, admin, dev
    proxy.send_signal(signal.SIGINT)
    assert proxy.wait(timeout=20) == 0
    dev.send_signal(signal.SIGINT)
    dev.wait(timeout=20)


def metric(admin, name):
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith(f"shardcache_proxy_cluster_{name} "):
            return int(line.split()[1])
    raise AssertionError(name)


def test_cross_slot_multi_key_commands_through_a_plain_client(cluster):
    base, port, admin, _ = cluster
    r = redis.Redis(port=port, decode_responses=True)
    keys = [f"user:{i}" for i in range(1000)]
    assert r.mset({k: f"v{i}" for i, k in enumerate(keys)})
    # Really spread over the three nodes.
    per_node = {p: 0 for p in (base, base + 1, base + 2)}
    for k in keys[:300]:
        per_node[node_of(base, k)] += 1
    assert all(n > 50 for n in per_node.values()), per_node
    got = r.mget(keys + ["user:missing"])
    assert got[:1000] == [f"v{i}" for i in range(1000)] and got[1000] is None
    assert r.exists(*keys[:100], "nope") == 100
    assert r.touch(*keys[:10]) == 10
    assert r.dbsize() >= 1000
    assert r.delete(*keys[:500]) == 500
    assert r.unlink(*keys[500:], "nope") == 500
    assert r.mget(keys[:3]) == [None, None, None]
    assert metric(admin, "split_commands_total") >= 6
    # All-or-nothing commands still need one slot; with a hash tag they work.
    with pytest.raises(redis.ResponseError, match="same slot"):
        r.msetnx({"a": 1, "b": 2})
    assert r.msetnx({"{t}a": 1, "{t}b": 2})
    with pytest.raises(redis.ResponseError, match="same slot"):
        r.sunionstore("x", "y", "z")
    # Single-key commands of every kind, pipelined.
    p = r.pipeline(transaction=False)
    for i in range(200):
        p.hset(f"h:{i}", "f", i)
        p.lpush(f"l:{i}", i)
        p.incr(f"n:{i}")
    p.execute()
    assert r.hget("h:7", "f") == "7" and r.lrange("l:9", 0, -1) == ["9"] and r.get("n:3") == "1"
    assert r.eval("return redis.call('get', KEYS[1])", 1, "n:5") == "1"
    # SCAN walks every node.
    seen = set(r.scan_iter(match="h:*", count=100))
    assert seen == {f"h:{i}" for i in range(200)}
    # Refused with the reason: transactions, blocking commands.
    with pytest.raises(redis.ResponseError, match="transactions"):
        r.execute_command("MULTI")
    with pytest.raises(redis.ResponseError, match="blocking"):
        r.blpop("l:1", 1)
    # RESP3 clients get RESP3 shapes.
    r3 = redis.Redis(port=port, protocol=3, decode_responses=True)
    assert r3.hgetall("h:1") == {"f": "1"}


def test_slots_moving_under_reads_are_followed(cluster):
    base, port, admin, _ = cluster
    r = redis.Redis(port=port, decode_responses=True)
    # Keys of the slots that will move: a third of node 1's ranges.
    ids = [redis.Redis(port=base + i).execute_command("CLUSTER MYID").decode() for i in range(3)]
    mine = [s for s in redis.Redis(port=base).execute_command("CLUSTER SLOTS") if s[2][1] == base]
    ranges = [(s[0], s[1]) for s in mine[:max(1, len(mine) // 3)]]
    moving = {slot for a, b in ranges for slot in range(a, b + 1)}
    spec = ",".join(f"{a}-{b}" for a, b in ranges)
    probe = redis.Redis(port=base).pipeline(transaction=False)
    candidates = [f"mv:{i}" for i in range(20000)]
    for k in candidates:
        probe.execute_command("CLUSTER KEYSLOT", k)
    keys = [k for k, slot in zip(candidates, probe.execute()) if slot in moving][:500]
    assert len(keys) == 500
    r.mset({k: k for k in keys})
    errors, rounds, stop = [], [0], threading.Event()

    def reader():
        c = redis.Redis(port=port, decode_responses=True)
        while not stop.is_set():
            try:
                got = c.mget(keys)
                if got != keys:
                    errors.append("mismatch")
                rounds[0] += 1
            except redis.RedisError as e:
                errors.append(str(e))

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    moved_before = metric(admin, "moved_total") + metric(admin, "ask_total")
    # Move them to node 2, then back.
    for target in (ids[1], ids[0]):
        out = subprocess.run([BIN, "cluster", "move-slots", "--slots", spec, "--to",
                              target, "--via", f"127.0.0.1:{base}"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    assert rounds[0] > 10
    assert metric(admin, "moved_total") + metric(admin, "ask_total") > moved_before


def test_a_dead_node_fails_only_its_own_keys(cluster):
    base, port, _, dev = cluster
    r = redis.Redis(port=port, decode_responses=True, socket_timeout=10)
    keys = [f"d:{i}" for i in range(300)]
    r.mset({k: k for k in keys})
    owners = {k: node_of(base, k) for k in keys}
    victim = base + 2
    pid = int(subprocess.run(["redis-cli", "-p", str(victim), "INFO", "server"], capture_output=True,
                             text=True).stdout.split("process_id:")[1].split()[0])
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)
    # Each request for the dead node's keys waits out a possible failover (2 s) first.
    for k in [k for k in keys if owners[k] == victim][:3]:
        with pytest.raises(redis.RedisError, match="no node answered"):
            r.get(k)
    for k in [k for k in keys if owners[k] != victim][:50]:
        assert r.get(k) == k
    # A split MGET that touches the dead node fails as a whole (never a silent partial).
    with pytest.raises(redis.RedisError):
        r.mget(keys)
    alive = [k for k in keys if owners[k] != victim]
    assert r.mget(alive) == alive
