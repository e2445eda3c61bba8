"""The collection without the front end: plain `ansible-playbook` on the commented sample inventory, as an
ops repo or an AWX/Tower job template would run it. Only the validate phase runs (on this machine,
nothing is changed): it must accept the sample once its layers point at a real blob, and refuse it,
saying why, while they do not."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sealer_runner.image.layer import data_entry, write_layer
from sealer_runner.image.store import Store

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = shutil.which("ansible-playbook", path=str(Path(sys.executable).parent)) or "ansible-playbook"


def _ansible_playbook(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    collections = tmp_path / "collections" / "ansible_collections" / "sealer"
    collections.mkdir(parents=True, exist_ok=True)
    if not (collections / "cluster").exists():
        (collections / "cluster").symlink_to(REPO / "collection")
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-tmp"), "ANSIBLE_RETRY_FILES_ENABLED": "0"}
    return subprocess.run([PLAYBOOK, "-i", str(REPO / "inventories" / "sample"), str(REPO / "playbooks" / "run.yml"),
                           "--tags", "validate", "-e", "ansible_connection=local",
                           "-e", f"ansible_python_interpreter={sys.executable}", *args],
                          capture_output=True, text=True, env=env, timeout=300)


def test_sample_inventory_is_refused_while_its_layers_do_not_exist(tmp_path):
    done = _ansible_playbook(tmp_path)
    assert done.returncode != 0
    assert "/srv/images/demo/blobs/sha256/0000000000000000" in done.stdout, done.stdout[-3000:]


def test_sample_inventory_validates_with_a_real_layer(tmp_path):
    store = Store(tmp_path / "store")
    layer = write_layer(store, [data_entry("etc/hello", b"hello\n")]).descriptor
    extra = tmp_path / "image.yml"
    extra.write_text(yaml.safe_dump({"sealer_layers": [
        {"digest": str(layer.digest), "size": layer.size, "source": str(store.blob_source(layer.digest))}]}))
    done = _ansible_playbook(tmp_path, "-e", f"@{extra}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "failed=0" in done.stdout and "10.0.0.11" in done.stdout
