"""What a parsed Kubefile asks the builder to do: plain, frozen data.

The build executor consumes these types; the parser is the only producer.
The reserved label names are sealer's own (``build/kubefile/command/command.go``
and ``docs/site/src/docs/concept/kubefile.md`` in sealerio/sealer).
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

LABEL_CLUSTER_RUNTIME_TYPE = "cluster.alpha.sealer.io/cluster-runtime-type"
LABEL_CLUSTER_RUNTIME_VERSION = "cluster.alpha.sealer.io/cluster-runtime-version"
LABEL_CONTAINER_RUNTIME_TYPE = "cluster.alpha.sealer.io/container-runtime-type"
LABEL_CONTAINER_RUNTIME_VERSION = "cluster.alpha.sealer.io/container-runtime-version"
LABEL_KUBE_CNI = "cluster.alpha.sealer.io/kube-cni"
LABEL_KUBE_CSI = "cluster.alpha.sealer.io/kube-csi"
LABEL_SUPPORTED_KUBE_VERSION = "app.alpha.sealer.io/supported-kube-version"

RESERVED_LABELS = (
    LABEL_CLUSTER_RUNTIME_TYPE,
    LABEL_CLUSTER_RUNTIME_VERSION,
    LABEL_CONTAINER_RUNTIME_TYPE,
    LABEL_CONTAINER_RUNTIME_VERSION,
    LABEL_KUBE_CNI,
    LABEL_KUBE_CSI,
    LABEL_SUPPORTED_KUBE_VERSION,
)

APPS_ROOT = "application/apps"
"""Where APP/CNI/CSI files land in the image rootfs: ``application/apps/<name>/``."""


@dataclass(frozen=True)
class CopyStep:
    """Copy files from the build context into the image rootfs."""

    line: int
    text: str
    sources: tuple[pathlib.Path, ...]
    """Absolute paths inside the build context, sorted; a directory copies its contents."""
    dest: str
    """Rootfs-relative posix path without leading or trailing ``/``; ``""`` is the root."""
    dest_is_dir: bool
    """True when sources go *into* ``dest`` (trailing ``/``, the root, or several sources)."""


@dataclass(frozen=True)
class RunStep:
    """Run a command inside the image being built."""

    line: int
    text: str
    command: tuple[str, ...]
    """argv: the JSON form as written, the shell form as ``("/bin/sh", "-c", cmd)``."""
    env: tuple[tuple[str, str], ...]
    """ARG and ENV values visible at this point (ENV wins), sorted by name."""


@dataclass(frozen=True)
class AppSpec:
    """An application packed in the image under ``application/apps/<name>/``."""

    name: str
    type: str
    """``"helm"``, ``"kube"``, ``"shell"``, or ``""`` when APPCMDS launches an app of no detectable type."""
    files: tuple[str, ...]
    """Launch files relative to the app directory (``"."`` is the directory itself)."""
    cmds: tuple[str, ...]
    env: tuple[tuple[str, str], ...]


Step = CopyStep | RunStep


@dataclass(frozen=True)
class BuildPlan:
    """Everything a Kubefile declares, in build order."""

    base: str | None
    """The FROM image as written (after expansion); None for ``scratch``."""
    platforms: tuple[str, ...]
    steps: tuple[Step, ...]
    args: tuple[tuple[str, str], ...]
    env: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]
    cmds: tuple[str, ...]
    launch_apps: tuple[str, ...]
    apps: tuple[AppSpec, ...]
    warnings: tuple[str, ...] = ()
    """``FILE:LINE: message`` for input accepted but partly ignored (a COPY's trailing comment...)."""
