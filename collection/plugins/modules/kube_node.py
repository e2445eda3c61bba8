#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kube_node
short_description: Give one Kubernetes node, found by its address, labels and taints through kubectl
description:
  - Finds the node whose InternalIP (else any address) is I(ip) in C(kubectl get nodes -o json).
  - Runs C(kubectl label --overwrite) and C(kubectl taint) only for what differs from the node's current
    labels and taints, so C(changed) is true only when the node changed.
  - Run it where kubectl can reach the cluster (master0, with the admin kubeconfig).
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  ip:
    description: An address of the node (sealer's plugins name hosts by IP).
    type: str
    required: true
  labels:
    description: "Labels the node must carry, C({key: value})."
    type: dict
    default: {}
  taints:
    description: Taints the node must carry, each C({key, value, effect}); C(value) may be empty.
    type: list
    elements: dict
    default: []
  untaints:
    description: Taints the node must not carry, each C({key, effect}); an empty C(effect) means every effect.
    type: list
    elements: dict
    default: []
  kubectl:
    description: The kubectl command (a name looked up in PATH, or a path).
    type: str
    default: kubectl
  kubeconfig:
    description: The kubeconfig to use; kubectl's own default when empty.
    type: str
    default: ""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
    details: Reads the node and reports the commands it would run.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Label and taint the node of this host, from master0
  sealer.cluster.kube_node:
    ip: 10.0.0.21
    labels: {ssd: "true"}
    taints: [{key: dedicated, value: db, effect: NoSchedule}]
    untaints: [{key: legacy, effect: ""}]
    kubeconfig: /etc/kubernetes/admin.conf
  delegate_to: "{{ sealer_master0 }}"
"""

RETURN = r"""
node:
  description: The name of the node found.
  returned: success
  type: str
commands:
  description: The kubectl commands run (or, in check mode, to run), each as one string.
  returned: success
  type: list
  elements: str
"""

import json
import os
import shlex

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _kube_node


def kubectl_base(module):
    p = module.params
    binary = p["kubectl"] if os.sep in p["kubectl"] else module.get_bin_path(p["kubectl"], required=True)
    if not os.access(binary, os.X_OK):
        raise _kube_node.KubeNodeError("%s is not an executable file" % binary)
    return [binary] + (["--kubeconfig", p["kubeconfig"]] if p["kubeconfig"] else [])


def run(module):
    p = module.params
    base = kubectl_base(module)
    rc, out, err = module.run_command(base + ["get", "nodes", "-o", "json"])
    if rc != 0:
        raise _kube_node.KubeNodeError("kubectl get nodes failed (rc=%d): %s" % (rc, (err or out).strip()))
    try:
        node = _kube_node.find_node(json.loads(out), p["ip"])
    except ValueError as exc:
        raise _kube_node.KubeNodeError("kubectl get nodes did not print JSON: %s" % exc) from exc
    todo = _kube_node.commands(base, node, p["labels"], p["taints"], p["untaints"])
    if not module.check_mode:
        for argv in todo:
            rc, out, err = module.run_command(argv)
            if rc != 0:
                raise _kube_node.KubeNodeError("%s failed (rc=%d): %s" % (shlex.join(argv), rc, (err or out).strip()))
    return {"changed": bool(todo), "node": _kube_node.name_of(node), "commands": [shlex.join(a) for a in todo]}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            ip=dict(type="str", required=True),
            labels=dict(type="dict", default={}),
            taints=dict(type="list", elements="dict", default=[]),
            untaints=dict(type="list", elements="dict", default=[]),
            kubectl=dict(type="str", default="kubectl"),
            kubeconfig=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except _kube_node.KubeNodeError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
