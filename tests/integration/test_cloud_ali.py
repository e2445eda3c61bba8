"""ali_ecs_instances' logic (collection/plugins/module_utils/_ali_ecs.py) through aliyun-python-sdk-core's real
signing and HTTP, against the local endpoint of tests/support/ali_endpoint.py (which checks signatures and
injects throttling, out-of-stock zones, auth errors and slow boots)."""

from __future__ import annotations

import random
import sys
import time

import pytest

from sealer_runner.cli.main import main as cli_main

from ..support.ali_endpoint import ZONES, AliCloud, signature
from ..unit.collection.conftest import load

pytestmark = [pytest.mark.integration]

c = load("module_utils", "_cloud")
ali = load("module_utils", "_ali_ecs")
REGION = "cn-hangzhou"


@pytest.fixture
def cloud():
    cloud = AliCloud(seed=3, boot_delay=lambda index: 0.2)
    cloud.url = cloud.serve()
    yield cloud
    cloud.close()


def _api(cloud, key="test-key", secret="test-secret"):
    return ali.Api(REGION, key, secret, cloud.url)


def _retrier(calls=None, slept=None):
    return c.Retrier(ali.translate, calls if calls is not None else c.Calls(),
                     sleep=slept.append if slept is not None else time.sleep, rng=random.Random(0))


def _params(cluster, masters=3, nodes=3, **extra):
    return {"cluster": cluster, "region": REGION, "zone": ZONES[0],
            "groups": [{"role": "master", "count": masters, "cpu": 4, "memory": 8, "public_ip": "first",
                        "system_disk": 60},
                       {"role": "node", "count": nodes, "instance_type": "ecs.g6.xlarge", "data_disks": [100]}],
            "allow_from": ["203.0.113.7/32"], "public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF test",
            "password": "Sealer-Test-1", **extra}


def _ours(cloud, cluster):
    def tagged(items):
        return [i for i in items if i["Tags"].get(c.TAG_CLUSTER) == cluster]
    return {"instance": tagged(cloud.instances.values()), "vpc": tagged(cloud.vpcs.values()),
            "vswitch": tagged(cloud.vswitches.values()), "sg": tagged(cloud.groups.values()),
            "key": tagged(cloud.key_pairs.values())}


def test_create_reapply_scale_delete(cloud):
    api = _api(cloud)
    calls = c.Calls()
    first = ali.apply(api, _retrier(calls), _params("life"))
    assert [(m["role"], m["index"]) for m in first["machines"]] == [("master", 0), ("master", 1), ("master", 2),
                                                                    ("node", 0), ("node", 1), ("node", 2)]
    assert first["machines"][0]["public_ip"] and not any(m["public_ip"] for m in first["machines"][1:])
    assert {m["instance_type"] for m in first["machines"]} == {"ecs.c6.xlarge", "ecs.g6.xlarge"}
    assert cloud.calls["RunInstances"] == 3  # master0 (public), the other masters, the nodes
    sg = _ours(cloud, "life")["sg"][0]
    assert {"IpProtocol": "TCP", "PortRange": "22/22", "SourceCidrIp": "203.0.113.7/32"} in sg["Rules"]
    assert not any(r.get("SourceCidrIp") == "0.0.0.0/0" for r in sg["Rules"])
    assert any(r.get("SourceGroupId") == sg["SecurityGroupId"] for r in sg["Rules"])

    before = dict(cloud.calls)
    again = ali.apply(api, _retrier(), _params("life"))
    assert again["plan"] == [] and not again["changed"]
    assert cloud.calls["RunInstances"] == before["RunInstances"] and cloud.calls.get("CreateVpc") == 1

    check = ali.apply(api, _retrier(), _params("life", nodes=5), check=True)
    assert check["plan"] == ["create instance node-3 (ecs.g6.xlarge)", "create instance node-4 (ecs.g6.xlarge)"]
    scaled = ali.apply(api, _retrier(), _params("life", nodes=5))
    assert len(scaled["created"]["instance"]) == 2 and len(scaled["machines"]) == 8
    assert len(_ours(cloud, "life")["instance"]) == 8

    plan = ali.delete(api, _retrier(), {"cluster": "life", "region": REGION}, check=True)
    assert len(plan["plan"]) == 8 + 4 and len(_ours(cloud, "life")["instance"]) == 8
    gone = ali.delete(api, _retrier(), {"cluster": "life", "region": REGION})
    assert len(gone["released"]["instance"]) == 8
    assert not any(_ours(cloud, "life").values())


def test_pre_existing_vpc_is_used_and_kept(cloud):
    vpc = cloud.add_vpc("10.9.0.0/16")
    result = ali.apply(_api(cloud), _retrier(), _params("given", 1, 1, vpc_id=vpc))
    assert result["network"]["vpc_id"] == vpc and "vpc" not in result["created"]
    ali.delete(_api(cloud), _retrier(), {"cluster": "given", "region": REGION, "vpc_id": vpc})
    assert vpc in cloud.vpcs and not any(_ours(cloud, "given").values())


def test_throttling_storm_succeeds_with_bounded_calls(cloud):
    calm = c.Calls()
    ali.apply(_api(cloud), _retrier(calm, []), _params("calm"))
    cloud.throttle_rate = 0.3  # three requests in ten refused, at random (seeded)
    calls, slept = c.Calls(), []
    result = ali.apply(_api(cloud), _retrier(calls, slept), _params("storm"))
    assert len(result["machines"]) == 6
    assert cloud.faults["Throttling"] == calls.retries > 0
    # the polling rounds may differ (the storm's sleeps are not real); the rest is one call per refusal
    assert calls.total - calls.by_resource["instance"] <= calm.total - calm.by_resource["instance"] + calls.retries
    assert max(slept) < 10.0  # capped (8 s between retries, 10 s between polling rounds)


def test_out_of_stock_zone_moves_to_the_next(cloud):
    cloud.no_stock_zones.add(ZONES[0])
    result = ali.apply(_api(cloud), _retrier(), _params("stock", 1, 2))
    assert {m["zone"] for m in result["machines"]} == {ZONES[1]}
    assert f"zone {ZONES[0]} has no stock of ecs.c6.xlarge (OperationDenied.NoStock): next zone" in result["plan"]
    assert cloud.faults["OperationDenied.NoStock"] == 1  # the zone is skipped for the rest of the run
    ali.delete(_api(cloud), _retrier(), {"cluster": "stock", "region": REGION})
    assert not any(_ours(cloud, "stock").values())


def test_every_zone_out_of_stock_stops_with_the_clouds_message(cloud):
    cloud.no_stock_zones.update(ZONES)
    created = {}
    with pytest.raises(c.CloudError, match="OperationDenied.NoStock: The resource .ecs.c6.xlarge. is out of stock"):
        ali.apply(_api(cloud), _retrier(), _params("nostock", 1, 0), created=created)
    assert created["vpc"] and len(created["vswitch"]) == len(ZONES)
    assert not cloud.instances


@pytest.mark.parametrize("key,secret,code", [("test-key", "wrong", "InvalidAccessKeySecret"),
                                             ("nobody", "test-secret", "InvalidAccessKeyId.NotFound")])
def test_bad_credentials_clear_error_nothing_created(cloud, key, secret, code):
    calls = c.Calls()
    with pytest.raises(c.CloudError) as info:
        ali.apply(_api(cloud, key, secret), _retrier(calls), _params("denied"))
    assert info.value.code == code and not info.value.retryable and calls.total == 1
    assert not cloud.vpcs and not cloud.groups and not cloud.instances


def test_the_endpoint_checks_signatures(cloud):
    params = {"Action": "DescribeZones", "AccessKeyId": "test-key", "SignatureMethod": "HMAC-SHA1", "Format": "JSON",
              "RegionId": REGION, "Timestamp": "2026-01-01T00:00:00Z", "SignatureNonce": "n", "Version": "2014-05-26",
              "SignatureVersion": "1.0"}
    good = dict(params, Signature=signature("GET", params, "test-secret"))
    assert cloud.handle("GET", dict(good))[0] == 200
    tampered = dict(good, RegionId="cn-beijing")
    status, answer = cloud.handle("GET", tampered)
    assert (status, answer["Code"]) == (400, "SignatureDoesNotMatch")


def test_slow_boots_are_polled_together(cloud):
    boots = random.Random(5)
    cloud.boot_delay = lambda index: boots.uniform(0.5, 2.5)
    started = time.monotonic()
    result = ali.apply(_api(cloud), _retrier(), _params("slow", 3, 3))
    elapsed = time.monotonic() - started
    assert len(result["machines"]) == 6 and elapsed < 2.5 + 4.5  # at most one capped backoff past the slowest
    polls = cloud.calls["DescribeInstances"] - 1  # the first lists existing instances
    assert polls <= 6  # rounds, each one call for all six


def test_cli_infra_on_alibaba_cloud(cloud, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALIBABA_CLOUD_ENDPOINT_URL", cloud.url)
    monkeypatch.setenv("ACCESSKEYID", "test-key")
    monkeypatch.setenv("ACCESSKEYSECRET", "test-secret")
    monkeypatch.setenv("RegionID", REGION)
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text("""apiVersion: sealer.aliyun.com/v1alpha1
kind: Cluster
metadata:
  name: v1
spec:
  image: kubernetes:v1.19.8
  provider: ALI_CLOUD
  ssh: {passwd: Sealer-Secret-9}
  masters: {cpu: 4, memory: 8, count: 3, systemDisk: 100, dataDisks: [100]}
  nodes: {cpu: 4, memory: 8, count: 3, systemDisk: 100, dataDisks: [100]}
""")
    root = ["--root", str(tmp_path / "root")]
    assert cli_main([*root, "infra", "apply", "-f", str(clusterfile)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count(" i-") == 6 and "API calls:" in captured.err
    assert cloud.calls["RunInstances"] == 2
    state = [p for p in (tmp_path / "root" / "clusters").rglob("*") if p.is_file()]
    assert not any(b"Sealer-Secret-9" in p.read_bytes() for p in state)
    assert not any(b"test-secret" in p.read_bytes() for p in state)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("click.confirm", lambda *a, **k: False)
    assert cli_main([*root, "infra", "delete", "-f", str(clusterfile)]) == 130  # answered no
    assert len(cloud.instances) == 6
    monkeypatch.setattr("click.confirm", lambda *a, **k: True)
    assert cli_main([*root, "infra", "delete", "-f", str(clusterfile)]) == 0
    assert not cloud.instances and not cloud.vpcs and not cloud.groups


def test_a_moved_controller_gets_its_rules_and_the_old_ones_go(cloud):
    ali.apply(_api(cloud), _retrier(), _params("moved", 1, 0))
    moved = ali.apply(_api(cloud), _retrier(), _params("moved", 1, 0, allow_from=["198.51.100.9/32"]))
    sg = moved["network"]["security_group_id"]
    assert moved["plan"] == [f"open TCP 22 from 198.51.100.9/32, TCP 6443 from 198.51.100.9/32 on {sg}",
                             f"close TCP 22 from 203.0.113.7/32, TCP 6443 from 203.0.113.7/32 on {sg}"]
    rules = _ours(cloud, "moved")["sg"][0]["Rules"]
    assert sorted(r.get("SourceCidrIp", "sg") for r in rules) == ["198.51.100.9/32", "198.51.100.9/32", "sg"]
    assert ali.apply(_api(cloud), _retrier(), _params("moved", 1, 0, allow_from=["198.51.100.9/32"]))["plan"] == []


def test_cli_failure_part_way_names_and_records_what_was_made(cloud, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALIBABA_CLOUD_ENDPOINT_URL", cloud.url)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "test-secret")
    cloud.no_stock_zones.update(ZONES)
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text(f"""apiVersion: sealer.io/v2
kind: Cluster
metadata: {{name: partial}}
spec:
  image: kubernetes:v1.22.15
  provider: ALI_CLOUD
  cloud: {{region: {REGION}}}
  hosts: [{{roles: [master], count: 1}}]
""")
    root = ["--root", str(tmp_path / "root")]
    assert cli_main([*root, "infra", "apply", "-f", str(clusterfile)]) == 1
    err = capsys.readouterr().err
    assert "OperationDenied.NoStock" in err and "created before the failure" in err and "vpc: vpc-" in err
    record = (tmp_path / "root" / "clusters" / "partial" / "infra.json").read_text()
    assert '"complete": false' in record and '"vswitch": [' in record
    cloud.no_stock_zones.clear()
    assert cli_main([*root, "infra", "apply", "-f", str(clusterfile)]) == 0  # resumes: reuses the VPC
    assert cloud.calls["CreateVpc"] == 1
    assert cli_main([*root, "infra", "delete", "-f", str(clusterfile), "--force"]) == 0
    assert not cloud.vpcs and not cloud.vswitches and not cloud.instances


def test_a_lost_answer_is_retried_without_creating_twice(cloud):
    cloud.lose_answers.update({"RunInstances", "CreateVpc", "CreateSecurityGroup"})
    calls = c.Calls()
    result = ali.apply(_api(cloud), _retrier(calls), _params("lost", 2, 2))
    assert calls.retries == 3 and not cloud.lose_answers
    assert len(cloud.instances) == 4 and len(cloud.vpcs) == 1 and len(cloud.groups) == 1
    assert sorted(m["instance_id"] for m in result["machines"]) == sorted(cloud.instances)
