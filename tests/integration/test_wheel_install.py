"""A built wheel works on its own: installed outside the checkout, sealer_runner finds the sealer.cluster
collection and the playbooks inside the installed package (not in this checkout), loads the hosts'
layer rules from there, and runs a playbook phase through ansible-runner with that collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Runs in the installed package (PYTHONPATH=<target>, cwd outside the checkout): where things resolve,
# then the validate phase of a one-host local run (the same path `sealer_runner run` takes).
PROBE = textwrap.dedent("""\
    import json, sys
    from dataclasses import replace
    from pathlib import Path
    import sealer_runner
    from sealer_runner.bundled import COLLECTION_DIR, PLAYBOOKS_DIR
    from sealer_runner.build.builder import Builder, BuildOptions
    from sealer_runner.clusterfile import load_clusterfile
    from sealer_runner.image import layer
    from sealer_runner.image.store import Store
    from sealer_runner.run.cluster import build_request, collections_path
    from sealer_runner.run.runner import run

    work = Path(sys.argv[1])
    store = Store(work / "store")
    ctx = work / "ctx"
    ctx.mkdir()
    (ctx / "Kubefile").write_text("FROM scratch\\nCOPY f f\\n")
    (ctx / "f").write_text("x\\n")
    Builder(store).build(BuildOptions(ctx / "Kubefile", ctx, tags=("example.com/wheel:v1",)))
    spec = load_clusterfile(
        "apiVersion: sealer.io/v2\\nkind: Cluster\\nmetadata: {name: wheel}\\nspec:\\n"
        "  image: example.com/wheel:v1\\n  dataRoot: %s\\n  hosts:\\n    - ips: [127.0.0.1]\\n"
        "      roles: [master]\\n" % (work / "hosts"))
    request = build_request(spec, store, store.root, ssh_key=None, tags=("validate",))
    for hostvars in request.inventory["all"]["hosts"].values():
        hostvars.update(ansible_connection="local", ansible_python_interpreter=sys.executable)
    result = run(replace(request, ssh_password=None))
    print(json.dumps({
        "package": sealer_runner.__file__,
        "collection": str(COLLECTION_DIR), "playbooks": str(PLAYBOOKS_DIR),
        "host_layers": str(layer.HOST_LAYERS), "rules": layer._rules.__file__,
        "link": str((collections_path(work) / "ansible_collections" / "sealer" / "cluster").resolve()),
        "project_dir": str(request.project_dir), "ok": result.ok, "failures": [str(f) for f in result.failures],
    }))
""")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, installed (without its dependencies, which .venv has) into a
    target dir outside the checkout."""
    base = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(base / "dist"), str(REPO)], check=True, timeout=120)
    wheel = next((base / "dist").glob("sealer_runner-*.whl"))
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(base / "site"), str(wheel)],
                   check=True, timeout=120)
    return base / "site"


def _env(site: Path, **extra: str) -> dict[str, str]:
    # PYTHONPATH comes before .venv's editable finder, so `import sealer_runner` is the installed copy.
    return {**os.environ, "PYTHONPATH": str(site), "ANSIBLE_NOCOLOR": "1", **extra}


def test_installed_wheel_runs_with_its_bundled_collection(installed: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    done = subprocess.run([sys.executable, "-c", PROBE, str(work)], cwd=tmp_path, env=_env(installed),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads(done.stdout.splitlines()[-1])
    package = installed / "sealer_runner"
    assert Path(found["package"]).parent == package
    assert Path(found["collection"]) == package / "_collection"
    assert Path(found["playbooks"]) == package / "_playbooks"
    assert Path(found["project_dir"]) == package / "_playbooks"
    assert Path(found["host_layers"]) == Path(found["rules"]) == package / "_collection" / "plugins" \
        / "module_utils" / "_layers.py"
    assert Path(found["link"]) == package / "_collection"
    assert found["ok"], found["failures"]

    env = _env(installed, ANSIBLE_COLLECTIONS_PATH=str(work / "collections"))
    listed = subprocess.run([str(BIN / "ansible-doc"), "-t", "module", "-l", "sealer.cluster", "--json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert listed.returncode == 0, listed.stderr
    modules = {name.rsplit(".", 1)[1] for name in json.loads(listed.stdout)}
    assert modules == {p.stem for p in (REPO / "collection" / "plugins" / "modules").glob("[!_]*.py")}


def test_installed_cli_starts_outside_the_checkout(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "from sealer_runner.cli.main import main; main()", "run", "--help"],
                          cwd=tmp_path, env=_env(installed), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout
