"""The v2 Cluster document: defaults, inheritance, expansion and helpers."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from sealer_runner.clusterfile import (
    SSH,
    CloudSpec,
    ClusterSpec,
    ExternalRegistry,
    LocalRegistry,
    Machine,
    Secret,
    Taint,
    load_clusterfile,
)


def load(text: str) -> ClusterSpec:
    return load_clusterfile(textwrap.dedent(text))


MINIMAL = textwrap.dedent(
    """\
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata:
      name: my-cluster
    spec:
      image: docker.io/sealerio/kubernetes:v1.22.15
      hosts:
        - ips: [192.168.0.2]
          roles: [master]
    """
)


def test_minimal_cluster_defaults() -> None:
    spec = load(MINIMAL)
    cluster = spec.cluster
    assert cluster.name == "my-cluster"
    assert cluster.api_version == "sealer.io/v2"
    assert cluster.image == "docker.io/sealerio/kubernetes:v1.22.15"
    assert cluster.provider == "BAREMETAL"
    assert cluster.cloud is None
    assert cluster.data_root == "/var/lib/sealer/data"
    assert cluster.container_runtime.type is None
    assert cluster.ssh == SSH(user="root", passwd=None, pk="~/.ssh/id_rsa", pk_passwd=None, port=22)
    assert cluster.registry.local == LocalRegistry(domain="sea.hub", port=5000, ha=True, insecure=False)
    assert cluster.registry.external is None
    assert cluster.env == {}
    assert cluster.cmd == cluster.cmd_args == cluster.app_names == ()
    assert cluster.host_aliases == ()
    assert [host.ip for host in cluster.hosts] == ["192.168.0.2"]
    assert spec.configs == spec.plugins == spec.applications == ()
    assert spec.application is None
    assert dict(spec.kubeadm) == {}
    assert spec.warnings == ()
    assert spec.filename == "Clusterfile"


def test_sealer_cloud_v2_is_accepted() -> None:
    spec = load(MINIMAL.replace("sealer.io/v2", "sealer.cloud/v2"))
    assert spec.cluster.api_version == "sealer.cloud/v2"
    assert spec.warnings == ()


def test_key_is_not_defaulted_when_a_password_is_given() -> None:
    spec = load(MINIMAL + "  ssh:\n    passwd: s3cret\n")
    assert spec.cluster.ssh.pk is None
    assert spec.cluster.ssh.passwd == Secret("s3cret")
    assert spec.cluster.hosts[0].ssh.pk is None


FULL = """\
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata:
      name: prod
      annotations:
        owner: platform
    spec:
      image: kubernetes:v1.22.15
      env:
        - PodCIDR=100.64.0.0/10
        - StorageDevice=/dev/vdc
        - CertSANS=a.example.com;10.0.0.9
      cmd_args: [Replicas=3]
      cmd: ["kubectl apply -f etc/x.yaml"]
      appNames: [nginx, mysql]
      ssh:
        user: sealer
        passwd: cluster-pass
        port: "2222"
      containerRuntime:
        type: containerd
      dataRoot: /data/sealer
      hostAliases:
        - ip: 10.0.0.10
          hostnames: [db.local, cache.local]
      registry:
        localRegistry:
          domain: hub.local
          port: 5443
          username: admin
          password: reg-pass
          ha: false
          insecure: true
          cert:
            subjectAltName:
              dnsNames: [hub.example.com]
              ips: [10.0.0.2]
      hosts:
        - ips: [192.168.0.2-192.168.0.4]
          roles: [master]
          ssh:
            passwd: master-pass
            port: 22
          env:
            - StorageDevice=/dev/vde
            - EtcdDevice=/dev/vdb
          labels:
            node.example.com/tier: control
            empty: ""
          taints:
            - dedicated=infra:NoSchedule
            - node-role.kubernetes.io/master:PreferNoSchedule
        - ips: [192.168.0.5, "fd00::0:5"]
          roles: [node, db]
        - ips: [192.168.0.9]
          roles: [registry]
          ssh:
            user: root
            pk: /keys/registry
    """


@pytest.fixture(scope="module")
def full() -> ClusterSpec:
    return load(FULL)


def test_range_is_expanded_in_order(full: ClusterSpec) -> None:
    ips = [host.ip for host in full.cluster.hosts]
    assert ips == ["192.168.0.2", "192.168.0.3", "192.168.0.4", "192.168.0.5", "fd00::5", "192.168.0.9"]
    assert full.cluster.host_groups[0].ips == ("192.168.0.2", "192.168.0.3", "192.168.0.4")
    assert full.cluster.host_groups[0].count == 3


def test_role_helpers(full: ClusterSpec) -> None:
    cluster = full.cluster
    assert [h.ip for h in cluster.masters] == ["192.168.0.2", "192.168.0.3", "192.168.0.4"]
    assert [h.ip for h in cluster.nodes] == ["192.168.0.5", "fd00::5"]
    assert cluster.master0 is not None and cluster.master0.ip == "192.168.0.2"
    assert [h.ip for h in cluster.hosts_with_role("db")] == ["192.168.0.5", "fd00::5"]
    assert [h.ip for h in cluster.registry_hosts] == ["192.168.0.9"]
    assert cluster.host("fd00:0::5") is cluster.hosts[4]
    assert cluster.host("10.9.9.9") is None
    assert cluster.host("not-an-ip") is None


def test_ssh_is_cluster_ssh_overridden_per_host(full: ClusterSpec) -> None:
    master, node, registry = full.cluster.hosts[0], full.cluster.hosts[3], full.cluster.hosts[5]
    assert master.ssh == SSH(user="sealer", passwd=Secret("master-pass"), pk=None, pk_passwd=None, port=22)
    assert node.ssh == SSH(user="sealer", passwd=Secret("cluster-pass"), pk=None, pk_passwd=None, port=2222)
    assert registry.ssh == SSH(user="root", passwd=Secret("cluster-pass"), pk="/keys/registry", port=2222)
    assert full.cluster.ssh.port == 2222
    assert full.cluster.host_groups[1].ssh.port is None


def test_env_is_cluster_env_overridden_per_host(full: ClusterSpec) -> None:
    cluster = full.cluster
    assert dict(cluster.env) == {
        "PodCIDR": "100.64.0.0/10",
        "StorageDevice": "/dev/vdc",
        "CertSANS": "a.example.com;10.0.0.9",
    }
    assert dict(cluster.hosts[0].env) == {
        "PodCIDR": "100.64.0.0/10",
        "StorageDevice": "/dev/vde",
        "CertSANS": "a.example.com;10.0.0.9",
        "EtcdDevice": "/dev/vdb",
    }
    assert cluster.hosts[3].env == cluster.env
    assert dict(cluster.host_groups[0].env) == {"StorageDevice": "/dev/vde", "EtcdDevice": "/dev/vdb"}


def test_labels_and_taints(full: ClusterSpec) -> None:
    master = full.cluster.hosts[0]
    assert dict(master.labels) == {"node.example.com/tier": "control", "empty": ""}
    assert master.taints == (
        Taint("dedicated", "infra", "NoSchedule"),
        Taint("node-role.kubernetes.io/master", "", "PreferNoSchedule"),
    )
    assert [str(t) for t in master.taints] == ["dedicated=infra:NoSchedule", "node-role.kubernetes.io/master:PreferNoSchedule"]
    assert full.cluster.hosts[3].labels == {} and full.cluster.hosts[3].taints == ()


def test_other_spec_fields(full: ClusterSpec) -> None:
    cluster = full.cluster
    assert cluster.cmd == ("kubectl apply -f etc/x.yaml",)
    assert cluster.cmd_args == ("Replicas=3",)
    assert cluster.app_names == ("nginx", "mysql")
    assert cluster.container_runtime.type == "containerd"
    assert cluster.data_root == "/data/sealer"
    assert cluster.host_aliases[0].ip == "10.0.0.10"
    assert cluster.host_aliases[0].hostnames == ("db.local", "cache.local")
    assert dict(cluster.annotations) == {"owner": "platform"}
    local = cluster.registry.local
    assert local is not None
    assert (local.domain, local.port, local.username, local.ha, local.insecure) == ("hub.local", 5443, "admin", False, True)
    assert local.password is not None and local.password.reveal() == "reg-pass"
    assert local.cert.dns_names == ("hub.example.com",)
    assert local.cert.ips == ("10.0.0.2",)


def test_hosts_remember_their_line(full: ClusterSpec) -> None:
    assert full.cluster.hosts[0].line == 39
    assert full.cluster.hosts[3].line == 53


def test_model_is_frozen(full: ClusterSpec) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        full.cluster.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        full.cluster.env["X"] = "1"  # type: ignore[index]
    assert isinstance(full.cluster.hosts, tuple)


def registry_cluster(registry: str, roles: str = "[master]") -> ClusterSpec:
    return load(
        f"""\
        apiVersion: sealer.io/v2
        kind: Cluster
        metadata:
          name: c
        spec:
          image: k:v1
          registry: {registry}
          hosts:
            - ips: [10.0.0.1-10.0.0.3]
              roles: {roles}
            - ips: [10.0.0.4]
              roles: [node]
        """
    )


def test_registry_hosts_are_all_masters_when_ha_by_default() -> None:
    cluster = registry_cluster("{}").cluster
    assert [h.ip for h in cluster.registry_hosts] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_registry_hosts_is_master0_without_ha() -> None:
    cluster = registry_cluster("{localRegistry: {ha: false}}").cluster
    assert [h.ip for h in cluster.registry_hosts] == ["10.0.0.1"]


def test_registry_role_wins() -> None:
    cluster = registry_cluster("{localRegistry: {ha: true}}", roles="[master]").cluster
    assert len(cluster.registry_hosts) == 3
    cluster = registry_cluster("{}", roles="[master, registry]").cluster
    assert [h.ip for h in cluster.registry_hosts] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_external_registry_only_means_no_local_registry() -> None:
    spec = registry_cluster("{externalRegistry: {domain: reg.example.com, port: 443, password: x}}")
    cluster = spec.cluster
    assert cluster.registry.local is None
    assert cluster.registry.external == ExternalRegistry("reg.example.com", 443, None, Secret("x"))
    assert cluster.registry_hosts == ()


def test_registry_role_without_local_registry_warns() -> None:
    spec = registry_cluster("{externalRegistry: {domain: reg.example.com}}", roles="[master, registry]")
    assert spec.warnings == ("Clusterfile:8: hosts: the registry role has no effect without a localRegistry",)


def test_both_registries() -> None:
    registry = registry_cluster("{localRegistry: {}, externalRegistry: {domain: 10.0.0.50}}").cluster.registry
    assert registry.local == LocalRegistry()
    assert registry.external is not None and registry.external.domain == "10.0.0.50"


@pytest.mark.parametrize(("written", "port"), [("22", 22), ('"2222"', 2222), ("0022", 22), ("65535", 65535)])
def test_ssh_port_spellings(written: str, port: int) -> None:
    assert load(MINIMAL + f"  ssh:\n    port: {written}\n").cluster.ssh.port == port


def test_string_fields_keep_the_written_text() -> None:
    spec = load(MINIMAL + "  ssh:\n    passwd: 0123\n    user: yes\n")
    assert spec.cluster.ssh.passwd == Secret("0123")
    assert spec.cluster.ssh.user == "yes"


def test_null_fields_are_absent() -> None:
    spec = load(MINIMAL + "  env:\n  ssh:\n  registry:\n  cmd: ~\n")
    assert spec.cluster.env == {}
    assert spec.cluster.registry.local == LocalRegistry()


def test_sealer_written_clusterfile_with_status_and_creation_timestamp() -> None:
    spec = load(
        """\
        apiVersion: sealer.cloud/v2
        kind: Cluster
        metadata:
          creationTimestamp: null
          name: default-kubernetes-cluster
        spec:
          env:
          hosts:
            - ips: [192.168.0.2, 192.168.0.3, 192.168.0.4]
              roles: [master]
              ssh: {}
            - ips: [192.168.0.5]
              roles: [node]
              ssh: {}
          image: test
          ssh:
            passwd: Seadent123
        status: {}
        """
    )
    assert len(spec.cluster.masters) == 3


def test_custom_roles_are_allowed() -> None:
    spec = load(MINIMAL.replace("roles: [master]", "roles: [master, gpu-worker, db_2]"))
    assert spec.cluster.hosts[0].roles == ("master", "gpu-worker", "db_2")


def test_ipv6_range() -> None:
    spec = load(MINIMAL.replace("[192.168.0.2]", '["fd00::1-fd00::3"]'))
    assert [h.ip for h in spec.cluster.hosts] == ["fd00::1", "fd00::2", "fd00::3"]


CLOUD = """\
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata:
      name: cloud
    spec:
      image: kubernetes:v1.22.15
      provider: ALI_CLOUD
      cloud:
        region: cn-hangzhou
        zone: cn-hangzhou-h
      ssh:
        passwd: x
      hosts:
        - roles: [master]
          count: 3
          cpu: 4
          memory: "8"
          systemDisk: 100
          dataDisks: [100, 200]
          instanceType: ecs.c6.xlarge
        - roles: [node]
          count: 2
    """


def test_cloud_provider_host_groups() -> None:
    cluster = load(CLOUD).cluster
    assert cluster.provider == "ALI_CLOUD"
    assert cluster.cloud == CloudSpec(region="cn-hangzhou", zone="cn-hangzhou-h")
    assert [g.count for g in cluster.host_groups] == [3, 2]
    assert cluster.host_groups[0].machine == Machine(4, 8, 100, (100, 200), "ecs.c6.xlarge")
    assert cluster.host_groups[1].machine is None
    assert cluster.hosts == ()
    assert cluster.master0 is None
    assert cluster.registry_hosts == ()


def test_cloud_provider_with_known_ips() -> None:
    text = CLOUD.replace("count: 3", "count: 3\n          ips: [10.0.0.1-10.0.0.3]")
    cluster = load(text).cluster
    assert [h.ip for h in cluster.masters] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_container_provider_uses_counts_without_machines() -> None:
    spec = load(
        """\
        apiVersion: sealer.io/v2
        kind: Cluster
        metadata: {name: dev}
        spec:
          image: k:v1
          provider: CONTAINER
          hosts:
            - {roles: [master], count: 1}
            - {roles: [node], count: 2}
        """
    )
    assert [g.count for g in spec.cluster.host_groups] == [1, 2]


def test_aws_provider_without_cloud_block() -> None:
    cluster = load(CLOUD.replace("ALI_CLOUD", "AWS").replace("      cloud:\n        region: cn-hangzhou\n        zone: cn-hangzhou-h\n", "")).cluster
    assert cluster.provider == "AWS"
    assert cluster.cloud is None
