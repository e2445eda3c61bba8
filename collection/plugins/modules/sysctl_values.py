#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: sysctl_values
short_description: Set kernel parameters now and at boot, reporting those a container refuses
description:
  - Writes each parameter whose running value differs through C(/proc/sys), then reads it back.
  - With I(persist_file), also keeps the values in that C(sysctl.d) file, written only when its content changes.
  - Parameters that do not exist (C(net.bridge.*) before br_netfilter is loaded) or that the kernel
    refuses (read-only C(/proc/sys) in a container) are returned in I(missing) and I(refused). They fail
    the task when I(strict) says so, and are warnings otherwise.
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  values:
    description: "Parameters and their wanted values, e.g. C({net.ipv4.ip_forward: 1})."
    type: dict
    required: true
  persist_file:
    description: A C(sysctl.d) file to hold the values at boot; none is written when unset.
    type: path
  header:
    description: A comment put at the top of I(persist_file).
    type: str
    default: Written by sealer_runner.
  strict:
    description:
      - Whether a missing or refused parameter fails the task - C(true), C(false), or C(auto) (fail
        unless I(container_marker) exists, i.e. unless the host is a container).
    type: str
    default: auto
  container_marker:
    description: A file that exists only inside containers (systemd writes it).
    type: path
    default: /run/systemd/container
  proc_root:
    description: Where the running kernel parameters are (change only to test).
    type: path
    default: /proc/sys
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
    details: Reports what would be written; whether the kernel would refuse it is not known.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Forward packets, and let iptables see bridged traffic, now and at boot
  sealer.cluster.sysctl_values:
    values:
      net.ipv4.ip_forward: 1
      net.bridge.bridge-nf-call-iptables: 1
    persist_file: /etc/sysctl.d/99-sealer-demo.conf
"""

RETURN = r"""
set:
  description: Parameters written (or, in check mode, to write), each C({key, before, after}).
  returned: always
  type: list
  elements: dict
refused:
  description: Parameters the kernel did not take, each C({key, wanted, current, error}).
  returned: always
  type: list
  elements: dict
missing:
  description: Parameters that do not exist on this host.
  returned: always
  type: list
  elements: str
persisted:
  description: Whether I(persist_file) was (or, in check mode, would be) written.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _hostfiles, _sysctl


def run(module):
    p = module.params
    to_set, missing = _sysctl.plan(p["proc_root"], p["values"])
    result = {"changed": False, "set": [], "refused": [], "missing": missing, "persisted": False}
    if p["persist_file"]:
        content = _sysctl.render(p["values"], p["header"])
        result["persisted"] = _hostfiles.write_if_changed(p["persist_file"], content, module.check_mode)
    for key, current, wanted in to_set:
        error = None if module.check_mode else _sysctl.write(p["proc_root"], key, wanted)
        if error is None:
            result["set"].append({"key": key, "before": current, "after": wanted})
        else:
            result["refused"].append({"key": key, "wanted": wanted, "current": _sysctl.read(p["proc_root"], key),
                                      "error": error})
    result["changed"] = bool(result["set"]) or result["persisted"]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            values=dict(type="dict", required=True),
            **_hostfiles.PERSIST_ARGS,
            **_hostfiles.STRICT_ARGS,
            proc_root=dict(type="path", default="/proc/sys"),
        ),
        supports_check_mode=True,
    )
    try:
        fatal = _hostfiles.fatal(module.params["strict"], module.params["container_marker"])
        result = run(module)
    except (_sysctl.SysctlError, _hostfiles.StrictError) as exc:
        module.fail_json(msg=str(exc))
    problems = ["%s does not exist" % key for key in result["missing"]]
    problems += ["%s=%s refused: %s" % (r["key"], r["wanted"], r["error"]) for r in result["refused"]]
    _hostfiles.finish(module, fatal, result, problems, "kernel parameters not set: ", "kernel parameter ")


if __name__ == "__main__":
    main()
