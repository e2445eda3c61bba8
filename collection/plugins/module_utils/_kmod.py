# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: which kernel modules a host already has.

A module counts as present when it is loaded (``/proc/modules``), visible in ``/sys/module`` (loaded,
or built in with parameters), or listed in ``modules.builtin`` (built in). Kernels without loadable
module support have no ``/proc/modules``; containers usually have no ``modprobe``, or may not use it.
Standard library only.
"""

from __future__ import annotations

import os
import re

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_SUFFIX = re.compile(r"\.ko(\.(gz|xz|zst))?$")


class KmodError(Exception):
    """A bad module name; the module's main() turns it into fail_json."""


def canonical(name):
    """Module names compare with ``-`` and ``_`` alike, as the kernel does."""
    if not _NAME.match(str(name)):
        raise KmodError("not a kernel module name: %r" % (name,))
    return str(name).replace("-", "_")


def _lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return []


def loaded(proc_modules):
    """Names in ``/proc/modules`` (empty when the kernel has no loadable modules)."""
    return {canonical(line.split()[0]) for line in _lines(proc_modules) if line.split()}


def builtin(modules_builtin):
    """Names in ``modules.builtin`` (paths such as ``kernel/fs/overlayfs/overlay.ko``)."""
    return {canonical(_SUFFIX.sub("", os.path.basename(line.strip()))) for line in _lines(modules_builtin)
            if line.strip()}


def default_builtin_list():
    return os.path.join("/lib/modules", os.uname().release, "modules.builtin")


def present(name, proc_modules, sys_module, modules_builtin):
    """Whether the kernel already has module *name*."""
    name = canonical(name)
    return (name in loaded(proc_modules) or os.path.isdir(os.path.join(sys_module, name))
            or name in builtin(modules_builtin))


def absent(names, proc_modules, sys_module, modules_builtin):
    """The names of *names* the kernel lacks, in order, without repeats."""
    out = []
    for name in names:
        if not present(name, proc_modules, sys_module, modules_builtin) and name not in out:
            out.append(name)
    return out


def render(names, header):
    """The ``modules-load.d`` file listing *names*, under a comment *header*."""
    lines = ["# %s" % line for line in header.splitlines()]
    lines += [str(name) for name in names if canonical(name)]
    return "\n".join(lines) + "\n"
