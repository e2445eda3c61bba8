"""`check --pre`, `check --post` and `exec` through the CLI over real SSH, on booted hosts (systemd-nspawn):
1 master + 1 node, the offline cluster image of test_run.py (cluster runtime `none`: no Kubernetes, so the
checks are those of the hosts, the commands, the platform and the embedded registry serving its cached
images)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sealer_runner.cli.main import main as cli_main
from tests.e2e.test_run import offline_cluster_image
from tests.support.base_image import missing_binaries

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))


def clusterfile(path: Path, image: str, master: str, node: str, key: Path) -> Path:
    path.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: checks}}
spec:
  image: {image}
  ssh: {{pk: {key}}}
  env: [APP_MODE=offline]  # the image's template needs it
  hosts:
    - {{ips: [{master}], roles: [master]}}
    - {{ips: [{node}], roles: [node, edge]}}
""")
    return path


def findings(capsys) -> dict[tuple[str, str], dict]:
    return {(c["check"], c["host"]): c for c in json.loads(capsys.readouterr().out)["checks"]}


def test_check_and_exec_on_booted_hosts(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = offline_cluster_image(tmp_path, root)  # caches container images: the embedded registry serves them
    with test_hosts_factory(2) as hosts:
        master, node = hosts[0], hosts[1]
        cf = str(clusterfile(tmp_path / "Clusterfile", image, master.ip, node.ip, master.key))
        cli = ["--root", str(root)]
        capsys.readouterr()  # the build's output

        # exec: output grouped per host, master0 first; --role picks a group; a failure anywhere exits 1
        assert cli_main([*cli, "exec", "-f", cf, "hostname;", "echo", "to-stderr", ">&2"]) == 0
        out = capsys.readouterr().out
        assert re.fullmatch(rf"==> {master.ip} \(master\) rc 0\n{master.name}\nstderr:\nto-stderr\n"
                            rf"==> {node.ip} \(node,edge\) rc 0\n{node.name}\nstderr:\nto-stderr\n", out), out
        assert cli_main([*cli, "exec", "-f", cf, "--role", "edge", "cat", "/etc/hostname"]) == 0
        assert capsys.readouterr().out == f"==> {node.ip} (node,edge) rc 0\n{node.name}\n"
        assert cli_main([*cli, "exec", "-f", cf, f"test $(hostname) = {node.name}"]) == 1
        assert f"the command failed on 1 of 2 host(s): {master.ip}" in capsys.readouterr().err

        # pre: fresh hosts pass; the registry's port taken on master0 fails, naming the process
        assert cli_main([*cli, "check", "--pre", "-f", cf, "--json"]) == 0
        pre = findings(capsys)
        for host in (master.ip, node.ip):
            for check in ("reachable", "commands", "platform", "clock", "hostname"):
                assert pre[(check, host)]["status"] == "ok", pre[(check, host)]
        assert pre[("ports", master.ip)] == {"check": "ports", "host": master.ip, "status": "ok", "detail": "free: 5000"}
        assert pre[("clock skew", "(cluster)")]["status"] == "ok"
        master.ssh("systemd-run --unit=squat python3 -m http.server 5000", check=True)
        master.ssh("for i in $(seq 50); do ss -ltn 2>/dev/null | grep -q ':5000 ' && exit 0; "
                   "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 5000))' 2>/dev/null && exit 0; "
                   "sleep 0.1; done; exit 1", check=True)
        assert cli_main([*cli, "check", "--pre", "-f", cf]) == 1
        table = capsys.readouterr().out
        assert re.search(rf"ports +{re.escape(master.ip)} +fail +5000 in use by python3", table), table
        master.ssh("systemctl stop squat", check=True)

        # post, after a run: the registry answers every host over HTTPS with the cluster CA
        assert cli_main([*cli, "-q", "run", "-f", cf]) == 0, capsys.readouterr().err
        capsys.readouterr()
        assert cli_main([*cli, "check", "--post", "-f", cf, "--json"]) == 0
        post = findings(capsys)
        for host in (master.ip, node.ip):
            assert post[("registry", host)]["status"] == "ok", post[("registry", host)]
            assert post[("registry", host)]["detail"].startswith("GET https://sea.hub:5000/v2/: 200")
        # pre on the installed cluster: the port is served by the cluster's own registry
        assert cli_main([*cli, "check", "--pre", "-f", cf, "--json"]) == 0
        assert findings(capsys)[("ports", master.ip)]["detail"] == "served by the cluster: 5000 (registry)"


@pytest.mark.kubernetes
def test_check_on_a_kubernetes_cluster_of_stand_ins(tmp_path, test_hosts_factory, capsys):
    """The Kubernetes rules on container hosts (modules and swap are the machine's: never a failure), then
    `check --post` on the cluster the kubeadm/kubelet/kubectl *stand-ins* make: every node Ready, the master's
    control-plane pods (as the stand-in apiserver lists them) Running, exit 0; and the
    pre checks of a re-run: the ports are held by the cluster's own processes."""
    from tests.e2e.test_kubernetes import clusterfile as k8s_clusterfile
    from tests.e2e.test_kubernetes import kubernetes_image
    from tests.support.base_image import install_ipvs_standins

    root = tmp_path / "store"
    image = kubernetes_image(tmp_path, root)
    with test_hosts_factory(2) as hosts:
        for host in hosts:
            install_ipvs_standins(host.rootfs)
        master, node = hosts[0], hosts[1]
        cf = str(k8s_clusterfile(tmp_path / "Clusterfile", "k8s-check", image, [master], [node], hosts.key))
        cli = ["--root", str(root)]
        capsys.readouterr()

        assert cli_main([*cli, "check", "--pre", "-f", cf, "--json"]) == 0
        pre = findings(capsys)
        assert pre[("ports", master.ip)]["detail"] == "free: 2379, 2380, 6443, 10250, 10257, 10259"
        assert pre[("ports", node.ip)]["detail"] == "free: 10250"
        for host in (master.ip, node.ip):
            assert pre[("kernel modules", host)]["status"] in ("ok", "warn"), pre[("kernel modules", host)]
            assert pre[("resources", host)]["status"] == "ok"
            assert pre[("swap", host)]["status"] in ("ok", "warn")

        assert cli_main([*cli, "-q", "run", "-f", cf]) == 0, capsys.readouterr().err
        capsys.readouterr()
        assert cli_main([*cli, "check", "--post", "-f", cf, "--json"]) == 0
        post = findings(capsys)
        # the stand-in apiserver lists the static pods kubeadm would run on the master: judged Running
        assert post[("control plane", master.ip)]["status"] == "ok", post
        assert "Running" in post[("control plane", master.ip)]["detail"]
        assert ("control plane", node.ip) not in post, "no control-plane pod is expected on a node"
        for host in (master, node):
            assert post[("node ready", host.ip)]["status"] == "ok", post
            assert post[("node ready", host.ip)]["detail"].startswith(f"{host.name} Ready")

        assert cli_main([*cli, "check", "--pre", "-f", cf, "--json"]) == 0
        again = findings(capsys)
        assert "served by the cluster: " in again[("ports", master.ip)]["detail"], again[("ports", master.ip)]


def test_exec_and_check_as_a_non_root_user_whose_sudo_asks_for_a_password(tmp_path, test_hosts_factory, capsys):
    """As `run`: the SSH password opens sudo, answered in memory; the command runs as root, with no tty."""
    from tests.e2e.test_run_sudo import PASSWORD, USER, _add_sudo_user

    with test_hosts_factory(1) as hosts:
        host = hosts[0]
        _add_sudo_user(host)
        cf = tmp_path / "Clusterfile"
        cf.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: sudo-exec}}
spec:
  image: example.com/none:v1
  ssh: {{user: {USER}, passwd: '{PASSWORD}'}}
  hosts:
    - {{ips: [{host.ip}], roles: [master]}}
""")
        capsys.readouterr()
        assert cli_main(["--root", str(tmp_path / "store"), "exec", "-f", str(cf), "id -un; echo $SUDO_USER"]) == 0
        captured = capsys.readouterr()
        assert captured.out == f"==> {host.ip} (master) rc 0\nroot\n{USER}\n", captured
        assert PASSWORD not in captured.out + captured.err
        assert not [p for p in (tmp_path / "store").rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
