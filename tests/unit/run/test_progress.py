"""Per-host progress of a verb that failed or was interrupted (sealer_runner/run/progress.py), from
ansible-runner's events as they come."""

from __future__ import annotations

import json
from pathlib import Path

from sealer_runner.run import progress
from sealer_runner.run.runner import Failure, RunResult


def play(name: str) -> dict:
    return {"event": "playbook_on_play_start", "event_data": {"play": name}}


def on(kind: str, host: str, **extra) -> dict:
    return {"event": kind, "event_data": {"host": host, **extra}}


def feed(tracker, events) -> None:
    for event in events:
        tracker(event)


def test_a_host_completes_a_play_it_took_part_in_without_failing():
    tracker = progress.PlayTracker()
    feed(tracker, [play("Deliver"), on("runner_on_ok", "a"), on("runner_on_ok", "b"), on("runner_on_ok", "c"),
                   play("Upgrade the masters"), on("runner_on_ok", "a"), on("runner_on_failed", "b"),
                   on("runner_on_failed", "c", ignore_errors=True),
                   play("Upgrade the nodes"), on("runner_on_unreachable", "d")])
    # the last play never ended (interrupted): nobody completed it
    assert tracker.completed == {"a": ["Deliver", "Upgrade the masters"], "b": ["Deliver"],
                                 "c": ["Deliver", "Upgrade the masters"]}
    tracker({"event": "playbook_on_stats", "event_data": {}})
    assert "d" not in tracker.completed and tracker.plays[-1] == "Upgrade the nodes"


def test_statuses_and_the_record_on_disk(tmp_path: Path):
    tracker = progress.PlayTracker()
    feed(tracker, [play("one"), on("runner_on_ok", "10.0.0.1"), on("runner_on_ok", "10.0.0.2"),
                   play("two"), on("runner_on_ok", "10.0.0.1"), on("runner_on_failed", "10.0.0.2"),
                   {"event": "playbook_on_stats", "event_data": {}}])
    failure = Failure("10.0.0.2", "kubeadm join", "kubernetes", "rc 1")
    result = RunResult(status="failed", rc=2, failures=(failure,))
    path = progress.record(tmp_path, "prod", "join", result, tracker, ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
                           image="example.com/k8s:v1")
    data = json.loads(path.read_text())
    assert path == tmp_path / "clusters/prod/progress.json" and path.stat().st_mode & 0o777 == 0o600
    by_host = {h["host"]: h for h in data["hosts"]}
    assert by_host["10.0.0.1"]["status"] == "done" and by_host["10.0.0.1"]["plays_completed"] == ["one", "two"]
    assert by_host["10.0.0.2"]["status"] == "failed" and "kubeadm join" in by_host["10.0.0.2"]["failed_at"]
    assert by_host["10.0.0.3"]["status"] == "not finished"
    assert progress.read(tmp_path, "prod") == data
    assert progress.summary(data).startswith("join failed at ")
    assert "done 10.0.0.1; failed 10.0.0.2; not finished 10.0.0.3" in progress.summary(data)
    progress.clear(tmp_path, "prod")
    assert progress.read(tmp_path, "prod") is None


def test_an_interrupted_run_finishes_no_host():
    tracker = progress.PlayTracker()
    feed(tracker, [play("one"), on("runner_on_ok", "a"), {"event": "playbook_on_stats", "event_data": {}}])
    records = progress.host_records(["a"], tracker, (), canceled=True)
    assert records[0]["status"] == "not finished" and records[0]["plays_completed"] == ["one"]
    assert progress.summary({"verb": "upgrade", "status": "canceled", "at": "t", "hosts": records}) == \
        "upgrade interrupted at t: not finished a"


def test_a_playbook_stopped_early_finishes_nobody():
    events = [play("Reach"), on("runner_on_ok", "a"), on("runner_on_unreachable", "b"),
              {"event": "playbook_on_no_hosts_remaining", "event_data": {}},
              {"event": "playbook_on_stats", "event_data": {}}]
    tracker = progress.PlayTracker()
    feed(tracker, events)
    failure = Failure("b", "ping", "", "no route", unreachable=True)
    records = {r["host"]: r["status"] for r in progress.host_records(["a", "b"], tracker, (failure,), canceled=False)}
    assert records == {"a": "not finished", "b": "unreachable"}
    # the same without the early stop: a went through every play meant for it (a node plays fewer than a master)
    tracker = progress.PlayTracker()
    feed(tracker, [e for e in events if e["event"] != "playbook_on_no_hosts_remaining"][:3]
         + [play("masters only"), on("runner_on_ok", "c"), {"event": "playbook_on_stats", "event_data": {}}])
    records = {r["host"]: r["status"] for r in progress.host_records(["a", "b", "c"], tracker, (failure,), False)}
    assert records == {"a": "done", "b": "unreachable", "c": "done"}
