"""The admin dashboard in a real headless Chromium (Debian's `chromium`) against a 3-node
`shardcache dev` cluster: the page loads with no console error, shows every node, a figure
changes after load is applied, and a screenshot is saved (target/dashboard.png).
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import redis

from helpers import ROOT, free_base, start_dev

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
