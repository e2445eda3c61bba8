"""Hostile layers built the way an attacker would: tar members made by hand with tarfile, in memory.

Shared by the layer suites: members, a gzip'd tar of them, a canary tree outside every root (and the
check that it is byte for byte untouched), and the three ways a layer reaches a filesystem: the
controller's build (`apply_layer`), a host receiving it (untarred on arrival, then merged) and a host
applying it from the blob alone.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Callable

from sealer_runner.errors import StoreError
from sealer_runner.image.digest import Digest
from sealer_runner.image.layer import apply_layer
from sealer_runner.image.store import Store
from sealer_runner.image.types import MT_OCI_LAYER_GZIP, Descriptor
from tests.unit.collection.conftest import load

layers = load("module_utils", "_layers")

Member = tuple[tarfile.TarInfo, bytes]


def reg(name: str, data: bytes = b"data", mode: int = 0o644) -> Member:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode = len(data), mode
    return ti, data


def dir_(name: str, mode: int = 0o755) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode = tarfile.DIRTYPE, mode
    return ti, b""


def sym(name: str, target: str) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, target, 0o777
    return ti, b""


def hard(name: str, target: str) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.linkname, ti.mode = tarfile.LNKTYPE, target, 0o644
    return ti, b""


def node(name: str, kind: bytes) -> Member:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.devmajor, ti.devminor = kind, 0o666, 1, 3
    return ti, b""


def tar_of(members: list[Member], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for ti, data in members:
            tar.addfile(ti, io.BytesIO(data) if ti.isreg() else None)
    return out.getvalue()


def gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def digest_of(blob: bytes) -> str:
    return "sha256:" + hashlib.sha256(blob).hexdigest()


# ------------------------------------------------------------------ the canary


class Canary:
    """Files and a directory outside every root; `untouched` says they are exactly as made."""

    def __init__(self, base: Path) -> None:
        self.dir = base / "outside"
        self.dir.mkdir()
        self.file = self.dir / "canary"
        self.file.write_bytes(b"canary: do not touch\n")
        os.chmod(self.file, 0o600)
        (self.dir / "sub").mkdir()
        (self.dir / "sub" / "inner").write_bytes(b"inner canary\n")
        os.chmod(self.dir, 0o750)
        self._before = self._state()

    def _state(self) -> dict[str, tuple[int, int, bytes]]:
        out = {}
        for path in [self.dir, *sorted(self.dir.rglob("*"))]:
            st = path.lstat()
            out[str(path)] = (st.st_mode, st.st_ino, path.read_bytes() if path.is_file() else b"")
        return out

    def untouched(self) -> bool:
        return self.file.exists() and self._state() == self._before


def up_to_root(path: Path | str, depth: int = 24) -> str:
    """A relative name that climbs out of any root and lands on *path*."""
    return "../" * depth + str(path).lstrip("/")


# ------------------------------------------------------------------ the ways in

Runner = Callable[[Path, list[bytes]], None]


def run_build(tmp_path: Path, blobs: list[bytes]) -> None:
    """The controller's build: apply_layer, layer after layer, onto one rootfs."""
    store = Store(tmp_path / "store")
    root = tmp_path / "build-rootfs"
    root.mkdir(exist_ok=True)
    for blob in blobs:
        digest = store.put_bytes(blob)
        apply_layer(store, Descriptor(MT_OCI_LAYER_GZIP, Digest(str(digest)), len(blob)), root)


def run_host_received(tmp_path: Path, blobs: list[bytes]) -> None:
    """A host receiving each layer (untarred as it arrives), then making its rootfs from them."""
    host = tmp_path / "host-received"
    for blob in blobs:
        layers.receive(str(host / "layers"), digest_of(blob), io.BytesIO(blob))
    layers.apply(str(host / "layers"), str(host / "rootfs"), [digest_of(b) for b in blobs])


def run_host_blob(tmp_path: Path, blobs: list[bytes]) -> None:
    """A host holding only the blobs (no unpacked trees): apply untars each from its blob."""
    host = tmp_path / "host-blob"
    (host / "layers").mkdir(parents=True, exist_ok=True)
    for blob in blobs:
        (host / "layers" / digest_of(blob)[7:]).write_bytes(blob)
    layers.apply(str(host / "layers"), str(host / "rootfs"), [digest_of(b) for b in blobs])


RUNNERS: dict[str, Runner] = {"build": run_build, "host-received": run_host_received, "host-blob": run_host_blob}
ERRORS: dict[str, type[Exception]] = {"build": StoreError, "host-received": layers.UnsafeLayer,
                                      "host-blob": layers.UnsafeLayer}


def rootfs_of(tmp_path: Path, way: str) -> Path:
    return tmp_path / {"build": "build-rootfs", "host-received": "host-received/rootfs",
                       "host-blob": "host-blob/rootfs"}[way]
