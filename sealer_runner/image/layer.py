"""Reproducible layers: write a tar+gzip layer from entries, and apply layers to a directory.

A layer written here is a pure function of its entries: entries are sorted,
mtimes are fixed, owners are numeric with no names, and the gzip header has no
name or time. Whiteouts follow the OCI layer spec (``.wh.NAME``, ``.wh..wh..opq``).

Layers are applied (`apply_layer`) and their names classified (`classify`) by the rules hosts use: the
collection's ``module_utils/_layers.py`` (standard library only), loaded here by path, holds the one
extractor and its rules (what a name may be, no write beneath a symlink, hardlinks only to files in the
root, no device nodes, bounded tar headers). One copy of the rules, so the controller cannot accept
a layer that hosts refuse, or the other way round. See docs/security.md, "Layers".
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Callable, Iterable, Iterator, Mapping

from ..bundled import COLLECTION_DIR
from ..errors import StoreError, UnsafeLayerError
from .digest import Digest, HashingWriter
from .pgzip import ParallelGzipWriter
from .store import Store
from .types import MT_OCI_LAYER_GZIP, Descriptor

WHITEOUT_PREFIX = ".wh."
OPAQUE_WHITEOUT = ".wh..wh..opq"
COMPRESS_LEVEL = 6
COPY_BUFFER = 1 << 20
CAPTURE_LIMIT = 1 << 20  # write_layer keeps (capture) only files this small
_END_OF_ARCHIVE = tarfile.NUL * (2 * tarfile.BLOCKSIZE)
HOST_LAYERS = COLLECTION_DIR / "plugins" / "module_utils" / "_layers.py"


def _load_rules() -> ModuleType:
    """The collection's host-side layer module (HOST_LAYERS), loaded once by path."""
    name = "sealer_runner.image._host_layers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HOST_LAYERS)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


_rules = _load_rules()
#: A layer breaking the layer rules (raised by `open_layer_tar`'s headers); apply_layer turns it into StoreError.
UnsafeLayer: type[Exception] = _rules.UnsafeLayer
#: check_member(tarinfo) -> classify's (kind, path): a member's own rules (name, type, hardlink target);
#: raises UnsafeLayer.
check_member: Callable[[tarfile.TarInfo], tuple[str, str]] = _rules.check_member


@dataclass(frozen=True)
class Entry:
    """One member of a layer. ``source`` is the file to read for regular files."""

    path: str  # posix, relative, no leading "./" or "/"
    kind: str  # "file" | "dir" | "symlink" | "whiteout"
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    size: int = 0
    linkname: str = ""
    source: str | None = None
    data: bytes | None = None  # in-memory content (instead of ``source``) for small generated files


@dataclass(frozen=True)
class LayerInfo:
    descriptor: Descriptor
    diff_id: Digest
    captured: Mapping[str, bytes] = field(default_factory=dict)  # see write_layer's *capture*


ProgressFn = Callable[[int], None]


def data_entry(path: str, data: bytes, mode: int = 0o644) -> Entry:
    """A regular file whose content is given in memory."""
    return Entry(path, "file", mode, size=len(data), data=data)


def whiteout(path: str) -> Entry:
    parent, _, name = path.rpartition("/")
    return Entry(f"{parent}/{WHITEOUT_PREFIX}{name}" if parent else WHITEOUT_PREFIX + name, "whiteout", mode=0o644)


def entry_from_stat(path: str, source: str, st: os.stat_result, *, owner: tuple[int, int] | None = None) -> Entry | None:
    """Describe the file at *source* as layer member *path*; None for unsupported types (sockets...)."""
    uid, gid = owner if owner is not None else (st.st_uid, st.st_gid)
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISDIR(st.st_mode):
        return Entry(path, "dir", mode, uid, gid)
    if stat.S_ISLNK(st.st_mode):
        return Entry(path, "symlink", mode, uid, gid, linkname=os.readlink(source))
    if stat.S_ISREG(st.st_mode):
        return Entry(path, "file", mode, uid, gid, size=st.st_size, source=source)
    return None


def _tarinfo(entry: Entry, mtime: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(entry.path + ("/" if entry.kind == "dir" else ""))
    ti.mode = entry.mode
    ti.uid, ti.gid = entry.uid, entry.gid
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    if entry.kind == "dir":
        ti.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = entry.linkname
    else:
        ti.type = tarfile.REGTYPE
        ti.size = entry.size if entry.kind == "file" else 0
    return ti


def write_layer(
    store: Store, entries: Iterable[Entry], *, mtime: int = 0, progress: ProgressFn | None = None,
    capture: Callable[[str], bool] | None = None,
) -> LayerInfo:
    """Write *entries* (any order) as one reproducible tar+gzip blob in *store*, in `written_order`.
    The content of regular files up to CAPTURE_LIMIT bytes whose path *capture* accepts is kept, as
    written, in the result's ``captured``."""
    ordered = written_order(entries)
    captured: dict[str, bytes] = {}
    with store.blob_writer() as blob:
        gz = ParallelGzipWriter(blob, level=COMPRESS_LEVEL)  # type: ignore[arg-type]
        diff = HashingWriter(gz)  # type: ignore[arg-type]
        for entry in ordered:
            keep = (capture is not None and entry.kind == "file" and entry.size <= CAPTURE_LIMIT
                    and capture(entry.path))
            written = _write_entry(diff, entry, mtime, progress, keep)
            if keep:
                captured[entry.path] = written
        diff.write(_END_OF_ARCHIVE)
        gz.close()
        digest = blob.commit()
        size = blob.size
    return LayerInfo(Descriptor(MT_OCI_LAYER_GZIP, digest, size), diff.digest, captured)


def written_order(entries: Iterable[Entry]) -> list[Entry]:
    """The order `write_layer` writes entries in: by path."""
    return sorted(entries, key=lambda e: e.path)


def _write_entry(out: HashingWriter, entry: Entry, mtime: int, progress: ProgressFn | None,
                 keep: bool = False) -> bytes:
    """One tar member: its (PAX) header, then its content padded to a 512-byte block. Returns the
    content written when *keep*, else b""."""
    out.write(_tarinfo(entry, mtime).tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
    if entry.kind != "file" or entry.size == 0:
        return b""
    if entry.data is not None:
        out.write(entry.data)
        if (pad := -entry.size % tarfile.BLOCKSIZE):
            out.write(tarfile.NUL * pad)
        return entry.data if keep else b""
    assert entry.source is not None
    remaining = entry.size
    kept: list[bytes] = []
    with open(entry.source, "rb") as f:
        while remaining:
            block = f.read(min(COPY_BUFFER, remaining))
            if not block:
                raise StoreError(f"{entry.source} shrank while it was being archived")
            out.write(block)
            if keep:
                kept.append(block)
            remaining -= len(block)
            if progress is not None:
                progress(len(block))
    if (pad := -entry.size % tarfile.BLOCKSIZE):
        out.write(tarfile.NUL * pad)
    return b"".join(kept)


# --------------------------------------------------------------------------- apply


class VerifyingReader:
    """A file-like reader over a blob that checks the digest once fully read."""

    def __init__(self, store: Store, digest: Digest) -> None:
        self._chunks: Iterator[bytes] = store.iter_blob(digest)
        self._buf = memoryview(b"")

    def read(self, n: int = -1) -> bytes:
        """Up to *n* bytes (a short read, like a raw file's, when a chunk ends first). Chunks are cut
        through a memoryview, so each byte is copied once however small the reads."""
        if n < 0:
            out = bytes(self._buf) + b"".join(self._chunks)
            self._buf = memoryview(b"")
            return out
        if not self._buf:
            chunk = next(self._chunks, b"")
            if len(chunk) <= n:
                return chunk
            self._buf = memoryview(chunk)
        out, self._buf = bytes(self._buf[:n]), self._buf[n:]
        return out

    def drain(self) -> None:
        while self.read(1 << 20):
            pass


def apply_layer(store: Store, layer: Descriptor, root: Path) -> None:
    """Extract one layer onto *root*, honouring whiteouts, under the layer rules; verifies the layer's
    digest. A layer breaking the rules is refused (StoreError naming the layer and the member) before
    that member writes anything."""
    reader = VerifyingReader(store, layer.digest)
    try:
        _rules.extract_stream(reader, str(root), str(layer.digest), "apply")
        reader.drain()
    except _rules.UnsafeLayer as exc:
        raise UnsafeLayerError(str(exc)) from None
    except _rules.LayerError as exc:
        raise StoreError(str(exc)) from exc
    except (tarfile.TarError, zlib.error, EOFError, OSError) as exc:
        raise StoreError(f"cannot apply layer {layer.digest}: {exc}") from exc


def open_layer_tar(fileobj: IO[bytes] | Any, mode: str = "r|*") -> tarfile.TarFile:
    """A layer's tar for reading, with the layer rules' bounded headers (UnsafeLayer for oversized ones)."""
    return tarfile.open(fileobj=fileobj, mode=mode, bufsize=COPY_BUFFER, tarinfo=_rules.LayerTarInfo)


def classify(member_name: str, layer: object = None) -> tuple[str, str]:
    """What a layer member means under the OCI whiteout rules, with its normalised path:
    ``("opaque", dir)``, ``("whiteout", removed_path)``, ``("entry", path)``, or ``("root", "")``
    (and ``("ignore", path)`` for ``.wh..wh.*`` metadata). A name that could leave the root (``..``,
    empty components, NUL, a whiteout of ``.`` or ``..``) is a StoreError, naming *layer* when given."""
    try:
        return _rules.classify(member_name)
    except _rules.UnsafeLayer as exc:
        raise UnsafeLayerError(f"layer {layer} refused: {exc}" if layer is not None else f"layer refused: {exc}") from None
