"""The local image store: an OCI image layout with a tag index, safe for concurrent use.

Layout under the store root::

    oci/oci-layout, oci/index.json     tags: descriptors annotated with the normalised reference
    oci/blobs/sha256/<hex>             content-addressed blobs, verified on read
    tmp/                               staging for blobs being written (same filesystem: rename is atomic);
                                       scratch directories hold an flock on their ``.owner`` file while
                                       in use, so leftovers of killed processes are told apart and reclaimed
    locks/index.lock                   exclusive while index.json is read-modified-written
    locks/gc.lock                      shared by writers of untagged blobs (build, load, pull),
                                       exclusive for garbage collection (rmi)

Nothing outside the ``image`` package touches blob paths.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from ..errors import DigestMismatch, ImageNotFound, InputError, InvalidImage, InvalidReference, StoreError
from ..util.fs import atomic_write_bytes, remove_tree
from ..util.lock import file_lock
from .digest import CHUNK, Digest, HashingWriter, is_digest, iter_verified
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
    decode_config,
    decode_index,
    decode_manifest,
)

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
OWNER = ".owner"  # in a scratch directory: flocked by the process using it
STALE_AFTER = 3600.0  # seconds: an unowned entry of tmp/ untouched this long belongs to a dead process
ATTESTATION = "attestation-manifest"  # vnd.docker.reference.type of BuildKit's provenance manifests


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
        """Hold while writing blobs that no tag references yet, so garbage collection waits.

        Entering it first reclaims what killed processes left in ``tmp/``."""
        with file_lock(self._locks / "gc.lock", shared=True):
            self.reclaim_tmp()
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

    @contextmanager
    def scratch(self, prefix: str) -> Iterator[Path]:
        """A fresh private directory on the store's filesystem, removed (whatever its modes) on exit.

        Its ``.owner`` file is flocked while the block runs (and holds our PID, for people): a
        concurrent :meth:`reclaim_tmp` never takes a live process's directory, and a killed
        process's one is reclaimed by the next writer."""
        path = Path(tempfile.mkdtemp(prefix=prefix, dir=self._tmp))
        fd = os.open(path / OWNER, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield path
        finally:
            remove_tree(path)
            os.close(fd)

    def reclaim_tmp(self, max_age: float = STALE_AFTER) -> list[str]:
        """Remove leftovers of dead processes from ``tmp/``; returns their names.

        A scratch directory goes once nobody holds its ``.owner`` lock; other files (half-written
        blobs, interrupted downloads kept for resuming) once untouched for *max_age* seconds and not
        locked by a download in progress."""
        removed = []
        now = time.time()
        for path in [*self._tmp.iterdir(), *_entries(self._tmp / "partial")]:
            if path.name == "partial" or path.name.endswith(".lock"):
                continue
            try:
                if path.is_dir() and not path.is_symlink():
                    stale = _unowned(path / OWNER) if (path / OWNER).exists() else \
                        now - path.stat().st_mtime > max_age
                else:
                    stale = now - path.lstat().st_mtime > max_age and _unowned(path) and \
                        _unowned(path.with_name(path.name + ".lock"))
            except FileNotFoundError:
                continue
            if stale:
                remove_tree(path)
                removed.append(path.name)
        return removed

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
        fcntl.flock(fd, fcntl.LOCK_EX)  # ours while we live: reclaim_tmp leaves it alone
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
        return self._decoded(decode_config, digest, what)

    def get_manifest(self, digest: Digest) -> Manifest:
        return self._decoded(decode_manifest, digest, "manifest")

    def get_index(self, digest: Digest) -> Index:
        return self._decoded(decode_index, digest, "index")

    def _decoded(self, decode, digest: Digest, what: str, *args: Any) -> Any:
        """A stored JSON blob through its strict decoder; a blob that fails it is damage to the store."""
        try:
            return decode(self.read_blob(digest), f"{what} {digest}", *args)
        except InvalidImage as exc:
            raise StoreError(f"damaged image in the store: {exc}") from exc

    def platform_manifests(self, desc: Descriptor) -> list[PlatformManifest]:
        """Every platform's manifest of the image *desc* points at (an index or a manifest).

        An index's children that are not images (BuildKit's attestations, other media types) are skipped."""
        if desc.media_type in INDEX_TYPES:
            index = self.get_index(desc.digest)
            return [pm for child in image_children(index) for pm in self.platform_manifests(child)]
        if desc.media_type not in MANIFEST_TYPES:
            raise StoreError(f"{desc.digest}: unsupported media type {desc.media_type!r}")
        manifest = self.get_manifest(desc.digest)
        config = self._decoded(decode_config, manifest.config.digest, "config", manifest)
        platform = desc.platform or Platform(
            str(config.get("os") or "linux"), str(config.get("architecture") or ""), str(config.get("variant") or "")
        )
        return [PlatformManifest(platform, desc, manifest, config)]

    def referenced_blobs(self, desc: Descriptor) -> set[Digest]:
        """All blobs reachable from *desc*, including itself."""
        out = {desc.digest}
        if desc.media_type in INDEX_TYPES:
            for child in image_children(self.get_index(desc.digest)):
                out |= self.referenced_blobs(child)
        elif desc.media_type in MANIFEST_TYPES:
            manifest = self.get_manifest(desc.digest)
            out.add(manifest.config.digest)
            out.update(layer.digest for layer in manifest.layers)
        return out

    def _reachable(self, desc: Descriptor, out: set[Digest]) -> None:
        """Every digest *desc* leads to, read as leniently as possible: garbage collection keeps what a
        damaged or unusual image (attestations, foreign media types) still points at."""
        if desc.digest in out:
            return
        out.add(desc.digest)
        if desc.media_type not in INDEX_TYPES | MANIFEST_TYPES or not self.has_blob(desc.digest):
            return
        try:
            obj = json.loads(self._blob_path(desc.digest).read_bytes())
        except (OSError, ValueError, RecursionError):
            return
        children = [obj.get("config"), *(obj.get("layers") or []), *(obj.get("manifests") or [])] \
            if isinstance(obj, dict) else []
        for child in children:
            if isinstance(child, dict) and isinstance(child.get("digest"), str) and is_digest(child["digest"]):
                media_type = child.get("mediaType") if isinstance(child.get("mediaType"), str) else ""
                self._reachable(Descriptor(media_type, Digest(child["digest"]), 0), out)

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
        """Every tag (entries whose name does not parse are left out: they cannot be looked up)."""
        out = []
        for desc in self._read_index():
            name = desc.annotations.get(ANNOTATION_REF_NAME)
            if name:
                try:
                    out.append(TaggedImage(parse_reference(name), desc))
                except InputError:
                    continue
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
            for desc in self._read_index():
                self._reachable(desc, live)
            count = freed = 0
            for path in self._blobs.iterdir():
                if Digest("sha256:" + path.name) not in live:
                    freed += path.stat().st_size
                    path.unlink()
                    count += 1
            return count, freed


def image_children(index: Index) -> list[Descriptor]:
    """An index's children that are images: manifests and indexes, not attestations."""
    return [d for d in index.manifests if d.media_type in MANIFEST_TYPES | INDEX_TYPES
            and d.annotations.get("vnd.docker.reference.type") != ATTESTATION]


def _entries(directory: Path) -> list[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []


def _unowned(lock: Path) -> bool:
    """True when nobody holds an flock on *lock* (or it does not exist)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _match_id(images: list[TaggedImage], name: str) -> TaggedImage | None:
    prefix = name.removeprefix("sha256:")
    if len(prefix) < 4 or any(c not in "0123456789abcdef" for c in prefix):
        return None
    matches = {i.descriptor.digest: i for i in images if i.descriptor.digest.hex.startswith(prefix)}
    if len(matches) > 1:
        raise InvalidReference(f"image ID prefix {name!r} is ambiguous")
    return next(iter(matches.values()), None)
