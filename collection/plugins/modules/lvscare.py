#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: lvscare
short_description: IPVS virtual server for the apiserver VIP over the masters, and its care loop
description:
  - On a node, makes one IPVS virtual server I(vip):I(port) whose real servers are the I(masters)'
    apiservers, and puts the VIP on the dummy link C(sealer-ipvs), so C(kubeadm join) reaches the
    control plane through the VIP before kubelet runs anything.
  - With I(care_script), also writes the care loop (this collection's own, standard-library Python)
    and its systemd unit. The loop health-checks every master over HTTPS C(/healthz) and removes a
    master that fails, adds it back when it recovers, and keeps the rules when every master is down.
    Start the unit with M(ansible.builtin.systemd_service); the module only writes it.
  - Only the virtual server I(vip):I(port) is touched; other IPVS rules on the host are left alone.
version_added: "0.2.0"
author: sealer_runner developers (!UNKNOWN)
options:
  vip:
    description: The virtual IP (IPv4 or IPv6) nodes reach the apiserver through.
    type: str
    default: 10.103.97.2
  port:
    description: The virtual server's port, and the masters' apiserver port.
    type: int
    default: 6443
  masters:
    description: The masters' IP addresses (the real servers).
    type: list
    elements: str
    default: []
  state:
    description: C(present) makes the rules; C(absent) removes this virtual server and the VIP address.
    type: str
    choices: [present, absent]
    default: present
  care_script:
    description: Where to write the care loop's script; none is written when unset.
    type: path
  care_unit:
    description: The systemd unit file that runs the care loop (written with I(care_script)).
    type: path
    default: /etc/systemd/system/sealer-lvscare.service
  python:
    description: The Python the care unit runs the script with.
    type: path
    default: /usr/bin/python3
  health_path:
    description: The HTTP path the care loop checks on every master.
    type: str
    default: /healthz
  interval:
    description: Seconds between two rounds of health checks.
    type: int
    default: 5
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the target.
    support: full
    details: Reads the kernel's IPVS table and reports the rule changes and files it would write.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
requirements:
  - ipvsadm and iproute2 on the host (state present or absent with rules to change)
notes:
  - The kernel needs IPVS (C(ip_vs) module); the prepare role loads it on Kubernetes hosts.
"""

EXAMPLES = r"""
- name: Nodes reach the apiservers through the VIP
  sealer.cluster.lvscare:
    vip: 10.103.97.2
    masters: [192.168.0.2, 192.168.0.3, 192.168.0.4]
    care_script: /usr/local/lib/sealer/lvscare.py
"""

RETURN = r"""
rules:
  description: The rule changes made (or, in check mode, to make), each C({op, real_server}).
  returned: always
  type: list
  elements: dict
  sample: [{op: add-vs, real_server: null}, {op: add-rs, real_server: "192.168.0.2:6443"}]
files:
  description: The care files written (or to write).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.sealer.cluster.plugins.module_utils import _hostfiles, _lvscare


def run(module, backend):
    p = module.params
    vs = _lvscare.virtual_server(p["vip"], p["port"])
    masters = _lvscare.real_servers(p["masters"], p["port"])
    if p["state"] == "present" and not masters:
        raise _lvscare.LvscareError("masters is empty: a virtual server needs at least one real server")
    if module.check_mode:  # the same planning, against a copy of the kernel's table
        backend = _lvscare.MemoryBackend(backend.services(), [p["vip"]] if backend.has_address(p["vip"]) else [])
    ops = _lvscare.ensure(backend, vs, masters, p["state"])
    files = []
    if p["care_script"] and p["state"] == "present":
        for entry in _lvscare.care_files(p["vip"], p["port"], p["masters"], p["care_script"], p["care_unit"],
                                         p["python"], p["health_path"], p["interval"]):
            if _hostfiles.write_if_changed(entry["path"], entry["content"], module.check_mode,
                                           mode=int(entry["mode"], 8)):
                files.append(entry["path"])
    rules = [{"op": op, "real_server": _lvscare.show(rs) if rs else None} for op, _vs, rs in ops]
    return {"changed": bool(ops or files), "rules": rules, "files": files}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            vip=dict(type="str", default="10.103.97.2"),
            port=dict(type="int", default=6443),
            masters=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            care_script=dict(type="path"),
            care_unit=dict(type="path", default="/etc/systemd/system/sealer-lvscare.service"),
            python=dict(type="path", default="/usr/bin/python3"),
            health_path=dict(type="str", default="/healthz"),
            interval=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module, _lvscare.IpvsadmBackend(
            ipvsadm=module.get_bin_path("ipvsadm"), ip=module.get_bin_path("ip")))
    except _lvscare.LvscareError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
