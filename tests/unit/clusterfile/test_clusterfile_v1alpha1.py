"""sealer.aliyun.com/v1alpha1 Clusters are converted to the v2 model."""

from __future__ import annotations

import textwrap

import pytest

from sealer_runner.clusterfile import Machine, Secret, load_clusterfile
from sealer_runner.errors import ClusterfileError

BAREMETAL = textwrap.dedent(
    """\
    apiVersion: sealer.aliyun.com/v1alpha1
    kind: Cluster
    metadata:
      name: my-cluster
    spec:
      image: registry.cn-qingdao.aliyuncs.com/sealer-io/kubernetes:v1.19.8
      provider: BAREMETAL
      env: [Extra=1]
      ssh:
        passwd: xxx
        user: root
      network:
        podCIDR: 100.64.0.0/10
        svcCIDR: 10.96.0.0/22
        cniName: calico
      certSANS:
        - aliyun-inc.com
        - 10.0.0.2
      masters:
        ipList:
          - 172.20.126.4
          - 172.20.126.5-172.20.126.6
      nodes:
        ipList: [172.20.126.8]
    """
)

CONVERTED = (
    "Clusterfile:1: apiVersion sealer.aliyun.com/v1alpha1 is deprecated; the Cluster was converted to "
    "sealer.io/v2 (masters/nodes became hosts, network and certSANS became env)"
)


def test_baremetal_conversion() -> None:
    spec = load_clusterfile(BAREMETAL)
    cluster = spec.cluster
    assert cluster.api_version == "sealer.io/v2"
    assert cluster.provider == "BAREMETAL"
    assert [(g.roles, g.ips) for g in cluster.host_groups] == [
        (("master",), ("172.20.126.4", "172.20.126.5", "172.20.126.6")),
        (("node",), ("172.20.126.8",)),
    ]
    assert [h.ip for h in cluster.masters] == ["172.20.126.4", "172.20.126.5", "172.20.126.6"]
    assert [h.ip for h in cluster.nodes] == ["172.20.126.8"]
    assert dict(cluster.env) == {
        "Extra": "1",
        "PodCIDR": "100.64.0.0/10",
        "SvcCIDR": "10.96.0.0/22",
        "CertSANS": "aliyun-inc.com;10.0.0.2",
    }
    assert cluster.ssh.passwd == Secret("xxx")
    assert spec.warnings == (
        CONVERTED,
        "Clusterfile:15: network.cniName: has no sealer.io/v2 equivalent and was ignored",
    )


def test_explicit_env_wins_over_network() -> None:
    text = BAREMETAL.replace("env: [Extra=1]", "env: [PodCIDR=10.244.0.0/16, CertSANS=x]")
    spec = load_clusterfile(text)
    assert spec.cluster.env["PodCIDR"] == "10.244.0.0/16"
    assert spec.cluster.env["CertSANS"] == "x"
    assert "Clusterfile:13: network.podCIDR: ignored: env already sets PodCIDR" in spec.warnings
    assert "Clusterfile:16: certSANS: ignored: env already sets CertSANS" in spec.warnings


def test_cloud_conversion_keeps_counts_and_machines() -> None:
    spec = load_clusterfile(
        textwrap.dedent(
            """\
            apiVersion: sealer.aliyun.com/v1alpha1
            kind: Cluster
            metadata:
              name: my-cluster
            spec:
              image: kubernetes:v1.19.8
              provider: ALI_CLOUD
              ssh: {passwd: xxx}
              masters:
                cpu: 4
                memory: "4"
                count: "3"
                systemDisk: 100
                dataDisks: ["100"]
              nodes:
                count: "0"
            """
        )
    )
    cluster = spec.cluster
    assert cluster.provider == "ALI_CLOUD"
    (masters,) = cluster.host_groups
    assert masters.roles == ("master",)
    assert masters.count == 3
    assert masters.machine == Machine(cpu=4, memory=4, system_disk=100, data_disks=(100,))
    assert cluster.hosts == ()
    assert spec.warnings == (CONVERTED,)


def test_machine_fields_on_baremetal_are_dropped_with_a_warning() -> None:
    text = BAREMETAL.replace("  nodes:\n", "  nodes:\n    cpu: 4\n    count: 1\n")
    spec = load_clusterfile(text)
    assert spec.cluster.host_groups[1].count == 1
    assert "Clusterfile:25: nodes.count: ignored for provider BAREMETAL" in spec.warnings
    assert "Clusterfile:24: nodes.cpu: ignored for provider BAREMETAL" in spec.warnings


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("172.20.126.8]", "172.20.126.4]", "Clusterfile:24: nodes.ipList[0]: 172.20.126.4 is already listed at masters.ipList[0] (line 21)"),
        ("  masters:\n    ipList:\n      - 172.20.126.4\n      - 172.20.126.5-172.20.126.6\n", "", "Clusterfile:6: masters: no host has the master role"),
        ("    svcCIDR", "    serviceCIDR", 'Clusterfile:14: network: unknown field "serviceCIDR"; did you mean "svcCIDR"?'),
        ("  masters:\n    ipList:", "  masters:\n    ips:", 'Clusterfile:20: masters: unknown field "ips"; did you mean "ipList"?'),
        ("      - 172.20.126.4\n", "      - 172.20.126.400\n", 'Clusterfile:21: masters.ipList[0]: "172.20.126.400" is not an IP address'),
        ("  provider: BAREMETAL\n", "  provider: BAREMETAL\n  hosts: []\n", 'Clusterfile:8: spec: unknown field "hosts"'),
    ],
)
def test_v1_errors_use_v1_paths(old: str, new: str, message: str) -> None:
    assert old in BAREMETAL
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(BAREMETAL.replace(old, new))
    assert str(info.value) == message


def test_masters_without_ips_on_baremetal() -> None:
    text = BAREMETAL.replace("    ipList:\n      - 172.20.126.4\n      - 172.20.126.5-172.20.126.6\n", "    count: 3\n")
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(text)
    assert str(info.value) == "Clusterfile:20: masters.ipList: at least one IP is required with provider BAREMETAL"
