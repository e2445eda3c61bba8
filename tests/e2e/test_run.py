"""A whole offline delivery onto real booted hosts (systemd-nspawn), through `sealer_runner run`.

A cluster image caches container images from two simulated upstream registries ("docker.io" and
"quay.io", reached only through --registry-mirror while building). It is run onto 1 master + 2 nodes;
then the upstreams are stopped and every host pulls those images by their ordinary names with
containerd, served by the cluster's embedded registry. The base image carries Debian's containerd,
runc and registry binaries; no Kubernetes is involved (cluster runtime `none`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from sealer_runner.cli.main import main as cli_main
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from sealer_runner.registry.auth import AuthStore
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.registry.transfer import Registries, push
from tests.support.rendered import mismatches
from tests.support.base_image import build_base_image, missing_binaries
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))

UPSTREAM_IMAGES = {"docker": "library/nginx:1.25", "quay": "example/hello:1.36"}


def stand_in(store: Store, tmp: Path, name: str) -> None:
    ctx = tmp / "stand-in" / name.replace("/", "_").replace(":", "_")
    ctx.mkdir(parents=True)
    shutil.copy2(shutil.which("busybox") or "/bin/busybox", ctx / "busybox")
    (ctx / "Kubefile").write_text(f"FROM scratch\nCOPY busybox bin/busybox\nRUN echo {name} > name\n")
    assert cli_main(["--root", str(store.root), "-q", "build", "--platform", "linux/amd64", "-t", name,
                     str(ctx)]) == 0


def cluster_image(tmp: Path, root: Path, mirrors: list[str]) -> str:
    base = build_base_image(Store(root), tmp)
    ctx = tmp / "cluster"
    (ctx / "app").mkdir(parents=True)
    (ctx / "app" / "pods.yaml").write_text("""\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  initContainers: [{name: init, image: "quay.io/example/hello:1.36"}]
  containers: [{name: web, image: "nginx:1.25"}]
""")
    (ctx / "etc").mkdir()
    (ctx / "etc" / "settings.yaml").write_text("replicas: 1\nimage: {repo: nginx, tag: '1.25'}\n")
    (ctx / "etc" / "app.conf.tmpl").write_text("mode={{ .APP_MODE }}\n")
    (ctx / "Kubefile").write_text(f"FROM {base}\nAPP web local://app/pods.yaml\nCOPY etc etc\n"
                                  "CMDS [\"echo launched >> /root/launched.log\"]\n")
    assert cli_main(["--root", str(root), "-q", *mirrors, "build", "--platform", "linux/amd64",
                     "-t", "example.com/e2e/cluster:v1", str(ctx)]) == 0
    return "example.com/e2e/cluster:v1"


def clusterfile(path: Path, image: str, masters: list[str], nodes: list[str], key: Path) -> Path:
    path.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: e2e}}
spec:
  image: {image}
  ssh: {{pk: {key}}}
  env: [APP_MODE=offline]
  hosts:
    - {{ips: [{', '.join(masters)}], roles: [master]}}
    - {{ips: [{', '.join(nodes)}], roles: [node]}}
---
apiVersion: sealer.io/v2
kind: Plugin
metadata: {{name: stamp}}
spec:
  type: SHELL
  action: post-init-host
  scope: node
  data: hostname > /root/post-init-host.stamp
---
apiVersion: sealer.io/v2
kind: Config
metadata: {{name: settings}}
spec:
  path: etc/settings.yaml
  strategy: merge
  data: |
    image: {{tag: 1.25-alpine}}
---
apiVersion: sealer.io/v2
kind: Config
metadata: {{name: override}}
spec:
  path: etc/override.conf
  data: |
    limit=42
""")
    return path


def offline_cluster_image(tmp_path: Path, root: Path) -> str:
    """The cluster image, built while the simulated upstreams run; they are stopped on return, so from
    then on nothing outside the cluster serves the images it caches."""
    fixtures = Store(tmp_path / "fixtures")
    regs = Registries(RegistryConfig(), AuthStore(tmp_path / "auth.json", docker_config=tmp_path / "none"))
    upstreams = {name: RegistryServer(tmp_path / f"upstream-{name}").start() for name in UPSTREAM_IMAGES}
    try:
        for name, path in UPSTREAM_IMAGES.items():
            stand_in(fixtures, tmp_path, path)
            push(fixtures, fixtures.lookup(path), parse_reference(f"{upstreams[name].host}/{path}"), regs)
        mirrors = ["--registry-mirror", f"docker.io=http://{upstreams['docker'].host}",
                   "--registry-mirror", f"quay.io=http://{upstreams['quay'].host}"]
        return cluster_image(tmp_path, root, mirrors)
    finally:
        for server in upstreams.values():
            server.stop()


def test_offline_delivery_to_three_hosts(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = offline_cluster_image(tmp_path, root)

    with test_hosts_factory(3) as hosts:
        cf = clusterfile(tmp_path / "Clusterfile", image, [hosts[0].ip], [hosts[1].ip, hosts[2].ip], hosts[0].key)
        capsys.readouterr()
        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0, capsys.readouterr().err
        first = capsys.readouterr().err
        assert re.search(r"Done in [\d.]+s: [1-9]\d* change\(s\)", first), first

        for host in hosts:
            for ref in ("docker.io/library/nginx:1.25", "quay.io/example/hello:1.36"):
                pulled = host.ssh(["ctr", "-n", "e2e", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d",
                                   ref], timeout=120)
                assert pulled.returncode == 0, f"{host.name}: {ref}: {pulled.stdout}{pulled.stderr}"
        assert hosts[0].ssh("cat /root/launched.log", check=True).stdout == "launched\n"
        for host in hosts:  # Configs (merge, overwrite) and templates rendered with the cluster env
            etc = host.rootfs / "var/lib/sealer/data/e2e/rootfs/etc"
            assert yaml.safe_load((etc / "settings.yaml").read_text()) == \
                {"replicas": 1, "image": {"repo": "nginx", "tag": "1.25-alpine"}}, host.name
            assert (etc / "override.conf").read_text() == "limit=42\n"
            assert (etc / "app.conf").read_text() == "mode=offline\n"
        assert hosts[0].ssh("test -e /root/post-init-host.stamp").returncode != 0, "node-scoped plugin on a master"
        for node in hosts[1:]:
            assert node.ssh("cat /root/post-init-host.stamp", check=True).stdout.strip() == node.name

        # `run --dry-run` renders the very files the run wrote on each host (containerd, registry, /etc/hosts...)
        out = tmp_path / "dry-run"
        assert cli_main(["--root", str(root), "run", "-f", str(cf), "--dry-run", "--output-dir", str(out)]) == 0
        for host in hosts:
            assert not mismatches(out / host.ip, host.rootfs), (host.name, mismatches(out / host.ip, host.rootfs))
        assert len(list((out / hosts[1].ip / "etc/containerd/certs.d").rglob("hosts.toml"))) == 2, "one per mirror"

        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0
        second = capsys.readouterr().err
        assert "Done in" in second and ": 0 change(s)" in second, second
        assert hosts[0].ssh("cat /root/launched.log", check=True).stdout == "launched\n"

        # drift: a managed file edited on one host is found and restored by the next run, on that host only
        config = "/etc/containerd/config.toml"
        before = hosts[1].ssh(f"cat {config}", check=True).stdout
        hosts[1].ssh(f"echo '# edited by hand' >> {config}", check=True)
        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0
        third = capsys.readouterr().err
        assert hosts[1].ssh(f"cat {config}", check=True).stdout == before, "the edit is undone"
        changed = {row.split()[0]: int(row.split()[2]) for row in third.splitlines()
                   if re.match(r"^\d+\.\d+\.\d+\.\d+\s+\d+\s+\d+\s", row)}
        assert changed[hosts[1].ip] >= 1 and changed[hosts[0].ip] == changed[hosts[2].ip] == 0, third
        # the file, and containerd restarted to read it: nothing else
        assert changed[hosts[1].ip] <= 2, third
