"""Adding and removing hosts in a Clusterfile's documents (sealer_runner/run/membership.py), in the shape the
user wrote, and the checks that refuse a join or delete before anything is touched."""

from __future__ import annotations

import pytest
import yaml

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import InputError
from sealer_runner.run.membership import check_delete, check_join, parse_ips, with_hosts, without_hosts

V2 = """\
apiVersion: sealer.io/v2
kind: Cluster
metadata: {name: prod}
spec:
  image: example.com/app:v1
  ssh: {passwd: s3cret}
  hosts:
    - {ips: [10.0.0.2], roles: [master]}
    - {ips: [10.0.0.3-10.0.0.5], roles: [node], labels: {disk: ssd}}
---
apiVersion: sealer.io/v2
kind: Config
metadata: {name: c}
spec: {path: etc/c.conf, data: "x=1"}
"""
V1 = """\
apiVersion: sealer.aliyun.com/v1alpha1
kind: Cluster
metadata: {name: old}
spec:
  image: example.com/app:v1
  ssh: {passwd: s3cret}
  masters: {ipList: [10.0.0.2]}
  nodes: {ipList: [10.0.0.3, 10.0.0.4]}
"""


def ips(text: str) -> dict[str, list[str]]:
    cluster = load_clusterfile(text).cluster
    return {"master": [h.ip for h in cluster.masters], "node": [h.ip for h in cluster.nodes]}


def roundtrip(docs) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def test_join_adds_groups_in_v2_and_ip_lists_in_v1():
    docs = list(yaml.safe_load_all(V2))
    out = roundtrip(with_hosts(docs, ["10.0.0.6"], ["10.0.0.7", "10.0.0.8"]))
    assert ips(out) == {"master": ["10.0.0.2", "10.0.0.6"],
                        "node": ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.7", "10.0.0.8"]}
    assert "s3cret" in out and "etc/c.conf" in out, "the other documents and the secrets stay (in memory)"
    assert docs == list(yaml.safe_load_all(V2)), "the input is not changed"
    old = roundtrip(with_hosts(list(yaml.safe_load_all(V1)), [], ["10.0.0.9"]))
    assert ips(old)["node"] == ["10.0.0.3", "10.0.0.4", "10.0.0.9"]


def test_delete_writes_a_range_out_and_drops_an_empty_group():
    out = roundtrip(without_hosts(list(yaml.safe_load_all(V2)), ["10.0.0.4"]))
    assert ips(out)["node"] == ["10.0.0.3", "10.0.0.5"]
    spec = load_clusterfile(out).cluster
    assert all(h.labels == {"disk": "ssd"} for h in spec.nodes), "the group keeps its labels"
    gone = roundtrip(without_hosts(list(yaml.safe_load_all(V2)), ["10.0.0.3", "10.0.0.4", "10.0.0.5"]))
    assert ips(gone) == {"master": ["10.0.0.2"], "node": []}
    assert ips(roundtrip(without_hosts(list(yaml.safe_load_all(V1)), ["10.0.0.3"])))["node"] == ["10.0.0.4"]


def test_bad_joins_and_deletes_are_refused_naming_the_hosts():
    spec = load_clusterfile(V2)
    with pytest.raises(InputError, match="10.0.0.4: already in cluster prod"):
        check_join(spec, [], ["10.0.0.4"])
    with pytest.raises(InputError, match="both master and node"):
        check_join(spec, ["10.0.0.9"], ["10.0.0.9"])
    with pytest.raises(InputError, match="give the new hosts"):
        check_join(spec, [], [])
    with pytest.raises(InputError, match="10.0.0.9: not in cluster prod"):
        check_delete(spec, ["10.0.0.9"])
    with pytest.raises(InputError, match="master0"):
        check_delete(spec, ["10.0.0.2"])
    check_delete(spec, ["10.0.0.3"])
    check_join(spec, ["10.0.0.9"], ["10.0.0.10"])


def test_ip_flags_expand_ranges_and_name_the_flag_on_error():
    assert parse_ips("10.0.0.7-10.0.0.9, 10.0.0.7", "-n") == ("10.0.0.7", "10.0.0.8", "10.0.0.9")
    assert parse_ips(None, "-n") == ()
    with pytest.raises(InputError, match="^-m: "):
        parse_ips("10.0.0.300", "-m")
