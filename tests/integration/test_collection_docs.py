"""Every module's DOCUMENTATION / EXAMPLES / RETURN is strict YAML (no duplicate key) and renders in
`ansible-doc`, with the check_mode and diff_mode attributes; every role's meta/argument_specs.yml renders in
`ansible-doc -t role`, and no option carries a key Ansible does not know (a flow mapping cut at a comma
turns the rest of a description into such a key, silently)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = [pytest.mark.integration]

COLLECTION = Path(__file__).resolve().parents[2] / "collection"
ANSIBLE_DOC = str(Path(sys.executable).parent / "ansible-doc")
MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("[!_]*.py"))
ROLES = sorted(p.parent.parent.name for p in (COLLECTION / "roles").glob("*/meta/argument_specs.yml"))
#: The keys an option of a role's argument spec may have (Ansible's validate_argument_spec).
OPTION_KEYS = {"type", "required", "default", "choices", "elements", "description", "options", "version_added",
               "no_log", "aliases", "apply_defaults", "mutually_exclusive", "required_together",
               "required_one_of", "required_if", "required_by"}


class StrictLoader(yaml.SafeLoader):
    """SafeLoader refusing a mapping key given twice (PyYAML keeps the last one, Ansible warns)."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _doc_strings(module: str) -> dict[str, str]:
    tree = ast.parse((COLLECTION / "plugins" / "modules" / f"{module}.py").read_text())
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant)
            and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN")}


@pytest.fixture(scope="module")
def ansible_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("collections")
    (base / "ansible_collections" / "sealer").mkdir(parents=True)
    (base / "ansible_collections" / "sealer" / "cluster").symlink_to(COLLECTION)
    return {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(base), "ANSIBLE_NOCOLOR": "1"}


def _ansible_doc(env: dict[str, str], kind: str, names: list[str]) -> dict[str, Any]:
    done = subprocess.run([ANSIBLE_DOC, "-t", kind, "--json", *(f"sealer.cluster.{n}" for n in names)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "[ERROR]" not in done.stderr and "[WARNING]" not in done.stderr, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    assert sorted(found) == [f"sealer.cluster.{n}" for n in names], done.stderr
    return found


@pytest.mark.parametrize("module", MODULES)
def test_module_docs_are_strict_yaml(module: str) -> None:
    docs = _doc_strings(module)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    parsed = {name: yaml.load(text, StrictLoader) for name, text in docs.items()}
    assert parsed["DOCUMENTATION"]["module"] == module
    assert {"check_mode", "diff_mode"} <= set(parsed["DOCUMENTATION"].get("attributes") or {})
    assert isinstance(parsed["EXAMPLES"], list) and all(isinstance(task, dict) for task in parsed["EXAMPLES"])
    assert isinstance(parsed["RETURN"], dict | None)


def test_every_module_renders_in_ansible_doc(ansible_env: dict[str, str]) -> None:
    found = _ansible_doc(ansible_env, "module", MODULES)
    for name, entry in found.items():
        assert entry["doc"]["short_description"] and entry["doc"]["description"], name


def _unknown_keys(options: dict[str, Any] | None, where: str) -> list[str]:
    bad = []
    for name, spec in (options or {}).items():
        bad += [f"{where}.{name}: {key!r}" for key in set(spec or {}) - OPTION_KEYS]
        bad += _unknown_keys((spec or {}).get("options"), f"{where}.{name}")
    return bad


@pytest.mark.parametrize("role", ROLES)
def test_role_argument_specs_use_only_known_keys(role: str) -> None:
    specs = yaml.load((COLLECTION / "roles" / role / "meta" / "argument_specs.yml").read_text(),
                      StrictLoader)["argument_specs"]
    bad = [key for entry, spec in specs.items() for key in _unknown_keys(spec.get("options"), f"{role}:{entry}")]
    assert not bad, "unknown option keys (a description cut at a comma? quote it): " + "; ".join(bad)


def test_every_role_renders_in_ansible_doc(ansible_env: dict[str, str]) -> None:
    found = _ansible_doc(ansible_env, "role", ROLES)
    for name, entry in found.items():
        assert entry["entry_points"]["main"]["short_description"], name
