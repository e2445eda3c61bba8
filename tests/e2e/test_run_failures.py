"""Failure cases of `sealer_runner run` on real hosts: clear errors, nothing half-done, no secret shown."""

from __future__ import annotations

import pytest

from sealer_runner.cli.main import main as cli_main
from sealer_runner.image.store import Store
from tests.support.base_image import build_base_image, missing_binaries

pytestmark = [pytest.mark.e2e]
if missing_binaries():
    pytestmark.append(pytest.mark.skip(reason=f"missing {missing_binaries()} (run scripts/install.sh)"))

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: failing}}
spec:
  image: {image}
  ssh: {ssh}
  hosts:
    - {{ips: [{master}], roles: [master]}}
    - {{ips: [{node}], roles: [node]}}
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image")
    root = tmp / "store"
    return root, build_base_image(Store(root), tmp)


def write(tmp_path, image, hosts, ssh):
    path = tmp_path / "Clusterfile"
    path.write_text(CLUSTERFILE.format(image=image, ssh=ssh, master=hosts[0].ip, node=hosts[1].ip))
    return path


def test_unreachable_host_stops_the_run_before_any_change(tmp_path, image, test_hosts_factory, capsys):
    root, ref = image
    with test_hosts_factory(2) as hosts:
        hosts[1].cut()
        cf = write(tmp_path, ref, hosts, f"{{pk: {hosts.key}}}")
        # the pre checks meet it first; without them, the run's reach play does: either way nothing changes
        for argv, said in ((["run", "-f", str(cf)], "pre checks failed, no host was changed"),
                           (["run", "--skip-checks", "-f", str(cf)], "run failed")):
            assert cli_main(["--root", str(root), *argv]) == 1
            err = capsys.readouterr().err
            assert said in err and hosts[1].ip in err and "Failed to connect to the host via ssh" in err, err
            assert hosts[0].ssh("test -e /var/lib/sealer/data/failing").returncode != 0, \
                "the reachable host must be untouched"
        hosts[1].restore()


def test_wrong_password_is_named_and_never_printed(tmp_path, image, test_hosts_factory, capsys):
    root, ref = image
    with test_hosts_factory(2) as hosts:
        cf = write(tmp_path, ref, hosts, "{passwd: 'Wr0ng-Pa55word'}")
        for argv, said in ((["run", "-f", str(cf)], "pre checks failed"),
                           (["run", "--skip-checks", "-f", str(cf)], "run failed")):
            assert cli_main(["--root", str(root), *argv]) == 1
            out = capsys.readouterr()
            assert "Wr0ng-Pa55word" not in out.out + out.err
            assert said in out.err and hosts[0].ip in out.err, out.err
            for path in (root / "clusters" / "failing").rglob("*"):
                if path.is_file():
                    assert b"Wr0ng-Pa55word" not in path.read_bytes(), path


def test_bad_ip_is_exit_2_before_any_host_is_touched(tmp_path, image, capsys):
    root, ref = image
    path = tmp_path / "Clusterfile"
    path.write_text(CLUSTERFILE.format(image=ref, ssh="{}", master="10.248.0.300", node="10.248.0.12"))
    artifacts = root / "clusters" / "failing" / "runner" / "artifacts"
    before = set(artifacts.iterdir()) if artifacts.exists() else set()
    assert cli_main(["--root", str(root), "run", "-f", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:8:" in err and "10.248.0.300" in err
    after = set(artifacts.iterdir()) if artifacts.exists() else set()
    assert after == before, "no Ansible run may start"
