"""The gRPC front door (`--grpc-port`): a Python grpcio client generated from the shipped
proto/cache.proto, against a 3-node `shardcache dev` cluster and a standalone node.

Faults injected: CLIENT PAUSE on a node (requests stay in flight) for load shedding and
deadlines.
"""
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
import redis
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from helpers import BIN, ROOT, free_base, free_port, start_dev, wait_port


def generated():
    """cache_pb2 and cache_pb2_grpc, generated from the shipped .proto with grpcio-tools."""
    out = tempfile.mkdtemp(prefix="grpc-stubs-")
    from grpc_tools import protoc
    import grpc_tools
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    rc = protoc.main([
        "protoc", f"-I{ROOT}/proto", f"-I{include}", f"--python_out={out}",
        f"--grpc_python_out={out}", f"{ROOT}/proto/cache.proto"])
    assert rc == 0
    sys.path.insert(0, out)
    import cache_pb2, cache_pb2_grpc  # noqa: E401
    return cache_pb2, cache_pb2_grpc


pb, pb_grpc = generated()


@pytest.fixture(scope="module")
def dev():
    base = free_base(3)
    proc = start_dev(base, 3)
    yield base
    proc.send_signal(2)
    assert proc.wait(timeout=20) == 0


def stub(port, **kw):
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return pb_grpc.CacheServiceStub(channel), channel


def owner_port(base, key):
    """The client port of the node that owns `key` (asked from the cluster, not computed)."""
    r = redis.Redis(port=base)
    slot = r.execute_command("CLUSTER KEYSLOT", key)
    for start, end, primary, *_ in r.execute_command("CLUSTER SLOTS"):
        if start <= slot <= end:
            return primary[1]
    raise AssertionError("no owner")


def test_every_node_serves_every_key_without_redirects(dev):
    stubs = [stub(dev + 3000 + i)[0] for i in range(3)]
    keys = [f"grpc:{i}" for i in range(300)]
    for i, k in enumerate(keys):
        assert stubs[i % 3].Set(pb.SetRequest(key=k, value=f"v{i}".encode())).stored
    for i, k in enumerate(keys):
        got = stubs[(i + 1) % 3].Get(pb.GetRequest(key=k))
        assert got.found and got.value == f"v{i}".encode()
        assert not got.HasField("ttl")
    # The values really live on their owners (Redis Cluster placement).
    owners = {owner_port(dev, k) for k in keys}
    assert owners == {dev, dev + 1, dev + 2}
    for k in keys[:30]:
        assert redis.Redis(port=owner_port(dev, k)).get(k) is not None
    # TTLs, conditions, delete.
    s = stubs[0]
    assert s.Set(pb.SetRequest(key="grpc:ttl", value=b"x", ttl=Duration(seconds=100))).stored
    got = stubs[2].Get(pb.GetRequest(key="grpc:ttl"))
    assert got.found and 98 <= got.ttl.seconds <= 100
    assert 99000 <= redis.Redis(port=owner_port(dev, "grpc:ttl")).pttl("grpc:ttl") <= 100000
    assert not s.Set(pb.SetRequest(key="grpc:ttl", value=b"y", condition=pb.IF_ABSENT)).stored
    assert s.Set(pb.SetRequest(key="grpc:ttl", value=b"y", condition=pb.IF_PRESENT)).stored
    assert not s.Set(pb.SetRequest(key="grpc:none", value=b"y", condition=pb.IF_PRESENT)).stored
    assert stubs[1].Delete(pb.DeleteRequest(key="grpc:ttl")).deleted
    assert not stubs[2].Delete(pb.DeleteRequest(key="grpc:ttl")).deleted
    assert not stubs[0].Get(pb.GetRequest(key="grpc:ttl")).found
    # Binary values survive.
    blob = bytes(range(256)) * 64
    assert s.Set(pb.SetRequest(key="grpc:blob", value=blob)).stored
    assert stubs[1].Get(pb.GetRequest(key="grpc:blob")).value == blob


def test_mget_mset_and_scan_span_every_node(dev):
    s, _ = stub(dev + 3001)
    entries = [pb.Entry(key=f"multi:{i}", value=str(i).encode()) for i in range(1000)]
    s.MSet(pb.MSetRequest(entries=entries))
    asked = [f"multi:{i}" for i in range(1000)] + ["multi:missing"]
    got = s.MGet(pb.MGetRequest(keys=asked))
    assert [v.value.decode() for v in got.values[:1000]] == [str(i) for i in range(1000)]
    assert all(v.found for v in got.values[:1000]) and not got.values[1000].found
    sizes = [redis.Redis(port=dev + i).eval("return #redis.call('keys','multi:*')", 0) for i in range(3)]
    assert sum(sizes) == 1000 and min(sizes) > 200, sizes
    # With a TTL: every key gets it.
    s.MSet(pb.MSetRequest(entries=entries[:10], ttl=Duration(seconds=50)))
    assert 0 < redis.Redis(port=owner_port(dev, "multi:3")).ttl("multi:3") <= 50
    seen = set()
    for batch in s.Scan(pb.ScanRequest(pattern="multi:*", count=50)):
        seen.update(batch.keys)
    assert seen == {f"multi:{i}" for i in range(1000)}
    with pytest.raises(grpc.RpcError) as e:
        s.MGet(pb.MGetRequest(keys=[]))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_health_reflection_and_the_standard_health_service(dev):
    ids, slots = set(), 0
    for i in range(3):
        s, channel = stub(dev + 3000 + i)
        h = s.Health(pb.HealthRequest())
        assert h.status == "SERVING" and h.role == "master" and h.cluster_state == "ok"
        assert h.node_id == redis.Redis(port=dev + i).execute_command("CLUSTER MYID").decode()
        ids.add(h.node_id)
        slots += sum(r.end - r.start + 1 for r in h.slots)
        check = health_pb2_grpc.HealthStub(channel)
        for service in ("", "cache.CacheService"):
            deadline = time.time() + 5
            while check.Check(health_pb2.HealthCheckRequest(service=service)).status != health_pb2.HealthCheckResponse.SERVING:
                assert time.time() < deadline
                time.sleep(0.1)
    assert len(ids) == 3 and slots == 16384
    # Reflection: grpcurl's `list` and `describe`.
    _, channel = stub(dev + 3000)
    refl = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = list(refl.ServerReflectionInfo(iter([
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol="cache.CacheService"),
    ])))
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"cache.CacheService", "grpc.health.v1.Health"} <= names
    assert replies[1].file_descriptor_response.file_descriptor_proto


def test_bad_input_gets_the_right_status_codes(dev):
    s, _ = stub(dev + 3002)
    with pytest.raises(grpc.RpcError) as e:
        s.Set(pb.SetRequest(key="k", value=b"v", ttl=Duration(seconds=0)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as e:
        s.Set(pb.SetRequest(key="k", value=b"v", ttl=Duration(seconds=-5)))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    owner = redis.Redis(port=owner_port(dev, "grpc:list"))
    owner.delete("grpc:list")
    owner.rpush("grpc:list", "a")
    with pytest.raises(grpc.RpcError) as e:
        s.Get(pb.GetRequest(key="grpc:list"))
    assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "WRONGTYPE" in e.value.details()
    # Over the message limit (16 MiB by default).
    with pytest.raises(grpc.RpcError) as e:
        s.Set(pb.SetRequest(key="big", value=b"x" * (17 << 20)))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # An unknown method.
    channel = grpc.insecure_channel(f"127.0.0.1:{dev + 3002}")
    nosuch = channel.unary_unary("/cache.CacheService/Nope")
    with pytest.raises(grpc.RpcError) as e:
        nosuch(b"")
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    # Malformed protobuf.
    raw = channel.unary_unary("/cache.CacheService/Get")
    with pytest.raises(grpc.RpcError) as e:
        raw(b"\xff\xff\xff")
    assert e.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT)
    # Still serving.
    assert s.Set(pb.SetRequest(key="after", value=b"1")).stored


@pytest.fixture
def standalone():
    port, grpc_port, admin = free_port(), free_port(), free_port()
    proc = subprocess.Popen(
        [BIN, "server", "--port", str(port), "--grpc-port", str(grpc_port), "--threads", "1",
         "--admin-port", str(admin), "--dir", tempfile.mkdtemp(),
         "--requirepass", "s3cret", "--max-concurrent-requests", "2",
         "--grpc-max-message-size", "64kb"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    wait_port(grpc_port, proc)
    yield port, grpc_port, admin
    proc.terminate()
    assert proc.wait(timeout=20) == 0


def test_standalone_node_password_shedding_and_deadlines(standalone):
    port, grpc_port, admin = standalone
    s, _ = stub(grpc_port)
    auth = [("authorization", "Bearer s3cret")]
    with pytest.raises(grpc.RpcError) as e:
        s.Get(pb.GetRequest(key="a"))
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.RpcError) as e:
        s.Get(pb.GetRequest(key="a"), metadata=[("authorization", "Bearer wrong")])
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert s.Set(pb.SetRequest(key="a", value=b"1"), metadata=auth).stored
    assert redis.Redis(port=port, password="s3cret").get("a") == b"1"
    h = s.Health(pb.HealthRequest(), metadata=auth)
    assert h.status == "SERVING" and h.cluster_state == "standalone" and not h.slots
    with pytest.raises(grpc.RpcError) as e:
        s.Set(pb.SetRequest(key="b", value=b"x" * 70000), metadata=auth)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # Shedding: with the node paused, two requests stay in flight; the rest are refused at
    # once (not queued); after the pause everything is served again.
    r = redis.Redis(port=port, password="s3cret")
    r.execute_command("CLIENT", "PAUSE", "1500", "ALL")
    started = time.time()
    with ThreadPoolExecutor(20) as pool:
        def call(_):
            try:
                s.Get(pb.GetRequest(key="a"), metadata=auth, timeout=5)
                return "ok"
            except grpc.RpcError as err:
                return err.code()
        futures = [pool.submit(call, i) for i in range(20)]
        time.sleep(0.5)
        refused = sum(1 for f in futures if f.done() and f.result() == grpc.StatusCode.RESOURCE_EXHAUSTED)
        results = [f.result() for f in futures]
    assert refused >= 15, results
    assert results.count("ok") == 2, results
    assert time.time() - started >= 1.0
    assert s.Get(pb.GetRequest(key="a"), metadata=auth).value == b"1"
    # A deadline shorter than the pause: DEADLINE_EXCEEDED.
    r.execute_command("CLIENT", "PAUSE", "1000", "ALL")
    with pytest.raises(grpc.RpcError) as e:
        s.Get(pb.GetRequest(key="a"), metadata=auth, timeout=0.2)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(1)
    assert s.Get(pb.GetRequest(key="a"), metadata=auth).found
    # The node's /metrics counts the gRPC port's calls and refusals.
    import base64
    import urllib.request
    req = urllib.request.Request(f"http://127.0.0.1:{admin}/metrics", headers={
        "Authorization": "Basic " + base64.b64encode(b"default:s3cret").decode()})
    metrics = urllib.request.urlopen(req).read().decode()
    values = {l.split()[0]: float(l.split()[1]) for l in metrics.splitlines()
              if l.startswith("shardcache_grpc_") or l.startswith("shardcache_shed_requests_total")}
    assert values["shardcache_grpc_shed_total"] >= 15, values
    assert values['shardcache_shed_requests_total{door="grpc"}'] >= 15, values
    assert values["shardcache_grpc_requests_total"] >= 20, values


def test_grpc_over_tls_on_a_tls_only_cluster():
    """`--grpc-tls` on members with no plaintext port at all (`--port 0 --tls-port`,
    `--tls-cluster`): grpcio over TLS (ALPN h2) with and without a client certificate
    (tls-auth-clients optional), keys of every member served; a plaintext gRPC client gets
    nothing."""
    from test_tls import certs
    base = free_base(3)
    work = tempfile.mkdtemp()
    files = certs(os.path.join(work, "tls"))
    procs = []
    try:
        for i in range(3):
            args = [BIN, "server", "--cluster-enabled", "--port", "0", "--tls-port", str(base + i),
                    "--tls-cert-file", files["cert"], "--tls-key-file", files["key"],
                    "--tls-ca-cert-file", files["ca"], "--tls-auth-clients", "optional",
                    "--tls-cluster", "--grpc-port", str(base + 3000 + i), "--grpc-tls",
                    "--threads", "1", "--dir", os.path.join(work, f"n{i}")]
            if i:
                args += ["--join", f"127.0.0.1:{base}"]
            procs.append(subprocess.Popen(args, stderr=subprocess.DEVNULL))
            wait_port(base + i, procs[-1])
        with open(files["ca"], "rb") as f:
            ca = f.read()
        with open(files["cert"], "rb") as f:
            cert = f.read()
        with open(files["key"], "rb") as f:
            key = f.read()

        def secure(port, **identity):
            creds = grpc.ssl_channel_credentials(root_certificates=ca, **identity)
            channel = grpc.secure_channel(f"localhost:{port}", creds)
            grpc.channel_ready_future(channel).result(timeout=10)
            return pb_grpc.CacheServiceStub(channel), channel

        s, ch = secure(base + 3000)

        def formed():
            try:
                return s.Health(pb.HealthRequest(), timeout=5).cluster_state == "ok"
            except grpc.RpcError:  # the node behind the gRPC port may still be starting
                return False

        deadline = time.time() + 30
        while not formed():
            assert time.time() < deadline, "the TLS-only cluster never formed"
            time.sleep(0.2)
        # Let every member's slots settle (joined members wait out the old owner's lease).
        time.sleep(3)
        keys = [f"g:{i}" for i in range(60)]
        for k in keys:
            s.Set(pb.SetRequest(key=k, value=k.encode()), timeout=10)
        # From another member, with a client certificate (mutual TLS).
        s2, ch2 = secure(base + 3002, private_key=key, certificate_chain=cert)
        got = s2.MGet(pb.MGetRequest(keys=keys), timeout=10)
        assert [v.value for v in got.values] == [k.encode() for k in keys]
        ch.close()
        ch2.close()
        # A plaintext client does not get through the TLS port.
        plain = grpc.insecure_channel(f"127.0.0.1:{base + 3001}")
        with pytest.raises(grpc.RpcError) as e:
            pb_grpc.CacheServiceStub(plain).Get(pb.GetRequest(key="g:1"), timeout=3)
        assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        plain.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=15)
