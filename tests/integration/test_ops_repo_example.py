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
from sealer_runner.image.reference import parse_reference
from sealer_runner.image.store import Store
from sealer_runner.registry.auth import AuthStore, Credentials
from sealer_runner.registry.config import RegistryConfig
from sealer_runner.registry.transfer import Registries, push
from sealer_runner.util.secret import Secret
from tests.support.registry import RegistryServer, make_tls
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


def _saved_image(tmp_path: Path) -> tuple[Store, str]:
    store = Store(tmp_path / "store")
    ctx = tmp_path / "ctx"
    (ctx / "etc").mkdir(parents=True)
    (ctx / "etc" / "settings.yaml").write_text("replicas: 1\n")
    (ctx / "Kubefile").write_text("FROM scratch\nCOPY etc etc\nCMDS [\"echo launched\"]\n")
    tag = "example.com/demo/cluster:v1"
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=(tag,), platforms=("linux/amd64",)))
    archive.save(store, [store.lookup(tag)], tmp_path / "cluster.tar")
    return store, tag


def _validate(repo: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """The validate phase: on the controller (the reach play's raw probes run locally)."""
    return subprocess.run([BIN / "ansible-playbook", "-i", "inventory", *args, "--tags", "validate",
                           "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}"],
                          cwd=repo, env=_env(repo), capture_output=True, text=True, timeout=300)


def test_validate_phase_accepts_the_example_with_a_saved_image(ops_repo, tmp_path):
    """The example's group_vars, their templates resolved, and image-vars.yml made as the README says."""
    _saved_image(tmp_path)
    script = ops_repo / "collections/ansible_collections/sealer/cluster/scripts/image_vars.py"
    subprocess.run([sys.executable, "-I", script, tmp_path / "cluster.tar", ops_repo / "image"], check=True,
                   capture_output=True, timeout=120)
    done = _validate(ops_repo, "sealer.cluster.run", "-e", "@image/image-vars.yml")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed=0" in done.stdout


def test_run_yml_reads_a_saved_archive_through_the_image_role(ops_repo, tmp_path):
    """run.yml (AWX's playbook): sealer.cluster.image unpacks sealer_image_archive for every host, then run."""
    store, tag = _saved_image(tmp_path)
    done = _validate(ops_repo, "run.yml", "-e", f"sealer_image_archive={tmp_path / 'cluster.tar'}",
                     "-e", f"sealer_image_work_dir={tmp_path / 'work'}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    got = yaml.load((tmp_path / "work" / "image-vars.yml").read_text(), Loader=_Loader)  # noqa: S506
    assert got["sealer_image"] == tag
    assert got["sealer_image_digest"] == str(store.lookup(tag).descriptor.digest)

    neither = _validate(ops_repo, "run.yml")
    assert neither.returncode != 0 and "exactly one of them" in neither.stdout, neither.stdout[-3000:]


def test_run_yml_pulls_from_a_registry_with_credentials(ops_repo, tmp_path):
    """sealer_image_pull: skopeo copies every platform into an OCI layout (credentials in a 0600 file that is
    removed, never on a command line); a second run works on the same work directory; a wrong password fails
    without being shown."""
    store, tag = _saved_image(tmp_path)
    users = {"ops": "s3cret-pull"}
    with RegistryServer(tmp_path / "registry", tls=make_tls(tmp_path / "tls"), users=users) as server:
        regs = Registries(RegistryConfig(ca_file=str(tmp_path / "tls" / "ca.crt")),
                          AuthStore(tmp_path / "auth.json", docker_config=tmp_path / "none"))
        regs.auth.put(server.host, Credentials("ops", Secret("s3cret-pull")))
        ref = f"{server.host}/demo/cluster:v1"
        push(store, store.lookup(tag), parse_reference(ref), regs)
        args = ["run.yml", "-e", f"sealer_image_pull={ref}", "-e", f"sealer_image_work_dir={tmp_path / 'work'}",
                "-e", "sealer_image_pull_tls_verify=false", "-e", "sealer_image_pull_username=ops",
                "-e", "sealer_image_pull_password=s3cret-pull", "-v"]
        first = _validate(ops_repo, *args)
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
        assert "s3cret-pull" not in first.stdout + first.stderr
        assert not (tmp_path / "work" / "auth.json").exists()
        got = yaml.load((tmp_path / "work" / "image-vars.yml").read_text(), Loader=_Loader)  # noqa: S506
        assert got["sealer_image"] == ref
        assert got["sealer_image_digest"] == str(store.lookup(tag).descriptor.digest)
        assert all(Path(la["source"]).is_relative_to(tmp_path / "work" / "oci") for la in got["sealer_layers"])

        again = _validate(ops_repo, *args)
        assert again.returncode == 0, again.stdout[-3000:]

        wrong = _validate(ops_repo, *[a.replace("s3cret-pull", "not-it") for a in args])
        assert wrong.returncode != 0 and "not-it" not in wrong.stdout + wrong.stderr, wrong.stdout[-3000:]
        assert not (tmp_path / "work" / "auth.json").exists()
