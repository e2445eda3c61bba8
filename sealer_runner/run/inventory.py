"""A Cluster's hosts as an Ansible inventory: groups by role, master0 first, no secrets.

Passwords and keys never enter the inventory: they go to ansible-runner in memory
(``passwords``/``ssh_key``), see :mod:`.runner`.
"""

from __future__ import annotations

from typing import Any

from ..clusterfile.models import Cluster, Host
from ..errors import InputError

BUILTIN_GROUPS = ("master", "node", "registry")


def host_order(cluster: Cluster) -> list[Host]:
    """master0 first, then the other masters, then every other host, in Clusterfile order."""
    masters = list(cluster.masters)
    chosen = {id(host) for host in masters}  # by identity: `h not in masters` compared whole Hosts, O(n*m)
    return masters + [h for h in cluster.hosts if id(h) not in chosen]


def build_inventory(cluster: Cluster) -> dict[str, Any]:
    """The ``hosts.yml`` content: ``all.hosts`` with connection vars, and one group per role."""
    ordered = host_order(cluster)
    if not ordered:
        raise InputError(f"cluster {cluster.name}: no hosts to run on")
    hosts = {h.ip: _hostvars(h) for h in ordered}
    groups: dict[str, dict[str, Any]] = {name: {"hosts": {}} for name in BUILTIN_GROUPS}
    for host in ordered:
        for role in host.roles:
            groups.setdefault(role, {"hosts": {}})["hosts"][host.ip] = None
    for host in cluster.registry_hosts:
        groups["registry"]["hosts"][host.ip] = None
    return {"all": {"hosts": hosts, "children": groups}}


def _hostvars(host: Host) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ansible_host": host.address or host.ip,
        "ansible_port": host.ssh.port,
        "ansible_user": host.ssh.user,
        "sealer_roles": list(host.roles),
    }
    if host.ssh.user != "root":  # as sealer does: a non-root user works through sudo (its SSH password opens it)
        out["ansible_become"] = True
        out["ansible_become_method"] = "sudo"
    if host.env:
        out["sealer_host_env"] = dict(host.env)
    if host.labels:
        out["sealer_labels"] = dict(host.labels)
    if host.taints:
        out["sealer_taints"] = [f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"
                                for t in host.taints]
    return out
