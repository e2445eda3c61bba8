"""state pull's controller half (sealer_runner/run/takeover.py): what a master keeps is put in place for its
cluster, checked first; a different state here is replaced only when asked."""

from __future__ import annotations

import json

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError, SealerError
from sealer_runner.run.state import masters_state, read_applied, write_applied
from sealer_runner.run.takeover import install_pulled
from datetime import datetime, timezone

TEXT = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: prod}
spec:
  image: example.com/app:v1
  ssh: {passwd: s3cret}
  hosts:
    - {ips: [10.0.0.2], roles: [master]}
"""
NOW = datetime(2026, 12, 3, 16, 0, tzinfo=timezone.utc)


def pulled_dir(tmp_path, extravars=None):
    """A state directory as the run's last play writes it on a master, from a controller at tmp_path/a."""
    spec = load_clusterfile(TEXT)
    (tmp_path / "a/clusters/prod/pki").mkdir(parents=True)
    (tmp_path / "a/clusters/prod/pki/ca.key").write_text("KEY\n")
    data = masters_state(tmp_path / "a", spec, TEXT, extravars or {"sealer_cluster_runtime": "none"}, now=NOW)
    out = tmp_path / "pulled"
    (out / "pki").mkdir(parents=True)
    (out / "Clusterfile").write_text(data["clusterfile"])
    (out / "state.json").write_text(json.dumps(data["state"]))
    for copy in data["copies"]:  # as the play: a controller file that is not there is not copied
        source = tmp_path / "a/clusters/prod" / copy["name"]
        if source.exists():
            (out / copy["name"]).write_text(source.read_text())
    return out, data


def test_the_masters_copy_is_what_the_controller_keeps_and_comes_back_in_place(tmp_path):
    pulled, data = pulled_dir(tmp_path)
    assert "s3cret" not in data["clusterfile"] and data["copies"] == [
        {"name": "pki/ca.key", "source": str(tmp_path / "a/clusters/prod/pki/ca.key")}]
    kept = write_applied(tmp_path / "a", load_clusterfile(TEXT), TEXT, {"sealer_cluster_runtime": "none"}, now=NOW)
    assert data["state"] == {**kept.to_json(), "applied_by": data["state"]["applied_by"]}
    state = install_pulled(tmp_path / "b", pulled)
    assert state.name == "prod"
    cluster = tmp_path / "b/clusters/prod"
    assert (cluster / "pki/ca.key").read_text() == "KEY\n" and (cluster / "pki/ca.key").stat().st_mode & 0o777 == 0o600
    assert read_applied(cluster / "applied/state.json") == state
    assert (cluster / "applied/Clusterfile").read_text() == data["clusterfile"]
    assert install_pulled(tmp_path / "b", pulled) == state, "the same state again: fine"


def test_a_wrong_name_a_different_state_or_a_partial_copy_is_refused(tmp_path):
    pulled, _ = pulled_dir(tmp_path)
    with pytest.raises(InputError, match="keeps cluster prod, not other"):
        install_pulled(tmp_path / "b", pulled, name="other")
    install_pulled(tmp_path / "b", pulled)
    changed = json.loads((pulled / "state.json").read_text()) | {"applied_by": "someone@else"}
    (pulled / "state.json").write_text(json.dumps(changed))
    with pytest.raises(InputError, match="already has a state here.*--force"):
        install_pulled(tmp_path / "b", pulled)
    assert install_pulled(tmp_path / "b", pulled, force=True).applied_by == "someone@else"
    (pulled / "Clusterfile").unlink()
    with pytest.raises(SealerError, match="has no state.json and Clusterfile"):
        install_pulled(tmp_path / "c", pulled)


def test_a_kubernetes_cluster_also_keeps_admin_conf_on_the_masters(tmp_path):
    _, data = pulled_dir(tmp_path, {"sealer_cluster_runtime": "kubernetes"})
    assert {"name": "admin.conf", "source": str(tmp_path / "a/clusters/prod/admin.conf")} in data["copies"]
