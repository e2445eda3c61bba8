"""The HA variant: 3 masters (each running the embedded registry, `localRegistry.ha: true`) and 2 nodes.

Layers reach the 5 hosts along the fan-out tree (the nodes fetch from master1, not master0). With
master0's registry stopped, every host still pulls the upstream images by their ordinary names: each
host's containerd lists every registry host as a mirror, and falls through to the next.
"""

from __future__ import annotations

import pytest

from sealer_runner.cli.main import main as cli_main
from tests.e2e.test_run import offline_cluster_image
from tests.support.base_image import missing_binaries

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))


def test_ha_registries_and_tree_fanout(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = offline_cluster_image(tmp_path, root)
    with test_hosts_factory(5) as hosts:
        masters, nodes = hosts[:3], hosts[3:]
        cf = tmp_path / "Clusterfile"
        cf.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: ha}}
spec:
  image: {image}
  ssh: {{pk: {hosts.key}}}
  env: [APP_MODE=ha]
  registry:
    localRegistry: {{domain: sea.hub, port: 5000, ha: true}}
  hosts:
    - {{ips: [{', '.join(h.ip for h in masters)}], roles: [master]}}
    - {{ips: [{', '.join(h.ip for h in nodes)}], roles: [node]}}
""")
        capsys.readouterr()
        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0, capsys.readouterr().err
        capsys.readouterr()

        for master in masters:
            assert master.ssh("systemctl is-active sealer-registry", check=True).stdout.strip() == "active"
        for node in nodes:
            assert node.ssh("systemctl is-active sealer-registry").stdout.strip() != "active"
        rootfs = [h.rootfs / "var/lib/sealer/data/ha/rootfs/.sealer-layers.json" for h in hosts]
        assert len({p.read_text() for p in rootfs}) == 1, "every host has the same layers"

        masters[0].ssh("systemctl stop sealer-registry", check=True)
        for host in hosts:
            for ref in ("docker.io/library/nginx:1.25", "quay.io/example/hello:1.36"):
                pulled = host.ssh(["ctr", "-n", "ha", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d",
                                   ref], timeout=120)
                assert pulled.returncode == 0, f"{host.name}: {ref}: {pulled.stdout}{pulled.stderr}"

        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0
        err = capsys.readouterr().err
        assert ": 0 change(s)" not in err, "master0's stopped registry is started again"
        assert masters[0].ssh("systemctl is-active sealer-registry", check=True).stdout.strip() == "active"
        assert cli_main(["--root", str(root), "run", "-f", str(cf)]) == 0
        assert ": 0 change(s)" in capsys.readouterr().err
