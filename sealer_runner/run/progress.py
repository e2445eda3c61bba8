"""What a verb that did not finish did on each host, kept in ``<root>/clusters/<name>/progress.json``.

A verb that fails, or is interrupted (Ctrl-C), leaves the applied state as it was (it is rewritten only
after success) and records here, per host, the plays it completed, where it failed or whether it could not
be reached; ``clusters`` and ``apply --plan`` show it, and the next successful verb on the cluster removes
it. Every verb's steps are idempotent and pass over hosts already done (an upgraded host is not upgraded
again, a joined one not joined again), so running the same command again continues.

``PlayTracker`` follows the run's events: a host *completed* a play when it took part in it without a
failure and the play ended (the next play started, or the run's stats came). A host is *done* when the
playbook ran to its end (its stats came, no play was cut short because every host had failed or an
``any_errors_fatal`` play stopped it, and no Ctrl-C) and the host failed nowhere: it then went through
every play meant for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from ..util.fs import atomic_write_bytes
from .cluster import ClusterState
from .state import controller_identity

PROGRESS_FILE = "progress.json"
_HOST_EVENTS = {"runner_on_ok", "runner_on_skipped", "runner_on_failed", "runner_on_unreachable",
                "runner_item_on_ok", "runner_item_on_failed"}


@dataclass
class PlayTracker:
    """The plays each host completed, from ansible-runner's events (see the module's text)."""

    plays: list[str] = field(default_factory=list)  # in the order they started
    completed: dict[str, list[str]] = field(default_factory=dict)
    finished: bool = False  # the run's stats came
    aborted: bool = False  # Ansible stopped the playbook early (no hosts left in a play)
    _in_play: set[str] = field(default_factory=set)
    _failed_in_play: set[str] = field(default_factory=set)
    _ended: bool = False

    def __call__(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        data = event.get("event_data") or {}
        if kind == "playbook_on_play_start":
            self._close()
            self.plays.append(str(data.get("play") or data.get("name") or f"play {len(self.plays) + 1}"))
            self._ended = False
        elif kind == "playbook_on_stats":
            self._close()
            self.finished = True
        elif kind == "playbook_on_no_hosts_remaining":
            self.aborted = True
        elif kind in _HOST_EVENTS and data.get("host") and self.plays:
            host = str(data["host"])
            self._in_play.add(host)
            if kind in ("runner_on_failed", "runner_item_on_failed") and not data.get("ignore_errors"):
                self._failed_in_play.add(host)
            elif kind == "runner_on_unreachable" and not data.get("ignore_unreachable"):
                self._failed_in_play.add(host)

    def _close(self) -> None:
        if self.plays and not self._ended:
            for host in self._in_play - self._failed_in_play:
                self.completed.setdefault(host, []).append(self.plays[-1])
        self._in_play, self._failed_in_play, self._ended = set(), set(), True


def host_records(hosts: list[str], tracker: PlayTracker, failures, canceled: bool) -> list[dict[str, Any]]:
    """Per host: status (``done``: the playbook ran to its end and the host failed nowhere; ``failed``;
    ``unreachable``; ``not finished``: interrupted, or the playbook stopped early), the plays it completed,
    and the failure (task and message) when there was one."""
    failed = {}
    for failure in failures:
        failed.setdefault(failure.host, failure)
    ran_to_end = tracker.finished and not tracker.aborted and not canceled
    out = []
    for host in hosts:
        done = tracker.completed.get(host, [])
        record: dict[str, Any] = {"host": host, "plays_completed": done}
        if host in failed:
            failure = failed[host]
            record["status"] = "unreachable" if failure.unreachable else "failed"
            record["failed_at"] = str(failure)
        elif ran_to_end and done:
            record["status"] = "done"
        else:
            record["status"] = "not finished"
        out.append(record)
    return out


def record(root: Path, cluster: str, verb: str, result, tracker: PlayTracker, hosts: list[str],
           *, image: str = "", now: datetime | None = None) -> Path:
    """Write progress.json for *verb* that ended with *result* (a run.runner.RunResult)."""
    now = now or datetime.now(timezone.utc)
    data = {"verb": verb, "status": result.status, "rc": result.rc, "image": image,
            "at": now.isoformat(timespec="seconds"), "by": controller_identity(),
            "plays": tracker.plays, "artifacts": str(result.artifacts or ""),
            "hosts": host_records(hosts, tracker, result.failures, result.status == "canceled")}
    path = _path(root, cluster)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(data, indent=1) + "\n").encode(), mode=0o600)
    return path


def _path(root: Path, cluster: str) -> Path:
    return ClusterState(root, cluster).dir / PROGRESS_FILE


def read(root: Path, cluster: str) -> dict[str, Any] | None:
    try:
        return json.loads(_path(root, cluster).read_text())
    except (OSError, ValueError):
        return None


def clear(root: Path, cluster: str) -> None:
    _path(root, cluster).unlink(missing_ok=True)


def summary(data: Mapping[str, Any]) -> str:
    """One line: ``upgrade interrupted at 2026-...: done 10.0.0.2; failed 10.0.0.3; not finished 10.0.0.4``."""
    groups: dict[str, list[str]] = {}
    for host in data.get("hosts") or []:
        groups.setdefault(str(host.get("status")), []).append(str(host.get("host")))
    how = "interrupted" if data.get("status") == "canceled" else "failed"
    parts = [f"{status} {', '.join(ips)}" for status, ips in groups.items()]
    return f"{data.get('verb')} {how} at {data.get('at')}: " + "; ".join(parts)
