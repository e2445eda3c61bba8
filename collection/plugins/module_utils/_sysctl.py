# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: kernel parameters read and written through /proc/sys.

A key such as ``net.ipv4.ip_forward`` is the file ``<root>/net/ipv4/ip_forward``. Inside containers
some keys are read-only or absent (``net.bridge.*`` without br_netfilter); those are reported as
refused or missing, and the caller decides whether that is fatal. Standard library only.
"""

from __future__ import annotations

import errno
import os
import re

_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")


class SysctlError(Exception):
    """A bad key or value; the module's main() turns it into fail_json."""


def key_path(root, key):
    """``net.ipv4.ip_forward`` -> ``<root>/net/ipv4/ip_forward`` (a key holding ``/`` uses it as separator)."""
    key = str(key)
    relative = key if "/" in key else key.replace(".", "/")
    parts = relative.split("/")
    if not _KEY.match(key) or "" in parts or "." in parts or ".." in parts:
        raise SysctlError("not a kernel parameter name: %r" % (key,))
    return os.path.join(root, *parts)


def normalise(value):
    """Values compare by their whitespace-separated fields (``4096\\t87380`` equals ``4096 87380``)."""
    if isinstance(value, bool):
        value = int(value)
    return " ".join(str(value).split())


def read(root, key):
    """The current value, normalised; None when the key does not exist."""
    try:
        with open(key_path(root, key)) as f:
            return normalise(f.read())
    except (FileNotFoundError, NotADirectoryError):
        return None


def plan(root, values):
    """Split *values* ({key: wanted}) into (to_set: [(key, current, wanted)], missing: [key])."""
    to_set, missing = [], []
    for key in sorted(values):
        wanted = normalise(values[key])
        if wanted == "":
            raise SysctlError("empty value for %s" % key)
        current = read(root, key)
        if current is None:
            missing.append(key)
        elif current != wanted:
            to_set.append((key, current, wanted))
    return to_set, missing


def write(root, key, wanted):
    """Write one value and read it back; returns None, or why the kernel did not take it."""
    try:
        with open(key_path(root, key), "w") as f:
            f.write(wanted + "\n")
    except OSError as exc:
        reason = errno.errorcode.get(exc.errno, str(exc.errno)) if exc.errno else str(exc)
        return "%s (%s)" % (exc.strerror or exc, reason)
    now = read(root, key)
    if now != wanted:
        return "the kernel kept %r" % (now,)
    return None


def render(values, header):
    """The ``sysctl.d`` file holding *values*, keys sorted, under a comment *header*."""
    lines = ["# %s" % line for line in header.splitlines()]
    lines += ["%s = %s" % (key, normalise(values[key])) for key in sorted(values)]
    return "\n".join(lines) + "\n"
