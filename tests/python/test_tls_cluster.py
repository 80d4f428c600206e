"""A cluster with nothing in the clear (`--port 0 --tls-port --tls-cluster --tls-replication`):
clients over TLS (redis-py's cluster client), the cluster bus as mutual TLS (a plaintext or
certificate-less peer is refused), slot moves that carry their keys over TLS when a member
joins, and replicas that follow their primaries on the primaries' TLS ports.

Faults injected: a plaintext and a certificate-less connection to the bus.
"""
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import redis
from redis.cluster import RedisCluster

from helpers import BIN, cluster_settled, free_base, start_dev, wait_for, wait_port
from test_tls import certs


def tls_node(port, files, work, join=None):
    args = [BIN, "server", "--cluster-enabled", "--port", "0", "--tls-port", str(port),
            "--tls-cert-file", files["cert"], "--tls-key-file", files["key"],
            "--tls-ca-cert-file", files["ca"], "--tls-cluster", "--tls-replication",
            "--requirepass", "pw", "--threads", "1", "--dir", os.path.join(work, f"n{port}")]
    if join:
        args += ["--join", f"127.0.0.1:{join}"]
    proc = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def tls_client(port, files):
    return redis.Redis(port=port, ssl=True, ssl_ca_certs=files["ca"], ssl_certfile=files["cert"],
                       ssl_keyfile=files["key"], password="pw", decode_responses=True)


def settled(port, files, nodes):
    info = tls_client(port, files).execute_command("CLUSTER INFO")
    return (info["cluster_state"] == "ok" and int(info["cluster_known_nodes"]) == nodes
            and int(info.get("cluster_slots_moving", 0)) == 0)


def test_tls_only_cluster_moves_keys_and_refuses_plaintext_on_the_bus():
    base = free_base(4)
    work = tempfile.mkdtemp()
    files = certs(os.path.join(work, "tls"))
    procs = [tls_node(base, files, work)]
    try:
        procs += [tls_node(base + i, files, work, join=base) for i in (1, 2)]
        wait_for("three TLS-only members", lambda: settled(base, files, 3))
        rc = RedisCluster(host="127.0.0.1", port=base, ssl=True, ssl_ca_certs=files["ca"],
                          ssl_certfile=files["cert"], ssl_keyfile=files["key"], password="pw",
                          decode_responses=True)
        keys = {f"tls:{i}": str(i) for i in range(600)}
        for k, v in keys.items():
            rc.set(k, v)
        # No plaintext client port: a plain Redis client gets nowhere on the TLS port.
        try:
            redis.Redis(port=base, socket_timeout=2).ping()
            raise AssertionError("a plaintext PING was answered on the TLS port")
        except redis.RedisError:
            pass
        # A fourth member joins through the seed's TLS port; slots move to it with their keys,
        # over TLS.
        procs.append(tls_node(base + 3, files, work, join=base))
        wait_for("the fourth member took its slots",
                 lambda: settled(base, files, 4) and tls_client(base + 3, files).dbsize() > 50,
                 timeout=60)
        # Moved slots' keys leave their old owner slot by slot, just after the move.
        wait_for("every key on exactly one member",
                 lambda: sum(tls_client(base + i, files).dbsize() for i in range(4)) == len(keys))
        rc = RedisCluster(host="127.0.0.1", port=base + 3, ssl=True, ssl_ca_certs=files["ca"],
                          ssl_certfile=files["cert"], ssl_keyfile=files["key"], password="pw",
                          decode_responses=True)
        assert [rc.get(k) for k in keys] == list(keys.values())

        bus = base + 10000
        # A peer speaking plaintext: the bus answers with a TLS alert and closes.
        with socket.create_connection(("127.0.0.1", bus), timeout=5) as s:
            s.sendall(b"\x00\x00\x00\x10" + b"{" * 16)
            got = s.recv(100)
            assert not got or got[0] == 0x15, got  # 0x15: a TLS alert record
        # A TLS peer without a certificate from the cluster's CA is refused in the handshake.
        ctx = ssl.create_default_context(cafile=files["ca"])
        ctx.check_hostname = False
        refused = False
        try:
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", bus), timeout=5),
                                 server_hostname="localhost") as t:
                t.sendall(b"x" * 40)
                refused = t.recv(100) == b""
        except (ssl.SSLError, ConnectionError):
            refused = True
        assert refused
        # ... and the cluster is unaffected.
        assert settled(base, files, 4)
        # The operator's CLI reaches TLS-only nodes with redis-cli's flags.
        tls_flags = ["--tls", "--cacert", files["ca"], "--cert", files["cert"], "--key", files["key"]]
        out = subprocess.run([BIN, "cluster", "status", f"127.0.0.1:{base}", "--password", "pw",
                              *tls_flags], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        for i in range(4):
            assert f"127.0.0.1:{base + i}" in out.stdout, out.stdout
        out = subprocess.run([BIN, "cluster", "check", f"127.0.0.1:{base + 2}", "--password", "pw",
                              *tls_flags], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr
        # Without --tls it gets nowhere (no plaintext port), and says so.
        out = subprocess.run([BIN, "cluster", "status", f"127.0.0.1:{base}", "--password", "pw"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)


def test_dev_tls_replicas_follow_their_primaries_over_tls():
    """`shardcache dev --tls --replicas 1`: each replica's link goes to its primary's TLS
    port, carries writes, and CLUSTER FAILOVER (which calls the primary) works over TLS."""
    base = free_base(4)
    work = tempfile.mkdtemp()
    dev = start_dev(base, 4, "--tls", "--replicas", "1", "--dir", work, "--grpc-base-port", "0")
    try:
        plain = [redis.Redis(port=base + i, decode_responses=True) for i in range(4)]
        wait_for("settled", lambda: cluster_settled(base, 4))
        replicas = [i for i in range(4) if plain[i].info("replication")["role"] == "slave"]
        assert len(replicas) == 2
        for i in replicas:
            info = plain[i].info("replication")
            assert info["master_port"] - base - 2000 in range(4), info
            wait_for("link up", lambda: plain[i].info("replication")["master_link_status"] == "up")
            primary = info["master_port"] - 2000
            r = redis.Redis(port=primary, decode_responses=True)
            slot_key = set_on(r, "over-tls")
            r.wait(1, 2000)
            replica = redis.Redis(port=base + i, decode_responses=True)
            replica.execute_command("READONLY")
            assert replica.get(slot_key) == "over-tls"
        i = replicas[0]
        assert plain[i].execute_command("CLUSTER FAILOVER")
        wait_for("promoted", lambda: plain[i].info("replication")["role"] == "master")
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(timeout=30)


def set_on(r, value):
    """SETs a key that node `r` owns (others answer MOVED) to `value`; answers the key."""
    for n in range(10000):
        try:
            r.set(f"k{n}", value)
            return f"k{n}"
        except redis.ResponseError:
            continue
    raise AssertionError("the node owns no slot")
