"""The shipped examples and the reference's full example decode cleanly,
and the reference names every field the decoder accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sealer_runner.clusterfile import _cluster, decoder, load_clusterfile

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples" / "clusterfiles").glob("*.yaml"))
DOC = ROOT / "docs" / "clusterfile.md"


def test_there_are_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"minimal.yaml", "ha-local-registry.yaml", "cloud-alicloud.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_decodes_without_warnings(path: Path) -> None:
    spec = load_clusterfile(path.read_text(), filename=str(path))
    assert spec.warnings == ()
    assert any("master" in group.roles for group in spec.cluster.host_groups)


def test_ha_example_details() -> None:
    spec = load_clusterfile((ROOT / "examples" / "clusterfiles" / "ha-local-registry.yaml").read_text())
    cluster = spec.cluster
    assert [h.ip for h in cluster.registry_hosts] == ["10.0.0.20"]
    assert len(cluster.masters) == 3 and len(cluster.nodes) == 7
    assert cluster.hosts_with_role("registry")[0].ssh.port == 2222
    assert [p.name for p in spec.plugins] == ["init-disks", "hostnames"]
    assert set(spec.kubeadm) == {"ClusterConfiguration", "KubeletConfiguration"}


def test_cloud_example_details() -> None:
    cluster = load_clusterfile((ROOT / "examples" / "clusterfiles" / "cloud-alicloud.yaml").read_text()).cluster
    assert cluster.provider == "ALI_CLOUD"
    assert [g.count for g in cluster.host_groups] == [3, 3]
    assert cluster.host_groups[0].machine is not None
    assert cluster.host_groups[0].machine.instance_type == "ecs.c6.xlarge"
    assert cluster.cloud.allow_from == ("203.0.113.7/32",) and cluster.cloud.public_ip == "master0"


def test_aws_example_details() -> None:
    cluster = load_clusterfile((ROOT / "examples" / "clusterfiles" / "cloud-aws.yaml").read_text()).cluster
    assert cluster.provider == "AWS" and cluster.cloud.region == "eu-west-1" and cluster.ssh.user == "admin"
    assert [g.count for g in cluster.host_groups] == [3, 3] and cluster.host_groups[1].machine.data_disks == (200,)


def full_example() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- full-example -->\n```yaml\n(.*?)```", text, re.S)
    assert match, "docs/clusterfile.md lost its full example"
    return match.group(1)


def test_reference_full_example_decodes() -> None:
    spec = load_clusterfile(full_example())
    assert spec.warnings == ()
    assert len(spec.cluster.hosts) == 5
    assert [h.ip for h in spec.cluster.registry_hosts] == ["192.168.0.2"]
    assert spec.cluster.hosts[3].ssh.port == 2222


def test_every_yaml_block_of_the_reference_decodes_as_yaml() -> None:
    import yaml

    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), re.S):
        list(yaml.safe_load_all(block))


FIELD_LISTS = [
    _cluster.SPEC_V2_KEYS,
    _cluster.HOST_KEYS,
    _cluster.SSH_KEYS,
    _cluster.SPEC_V1_KEYS,
    _cluster.V1_HOSTS_KEYS,
    _cluster.V1_NETWORK_KEYS,
    _cluster.CLOUD_KEYS,
    decoder._METADATA_KEYS,
]


@pytest.mark.parametrize("field", sorted({f for fields in FIELD_LISTS for f in fields}))
def test_reference_documents_every_field(field: str) -> None:
    in_code = rf"`[^`\n]*(?<![A-Za-z_]){re.escape(field)}(?![A-Za-z_])[^`\n]*`"
    assert re.search(in_code, DOC.read_text()), f"docs/clusterfile.md does not mention `{field}`"


@pytest.mark.parametrize("kind", sorted(decoder.KINDS))
def test_reference_documents_every_kind_and_api_version(kind: str) -> None:
    text = DOC.read_text()
    assert f"`{kind}`" in text
    for version in decoder.KINDS[kind]:
        assert f"`{version}`" in text
