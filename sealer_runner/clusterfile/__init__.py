"""Clusterfile decoding: multi-document YAML to a typed, validated model.

>>> spec = load_clusterfile(text)            # doctest: +SKIP
>>> spec.cluster.master0.ip                 # doctest: +SKIP
'192.168.0.2'

Every problem raises :class:`~sealer_runner.errors.ClusterfileError`
(rendered ``Clusterfile:LINE: message``); nothing is printed.  See
``docs/clusterfile.md`` for the format.
"""

from __future__ import annotations

from .decoder import KINDS, decode, decode_plugins
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
]
