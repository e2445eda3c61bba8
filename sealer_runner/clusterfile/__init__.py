"""Clusterfile decoding: multi-document YAML to a typed, validated model.

>>> spec = load_clusterfile(text)            # doctest: +SKIP
>>> spec.cluster.master0.ip                 # doctest: +SKIP
'192.168.0.2'

Every problem raises :class:`~sealer_runner.errors.ClusterfileError`
(rendered ``Clusterfile:LINE: message``); nothing is printed.  See
``docs/clusterfile.md`` for the format.
"""

from __future__ import annotations

from pathlib import Path

from sealer_runner.errors import ClusterfileError

from .decoder import KINDS, decode, decode_plugins
from .yamlpos import MAX_BYTES, decode_utf8, load_documents, to_plain
from .models import (
    AppConfig,
    AppFile,
    AppLaunch,
    Application,
    CloudSpec,
    Cluster,
    ClusterSpec,
    Config,
    ContainerRuntime,
    ExternalRegistry,
    Host,
    HostAlias,
    HostGroup,
    KubeadmDocument,
    LocalRegistry,
    Machine,
    Plugin,
    PluginTarget,
    Registry,
    Secret,
    SSH,
    SSHOverride,
    SubjectAltName,
    Taint,
)


def load_clusterfile(text: str | bytes, filename: str = "Clusterfile") -> ClusterSpec:
    """Decode and validate the Clusterfile *text*.

    *filename* is only used in error messages and warnings.  Returns a frozen
    :class:`ClusterSpec`; raises :class:`~sealer_runner.errors.ClusterfileError`
    carrying the line of the offending YAML node.
    """
    return decode(text, filename)


def read_clusterfile(path: Path, filename: str | None = None) -> str:
    """The text of the Clusterfile at *path*: UTF-8 and at most 8 MiB (a larger file is not read whole).

    Raises :class:`~sealer_runner.errors.ClusterfileError` naming the file, and the line, column and
    byte offset of an undecodable byte.
    """
    shown = filename or str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ClusterfileError(f"cannot read: {exc.strerror or exc}", file=shown) from None
    return decode_utf8(data, shown)


def load_yaml_documents(text: str | bytes, filename: str = "Clusterfile") -> list[object]:
    """The documents of *text* as plain data, with the Clusterfile's YAML rules and caps (core tags
    only, no merge keys, no alias bombs, bounded depth and size) but without checking kinds or fields.
    Empty documents are dropped."""
    text = text if isinstance(text, str) else decode_utf8(text, filename)
    return [to_plain(document, filename) for document in load_documents(text, filename)]


def load_plugins(
    text: str | bytes, filename: str, cluster: Cluster | None = None
) -> tuple[tuple[Plugin, ...], tuple[str, ...]]:
    """Decode a file of Plugin documents only (a cluster image's ``plugins/*.yaml``).

    Returns the plugins and the warnings; errors are ClusterfileErrors naming *filename* and the line.
    """
    return decode_plugins(text, filename, cluster)


__all__ = [
    "KINDS",
    "AppConfig",
    "AppFile",
    "AppLaunch",
    "Application",
    "CloudSpec",
    "Cluster",
    "ClusterSpec",
    "Config",
    "ContainerRuntime",
    "ExternalRegistry",
    "Host",
    "HostAlias",
    "HostGroup",
    "KubeadmDocument",
    "LocalRegistry",
    "Machine",
    "Plugin",
    "PluginTarget",
    "Registry",
    "SSH",
    "SSHOverride",
    "Secret",
    "SubjectAltName",
    "Taint",
    "load_clusterfile",
    "load_plugins",
    "load_yaml_documents",
    "read_clusterfile",
]
