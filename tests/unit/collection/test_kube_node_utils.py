"""module_utils of kube_node: find a node by address, and the kubectl commands for what differs."""

from __future__ import annotations

import pytest

from .conftest import load

kube = load("module_utils", "_kube_node")

NODES = {"items": [
    {"metadata": {"name": "n1", "labels": {"ssd": "true", "kubernetes.io/hostname": "n1"}},
     "spec": {"taints": [{"key": "old", "effect": "NoExecute"}, {"key": "dedicated", "value": "db", "effect": "NoSchedule"}]},
     "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.21"}, {"type": "Hostname", "address": "n1"}]}},
    {"metadata": {"name": "n2"}, "spec": {},
     "status": {"addresses": [{"type": "ExternalIP", "address": "10.0.0.21"}, {"type": "InternalIP", "address": "10.0.0.22"}]}},
    {"metadata": {"name": "n3"}, "status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.3"}]}},
]}


def test_nodes_are_found_by_internal_ip_first_then_any_address():
    assert kube.name_of(kube.find_node(NODES, "10.0.0.21")) == "n1"
    assert kube.name_of(kube.find_node(NODES, "10.0.0.22")) == "n2"
    assert kube.name_of(kube.find_node(NODES, "203.0.113.3")) == "n3"
    with pytest.raises(kube.KubeNodeError, match=r"no Kubernetes node has the address 10.0.0.99 "
                                                 r"\(nodes' InternalIPs: 10.0.0.21, 10.0.0.22\)"):
        kube.find_node(NODES, "10.0.0.99")


def test_only_what_differs_becomes_a_command():
    node = kube.find_node(NODES, "10.0.0.21")
    base = ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]
    assert kube.commands(base, node, {"ssd": "true"}, [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
                         [{"key": "absent", "effect": ""}, {"key": "old", "effect": "NoSchedule"}]) == []
    assert kube.commands(base, node, {"ssd": "false", "zone": "a"},
                         [{"key": "dedicated", "value": "web", "effect": "NoSchedule"}, {"key": "gpu", "value": "", "effect": "NoSchedule"}],
                         [{"key": "old", "effect": ""}, {"key": "dedicated", "effect": "NoExecute"}]) == [
        base + ["label", "node", "n1", "ssd=false", "zone=a", "--overwrite"],
        base + ["taint", "node", "n1", "old-"],
        base + ["taint", "node", "n1", "dedicated=web:NoSchedule", "gpu:NoSchedule", "--overwrite"],
    ]
    assert kube.untaint_args(node, [{"key": "old", "effect": "NoExecute"}]) == ["old:NoExecute-"]


def test_malformed_taints_are_refused():
    node = kube.find_node(NODES, "10.0.0.22")
    with pytest.raises(kube.KubeNodeError):
        kube.taint_args(node, [{"key": "a", "value": "b"}])
    with pytest.raises(kube.KubeNodeError):
        kube.untaint_args(node, [{"effect": "NoSchedule"}])
