"""An external registry reached over plain HTTP, on a real booted host (systemd-nspawn).

`registry.externalRegistry` names a docker-registry this machine serves without TLS on the hosts'
bridge, listed `--insecure-registry` as Docker users list such a registry. `run` pushes the cluster
image's cached images there over plain HTTP; the host's containerd tries HTTPS first, fails, and pulls
from the same registry over HTTP (hosts.toml lists both). No embedded registry runs. The upstreams the
image was built from are stopped before the run, so only the external registry can serve the pulls.
"""

from __future__ import annotations

import re

import pytest

from sealer_runner.cli.main import main as cli_main
from tests.e2e.test_run import offline_cluster_image
from tests.support.base_image import missing_binaries
from tests.support.registry import RegistryServer

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))


def test_external_registry_over_plain_http(tmp_path, test_hosts_factory, capsys):
    root = tmp_path / "store"
    image = offline_cluster_image(tmp_path, root)
    with test_hosts_factory(1) as hosts, RegistryServer(tmp_path / "external", address=hosts.gateway) as external:
        host = hosts[0]
        cf = tmp_path / "Clusterfile"
        cf.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: external}}
spec:
  image: {image}
  ssh: {{pk: {host.key}}}
  env: [APP_MODE=offline]
  hosts:
    - {{ips: [{host.ip}], roles: [master]}}
  registry:
    externalRegistry: {{domain: {hosts.gateway}, port: {external.port}}}
""")
        argv = ["--root", str(root), "--insecure-registry", external.host, "run", "-f", str(cf)]
        capsys.readouterr()
        assert cli_main(argv) == 0, capsys.readouterr().err
        first = capsys.readouterr().err
        assert re.search(r"Done in [\d.]+s: [1-9]\d* change\(s\)", first), first
        assert host.ssh("systemctl is-active sealer-registry").stdout.strip() != "active", "no embedded registry"
        for ref in ("docker.io/library/nginx:1.25", "quay.io/example/hello:1.36"):
            pulled = host.ssh(["ctr", "-n", "e2e", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", ref],
                              timeout=120)
            assert pulled.returncode == 0, f"{ref}: {pulled.stdout}{pulled.stderr}"
        # the pulls reached the external registry, over plain HTTP (its log has the host's requests)
        log = (tmp_path / "external" / "registry.log").read_text()
        assert f"{host.ip}" in log and "/v2/docker.io/library/nginx/manifests/1.25" in log, log[-2000:]

        assert cli_main(argv) == 0
        second = capsys.readouterr().err
        assert ": 0 change(s)" in second, second
