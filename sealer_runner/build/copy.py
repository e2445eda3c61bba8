"""COPY semantics: which layer entries a CopyStep produces, and their content key.

Only regular files, directories and symlinks can be copied: a FIFO, socket or device node in the
build context is refused (naming it) rather than silently left out of the layer, and so is a
path over PATH_MAX bytes in the image or a directory that cannot be read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import NoReturn

from ..errors import BuildError, KubefileError
from ..image.layer import Entry, entry_from_stat
from ..kubefile.limits import PATH_MAX
from ..kubefile.plan import CopyStep
from .filehash import FileHashCache

ROOT_OWNER = (0, 0)
_COPYABLE = (stat.S_ISREG, stat.S_ISDIR, stat.S_ISLNK)
_KINDS = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"))


def copy_entries(step: CopyStep, kubefile: str = "Kubefile") -> list[Entry]:
    """Entries of the layer for *step*, Docker-style: a directory source copies its contents.

    A source that cannot go into a layer raises :class:`~sealer_runner.errors.KubefileError` at the
    step's line of *kubefile*; one that cannot be read, :class:`~sealer_runner.errors.BuildError`.
    """
    copier = _Copier(step, kubefile)
    for parent in _parents(step.dest if step.dest_is_dir else str(PurePosixPath(step.dest).parent)):
        copier.entries[parent] = Entry(parent, "dir", 0o755)
    for source in step.sources:
        real = Path(os.path.realpath(source))
        try:
            st = real.stat()
        except OSError as exc:
            raise BuildError(f"{kubefile}:{step.line}: COPY source {source}: {exc.strerror}") from exc
        if stat.S_ISDIR(st.st_mode):
            copier.walk(real, step.dest)
        else:
            target = _join(step.dest, source.name) if step.dest_is_dir else step.dest
            if not target:
                raise BuildError(f"{kubefile}:{step.line}: COPY of a file needs a destination file name")
            copier.add(target, str(real), st, shown=str(source))
    return list(copier.entries.values())


def content_key(entries: list[Entry], hashes: FileHashCache) -> str:
    """A digest of everything the layer would contain: names, modes, links and file contents."""
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e.path):
        content = hashes.digest(e.source, os.stat(e.source)) if e.source else ""
        h.update(json.dumps([e.path, e.kind, e.mode, e.uid, e.gid, e.linkname, content]).encode())
    return h.hexdigest()


class _Copier:
    """The entries of one COPY step, and the step's place for error messages."""

    def __init__(self, step: CopyStep, kubefile: str) -> None:
        self.step = step
        self.kubefile = kubefile
        self.entries: dict[str, Entry] = {}

    def refuse(self, message: str) -> KubefileError:
        return KubefileError(message, file=self.kubefile, line=self.step.line)

    def add(self, target: str, source: str, st: os.stat_result, *, shown: str) -> None:
        if not any(test(st.st_mode) for test in _COPYABLE):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
            raise self.refuse(f"COPY source {shown} is {kind}: only regular files, directories and symlinks "
                              "can go into an image")
        if len(target.encode("utf-8", "surrogateescape")) > PATH_MAX:
            raise self.refuse(f"COPY: {shown} would be /{target[:60]}... in the image, longer than "
                              f"{PATH_MAX} bytes")
        entry = entry_from_stat(target, source, st, owner=ROOT_OWNER)
        if entry is not None:
            self.entries[target] = entry

    def walk(self, src: Path, dest: str) -> None:
        if dest:
            self.entries[dest] = Entry(dest, "dir", _mode(src))
        for dirpath, dirnames, filenames in os.walk(src, onerror=self.unreadable):
            dirnames.sort()
            rel_dir = os.path.relpath(dirpath, src)
            for name in dirnames + sorted(filenames):
                full = os.path.join(dirpath, name)
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                try:
                    st = os.lstat(full)
                except OSError as exc:
                    self.unreadable(exc)
                self.add(_join(dest, rel), full, st, shown=full)

    def unreadable(self, exc: OSError) -> NoReturn:
        raise BuildError(f"{self.kubefile}:{self.step.line}: COPY source {exc.filename}: {exc.strerror}") from exc


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o7777


def _join(dest: str, rel: str) -> str:
    return f"{dest.rstrip('/')}/{rel}" if dest else rel


def _parents(path: str) -> list[str]:
    """``a/b/c`` -> ``["a", "a/b", "a/b/c"]``; ``""``/``.`` -> ``[]``.

    The output is quadratic in the depth by nature: the parser keeps *path* within PATH_MAX.
    """
    parents: list[str] = []
    for part in PurePosixPath(path).parts:
        if part not in ("", ".", "/"):
            parents.append(f"{parents[-1]}/{part}" if parents else part)
    return parents
