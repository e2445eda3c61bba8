"""Which hosts a cluster has: adding hosts to a Clusterfile's documents (``join``) and removing them
(``delete``), on the documents as plain data, in the shape the user wrote (v2 ``spec.hosts`` groups or v1
``spec.masters/nodes.ipList``). The result is decoded again by the caller, which checks it as any
Clusterfile. Pure functions: no file, no host."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

from ..clusterfile.iprange import IPRangeError, expand
from ..clusterfile.models import ClusterSpec
from ..errors import InputError

MASTER, NODE = "master", "node"


def parse_ips(text: str | None, flag: str) -> tuple[str, ...]:
    """``-m``/``-n`` values: comma-separated addresses and ranges (``10.0.0.2-10.0.0.4``), expanded."""
    out: list[str] = []
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        try:
            out.extend(expand(part))
        except IPRangeError as exc:
            raise InputError(f"{flag}: {exc}") from None
    return tuple(dict.fromkeys(out))


def cluster_doc(documents: Sequence[Any], where: str) -> dict[str, Any]:
    found = [d for d in documents if isinstance(d, dict) and d.get("kind") == "Cluster"]
    if len(found) != 1:
        raise InputError(f"{where}: expected one Cluster document, found {len(found)}")
    return found[0]


def check_join(spec: ClusterSpec, masters: Sequence[str], nodes: Sequence[str]) -> None:
    """New hosts must be new: an address already in the cluster (or given twice) is an input error."""
    if not masters and not nodes:
        raise InputError("join: give the new hosts with -m (masters) and/or -n (nodes)")
    known = {h.ip for h in spec.cluster.hosts}
    already = [ip for ip in (*masters, *nodes) if ip in known]
    if already:
        raise InputError(f"{', '.join(already)}: already in cluster {spec.cluster.name}; nothing was changed")
    both = set(masters) & set(nodes)
    if both:
        raise InputError(f"{', '.join(sorted(both))}: given as both master and node")


def check_delete(spec: ClusterSpec, ips: Sequence[str]) -> None:
    """Hosts to delete must be in the cluster, and master0 (where the cluster began: kubeadm init, the
    registry, the launch) stays unless everything goes (``delete -a``)."""
    if not ips:
        raise InputError("delete: give the hosts with -m/-n, or -a for the whole cluster")
    known = {h.ip for h in spec.cluster.hosts}
    unknown = [ip for ip in ips if ip not in known]
    if unknown:
        raise InputError(f"{', '.join(unknown)}: not in cluster {spec.cluster.name}; nothing was changed")
    master0 = spec.cluster.master0
    if master0 is not None and master0.ip in ips:
        raise InputError(f"{master0.ip} is master0 of cluster {spec.cluster.name} (its first master: kubeadm init, "
                         "the registry, the apps): it leaves only with the whole cluster (delete -a)")


def with_hosts(documents: Sequence[Any], masters: Sequence[str], nodes: Sequence[str],
               where: str = "Clusterfile") -> list[Any]:
    """The documents with *masters* and *nodes* added: in a v2 Cluster, one new host group per role (the
    cluster's SSH settings apply); in a v1 one, appended to ``masters.ipList``/``nodes.ipList``."""
    out = copy.deepcopy(list(documents))
    spec = cluster_doc(out, where).setdefault("spec", {})
    if _is_v1(spec):
        for key, ips in (("masters", masters), ("nodes", nodes)):
            if ips:
                group = spec.setdefault(key, {}) or {}
                spec[key] = group
                group["ipList"] = [*(group.get("ipList") or []), *ips]
        return out
    hosts = spec.setdefault("hosts", []) or []
    spec["hosts"] = hosts
    for role, ips in ((MASTER, masters), (NODE, nodes)):
        if ips:
            hosts.append({"ips": list(ips), "roles": [role]})
    return out


def without_hosts(documents: Sequence[Any], ips: Iterable[str], where: str = "Clusterfile") -> list[Any]:
    """The documents with every address of *ips* removed from the Cluster's host groups (a range that holds
    one is written out as its addresses; a group left with none is dropped)."""
    gone = set(ips)
    out = copy.deepcopy(list(documents))
    spec = cluster_doc(out, where).setdefault("spec", {})
    if _is_v1(spec):
        for key in ("masters", "nodes"):
            group = spec.get(key)
            if isinstance(group, dict) and group.get("ipList"):
                group["ipList"] = _remaining(group["ipList"], gone)
        return out
    kept = []
    for group in spec.get("hosts") or []:
        if isinstance(group, dict) and group.get("ips"):
            group["ips"] = _remaining(group["ips"], gone)
            if not group["ips"]:
                continue
        kept.append(group)
    spec["hosts"] = kept
    return out


def _remaining(entries: Sequence[Any], gone: set[str]) -> list[str]:
    out: list[str] = []
    for entry in entries:
        addresses = expand(str(entry))
        if any(a in gone for a in addresses):
            out.extend(a for a in addresses if a not in gone)
        else:
            out.append(str(entry))
    return out


def _is_v1(spec: dict[str, Any]) -> bool:
    return "hosts" not in spec and any(k in spec for k in ("masters", "nodes"))
