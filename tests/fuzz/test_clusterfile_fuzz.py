"""Fuzz the Clusterfile decoder: it must return a ClusterSpec or raise
ClusterfileError, never anything else, and never leak a secret in a repr.

Three generators (random text, YAML-ish token soup, structurally plausible
documents built from the real field names) plus a replay of every file kept
in ``tests/fuzz/corpus/clusterfile/``.

Corpus inputs that crash a naive PyYAML-based loader, kept as regressions:
``int-tag-empty-string`` / ``float-tag-empty-string`` (IndexError inside
PyYAML's constructor), ``deep-nesting`` (RecursionError in the composer),
``recursive-alias`` (infinite recursion when converting), ``alias-chain-depth``
(RecursionError in ``to_plain`` before the alias-aware depth limit),
``nul-byte`` (its message printed the character as an int before the fix),
``alias-bomb`` (exponential expansion).  The others pin refused features
(tags, merge keys, complex and duplicate keys) and odd-but-valid input (BOM,
CRLF, U+2028, odd kubeadm keys).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealer_runner.clusterfile import ClusterSpec, load_clusterfile
from sealer_runner.errors import ClusterfileError

CORPUS = Path(__file__).parent / "corpus" / "clusterfile"
MARKER = "S3cret-Marker-7f3a"

#: Raise CLUSTERFILE_FUZZ_EXAMPLES for a longer local hunt; CI keeps 300.
EXAMPLES = int(os.environ.get("CLUSTERFILE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode(text: str | bytes) -> ClusterSpec | None:
    """Decode, allowing only the documented error type."""
    try:
        spec = load_clusterfile(text, filename="fuzz")
    except ClusterfileError as exc:
        assert exc.file == "fuzz"
        assert exc.line is None or exc.line >= 1
        assert MARKER not in str(exc)
        return None
    assert isinstance(spec, ClusterSpec)
    assert MARKER not in repr(spec)
    assert MARKER not in str(spec)
    return spec


# --------------------------------------------------------------------------
# Unstructured input.


@FUZZ
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    decode(text)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    decode(data)


TOKENS = [
    "apiVersion: sealer.io/v2", "kind: Cluster", "kind: Plugin", "kind: Config", "kind: Application",
    "kind: InitConfiguration", "apiVersion: kubeadm.k8s.io/v1beta3", "apiVersion: sealer.aliyun.com/v1alpha1",
    "metadata:", "name: c", "spec:", "hosts:", "- ips: [192.168.0.2]", "roles: [master]", "ssh:", "passwd: x",
    "port: 22", "image: k8s:v1", "registry:", "localRegistry:", "ha: true", "masters:", "ipList:", "count: 3",
    "---", "...", "- ", ": ", "?", "[", "]", "{", "}", ",", "&a", "*a", "!!str", "!!int", "!!float", "!!bool",
    "!!binary", "!!set", "!!omap", "!foo", "<<: *a", "|", ">", "'", '"', "#", "%YAML 1.1", "%TAG ! tag:x,",
    "\n", "\n  ", "\n    ", "\t", " ", "192.168.0.1-192.168.0.9", "::1", "~", "null", "yes", "0x1F", "1e9",
    "0o17", "1:30", ".inf", "2001-12-14", "=", "\x00", "\ufeff", "\u2028", "é",
]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_token_soup(tokens: list[str]) -> None:
    decode(" ".join(tokens))
    decode("".join(tokens))


# --------------------------------------------------------------------------
# Structurally plausible documents.

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "192.168.0.2", "192.168.0.2-192.168.0.4", "10.0.0.300", "::1", "fe80::1%eth0", "1.2.3.4:22",
            "master", "node", "Master ", "registry", "db", "k=v:NoSchedule", "k:NoExecute", "K=V", "=x",
            "containerd", "docker", "BAREMETAL", "ALI_CLOUD", "AWS", "CONTAINER", "overwrite", "merge",
            "render", "value|toJson", "toBase64|toSecret", "pre-install|post-install", "master|node",
            "SHELL", "HOSTNAME", "LABEL", "TAINT", "/var/lib/x", "../etc", "etc/x.yaml", "sea.hub", "22",
            "70000", "0", MARKER,
        ]
    ),
)


def containers(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Lists and mappings (keyed by real field names) of *children*."""
    return st.one_of(st.lists(children, max_size=4), st.dictionaries(st.sampled_from(ALL_KEYS), children, max_size=5))


def values() -> st.SearchStrategy[object]:
    """Nested YAML-able values."""
    return st.recursive(scalars, containers, max_leaves=12)


ALL_KEYS = sorted(
    {
        "apiVersion", "kind", "metadata", "name", "spec", "status", "image", "env", "cmd", "cmd_args", "appNames",
        "hosts", "ips", "roles", "ssh", "user", "passwd", "pk", "pkPasswd", "port", "encrypted", "labels",
        "taints", "count", "cpu", "memory", "systemDisk", "dataDisks", "instanceType", "containerRuntime",
        "type", "registry", "localRegistry", "externalRegistry", "domain", "username", "password", "ha",
        "insecure", "cert", "subjectAltName", "dnsNames", "hostAliases", "ip", "hostnames", "dataRoot",
        "provider", "cloud", "region", "zone", "masters", "nodes", "ipList", "network", "podCIDR", "svcCIDR",
        "certSANS", "path", "data", "strategy", "process", "appName", "action", "scope", "cmds",
        "launchApps", "configs", "launch", "files", "annotations",
    }
)

def mostly(good: st.SearchStrategy[object], bad: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """*good* nine times out of ten, *bad* otherwise."""
    return st.sampled_from([good] * 9 + [bad]).flatmap(lambda chosen: chosen)


ssh = st.fixed_dictionaries(
    {},
    optional={
        "user": mostly(st.sampled_from(["root", "ubuntu"]), st.sampled_from(["", "a b"])),
        "passwd": st.just(MARKER),
        "pkPasswd": st.just(MARKER),
        "pk": mostly(st.just("/root/.ssh/id_rsa"), st.just("")),
        "port": mostly(st.one_of(st.integers(1, 65535), st.sampled_from(["22", "2222"])), st.sampled_from([0, 70000, "x", "-1"])),
    },
)
ip_entries = mostly(
    st.one_of(st.ip_addresses(v=4).map(str), st.sampled_from(["192.168.0.3-192.168.0.6", "fd00::1-fd00::9"])),
    st.sampled_from(["10.0.0.300", "10.0.0.5-10.0.0.1", "10.0.0.0-10.0.255.255", "1.2.3.4:22", "fe80::1%eth0"]),
)
roles = mostly(st.sampled_from(["master", "node", "registry", "db"]), st.sampled_from(["Node", "", "a b"]))
host_group = st.fixed_dictionaries(
    {"ips": st.lists(ip_entries, min_size=1, max_size=3), "roles": st.lists(roles, min_size=1, max_size=3, unique=True)},
    optional={
        "ssh": ssh,
        "env": st.lists(mostly(st.sampled_from(["A=1", "B=2", "X="]), st.just("bad")), max_size=2, unique=True),
        "labels": st.dictionaries(mostly(st.sampled_from(["a", "b/c"]), st.just("-x")), mostly(st.just("v"), st.just("a b")), max_size=2),
        "taints": st.lists(mostly(st.sampled_from(["k=v:NoSchedule", "k:NoExecute"]), st.just("k=v:Never")), max_size=1),
    },
)
cloud_group = st.builds(
    lambda group, extra: {**{k: v for k, v in group.items() if k != "ips"}, **extra},
    host_group,
    st.fixed_dictionaries(
        {"count": mostly(st.integers(1, 5), st.integers(-1, 0))},
        optional={
            "cpu": mostly(st.integers(1, 8), st.just(0)),
            "memory": st.integers(1, 64),
            "dataDisks": st.lists(st.integers(1, 500), max_size=2),
            "instanceType": st.just("ecs.c6.large"),
            "ips": st.lists(ip_entries, max_size=2),
        },
    ),
)


def with_master(group: dict) -> dict:
    return {**group, "roles": ["master", *[r for r in group["roles"] if r != "master"]]}
registry = st.fixed_dictionaries(
    {},
    optional={
        "localRegistry": st.fixed_dictionaries(
            {},
            optional={
                "domain": mostly(st.sampled_from(["sea.hub", "10.0.0.1"]), st.just("bad domain")),
                "port": mostly(st.integers(1, 65535), st.integers(65536, 70000)),
                "password": st.just(MARKER),
                "ha": st.booleans(),
                "insecure": mostly(st.booleans(), st.just("yes")),
            },
        ),
        "externalRegistry": st.fixed_dictionaries(
            {"domain": mostly(st.just("reg.example.com"), st.just(""))}, optional={"password": st.just(MARKER)}
        ),
    },
)
cluster_spec = st.fixed_dictionaries(
    {
        "image": mostly(st.just("kubernetes:v1.22.15"), st.just("a b")),
        "hosts": st.builds(lambda first, rest: [with_master(first), *rest], host_group, st.lists(host_group, max_size=2)),
    },
    optional={
        "ssh": ssh,
        "env": st.lists(mostly(st.sampled_from(["PodCIDR=100.64.0.0/10", "A=1"]), st.just("A=2")), max_size=2),
        "registry": registry,
        "provider": mostly(st.just("BAREMETAL"), st.sampled_from(["ALI_CLOUD", "CONTAINER", "GCP"])),
        "containerRuntime": st.fixed_dictionaries({"type": mostly(st.sampled_from(["containerd", "docker"]), st.just("crio"))}),
        "hostAliases": st.lists(st.fixed_dictionaries({"ip": ip_entries, "hostnames": st.lists(st.just("a.b"), max_size=2)}), max_size=2),
        "dataRoot": mostly(st.just("/var/lib/sealer/data"), st.just("relative")),
    },
)
cloud_spec = st.fixed_dictionaries(
    {
        "image": st.just("kubernetes:v1.22.15"),
        "provider": st.sampled_from(["ALI_CLOUD", "AWS", "CONTAINER"]),
        "hosts": st.builds(lambda first, rest: [with_master(first), *rest], cloud_group, st.lists(cloud_group, max_size=2)),
    },
    optional={"ssh": ssh, "cloud": st.fixed_dictionaries({}, optional={"region": st.just("cn-hangzhou"), "zone": st.just("a b")})},
)
cluster_doc = st.builds(
    lambda spec, name, version: {"apiVersion": version, "kind": "Cluster", "metadata": {"name": name}, "spec": spec},
    st.one_of(cluster_spec, cluster_spec, cloud_spec),
    mostly(st.just("my-cluster"), st.just("My_Cluster")),
    st.sampled_from(["sealer.io/v2", "sealer.cloud/v2"]),
)
v1_doc = st.builds(
    lambda spec: {"apiVersion": "sealer.aliyun.com/v1alpha1", "kind": "Cluster", "metadata": {"name": "c"}, "spec": spec},
    st.fixed_dictionaries(
        {"image": st.just("k:v1")},
        optional={
            "provider": st.sampled_from(["BAREMETAL", "ALI_CLOUD"]),
            "ssh": ssh,
            "masters": st.fixed_dictionaries({}, optional={"ipList": st.lists(ip_entries, max_size=3), "count": st.sampled_from(["0", "3", 2]), "cpu": st.just("4")}),
            "nodes": st.fixed_dictionaries({}, optional={"ipList": st.lists(ip_entries, max_size=3), "count": st.sampled_from(["0", "1"])}),
            "network": st.fixed_dictionaries({}, optional={"podCIDR": st.just("100.64.0.0/10"), "cniName": st.just("calico")}),
            "certSANS": st.lists(st.just("a.com"), max_size=2),
        },
    ),
)
other_doc = st.one_of(
    st.builds(
        lambda spec: {"apiVersion": "sealer.io/v1", "kind": "Plugin", "metadata": {"name": "p"}, "spec": spec},
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(["SHELL", "HOSTNAME", "LABEL", "TAINT", "shell"]),
                "action": st.sampled_from(["pre-install", "PostInstall", "pre-init-host|post-install", "x||y"]),
                "data": st.sampled_from(["ls", "192.168.0.2 master-0\n", "192.168.0.2 a=b,c=d\n", "bad line", ""]),
            },
            optional={"scope": st.sampled_from(["master|node", "Master", "||"])},
        ),
    ),
    st.builds(
        lambda spec: {"apiVersion": "sealer.io/v1", "kind": "Config", "metadata": {"name": "c"}, "spec": spec},
        st.fixed_dictionaries(
            {"path": st.sampled_from(["etc/a.yaml", "/etc/a", "../a"]), "data": values()},
            optional={"strategy": st.sampled_from(["merge", "overwrite", "patch"]), "process": st.sampled_from(["value|toJson", "tojson", "x"])},
        ),
    ),
    st.builds(
        lambda spec: {"apiVersion": "sealer.io/v2", "kind": "Application", "metadata": {"name": "a"}, "spec": spec},
        st.fixed_dictionaries(
            {},
            optional={
                "cmds": st.lists(st.just("kubectl apply -f x"), max_size=2),
                "launchApps": st.lists(st.sampled_from(["app1", "app2", "bad name"]), max_size=2),
                "configs": st.lists(
                    st.fixed_dictionaries(
                        {"name": st.sampled_from(["app1", "app2"])},
                        optional={
                            "launch": st.fixed_dictionaries({}, optional={"cmds": st.lists(st.just("x"), max_size=1)}),
                            "files": st.lists(st.fixed_dictionaries({"path": st.just("a.yaml"), "data": values(), "strategy": st.sampled_from(["render", "x"])}), max_size=2),
                        },
                    ),
                    max_size=2,
                ),
            },
        ),
    ),
    st.builds(
        lambda kind, version, body: {"apiVersion": version, "kind": kind, **body},
        st.sampled_from(["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration", "KubeProxyConfiguration"]),
        st.sampled_from(["kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta2", "kubelet.config.k8s.io/v1beta1", "kubeproxy.config.k8s.io/v1alpha1"]),
        st.dictionaries(st.sampled_from(["mode", "networking", "nodeRegistration"]), values(), max_size=3),
    ),
)


def dump(documents: list[object]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False)


@FUZZ
@given(st.lists(st.one_of(cluster_doc, v1_doc, other_doc), min_size=1, max_size=4))
def test_plausible_documents(documents: list[object]) -> None:
    decode(dump(documents))


@FUZZ
@given(cluster_doc, st.lists(other_doc, max_size=3))
def test_one_cluster_with_extras(cluster: dict, extras: list[object]) -> None:
    spec = decode(dump([cluster, *extras]))
    if spec is not None:
        cluster_ = spec.cluster
        assert any("master" in group.roles and group.count for group in cluster_.host_groups)
        if cluster_.provider == "BAREMETAL":
            assert cluster_.masters and cluster_.master0 is not None, "a bare-metal cluster always has a master"
        ips = [host.ip for host in cluster_.hosts]
        assert len(ips) == len(set(ips)), "IPs are unique"


@FUZZ
@given(st.lists(st.one_of(st.dictionaries(st.sampled_from(ALL_KEYS), values(), max_size=6), values()), max_size=3))
def test_random_trees_from_real_keys(documents: list[object]) -> None:
    decode(dump(documents))


@FUZZ
@given(cluster_doc, st.sampled_from(ALL_KEYS), values())
def test_valid_cluster_with_one_field_replaced(cluster: dict, key: str, value: object) -> None:
    spec = dict(cluster["spec"])
    spec[key] = value
    decode(dump([{**cluster, "spec": spec}]))


# --------------------------------------------------------------------------
# Kept corpus.

CORPUS_FILES = sorted(p for p in CORPUS.iterdir() if p.is_file()) if CORPUS.is_dir() else []


def test_corpus_is_not_empty() -> None:
    assert len(CORPUS_FILES) >= 15


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_corpus_replay(path: Path) -> None:
    decode(path.read_bytes())
