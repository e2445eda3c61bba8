"""The collection passes `ansible-lint` with the production profile: no failure and no warning (an
internal-error is only a warning). collection/.ansible-lint holds the profile and the only two skips, whose
reasons are in docs/decisions/ansible-lint.md. Lint runs offline, so nothing is installed or fetched, and
nothing is written into collection/. sealer.cluster.* resolves through a collections path that links to the
checkout, as in test_collection_docs.py. ansible-lint comes with the `test` extra (pyproject.toml); where it
is missing the test skips, and under CI=true tests/conftest.py turns that skip into a failure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "collection"
CONFIG = COLLECTION / ".ansible-lint"
DECISION = REPO / "docs" / "decisions" / "ansible-lint.md"
BIN = Path(sys.executable).parent
ANSIBLE_LINT = BIN / "ansible-lint"
#: The rule tags the collection skips, each explained in docs/decisions/ansible-lint.md.
SKIPPED = {"var-naming[no-role-prefix]", "galaxy[no-repository]"}


def test_collection_passes_ansible_lint_production(tmp_path: Path) -> None:
    if not ANSIBLE_LINT.is_file():
        pytest.skip(f"{ANSIBLE_LINT} is missing: pip install -e '.[test]' installs ansible-lint")
    collections = tmp_path / "collections"
    (collections / "ansible_collections" / "sealer").mkdir(parents=True)
    (collections / "ansible_collections" / "sealer" / "cluster").symlink_to(COLLECTION)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_HOME": str(tmp_path / "home"),
           "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1",
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    had_cache = (COLLECTION / ".ansible").exists()
    started = time.monotonic()
    done = subprocess.run([str(ANSIBLE_LINT), "--config-file", str(CONFIG), "--profile", "production", "--offline",
                           "--nocolor", "-f", "pep8", "."],
                          cwd=COLLECTION, env=env, capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    report = f"ansible-lint exited {done.returncode} after {took:.0f} s\n{done.stdout}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, report
    summary = re.search(r"(Passed|Failed): (\d+) failure\(s\), (\d+) warning\(s\)", done.stderr)
    assert summary and summary.groups() == ("Passed", "0", "0"), report
    assert "Profile 'production' was required, and it passed" in done.stderr, report
    assert had_cache or not (COLLECTION / ".ansible").exists(), "lint wrote a copy of the collection into it"


def test_only_the_documented_skips_and_no_inline_ones() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["profile"] == "production" and config["offline"] is True
    assert set(config.get("skip_list") or []) == SKIPPED, "a new skip needs its reason in " + str(DECISION)
    assert not config.get("warn_list") and not config.get("mock_modules") and not config.get("mock_roles")
    decision = DECISION.read_text()
    assert all(f"`{rule}`" in decision for rule in SKIPPED)
    assert not (COLLECTION / ".ansible-lint-ignore").exists()
    noqa = [f"{p.relative_to(COLLECTION)}:{n}" for p in sorted(COLLECTION.rglob("*.y*ml")) if ".ansible" not in p.parts
            for n, line in enumerate(p.read_text().splitlines(), 1) if "noqa" in line]
    assert not noqa, f"fix the finding instead of a noqa: {noqa}"
