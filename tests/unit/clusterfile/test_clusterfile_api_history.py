"""Every apiVersion sealer used over its history: converted with a warning naming the line, or refused
with the reason (docs/notes/kubernetes-runtime-research.md section 4)."""

from __future__ import annotations

import textwrap

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError

V2_SPEC = """\
# a comment first, so the apiVersion is on line 2
apiVersion: {api}
kind: Cluster
metadata: {{name: my-cluster}}
spec:
  image: kubernetes:v1.19.8
  hosts:
    - ips: [192.168.0.2]
      roles: [master]
    - ips: [192.168.0.3]
      roles: [node]
"""

V1_SPEC = """\
# a comment first, so the apiVersion is on line 2
apiVersion: {api}
kind: Cluster
metadata: {{name: my-cluster}}
spec:
  image: kubernetes:v1.19.8
  ssh: {{passwd: xxx}}
  masters: {{ipList: [192.168.0.2]}}
  nodes: {{ipList: [192.168.0.3]}}
"""

PLUGIN = """\
---
apiVersion: {api}
kind: Plugin
metadata: {{name: shell}}
spec:
  type: SHELL
  action: post-install
  data: echo hi
"""


def roles(text: str) -> list[tuple[str, tuple[str, ...]]]:
    spec = load_clusterfile(text)
    return [(h.ip, h.roles) for h in spec.cluster.hosts]


@pytest.mark.parametrize("api", ["cluster.sealer.cool/v2", "saler.cool/v2", "sealer.aliyun.com/v2alpha1",
                                 "sealer.io/v1", "sealer.com/v1alpha1"])
def test_old_names_of_the_v2_shape_are_read_as_v2_with_a_warning(api: str) -> None:
    spec = load_clusterfile(V2_SPEC.format(api=api))
    assert [(h.ip, h.roles) for h in spec.cluster.hosts] == [("192.168.0.2", ("master",)), ("192.168.0.3", ("node",))]
    assert spec.cluster.api_version == "sealer.io/v2"
    assert spec.warnings == (
        f"Clusterfile:2: apiVersion {api} is an old name for a Cluster; it was read as sealer.io/v2 "
        "(its spec has the v2 shape); write apiVersion: sealer.io/v2",
    )


@pytest.mark.parametrize("api", ["zlink.aliyun.com/v1alpha1", "sealer.aliyun.com/v1", "seadent.aliyun.com/v1",
                                 "sealer.io/v1", "sealer.com/v1alpha1"])
def test_v1_shaped_clusters_under_any_of_their_names_are_converted_with_a_warning(api: str) -> None:
    spec = load_clusterfile(V1_SPEC.format(api=api))
    assert [(h.ip, h.roles) for h in spec.cluster.hosts] == [("192.168.0.2", ("master",)), ("192.168.0.3", ("node",))]
    assert spec.cluster.api_version == "sealer.io/v2"
    assert spec.warnings == (
        f"Clusterfile:2: apiVersion {api} is deprecated; the Cluster was converted to sealer.io/v2 "
        "(masters/nodes became hosts, network and certSANS became env)",
    )


@pytest.mark.parametrize("api", ["sealer.io/v1", "sealer.com/v1alpha1"])
def test_a_spec_mixing_both_shapes_cannot_be_converted(api: str) -> None:
    text = V2_SPEC.format(api=api) + "  masters: {ipList: [192.168.0.4]}\n"
    with pytest.raises(ClusterfileError) as caught:
        load_clusterfile(text)
    assert str(caught.value) == (
        f"Clusterfile:2: spec: cannot be converted: apiVersion {api} names both Cluster shapes and this spec "
        "mixes them (hosts is sealer.io/v2, masters is v1); keep one: hosts with apiVersion: sealer.io/v2"
    )


def test_the_v1_names_keep_the_v1_schema_strictly() -> None:
    text = V1_SPEC.format(api="zlink.aliyun.com/v1alpha1") + "  hosts: []\n"
    with pytest.raises(ClusterfileError, match=r'Clusterfile:10: spec: unknown field "hosts"'):
        load_clusterfile(text)


def test_the_current_names_warn_nothing() -> None:
    assert load_clusterfile(V2_SPEC.format(api="sealer.io/v2")).warnings == ()
    assert load_clusterfile(V2_SPEC.format(api="sealer.cloud/v2")).warnings == ()


@pytest.mark.parametrize("api", ["sealer.com/v1alpha1", "zlink.aliyun.com/v1alpha1", "sealer.aliyun.com/v1"])
@pytest.mark.parametrize("kind", ["Plugin", "Config"])
def test_old_config_and_plugin_names_are_read_as_v1_with_a_warning(api: str, kind: str) -> None:
    doc = PLUGIN.format(api=api)
    if kind == "Config":
        doc = doc.replace("kind: Plugin", "kind: Config").replace(
            "  type: SHELL\n  action: post-install\n  data: echo hi\n", "  path: etc/a.yaml\n  data: 'a: 1'\n")
    spec = load_clusterfile(V2_SPEC.format(api="sealer.io/v2") + doc)
    (item,) = spec.plugins if kind == "Plugin" else spec.configs
    assert item.api_version == api
    assert spec.warnings == (f"Clusterfile:13: {kind}: apiVersion {api} is an old name; the {kind} was read as sealer.io/v1",)


def test_the_v07_kubeadm_config_kind_is_refused_with_the_reason() -> None:
    text = V2_SPEC.format(api="sealer.io/v2") + textwrap.dedent(
        """\
        ---
        apiVersion: sealer.cloud/v2
        kind: KubeadmConfig
        spec: {}
        """
    )
    with pytest.raises(ClusterfileError) as caught:
        load_clusterfile(text)
    message = str(caught.value)
    assert message.startswith("Clusterfile:14: kind: sealer v0.7's KubeadmConfig cannot be converted: it inlined")
    assert "write them as separate InitConfiguration" in message


def test_an_unknown_cluster_api_version_is_still_an_error() -> None:
    with pytest.raises(ClusterfileError, match=r'Clusterfile:2: apiVersion: unknown apiVersion "sealer.io/v3"'):
        load_clusterfile(V2_SPEC.format(api="sealer.io/v3"))
