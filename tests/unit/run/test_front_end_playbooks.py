"""Every playbook the front end runs (a ``playbook="X.yml"`` in sealer_runner/) is one of the top-level
playbooks/ (ansible-runner's project directory), and each of those imports the collection's playbook of
the same name."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from sealer_runner.run.cluster import PLAYBOOKS_DIR

SOURCE = Path(__file__).resolve().parents[3] / "sealer_runner"


def test_every_playbook_the_front_end_names_is_in_the_project_directory():
    named = {m for path in SOURCE.rglob("*.py") for m in re.findall(r'playbook="([\w.-]+\.yml)"', path.read_text())}
    assert {"run.yml", "etcd_backup.yml", "etcd_restore.yml", "delete.yml"} <= named, named
    missing = sorted(name for name in named if not (PLAYBOOKS_DIR / name).is_file())
    assert not missing, f"named by sealer_runner/ but not in {PLAYBOOKS_DIR}: {missing}"


def test_each_top_level_playbook_imports_the_collection_playbook_of_its_name():
    for path in sorted(PLAYBOOKS_DIR.glob("*.yml")):
        imports = [play.get("ansible.builtin.import_playbook") for play in yaml.safe_load(path.read_text())]
        assert f"sealer.cluster.{path.stem}" in imports, (path.name, imports)
