"""The collection's metadata says what is true: requires_ansible spans exactly the ansible-core versions
pyproject.toml allows, and the README (shipped in the Galaxy tarball, alone) links nothing outside the
collection and names only tags the playbook has."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from sealer_runner.run.phase_tags import KEPT, play_tags

ROOT = Path(__file__).resolve().parents[3]
COLLECTION = ROOT / "collection"


def _bounds(specifiers: SpecifierSet) -> tuple[str, str]:
    lower = [s.version for s in specifiers if s.operator == ">="]
    upper = [s.version for s in specifiers if s.operator == "<"]
    assert len(lower) == 1 and len(upper) == 1, specifiers
    return lower[0], upper[0]


def test_requires_ansible_spans_the_ansible_core_pyproject_allows():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [_bounds(r.specifier) for r in map(Requirement, deps) if r.name == "ansible-core"]
    requires = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())["requires_ansible"]
    lowest = min((lo for lo, _ in pins), key=lambda v: tuple(map(int, v.split("."))))
    highest = max((hi for _, hi in pins), key=lambda v: tuple(map(int, v.split("."))))
    assert _bounds(SpecifierSet(requires)) == (lowest, highest)


def test_readme_links_stay_inside_the_collection():
    text = (COLLECTION / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)", text):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (COLLECTION / target).resolve()
        assert resolved.is_relative_to(COLLECTION.resolve()) and resolved.exists(), target


def test_readme_names_only_real_phase_tags():
    text = (COLLECTION / "README.md").read_text()
    sentence = re.search(r"each with its own tag:(.*?)\.", text, re.S)
    assert sentence, "the README lists the phase tags"
    named = set(re.findall(r"`([^`]+)`", sentence.group(1)))
    real = set().union(*play_tags(COLLECTION / "playbooks" / "run.yml")) - KEPT
    assert named and named <= real, named - real
