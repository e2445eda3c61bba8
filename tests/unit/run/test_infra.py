"""The Clusterfile's cloud block, and what `sealer_runner infra` hands the infra playbook (sealer_runner/run/infra.py)."""

from __future__ import annotations

import textwrap

import pytest

from sealer_runner.clusterfile import load_clusterfile
from sealer_runner.errors import ClusterfileError, InputError
from sealer_runner.run.infra import InfraOutcome, build_infra_request, env_credentials, infra_vars
from sealer_runner.run.runner import dump_ansible_data

V2 = textwrap.dedent("""\
    apiVersion: sealer.io/v2
    kind: Cluster
    metadata: {name: demo}
    spec:
      image: kubernetes:v1.22.15
      provider: AWS
      ssh: {user: admin, pk: KEY}
      cloud:
        region: eu-west-1
        zone: eu-west-1b
        vpcId: vpc-0abc
        image: ami-0123
        allowFrom: [203.0.113.7/32, 2001:db8::/64]
        publicIP: master0
      hosts:
        - {roles: [master], count: 3, cpu: 4, memory: 8, systemDisk: 100}
        - {roles: [node], count: 2, instanceType: m5.xlarge, dataDisks: [200, 50]}
        - {roles: [node], count: 1, cpu: 16, memory: 64}
    """)

V1 = textwrap.dedent("""\
    apiVersion: sealer.aliyun.com/v1alpha1
    kind: Cluster
    metadata: {name: old}
    spec:
      image: kubernetes:v1.19.8
      provider: ALI_CLOUD
      ssh: {passwd: Pass-word-1}
      masters: {cpu: "4", memory: "8", count: "3", systemDisk: "100", dataDisks: ["100"]}
      nodes: {cpu: 4, memory: 8, count: 0}
    """)


def test_cloud_block_and_groups_become_the_playbooks_input(tmp_path):
    key = tmp_path / "id"
    (tmp_path / "id.pub").write_text("ssh-ed25519 AAAA me\n")
    spec = load_clusterfile(V2.replace("KEY", str(key)), "Clusterfile")
    got = infra_vars(spec)
    assert got["provider"] == "AWS" and got["cluster"] == "demo" and got["region"] == "eu-west-1"
    assert (got["zone"], got["vpc_id"], got["image_id"]) == ("eu-west-1b", "vpc-0abc", "ami-0123")
    assert got["allow_from"] == ["203.0.113.7/32", "2001:db8::/64"] and got["public_key"] == "ssh-ed25519 AAAA me"
    assert got["groups"] == [
        {"role": "master", "count": 3, "cpu": 4, "memory": 8, "instance_type": None, "system_disk": 100,
         "data_disks": [], "public_ip": "first"},
        {"role": "node", "count": 2, "cpu": None, "memory": None, "instance_type": "m5.xlarge", "system_disk": None,
         "data_disks": [200, 50], "public_ip": "none"},
        {"role": "node-2", "count": 1, "cpu": 16, "memory": 64, "instance_type": None, "system_disk": None,
         "data_disks": [], "public_ip": "none"},
    ]


def test_v1alpha1_counts_and_shapes_are_kept():
    spec = load_clusterfile(V1, "Clusterfile")
    got = infra_vars(spec)
    assert got["provider"] == "ALI_CLOUD" and got["region"] == ""  # from RegionID at run time
    assert got["groups"] == [{"role": "master", "count": 3, "cpu": 4, "memory": 8, "instance_type": None,
                              "system_disk": 100, "data_disks": [100], "public_ip": "none"}]  # nodes: count 0


@pytest.mark.parametrize("cloud,message", [
    ("{allowFrom: [203.0.113.7/24]}", 'cloud.allowFrom[0]: "203.0.113.7/24" is not a CIDR network (203.0.113.7/24 '
                                      'has host bits set)'),
    ("{publicIP: some}", "cloud.publicIP"),
    ("{vpc: vpc-1}", 'cloud: unknown field "vpc"; did you mean "vpcId"?'),
])
def test_cloud_block_errors_name_file_and_line(cloud, message):
    text = V2.replace("KEY", "/nonexistent").split("  cloud:")[0] + f"  cloud: {cloud}\n  hosts:\n" + \
        "    - {roles: [master], count: 1}\n"
    with pytest.raises(ClusterfileError) as info:
        load_clusterfile(text, "Clusterfile")
    assert str(info.value).startswith("Clusterfile:8: ") and message in str(info.value)


def test_baremetal_and_aws_without_region_are_refused():
    bare = load_clusterfile(textwrap.dedent("""\
        apiVersion: sealer.io/v2
        kind: Cluster
        metadata: {name: b}
        spec:
          image: k:v1
          hosts: [{roles: [master], ips: [10.0.0.2]}]
        """), "Clusterfile")
    with pytest.raises(InputError, match="infra needs provider AWS or ALI_CLOUD"):
        infra_vars(bare)
    no_region = load_clusterfile(V2.replace("    region: eu-west-1\n", "").replace("KEY", "/x"), "Clusterfile")
    with pytest.raises(InputError, match="set cloud.region for provider AWS"):
        infra_vars(no_region)


def test_request_carries_password_and_credentials_vaulted_only(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCESSKEYID", "LTAI-id")
    monkeypatch.setenv("ACCESSKEYSECRET", "very-secret-value")
    spec = load_clusterfile(V1, "Clusterfile")
    assert {k: v.reveal() for k, v in env_credentials("ALI_CLOUD").items()} == {
        "access_key": "LTAI-id", "secret_key": "very-secret-value"}
    request = build_infra_request(spec, tmp_path, plan=True)
    text = dump_ansible_data(request.extravars) + dump_ansible_data(request.inventory) + request.ansible_cfg
    assert "very-secret-value" not in text and "Pass-word-1" not in text and "LTAI-id" not in text
    assert text.count("!vault") == 3 and request.vault_password is not None
    assert request.playbook == "infra.yml" and request.extravars["sealer_infra_plan"] is True
    assert request.inventory["all"]["hosts"]["localhost"]["ansible_connection"] == "local"


def test_outcome_reads_the_modules_result_from_events():
    outcome = InfraOutcome()
    outcome({"event": "runner_on_ok", "event_data": {"task_action": "ansible.builtin.assert", "res": {}}})
    outcome({"event": "runner_on_skipped", "event_data": {"task_action": "sealer.cluster.aws_ec2_instances"}})
    outcome({"event": "runner_on_ok", "event_data": {"task_action": "sealer.cluster.ali_ecs_instances", "res": {
        "machines": [{"role": "master"}], "plan": ["create vpc"], "api_calls": {"vpc": 2, "total": 2}}}})
    assert outcome.machines == [{"role": "master"}] and outcome.plan == ["create vpc"] and not outcome.failed
    assert outcome.api_calls == {"vpc": 2, "total": 2}


def test_with_machines_makes_the_recorded_machines_the_hosts(tmp_path):
    import json

    from sealer_runner.run.infra import with_machines
    from sealer_runner.run.inventory import build_inventory

    spec = load_clusterfile(V2.replace("KEY", "/nonexistent"), "Clusterfile")
    with pytest.raises(InputError, match="run `sealer_runner infra apply -f Clusterfile` first"):
        with_machines(spec, tmp_path)
    state = tmp_path / "clusters" / "demo"
    state.mkdir(parents=True)
    machines = [{"role": "master", "index": i, "private_ip": f"10.0.0.{i + 4}", "public_ip": "54.0.0.1" if not i else "",
                 "instance_id": f"i-m{i}"} for i in (2, 0, 1)]
    machines += [{"role": "node", "index": i, "private_ip": f"10.0.1.{i}", "public_ip": "", "instance_id": f"i-n{i}"}
                 for i in range(2)]
    (state / "infra.json").write_text(json.dumps({"machines": machines, "complete": True}))
    with pytest.raises(InputError, match="Clusterfile:18: 0 machine\\(s\\) recorded for role node-2, 1 asked for"):
        with_machines(spec, tmp_path)
    machines.append({"role": "node-2", "index": 0, "private_ip": "10.0.2.1", "public_ip": "", "instance_id": "i-x"})
    (state / "infra.json").write_text(json.dumps({"machines": machines, "complete": True}))
    cluster = with_machines(spec, tmp_path).cluster
    assert [h.ip for h in cluster.hosts] == ["10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.1.0", "10.0.1.1", "10.0.2.1"]
    assert cluster.master0.ip == "10.0.0.4" and cluster.master0.address == "54.0.0.1"
    assert all(h.ssh.user == "admin" for h in cluster.hosts) and cluster.host_groups[1].ips == ("10.0.1.0", "10.0.1.1")
    inventory = build_inventory(cluster)["all"]["hosts"]
    assert inventory["10.0.0.4"]["ansible_host"] == "54.0.0.1" and inventory["10.0.0.5"]["ansible_host"] == "10.0.0.5"
    bare = load_clusterfile(textwrap.dedent("""\
        apiVersion: sealer.io/v2
        kind: Cluster
        metadata: {name: b}
        spec:
          image: k:v1
          hosts: [{roles: [master], ips: [10.0.0.2]}]
        """), "Clusterfile")
    assert with_machines(bare, tmp_path) is bare


def test_wait_for_ssh_polls_every_host_until_open_or_names_the_closed_ones(tmp_path):
    import dataclasses
    import socket

    from sealer_runner.clusterfile.models import Host
    from sealer_runner.run.infra import InfraError, wait_for_ssh

    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    spec = load_clusterfile(V2.replace("KEY", "/nonexistent"), "Clusterfile")
    ssh = dataclasses.replace(spec.cluster.ssh, port=listening.getsockname()[1])
    hosts = (Host("10.0.0.4", ("master",), ssh, address="127.0.0.1"),)
    open_spec = dataclasses.replace(spec, cluster=dataclasses.replace(spec.cluster, hosts=hosts))
    wait_for_ssh(open_spec, 5)
    shut = dataclasses.replace(hosts[0], ssh=dataclasses.replace(ssh, port=closed_port))
    shut_spec = dataclasses.replace(spec, cluster=dataclasses.replace(spec.cluster, hosts=(shut,)))
    now, slept = [0.0], []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds
    with pytest.raises(InfraError, match=f"SSH not reachable after 20s on 127.0.0.1:{closed_port}"):
        wait_for_ssh(shut_spec, 20, clock=lambda: now[0], sleep=sleep)
    assert slept[:4] == [1.0, 2.0, 4.0, 8.0] and sum(slept) == 20
    listening.close()


def test_groups_listing_ips_are_not_created():
    text = V2.replace("KEY", "/x").replace("- {roles: [node], count: 1, cpu: 16, memory: 64}",
                                            "- {roles: [node], count: 1, ips: [10.9.9.9]}")
    spec = load_clusterfile(text, "Clusterfile")
    assert [g["role"] for g in infra_vars(spec)["groups"]] == ["master", "node"]
