"""Where this controller keeps a cluster's etcd snapshots (<root>/clusters/<name>/etcd/, filled by
sealer.cluster.etcd's backup: ``etcd backup``, and ``upgrade`` and ``delete`` before they touch a master)."""

from __future__ import annotations

from pathlib import Path

from .state import applied_dir

#: The snapshot files: etcd-<UTC time>-<reason>.db, so that their names sort as they were taken.
SNAPSHOT_PATTERN = "etcd-*.db"


def fetch_dir(root: Path, cluster: str) -> Path:
    return applied_dir(root, cluster).parent / "etcd"


def snapshots(directory: Path) -> list[Path]:
    """The snapshots in *directory*, oldest first."""
    return sorted(directory.glob(SNAPSHOT_PATTERN)) if directory.is_dir() else []
