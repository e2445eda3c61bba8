"""Where the controller keeps a cluster's etcd snapshots (sealer_runner/run/etcd.py)."""

from __future__ import annotations

from sealer_runner.run.etcd import fetch_dir, snapshots


def test_snapshots_live_beside_the_applied_state_and_sort_oldest_first(tmp_path):
    where = fetch_dir(tmp_path, "prod")
    assert where == tmp_path / "clusters" / "prod" / "etcd"
    assert snapshots(where) == []
    where.mkdir(parents=True)
    for name in ("etcd-20261203T101500Z-pre-upgrade.db", "etcd-20261201T000000Z-manual.db", "notes.txt"):
        (where / name).write_bytes(b"x")
    assert [p.name for p in snapshots(where)] == ["etcd-20261201T000000Z-manual.db",
                                                  "etcd-20261203T101500Z-pre-upgrade.db"]


def test_delete_all_keeps_the_snapshots_in_an_archive(tmp_path):
    from datetime import datetime, timezone

    from sealer_runner.run.etcd import archive_snapshots

    assert archive_snapshots(tmp_path, "prod") is None
    where = fetch_dir(tmp_path, "prod")
    where.mkdir(parents=True)
    (where / "etcd-20261201T000000Z-manual.db").write_bytes(b"snap")
    kept = archive_snapshots(tmp_path, "prod", now=datetime(2026, 12, 3, 10, 0, tzinfo=timezone.utc))
    assert kept == tmp_path / "etcd-archive" / "prod-20261203T100000Z"
    assert (kept / "etcd-20261201T000000Z-manual.db").read_bytes() == b"snap" and not snapshots(where)
    assert kept.stat().st_mode & 0o777 == 0o700
