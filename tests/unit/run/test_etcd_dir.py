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
