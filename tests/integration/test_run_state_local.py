"""`sealer_runner run` through the CLI, with the real ansible-runner, collection and playbook on this machine
(ansible_connection=local, one host): the applied state it keeps, without the SSH password, and `clusters`."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import pytest
import yaml

from sealer_runner.cli import run_cmd
from sealer_runner.cli.main import main
from sealer_runner.run.cluster import build_request
from sealer_runner.run.state import applied_dir

pytestmark = [pytest.mark.integration]

PASSWORD = "do-not-leak-this-either"


def test_cli_run_keeps_the_applied_state(tmp_path, capsys, monkeypatch):
    root = tmp_path / "root"
    ctx = tmp_path / "ctx"
    (ctx / "etc").mkdir(parents=True)
    (ctx / "etc" / "a.conf").write_text("a=1\n")
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY etc etc\n")
    assert main(["--root", str(root), "-q", "build", "-t", "example.com/state:v1", str(ctx)]) == 0
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text(f"""\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: local}}
spec:
  image: example.com/state:v1
  dataRoot: {tmp_path / "hosts"}
  ssh: {{passwd: "{PASSWORD}"}}
  hosts:
    - ips: [127.0.0.1]
      roles: [master]
""")

    def local_request(spec, store, root_, **kw):  # as tests/integration/test_run_local.py: no SSH, no prompt
        request = build_request(spec, store, root_, **kw)
        for hostvars in request.inventory["all"]["hosts"].values():
            hostvars["ansible_connection"] = "local"
            hostvars["ansible_python_interpreter"] = sys.executable
        return replace(request, ssh_password=None)

    monkeypatch.setattr(run_cmd, "build_request", local_request)
    capsys.readouterr()
    # only the phases that stay inside dataRoot (never this machine's /etc/hosts, trust store or services)
    rc = main(["--root", str(root), "run", "-f", str(clusterfile), "--skip-checks", "--tags", "validate,rootfs,apps"])
    _, err = capsys.readouterr()
    assert rc == 0, err
    assert (tmp_path / "hosts" / "local" / "rootfs" / "etc" / "a.conf").read_text() == "a=1\n"

    target = applied_dir(root, "local")
    state = json.loads((target / "state.json").read_text())
    assert state["image"] == "example.com/state:v1" and state["image_digest"].startswith("sha256:")
    assert state["hosts"][0]["ip"] == "127.0.0.1" and state["hosts"][0]["roles"] == ["master"]
    assert state["platform"] and state["hosts"][0]["platform"] == state["platform"], "as the validate role said"
    assert state["runtime"] == "none" and state["kubernetes_version"] is None
    assert state["tags"] == ["validate", "rootfs", "apps"] and state["ssh_password"] is True
    assert yaml.safe_load((target / "Clusterfile").read_text())["spec"]["ssh"] == {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            assert PASSWORD.encode() not in path.read_bytes(), path

    assert main(["--root", str(root), "clusters", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["image"], r["hosts"], r["masters"]) for r in rows] == [
        ("local", "example.com/state:v1", 1, ["127.0.0.1"])]
