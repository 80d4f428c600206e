"""The shipped deployment files, validated offline with the tools that read them:
`promtool check rules/config` (Debian's prometheus), `docker-compose config` (Debian's
docker-compose), the Kubernetes manifests against the Kubernetes schemas
(kubernetes-validate), and `shardcache probe`, the Dockerfile's health check.
"""
import glob
import os
import subprocess
import tempfile

from helpers import BIN, ROOT, free_port, wait_port

DEPLOY = os.path.join(ROOT, "deploy")


def run(*cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, f"{cmd}: {out.stdout}{out.stderr}"
    return out.stdout + out.stderr


def test_prometheus_rules_and_config():
    rules = os.path.join(DEPLOY, "prometheus", "alerts.yml")
    assert "SUCCESS: 7 rules found" in run("promtool", "check", "rules", rules)
    # The config names the rules where the container mounts them: check a copy that points
    # at the file here.
    config = open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")).read()
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
        f.write(config.replace("/etc/prometheus/alerts.yml", rules))
    run("promtool", "check", "config", os.path.join(tmp, "prometheus.yml"))


def test_compose_files_parse():
    for name in ("docker-compose.yml", "docker-compose.proxy.yml"):
        out = run("docker-compose", "-f", os.path.join(DEPLOY, name), "config")
        assert "shardcache" in out or "proxy" in out
    out = run("docker-compose", "-f", os.path.join(DEPLOY, "docker-compose.yml"), "config", "--services")
    assert sorted(out.split()) == sorted(
        ["node1", "node2", "node3", "node4", "node5", "node6", "prometheus", "grafana"])


def test_kubernetes_manifests_validate():
    validate = os.path.join(ROOT, ".venv", "bin", "kubernetes-validate")
    files = sorted(glob.glob(os.path.join(DEPLOY, "k8s", "*.yaml")))
    assert len(files) == 4
    out = run(validate, "--strict", *files)
    assert out.count("passed") == 4, out


def test_probe_is_the_health_check():
    port, admin = free_port(), free_port()
    proc = subprocess.Popen([BIN, "server", "--port", str(port), "--admin-port", str(admin),
                             "--dir", tempfile.mkdtemp()], stderr=subprocess.DEVNULL)
    try:
        wait_port(admin, proc)
        assert subprocess.run([BIN, "probe", f"http://127.0.0.1:{admin}/health"]).returncode == 0
        assert subprocess.run([BIN, "probe", f"http://127.0.0.1:{admin}/nope"]).returncode == 1
        assert subprocess.run([BIN, "probe", f"http://127.0.0.1:{free_port()}/health"]).returncode == 1
    finally:
        proc.terminate()
        proc.wait(timeout=15)
