"""Read chosen files of an image's merged rootfs straight from its layers, without extracting it.

Layers are streamed (and verified) in order; a later layer's file replaces an earlier one, and OCI
whiteouts remove what lower layers hold. What one layer holds never changes, so the findings for each
(layer, selection) are cached under ``<store>/cache/rootfs/``: a second read of the same image costs
no decompression. A layer built here is indexed as it is written (`remember`), from its entries, for
the selections the run path reads (`RUN_CONTENT`): the first `run` after `build` decompresses nothing.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import gzip
import tarfile
import zlib
from dataclasses import dataclass
from typing import Iterable, Mapping

from ..errors import StoreError, UnsafeLayerError
from ..util.fs import atomic_write_bytes
from .layer import Entry, UnsafeLayer, VerifyingReader, classify, open_layer_tar, written_order
from .store import Store
from .types import Descriptor

CACHE_FORMAT = 1


@dataclass(frozen=True)
class Selection:
    """Which files to read, by pattern (``*`` never crosses ``/``), and which paths only to look for.

    Files larger than *limit* bytes are an error: what is read here is small metadata.
    """

    read: tuple[str, ...] = ()
    look_for: tuple[str, ...] = ()
    limit: int = 1 << 20
    look_under: tuple[str, ...] = ()  # directories that count as present when a file lies beneath them

    @property
    def key(self) -> str:
        spec = json.dumps([CACHE_FORMAT, list(self.read), list(self.look_for), self.limit,
                           *([list(self.look_under)] if self.look_under else [])]).encode()
        return hashlib.sha256(spec).hexdigest()[:16]

    def reads(self, path: str) -> bool:
        parts = path.split("/")
        return any(_matches(parts, pattern.split("/")) for pattern in self.read)

    def shadows(self, path: str, is_dir: bool) -> bool:
        """Whether an entry at *path* hides lower layers' selected files: a directory where one of
        them was, or anything but a directory where their parent directory was."""
        if is_dir:
            return self.reads(path) or path in self.look_for
        if any(d == path or d.startswith(path + "/") for d in self.look_under):
            return True
        parts = path.split("/")
        for pattern in (*self.read, *self.look_for):
            ancestors = pattern.split("/")[:-1]
            if len(parts) <= len(ancestors) and _matches(parts, ancestors[:len(parts)]):
                return True
        return False


PLUGIN_FILES = ("plugins/*.yaml", "plugins/*.yml")
KUBEADM = "bin/kubeadm"
KUBEADM_DEFAULTS = "etc/kubeadm.yml"
#: Container images the embedded registry serves (sealer's layout): the registry runs only when it holds some.
REGISTRY_DATA = "registry"
# What `run` reads of every image (its plugins, its kubeadm defaults; whether it ships kubeadm and cached
# container images): indexed
# at build time.
RUN_CONTENT = Selection(read=(*PLUGIN_FILES, KUBEADM_DEFAULTS), look_for=(KUBEADM,), look_under=(REGISTRY_DATA,))
INDEXED = (RUN_CONTENT,)


@dataclass(frozen=True)
class RootfsFiles:
    """The selected files of a merged rootfs: ``contents`` by path, and which looked-for paths exist."""

    contents: Mapping[str, bytes]
    present: frozenset[str]


@dataclass(frozen=True)
class _LayerFindings:
    contents: dict[str, bytes]
    present: list[str]
    removed: list[str]  # whiteouts: paths whose lower-layer content is gone (with everything below)


def read_rootfs(store: Store, layers: Iterable[Descriptor], selection: Selection) -> RootfsFiles:
    """The files *selection* names, as the merged content of *layers* (in order) holds them."""
    contents: dict[str, bytes] = {}
    present: set[str] = set()
    for layer in layers:
        found = _findings(store, layer, selection)
        for path in found.removed:
            for name in [n for n in contents if _within(n, path)]:
                del contents[name]
            present -= {n for n in present if _within(n, path)}
        contents.update(found.contents)
        present.update(found.present)
    return RootfsFiles(contents, frozenset(present))


def captures(path: str) -> bool:
    """Whether `remember` needs the content of the file at *path* (write_layer's *capture*)."""
    return any(selection.reads(path) for selection in INDEXED)


def remember(store: Store, layer: Descriptor, entries: Iterable[Entry], captured: Mapping[str, bytes]) -> None:
    """Index a layer just written from *entries* for the `INDEXED` selections, as if it had been
    scanned. *captured* is the content of the selected files as write_layer wrote them (`captures`);
    a selected file it lacks (over write_layer's CAPTURE_LIMIT) or over the selection's limit is left
    to the scan, which reports it."""
    entries = written_order(entries)
    for selection in INDEXED:
        found = _LayerFindings({}, [], [])
        for entry in entries:
            path = _note(found, selection, entry.path, entry.kind == "dir", entry.kind == "file")
            if path is not None:
                if entry.size > selection.limit or entry.path not in captured:
                    break
                found.contents[path] = bytes(captured[entry.path])
        else:
            _store_findings(store, layer, selection, found)


def _cache_path(store: Store, layer: Descriptor, selection: Selection):
    return store.state_dir("rootfs") / f"{layer.digest.hex}-{selection.key}.json"


def _findings(store: Store, layer: Descriptor, selection: Selection) -> _LayerFindings:
    try:
        data = json.loads(_cache_path(store, layer, selection).read_bytes())
        return _LayerFindings({k: base64.b64decode(v) for k, v in data["contents"].items()},
                              list(data["present"]), list(data["removed"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    found = _scan(store, layer, selection)
    _store_findings(store, layer, selection, found)
    return found


def _store_findings(store: Store, layer: Descriptor, selection: Selection, found: _LayerFindings) -> None:
    record = {"contents": {k: base64.b64encode(v).decode() for k, v in found.contents.items()},
              "present": found.present, "removed": found.removed}
    atomic_write_bytes(_cache_path(store, layer, selection), json.dumps(record).encode())


def _scan(store: Store, layer: Descriptor, selection: Selection) -> _LayerFindings:
    found = _LayerFindings({}, [], [])
    reader = VerifyingReader(store, layer.digest)
    try:
        with _open_tar(reader, layer.media_type) as tar:
            for member in tar:
                path = _note(found, selection, member.name, member.isdir(), member.isfile(), layer.digest)
                if path is not None:
                    if member.size > selection.limit:
                        raise StoreError(f"layer {layer.digest}: {path} is larger than {selection.limit} bytes")
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found.contents[path] = handle.read()
        reader.drain()
    except UnsafeLayer as exc:
        raise UnsafeLayerError(f"layer {layer.digest} refused: {exc}") from None
    except (tarfile.TarError, zlib.error, OSError, EOFError) as exc:
        raise StoreError(f"cannot read layer {layer.digest}: {exc}") from exc
    return found


def _note(found: _LayerFindings, selection: Selection, name: str, is_dir: bool, is_file: bool,
          layer: object = None) -> str | None:
    """Record in *found* what the layer member *name* means for *selection* (a whiteout, a path that
    hides lower files, a looked-for path present); returns its path when its content is to be read.
    The scan of a blob and the index of a layer being written (`remember`) both go through here."""
    kind, path = classify(name, layer)
    if kind in ("opaque", "whiteout"):
        found.removed.append(path)
        return None
    if kind != "entry":
        return None
    if selection.shadows(path, is_dir):
        found.removed.append(path)
    if path in selection.look_for and not is_dir:
        found.present.append(path)
    if not is_dir:
        found.present.extend(d for d in selection.look_under if path.startswith(d + "/"))
    return path if is_file and selection.reads(path) else None


def _open_tar(reader: VerifyingReader, media_type: str) -> tarfile.TarFile:
    """A gzip'd layer goes through GzipFile, whose forward seeks skip file data in C: tarfile's own
    stream mode does it through Python buffers, 2.5x slower on a gigabyte layer."""
    if media_type.endswith("gzip"):
        return open_layer_tar(gzip.GzipFile(fileobj=reader, mode="rb"), mode="r:")
    return open_layer_tar(reader)


def _matches(parts: list[str], pattern: list[str]) -> bool:
    return len(parts) == len(pattern) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=True))


def _within(name: str, removed: str) -> bool:
    """Whether *name* is *removed* or below it (``""`` is the root: an opaque root removes everything)."""
    return not removed or name == removed or name.startswith(removed + "/")
