"""Plugins a cluster image carries in its rootfs (``plugins/*.yaml``), merged with the Clusterfile's.

sealer loads every ``plugins/*.yaml`` of the image's rootfs as Plugin documents and runs them with the
Clusterfile's. Here they are read on the controller, from the image's layers in the local store,
before any host is touched, and decoded by the Clusterfile decoder, so a bad file is an error naming
``plugins/FILE:LINE``. The Clusterfile's plugins come first, in sealer's order; an image plugin whose
name a Clusterfile plugin also has is replaced by it (the user overrides the image's author).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ..clusterfile import Cluster, ClusterSpec, Plugin, load_plugins
from ..errors import ClusterfileError, InputError

#: Where an image keeps its plugins, relative to its rootfs (one directory level, like sealer).


@dataclass(frozen=True)
class SourcedPlugin:
    """A plugin and the file it comes from (``Clusterfile`` or ``plugins/x.yaml``), for messages."""

    plugin: Plugin
    source: str

    @property
    def where(self) -> str:
        return f"{self.source}:{self.plugin.line}"


def clusterfile_plugins(spec: ClusterSpec) -> list[SourcedPlugin]:
    return [SourcedPlugin(plugin, spec.filename) for plugin in spec.plugins]


def image_plugins(files: Mapping[str, bytes], image: str,
                  cluster: Cluster | None = None) -> tuple[list[SourcedPlugin], list[str]]:
    """Decode the image's plugin files (*files*: path -> content), in path order; returns the plugins
    and the decoder's warnings. Two files defining one plugin name is an error."""
    found: list[SourcedPlugin] = []
    warnings: list[str] = []
    for path in sorted(files):
        try:
            plugins, notes = load_plugins(files[path], path, cluster)
        except ClusterfileError as exc:
            raise InputError(f"image {image}: {exc}") from exc
        for plugin in plugins:
            other = next((s for s in found if s.plugin.name == plugin.name), None)
            if other is not None:
                raise InputError(f"image {image}: {path}:{plugin.line}: Plugin {plugin.name!r} is also defined "
                                 f"at {other.where}")
            found.append(SourcedPlugin(plugin, path))
        warnings += [f"image {image}: {note}" for note in notes]
    return found, warnings


def merge_plugins(clusterfile: Sequence[SourcedPlugin], image: Iterable[SourcedPlugin]) -> list[SourcedPlugin]:
    """The Clusterfile's plugins, then the image's whose names the Clusterfile does not use."""
    names = {s.plugin.name for s in clusterfile}
    return [*clusterfile, *(s for s in image if s.plugin.name not in names)]


def check_hostnames(plugins: Iterable[SourcedPlugin]) -> None:
    """HOSTNAME plugins must agree: one name per host, one host per name (else every run renames)."""
    by_ip: dict[str, tuple[str, str]] = {}
    by_name: dict[str, tuple[str, str]] = {}
    for sourced in plugins:
        if sourced.plugin.type != "HOSTNAME":
            continue
        for target in sourced.plugin.targets:
            where = f"{sourced.source}:{target.line}"
            named = by_ip.setdefault(target.ip, (target.hostname, where))
            if named[0] != target.hostname:
                raise InputError(f"{where}: Plugin {sourced.plugin.name!r} names {target.ip} {target.hostname!r}, "
                                 f"but {named[1]} names it {named[0]!r}")
            holder = by_name.setdefault(target.hostname.lower(), (target.ip, where))
            if holder[0] != target.ip:
                raise InputError(f"{where}: Plugin {sourced.plugin.name!r} gives {target.hostname!r} to "
                                 f"{target.ip}, but {holder[1]} gives it to {holder[0]}")
