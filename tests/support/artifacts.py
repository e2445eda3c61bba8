"""What a finished `sealer_runner run` left in its ansible-runner artifacts, read back by tests."""

from __future__ import annotations

import json
from pathlib import Path


def upload_methods(root: Path, cluster: str) -> set[str]:
    """How every ``layer_upload`` of the cluster's runs delivered (ssh-stream, put_file, fetch, none)."""
    methods = set()
    for event in (root / "clusters" / cluster / "runner" / "artifacts").glob("*/job_events/*.json"):
        data = json.loads(event.read_text()).get("event_data", {})
        if data.get("task_action") == "sealer.cluster.layer_upload" and "res" in data:
            methods.add(data["res"].get("method"))
    return methods


def started_roles(artifacts: Path) -> set[str]:
    """The roles of which one run (its artifacts directory) started at least one task."""
    roles = set()
    for event in artifacts.glob("job_events/*.json"):
        data = json.loads(event.read_text())
        if data.get("event") == "playbook_on_task_start" and data["event_data"].get("role"):
            roles.add(data["event_data"]["role"])
    return roles
