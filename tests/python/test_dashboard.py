"""The admin dashboard in a real headless Chromium (Debian's `chromium`) against a 3-node
`shardcache dev` cluster: the page loads with no console error, shows every node, a figure
changes after load is applied, and a screenshot is saved (target/dashboard.png).
"""
import os
import re
import shutil
import subprocess
import tempfile
import threading

import pytest
import redis

from helpers import BIN, ROOT, free_base, start_dev

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(url, *extra):
    """Runs headless Chromium on `url`; (DOM after scripts ran, stderr with the console)."""
    profile = tempfile.mkdtemp()
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=4000", "--window-size=1400,1000", *extra, url],
        capture_output=True, text=True, timeout=60)
    return out.stdout, out.stderr


def console_errors(stderr):
    return [l for l in stderr.splitlines()
            if "CONSOLE" in l and ("Uncaught" in l or "Error" in l or ":ERROR:" in l)]


@pytest.fixture(scope="module")
def cluster():
    base = free_base(3)
    proc = start_dev(base, 3)
    yield base
    proc.send_signal(2)
    proc.wait(timeout=30)


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/test.sh installs it)")
def test_dashboard_shows_every_node_and_live_figures(cluster):
    base = cluster
    admin = f"http://127.0.0.1:{base + 1000}/"
    dom, stderr = chromium(admin, "--dump-dom")
    assert console_errors(stderr) == [], stderr
    rows = re.findall(r'<tr data-node="([0-9a-f]{40})"', dom)
    assert len(set(rows)) == 3, dom
    for port in (base, base + 1, base + 2):
        assert f"127.0.0.1:{port}" in dom
    keys_before = re.search(r'id="k-keys">([^<]*)<', dom).group(1)

    rc = redis.RedisCluster(host="127.0.0.1", port=base)
    for i in range(3000):
        rc.set(f"dash:{i}", "v")
    dom, stderr = chromium(admin, "--dump-dom")
    assert console_errors(stderr) == [], stderr
    keys_after = re.search(r'id="k-keys">([^<]*)<', dom).group(1)
    assert keys_after != keys_before and keys_after not in ("–", "0"), (keys_before, keys_after)

    shot = os.path.join(ROOT, "target", "dashboard.png")
    chromium(admin, f"--screenshot={shot}")
    assert os.path.getsize(shot) > 10_000


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/test.sh installs it)")
def test_proxy_dashboard_shows_backends_ejections_and_latency():
    """`shardcache proxy` over three real redis-servers: its admin port's dashboard lists every
    backend with its keys, request counts and latency; a backend killed and ejected from the
    ring is shown as such, with an alert. Screenshot: target/proxy-dashboard.png."""
    from helpers import free_port, wait_port
    work = tempfile.mkdtemp()
    servers, ports = [], []
    for _ in range(3):
        port = free_port()
        servers.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", work], stdout=subprocess.DEVNULL))
        wait_port(port, servers[-1], "redis-server")
        ports.append(port)
    listen, admin_port = free_port(), free_port()
    conf = os.path.join(work, "nutcracker.yml")
    with open(conf, "w") as f:
        f.write(f"alpha:\n  listen: 127.0.0.1:{listen}\n  hash: fnv1a_64\n  distribution: ketama\n"
                "  auto_eject_hosts: true\n  server_retry_timeout: 60000\n  server_failure_limit: 1\n"
                "  servers:\n" + "".join(f"   - 127.0.0.1:{p}:1 s{i}\n" for i, p in enumerate(ports)))
    proxy = subprocess.Popen([BIN, "proxy", "--config", conf, "--admin-port", str(admin_port)],
                             stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, proxy, "proxy")
        r = redis.Redis(port=listen)
        for i in range(600):
            r.set(f"dash:{i}", "v")
            r.get(f"dash:{i}")
        # Kill one backend; requests for its keys fail until it is ejected.
        servers[2].kill()
        servers[2].wait()
        for i in range(600):
            try:
                r.get(f"dash:{i}")
            except redis.RedisError:
                pass
        url = f"http://127.0.0.1:{admin_port}/"
        # Load while the page polls, so its intervals have rates and latencies.
        stop = threading.Event()

        def load():
            c = redis.Redis(port=listen)
            while not stop.is_set():
                for i in range(600):
                    try:
                        c.get(f"dash:{i}")
                    except redis.RedisError:
                        pass
        loader = threading.Thread(target=load)
        loader.start()
        try:
            dom, stderr = chromium(url, "--dump-dom")
        finally:
            stop.set()
            loader.join()
        assert console_errors(stderr) == [], stderr
        rows = re.findall(r'<tr data-backend="[^"]* (s\d)">(.*?)</tr>', dom)
        assert sorted(b for b, _ in rows) == ["s0", "s1", "s2"], dom
        cells = {b: re.findall(r"<td[^>]*>([^<]*)</td>", row) for b, row in rows}
        assert cells["s2"][3] == "ejected", cells
        for b in ("s0", "s1"):
            assert cells[b][3] == "up", cells
            assert int(cells[b][4]) > 50, cells  # keys, asked of the backend
        # Requests/s and p99 over the page's last interval (the load kept going meanwhile).
        busy = [b for b in ("s0", "s1") if cells[b][5] not in ("–", "0")]
        assert busy, cells
        assert all(float(cells[b][8]) > 0 for b in busy), cells
        assert "s2 (alpha) is ejected" in dom
        shot = os.path.join(ROOT, "target", "proxy-dashboard.png")
        chromium(url, f"--screenshot={shot}")
        assert os.path.getsize(shot) > 10_000
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)
        for s in servers:
            s.kill()
            s.wait()


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (scripts/test.sh installs it)")
def test_cluster_proxy_dashboard_lists_the_nodes(cluster):
    """`shardcache proxy --cluster` in front of the 3-node dev cluster: its admin port's
    dashboard lists every node connection with its traffic; with a password the admin API
    asks for it."""
    from helpers import free_port, wait_port
    import base64
    import urllib.error
    import urllib.request
    base = cluster
    listen, admin = free_port(), free_port()
    proxy = subprocess.Popen([BIN, "proxy", "--cluster", f"127.0.0.1:{base}", "--listen",
                              f"127.0.0.1:{listen}", "--admin-port", str(admin)],
                             stderr=subprocess.DEVNULL)
    try:
        wait_port(listen, proxy, "proxy")
        r = redis.Redis(port=listen)
        for i in range(300):
            r.set(f"cpd:{i}", "v")
        dom, stderr = chromium(f"http://127.0.0.1:{admin}/", "--dump-dom")
        assert console_errors(stderr) == [], stderr
        rows = re.findall(r'<tr data-backend="127\.0\.0\.1:(\d+) primary">(.*?)</tr>', dom)
        assert sorted(int(p) for p, _ in rows) == [base, base + 1, base + 2], dom
        for _, row in rows:
            cells = re.findall(r"<td[^>]*>([^<]*)</td>", row)
            assert cells[3] == "up" and cells[9] not in ("0", "–"), cells
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)
    # With a password, the admin API wants it (the health probe does not).
    proxy = subprocess.Popen([BIN, "proxy", "--cluster", f"127.0.0.1:{base}", "--listen",
                              f"127.0.0.1:{listen}", "--admin-port", str(admin), "--requirepass", "pw"],
                             stderr=subprocess.DEVNULL)
    try:
        wait_port(admin, proxy, "proxy admin")

        def status(path, auth=None):
            req = urllib.request.Request(f"http://127.0.0.1:{admin}{path}")
            if auth:
                req.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status
            except urllib.error.HTTPError as e:
                return e.code
        assert status("/api/proxy/backends") == 401
        assert status("/metrics", "default:wrong") == 401
        assert status("/api/proxy/backends", "default:pw") == 200
        assert status("/health") == 200
    finally:
        proxy.terminate()
        proxy.wait(timeout=15)
