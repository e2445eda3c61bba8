"""Image archives: ``save`` to and ``load`` from a tar file.

``oci-archive`` is an OCI image layout in a tar (``oci-layout``, ``index.json``,
``blobs/sha256/...``) plus a Docker-style ``manifest.json``, the same shape
``docker save`` writes since Docker 25, so both skopeo and Docker read it.
``docker-archive`` is ``manifest.json`` + ``blobs/`` only (one platform per image).

``load`` stages every blob, verifies each against its digest and the whole
graph (index -> manifests -> config + layers, with sizes), and only then
publishes anything: a tampered archive leaves the store untouched.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ArchiveError, InputError, StoreError
from ..util.fs import atomic_open
from .digest import Digest, HashingWriter, is_digest
from .platform import host_platform
from .reference import Reference, parse_reference
from .store import OCI_LAYOUT, Store, TaggedImage
from .types import (
    ANNOTATION_REF_NAME,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MT_OCI_MANIFEST,
    Descriptor,
    Index,
    Manifest,
    canonical_json,
    parse_json_blob,
)

FORMATS = ("oci-archive", "docker-archive")
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
MAX_METADATA_BYTES = 16 << 20
ProgressFn = Callable[[int], None]


@dataclass(frozen=True)
class ArchivedImage:
    reference: Reference
    descriptor: Descriptor


# ----------------------------------------------------------------------------- save


def save(store: Store, images: list[TaggedImage], output: Path, fmt: str = "oci-archive",
         progress: ProgressFn | None = None) -> int:
    """Write *images* to *output* atomically; returns the number of bytes written."""
    if fmt not in FORMATS:
        raise InputError(f"unknown archive format {fmt!r} (expected one of: {', '.join(FORMATS)})")
    blobs: dict[Digest, None] = {}
    index_entries: list[dict[str, Any]] = []
    docker_manifest: list[dict[str, Any]] = []
    for image in images:
        desc = image.descriptor
        for digest in sorted(store.referenced_blobs(desc)):
            blobs[digest] = None
        name = str(image.reference)
        index_entries.append(desc.with_annotations({
            ANNOTATION_CONTAINERD_NAME: name, ANNOTATION_REF_NAME: image.reference.tag or "",
        }).to_json())
        pm = _docker_platform_manifest(store, image)
        docker_manifest.append({
            "Config": f"blobs/sha256/{pm.manifest.config.digest.hex}",
            "RepoTags": [image.reference.familiar()],
            "Layers": [f"blobs/sha256/{layer.digest.hex}" for layer in pm.manifest.layers],
        })
    with atomic_open(output) as raw:
        counter = HashingWriter(raw)  # type: ignore[arg-type]
        with tarfile.open(fileobj=counter, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            if fmt == "oci-archive":
                _add_bytes(tar, "oci-layout", OCI_LAYOUT)
                _add_bytes(tar, "index.json", canonical_json(Index(tuple(
                    Descriptor.from_json(e) for e in index_entries)).to_json()))
            _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode())
            for digest in blobs:
                _add_blob(tar, store, digest, progress)
    return counter.size


def _docker_platform_manifest(store: Store, image: TaggedImage):
    manifests = store.platform_manifests(image.descriptor)
    host = host_platform()
    for pm in manifests:
        if pm.platform.architecture == host.architecture:
            return pm
    return manifests[0]


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    tar.addfile(info, io.BytesIO(data))


def _add_blob(tar: tarfile.TarFile, store: Store, digest: Digest, progress: ProgressFn | None) -> None:
    info = tarfile.TarInfo(f"blobs/sha256/{digest.hex}")
    info.size, info.mode, info.mtime = store.blob_size(digest), 0o444, 0
    with store.open_blob(digest) as f:
        tar.addfile(info, _Progress(f, progress))  # type: ignore[arg-type]


class _Progress:
    def __init__(self, f: Any, progress: ProgressFn | None) -> None:
        self._f, self._progress = f, progress

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if self._progress is not None and data:
            self._progress(len(data))
        return data


# ----------------------------------------------------------------------------- load


def load(store: Store, archive: Path, progress: ProgressFn | None = None) -> list[ArchivedImage]:
    """Verify and import every image in *archive*; tag them as recorded in it."""
    with store.writing():
        staging = store.scratch_dir("load-")
        try:
            blobs, metadata = _stage(archive, staging, progress)
            images = _images(blobs, metadata, staging, archive)
            for digest in blobs:
                store.adopt_verified(staging / digest.hex, digest)
            for image in images:
                store.tag(image.reference, image.descriptor)
            return images
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _stage(archive: Path, staging: Path, progress: ProgressFn | None) -> tuple[dict[Digest, int], dict[str, bytes]]:
    blobs: dict[Digest, int] = {}
    metadata: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile():
                    continue
                if name.startswith("blobs/sha256/"):
                    digest = _blob_digest(name, archive)
                    blobs[digest] = _stage_blob(tar, member, staging / digest.hex, digest, archive, progress)
                elif name in ("index.json", "manifest.json", "oci-layout"):
                    if member.size > MAX_METADATA_BYTES:
                        raise ArchiveError(f"{archive}: {name} is implausibly large ({member.size} bytes)")
                    metadata[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except FileNotFoundError:
        raise InputError(f"{archive}: no such file") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{archive}: not a readable image archive: {exc}") from exc
    return blobs, metadata


def _blob_digest(name: str, archive: Path) -> Digest:
    text = "sha256:" + name.rsplit("/", 1)[1]
    if not is_digest(text):
        raise ArchiveError(f"{archive}: {name}: blob name is not a sha256 digest")
    return Digest(text)


def _stage_blob(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, digest: Digest, archive: Path,
                progress: ProgressFn | None) -> int:
    src = tar.extractfile(member)
    assert src is not None
    with open(dest, "wb") as out:
        writer = HashingWriter(out)  # type: ignore[arg-type]
        while block := src.read(1 << 20):
            writer.write(block)
            if progress is not None:
                progress(len(block))
    if writer.digest != digest:
        raise ArchiveError(f"{archive}: {member.name}: content does not match its digest "
                           f"(got {writer.digest}): the archive is damaged or was tampered with")
    return writer.size


def _images(blobs: dict[Digest, int], metadata: dict[str, bytes], staging: Path, archive: Path) -> list[ArchivedImage]:
    if "index.json" in metadata:
        index = Index.from_json(_json(metadata["index.json"], archive, "index.json"))
        images = [ArchivedImage(_name_of(d, archive), d.with_annotations({})) for d in index.manifests]
    elif "manifest.json" in metadata:
        images = _docker_images(metadata["manifest.json"], blobs, staging, archive)
    else:
        raise ArchiveError(f"{archive}: neither index.json nor manifest.json found: not an image archive")
    if not images:
        raise ArchiveError(f"{archive}: contains no images")
    for image in images:
        _verify_graph(image.descriptor, blobs, staging, archive)
    return images


def _name_of(desc: Descriptor, archive: Path) -> Reference:
    name = desc.annotations.get(ANNOTATION_CONTAINERD_NAME) or desc.annotations.get(ANNOTATION_REF_NAME)
    if not name:
        raise ArchiveError(f"{archive}: image {desc.digest} has no name annotation")
    try:
        return parse_reference(name)
    except InputError as exc:
        raise ArchiveError(f"{archive}: image {desc.digest}: {exc}") from exc


def _docker_images(raw: bytes, blobs: dict[Digest, int], staging: Path, archive: Path) -> list[ArchivedImage]:
    entries = json.loads(raw) if raw.strip() else []
    if not isinstance(entries, list):
        raise ArchiveError(f"{archive}: manifest.json: expected a list")
    images = []
    for entry in entries:
        config = _path_digest(entry.get("Config", ""), archive)
        layers = tuple(_layer_descriptor(_path_digest(p, archive), blobs, staging, archive) for p in entry.get("Layers") or ())
        manifest = Manifest(Descriptor("application/vnd.oci.image.config.v1+json", config, _size(blobs, config, archive)), layers)
        data = canonical_json(manifest.to_json())
        digest = Digest.of_bytes(data)
        (staging / digest.hex).write_bytes(data)
        blobs[digest] = len(data)
        for tag in entry.get("RepoTags") or ():
            images.append(ArchivedImage(parse_reference(tag), Descriptor(MT_OCI_MANIFEST, digest, len(data))))
    return images


def _path_digest(path: str, archive: Path) -> Digest:
    if not str(path).startswith("blobs/sha256/"):
        raise ArchiveError(f"{archive}: manifest.json: {path!r}: only blobs/sha256/<digest> layouts are supported")
    return _blob_digest(path, archive)


def _layer_descriptor(digest: Digest, blobs: dict[Digest, int], staging: Path, archive: Path) -> Descriptor:
    size = _size(blobs, digest, archive)
    with open(staging / digest.hex, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    media = "application/vnd.oci.image.layer.v1.tar+gzip" if gzipped else "application/vnd.oci.image.layer.v1.tar"
    return Descriptor(media, digest, size)


def _size(blobs: dict[Digest, int], digest: Digest, archive: Path) -> int:
    if digest not in blobs:
        raise ArchiveError(f"{archive}: blob {digest} is referenced but missing from the archive")
    return blobs[digest]


def _verify_graph(desc: Descriptor, blobs: dict[Digest, int], staging: Path, archive: Path) -> None:
    if _size(blobs, desc.digest, archive) != desc.size:
        raise ArchiveError(f"{archive}: blob {desc.digest}: size {blobs[desc.digest]} does not match "
                           f"the {desc.size} bytes its descriptor records")
    if desc.media_type in INDEX_TYPES:
        index = Index.from_json(_json((staging / desc.digest.hex).read_bytes(), archive, str(desc.digest)))
        for child in index.manifests:
            _verify_graph(child, blobs, staging, archive)
    elif desc.media_type in MANIFEST_TYPES:
        manifest = Manifest.from_json(_json((staging / desc.digest.hex).read_bytes(), archive, str(desc.digest)))
        for child in (manifest.config, *manifest.layers):
            _verify_graph(child, blobs, staging, archive)


def _json(data: bytes, archive: Path, what: str) -> dict[str, Any]:
    try:
        return parse_json_blob(data, what)
    except StoreError as exc:
        raise ArchiveError(f"{archive}: {exc}") from exc
