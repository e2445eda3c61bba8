"""hosts[].labels and hosts[].taints: LABEL entries of sealer_plugins with a cluster runtime, an error
naming FILE:LINE before any host is touched without one. Never accepted and ignored."""

from pathlib import Path

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError
from sealer_runner.image.store import Store
from sealer_runner.run.cluster import build_request
from sealer_runner.run.host_meta import host_meta_plugins

from .test_image_plugins import build

CLUSTERFILE = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: demo}
spec:
  image: example.com/plugins:v1
  hosts:
    - {ips: [10.248.0.11], roles: [master]}
    - ips: [10.248.0.21-10.248.0.22]
      roles: [node]
      labels: {disk: ssd}
      taints: ["dedicated=db:NoSchedule"]
    - ips: [10.248.0.31]
      roles: [node]
      taints: ["gpu:NoExecute"]
"""


def test_groups_with_labels_or_taints_become_label_entries_at_post_install():
    cluster = load_clusterfile(CLUSTERFILE, "cf.yaml").cluster
    first, second = host_meta_plugins(cluster, "cf.yaml", "kubernetes")
    assert (first["name"], first["type"], first["phases"], first["scope"], first["source"]) == \
        ("hosts[1] labels and taints", "LABEL", ["post-install"], [], "cf.yaml:10")
    assert first["targets"] == [
        {"ip": ip, "hostname": "", "labels": {"disk": "ssd"},
         "taints": [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}], "untaints": []}
        for ip in ("10.248.0.21", "10.248.0.22")]
    assert second["source"] == "cf.yaml:14" and second["name"] == "hosts[2] labels and taints"
    assert second["targets"] == [{"ip": "10.248.0.31", "hostname": "", "labels": {},
                                  "taints": [{"key": "gpu", "value": "", "effect": "NoExecute"}], "untaints": []}]
    assert first["id"] != second["id"]


def test_without_labels_or_taints_nothing_is_added_even_without_a_runtime():
    text = CLUSTERFILE.split("    - ips: [10.248.0.21")[0]
    assert host_meta_plugins(load_clusterfile(text).cluster, "Clusterfile", "none") == []


def test_without_a_cluster_runtime_they_are_an_error_naming_the_line():
    cluster = load_clusterfile(CLUSTERFILE, "cf.yaml").cluster
    with pytest.raises(InputError) as info:
        host_meta_plugins(cluster, "cf.yaml", "none")
    assert str(info.value).startswith("cf.yaml:10: hosts[1].labels: labels and taints need a Kubernetes cluster "
                                      "runtime, and image example.com/plugins:v1 has none")


def test_build_request_applies_them_with_kubeadm_and_refuses_them_without(tmp_path: Path):
    store = Store(tmp_path / "store")
    build(store, tmp_path / "ctx", "FROM scratch\nLABEL cluster.alpha.sealer.io/cluster-runtime-version=v1.30.2\nCOPY bin bin\n", {"bin/kubeadm": "#!/bin/sh\n"})
    request = build_request(load_clusterfile(CLUSTERFILE), store, tmp_path / "root", ssh_key=None)
    assert [p["source"] for p in request.extravars["sealer_plugins"]] == ["Clusterfile:10", "Clusterfile:14"]

    apps_only = Store(tmp_path / "apps-store")
    build(apps_only, tmp_path / "ctx2", "FROM scratch\nCOPY f f\n", {"f": "x\n"})
    with pytest.raises(InputError, match=r"^Clusterfile:10: hosts\[1\].labels: labels and taints need a Kubernetes"):
        build_request(load_clusterfile(CLUSTERFILE), apps_only, tmp_path / "root2", ssh_key=None)
    assert not (tmp_path / "root2" / "clusters" / "demo" / "runner").exists(), "nothing prepared for a run"
