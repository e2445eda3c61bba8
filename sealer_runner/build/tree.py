"""Which paths are directories in the rootfs an image's layers make, without extracting them.

COPY needs it: a destination that is a directory in the image so far (in the base image or made by an
earlier instruction) is copied *into*, as Docker, buildah and sealer do. Each layer is indexed once:
its directories (also those only implied by a member below them), its other entries and its whiteouts.
A layer written by this build is indexed from its entries as it is written (`remember`); any other is
scanned once, headers only. What one layer holds never changes, so the index is kept under
``<store>/cache/tree/`` and a rebuild reads no layer.
"""

from __future__ import annotations

import json
import tarfile
import zlib
from dataclasses import dataclass
from typing import Iterable

from ..errors import StoreError, UnsafeLayerError
from ..image.layer import Entry, UnsafeLayer, VerifyingReader, classify, open_layer_tar
from ..image.store import Store
from ..image.types import Descriptor
from ..util.fs import atomic_write_bytes

TREE_FORMAT = 1


@dataclass(frozen=True)
class LayerTree:
    """What one layer says about paths: ``""`` is the root."""

    dirs: frozenset[str]
    """Directories it holds, explicit or implied by a member below them."""
    others: frozenset[str]
    """Files, symlinks and other non-directories it holds."""
    removed: frozenset[str]
    """Paths its whiteouts remove from the layers below (with everything under them)."""
    opaque: frozenset[str]
    """Directories whose lower-layer content it hides (the directory itself stays)."""


class RootfsTree:
    """The per-layer indexes of one store, read at most once per process."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._trees: dict[str, LayerTree] = {}

    def is_directory(self, layers: Iterable[Descriptor], path: str) -> bool:
        """Whether *path* (relative, no leading ``/``) is a directory in the rootfs *layers* make, in order.

        The topmost layer that says anything about *path* decides; a symlink is not a directory."""
        ancestors = _ancestors(path)
        for layer in reversed(list(layers)):
            tree = self.layer(layer)
            if path in tree.dirs:
                return True
            if path in tree.others or any(a in tree.others for a in ancestors[1:]):
                return False
            if path in tree.removed or any(a in tree.removed or a in tree.opaque for a in ancestors):
                return False
        return False

    def layer(self, layer: Descriptor) -> LayerTree:
        key = layer.digest.hex
        tree = self._trees.get(key)
        if tree is None:
            tree = self._trees[key] = _load(self._store, layer) or _scan(self._store, layer)
        return tree

    def remember(self, layer: Descriptor, entries: Iterable[Entry]) -> None:
        """Index a layer just written from *entries*."""
        tree = _tree((entry.path, entry.kind == "dir") for entry in entries)
        self._trees[layer.digest.hex] = tree
        _save(self._store, layer, tree)


def remember(store: Store, layer: Descriptor, entries: Iterable[Entry]) -> None:
    """Index a layer just written from *entries* (no RootfsTree at hand)."""
    RootfsTree(store).remember(layer, entries)


def _ancestors(path: str) -> list[str]:
    """``a/b/c`` -> ``["", "a", "a/b"]``: the root, then every directory above *path*."""
    parts = path.split("/")[:-1]
    return [""] + ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _tree(members: Iterable[tuple[str, bool]]) -> LayerTree:
    """The index of a layer from its member names (as in the tar) and whether each is a directory."""
    dirs: set[str] = set()
    others: set[str] = set()
    removed: set[str] = set()
    opaque: set[str] = set()
    for name, is_dir in members:
        kind, path = classify(name)
        if kind == "whiteout":
            removed.add(path)
        elif kind == "opaque":
            opaque.add(path)
            dirs.add(path)
        elif kind == "entry":
            (dirs if is_dir else others).add(path)
        else:
            continue
        dirs.update(_ancestors(path))
    others -= dirs  # a later member of the same name wins in a tar; a directory implied by others stays one
    return LayerTree(frozenset(dirs), frozenset(others), frozenset(removed), frozenset(opaque))


def _cache_path(store: Store, layer: Descriptor):
    return store.state_dir("tree") / f"{layer.digest.hex}.json"


def _load(store: Store, layer: Descriptor) -> LayerTree | None:
    try:
        data = json.loads(_cache_path(store, layer).read_bytes())
        if data["format"] != TREE_FORMAT:
            return None
        return LayerTree(*(frozenset(data[k]) for k in ("dirs", "others", "removed", "opaque")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(store: Store, layer: Descriptor, tree: LayerTree) -> None:
    record = {"format": TREE_FORMAT, "dirs": sorted(tree.dirs), "others": sorted(tree.others),
              "removed": sorted(tree.removed), "opaque": sorted(tree.opaque)}
    atomic_write_bytes(_cache_path(store, layer), json.dumps(record).encode())


def _scan(store: Store, layer: Descriptor) -> LayerTree:
    reader = VerifyingReader(store, layer.digest)
    members: list[tuple[str, bool]] = []
    try:
        with open_layer_tar(reader) as tar:
            members = [(member.name, member.isdir()) for member in tar]
        reader.drain()
        tree = _tree(members)
    except UnsafeLayer as exc:
        raise UnsafeLayerError(f"layer {layer.digest} refused: {exc}") from None
    except (tarfile.TarError, zlib.error, OSError, EOFError) as exc:
        raise StoreError(f"cannot read layer {layer.digest}: {exc}") from exc
    _save(store, layer, tree)
    return tree
