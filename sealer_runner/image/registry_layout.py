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
:func:`import_blobs` reads blobs back out of such layers into the store (to push them elsewhere).
The repository keeps the source registry's domain (``docker.io/library/nginx``)
so equal paths from different registries never collide; a ``:port`` in the
domain becomes ``_port`` (``127.0.0.1_5000/team/app``), as ``:`` is not allowed
in repository names.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Iterable

from ..errors import DigestMismatch, StoreError
from .digest import Digest, is_digest
from .layer import Entry, VerifyingReader, classify, data_entry
from .reference import Reference
from .store import Store
from .types import Descriptor

ROOT = "registry/docker/registry/v2"
_BLOBS = f"{ROOT}/blobs/sha256/"


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


def import_blobs(store: Store, layers: Iterable[Descriptor], wanted: set[Digest]) -> set[Digest]:
    """Copy the *wanted* blobs found under ``registry/`` in *layers* into *store* (each verified);
    returns those found nowhere. Layers are read only until every wanted blob is in the store."""
    missing = {d for d in wanted if not store.has_blob(d)}
    with store.writing():
        for layer in layers:
            if not missing:
                break
            _import_from(store, layer, missing)
    return missing


def _import_from(store: Store, layer: Descriptor, missing: set[Digest]) -> None:
    reader = VerifyingReader(store, layer.digest)
    try:
        with tarfile.open(fileobj=reader, mode="r|*") as tar:  # type: ignore[call-overload]
            for member in tar:
                digest = _blob_digest(member)
                if digest in missing and member.isfile():
                    _store_verified(store, tar.extractfile(member), digest, layer)
                    missing.discard(digest)
        reader.drain()
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise StoreError(f"cannot read layer {layer.digest}: {exc}") from exc


def _blob_digest(member: tarfile.TarInfo) -> Digest | None:
    """``registry/docker/registry/v2/blobs/sha256/<hh>/<hex>/data`` -> ``sha256:<hex>``."""
    kind, name = classify(member.name)
    if kind != "entry" or not name.startswith(_BLOBS) or not name.endswith("/data"):
        return None
    parts = name[len(_BLOBS):].split("/")
    text = f"sha256:{parts[1]}" if len(parts) == 3 else ""
    return Digest(text) if is_digest(text) and parts[0] == parts[1][:2] else None


def _store_verified(store: Store, stream: IO[bytes] | None, digest: Digest, layer: Descriptor) -> None:
    if stream is None:
        return
    try:
        store.put_stream(stream, digest)  # type: ignore[arg-type]
    except DigestMismatch as exc:
        raise StoreError(f"layer {layer.digest}: cached blob {digest} is damaged: {exc}") from exc
