"""Filesystem helpers: atomic writes and temporary files beside their target."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write *data* to *path* so that readers see the old or the new content, never a mix."""
    with atomic_open(path, mode) as f:
        f.write(data)


@contextmanager
def atomic_open(path: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Open a temp file beside *path*; rename it over *path* only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def remove_tree(path: Path | str) -> None:
    """Remove a file or a directory tree, even one holding read-only directories (as a RUN step or a Go
    module cache leaves them, which ``shutil.rmtree(ignore_errors=True)`` silently keeps). Missing is fine."""
    def retry(func, name, _exc) -> None:
        for target in (os.path.dirname(name), name):
            try:
                if os.path.isdir(target) and not os.path.islink(target):
                    os.chmod(target, os.stat(target).st_mode | stat.S_IRWXU)
            except OSError:
                pass
        try:
            if os.path.isdir(name) and not os.path.islink(name):
                shutil.rmtree(name, ignore_errors=True)  # once more, now that we may read and write it
            else:
                func(name)
        except OSError:
            pass

    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=retry)
        else:
            os.unlink(path)
    except FileNotFoundError:
        pass
