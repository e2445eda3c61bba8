# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""etcd as kubeadm runs it on each master (the static pod /etc/kubernetes/manifests/etcd.yaml): the member's
name, data directory, URLs and certificate files read from that manifest's command, and the
``--initial-cluster`` a restore gives every member. Pure functions: the etcd filters and the unit tests use
them."""

from __future__ import annotations

#: The flags a restore and a snapshot need from the member's command line.
REQUIRED = ("name", "data-dir", "initial-advertise-peer-urls", "advertise-client-urls", "trusted-ca-file")


class EtcdManifestError(ValueError):
    """The manifest is not an etcd static pod whose command carries what a backup or restore needs."""


def command_flags(manifest, where="etcd.yaml"):
    """``--name=value`` flags of the etcd container's command and args, as a dict (a flag given twice: the
    last one, as etcd's flag parser does)."""
    if not isinstance(manifest, dict):
        raise EtcdManifestError("%s is not a YAML mapping (a Pod)" % where)
    containers = ((manifest.get("spec") or {}).get("containers")) or []
    chosen = [c for c in containers if isinstance(c, dict) and c.get("name") == "etcd"] or \
        [c for c in containers if isinstance(c, dict)]
    if not chosen:
        raise EtcdManifestError("%s has no container (spec.containers)" % where)
    words = [str(w) for w in (chosen[0].get("command") or []) + (chosen[0].get("args") or [])]
    flags = {}
    for word in words:
        if word.startswith("--"):
            name, _sep, value = word[2:].partition("=")
            flags[name] = value
    return flags


def member(manifest, where="etcd.yaml"):
    """The member this manifest runs: {name, data_dir, peer_url, client_url, ca, flags}."""
    flags = command_flags(manifest, where)
    missing = [name for name in REQUIRED if not flags.get(name)]
    if missing:
        raise EtcdManifestError("%s: the etcd command has no --%s (is it kubeadm's stacked etcd?)" % (where, missing[0]))
    return {
        "name": flags["name"],
        "data_dir": flags["data-dir"].rstrip("/") or "/",
        "peer_url": flags["initial-advertise-peer-urls"].split(",")[0].strip(),
        "client_url": flags["advertise-client-urls"].split(",")[0].strip(),
        "ca": flags["trusted-ca-file"],
        "flags": flags,
    }


def initial_cluster(members):
    """``name=peerURL,...`` for *members* (as ``member`` gives them); two members with one name, or one URL,
    cannot make a cluster."""
    names, urls = set(), set()
    parts = []
    for one in members:
        if one["name"] in names:
            raise EtcdManifestError("two masters run an etcd member named %s" % one["name"])
        if one["peer_url"] in urls:
            raise EtcdManifestError("two masters advertise the peer URL %s" % one["peer_url"])
        names.add(one["name"])
        urls.add(one["peer_url"])
        parts.append("%s=%s" % (one["name"], one["peer_url"]))
    if not parts:
        raise EtcdManifestError("no etcd member to restore")
    return ",".join(parts)
