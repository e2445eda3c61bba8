"""Image archives: ``save`` to and ``load`` from a tar file.

``oci-archive`` is an OCI image layout in a tar (``oci-layout``, ``index.json``,
``blobs/sha256/...``) plus a Docker-style ``manifest.json``, the same shape
``docker save`` writes since Docker 25, so both skopeo and Docker read it.
``docker-archive`` is ``manifest.json`` + ``blobs/`` only (one platform per image).

``load`` streams the archive once into a private directory under ``<root>/tmp``: each blob is hashed
while it is written, its size checked against its descriptor (before a byte is written when the
descriptor came first, as ``save`` orders them), and each blob is parsed as a (gzip'd) tar in the
same pass. Then the whole graph (index -> manifests -> config + layers) is decoded strictly
(:mod:`.types`), and only the blobs the loaded images reference are published: a broken or tampered
archive leaves the store untouched and nothing behind.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ArchiveError, InputError, InvalidImage
from ..util.fs import atomic_open
from .digest import Digest, HashingWriter, is_digest
from .platform import host_platform
from .reference import Reference, parse_reference
from .store import OCI_LAYOUT, Store, TaggedImage, image_children
from .tarcheck import WriteFailed, tar_problem
from .types import (
    ANNOTATION_REF_NAME,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_MANIFEST_BYTES,
    MT_DOCKER_LAYER_GZIP,
    MT_OCI_CONFIG,
    MT_OCI_LAYER_GZIP,
    MT_OCI_LAYER_TAR,
    MT_OCI_MANIFEST,
    Descriptor,
    Index,
    Manifest,
    canonical_json,
    decode_config,
    decode_index,
    decode_json,
    decode_manifest,
)

FORMATS = ("oci-archive", "docker-archive")
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
MAX_METADATA_BYTES = MAX_MANIFEST_BYTES  # index.json, manifest.json, oci-layout
DISK_RESERVE = 256 << 20  # a blob that would leave less free space than this is refused before it is written
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
        for digest in _graph_order(store, desc):  # descriptors before what they describe: load checks as it streams
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


def _graph_order(store: Store, desc: Descriptor) -> list[Digest]:
    """*desc*'s blobs, each after the manifest or index that points at it."""
    out = [desc.digest]
    if desc.media_type in INDEX_TYPES:
        for child in image_children(store.get_index(desc.digest)):
            out += _graph_order(store, child)
    elif desc.media_type in MANIFEST_TYPES:
        manifest = store.get_manifest(desc.digest)
        out += [manifest.config.digest, *(layer.digest for layer in manifest.layers)]
    return out


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


@dataclass
class _Staged:
    """One blob written to staging: its size, and whether it reads as a tar (``tar_error`` None)."""

    size: int
    gzip: bool
    tar_error: str | None


class _Staging:
    """What the stream has brought so far, and what its descriptors say about what is still to come."""

    def __init__(self, archive: Path, directory: Path) -> None:
        self.archive = archive
        self.dir = directory
        self.blobs: dict[Digest, _Staged] = {}
        self.metadata: dict[str, bytes] = {}
        self.expected: dict[Digest, Descriptor] = {}  # from descriptors read so far
        self.pending: set[Digest] = set()  # manifests and indexes expected but not arrived: the graph is open

    def where(self, digest: Digest, role: str = "") -> str:
        """``ARCHIVE: [role ]blobs/sha256/<hex>``: the member, and what it was read as."""
        return f"{self.archive}: {role + ' ' if role else ''}blobs/sha256/{digest.hex}"

    def closed(self) -> bool:
        """True once index.json and every manifest and index it leads to have arrived: any further
        blob is one no image references, and is skipped unread."""
        return "index.json" in self.metadata and not self.pending

    def expect(self, desc: Descriptor, where: str) -> None:
        seen = self.expected.get(desc.digest)
        if seen is not None and seen.size != desc.size:
            raise ArchiveError(f"{where}: {desc.digest} is recorded as {desc.size} bytes and elsewhere as {seen.size}")
        self.expected[desc.digest] = desc
        if desc.media_type in INDEX_TYPES | MANIFEST_TYPES:
            if desc.digest in self.blobs:
                self.arrived(desc.digest)
            else:
                self.pending.add(desc.digest)

    def arrived(self, digest: Digest) -> None:
        """A blob is staged: if a descriptor said it is a manifest or index, learn its children now."""
        desc = self.expected.get(digest)
        if desc is None or desc.media_type not in INDEX_TYPES | MANIFEST_TYPES:
            return
        self.pending.discard(digest)
        data = self.read(desc)
        if desc.media_type in INDEX_TYPES:
            where = self.where(digest, "index")
            for child in image_children(decode_index(data, where)):
                self.expect(child, where)
        else:
            where = self.where(digest, "manifest")
            for child in (manifest := decode_manifest(data, where)).config, *manifest.layers:
                self.expect(child, where)

    def read(self, desc: Descriptor) -> bytes:
        """A staged JSON blob, checked against *desc*'s size (and the metadata cap) before it is read."""
        staged = self.blobs.get(desc.digest)
        if staged is None:
            raise ArchiveError(f"{self.archive}: blob {desc.digest} is referenced but missing from the archive")
        if staged.size != desc.size:
            raise ArchiveError(f"{self.where(desc.digest)}: size {staged.size} does not match the {desc.size} "
                               "bytes its descriptor records")
        if staged.size > MAX_MANIFEST_BYTES:
            raise ArchiveError(f"{self.where(desc.digest)}: {staged.size} bytes is over the "
                               f"{MAX_MANIFEST_BYTES}-byte cap for image metadata")
        return (self.dir / desc.digest.hex).read_bytes()


def load(store: Store, archive: Path, progress: ProgressFn | None = None) -> list[ArchivedImage]:
    """Verify and import every image in *archive*; tag them as recorded in it."""
    with store.writing(), store.scratch("load-") as directory:
        staging = _Staging(archive, directory)
        try:
            _stage(staging, progress)
            images, referenced = _images(staging)
        except ArchiveError:
            raise
        except InvalidImage as exc:
            raise ArchiveError(str(exc)) from None
        for digest in sorted(referenced):
            store.adopt_verified(directory / digest.hex, digest)
        for image in images:
            store.tag(image.reference, image.descriptor)
        return images


def _stage(staging: _Staging, progress: ProgressFn | None) -> None:
    archive = staging.archive
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile():
                    continue
                if name.startswith("blobs/sha256/"):
                    digest = _blob_digest(name, archive)
                    if staging.closed() and digest not in staging.expected:
                        continue  # no image references it: never written
                    staging.blobs[digest] = _stage_blob(tar, member, staging, digest, progress)
                    staging.arrived(digest)
                elif name in ("index.json", "manifest.json", "oci-layout"):
                    if member.size > MAX_METADATA_BYTES:
                        raise ArchiveError(f"{archive}: {name}: {member.size} bytes is over the "
                                           f"{MAX_METADATA_BYTES}-byte cap for image metadata")
                    staging.metadata[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
                    if name == "index.json":
                        for i, desc in enumerate(_index_entries(staging)):
                            staging.expect(desc, f"{archive}: index.json: manifests[{i}]")
    except FileNotFoundError:
        raise InputError(f"{archive}: no such file") from None
    except (tarfile.TarError, zlib.error, EOFError) as exc:
        raise ArchiveError(f"{archive}: not a readable image archive: {exc}") from exc
    except OSError as exc:
        if exc.filename is not None:  # writing to the store failed: that is not the archive's fault
            raise
        raise ArchiveError(f"{archive}: not a readable image archive: {exc}") from exc


def _index_entries(staging: _Staging) -> list[Descriptor]:
    where = f"{staging.archive}: index.json"
    index = decode_index(staging.metadata["index.json"], where)
    for i, desc in enumerate(index.manifests):
        if desc.media_type not in INDEX_TYPES | MANIFEST_TYPES:
            raise ArchiveError(f"{where}: manifests[{i}]: mediaType: {desc.media_type!r} is not an image "
                               "manifest or index")
    return list(index.manifests)


def _blob_digest(name: str, archive: Path) -> Digest:
    text = "sha256:" + name.rsplit("/", 1)[1]
    if not is_digest(text):
        raise ArchiveError(f"{archive}: {name}: blob name is not a sha256 digest")
    return Digest(text)


class _Tee:
    """Reads a member for the tar check, writing and hashing every byte as it passes (one pass)."""

    def __init__(self, src: Any, out: HashingWriter, progress: ProgressFn | None) -> None:
        self._src, self._out, self._progress = src, out, progress

    def read(self, n: int = -1) -> bytes:
        data = self._src.read(n if n >= 0 else 1 << 20)
        if data:
            try:
                self._out.write(data)
            except OSError as exc:
                raise WriteFailed(exc) from exc
            if self._progress is not None:
                self._progress(len(data))
        return data


def _stage_blob(tar: tarfile.TarFile, member: tarfile.TarInfo, staging: _Staging, digest: Digest,
                progress: ProgressFn | None) -> _Staged:
    where = staging.where(digest)
    desc = staging.expected.get(digest)
    if desc is not None and member.size != desc.size:
        raise ArchiveError(f"{where}: size {member.size} does not match the {desc.size} bytes its descriptor records")
    free = shutil.disk_usage(staging.dir).free
    if member.size > free - DISK_RESERVE:
        raise ArchiveError(f"{where}: {member.size} bytes would not fit in {staging.dir.parent} "
                           f"({free} bytes free, {DISK_RESERVE} kept in reserve)")
    src = tar.extractfile(member)
    assert src is not None
    metadata = desc is not None and desc.media_type not in (MT_OCI_LAYER_GZIP, MT_OCI_LAYER_TAR, MT_DOCKER_LAYER_GZIP)
    with open(staging.dir / digest.hex, "wb") as out:
        writer = HashingWriter(out)  # type: ignore[arg-type]
        tee = _Tee(src, writer, progress)
        head = tee.read(2)
        gzip = head == b"\x1f\x8b"
        error = "not a layer" if metadata else tar_problem(_Prefixed(head, tee), gzip)
        while tee.read(1 << 20):
            pass
    if writer.size != member.size:
        raise ArchiveError(f"{where}: truncated: {writer.size} of {member.size} bytes")
    if writer.digest != digest:
        raise ArchiveError(f"{where}: content does not match its digest (got {writer.digest}): "
                           "the archive is damaged or was tampered with")
    return _Staged(writer.size, gzip, error)


class _Prefixed:
    """A reader that gives *head* first, then the rest of *inner*."""

    def __init__(self, head: bytes, inner: Any) -> None:
        self._head, self._inner = head, inner

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = (self._head, b"") if n < 0 or n >= len(self._head) else \
                (self._head[:n], self._head[n:])
            return out
        return self._inner.read(n)


def _images(staging: _Staging) -> tuple[list[ArchivedImage], set[Digest]]:
    archive = staging.archive
    if "index.json" in staging.metadata:
        index = _index_entries(staging)
        images = [ArchivedImage(_name_of(d, archive), d.with_annotations({})) for d in index]
    elif "manifest.json" in staging.metadata:
        images = _docker_images(staging)
    else:
        raise ArchiveError(f"{archive}: neither index.json nor manifest.json found: not an image archive")
    if not images:
        raise ArchiveError(f"{archive}: contains no images")
    referenced: set[Digest] = set()
    for image in images:
        _verify_graph(image.descriptor, staging, referenced)
    return images, referenced


def _name_of(desc: Descriptor, archive: Path) -> Reference:
    name = desc.annotations.get(ANNOTATION_CONTAINERD_NAME) or desc.annotations.get(ANNOTATION_REF_NAME)
    if not name:
        raise ArchiveError(f"{archive}: image {desc.digest} has no name annotation")
    try:
        return parse_reference(name)
    except InputError as exc:
        raise ArchiveError(f"{archive}: image {desc.digest}: {exc}") from exc


def _docker_images(staging: _Staging) -> list[ArchivedImage]:
    archive = staging.archive
    where = f"{archive}: manifest.json"
    entries = _docker_entries(staging.metadata["manifest.json"], where)
    images = []
    for i, entry in enumerate(entries):
        at = f"{where}: [{i}]"
        config = _path_digest(entry["Config"], f"{at}.Config", archive)
        layers = tuple(_layer_descriptor(_path_digest(p, f"{at}.Layers", archive), staging)
                       for p in entry["Layers"])
        manifest = Manifest(Descriptor(MT_OCI_CONFIG, config, _size(staging, config)), layers)
        data = canonical_json(manifest.to_json())
        digest = Digest.of_bytes(data)
        (staging.dir / digest.hex).write_bytes(data)
        staging.blobs[digest] = _Staged(len(data), False, "not a layer")
        for tag in entry["RepoTags"]:
            try:
                ref = parse_reference(tag)
            except InputError as exc:
                raise ArchiveError(f"{at}.RepoTags: {exc}") from None
            images.append(ArchivedImage(ref, Descriptor(MT_OCI_MANIFEST, digest, len(data))))
    return images


def _docker_entries(raw: bytes, where: str) -> list[dict[str, Any]]:
    """manifest.json: a list of {Config: str, RepoTags: [str] | null, Layers: [str]}."""
    wrapped = decode_json(b'{"entries":' + raw + b"}", where) if raw.strip() else {"entries": []}
    entries = wrapped["entries"]
    if not isinstance(entries, list):
        raise ArchiveError(f"{where}: expected a list of images")
    out = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ArchiveError(f"{where}: [{i}]: expected an object")
        config, tags, layers = entry.get("Config"), entry.get("RepoTags") or [], entry.get("Layers")
        if not isinstance(config, str):
            raise ArchiveError(f"{where}: [{i}].Config: expected a string")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ArchiveError(f"{where}: [{i}].RepoTags: expected a list of strings")
        if not isinstance(layers, list) or not all(isinstance(p, str) for p in layers):
            raise ArchiveError(f"{where}: [{i}].Layers: expected a list of strings")
        out.append({"Config": config, "RepoTags": tags, "Layers": layers})
    return out


def _path_digest(path: str, where: str, archive: Path) -> Digest:
    if not path.startswith("blobs/sha256/"):
        raise ArchiveError(f"{where}: {path[:200]!r}: only blobs/sha256/<digest> layouts are supported")
    return _blob_digest(path, archive)


def _layer_descriptor(digest: Digest, staging: _Staging) -> Descriptor:
    size = _size(staging, digest)
    media = MT_OCI_LAYER_GZIP if staging.blobs[digest].gzip else MT_OCI_LAYER_TAR
    return Descriptor(media, digest, size)


def _size(staging: _Staging, digest: Digest) -> int:
    if digest not in staging.blobs:
        raise ArchiveError(f"{staging.archive}: blob {digest} is referenced but missing from the archive")
    return staging.blobs[digest].size


def _verify_graph(desc: Descriptor, staging: _Staging, referenced: set[Digest]) -> None:
    """Decode *desc*'s graph strictly; add every blob it references to *referenced*."""
    where = staging.where(desc.digest, "index" if desc.media_type in INDEX_TYPES else "manifest")
    if desc.media_type in INDEX_TYPES:
        data = staging.read(desc)
        referenced.add(desc.digest)
        for child in image_children(decode_index(data, where)):
            _verify_graph(child, staging, referenced)
    elif desc.media_type in MANIFEST_TYPES:
        data = staging.read(desc)
        referenced.add(desc.digest)
        manifest = decode_manifest(data, where)
        decode_config(staging.read(manifest.config), staging.where(manifest.config.digest, "config"), manifest)
        referenced.add(manifest.config.digest)
        for layer in manifest.layers:
            _verify_layer(layer, staging)
            referenced.add(layer.digest)
    else:
        raise ArchiveError(f"{where}: unsupported media type {desc.media_type!r} (expected an image manifest or index)")


def _verify_layer(layer: Descriptor, staging: _Staging) -> None:
    where = staging.where(layer.digest, "layer")
    size = _size(staging, layer.digest)
    if size != layer.size:
        raise ArchiveError(f"{where}: size {size} does not match the {layer.size} bytes its descriptor records")
    staged = staging.blobs[layer.digest]
    if staged.tar_error is not None:
        raise ArchiveError(f"{where}: layer is {staged.tar_error}")
    if staged.gzip != (layer.media_type != MT_OCI_LAYER_TAR):
        raise ArchiveError(f"{where}: layer is {'gzip' if staged.gzip else 'plain tar'} but its media type "
                           f"says {layer.media_type}")
