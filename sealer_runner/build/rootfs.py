"""The merged rootfs a RUN instruction works in, and the diff that becomes its layer."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from ..image.layer import Entry, apply_layer, entry_from_stat, whiteout
from ..image.store import Store
from ..image.types import Descriptor

# What identifies a file's state: a change to any of these means it changed.
StatKey = tuple[int, int, int, int, int, int, str]
Snapshot = dict[str, StatKey]


class Workspace:
    """A directory kept equal to the image's layers so far, applied lazily."""

    def __init__(self, store: Store, directory: Path) -> None:
        self._store = store
        self.rootfs = directory / "rootfs"
        self.rootfs.mkdir(parents=True, exist_ok=True)
        os.chmod(self.rootfs, 0o755)
        self._applied: list[Descriptor] = []

    def sync(self, layers: list[Descriptor]) -> None:
        """Make the rootfs equal to *layers*, applying only those not applied yet."""
        if self._applied != layers[: len(self._applied)]:
            shutil.rmtree(self.rootfs)
            self.rootfs.mkdir()
            self._applied = []
        for layer in layers[len(self._applied):]:
            apply_layer(self._store, layer, self.rootfs)
            self._applied.append(layer)

    def record(self, layer: Descriptor) -> None:
        """Note that *layer* describes changes already present in the rootfs (a RUN's own diff)."""
        self._applied.append(layer)

    def snapshot(self) -> Snapshot:
        return snapshot(self.rootfs)

    def diff(self, before: Snapshot) -> list[Entry]:
        return diff(self.rootfs, before, self.snapshot())


def snapshot(root: Path) -> Snapshot:
    out: Snapshot = {}
    _scan(str(root), "", out)
    return out


def _scan(base: str, rel: str, out: Snapshot) -> None:
    with os.scandir(os.path.join(base, rel) if rel else base) as it:
        for entry in it:
            path = f"{rel}/{entry.name}" if rel else entry.name
            st = entry.stat(follow_symlinks=False)
            link = os.readlink(entry.path) if stat.S_ISLNK(st.st_mode) else ""
            out[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, link)
            if stat.S_ISDIR(st.st_mode):
                _scan(base, path, out)


def diff(root: Path, before: Snapshot, after: Snapshot) -> list[Entry]:
    """Entries for what was added or changed, and whiteouts for the topmost removed paths."""
    entries: list[Entry] = []
    for path, key in after.items():
        if before.get(path) != key:
            full = os.path.join(root, path)
            entry = entry_from_stat(path, full, os.lstat(full))
            if entry is not None:
                entries.append(entry)
    removed = set(before) - set(after)
    for path in sorted(removed):
        if path.rpartition("/")[0] not in removed:  # a removed directory's whiteout covers its children
            entries.append(whiteout(path))
    return entries
