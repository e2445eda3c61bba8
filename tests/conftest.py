"""Shared fixtures: a fresh store, and small real images written through the library."""

from __future__ import annotations

from pathlib import Path

import pytest

from sealer_runner.image.layer import Entry, write_layer
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store, TaggedImage
from sealer_runner.image.types import MT_OCI_CONFIG, Descriptor, Manifest, Platform

AMD64 = Platform("linux", "amd64")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def make_image(store: Store, name: str, layers: list[dict[str, bytes]], tmp: Path,
               platform: Platform = AMD64) -> TaggedImage:
    """Write an image whose layers hold the given files, tag it *name*, and return it."""
    descs, diff_ids = [], []
    for i, files in enumerate(layers):
        entries = []
        for path, data in files.items():
            src = tmp / f"src-{name.replace('/', '_').replace(':', '_')}-{i}-{path.replace('/', '_')}"
            src.write_bytes(data)
            entries.append(Entry(path, "file", 0o644, size=len(data), source=str(src)))
        info = write_layer(store, entries)
        descs.append(info.descriptor)
        diff_ids.append(str(info.diff_id))
    config = store.put_json({
        "architecture": platform.architecture, "os": platform.os,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"COPY layer{i}"} for i in range(len(layers))],
    }, MT_OCI_CONFIG)
    desc = store.put_manifest(Manifest(config, tuple(descs)))
    desc = Descriptor(desc.media_type, desc.digest, desc.size, platform=platform)
    ref = parse_reference(name)
    store.tag(ref, desc)
    return store.lookup(name)
