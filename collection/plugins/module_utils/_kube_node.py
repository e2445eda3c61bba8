# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: labels and taints of one Kubernetes node, via kubectl.

The node is found by address, as sealer does (its InternalIP first, then any address), in the output
of ``kubectl get nodes -o json``. Only what differs from the node's current labels and taints becomes a
``kubectl label`` / ``kubectl taint`` argument, so an unchanged node means no command and no change.
Standard library only.
"""

from __future__ import annotations


class KubeNodeError(Exception):
    """The node cannot be found or the request is malformed; main() turns it into fail_json."""


def find_node(node_list, ip):
    """The node (a dict) with address *ip*: by InternalIP, else by any address."""
    items = node_list.get("items") or []
    for internal_only in (True, False):
        for node in items:
            for address in (node.get("status") or {}).get("addresses") or []:
                if address.get("address") == ip and (address.get("type") == "InternalIP" or not internal_only):
                    return node
    known = sorted({a.get("address") for n in items for a in (n.get("status") or {}).get("addresses") or []
                    if a.get("type") == "InternalIP"})
    raise KubeNodeError("no Kubernetes node has the address %s (nodes' InternalIPs: %s)"
                        % (ip, ", ".join(known) or "none"))


def name_of(node):
    return (node.get("metadata") or {}).get("name") or ""


def label_args(node, labels):
    """``key=value`` for each wanted label the node lacks or holds with another value."""
    current = (node.get("metadata") or {}).get("labels") or {}
    return ["%s=%s" % (key, value) for key, value in sorted(labels.items()) if current.get(key) != str(value)]


def _taints(node):
    return [{"key": t.get("key", ""), "value": t.get("value") or "", "effect": t.get("effect", "")}
            for t in (node.get("spec") or {}).get("taints") or []]


def untaint_args(node, untaints):
    """``key:Effect-`` (or ``key-`` for every effect) for each taint to remove that the node has."""
    current = _taints(node)
    out = []
    for u in untaints:
        key, effect = u.get("key", ""), u.get("effect") or ""
        if not key:
            raise KubeNodeError("a taint to remove needs a key: %r" % (u,))
        if any(t["key"] == key and effect in ("", t["effect"]) for t in current):
            out.append("%s:%s-" % (key, effect) if effect else "%s-" % key)
    return out


def taint_args(node, taints):
    """``key[=value]:Effect`` for each wanted taint the node lacks, or holds with another value."""
    current = _taints(node)
    out = []
    for t in taints:
        key, value, effect = t.get("key", ""), t.get("value") or "", t.get("effect", "")
        if not key or not effect:
            raise KubeNodeError("a taint needs a key and an effect: %r" % (t,))
        if not any(c["key"] == key and c["effect"] == effect and c["value"] == value for c in current):
            out.append("%s=%s:%s" % (key, value, effect) if value else "%s:%s" % (key, effect))
    return out


def commands(kubectl, node, labels, taints, untaints):
    """The kubectl commands (argv lists) that make *node* carry *labels* and *taints* and lose *untaints*.

    Removals run before additions, so ``key-`` then ``key=v:NoSchedule`` leaves exactly the new taint.
    """
    name = name_of(node)
    out = []
    args = label_args(node, labels)
    if args:
        out.append(kubectl + ["label", "node", name] + args + ["--overwrite"])
    args = untaint_args(node, untaints)
    if args:
        out.append(kubectl + ["taint", "node", name] + args)
    args = taint_args(node, taints)
    if args:
        out.append(kubectl + ["taint", "node", name] + args + ["--overwrite"])
    return out
