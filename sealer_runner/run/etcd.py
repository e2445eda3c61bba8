"""Where this controller keeps a cluster's etcd snapshots (<root>/clusters/<name>/etcd/, filled by
sealer.cluster.etcd's backup: ``etcd backup``, and ``upgrade`` and ``delete`` before they touch a master)."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from .cluster import ClusterState

#: The snapshot files: etcd-<UTC time>-<reason>.db, so that their names sort as they were taken.
SNAPSHOT_PATTERN = "etcd-*.db"


def fetch_dir(root: Path, cluster: str) -> Path:
    return ClusterState(root, cluster).dir / "etcd"


def snapshots(directory: Path) -> list[Path]:
    """The snapshots in *directory*, oldest first."""
    return sorted(directory.glob(SNAPSHOT_PATTERN)) if directory.is_dir() else []


def archive_snapshots(root: Path, cluster: str, now: datetime | None = None) -> Path | None:
    """Before a cluster's state goes (``delete -a``): its snapshots moved to
    ``<root>/etcd-archive/<name>-<UTC time>/`` (0700), so that deleting a cluster by mistake loses no backup.
    The new directory, or None when there was no snapshot."""
    found = snapshots(fetch_dir(root, cluster))
    if not found:
        return None
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    dest = root / "etcd-archive" / f"{cluster}-{stamp}"
    dest.mkdir(parents=True, mode=0o700)
    for path in found:
        shutil.move(str(path), dest / path.name)
    return dest
