"""examples/ops-repo on booted hosts (systemd-nspawn) with plain `ansible-playbook`: no sealer_runner process.

The cluster image of test_run.py (cached images from two simulated upstreams, stopped before the run) is built
with the library and saved with `sealer_runner save`, as an image reaches an air-gapped site. Then, as the
example's README says: the collection is built and installed through collections/requirements.yml,
scripts/image_vars.py unpacks the archive, scripts/registry-pki.sh makes the registry's TLS files, and
`ansible-playbook -i inventory sealer.cluster.run -e @image/image-vars.yml` runs with the example's group_vars
unchanged (only the inventory names the test hosts). The outcome is checked as test_run.py checks
`sealer_runner run`'s: rootfs with Configs and templates, the launch step once, the node-scoped plugin, pulls
through the embedded registry by the images' ordinary names; and a second run changes nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sealer_runner.cli.main import main as cli_main
from tests.e2e.test_run import offline_cluster_image
from tests.support.base_image import missing_binaries

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _ops_repo(tmp: Path, masters: list[str], nodes: list[str]) -> Path:
    repo = tmp / "ops-repo"
    shutil.copytree(REPO / "examples" / "ops-repo", repo)
    inventory = yaml.safe_load((repo / "inventory" / "hosts.yml").read_text())
    children = inventory["all"]["children"]
    children["master"]["hosts"] = dict.fromkeys(masters)
    children["node"]["hosts"] = dict.fromkeys(nodes)
    children["registry"]["hosts"] = dict.fromkeys(masters[:1])
    (repo / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))
    return repo


def _sh(repo: Path, *argv: object, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _ansible_env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    # The test hosts get new host keys at each boot: a known_hosts of this run only.
    return {**env, "ANSIBLE_CONFIG": str(repo / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s -o StrictHostKeyChecking=accept-new "
                                f"-o UserKnownHostsFile={repo.parent / 'known_hosts'}"}


def test_ops_repo_runs_the_saved_image_like_sealer_runner_run(tmp_path, test_hosts_factory):
    root = tmp_path / "store"
    image = offline_cluster_image(tmp_path, root)
    assert cli_main(["--root", str(root), "-q", "save", "-o", str(tmp_path / "cluster.tar"), image]) == 0

    with test_hosts_factory(2) as hosts:
        master, node = hosts[0], hosts[1]
        repo = _ops_repo(tmp_path, [master.ip], [node.ip])
        env = _ansible_env(repo)
        _sh(repo, BIN / "ansible-galaxy", "collection", "build", REPO / "collection", "--output-path", "collections")
        _sh(repo, BIN / "ansible-galaxy", "collection", "install", "--offline", "-r", "collections/requirements.yml",
            "-p", "collections", env=env)
        _sh(repo, sys.executable, "-I", "collections/ansible_collections/sealer/cluster/scripts/image_vars.py",
            tmp_path / "cluster.tar", "image")
        _sh(repo, "scripts/registry-pki.sh", "pki", "sea.hub", master.ip)
        playbook = [BIN / "ansible-playbook", "-i", "inventory", "sealer.cluster.run", "-e", "@image/image-vars.yml",
                    "--private-key", master.key]

        first = _sh(repo, *playbook, env=env, timeout=900)
        assert re.search(rf"{re.escape(master.ip)}\s*: ok=\d+\s+changed=[1-9]\d*\s+unreachable=0\s+failed=0", first)

        for host in hosts:
            for ref in ("docker.io/library/nginx:1.25", "quay.io/example/hello:1.36"):
                pulled = host.ssh(["ctr", "-n", "e2e", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d",
                                   ref], timeout=120)
                assert pulled.returncode == 0, f"{host.name}: {ref}: {pulled.stdout}{pulled.stderr}"
        assert master.ssh("cat /root/launched.log", check=True).stdout == "launched\n"
        for host in hosts:  # Configs (merge, overwrite) and templates rendered with the cluster env
            etc = host.rootfs / "var/lib/sealer/data/demo/rootfs/etc"
            assert yaml.safe_load((etc / "settings.yaml").read_text()) == \
                {"replicas": 1, "image": {"repo": "nginx", "tag": "1.25-alpine"}}, host.name
            assert (etc / "override.conf").read_text() == "limit=42\n"
            assert (etc / "app.conf").read_text() == "mode=offline\n"
        assert master.ssh("test -e /root/post-init-host.stamp").returncode != 0, "node-scoped plugin on a master"
        assert node.ssh("cat /root/post-init-host.stamp", check=True).stdout.strip() == node.name

        second = _sh(repo, *playbook, env=env, timeout=600)
        for host in hosts:
            assert re.search(rf"{re.escape(host.ip)}\s*: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", second), \
                second[-3000:]
        assert master.ssh("cat /root/launched.log", check=True).stdout == "launched\n"
