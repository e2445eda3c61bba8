"""The HA variant: 3 masters (each running the embedded registry, `localRegistry.ha: true`) and 2 nodes.

Layers reach the 5 hosts along the fan-out tree (the nodes fetch from master1, not master0). With
master0's registry stopped, every host still pulls the upstream images by their ordinary names: the
registry domain resolves to every registry host (the host's own first), and containerd dials each in
turn.
"""

from __future__ import annotations

import re

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
        # the tree: hosts 3 and 4 (the nodes) fetch from host 1 (master1), whose layer server logged it
        served = masters[1].ssh("journalctl -u sealer-layers-ha --no-pager -o cat", check=True).stdout
        for node in nodes:
            assert re.search(rf'^{re.escape(node.ip)} - - .*"GET /[0-9a-f]{{64}} HTTP/1.[01]" 200', served, re.M), served
        from_master0 = masters[0].ssh("journalctl -u sealer-layers-ha --no-pager -o cat", check=True).stdout
        assert not any(node.ip in from_master0 for node in nodes), "nodes fetch from their parent, not master0"

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
