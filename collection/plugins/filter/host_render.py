# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Filters that give, on the controller, the files the collection's modules write on hosts: the same
module_utils functions make the content in both places, so a rendered file is the file a run writes.
``sealer.cluster.render`` (``sealer_runner run --dry-run``) uses them."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.sealer.cluster.plugins.module_utils import _kmod, _lvscare, _sysctl

DOCUMENTATION = r"""
name: host_render
short_description: The files the collection's modules write on a host, as host_files entries
description:
  - C(sysctl_dropin) gives the C(sysctl.d) file M(sealer.cluster.sysctl_values) writes, C(modules_dropin) the
    C(modules-load.d) file of M(sealer.cluster.kernel_modules), C(lvscare_files) the care script and unit of
    M(sealer.cluster.lvscare); each as a list of C({path, content, mode}) for M(sealer.cluster.host_files).
  - C(placeholder) replaces the content of the entries at given paths (private keys) with a text saying
    where the real content comes from, so a rendering holds no secret.
version_added: "0.1.0"
options:
  _input:
    description: The values (sysctl), the module names (modules), the VIP (lvscare), or the entries (placeholder).
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: The node's files, rendered under a directory on the controller
  sealer.cluster.host_files:
    root: /tmp/render/10.0.0.3
    files: >-
      {{ (sealer_sysctl | sealer.cluster.sysctl_dropin(sealer_sysctl_file, 'Written by sealer_runner.'))
         + (sealer_kube_vip | sealer.cluster.lvscare_files(6443, sealer_kube_masters,
                                                           '/usr/local/lib/sealer/lvscare.py',
                                                           '/etc/systemd/system/sealer-lvscare.service')) }}
"""

RETURN = r"""
_value:
  description: Entries C({path, content, mode}).
  type: list
  elements: dict
"""


def sysctl_dropin(values, path, header):
    if not isinstance(values, dict):
        raise AnsibleFilterError("sysctl_dropin: expected a mapping of sysctl keys to values")
    return [{"path": path, "content": _sysctl.render(values, header), "mode": "0644"}]


def modules_dropin(names, path, header):
    if not isinstance(names, list):
        raise AnsibleFilterError("modules_dropin: expected a list of kernel module names")
    return [{"path": path, "content": _kmod.render(names, header), "mode": "0644"}]


def lvscare_files(vip, port, masters, script, unit, python="/usr/bin/python3", health_path="/healthz",
                  interval=5):
    try:
        return _lvscare.care_files(str(vip), int(port), [str(m) for m in masters], script, unit, python,
                                   health_path, int(interval))
    except (_lvscare.LvscareError, ValueError) as exc:
        raise AnsibleFilterError("lvscare_files: %s" % exc) from None


def placeholder(entries, paths, text):
    wanted = {paths} if isinstance(paths, str) else set(paths)
    return [dict(e, content=text) if e.get("path") in wanted and e.get("state", "present") == "present" else e
            for e in entries]


class FilterModule(object):
    def filters(self):
        return {"sysctl_dropin": sysctl_dropin, "modules_dropin": modules_dropin, "lvscare_files": lvscare_files,
                "placeholder": placeholder}
