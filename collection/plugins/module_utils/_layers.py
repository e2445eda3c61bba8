# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: host-side image layer delivery.

Keeps a host's layer store (verified blobs, one file per digest) and makes a
rootfs equal to an ordered list of layers. Runs on the managed host with the
Python standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import urllib.request

APPLIED = ".sealer-layers.json"
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
CHUNK = 1 << 20


class LayerError(Exception):
    """Raised for any delivery problem; the module's main() turns it into fail_json."""


def hex_of(digest):
    algo, _, value = str(digest).partition(":")
    if algo != "sha256" or len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise LayerError("not a sha256 digest: %r" % (digest,))
    return value


def blob_path(store, digest):
    return os.path.join(store, hex_of(digest))


def present(store, digest):
    return os.path.isfile(blob_path(store, digest))


def missing(store, layers):
    return [layer.get("digest") for layer in layers if not present(store, layer.get("digest"))]


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def adopt_incoming(store):
    """Verify blobs uploaded to ``<store>/incoming/<hex>`` and move the good ones in; returns them."""
    incoming = os.path.join(store, "incoming")
    adopted = []
    if not os.path.isdir(incoming):
        return adopted
    for name in sorted(os.listdir(incoming)):
        path = os.path.join(incoming, name)
        digest = "sha256:" + name
        if _sha256_file(path) != digest:
            os.unlink(path)
            raise LayerError("uploaded layer %s is damaged (digest mismatch); re-run to send it again" % digest)
        os.replace(path, blob_path(store, digest))
        adopted.append(digest)
    return adopted


def fetch(store, url, digest, timeout=300):
    """Download one blob from another host of the cluster, verifying it before it is kept."""
    os.makedirs(store, exist_ok=True)
    part = blob_path(store, digest) + ".part"
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen("%s/%s" % (url.rstrip("/"), hex_of(digest)), timeout=timeout) as resp, \
                open(part, "wb") as out:
            for block in iter(lambda: resp.read(CHUNK), b""):
                h.update(block)
                out.write(block)
    except (OSError, ValueError) as exc:
        _unlink(part)
        raise LayerError("cannot fetch %s from %s: %s" % (digest, url, exc))
    if "sha256:" + h.hexdigest() != digest:
        _unlink(part)
        raise LayerError("layer %s fetched from %s does not match its digest" % (digest, url))
    os.replace(part, blob_path(store, digest))


def applied(rootfs):
    try:
        with open(os.path.join(rootfs, APPLIED)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def plan(rootfs, digests):
    """What making *rootfs* equal to *digests* takes: ('none'|'extend'|'rebuild', layers to apply)."""
    done = applied(rootfs)
    if done == digests:
        return "none", []
    if done is not None and digests[: len(done)] == done:
        return "extend", digests[len(done):]
    return "rebuild", list(digests)


def apply(store, rootfs, digests):
    """Make *rootfs* equal to the layers *digests*; returns the action taken."""
    action, todo = plan(rootfs, digests)
    for digest in todo:
        if not present(store, digest):
            raise LayerError("layer %s is not on this host" % digest)
    if action == "none":
        return action
    target = rootfs if action == "extend" else rootfs + ".new"
    if action == "rebuild":
        shutil.rmtree(target, ignore_errors=True)
    os.makedirs(target, exist_ok=True)
    for digest in todo:
        extract(blob_path(store, digest), target)
    _write_applied(target, digests)
    if action == "rebuild":  # swap in the new tree: files of dropped layers disappear with the old one
        old = rootfs + ".old"
        shutil.rmtree(old, ignore_errors=True)
        if os.path.exists(rootfs):
            os.replace(rootfs, old)
        os.replace(target, rootfs)
        shutil.rmtree(old, ignore_errors=True)
    return action


def extract(blob, root):
    """Apply one tar(+gzip) layer onto *root*, honouring OCI whiteouts."""
    created = set()
    try:
        with tarfile.open(blob, mode="r:*") as tar:
            for member in tar:
                name = _normalise(member.name)
                if not name:
                    continue
                parent, _, base = name.rpartition("/")
                if base == OPAQUE:
                    _clear(root, parent, created)
                elif base.startswith(WHITEOUT):
                    victim = (parent + "/" if parent else "") + base[len(WHITEOUT):]
                    if victim not in created:
                        _remove(os.path.join(root, victim))
                else:
                    target = os.path.join(root, name)
                    if os.path.lexists(target) and not (member.isdir() and os.path.isdir(target)
                                                         and not os.path.islink(target)):
                        _remove(target)
                    _extract_member(tar, member, root, target)
                    created.add(name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise LayerError("cannot extract %s: %s" % (blob, exc))


def _extract_member(tar, member, root, target):
    if hasattr(tarfile, "tar_filter"):  # Python with PEP 706 (3.11.4+, and Debian's security backports)
        tar.extract(member, root, set_attrs=True, filter="tar")
        return
    real_root = os.path.realpath(root)
    if not os.path.realpath(os.path.dirname(target)).startswith(real_root):
        raise LayerError("layer member %s would be written outside the rootfs" % member.name)
    tar.extract(member, root, set_attrs=True)


def _normalise(name):
    name = name.lstrip("/")
    while name.startswith("./"):
        name = name[2:].lstrip("/")
    return "" if name == "." else name.rstrip("/")


def _clear(root, rel, created):
    directory = os.path.join(root, rel) if rel else root
    if not os.path.isdir(directory):
        return
    for child in os.listdir(directory):
        child_rel = (rel + "/" if rel else "") + child
        if child_rel not in created:
            _remove(os.path.join(directory, child))


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _write_applied(root, digests):
    tmp = os.path.join(root, APPLIED + ".tmp")
    with open(tmp, "w") as f:
        json.dump(digests, f)
    os.replace(tmp, os.path.join(root, APPLIED))
