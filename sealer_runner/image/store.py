"""The local image store: an OCI image layout with a tag index, safe for concurrent use.

Layout under the store root::

    oci/oci-layout, oci/index.json     tags: descriptors annotated with the normalised reference
    oci/blobs/sha256/<hex>             content-addressed blobs, verified on read
    tmp/                               staging for blobs being written (same filesystem: rename is atomic)
    locks/index.lock                   exclusive while index.json is read-modified-written
    locks/gc.lock                      shared by writers of untagged blobs (build, load, pull),
                                       exclusive for garbage collection (rmi)

Nothing outside the ``image`` package touches blob paths.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import DigestMismatch, ImageNotFound, InvalidReference, StoreError
from ..util.fs import atomic_write_bytes
from ..util.lock import file_lock
from .digest import CHUNK, Digest, HashingWriter, iter_verified
from .reference import Reference, parse_reference
from .types import (
    ANNOTATION_CREATED,
    ANNOTATION_REF_NAME,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MT_OCI_INDEX,
    MT_OCI_MANIFEST,
    Descriptor,
    Index,
    Manifest,
    Platform,
    canonical_json,
    parse_json_blob,
)

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class TaggedImage:
    """One entry of the tag index."""

    reference: Reference
    descriptor: Descriptor

    @property
    def tagged_at(self) -> str:
        return self.descriptor.annotations.get(ANNOTATION_CREATED, "")


@dataclass(frozen=True)
class PlatformManifest:
    """One platform's manifest of an image (a single-platform image has exactly one)."""

    platform: Platform
    descriptor: Descriptor
    manifest: Manifest
    config: dict[str, Any]


class BlobWriter:
    """Writes one blob to staging; :meth:`commit` verifies and publishes it."""

    def __init__(self, store: "Store", fileobj: BinaryIO, tmp_path: str) -> None:
        self._store = store
        self._file = fileobj
        self._tmp = tmp_path
        self._hashing = HashingWriter(fileobj)

    def write(self, data: bytes) -> int:
        return self._hashing.write(data)

    def flush(self) -> None:
        self._hashing.flush()

    @property
    def size(self) -> int:
        return self._hashing.size

    def commit(self, expected: Digest | None = None) -> Digest:
        digest = self._hashing.digest
        if expected is not None and digest != expected:
            raise DigestMismatch("blob", str(expected), str(digest))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        dest = self._store._blob_path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self._tmp, 0o444)
        os.replace(self._tmp, dest)
        return digest


class Store:
    """A content-addressed image store rooted at one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._oci = self.root / "oci"
        self._blobs = self._oci / "blobs" / "sha256"
        self._tmp = self.root / "tmp"
        self._locks = self.root / "locks"
        for d in (self._blobs, self._tmp, self._locks):
            d.mkdir(parents=True, exist_ok=True)
        layout = self._oci / "oci-layout"
        if not layout.exists():
            atomic_write_bytes(layout, OCI_LAYOUT)

    # ------------------------------------------------------------------ locks
    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold while writing blobs that no tag references yet, so garbage collection waits."""
        with file_lock(self._locks / "gc.lock", shared=True):
            yield

    @contextmanager
    def _collecting(self) -> Iterator[None]:
        with file_lock(self._locks / "gc.lock", shared=False):
            yield

    @contextmanager
    def _index_locked(self) -> Iterator[None]:
        with file_lock(self._locks / "index.lock"):
            yield

    def state_dir(self, name: str) -> Path:
        """A directory for non-blob state (build cache, file-hash cache) kept under the store root."""
        path = self.root / "cache" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def scratch_dir(self, prefix: str) -> Path:
        """A fresh private directory on the store's filesystem (caller removes it)."""
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self._tmp))

    # ------------------------------------------------------------------ blobs
    def _blob_path(self, digest: Digest) -> Path:
        return self._blobs / digest.hex

    def blob_source(self, digest: Digest) -> str:
        """The file holding a blob, for archivers inside the image package (never write to it)."""
        path = self._blob_path(digest)
        if not path.is_file():
            raise StoreError(f"blob {digest} is missing from the store")
        return str(path)

    def has_blob(self, digest: Digest) -> bool:
        return self._blob_path(digest).is_file()

    def blob_size(self, digest: Digest) -> int:
        try:
            return self._blob_path(digest).stat().st_size
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is missing from the store") from None

    @contextmanager
    def open_blob(self, digest: Digest) -> Iterator[BinaryIO]:
        """Open a blob for reading, unverified: pair with :func:`iter_verified` when streaming."""
        try:
            f = open(self._blob_path(digest), "rb")
        except FileNotFoundError:
            raise StoreError(f"blob {digest} is missing from the store") from None
        with f:
            yield f

    def iter_blob(self, digest: Digest) -> Iterator[bytes]:
        """Stream a blob's content, verifying its digest at the end."""
        with self.open_blob(digest) as f:
            yield from iter_verified(f, digest, f"blob {digest}")

    def read_blob(self, digest: Digest) -> bytes:
        return b"".join(self.iter_blob(digest))

    @contextmanager
    def blob_writer(self) -> Iterator[BlobWriter]:
        """Stage a new blob; it is published only by ``commit()`` and discarded otherwise."""
        fd, tmp = tempfile.mkstemp(prefix="blob-", dir=self._tmp)
        f = os.fdopen(fd, "wb")
        try:
            yield BlobWriter(self, f, tmp)
        finally:
            if not f.closed:
                f.close()
            if os.path.exists(tmp):
                os.unlink(tmp)

    def partial_path(self, digest: Digest) -> Path:
        """Where an interrupted download of *digest* keeps its bytes, so a re-run resumes it."""
        path = self._tmp / "partial" / digest.hex
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def adopt_verified(self, path: Path, digest: Digest) -> None:
        """Move a file already verified to hash to *digest* into the store (same filesystem)."""
        dest = self._blob_path(digest)
        if dest.exists():
            path.unlink()
            return
        os.chmod(path, 0o444)
        os.replace(path, dest)

    def put_bytes(self, data: bytes) -> Digest:
        digest = Digest.of_bytes(data)
        if not self.has_blob(digest):
            with self.blob_writer() as w:
                w.write(data)
                w.commit(digest)
        return digest

    def put_stream(self, stream: BinaryIO, expected: Digest | None = None) -> Digest:
        """Copy a stream into the store (verifying *expected* if given)."""
        if expected is not None and self.has_blob(expected):
            return expected
        with self.blob_writer() as w:
            while block := stream.read(CHUNK):
                w.write(block)
            return w.commit(expected)

    def put_json(self, obj: dict[str, Any], media_type: str) -> Descriptor:
        data = canonical_json(obj)
        return Descriptor(media_type, self.put_bytes(data), len(data))

    # ------------------------------------------------------------ manifests
    def put_manifest(self, manifest: Manifest) -> Descriptor:
        return self.put_json(manifest.to_json(), MT_OCI_MANIFEST)

    def put_index(self, index: Index) -> Descriptor:
        return self.put_json(index.to_json(), MT_OCI_INDEX)

    def read_json(self, digest: Digest, what: str) -> dict[str, Any]:
        return parse_json_blob(self.read_blob(digest), f"{what} {digest}")

    def get_manifest(self, digest: Digest) -> Manifest:
        return Manifest.from_json(self.read_json(digest, "manifest"))

    def platform_manifests(self, desc: Descriptor) -> list[PlatformManifest]:
        """Every platform's manifest of the image *desc* points at (an index or a manifest)."""
        if desc.media_type in INDEX_TYPES:
            index = Index.from_json(self.read_json(desc.digest, "index"))
            return [pm for child in index.manifests for pm in self.platform_manifests(child)]
        if desc.media_type not in MANIFEST_TYPES:
            raise StoreError(f"{desc.digest}: unsupported media type {desc.media_type!r}")
        manifest = self.get_manifest(desc.digest)
        config = self.read_json(manifest.config.digest, "config")
        platform = desc.platform or Platform(
            str(config.get("os", "linux")), str(config.get("architecture", "")), str(config.get("variant", ""))
        )
        return [PlatformManifest(platform, desc, manifest, config)]

    def referenced_blobs(self, desc: Descriptor) -> set[Digest]:
        """All blobs reachable from *desc*, including itself."""
        out = {desc.digest}
        if desc.media_type in INDEX_TYPES:
            for child in Index.from_json(self.read_json(desc.digest, "index")).manifests:
                out |= self.referenced_blobs(child)
        elif desc.media_type in MANIFEST_TYPES:
            manifest = self.get_manifest(desc.digest)
            out.add(manifest.config.digest)
            out.update(layer.digest for layer in manifest.layers)
        return out

    # ------------------------------------------------------------------ tags
    def _read_index(self) -> list[Descriptor]:
        path = self._oci / "index.json"
        if not path.exists():
            return []
        try:
            data = json.loads(path.read_bytes())
        except ValueError as exc:
            raise StoreError(f"{path}: damaged tag index: {exc}") from exc
        return list(Index.from_json(data).manifests)

    def _write_index(self, entries: list[Descriptor]) -> None:
        entries.sort(key=lambda d: d.annotations.get(ANNOTATION_REF_NAME, ""))
        data = json.dumps(Index(tuple(entries)).to_json(), indent=2).encode()
        atomic_write_bytes(self._oci / "index.json", data)

    def list_images(self) -> list[TaggedImage]:
        out = []
        for desc in self._read_index():
            name = desc.annotations.get(ANNOTATION_REF_NAME)
            if name:
                out.append(TaggedImage(parse_reference(name), desc))
        return out

    def tag(self, ref: Reference, desc: Descriptor) -> None:
        """Point *ref* at *desc* (replacing what it pointed at)."""
        if ref.tag is None and ref.digest is None:
            raise InvalidReference(f"cannot tag {ref}: a tag or digest is required")
        name = str(Reference(ref.domain, ref.path, ref.tag, None if ref.tag else ref.digest))
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._index_locked():
            entries = [d for d in self._read_index() if d.annotations.get(ANNOTATION_REF_NAME) != name]
            entries.append(desc.with_annotations({ANNOTATION_REF_NAME: name, ANNOTATION_CREATED: stamp}))
            self._write_index(entries)

    def untag(self, ref: Reference) -> Descriptor:
        name = str(ref)
        with self._index_locked():
            entries = self._read_index()
            kept = [d for d in entries if d.annotations.get(ANNOTATION_REF_NAME) != name]
            if len(kept) == len(entries):
                raise ImageNotFound(f"image {ref.familiar()} not found")
            removed = next(d for d in entries if d.annotations.get(ANNOTATION_REF_NAME) == name)
            self._write_index(kept)
        return removed

    def lookup(self, name: str) -> TaggedImage:
        """Find an image by reference or by (a prefix of at least 4 hex digits of) its ID."""
        images = self.list_images()
        by_id = _match_id(images, name)
        if by_id is not None:
            return by_id
        ref = parse_reference(name)
        for image in images:
            if image.reference == ref or (ref.digest and image.descriptor.digest.value == ref.digest):
                return image
        raise ImageNotFound(f"image {name} not found in the local store")

    # -------------------------------------------------------------------- gc
    def collect_garbage(self) -> tuple[int, int]:
        """Delete blobs no tag references; returns (count, bytes). Waits for writers to finish."""
        with self._collecting():
            live: set[Digest] = set()
            for image in self.list_images():
                live |= self.referenced_blobs(image.descriptor)
            count = freed = 0
            for path in self._blobs.iterdir():
                if Digest("sha256:" + path.name) not in live:
                    freed += path.stat().st_size
                    path.unlink()
                    count += 1
            return count, freed


def _match_id(images: list[TaggedImage], name: str) -> TaggedImage | None:
    prefix = name.removeprefix("sha256:")
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        return None
    matches = {i.descriptor.digest: i for i in images if i.descriptor.digest.hex.startswith(prefix)}
    if len(matches) > 1:
        raise InvalidReference(f"image ID prefix {name!r} is ambiguous")
    return next(iter(matches.values()), None)
