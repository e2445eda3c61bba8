"""Container images as a docker distribution *storage directory*, written as layer entries.

The layout is the one the distribution registry's filesystem driver uses, so a
plain ``registry`` process serving ``<rootfs>/registry`` answers for every image
without any import step::

    docker/registry/v2/blobs/sha256/<hh>/<hex>/data
    docker/registry/v2/repositories/<repo>/_layers/sha256/<hex>/link
    docker/registry/v2/repositories/<repo>/_manifests/revisions/sha256/<hex>/link
    docker/registry/v2/repositories/<repo>/_manifests/tags/<tag>/current/link
    docker/registry/v2/repositories/<repo>/_manifests/tags/<tag>/index/sha256/<hex>/link

Link files hold ``sha256:<hex>`` with no newline (the registry rejects one).
The repository keeps the source registry's domain (``docker.io/library/nginx``)
so equal paths from different registries never collide; a ``:port`` in the
domain becomes ``_port`` (``127.0.0.1_5000/team/app``), as ``:`` is not allowed
in repository names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Iterable

from .digest import Digest
from .layer import Entry, data_entry
from .reference import Reference
from .store import Store

ROOT = "registry/docker/registry/v2"


@dataclass(frozen=True)
class CachedImage:
    """One container image to place in the storage directory."""

    reference: Reference
    top: Digest
    manifests: tuple[Digest, ...]  # platform manifests (equal to (top,) for a single manifest)
    blobs: tuple[Digest, ...]  # configs and layers


def repository_name(ref: Reference) -> str:
    """``docker.io/library/nginx``; ``127.0.0.1:5000/a`` -> ``127.0.0.1_5000/a``."""
    return f"{ref.domain.lower().replace(':', '_')}/{ref.path}"


def layout_entries(store: Store, images: Iterable[CachedImage], *, skip_blobs: frozenset[Digest] = frozenset()
                   ) -> list[Entry]:
    """Entries of a layer that adds *images* under ``registry/``; blobs in *skip_blobs* are already below."""
    files: dict[str, Entry] = {}
    for image in images:
        repo = f"{ROOT}/repositories/{repository_name(image.reference)}"
        for digest in (image.top, *image.manifests, *image.blobs):
            if digest not in skip_blobs:
                path = f"{ROOT}/blobs/sha256/{digest.hex[:2]}/{digest.hex}/data"
                files[path] = _blob_entry(store, path, digest)
        for digest in image.blobs:
            files[f"{repo}/_layers/sha256/{digest.hex}/link"] = _link(f"{repo}/_layers/sha256/{digest.hex}/link", digest)
        for digest in {image.top, *image.manifests}:
            path = f"{repo}/_manifests/revisions/sha256/{digest.hex}/link"
            files[path] = _link(path, digest)
        if image.reference.tag:
            tag = f"{repo}/_manifests/tags/{image.reference.tag}"
            files[f"{tag}/current/link"] = _link(f"{tag}/current/link", image.top)
            files[f"{tag}/index/sha256/{image.top.hex}/link"] = _link(f"{tag}/index/sha256/{image.top.hex}/link",
                                                                     image.top)
    return _with_parents(files)


def _link(path: str, digest: Digest) -> Entry:
    return data_entry(path, str(digest).encode())


def _blob_entry(store: Store, path: str, digest: Digest) -> Entry:
    source = store.blob_source(digest)
    return Entry(path, "file", 0o644, size=os.stat(source).st_size, source=source)


def _with_parents(files: dict[str, Entry]) -> list[Entry]:
    dirs: dict[str, Entry] = {}
    for path in files:
        for parent in PurePosixPath(path).parents:
            name = str(parent)
            if name in (".", "") or name in dirs:
                continue
            dirs[name] = Entry(name, "dir", 0o755)
    return [*dirs.values(), *files.values()]
