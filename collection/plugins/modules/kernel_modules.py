#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_modules
short_description: Load kernel modules now and at boot, reporting those a container cannot load
description:
  - Runs C(modprobe) for each module that is neither loaded nor built into the kernel.
  - With I(persist_file), also lists the modules in that C(modules-load.d) file, written only when its
    content changes.
  - A module that cannot be loaded (no C(modprobe) in a container, or the kernel refuses) is returned
    in I(refused). It fails the task when I(strict) says so, and is a warning otherwise.
version_added: "0.1.0"
author: sealer_runner developers (!UNKNOWN)
options:
  names:
    description: Module names, e.g. C([overlay, br_netfilter]).
    type: list
    elements: str
    required: true
  persist_file:
    description: A C(modules-load.d) file listing the modules to load at boot; none is written when unset.
    type: path
  header:
    description: A comment put at the top of I(persist_file).
    type: str
    default: Written by sealer_runner.
  modprobe:
    description: The modprobe command (a name looked up in PATH and the sbin directories, or a path).
    type: str
    default: modprobe
  proc_modules:
    description: The list of loaded modules (change only to test).
    type: path
    default: /proc/modules
  sys_module:
    description: The kernel's module directory in sysfs (change only to test).
    type: path
    default: /sys/module
  modules_builtin:
    description: The list of built-in modules; C(/lib/modules/<release>/modules.builtin) when unset.
    type: path
  strict:
    description:
      - Whether a module that cannot be loaded fails the task - C(true), C(false), or C(auto) (fail
        unless I(container_marker) exists, i.e. unless the host is a container).
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
    details: Reports which modules would be loaded; whether loading would succeed is not known.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

EXAMPLES = r"""
- name: Overlay filesystems and bridge netfilter for the container runtime
  sealer.cluster.kernel_modules:
    names: [overlay, br_netfilter]
    persist_file: /etc/modules-load.d/sealer-demo.conf
"""

RETURN = r"""
loaded:
  description: Modules this run loaded (or, in check mode, would load).
  returned: always
  type: list
  elements: str
builtin:
  description: Modules modprobe accepted that are still not listed anywhere, hence built into the kernel.
  returned: always
  type: list
  elements: str
refused:
  description: Modules that could not be loaded, each C({name, error}).
  returned: always
  type: list
  elements: dict
persisted:
  description: Whether I(persist_file) was (or, in check mode, would be) written.
  returned: always
  type: bool
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _hostfiles, _kmod


def run(module):
    p = module.params
    where = (p["proc_modules"], p["sys_module"], p["modules_builtin"] or _kmod.default_builtin_list())
    result = {"changed": False, "loaded": [], "builtin": [], "refused": [], "persisted": False}
    lacking = _kmod.absent(p["names"], *where)
    if p["persist_file"]:
        content = _kmod.render(p["names"], p["header"])
        result["persisted"] = _hostfiles.write_if_changed(p["persist_file"], content, module.check_mode)
    if module.check_mode:
        result["loaded"] = lacking
    else:
        modprobe = _hostfiles.executable(module, p["modprobe"])
        for name in lacking:
            if modprobe is None:
                result["refused"].append({"name": name, "error": "%s not found" % p["modprobe"]})
                continue
            rc, out, err = module.run_command([modprobe, name])
            if rc != 0:
                result["refused"].append({"name": name, "error": (err or out).strip() or "rc=%d" % rc})
            elif _kmod.present(name, *where):
                result["loaded"].append(name)
            else:
                result["builtin"].append(name)
    result["changed"] = bool(result["loaded"]) or result["persisted"]
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            names=dict(type="list", elements="str", required=True),
            modprobe=dict(type="str", default="modprobe"),
            proc_modules=dict(type="path", default="/proc/modules"),
            sys_module=dict(type="path", default="/sys/module"),
            modules_builtin=dict(type="path"),
            **_hostfiles.PERSIST_ARGS,
            **_hostfiles.STRICT_ARGS,
        ),
        supports_check_mode=True,
    )
    try:
        fatal = _hostfiles.fatal(module.params["strict"], module.params["container_marker"])
        result = run(module)
    except (_kmod.KmodError, _hostfiles.StrictError) as exc:
        module.fail_json(msg=str(exc))
    problems = ["%s: %s" % (r["name"], r["error"]) for r in result["refused"]]
    _hostfiles.finish(module, fatal, result, problems, "kernel modules not loaded: ", "kernel module ")


if __name__ == "__main__":
    main()
