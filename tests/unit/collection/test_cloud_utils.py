"""The cloud modules' shared logic (collection/plugins/module_utils/_cloud.py): backoff, retry
classification, instance type choice, scaling plans, batching."""

from __future__ import annotations

import random

import pytest

from .conftest import load

c = load("module_utils", "_cloud")


def test_delays_grow_exponentially_with_jitter_and_stay_under_the_cap():
    gen = c.delays(base=0.5, cap=8.0, rng=random.Random(1))
    got = [next(gen) for _ in range(10)]
    for n, delay in enumerate(got):
        ceiling = min(8.0, 0.5 * 2 ** n)
        assert ceiling / 2 <= delay < ceiling
    assert max(got) < 8.0
    assert len({round(d, 6) for d in got[5:]}) > 1  # jittered, not a fixed cap


@pytest.mark.parametrize("code,status,retryable,stock", [
    ("Throttling", 503, True, False), ("Throttling.User", 400, True, False), ("RequestLimitExceeded", 503, True, False),
    ("ServiceUnavailable", 503, True, False), ("InternalError", 500, True, False), ("", 502, True, False),
    ("AuthFailure", 401, False, False), ("UnauthorizedOperation", 403, False, False),
    ("InvalidParameterValue", 400, False, False), ("QuotaExceeded.Ecs", 403, False, False),
    ("InstanceLimitExceeded", 400, False, False), ("OperationDenied.NoStock", 403, False, True),
    ("InsufficientInstanceCapacity", 500, False, True),
])
def test_classify(code, status, retryable, stock):
    assert c.classify(code, status) == (retryable, stock)


class Flaky:
    """Fails with the given codes in turn, then answers."""

    def __init__(self, codes):
        self.codes = list(codes)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        if self.codes:
            raise KeyError(self.codes.pop(0))
        return "ok"


def _translate(exc, resource, operation):
    code = exc.args[0]
    retryable, stock = c.classify(code)
    return c.CloudError("cloud says " + code, code, resource, operation, retryable, stock)


def test_retrier_retries_throttling_then_succeeds_with_bounded_calls():
    slept = []
    retrier = c.Retrier(_translate, sleep=slept.append, rng=random.Random(0))
    fn = Flaky(["Throttling", "RequestLimitExceeded", "ServiceUnavailable", "InternalError"])
    assert retrier("instance", "RunInstances", fn) == "ok"
    assert fn.calls == 5 and retrier.calls.by_resource == {"instance": 5} and retrier.calls.retries == 4
    assert len(slept) == 4 and sum(slept) < 0.5 + 1 + 2 + 4


def test_retrier_stops_at_once_on_quota_permission_and_bad_parameters():
    for code in ("QuotaExceeded", "UnauthorizedOperation", "InvalidParameterValue", "OperationDenied.NoStock"):
        slept = []
        retrier = c.Retrier(_translate, sleep=slept.append)
        fn = Flaky([code])
        with pytest.raises(c.CloudError) as info:
            retrier("security group", "CreateSecurityGroup", fn)
        assert fn.calls == 1 and not slept
        assert str(info.value) == f"security group: CreateSecurityGroup: {code}: cloud says {code}"


def test_retrier_gives_up_after_its_attempts():
    retrier = c.Retrier(_translate, attempts=3, sleep=lambda s: None)
    fn = Flaky(["Throttling"] * 10)
    with pytest.raises(c.CloudError, match="gave up after 3 attempts"):
        retrier("vpc", "CreateVpc", fn)
    assert fn.calls == 3


def test_retrier_lets_other_exceptions_through():
    retrier = c.Retrier(lambda exc, r, o: None, sleep=lambda s: None)
    with pytest.raises(KeyError):
        retrier("vpc", "CreateVpc", Flaky(["boom"]))


@pytest.mark.parametrize("cpu,memory,aws,ali", [
    (None, None, "t3.medium", "ecs.c6.large"),
    (2, 4, "t3.medium", "ecs.c6.large"),
    (2, 8, "t3.large", "ecs.g6.large"),
    (4, 8, "c5.xlarge", "ecs.c6.xlarge"),
    (4, 16, "m5.xlarge", "ecs.g6.xlarge"),
    (3, 5, "c5.xlarge", "ecs.c6.xlarge"),
    (8, 64, "r5.2xlarge", "ecs.r6.2xlarge"),
])
def test_instance_type_is_the_smallest_that_fits(cpu, memory, aws, ali):
    assert c.choose_instance_type(c.AWS_CATALOG, cpu, memory) == aws
    assert c.choose_instance_type(c.ALI_CATALOG, cpu, memory) == ali


def test_no_instance_type_fits():
    with pytest.raises(c.CloudError, match="no instance type with 512 cores"):
        c.choose_instance_type(c.AWS_CATALOG, 512, 4)


def _groups(masters, nodes):
    return c.normalize_groups([{"role": "master", "count": masters, "public_ip": "first"},
                               {"role": "node", "count": nodes, "instance_type": "m5.large"}], c.AWS_CATALOG)


def test_plan_scales_up_down_and_drops_removed_roles():
    existing = [{"id": "i-b", "role": "node", "batch": 0}, {"id": "i-a", "role": "node", "batch": 0},
                {"id": "i-c", "role": "node", "batch": 2}, {"id": "i-m", "role": "master", "batch": 0},
                {"id": "i-x", "role": "etcd", "batch": 0}]
    plan = c.plan_groups(_groups(3, 2), existing)
    assert [(g["role"], i) for g, i in plan["create"]] == [("master", 1), ("master", 2)]
    assert sorted(i["id"] for i in plan["release"]) == ["i-c", "i-x"]  # the last node, and a role no group has
    assert [(i["id"], i["index"]) for i in plan["keep"] if i["role"] == "node"] == [("i-a", 0), ("i-b", 1)]
    again = c.plan_groups(_groups(1, 5), [dict(i) for i in existing if i["role"] != "etcd"])
    assert [(g["role"], i) for g, i in again["create"]] == [("node", 3), ("node", 4)]


def test_batches_one_call_per_group_and_public_choice():
    groups = _groups(3, 3)
    batches = c.batches(c.plan_groups(groups, [])["create"])
    assert [(g["role"], idx, public) for g, idx, public in batches] == [
        ("master", [0], True), ("master", [1, 2], False), ("node", [0, 1, 2], False)]


def test_wait_all_polls_everything_in_one_call_per_round():
    rounds = []
    ready_after = {"a": 1, "b": 3, "c": 2}

    def describe(ids):
        rounds.append(list(ids))
        return {i: len(rounds) for i in ids}
    slept = []
    done = c.wait_all(describe, ["a", "b", "c"], lambda n: n >= 3 or False, sleep=slept.append,
                      rng=random.Random(0))
    assert sorted(done) == ["a", "b", "c"] and len(rounds) == 3 and len(slept) == 2
    assert ready_after  # rounds, not per-instance calls


def test_wait_all_times_out_naming_what_is_left():
    clock = iter(range(0, 1000, 100))
    with pytest.raises(c.CloudError, match="1 of 1 not ready after 150s: i-1"):
        c.wait_all(lambda ids: {}, ["i-1"], bool, sleep=lambda s: None, timeout=150, clock=lambda: next(clock))


class _Images:
    """A stand-in EC2 client answering describe_images by owner and name pattern."""

    def __init__(self, images):
        self.images = images
        self.asked = []

    def describe_images(self, Owners=None, Filters=None, ImageIds=None):  # noqa: N803 (boto3's names)
        import fnmatch

        pattern = next(f["Values"][0] for f in Filters if f["Name"] == "name")
        self.asked.append((Owners[0], pattern))
        return {"Images": [i for i in self.images if i["Owner"] == Owners[0] and fnmatch.fnmatch(i["Name"], pattern)]}


def test_default_machine_image_is_the_newest_debian_else_ubuntu_lts():
    aws = load("module_utils", "_aws_ec2")
    ubuntu = [{"ImageId": "ami-old", "Owner": "099720109477", "CreationDate": "2023-01-01",
               "Name": "ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20230101"},
              {"ImageId": "ami-new", "Owner": "099720109477", "CreationDate": "2024-06-01",
               "Name": "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20240601"}]
    client = _Images(ubuntu)
    cluster = aws.Ec2Cluster(client, c.Retrier(lambda e, r, o: None, sleep=lambda s: None), "x")
    assert cluster.find_image(None)["ImageId"] == "ami-new"
    assert client.asked[0] == ("136693071363", "debian-12-amd64-*")  # Debian's own AMIs are tried first
    debian = [{"ImageId": "ami-deb", "Owner": "136693071363", "CreationDate": "2024-01-01",
               "Name": "debian-12-amd64-20240101-1614"}]
    assert aws.Ec2Cluster(_Images(ubuntu + debian), cluster.call, "x").find_image(None)["ImageId"] == "ami-deb"
    with pytest.raises(c.CloudError, match="no Debian 12 or Ubuntu 24.04/22.04 image"):
        aws.Ec2Cluster(_Images([]), cluster.call, "x").find_image(None)
