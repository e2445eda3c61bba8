"""Digests of build-context files, remembered by (inode, size, mtime, ctime).

A cached rebuild must not read 500 MB of unchanged sources again just to learn
that they are unchanged: a file whose stat identity is the same as last time has
the same digest. ctime cannot be set by users, so a rewrite is always seen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..image.digest import sha256_file
from ..util.fs import atomic_write_bytes


class FileHashCache:
    """A persistent map: absolute path + stat identity -> sha256 hex."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._entries: dict[str, list] = {}
        self._dirty = False
        try:
            data = json.loads(path.read_bytes())
            if isinstance(data, dict):
                self._entries = data
        except (OSError, ValueError):
            self._entries = {}

    def digest(self, path: str, st: os.stat_result) -> str:
        identity = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        cached = self._entries.get(path)
        if cached is not None and cached[:4] == identity:
            return str(cached[4])
        hex_digest = sha256_file(path).hex
        self._entries[path] = identity + [hex_digest]
        self._dirty = True
        return hex_digest

    def save(self) -> None:
        if self._dirty:
            atomic_write_bytes(self._path, json.dumps(self._entries).encode())
            self._dirty = False
