"""Every validation error path, with its exact message and YAML line."""

from __future__ import annotations

import textwrap

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError, InputError

#: Five header lines: the spec body below starts on line 6.
HEADER = "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: my-cluster\nspec:\n"
IMAGE = "  image: kubernetes:v1.22.15\n"  # line 6 when first
ONE_MASTER = "  hosts:\n    - ips: [192.168.0.2]\n      roles: [master]\n"


def cluster(body: str) -> str:
    """A Cluster document whose spec body starts on line 6."""
    return HEADER + textwrap.dedent(body).strip("\n").replace("\n", "\n  ").join(["  ", "\n"])


def fails(text: str) -> ClusterfileError:
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(text)
    return info.value


CLUSTER_CASES = [
    (
        "bad-ip",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master]
          - ips: [10.0.0.300]
            roles: [node]
        """,
        'Clusterfile:10: hosts[1].ips[0]: "10.0.0.300" is not an IP address',
    ),
    (
        "duplicate-ip",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2, 192.168.0.3]
            roles: [master]
          - ips:
              - 192.168.0.4
              - 192.168.0.3
            roles: [node]
        """,
        "Clusterfile:12: hosts[1].ips[1]: 192.168.0.3 is already listed at hosts[0].ips[1] (line 8)",
    ),
    (
        "duplicate-ip-from-range",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.3]
            roles: [master]
          - ips: [192.168.0.1-192.168.0.5]
            roles: [node]
        """,
        'Clusterfile:10: hosts[1].ips[0]: 192.168.0.3 (from range "192.168.0.1-192.168.0.5") '
        "is already listed at hosts[0].ips[0] (line 8)",
    ),
    (
        "duplicate-ipv6-spelling",
        """
        image: k:v1
        hosts:
          - ips: ["fd00::1"]
            roles: [master]
          - ips: ["fd00:0:0::1"]
            roles: [node]
        """,
        "Clusterfile:10: hosts[1].ips[0]: fd00::1 is already listed at hosts[0].ips[0] (line 8)",
    ),
    (
        "reversed-range",
        """
        image: k:v1
        hosts:
          - ips: [10.0.0.9-10.0.0.1]
            roles: [master]
        """,
        'Clusterfile:8: hosts[0].ips[0]: range "10.0.0.9-10.0.0.1" is reversed: 10.0.0.1 comes before 10.0.0.9',
    ),
    (
        "range-too-big",
        """
        image: k:v1
        hosts:
          - ips: [10.0.0.0-10.0.4.0]
            roles: [master]
        """,
        'Clusterfile:8: hosts[0].ips[0]: range "10.0.0.0-10.0.4.0" has 1025 addresses; at most 1024 are allowed',
    ),
    (
        "no-master",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [node]
        """,
        "Clusterfile:7: hosts: no host has the master role",
    ),
    (
        "empty-hosts-baremetal",
        """
        image: k:v1
        hosts: []
        """,
        "Clusterfile:7: hosts: at least one host is required with provider BAREMETAL",
    ),
    (
        "missing-hosts-baremetal",
        """
        image: k:v1
        provider: BAREMETAL
        """,
        "Clusterfile:6: hosts: at least one host is required with provider BAREMETAL",
    ),
    (
        "group-without-ips",
        """
        image: k:v1
        hosts:
          - roles: [master]
        """,
        "Clusterfile:8: hosts[0].ips: at least one IP is required with provider BAREMETAL",
    ),
    (
        "ssh-port-out-of-range",
        """
        image: k:v1
        ssh:
          port: 70000
        """,
        "Clusterfile:8: ssh.port: 70000 is out of range (must be between 1 and 65535)",
    ),
    (
        "host-ssh-port-not-a-number",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master]
            ssh:
              port: twenty-two
        """,
        'Clusterfile:11: hosts[0].ssh.port: expected a whole number, got "twenty-two"',
    ),
    (
        "registry-port-zero",
        """
        image: k:v1
        registry:
          localRegistry:
            port: 0
        """,
        "Clusterfile:9: registry.localRegistry.port: 0 is out of range (must be between 1 and 65535)",
    ),
    (
        "unknown-spec-field",
        """
        image: k:v1
        shh:
          passwd: x
        """,
        'Clusterfile:7: spec: unknown field "shh"; did you mean "ssh"?',
    ),
    (
        "unknown-spec-field-case",
        """
        image: k:v1
        DataRoot: /data
        """,
        'Clusterfile:7: spec: unknown field "DataRoot"; did you mean "dataRoot"?',
    ),
    (
        "cmds-is-cmd",
        """
        image: k:v1
        cmds: [x]
        """,
        'Clusterfile:7: spec: unknown field "cmds"; did you mean "cmd"?',
    ),
    (
        "unknown-host-field",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            role: [master]
        """,
        'Clusterfile:9: hosts[0]: unknown field "role"; did you mean "roles"?',
    ),
    (
        "unknown-field-no-suggestion",
        """
        image: k:v1
        zzzzzz: 1
        """,
        'Clusterfile:7: spec: unknown field "zzzzzz"',
    ),
    (
        "role-with-capital-and-space",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: ["Master "]
        """,
        'Clusterfile:9: hosts[0].roles[0]: "Master " is not a valid role (lowercase letters, digits, \'-\' and \'_\'); '
        'did you mean "master"?',
    ),
    (
        "empty-role",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master, ""]
        """,
        "Clusterfile:9: hosts[0].roles[1]: a role cannot be empty",
    ),
    (
        "no-roles",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: []
        """,
        "Clusterfile:9: hosts[0].roles: at least one role is required (e.g. [master] or [node])",
    ),
    (
        "roles-missing",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
        """,
        "Clusterfile:8: hosts[0].roles: is required",
    ),
    (
        "roles-scalar",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: master
        """,
        "Clusterfile:9: hosts[0].roles: expected a list, got a string (write [master])",
    ),
    (
        "role-twice",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master, master]
        """,
        'Clusterfile:9: hosts[0].roles[1]: role "master" is listed twice',
    ),
    (
        "bad-taint-effect",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master]
            taints:
              - dedicated=gpu:NoSchedul
        """,
        'Clusterfile:11: hosts[0].taints[0]: taint "dedicated=gpu:NoSchedul": unknown effect "NoSchedul" '
        '(expected one of: NoSchedule, PreferNoSchedule, NoExecute); did you mean "NoSchedule"?',
    ),
    (
        "taint-without-effect",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master]
            taints: [dedicated=gpu]
        """,
        'Clusterfile:10: hosts[0].taints[0]: "dedicated=gpu" is not a taint key[=value]:Effect',
    ),
    (
        "bad-label-value",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master]
            labels:
              disk: "fast ssd"
        """,
        'Clusterfile:11: hosts[0].labels.disk: "fast ssd" is not a valid label value',
    ),
    (
        "env-not-key-value",
        """
        image: k:v1
        env: [PodCIDR]
        """,
        'Clusterfile:7: env[0]: "PodCIDR" is not KEY=VALUE',
    ),
    (
        "env-duplicate",
        """
        image: k:v1
        env:
          - CertSANS=a
          - CertSANS=b
        """,
        "Clusterfile:9: env[1]: CertSANS is already set by env[0] (line 8); write one entry KEY=a;b for a list",
    ),
    (
        "encrypted",
        """
        image: k:v1
        ssh:
          encrypted: true
        """,
        "Clusterfile:8: ssh.encrypted: encrypted credentials are not supported; give them in clear",
    ),
    (
        "count-on-baremetal",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master]
            count: 1
        """,
        "Clusterfile:10: hosts[0].count: only valid with a cloud or container provider; list ips instead",
    ),
    (
        "machine-on-baremetal",
        """
        image: k:v1
        hosts:
          - ips: [192.168.0.2]
            roles: [master]
            cpu: 4
        """,
        "Clusterfile:10: hosts[0].cpu: only valid with provider ALI_CLOUD or AWS (provider is BAREMETAL)",
    ),
    (
        "cloud-on-baremetal",
        """
        image: k:v1
        cloud:
          region: cn-hangzhou
        """,
        "Clusterfile:7: cloud: only valid with provider ALI_CLOUD or AWS (provider is BAREMETAL)",
    ),
    (
        "provider-typo",
        """
        image: k:v1
        provider: ALI_CLOUDS
        """,
        'Clusterfile:7: provider: unknown provider "ALI_CLOUDS" (expected one of: BAREMETAL, ALI_CLOUD, AWS, '
        'CONTAINER); did you mean "ALI_CLOUD"?',
    ),
    (
        "provider-lowercase",
        """
        image: k:v1
        provider: aws
        """,
        'Clusterfile:7: provider: unknown provider "aws" (expected one of: BAREMETAL, ALI_CLOUD, AWS, '
        'CONTAINER); did you mean "AWS"?',
    ),
    (
        "cloud-count-mismatch",
        """
        image: k:v1
        provider: ALI_CLOUD
        hosts:
          - roles: [master]
            ips: [192.168.0.2]
            count: 3
        """,
        "Clusterfile:11: hosts[0].count: count is 3 but ips lists 1 addresses",
    ),
    (
        "cloud-group-without-count",
        """
        image: k:v1
        provider: AWS
        hosts:
          - roles: [master]
        """,
        "Clusterfile:9: hosts[0]: set count (or ips) for provider AWS",
    ),
    (
        "cloud-count-zero",
        """
        image: k:v1
        provider: AWS
        hosts:
          - roles: [master]
            count: 0
        """,
        "Clusterfile:10: hosts[0].count: 0 is out of range (must be between 1 and 1000)",
    ),
    (
        "container-runtime-typo",
        """
        image: k:v1
        containerRuntime:
          type: dockerd
        """,
        'Clusterfile:8: containerRuntime.type: unknown container runtime "dockerd" (expected one of: '
        'containerd, docker); did you mean "docker"?',
    ),
    (
        "relative-data-root",
        """
        image: k:v1
        dataRoot: var/lib/sealer
        """,
        'Clusterfile:7: dataRoot: "var/lib/sealer" is not an absolute path',
    ),
    (
        "external-registry-without-domain",
        """
        image: k:v1
        registry:
          externalRegistry:
            username: admin
        """,
        "Clusterfile:9: registry.externalRegistry.domain: is required for an external registry",
    ),
    (
        "registry-ha-as-string",
        """
        image: k:v1
        registry:
          localRegistry:
            ha: "true"
        """,
        'Clusterfile:9: registry.localRegistry.ha: expected true or false, got "true"',
    ),
    (
        "registry-domain",
        """
        image: k:v1
        registry:
          localRegistry:
            domain: "sea hub"
        """,
        'Clusterfile:9: registry.localRegistry.domain: "sea hub" is not a host name or an IP address',
    ),
    (
        "registry-cert-san-ip",
        """
        image: k:v1
        registry:
          localRegistry:
            cert:
              subjectAltName:
                ips: [1.2.3]
        """,
        'Clusterfile:11: registry.localRegistry.cert.subjectAltName.ips[0]: "1.2.3" is not an IP address',
    ),
    (
        "host-alias-bad-ip",
        """
        image: k:v1
        hostAliases:
          - ip: 10.0.0.256
            hostnames: [db.local]
        """,
        'Clusterfile:8: hostAliases[0].ip: "10.0.0.256" is not an IP address',
    ),
    (
        "host-alias-no-hostnames",
        """
        image: k:v1
        hostAliases:
          - ip: 10.0.0.1
            hostnames: []
        """,
        "Clusterfile:9: hostAliases[0].hostnames: at least one host name is required",
    ),
    (
        "image-missing",
        """
        env: [A=1]
        """,
        "Clusterfile:6: image: is required",
    ),
    (
        "image-with-space",
        """
        image: "kubernetes v1"
        """,
        'Clusterfile:6: image: "kubernetes v1" is not a valid image reference',
    ),
    (
        "ssh-as-list",
        """
        image: k:v1
        ssh: [root]
        """,
        "Clusterfile:7: ssh: expected a mapping, got a list",
    ),
    (
        "ip-with-port",
        """
        image: k:v1
        hosts:
          - ips: ["192.168.0.2:2222"]
            roles: [master]
        """,
        'Clusterfile:8: hosts[0].ips[0]: "192.168.0.2:2222" is not an IP address (ports do not go in ips: '
        'write "192.168.0.2" and set ssh.port: 2222)',
    ),
    (
        "app-names",
        """
        image: k:v1
        appNames: ["my app"]
        """,
        'Clusterfile:7: appNames[0]: "my app" is not a valid name (letters, digits, \'-\', \'_\' and \'.\')',
    ),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in CLUSTER_CASES], ids=[c[0] for c in CLUSTER_CASES])
def test_cluster_validation_errors(body: str, expected: str) -> None:
    error = fails(cluster(body))
    assert str(error) == expected
    assert error.file == "Clusterfile"
    assert error.line == int(expected.split(":")[1])


def test_cluster_helper_puts_spec_body_on_line_6() -> None:
    text = cluster("image: k:v1\n" + ONE_MASTER.replace("  ", "", 1))
    assert text.splitlines()[5] == "  image: k:v1"


DOCUMENT_CASES = [
    ("not-yaml", "apiVersion: [sealer.io/v2\nkind: Cluster\n", "Clusterfile:2: not valid YAML: expected ',' or ']'"),
    ("not-a-mapping", "- kind: Cluster\n", "Clusterfile:1: document 1 must be a mapping with apiVersion and kind, got a list"),
    ("scalar-second-doc", HEADER + IMAGE + ONE_MASTER + "---\nhello\n", "Clusterfile:11: document 2 must be a mapping"),
    (
        "unknown-kind",
        "apiVersion: v1\nkind: Pod\n",
        'Clusterfile:2: kind: unknown kind "Pod" (known kinds: Cluster, Config, Plugin, Application, '
        "InitConfiguration, ClusterConfiguration, JoinConfiguration, KubeletConfiguration, KubeProxyConfiguration)",
    ),
    ("kind-case", "apiVersion: sealer.io/v2\nkind: cluster\n", 'Clusterfile:2: kind: unknown kind "cluster" (known kinds:'),
    ("kind-missing", "apiVersion: sealer.io/v2\nmetadata: {}\n", "Clusterfile:1: kind: is required"),
    ("api-version-missing", "\nkind: Cluster\n", "Clusterfile:2: apiVersion: is required for kind Cluster"),
    (
        "unknown-api-version",
        "apiVersion: sealer.io/v3\nkind: Cluster\n",
        'Clusterfile:1: apiVersion: unknown apiVersion "sealer.io/v3" for kind Cluster '
        "(accepted: sealer.io/v2, sealer.cloud/v2, sealer.aliyun.com/v1alpha1, cluster.sealer.cool/v2, ",
    ),
    (
        "kubeadm-wrong-group",
        HEADER + IMAGE + ONE_MASTER + "---\napiVersion: kubeadm.k8s.io/v1beta5\nkind: InitConfiguration\n",
        'Clusterfile:11: apiVersion: unknown apiVersion "kubeadm.k8s.io/v1beta5" for kind InitConfiguration',
    ),
    (
        "kubeadm-unknown-field",
        HEADER + IMAGE + ONE_MASTER + "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"
        "localAPIEndpoint:\n  bindport: 6443\n",
        "Clusterfile:14: localAPIEndpoint.bindport: unknown field in InitConfiguration kubeadm.k8s.io/v1beta3 "
        "(did you mean bindPort?)",
    ),
    (
        "unknown-top-level-field",
        "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {name: c}\nspce: {}\n",
        'Clusterfile:4: unknown field "spce"; did you mean "spec"?',
    ),
    ("metadata-missing", "apiVersion: sealer.io/v2\nkind: Cluster\nspec: {}\n", "Clusterfile:1: metadata: is required"),
    ("name-missing", "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  labels: {}\n", "Clusterfile:4: metadata.name: is required"),
    (
        "cluster-name-not-dns",
        "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: My_Cluster\n",
        'Clusterfile:4: metadata.name: "My_Cluster" is not a valid name (lowercase letters, digits and \'-\', '
        'starting and ending with a letter or digit); did you mean "my-cluster"?',
    ),
    ("spec-missing", "apiVersion: sealer.io/v2\nkind: Cluster\nmetadata:\n  name: c\n", "Clusterfile:1: spec: is required"),
    (
        "second-cluster",
        HEADER + IMAGE + ONE_MASTER + "---\n" + HEADER + IMAGE + ONE_MASTER,
        "Clusterfile:11: a second Cluster document (the first is on line 1)",
    ),
    ("no-cluster", "apiVersion: sealer.io/v1\nkind: Plugin\nmetadata: {name: p}\nspec: {type: SHELL, action: upgrade, data: ls}\n",
     "Clusterfile: no Cluster document found (kind: Cluster)"),
    ("empty-file", "", "Clusterfile: no Cluster document found (kind: Cluster)"),
    (
        "duplicate-key",
        HEADER + IMAGE + "  image: other:v1\n",
        'Clusterfile:7: duplicate key "image" (first defined on line 6)',
    ),
    ("python-tag", HEADER + "  image: !!python/object:os.system x\n", 'Clusterfile:6: unsupported YAML tag "tag:yaml.org,2002:python/object:os.system"'),
    (
        "second-kubeadm-doc",
        HEADER + IMAGE + ONE_MASTER
        + "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n"
        + "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: InitConfiguration\n",
        "Clusterfile:14: a second InitConfiguration document (the first is on line 11)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in DOCUMENT_CASES], ids=[c[0] for c in DOCUMENT_CASES])
def test_document_errors(text: str, expected: str) -> None:
    assert str(fails(text)).startswith(expected)


def test_errors_are_input_errors_with_exit_code_2() -> None:
    error = fails("")
    assert isinstance(error, InputError)
    assert error.exit_code == 2


def test_filename_is_used_in_errors() -> None:
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile("kind: Nope\napiVersion: x\n", filename="/tmp/Clusterfile.yaml")
    assert str(info.value).startswith("/tmp/Clusterfile.yaml:1: kind: unknown kind")


def test_not_utf8_bytes() -> None:
    error = fails(b"apiVersion: sealer.io/v2\nkind: \xff\n")  # type: ignore[arg-type]
    assert str(error) == "Clusterfile:2: not UTF-8 text: invalid byte 0xff at column 7 (byte offset 31)"
