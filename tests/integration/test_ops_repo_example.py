"""examples/ops-repo, checked without hosts: every group_vars variable is one a role documents (and fits its
type), collections/requirements.yml installs the built collection, the inventory has the groups the playbook
plays on, and `ansible-playbook -i inventory sealer.cluster.run` resolves and validates the inputs (with the
vars file scripts/image_vars.py makes from a saved image). tests/e2e/test_ops_repo.py runs it on hosts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sealer_runner.build.builder import Builder, BuildOptions
from sealer_runner.image import archive
from sealer_runner.image.store import Store
from tests.support.role_specs import COLLECTION, role_options, type_problems

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
OPS = REPO / "examples" / "ops-repo"
BIN = Path(sys.executable).parent
GROUP_VARS = sorted((OPS / "inventory" / "group_vars").rglob("*.yml"))


class _Loader(yaml.SafeLoader):
    """group_vars as Ansible reads them: !unsafe strings are strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _group_vars() -> dict[str, tuple[Path, object]]:
    out: dict[str, tuple[Path, object]] = {}
    for path in GROUP_VARS:
        for name, value in (yaml.load(path.read_text(), Loader=_Loader) or {}).items():  # noqa: S506 (SafeLoader)
            assert name not in out, f"{name} is in both {out[name][0]} and {path}"
            out[name] = (path, value)
    return out


def test_every_group_var_is_documented_by_a_role_and_fits_its_type():
    options = role_options()
    found = _group_vars()
    assert found, "no group_vars"
    unknown = {name: str(path.relative_to(OPS)) for name, (path, _) in found.items() if name not in options}
    assert not unknown, f"not in any role's meta/argument_specs.yml: {unknown}"
    for name, (path, value) in found.items():
        assert not type_problems(name, value, options[name]), (path, name, type_problems(name, value, options[name]))


def test_inventory_has_master_node_and_registry_groups():
    inventory = yaml.safe_load((OPS / "inventory" / "hosts.yml").read_text())
    groups = inventory["all"]["children"]
    assert {"master", "node", "registry"} <= set(groups)
    text = json.dumps(inventory)
    assert "ansible_password" not in text and "private_key" not in text, "a secret in the inventory"


@pytest.fixture(scope="module")
def ops_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example with the collection installed through its collections/requirements.yml."""
    work = tmp_path_factory.mktemp("ops")
    repo = work / "ops-repo"
    shutil.copytree(OPS, repo)
    version = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"]
    subprocess.run([BIN / "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", repo / "collections"],
                   check=True, capture_output=True, timeout=120)
    assert (repo / "collections" / f"sealer-cluster-{version}.tar.gz").is_file()
    done = subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-r",
                           "collections/requirements.yml", "-p", "collections"], cwd=repo, env=_env(repo),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (repo / "collections" / "ansible_collections" / "sealer" / "cluster" / "MANIFEST.json").is_file()
    return repo


def _env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    return {**env, "ANSIBLE_CONFIG": str(repo / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOME": str(repo.parent / "ansible-home"), "ANSIBLE_LOCAL_TEMP": str(repo.parent / "tmp")}


def test_requirements_install_the_collection_and_the_playbook_resolves(ops_repo):
    done = subprocess.run([BIN / "ansible-playbook", "-i", "inventory", "sealer.cluster.run", "--syntax-check"],
                          cwd=ops_repo, env=_env(ops_repo), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{ops_repo}/collections/ansible_collections/sealer/cluster/playbooks/run.yml" in done.stdout
    graph = subprocess.run([BIN / "ansible-inventory", "-i", "inventory", "--list"], cwd=ops_repo, env=_env(ops_repo),
                           capture_output=True, text=True, timeout=120, check=True)
    listed = json.loads(graph.stdout)
    assert listed["master"]["hosts"] == ["10.0.0.11"] and listed["registry"]["hosts"] == ["10.0.0.11"]


def test_validate_phase_accepts_the_example_with_a_saved_image(ops_repo, tmp_path):
    """The validate phase (on the controller; the reach play runs locally) with the example's group_vars, their
    templates resolved, and image-vars.yml made from a saved image as the README says."""
    store = Store(tmp_path / "store")
    ctx = tmp_path / "ctx"
    (ctx / "etc").mkdir(parents=True)
    (ctx / "etc" / "settings.yaml").write_text("replicas: 1\n")
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY etc etc\nCMDS [\"echo launched\"]\n")
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=("example.com/demo/cluster:v1",),
                                      platforms=("linux/amd64",)))
    archive.save(store, [store.lookup("example.com/demo/cluster:v1")], tmp_path / "cluster.tar")
    script = ops_repo / "collections/ansible_collections/sealer/cluster/scripts/image_vars.py"
    subprocess.run([sys.executable, "-I", script, tmp_path / "cluster.tar", ops_repo / "image"], check=True,
                   capture_output=True, timeout=120)
    done = subprocess.run([BIN / "ansible-playbook", "-i", "inventory", "sealer.cluster.run", "-e", "@image/image-vars.yml",
                           "--tags", "validate", "-e", "ansible_connection=local",
                           "-e", f"ansible_python_interpreter={sys.executable}"],
                          cwd=ops_repo, env=_env(ops_repo), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed=0" in done.stdout
