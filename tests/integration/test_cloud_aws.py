"""aws_ec2_instances' logic (collection/plugins/module_utils/_aws_ec2.py) against moto in server mode: a real
HTTP endpoint reached through AWS_ENDPOINT_URL, the boto3 code path unchanged. Also `sealer_runner infra`
end to end on it. Throttling (which moto cannot do) is injected by wrapping the boto3 client."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sealer_runner.cli.main import main as cli_main

from ..unit.collection.conftest import load

pytestmark = [pytest.mark.integration]

c = load("module_utils", "_cloud")
aws = load("module_utils", "_aws_ec2")
AMI = "ami-785db401"  # one of moto's built-in Ubuntu AMIs (owner 099720109477)
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _moto(env_extra: dict[str, str]):
    server = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if server is None:
        pytest.fail("moto_server is missing: pip install 'moto[server]' (the test extras install it)")
    port = _free_port()
    proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, **env_extra})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail("moto_server did not start")


@pytest.fixture(scope="module")
def moto_url():
    proc, url = _moto({})
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def creds(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "moto-secret-8d1f")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _ec2(url):
    return aws.client(REGION, endpoint_url=url)


def _retrier(calls=None):
    return c.Retrier(aws.translate, calls or c.Calls(), sleep=lambda s: None, rng=random.Random(0))


def _params(cluster, masters=3, nodes=3, **extra):
    return {"cluster": cluster, "groups": [{"role": "master", "count": masters, "cpu": 2, "memory": 4,
                                            "public_ip": "first", "system_disk": 30},
                                           {"role": "node", "count": nodes, "data_disks": [50, 20]}],
            "allow_from": ["203.0.113.7/32"], "image_id": AMI, "public_key": _public_key(), **extra}


def _public_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ours(ec2, cluster):
    f = [{"Name": "tag:" + c.TAG_CLUSTER, "Values": [cluster]}]
    alive = [i for r in ec2.describe_instances(Filters=f)["Reservations"] for i in r["Instances"]
             if i["State"]["Name"] != "terminated"]
    return {"instance": alive, "vpc": ec2.describe_vpcs(Filters=f)["Vpcs"],
            "subnet": ec2.describe_subnets(Filters=f)["Subnets"],
            "sg": ec2.describe_security_groups(Filters=f)["SecurityGroups"],
            "igw": ec2.describe_internet_gateways(Filters=f)["InternetGateways"],
            "key": [k for k in ec2.describe_key_pairs()["KeyPairs"] if k["KeyName"] == f"sealer-{cluster}"]}


def test_create_reapply_scale_delete(moto_url, creds):
    ec2 = _ec2(moto_url)
    calls = c.Calls()
    first = aws.apply(ec2, _retrier(calls), _params("life"))
    assert [(m["role"], m["index"]) for m in first["machines"]] == [("master", 0), ("master", 1), ("master", 2),
                                                                    ("node", 0), ("node", 1), ("node", 2)]
    assert all(m["private_ip"].startswith("10.0.") for m in first["machines"])
    assert first["machines"][0]["public_ip"] and not any(m["public_ip"] for m in first["machines"][1:])
    assert calls.by_resource["instance"] <= 6  # 3 RunInstances (master0 public, masters, nodes) + describes
    ours = _ours(ec2, "life")
    assert len(ours["instance"]) == 6 and len(ours["vpc"]) == 1 and len(ours["key"]) == 1
    sg = ours["sg"][0]
    opened = [(p.get("FromPort"), [r["CidrIp"] for r in p.get("IpRanges", [])]) for p in sg["IpPermissions"]]
    assert (22, ["203.0.113.7/32"]) in opened and (6443, ["203.0.113.7/32"]) in opened
    assert not any("0.0.0.0/0" in cidrs for _, cidrs in opened)
    volumes = ec2.describe_volumes(Filters=[{"Name": "tag:" + c.TAG_CLUSTER, "Values": ["life"]}])["Volumes"]
    assert sorted(v["Size"] for v in volumes).count(50) == 3

    calls = c.Calls()
    again = aws.apply(ec2, _retrier(calls), _params("life"))
    assert again["plan"] == [] and again["created"] == {} and not again["changed"]
    assert [m["instance_id"] for m in again["machines"]] == [m["instance_id"] for m in first["machines"]]
    assert calls.total <= 8

    checked = aws.apply(ec2, _retrier(), _params("life", nodes=5), check=True)
    assert checked["plan"] == ["create instance node-3 (t3.medium)", "create instance node-4 (t3.medium)"]
    assert len(_ours(ec2, "life")["instance"]) == 6  # check mode created nothing

    scaled = aws.apply(ec2, _retrier(), _params("life", nodes=5))
    assert len(scaled["created"]["instance"]) == 2 and len(scaled["machines"]) == 8
    assert [m["instance_id"] for m in scaled["machines"][:6]] == [m["instance_id"] for m in first["machines"]]

    down = aws.apply(ec2, _retrier(), _params("life", nodes=2))
    assert len(down["released"]["instance"]) == 3 and len(down["machines"]) == 5

    gone = aws.delete(ec2, _retrier(), {"cluster": "life"})
    assert gone["released"]["instance"] and gone["released"]["vpc"]
    assert not any(_ours(ec2, "life").values())
    assert aws.delete(ec2, _retrier(), {"cluster": "life"})["plan"] == []


def test_pre_existing_vpc_is_used_and_kept(moto_url, creds):
    ec2 = _ec2(moto_url)
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.0.0/20")  # someone else's subnet: ours must not overlap
    result = aws.apply(ec2, _retrier(), _params("given", 1, 1, vpc_id=vpc))
    assert result["network"]["vpc_id"] == vpc and not result["network"]["vpc_ours"]
    assert all(m["private_ip"].startswith("10.7.16.") for m in result["machines"])
    assert "vpc" not in result["created"] and "gateway" not in result["created"]
    aws.delete(ec2, _retrier(), {"cluster": "given", "vpc_id": vpc})
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]
    assert len(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]) == 1
    assert not any(_ours(ec2, "given").values())


class Throttled:
    """The boto3 client, with each operation first answering RequestLimitExceeded / Throttling a few
    times (moto cannot throttle)."""

    def __init__(self, client, failures_per_operation, rng):
        self.client = client
        self.left = {}
        self.failures = failures_per_operation
        self.rng = rng
        self.injected = 0

    def __getattr__(self, name):
        real = getattr(self.client, name)
        if not callable(real) or name.startswith("_"):
            return real

        def call(**kwargs):
            left = self.left.setdefault(name, self.failures)
            if left:
                from botocore.exceptions import ClientError

                self.left[name] = left - 1
                self.injected += 1
                code = self.rng.choice(["RequestLimitExceeded", "Throttling", "ServiceUnavailable", "InternalError"])
                raise ClientError({"Error": {"Code": code, "Message": "slow down"},
                                   "ResponseMetadata": {"HTTPStatusCode": 503}}, name)
            return real(**kwargs)
        return call


def test_throttling_storm_succeeds_with_bounded_calls(moto_url, creds):
    baseline = c.Calls()
    aws.apply(_ec2(moto_url), _retrier(baseline), _params("calm"))
    stormy = Throttled(_ec2(moto_url), 3, random.Random(7))
    calls, slept = c.Calls(), []
    retrier = c.Retrier(aws.translate, calls, sleep=slept.append, rng=random.Random(0))
    result = aws.apply(stormy, retrier, _params("storm"))
    assert len(result["machines"]) == 6
    assert calls.retries == stormy.injected
    assert calls.total == baseline.total + stormy.injected  # every extra call is one retried refusal
    assert max(slept) < 8.0  # capped
    aws.delete(_ec2(moto_url), _retrier(), {"cluster": "calm"})
    aws.delete(_ec2(moto_url), _retrier(), {"cluster": "storm"})


def test_quota_error_stops_at_once_with_the_clouds_message_and_keeps_what_was_made(moto_url, creds):
    class Quota(Throttled):
        def __getattr__(self, name):
            if name != "run_instances":
                return getattr(self.client, name)

            def refuse(**kwargs):
                from botocore.exceptions import ClientError
                raise ClientError({"Error": {"Code": "VcpuLimitExceeded", "Message": "You have requested more vCPU "
                                             "capacity than your current vCPU limit of 2 allows"},
                                   "ResponseMetadata": {"HTTPStatusCode": 400}}, name)
            return refuse
    created, calls = {}, c.Calls()
    with pytest.raises(c.CloudError) as info:
        aws.apply(Quota(_ec2(moto_url), 0, None), _retrier(calls), _params("quota"), created=created)
    assert str(info.value).startswith("instance: run_instances: VcpuLimitExceeded: You have requested more vCPU")
    assert calls.retries == 0
    assert created["vpc"] and created["security group"]  # known to the caller, tagged for `infra delete`
    aws.delete(_ec2(moto_url), _retrier(), {"cluster": "quota"})


def test_bad_credentials_clear_error_nothing_created(creds):
    proc, url = _moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # moto checks credentials from the first call
    try:
        calls = c.Calls()
        with pytest.raises(c.CloudError) as info:
            aws.apply(aws.client(REGION, endpoint_url=url, access_key="AKIAWRONG", secret_key="wrong"),
                      _retrier(calls), _params("denied"))
        assert info.value.code in aws.AUTH_CODES and not info.value.retryable
        assert calls.total == 1  # the first describe: nothing was attempted after it
    finally:
        proc.terminate()
        proc.wait(10)


def test_cli_infra_apply_plan_delete(moto_url, creds, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    key = tmp_path / "id"
    key.write_text("SECRET-KEY-MATERIAL")
    (tmp_path / "id.pub").write_text(_public_key())
    clusterfile = tmp_path / "Clusterfile"
    clusterfile.write_text(f"""apiVersion: sealer.aliyun.com/v1alpha1
kind: Cluster
metadata:
  name: cli
spec:
  image: kubernetes:v1.19.8
  provider: AWS
  ssh: {{pk: {key}}}
  masters: {{cpu: 2, memory: 4, count: "3", systemDisk: 40, dataDisks: [20]}}
  nodes: {{cpu: 4, memory: 8, count: 3}}
""")
    # v1alpha1 has no cloud block: the region comes from a v2 file; check the v1 counts are kept, then use v2
    root = ["--root", str(tmp_path / "root")]
    assert cli_main([*root, "infra", "plan", "-f", str(clusterfile)]) == 2
    assert "set cloud.region for provider AWS" in capsys.readouterr().err
    clusterfile.write_text(f"""apiVersion: sealer.io/v2
kind: Cluster
metadata:
  name: cli
spec:
  image: kubernetes:v1.19.8
  provider: AWS
  ssh: {{pk: {key}}}
  cloud: {{region: {REGION}, image: {AMI}, allowFrom: [198.51.100.0/24], publicIP: master0}}
  hosts:
    - {{roles: [master], count: 3, cpu: 2, memory: 4, systemDisk: 40, dataDisks: [20]}}
    - {{roles: [node], count: 3, cpu: 4, memory: 8}}
""")
    assert cli_main([*root, "infra", "plan", "-f", str(clusterfile)]) == 0
    out = capsys.readouterr().out
    assert "create instance node-2 (c5.xlarge)" in out and "import key pair sealer-cli" in out
    assert cli_main([*root, "run", "-f", str(clusterfile)]) == 2  # no machines yet
    assert "has no machines yet: run `sealer_runner infra apply -f" in capsys.readouterr().err
    assert cli_main([*root, "infra", "apply", "-f", str(clusterfile)]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("i-") == 6 and "API calls:" in captured.err
    record = tmp_path / "root" / "clusters" / "cli" / "infra.json"
    text = record.read_text()
    assert '"role": "node"' in text
    state_files = [p for p in (tmp_path / "root" / "clusters").rglob("*") if p.is_file()]
    assert state_files and not any(b"SECRET-KEY-MATERIAL" in p.read_bytes() for p in state_files)
    assert not any(b"moto-secret-8d1f" in p.read_bytes() for p in state_files)  # nor in ansible-runner's artifacts
    assert cli_main([*root, "infra", "plan", "-f", str(clusterfile)]) == 0
    assert capsys.readouterr().out.strip() == "nothing to change"
    # `apply` = infra apply (nothing to do now), then run on the recorded machines: it gets as far as the image
    assert cli_main([*root, "apply", "-f", str(clusterfile), "--wait-ssh", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count(" i-") == 6 and "image kubernetes:v1.19.8 not found in the local store" in captured.err
    assert cli_main([*root, "infra", "plan", "--delete", "-f", str(clusterfile)]) == 0
    planned = capsys.readouterr().out
    assert planned.count("release instance") == 6 and "delete vpc" in planned and "delete key pair sealer-cli" in planned
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert cli_main([*root, "infra", "delete", "-f", str(clusterfile)]) == 2  # not on a terminal, no --force
    assert "--force" in capsys.readouterr().err
    assert cli_main([*root, "infra", "delete", "-f", str(clusterfile), "--force"]) == 0
    assert not record.exists()
    assert not any(_ours(_ec2(moto_url), "cli").values())


def test_a_moved_controller_gets_its_rules_and_the_old_ones_go(moto_url, creds):
    ec2 = _ec2(moto_url)
    aws.apply(ec2, _retrier(), _params("moved", 1, 0))
    moved = aws.apply(ec2, _retrier(), _params("moved", 1, 0, allow_from=["198.51.100.9/32", "2001:db8::/64"]))
    assert moved["plan"][0].startswith("open tcp/22 from 198.51.100.9/32, ")
    assert "close tcp/22 from 203.0.113.7/32, tcp/6443 from 203.0.113.7/32" in moved["plan"][1]
    sg = _ours(ec2, "moved")["sg"][0]
    sources = {(p.get("FromPort"), r.get("CidrIp") or r.get("CidrIpv6")) for p in sg["IpPermissions"]
               for r in p.get("IpRanges", []) + p.get("Ipv6Ranges", [])}
    assert sources == {(22, "198.51.100.9/32"), (6443, "198.51.100.9/32"), (22, "2001:db8::/64"),
                       (6443, "2001:db8::/64")}
    assert aws.apply(ec2, _retrier(), _params("moved", 1, 0, allow_from=["198.51.100.9/32", "2001:db8::/64"]))[
        "plan"] == []
    aws.delete(ec2, _retrier(), {"cluster": "moved"})


def test_no_capacity_in_one_zone_moves_to_the_next(moto_url, creds):
    class NoCapacity(Throttled):
        """run_instances into a subnet of us-east-1a answers InsufficientInstanceCapacity."""

        def __getattr__(self, name):
            real = getattr(self.client, name)
            if name != "run_instances":
                return real

            def run(**kwargs):
                subnet = kwargs["NetworkInterfaces"][0]["SubnetId"]
                zone = self.client.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["AvailabilityZone"]
                if zone == "us-east-1a":
                    self.injected += 1
                    from botocore.exceptions import ClientError
                    raise ClientError({"Error": {"Code": "InsufficientInstanceCapacity", "Message": "We currently do "
                                                 "not have sufficient t3.medium capacity in the Availability Zone"},
                                       "ResponseMetadata": {"HTTPStatusCode": 500}}, name)
                return real(**kwargs)
            return run
    ec2 = NoCapacity(_ec2(moto_url), 0, None)
    result = aws.apply(ec2, _retrier(), _params("capacity", 1, 2, zone="us-east-1a"))
    assert {m["zone"] for m in result["machines"]} == {"us-east-1b"}
    assert ec2.injected == 1  # the zone is skipped for the rest of the run
    assert "zone us-east-1a has no capacity for t3.medium (InsufficientInstanceCapacity): next zone" in result["plan"]
    assert len(result["network"]["subnet_ids"]) == 2
    again = aws.apply(_ec2(moto_url), _retrier(), _params("capacity", 1, 2, zone="us-east-1a"))
    assert again["plan"] == []
    aws.delete(_ec2(moto_url), _retrier(), {"cluster": "capacity"})
    assert not any(_ours(_ec2(moto_url), "capacity").values())


def test_a_lost_run_instances_answer_leaves_nothing_untracked(moto_url, creds):
    class LostAnswer(Throttled):
        """run_instances is done, then its answer lost once (a 503 after the fact)."""

        def __getattr__(self, name):
            real = getattr(self.client, name)
            if name != "run_instances":
                return real

            def run(**kwargs):
                answer = real(**kwargs)
                if not self.injected:
                    self.injected += 1
                    from botocore.exceptions import ClientError
                    raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try again"},
                                       "ResponseMetadata": {"HTTPStatusCode": 503}}, name)
                return answer
            return run
    ec2 = LostAnswer(_ec2(moto_url), 0, None)
    result = aws.apply(ec2, _retrier(), _params("lost", 0, 3))
    assert ec2.injected == 1 and len(result["machines"]) == 3
    # EC2 answers a retry carrying the same ClientToken with the first call's instances; moto ignores the
    # token and makes 3 more. They carry the tags, so the next apply finds and releases them.
    tagged = _ours(_ec2(moto_url), "lost")["instance"]
    assert len(tagged) in (3, 6)
    again = aws.apply(_ec2(moto_url), _retrier(), _params("lost", 0, 3))
    assert len(again["released"].get("instance", [])) == len(tagged) - 3
    assert len(_ours(_ec2(moto_url), "lost")["instance"]) == 3
    aws.delete(_ec2(moto_url), _retrier(), {"cluster": "lost"})


def test_public_ip_asked_later_applies_to_new_machines_only(moto_url, creds):
    ec2 = _ec2(moto_url)
    params = _params("later", 1, 1)
    params["groups"][0]["public_ip"] = "none"
    first = aws.apply(ec2, _retrier(), params)
    assert not any(m["public_ip"] for m in first["machines"])
    params["groups"][0]["public_ip"] = "all"
    params["groups"][0]["count"] = 2
    later = aws.apply(ec2, c.Retrier(aws.translate, c.Calls(), sleep=lambda s: None), dict(params, wait_timeout=5))
    assert [bool(m["public_ip"]) for m in later["machines"] if m["role"] == "master"] == [False, True]
    aws.delete(ec2, _retrier(), {"cluster": "later"})


def test_standalone_playbook_check_mode_creates_nothing(moto_url, creds, tmp_path, monkeypatch):
    """An ops repo running `ansible-playbook playbooks/infra.yml --check` (no sealer_infra_plan) gets a plan."""
    import json

    repo = Path(__file__).resolve().parents[2]
    collections = tmp_path / "collections" / "ansible_collections" / "sealer"
    collections.mkdir(parents=True)
    (collections / "cluster").symlink_to(repo / "collection")
    extra = {"sealer_infra": {"provider": "AWS", "cluster": "ops", "region": REGION, "image_id": AMI,
                              "groups": [{"role": "master", "count": 1}]}}
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_url, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"),
           "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")}
    playbook = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"
    done = subprocess.run([playbook, "-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}",
                           "-e", json.dumps(extra), str(repo / "playbooks" / "infra.yml"), "--check", "-v"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "create instance master-0 (t3.medium)" in done.stdout
    assert not any(_ours(_ec2(moto_url), "ops").values())
