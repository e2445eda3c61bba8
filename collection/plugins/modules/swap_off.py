#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: swap_off
short_description: Turn swap off now and at boot (kubelet refuses to run with swap on)
description:
  - Runs C(swapoff -a) when C(/proc/swaps) lists a swap area, and comments out the swap lines of fstab
    so that swap stays off after a reboot.
  - Inside a container C(/proc/swaps) shows the machine's swap, which only the machine can turn off; a
    failing C(swapoff) fails the task when I(strict) says so, and is a warning otherwise.
  - Swap set up by other means (zram generators, systemd swap units) is not handled.
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  fstab:
    description: The fstab whose swap lines are commented out (nothing is done when it does not exist).
    type: path
    default: /etc/fstab
  swapoff:
    description: The swapoff command (a name looked up in PATH and the sbin directories, or a path).
    type: str
    default: swapoff
  proc_swaps:
    description: The list of active swap areas (change only to test).
    type: path
    default: /proc/swaps
  strict:
    description:
      - Whether a failing C(swapoff) fails the task - C(true), C(false), or C(auto) (fail unless
        I(container_marker) exists, i.e. unless the host is a container).
    type: str
    default: auto
  container_marker:
    description: A file that exists only inside containers (systemd writes it).
    type: path
    default: /run/systemd/container
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: No swap, now or after a reboot
  sealer.cluster.swap_off:
"""

RETURN = r"""
swaps:
  description: The swap areas active when the module started.
  returned: always
  type: list
  elements: str
swapped_off:
  description: Whether swapoff ran (or, in check mode, would run) and succeeded.
  returned: always
  type: bool
commented:
  description: The fstab lines commented out (or, in check mode, to comment out).
  returned: always
  type: list
  elements: str
error:
  description: Why swap could not be turned off, when it could not.
  returned: when swapoff failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _hostfiles, _swap


def run(module):
    p = module.params
    swaps = _swap.active(_hostfiles.read(p["proc_swaps"]) or "")
    result = {"changed": False, "swaps": swaps, "swapped_off": False, "commented": []}
    fstab = _hostfiles.read(p["fstab"])
    if fstab is not None:
        text, result["commented"] = _swap.comment_out(fstab)
        if result["commented"]:
            _hostfiles.write_if_changed(p["fstab"], text, module.check_mode)
    if swaps and module.check_mode:
        result["swapped_off"] = True
    elif swaps:
        binary = _hostfiles.executable(module, p["swapoff"])
        if binary is None:
            result["error"] = "%s not found" % p["swapoff"]
        else:
            rc, out, err = module.run_command([binary, "-a"])
            if rc == 0:
                result["swapped_off"] = True
            else:
                result["error"] = (err or out).strip() or "rc=%d" % rc
    result["changed"] = result["swapped_off"] or bool(result["commented"])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            fstab=dict(type="path", default="/etc/fstab"),
            swapoff=dict(type="str", default="swapoff"),
            proc_swaps=dict(type="path", default="/proc/swaps"),
            **_hostfiles.STRICT_ARGS,
        ),
        supports_check_mode=True,
    )
    try:
        fatal = _hostfiles.fatal(module.params["strict"], module.params["container_marker"])
        result = run(module)
    except _hostfiles.StrictError as exc:
        module.fail_json(msg=str(exc))
    problems = ["swap is still on (%s): %s" % (", ".join(result["swaps"]), result["error"])] if "error" in result else []
    _hostfiles.finish(module, fatal, result, problems, "", "")


if __name__ == "__main__":
    main()
