"""execution-environment.yml (ansible-builder v3): `ansible-builder create` writes a build context offline with the
collection tarball of galaxy.yml's version, an ansible-core pin inside the collection's requires_ansible, and the
introspection step that installs the collection's requirements.txt and bindep.txt, which ansible-builder finds
in the installed collection (`ansible-builder introspect`). Building the image needs a container engine and a
registry, which these machines lack: docs/awx/README.md gives the command."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

pytestmark = [pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "collection"
BIN = Path(sys.executable).parent
VERSION = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"]
TARBALL = f"sealer-cluster-{VERSION}.tar.gz"


def _run(*argv: object, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The build context `ansible-builder create` writes for execution-environment.yml, with a fresh tarball."""
    work = tmp_path_factory.mktemp("ee")
    shutil.copy2(REPO / "execution-environment.yml", work / "execution-environment.yml")
    _run(BIN / "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", work / "dist")
    _run(BIN / "ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context", cwd=work)
    return work / "context"


def _containerfile(context: Path) -> str:
    found = [context / name for name in ("Containerfile", "Dockerfile") if (context / name).is_file()]
    assert found, f"no Containerfile in {sorted(p.name for p in context.iterdir())}"
    return found[0].read_text()


def test_definition_is_v3_and_names_the_galaxy_version():
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert ee["version"] == 3
    assert ee["additional_build_files"][0]["src"] == f"dist/{TARBALL}", "bump execution-environment.yml with galaxy.yml"
    assert ee["dependencies"]["galaxy"]["collections"][0]["name"] == f"/build/collections/{TARBALL}"


def test_context_installs_the_collection_tarball(context):
    assert (context / "_build" / "collections" / TARBALL).is_file()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": f"/build/collections/{TARBALL}", "type": "file"}]
    text = _containerfile(context)
    assert "COPY _build /build" in text and "ansible-galaxy collection install" in text
    assert "introspect" in text, "the collections' requirements.txt / bindep.txt are introspected"


def test_ansible_core_pin_is_inside_requires_ansible(context):
    text = _containerfile(context)
    pin = re.search(r'ANSIBLE_INSTALL_REFS="ansible-core([^ "]+)', text)
    assert pin, text[:2000]
    requires = SpecifierSet(yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())["requires_ansible"])
    lowest = re.search(r">=([\d.]+)", pin.group(1))
    assert lowest and lowest.group(1) in requires, (pin.group(1), str(requires))
    assert SpecifierSet(pin.group(1)).contains("2.21.0") is False


def test_builder_finds_the_collections_python_and_system_needs(tmp_path):
    _run(BIN / "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", tmp_path / "dist")
    _run(BIN / "ansible-galaxy", "collection", "install", "--offline", tmp_path / "dist" / TARBALL,
         "-p", tmp_path / "collections")
    found = yaml.safe_load(_run(BIN / "ansible-builder", "introspect", tmp_path / "collections"))
    python = " ".join(found["python"])
    system = " ".join(found["system"])
    for line in (COLLECTION / "requirements.txt").read_text().splitlines():
        name = re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0]
        if name and not line.startswith("#") and name.lower() != "pyyaml":  # ansible-builder drops ansible-core's own
            assert name in python, (name, found["python"])
    for line in (COLLECTION / "bindep.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert line.split()[0] in system, (line, found["system"])
