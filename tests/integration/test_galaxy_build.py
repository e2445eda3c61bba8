"""The collection as Galaxy users get it: `ansible-galaxy collection build` gives a tarball without junk,
`ansible-galaxy collection install` of it (offline) gives a working sealer.cluster in a collections path of
its own: `ansible-doc` lists every module and role, and every collection playbook resolves by its FQCN
(`ansible-playbook --syntax-check sealer.cluster.<verb>`) from the installed copy, not from this checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration]

COLLECTION = Path(__file__).resolve().parents[2] / "collection"
BIN = Path(sys.executable).parent
MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("[!_]*.py"))
ROLES = sorted(p.name for p in (COLLECTION / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
PLAYBOOKS = sorted(p.stem for p in (COLLECTION / "playbooks").glob("*.yml"))
#: What a working copy may hold that must not reach Galaxy (editor files, caches, test output, old builds).
JUNK = ["plugins/modules/__pycache__/image_layer.cpython-311.pyc", "plugins/module_utils/_layers.pyc",
        "tests/output/junit/x.xml", "roles/rootfs/tasks/main.yml.orig", "roles/rootfs/tasks/main.yml~",
        "roles/rootfs/tasks/.main.yml.swp", "playbooks/run.retry", ".ansible/tmp/x", ".pytest_cache/v/x",
        "sealer-cluster-0.0.1.tar.gz", "changelogs/.plugin-cache.yaml", "__pycache__/x.pyc"]


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the tarball, the collections path it was installed into), built from a copy of the collection with
    junk added."""
    work = tmp_path_factory.mktemp("galaxy")
    source = work / "src" / "sealer" / "cluster"
    shutil.copytree(COLLECTION, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "output"))
    for junk in JUNK:
        (source / junk).parent.mkdir(parents=True, exist_ok=True)
        (source / junk).write_text("junk\n")
    _run(str(BIN / "ansible-galaxy"), "collection", "build", str(source), "--output-path", str(work / "dist"))
    tarball = work / "dist" / f"sealer-cluster-{yaml.safe_load((COLLECTION / 'galaxy.yml').read_text())['version']}.tar.gz"
    installed = work / "collections"
    _run(str(BIN / "ansible-galaxy"), "collection", "install", "--offline", str(tarball), "-p", str(installed))
    return tarball, installed


def _env(installed: Path) -> dict[str, str]:
    """Only the installed copy is visible: no ~/.ansible/collections, no checkout symlink."""
    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOME": str(installed.parent / "ansible-home"), "ANSIBLE_LOCAL_TEMP": str(installed.parent / "tmp")}


def test_tarball_holds_the_collection_and_no_junk(built):
    tarball, _ = built
    with tarfile.open(tarball) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
    for junk in JUNK:
        assert junk not in names, f"{junk} reached the Galaxy tarball: add it to build_ignore in galaxy.yml"
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".retry", "~"))]
    for needed in ("MANIFEST.json", "FILES.json", "README.md", "meta/runtime.yml", "meta/execution-environment.yml",
                   "requirements.txt", "bindep.txt", *(f"playbooks/{p}.yml" for p in PLAYBOOKS),
                   *(f"plugins/modules/{m}.py" for m in MODULES), *(f"roles/{r}/meta/argument_specs.yml" for r in ROLES)):
        assert needed in names, needed
    tracked = {str(p.relative_to(COLLECTION)) for p in COLLECTION.rglob("*") if p.is_file()
               and "__pycache__" not in p.parts and p.suffix != ".pyc" and "output" not in p.parts
               and p.name != "galaxy.yml"}
    assert tracked <= names, f"left out of the tarball: {sorted(tracked - names)}"


def test_manifest_declares_requires_ansible_and_no_dependencies(built):
    tarball, installed = built
    manifest = json.loads((installed / "ansible_collections/sealer/cluster/MANIFEST.json").read_text())
    assert manifest["collection_info"]["namespace"] == "sealer" and manifest["collection_info"]["name"] == "cluster"
    assert manifest["collection_info"]["dependencies"] == {}
    runtime = yaml.safe_load((installed / "ansible_collections/sealer/cluster/meta/runtime.yml").read_text())
    assert runtime["requires_ansible"].startswith(">=")
    ee = yaml.safe_load((installed / "ansible_collections/sealer/cluster/meta/execution-environment.yml").read_text())
    base = installed / "ansible_collections/sealer/cluster"
    assert (base / ee["dependencies"]["python"]).is_file() and (base / ee["dependencies"]["system"]).is_file()


def test_ansible_doc_lists_every_module_and_role_of_the_installed_copy(built):
    _, installed = built
    listed = json.loads(_run(str(BIN / "ansible-doc"), "-l", "--json", "sealer.cluster", env=_env(installed)).stdout)
    assert sorted(name.removeprefix("sealer.cluster.") for name in listed) == MODULES
    roles = _run(str(BIN / "ansible-doc"), "-t", "role", "-l", "sealer.cluster", env=_env(installed)).stdout
    for role in ROLES:
        assert f"sealer.cluster.{role}:" in roles, roles


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_collection_playbook_resolves_by_fqcn(built, playbook, tmp_path):
    _, installed = built
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[master]\n10.0.0.11\n[node]\n10.0.0.21\n")
    done = _run(str(BIN / "ansible-playbook"), "-i", str(inventory), "--syntax-check", f"sealer.cluster.{playbook}",
                env=_env(installed), cwd=tmp_path)
    assert f"{installed}/ansible_collections/sealer/cluster/playbooks/{playbook}.yml" in done.stdout, done.stdout
