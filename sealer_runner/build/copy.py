"""COPY semantics: which layer entries a CopyStep produces, and their content key."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path, PurePosixPath

from ..errors import BuildError
from ..image.layer import Entry, entry_from_stat
from ..kubefile.plan import CopyStep
from .filehash import FileHashCache

ROOT_OWNER = (0, 0)


def copy_entries(step: CopyStep) -> list[Entry]:
    """Entries of the layer for *step*, Docker-style: a directory source copies its contents."""
    entries: dict[str, Entry] = {}
    for parent in _parents(step.dest if step.dest_is_dir else str(PurePosixPath(step.dest).parent)):
        entries[parent] = Entry(parent, "dir", 0o755)
    for source in step.sources:
        real = Path(os.path.realpath(source))
        try:
            st = real.stat()
        except OSError as exc:
            raise BuildError(f"line {step.line}: COPY source {source}: {exc.strerror}") from exc
        if real.is_dir():
            _walk_dir(real, step.dest, entries)
        else:
            target = _join(step.dest, source.name) if step.dest_is_dir else step.dest
            if not target:
                raise BuildError(f"line {step.line}: COPY of a file needs a destination file name")
            entry = entry_from_stat(target, str(real), st, owner=ROOT_OWNER)
            if entry is not None:
                entries[target] = entry
    return list(entries.values())


def content_key(entries: list[Entry], hashes: FileHashCache) -> str:
    """A digest of everything the layer would contain: names, modes, links and file contents."""
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e.path):
        content = hashes.digest(e.source, os.stat(e.source)) if e.source else ""
        h.update(json.dumps([e.path, e.kind, e.mode, e.uid, e.gid, e.linkname, content]).encode())
    return h.hexdigest()


def _walk_dir(src: Path, dest: str, entries: dict[str, Entry]) -> None:
    if dest:
        entries[dest] = Entry(dest, "dir", _mode(src))
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, src)
        for name in dirnames + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            target = _join(dest, rel)
            entry = entry_from_stat(target, full, os.lstat(full), owner=ROOT_OWNER)
            if entry is not None:
                entries[target] = entry


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def _join(dest: str, rel: str) -> str:
    return f"{dest.rstrip('/')}/{rel}" if dest else rel


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b", "a/b/c"]``; ``""``/``.`` -> ``[]``."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("", ".", "/")]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]
