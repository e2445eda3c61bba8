#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ali_ecs_instances
short_description: A cluster's machines on Alibaba Cloud ECS (VPC, vSwitches, security group, key pair, instances)
description:
  - Creates or reuses, by the tag C(sealer.io/cluster=<cluster>), a VPC (or uses the one given by I(vpc_id)),
    one vSwitch per zone used, a security group (all traffic inside the group; I(ports) from I(allow_from)
    only), a key pair imported from I(public_key), and for each group its instances (tags
    C(sealer.io/role), C(sealer.io/index)) with system and data disks (ESSD) and a public IP where asked.
  - Instances missing from a group are created in one RunInstances call per group (C(Amount)), then polled
    together with capped exponential backoff and jitter. A zone out of stock for the instance type
    (C(OperationDenied.NoStock) and similar) is skipped for the next zone of the region. Surplus instances
    are released. API calls are counted per resource type.
  - Throttling and transient errors are retried with backoff; quota, permission and bad-parameter errors
    stop at once with the cloud's message and the resource.
  - I(state=absent) releases every resource carrying the tag, and nothing else; a VPC given by I(vpc_id) is kept.
  - Credentials from I(access_key)/I(secret_key), else C(ACCESSKEYID)/C(ACCESSKEYSECRET) (sealer's names), else
    C(ALIBABA_CLOUD_ACCESS_KEY_ID)/C(ALIBABA_CLOUD_ACCESS_KEY_SECRET). The endpoint from I(endpoint_url), else
    C(ALIBABA_CLOUD_ENDPOINT_URL) (one URL for both ECS and VPC), else the SDK's regional endpoints.
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
requirements: [aliyun-python-sdk-core, aliyun-python-sdk-ecs, aliyun-python-sdk-vpc]
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
    description: The region (default C(RegionID) or C(ALIBABA_CLOUD_REGION_ID) from the environment).
    type: str
  zone:
    description: The zone tried first (then the region's other zones, when out of stock).
    type: str
  groups:
    description: The host groups, each C(role), C(count), and C(cpu), C(memory), C(instance_type),
      C(system_disk), C(data_disks) (GiB), C(public_ip) (C(none), C(first) or C(all)).
    type: list
    elements: dict
    default: []
  image_id:
    description: The system image (default the newest Debian 12, else Ubuntu LTS, system image of the region).
    type: str
  vpc_id:
    description: An existing VPC to create the vSwitches in; never deleted.
    type: str
  vpc_cidr:
    description: The CIDR of a VPC this module creates.
    type: str
    default: 172.16.0.0/16
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
  password:
    description: The instances' root password (when no key pair is used); never logged or returned.
    type: str
  endpoint_url:
    description: C(scheme://host[:port]) serving both ECS and VPC actions (tests, private clouds).
    type: str
  access_key:
    description: An AccessKey id.
    type: str
  secret_key:
    description: Its secret.
    type: str
  wait_timeout:
    description: Seconds to wait for instances to run (or to be gone).
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
  sealer.cluster.ali_ecs_instances:
    cluster: demo
    region: cn-hangzhou
    zone: cn-hangzhou-h
    allow_from: [203.0.113.7/32]
    public_key: "{{ lookup('file', '~/.ssh/id_ed25519.pub') }}"
    groups:
      - {role: master, count: 3, cpu: 4, memory: 8, system_disk: 100, public_ip: all}
      - {role: node, count: 3, instance_type: ecs.g6.xlarge, data_disks: [200], public_ip: all}

- name: Release everything the cluster's tag names
  sealer.cluster.ali_ecs_instances:
    cluster: demo
    region: cn-hangzhou
    state: absent
"""

RETURN = r"""
machines:
  description: The cluster's instances, ordered by group then index.
  returned: always
  type: list
  elements: dict
  sample: [{role: master, index: 0, instance_id: i-bp1abc, private_ip: 172.16.0.10, public_ip: 47.1.2.3,
            zone: cn-hangzhou-h, instance_type: ecs.c6.large}]
plan:
  description: What was (or in check mode would be) created or released, and zones skipped for lack of stock.
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
  description: The VPC, vSwitches, security group and key pair in use.
  returned: when state is present
  type: dict
api_calls:
  description: API calls made per resource type, with C(total) and C(retries).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _ali_ecs, _cloud


def main():
    module = AnsibleModule(
        argument_spec=dict(
            cluster=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            region=dict(type="str"),
            zone=dict(type="str"),
            groups=dict(type="list", elements="dict", default=[]),
            image_id=dict(type="str"),
            vpc_id=dict(type="str"),
            vpc_cidr=dict(type="str", default="172.16.0.0/16"),
            allow_from=dict(type="list", elements="str", default=[]),
            ports=dict(type="list", elements="int", default=[22, 6443]),
            public_key=dict(type="str"),
            password=dict(type="str", no_log=True),
            endpoint_url=dict(type="str"),
            access_key=dict(type="str", no_log=True),
            secret_key=dict(type="str", no_log=True),
            wait_timeout=dict(type="int", default=900),
        ),
        supports_check_mode=True,
    )
    p = dict(module.params)
    p["region"] = p["region"] or _ali_ecs.env_first(_ali_ecs.REGION_ENVS)
    if not p["region"]:
        module.fail_json(msg="no region: set region (or RegionID in the environment)")
    calls = _cloud.Calls()
    created = {}
    try:
        api = _ali_ecs.Api(p["region"], p["access_key"], p["secret_key"], p["endpoint_url"])
        retrier = _cloud.Retrier(_ali_ecs.translate, calls)
        if p["state"] == "present":
            result = _ali_ecs.apply(api, retrier, p, check=module.check_mode, created=created)
        else:
            result = _ali_ecs.delete(api, retrier, p, check=module.check_mode)
    except ImportError as exc:
        module.fail_json(msg="aliyun-python-sdk-core, -ecs and -vpc are required on the controller: %s" % exc)
    except _cloud.CloudError as exc:
        module.fail_json(msg=str(exc), code=exc.code, resource=exc.resource, created=created,
                         api_calls=calls.as_dict())
    module.exit_json(api_calls=calls.as_dict(), **result)


if __name__ == "__main__":
    main()
