#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: aws_ec2_instances
short_description: A cluster's machines on AWS EC2 (VPC, subnet, security group, key pair, instances)
description:
  - Creates or reuses, by the tag C(sealer.io/cluster=<cluster>), a VPC (or uses the one given by I(vpc_id)),
    a subnet per availability zone used, an internet gateway when a public IP is asked for in a VPC it created, a security group
    (all traffic inside the group; I(ports) from I(allow_from) only), a key pair imported from
    I(public_key), and for each group its instances (tag C(sealer.io/role)), with system and data disks.
  - Instances missing from a group are created in one RunInstances call per group, then polled together
    with capped exponential backoff and jitter. Surplus instances (a smaller count, a group removed) are
    terminated. API calls are counted per resource type.
  - Throttling and transient errors are retried with backoff; quota, permission and bad-parameter errors
    stop at once with the cloud's message and the resource.
  - I(state=absent) terminates the instances and deletes every resource carrying the tag, and nothing
    else; a VPC given by I(vpc_id) is always kept.
  - Credentials come from boto3's standard chain; the endpoint from I(endpoint_url), else C(AWS_ENDPOINT_URL).
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
requirements: [boto3]
options:
  cluster:
    description: The cluster's name, the value of the C(sealer.io/cluster) tag.
    type: str
    required: true
  state:
    description: C(present) creates or reconciles; C(absent) releases everything tagged.
    type: str
    choices: [present, absent]
    default: present
  region:
    description: The AWS region.
    type: str
    required: true
  zone:
    description: The availability zone tried first (default that of our existing subnet, else the first
      available one); a zone without capacity for the instance type is left for the next.
    type: str
  groups:
    description: The host groups, each C(role), C(count), and C(cpu), C(memory), C(instance_type),
      C(system_disk), C(data_disks) (GiB), C(public_ip) (C(none), C(first) or C(all)).
    type: list
    elements: dict
    default: []
  image_id:
    description: The AMI (default the newest Debian 12, else Ubuntu LTS, AMI of the region).
    type: str
  vpc_id:
    description: An existing VPC to create the subnet in; never deleted.
    type: str
  vpc_cidr:
    description: The CIDR of a VPC this module creates.
    type: str
    default: 10.0.0.0/16
  subnet_cidr:
    description: The subnet's CIDR (default the first free /20 of the VPC).
    type: str
  allow_from:
    description: CIDRs (the controller's) allowed to reach I(ports). Nothing outside the group is allowed by default.
    type: list
    elements: str
    default: []
  ports:
    description: TCP ports opened to I(allow_from).
    type: list
    elements: int
    default: [22, 6443]
  public_key:
    description: An OpenSSH public key, imported as key pair C(sealer-<cluster>).
    type: str
  endpoint_url:
    description: The EC2 endpoint (tests, private clouds); default C(AWS_ENDPOINT_URL) or AWS's own.
    type: str
  access_key:
    description: An access key id, instead of boto3's credential chain.
    type: str
  secret_key:
    description: Its secret.
    type: str
  session_token:
    description: A session token, with temporary credentials.
    type: str
  wait_timeout:
    description: Seconds to wait for instances to run (or terminate).
    type: int
    default: 900
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
    details: Describes only, and returns in C(plan) what it would create or release.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Three masters and three nodes
  sealer.cluster.aws_ec2_instances:
    cluster: demo
    region: eu-west-1
    allow_from: [203.0.113.7/32]
    public_key: "{{ lookup('file', '~/.ssh/id_ed25519.pub') }}"
    groups:
      - {role: master, count: 3, cpu: 4, memory: 8, system_disk: 100, public_ip: all}
      - {role: node, count: 3, instance_type: m5.xlarge, data_disks: [200], public_ip: all}
  register: infra

- name: Release everything the cluster's tag names
  sealer.cluster.aws_ec2_instances:
    cluster: demo
    region: eu-west-1
    state: absent
"""

RETURN = r"""
machines:
  description: The cluster's instances, ordered by group then index.
  returned: always
  type: list
  elements: dict
  sample: [{role: master, index: 0, instance_id: i-0abc, private_ip: 10.0.0.4, public_ip: 54.1.2.3,
            zone: eu-west-1a, instance_type: t3.medium}]
plan:
  description: What was (or in check mode would be) created or released.
  returned: always
  type: list
  elements: str
created:
  description: Ids created, per resource type (also when the module fails part-way).
  returned: always
  type: dict
released:
  description: Ids released, per resource type.
  returned: always
  type: dict
network:
  description: The VPC, subnets, security group and key pair in use.
  returned: when state is present
  type: dict
api_calls:
  description: API calls made per resource type, with C(total) and C(retries).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _aws_ec2, _cloud


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            region=dict(type="str", required=True),
            zone=dict(type="str"),
            groups=dict(type="list", elements="dict", default=[]),
            image_id=dict(type="str"),
            vpc_id=dict(type="str"),
            vpc_cidr=dict(type="str", default="10.0.0.0/16"),
            subnet_cidr=dict(type="str"),
            allow_from=dict(type="list", elements="str", default=[]),
            ports=dict(type="list", elements="int", default=[22, 6443]),
            public_key=dict(type="str"),
            endpoint_url=dict(type="str"),
            access_key=dict(type="str", no_log=True),
            secret_key=dict(type="str", no_log=True),
            session_token=dict(type="str", no_log=True),
            wait_timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    p = module.params
    calls = _cloud.Calls()
    try:
        ec2 = _aws_ec2.client(p["region"], p["endpoint_url"], p["access_key"], p["secret_key"], p["session_token"])
    except ImportError:
        module.fail_json(msg="boto3 is required on the controller (pip install boto3)")
    retrier = _cloud.Retrier(_aws_ec2.translate, calls)
    created = {}
    try:
        if p["state"] == "present":
            result = _aws_ec2.apply(ec2, retrier, p, check=module.check_mode, created=created)
        else:
            result = _aws_ec2.delete(ec2, retrier, p, check=module.check_mode)
    except _cloud.CloudError as exc:
        module.fail_json(msg=str(exc), code=exc.code, resource=exc.resource, created=created,
                         api_calls=calls.as_dict())
    module.exit_json(api_calls=calls.as_dict(), **result)


if __name__ == "__main__":
    main()
