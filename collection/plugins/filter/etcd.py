# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Filters for the sealer.cluster.etcd role: the etcd member a kubeadm manifest runs, and the initial cluster
of a restore (logic in module_utils/_etcd.py)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.sealer.cluster.plugins.module_utils import _etcd

DOCUMENTATION = r"""
name: etcd
short_description: The etcd member of a kubeadm static pod manifest, and a restore's initial cluster
description:
  - C(etcd_member) reads the etcd container's command of a parsed static pod manifest (kubeadm's
    C(/etc/kubernetes/manifests/etcd.yaml)) and gives C({name, data_dir, peer_url, client_url, ca, flags}).
    It fails, naming the manifest, when the command lacks C(--name), C(--data-dir),
    C(--initial-advertise-peer-urls), C(--advertise-client-urls) or C(--trusted-ca-file).
  - C(etcd_initial_cluster) joins a list of such members into C(name=peerURL,...), refusing two members with
    one name or one peer URL.
version_added: "0.1.0"
options:
  _input:
    description: The parsed manifest (etcd_member), or the list of members (etcd_initial_cluster).
    type: raw
    required: true
  where:
    description: What to call the manifest in errors (etcd_member).
    type: str
    default: etcd.yaml
"""

EXAMPLES = r"""
- name: The member this master runs
  ansible.builtin.set_fact:
    sealer_etcd_member: "{{ manifest.content | b64decode | from_yaml | sealer.cluster.etcd_member(inventory_hostname) }}"
"""

RETURN = r"""
_value:
  description: The member (etcd_member) or the C(--initial-cluster) value (etcd_initial_cluster).
  type: raw
"""


def etcd_member(manifest, where="etcd.yaml"):
    try:
        return _etcd.member(manifest, where)
    except _etcd.EtcdManifestError as exc:
        raise AnsibleFilterError(str(exc)) from None


def etcd_initial_cluster(members):
    try:
        return _etcd.initial_cluster(list(members))
    except _etcd.EtcdManifestError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"etcd_member": etcd_member, "etcd_initial_cluster": etcd_initial_cluster}
