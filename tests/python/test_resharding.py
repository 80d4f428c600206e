"""Online resharding with real processes: a 3-node `shardcache dev` cluster holding 200k keys
under a 50-client read/write load (redis-py RedisCluster, one per thread) gets a 4th node
(`shardcache cluster add-node`), then one node is drained and removed (`shardcache cluster
remove-node`): no error reaches the application, no read of an existing key misses, every
acknowledged write is there afterwards, about a quarter of the keys moved to the new node,
and `redis-cli --cluster check` is OK before and after. `redis-cli --cluster reshard` gets
an error naming the command to use instead.
"""
import random
import subprocess
import tempfile
import threading
import time

import redis
from redis.cluster import RedisCluster

from helpers import BIN, cluster_settled, free_base, start_dev, wait_for

KEYS = 200_000
CLIENTS = 50


def settled(ports, nodes):
    return all(cluster_settled(p, nodes) for p in ports)


def cli(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def cluster_check(port):
    out = subprocess.run(["redis-cli", "--cluster", "check", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "[OK] All 16384 slots covered." in out, out
    assert "[OK] All nodes agree about slots configuration." in out, out


class Load:
    """CLIENTS threads, each with its own RedisCluster: reads of loaded keys (which must never
    miss) and writes of their own keys (each acknowledged value remembered)."""

    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.errors = []
        self.misses = []
        self.acked = {}
        self.ops = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(t,)) for t in range(CLIENTS)]

    def run(self, t):
        rc = RedisCluster(host="127.0.0.1", port=self.port, decode_responses=True)
        rng = random.Random(t)
        n = 0
        while not self.stop.is_set():
            try:
                i = rng.randrange(KEYS)
                v = rc.get(f"key:{i}")
                if v != str(i):
                    with self.lock:
                        self.misses.append((f"key:{i}", v))
                key = f"w:{t}:{n % 200}"
                rc.set(key, n)
                with self.lock:
                    self.acked[key] = str(n)
                    self.ops += 2
            except redis.RedisError as e:
                with self.lock:
                    self.errors.append(repr(e))
            n += 1
        rc.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def test_add_then_drain_a_node_under_load_loses_nothing_and_shows_no_error():
    base = free_base(3)
    proc = start_dev(base, 3)
    fourth = None
    try:
        ports = [base, base + 1, base + 2]
        rc = RedisCluster(host="127.0.0.1", port=base, decode_responses=True)
        pipe = rc.pipeline(transaction=False)
        for i in range(KEYS):
            pipe.set(f"key:{i}", i)
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
        assert sum(redis.Redis(port=p).dbsize() for p in ports) == KEYS
        cluster_check(base)

        # redis-cli's own resharding is refused with the command to use instead.
        ids = {p: redis.Redis(port=p, decode_responses=True).execute_command("CLUSTER MYID")
               for p in ports}
        out = subprocess.run(
            ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{base}", "--cluster-from",
             ids[base], "--cluster-to", ids[base + 1], "--cluster-slots", "10",
             "--cluster-yes"], capture_output=True, text=True, timeout=60)
        assert "CLUSTER MOVESLOTS" in out.stdout + out.stderr, out.stdout + out.stderr
        assert settled(ports, 3)
        assert sum(redis.Redis(port=p).dbsize() for p in ports) == KEYS

        with Load(base) as load:
            time.sleep(1)
            # Scale out: a 4th node, started on standby and added with the CLI. Its port is
            # picked now, not with the base: a parallel test may have taken base + 3 meanwhile.
            port4 = free_base(1)
            fourth = subprocess.Popen(
                [BIN, "server", "--cluster-enabled", "--standby", "--threads", "1",
                 "--port", str(port4), "--dir", tempfile.mkdtemp(), "--loglevel", "warning"],
                stderr=subprocess.DEVNULL)
            wait_for("the 4th node listens", lambda: redis.Redis(port=port4).ping(), timeout=60)
            started = time.time()
            r = cli("cluster", "add-node", f"127.0.0.1:{port4}", "--to", f"127.0.0.1:{base}")
            assert r.returncode == 0, r.stdout + r.stderr
            all4 = ports + [port4]
            wait_for("the 4th node filled", lambda: settled(all4, 4), timeout=120)
            added_in = time.time() - started
            moved = redis.Redis(port=port4).dbsize()
            # Scale in: drain the first node and remove it.
            started = time.time()
            r = cli("cluster", "remove-node", f"127.0.0.1:{base}", "--from",
                    f"127.0.0.1:{base + 1}")
            assert r.returncode == 0, r.stdout + r.stderr
            assert "drained and removed" in r.stdout, r.stdout + r.stderr
            rest = [base + 1, base + 2, port4]
            wait_for("three again", lambda: settled(rest, 3), timeout=120)
            drained_in = time.time() - started
            time.sleep(1)
        print(f"\nadd-node: {moved} keys moved in {added_in:.1f} s; drain: {drained_in:.1f} s; "
              f"{load.ops} client ops, {len(load.errors)} errors, {len(load.misses)} misses")
        assert load.errors == [], load.errors[:5]
        assert load.misses == [], load.misses[:5]
        assert load.ops > 1000
        assert 0.20 <= moved / KEYS <= 0.32, moved

        # Nothing lost: every loaded key and every acknowledged write, each on one node.
        rc2 = RedisCluster(host="127.0.0.1", port=base + 1, decode_responses=True)
        pipe = rc2.pipeline(transaction=False)
        for i in range(KEYS):
            pipe.get(f"key:{i}")
        values = pipe.execute()
        assert values == [str(i) for i in range(KEYS)]
        for k, v in load.acked.items():
            assert rc2.get(k) == v, k
        wait_for("each key on one node", lambda: sum(
            redis.Redis(port=p).dbsize() for p in rest) == KEYS + len(load.acked), timeout=60)
        cluster_check(base + 1)
    finally:
        if fourth:
            fourth.terminate()
            fourth.wait(timeout=15)
        proc.send_signal(2)
        proc.wait(timeout=30)
