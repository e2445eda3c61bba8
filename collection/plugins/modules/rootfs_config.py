#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: rootfs_config
short_description: Apply a cluster's Config objects to a rootfs and render its *.tmpl files
description:
  - Writes each Config's I(data) into the file at its I(path) in I(rootfs), then renders every
    C(*.tmpl) file under I(template_dirs) into the same path without C(.tmpl), with I(env) - the order
    sealer uses, so templates see the Configs.
  - C(strategy=merge) deep-merges the Config's YAML mapping into every YAML document of the file (its
    values win, mappings merge, lists are replaced). Merges and C(process) steps are resolved on the
    controller by this module's action plugin, which has a YAML library; the host needs only Python.
  - Templates use a subset of Go's text/template, as sealer does, C({{ .NAME }}),
    C({{ index . "NAME" }}), string literals, C(b64enc), C(b64dec), trim markers and comments. An
    unknown variable, or any other action (C(if), C(range)...), fails the task and names the file and line.
  - Every run starts from the image's version of each file it changes (kept under
    C(<rootfs>/.sealer-configs/)), so a Config that is removed or changed leaves nothing behind, and a
    second run with the same inputs changes nothing. A rootfs rebuilt by M(sealer.cluster.image_layer)
    has no such record, and everything is applied afresh.
  - C(state=query) changes nothing and returns the image's version of the files that merge or
    C(toSecret) Configs land on (the action plugin uses it).
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  rootfs:
    description: The rootfs directory, made by M(sealer.cluster.image_layer).
    type: path
    required: true
  configs:
    description:
      - The Configs, applied in order, each a dict with C(name), C(path) (relative to I(rootfs); an
        absolute path or one that leaves the rootfs fails), C(data) (the text), C(strategy)
        (C(overwrite), the default, or C(merge)) and optional C(process), a list of sealer's processors
        C(value), C(toJson), C(toBase64), C(toSecret).
      - When the file does not exist, C(merge) and C(toSecret) write the data as it is, as sealer does.
    type: list
    elements: dict
    default: []
  env:
    description: Variables of the templates; values are text.
    type: dict
    default: {}
  template_dirs:
    description: Directories of I(rootfs) whose C(*.tmpl) files are rendered (sealer's); C(.) is the whole rootfs.
    type: list
    elements: str
    default: [etc, charts, manifests]
  state:
    description: C(present) applies; C(query) only reads the files merges start from.
    type: str
    choices: [present, query]
    default: present
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: full
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Text files up to 64 KiB.
"""

EXAMPLES = r"""
- name: Configs and templates
  sealer.cluster.rootfs_config:
    rootfs: /var/lib/sealer/data/demo/rootfs
    configs:
      - name: kubelet-extra
        path: etc/kubelet.yaml
        strategy: merge
        data: |
          maxPods: 200
    env: {PodCIDR: 100.64.0.0/10, SvcCIDR: 10.96.0.0/22}
"""

RETURN = r"""
files:
  description: The files written or removed (or that would be, in check mode), and why.
  returned: when state is present
  type: list
  elements: dict
  sample: [{path: etc/kubeadm.yml, action: updated, by: template etc/kubeadm.yml.tmpl}]
bases:
  description: The image's version of each file a merge or toSecret Config lands on, null when absent.
  returned: when state is query
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _config


def run(module):
    p = module.params
    configs = _config.check_configs(p["configs"])
    if module.check_mode and not os.path.isdir(p["rootfs"]):
        # the rootfs phase, in check mode too, has not made it yet: every Config would be written
        return {"changed": bool(configs), "files": [], "bases": {},
                "msg": "%s is not delivered yet (check mode)" % p["rootfs"]}
    if p["state"] == "query":
        return {"changed": False, "bases": _config.bases(p["rootfs"], configs)}
    changes, record, originals = _config.plan(p["rootfs"], configs, p["env"], p["template_dirs"])
    if not module.check_mode:
        _config.apply(p["rootfs"], changes, record, originals)
    result = {"changed": bool(changes), "files": [c.summary() for c in changes]}
    if module._diff:
        result["diff"] = [d for d in (_config.diff(c) for c in changes) if d]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            rootfs=dict(type="path", required=True),
            configs=dict(type="list", elements="dict", default=[]),
            env=dict(type="dict", default={}),
            template_dirs=dict(type="list", elements="str", default=list(_config.DEFAULT_TEMPLATE_DIRS)),
            state=dict(type="str", choices=["present", "query"], default="present"),
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(**run(module))
    except _config.ConfigError as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
