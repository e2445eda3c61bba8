"""`apply --plan` through the CLI: exit 0 when nothing is pending, 3 when something is (1/2 as usual), for
people and as JSON; no host is reached (--no-probe; the applied state is written here as a run would leave it)."""

from __future__ import annotations

import json

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.run.state import write_applied
from tests.unit.cli.test_cli import sr  # noqa: F401 (fixture)

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: demo}}
spec:
  image: example.com/app:v1
  ssh: {{pk: /nonexistent/key}}
  hosts:
    - {{ips: [10.0.0.2], roles: [master]}}
    - {{ips: [{nodes}], roles: [node]}}
"""


@pytest.fixture
def applied(tmp_path):
    text = CLUSTERFILE.format(nodes="10.0.0.3")
    write_applied(tmp_path / "store", load_clusterfile(text), text, {"sealer_cluster_runtime": "none"})
    return tmp_path


def test_nothing_pending_is_exit_0_and_a_new_host_is_exit_3(sr, applied):  # noqa: F811
    cf = applied / "Clusterfile"
    cf.write_text(CLUSTERFILE.format(nodes="10.0.0.3"))
    rc, out, err = sr("apply", "-f", str(cf), "--plan", "--no-probe")
    assert rc == 0 and out.count("no change") == 2, (out, err)
    cf.write_text(CLUSTERFILE.format(nodes="10.0.0.3, 10.0.0.4"))
    rc, out, err = sr("apply", "-f", str(cf), "--plan", "--no-probe")
    assert rc == 3, err
    assert [line.split() for line in out.splitlines()] == [["10.0.0.2", "master", "no", "change"],
                                                           ["10.0.0.3", "node", "no", "change"],
                                                           ["10.0.0.4", "node", "join"]]
    rc, out, _ = sr("apply", "-f", str(cf), "--plan", "--json", "--no-probe")
    assert rc == 3 and json.loads(out)["hosts"][2]["action"] == "join"


def test_a_never_applied_cluster_is_pending_and_bad_input_is_exit_2(sr, tmp_path):  # noqa: F811
    cf = tmp_path / "Clusterfile"
    cf.write_text(CLUSTERFILE.format(nodes="10.0.0.3"))
    rc, out, _ = sr("apply", "-f", str(cf), "--plan", "--json", "--no-probe")
    assert rc == 3 and json.loads(out)["never_applied"] is True
    write_applied(tmp_path / "store", load_clusterfile(cf.read_text()), cf.read_text(), {})
    cf.write_text(CLUSTERFILE.format(nodes="10.0.0.3").replace("[10.0.0.2]", "[10.0.0.9]"))
    rc, _, err = sr("apply", "-f", str(cf), "--plan", "--no-probe")
    assert rc == 2 and "master0 would change" in err
