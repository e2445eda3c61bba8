"""The applied cluster kept after a run: its Clusterfile without secrets, state.json, and the listing."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import yaml

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError
from sealer_runner.run.remote import saved_clusterfile
from sealer_runner.run.state import (
    REMOVED,
    applied_dir,
    known_clusters,
    platforms_from_event,
    read_applied,
    record_cert_sans,
    write_applied,
)

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: prod
spec:
  image: example.com/app:v1
  env: [MODE=prod, LEAK=xx-s3cret-ssh-xx]
  ssh:
    user: root
    passwd: s3cret-ssh
    port: 22
  hosts:
    - ips: [10.0.0.2, 10.0.0.3]
      roles: [master]
      ssh: {passwd: s3cret-ssh}
    - ips: [10.0.0.4]
      roles: [node]
  registry:
    localRegistry:
      domain: sea.hub
      port: 5000
      username: admin
      password: s3cret-registry
---
apiVersion: sealer.io/v2
kind: Config
metadata: {name: app-config}
spec:
  path: etc/app.yaml
  data: |
    token: s3cret-registry
"""

EXTRAVARS = {"sealer_image_digest": "sha256:" + "a" * 64, "sealer_delivered_platform": "linux/amd64",
             "sealer_cluster_runtime": "kubernetes", "sealer_kube_version": "v1.28.2"}
NOW = datetime(2026, 12, 3, 14, 0, 0, tzinfo=timezone.utc)


def write(tmp_path, text=CLUSTERFILE, extravars=EXTRAVARS, **kw):
    spec = load_clusterfile(text)
    return write_applied(tmp_path, spec, text, extravars, now=NOW, by="ops@controller", **kw)


def test_state_is_written_with_no_secret_in_any_file(tmp_path):
    state = write(tmp_path, host_platforms={"10.0.0.2": "linux/amd64", "10.0.0.3": "linux/amd64",
                                            "10.0.0.4": "linux/amd64"})
    target = applied_dir(tmp_path, "prod")
    assert sorted(p.name for p in target.iterdir()) == ["Clusterfile", "state.json"]
    for path in (tmp_path / "clusters").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"s3cret-ssh" not in data and b"s3cret-registry" not in data, path
    assert (target / "Clusterfile").stat().st_mode & 0o777 == 0o600

    text = (target / "Clusterfile").read_text()
    assert text.startswith("# The Clusterfile of cluster prod") and "Secrets were removed" in text
    docs = list(yaml.safe_load_all(text))
    spec = docs[0]["spec"]
    assert "passwd" not in spec["ssh"] and spec["ssh"] == {"user": "root", "port": 22}
    assert "ssh" in spec["hosts"][0] and "passwd" not in spec["hosts"][0]["ssh"]
    assert spec["registry"]["localRegistry"] == {"domain": "sea.hub", "port": 5000, "username": "admin"}
    assert spec["env"] == ["MODE=prod", f"LEAK=xx-{REMOVED}-xx"], "the rest is kept, a secret elsewhere is masked"
    assert docs[1]["spec"]["data"] == f"token: {REMOVED}\n"
    reread = load_clusterfile(text)  # still a valid Clusterfile, without passwords
    assert reread.cluster.name == "prod" and all(h.ssh.passwd is None for h in reread.cluster.hosts)

    saved = json.loads((target / "state.json").read_text())
    assert saved == state.to_json() and read_applied(target / "state.json") == state
    assert saved["image"] == "example.com/app:v1" and saved["image_digest"] == EXTRAVARS["sealer_image_digest"]
    assert saved["platform"] == "linux/amd64" and saved["runtime"] == "kubernetes"
    assert saved["kubernetes_version"] == "v1.28.2" and saved["applied_at"] == "2026-12-03T14:00:00Z"
    assert saved["applied_by"] == "ops@controller" and saved["ssh_password"] is True
    assert [(h["ip"], h["roles"]) for h in saved["hosts"]] == [
        ("10.0.0.2", ["master"]), ("10.0.0.3", ["master"]), ("10.0.0.4", ["node"])]
    assert state.masters == ("10.0.0.2", "10.0.0.3")


def test_a_rerun_replaces_the_state_and_without_kubernetes_there_is_no_version(tmp_path):
    write(tmp_path)
    keyed = CLUSTERFILE.replace("    passwd: s3cret-ssh\n", "").replace("      ssh: {passwd: s3cret-ssh}\n", "")
    state = write(tmp_path, keyed, {"sealer_image_digest": "sha256:" + "b" * 64,
                                    "sealer_delivered_platform": "linux/arm64", "sealer_cluster_runtime": "none"})
    assert state.kubernetes_version is None and state.ssh_password is False and state.platform == "linux/arm64"
    assert read_applied(applied_dir(tmp_path, "prod") / "state.json") == state
    assert [p.name for p in applied_dir(tmp_path, "prod").iterdir() if p.name.startswith(".")] == [], "no temp left"


def test_known_clusters_lists_applied_and_never_applied(tmp_path):
    assert known_clusters(tmp_path) == []
    write(tmp_path)
    (tmp_path / "clusters" / "fresh" / "runner").mkdir(parents=True)
    broken = applied_dir(tmp_path, "zbroken")
    broken.mkdir(parents=True)
    (broken / "state.json").write_text("{not json")
    found = known_clusters(tmp_path)
    assert [c.name for c in found] == ["fresh", "prod", "zbroken"]
    assert found[0].state is None and not found[0].error
    assert found[1].state is not None and found[1].state.image == "example.com/app:v1"
    assert found[1].clusterfile == applied_dir(tmp_path, "prod") / "Clusterfile"
    assert found[2].state is None and "not JSON" in found[2].error


def test_saved_clusterfile_is_the_applied_one(tmp_path):
    with pytest.raises(InputError, match="no cluster was applied"):
        saved_clusterfile(tmp_path)
    keyed = CLUSTERFILE.replace("    passwd: s3cret-ssh\n", "").replace("      ssh: {passwd: s3cret-ssh}\n", "")
    write(tmp_path, keyed)
    assert saved_clusterfile(tmp_path) == applied_dir(tmp_path, "prod") / "Clusterfile"
    write(tmp_path, keyed.replace("name: prod", "name: other"))
    with pytest.raises(InputError, match=r"several clusters \(other, prod\)"):
        saved_clusterfile(tmp_path)


def test_saved_clusterfile_of_a_password_cluster_asks_for_f(tmp_path):
    write(tmp_path)
    with pytest.raises(InputError, match="SSH passwords.*removed.*-f"):
        saved_clusterfile(tmp_path)


def test_platforms_from_events():
    seen: dict[str, str] = {}
    platforms_from_event({"event": "runner_on_ok", "event_data": {
        "host": "10.0.0.2", "res": {"ansible_facts": {"sealer_host_platform": "linux/arm64"}}}}, seen)
    platforms_from_event({"event": "runner_on_ok", "event_data": {"host": "10.0.0.3", "res": {}}}, seen)
    platforms_from_event({"event": "runner_on_failed", "event_data": {"host": "10.0.0.4"}}, seen)
    assert seen == {"10.0.0.2": "linux/arm64"}


def test_cert_names_are_kept_by_the_state_and_by_the_next_run(tmp_path):
    from sealer_runner.run.state import added_cert_sans

    assert added_cert_sans(tmp_path, "prod") == (), "never applied: none"
    write(tmp_path)
    assert added_cert_sans(tmp_path, "prod") == ()
    record_cert_sans(tmp_path, "prod", ["api.example.com", "10.0.0.9"])
    assert added_cert_sans(tmp_path, "prod") == ("api.example.com", "10.0.0.9")
    state = read_applied(applied_dir(tmp_path, "prod") / "state.json")
    assert state.cert_sans == ("api.example.com", "10.0.0.9") and state.image == "example.com/app:v1"
    # a run renders them (the runtime's sealer_kube_added_sans) and keeps them
    write(tmp_path, extravars={**EXTRAVARS, "sealer_kube_added_sans": ["api.example.com", "10.0.0.9"]})
    assert added_cert_sans(tmp_path, "prod") == ("api.example.com", "10.0.0.9")
