"""The etcd member read from kubeadm's static pod manifest, and a restore's --initial-cluster
(collection/plugins/module_utils/_etcd.py)."""

from __future__ import annotations

import pytest
import yaml

from tests.unit.collection.conftest import load

etcd = load("module_utils", "_etcd")

#: kubeadm v1.30's stacked etcd manifest (abridged to the container), as on a master that joined.
MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: etcd, namespace: kube-system}
spec:
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.12-0
    command:
    - etcd
    - --advertise-client-urls=https://10.0.0.2:2379
    - --cert-file=/etc/kubernetes/pki/etcd/server.crt
    - --data-dir=/var/lib/etcd/
    - --initial-advertise-peer-urls=https://10.0.0.2:2380
    - --initial-cluster=m0=https://10.0.0.1:2380,m1=https://10.0.0.2:2380
    - --initial-cluster-state=existing
    - --name=m1
    - --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt
"""


def test_the_member_comes_from_the_command():
    member = etcd.member(yaml.safe_load(MANIFEST))
    assert member["name"] == "m1" and member["data_dir"] == "/var/lib/etcd"
    assert member["peer_url"] == "https://10.0.0.2:2380" and member["client_url"] == "https://10.0.0.2:2379"
    assert member["ca"] == "/etc/kubernetes/pki/etcd/ca.crt"
    assert member["flags"]["initial-cluster-state"] == "existing"


def test_args_count_and_the_last_flag_wins():
    pod = yaml.safe_load(MANIFEST)
    pod["spec"]["containers"][0]["args"] = ["--name=renamed", "--advertise-client-urls=https://a:2379,https://b:2379"]
    member = etcd.member(pod)
    assert member["name"] == "renamed" and member["client_url"] == "https://a:2379"


@pytest.mark.parametrize("pod, message", [
    ("[]", "not a YAML mapping"),
    ("{spec: {containers: []}}", "has no container"),
    ("{spec: {containers: [{name: etcd, command: [etcd, --name=x]}]}}", "has no --data-dir"),
])
def test_a_manifest_without_what_a_restore_needs_is_named(pod, message):
    with pytest.raises(etcd.EtcdManifestError, match=message) as info:
        etcd.member(yaml.safe_load(pod), "m1:/etc/kubernetes/manifests/etcd.yaml")
    assert "m1:/etc/kubernetes/manifests/etcd.yaml" in str(info.value)


def test_the_initial_cluster_lists_every_member_once():
    members = [{"name": f"m{i}", "peer_url": f"https://10.0.0.{i + 1}:2380"} for i in range(3)]
    assert etcd.initial_cluster(members) == \
        "m0=https://10.0.0.1:2380,m1=https://10.0.0.2:2380,m2=https://10.0.0.3:2380"
    with pytest.raises(etcd.EtcdManifestError, match="named m0"):
        etcd.initial_cluster([members[0], {**members[1], "name": "m0"}])
    with pytest.raises(etcd.EtcdManifestError, match="peer URL"):
        etcd.initial_cluster([members[0], {**members[1], "peer_url": members[0]["peer_url"]}])
    with pytest.raises(etcd.EtcdManifestError, match="no etcd member"):
        etcd.initial_cluster([])
