"""Shared fixtures: a fresh store, and small real images written through the library."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sealer_runner.image.layer import Entry, write_layer
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store, TaggedImage
from sealer_runner.image.types import MT_OCI_CONFIG, Descriptor, Manifest, Platform

AMD64 = Platform("linux", "amd64")
UNDER_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI=true (``.ci/run`` sets it) no test may skip: CI installs every prerequisite, so a skip
    there (a missing binary, no root, a ``skipif``) is a broken install and reported as a failure,
    with the reason the test gave. Elsewhere a skip stays a skip, and ``-rs`` prints why."""
    outcome = yield
    report = outcome.get_result()
    if UNDER_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may skip: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """The same for a whole module skipped while collected (``pytest.skip(allow_module_level=True)``,
    ``pytest.importorskip``), which never reaches :func:`pytest_runtest_makereport`."""
    outcome = yield
    report = outcome.get_result()
    if UNDER_CI and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{collector.nodeid} skipped under CI=true, where nothing may skip: {reason}"


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
