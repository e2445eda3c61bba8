"""The sealer.cluster roles' argument specs, for tests that check variables given from outside the front end
(an ops repo's group_vars, AWX survey specs): is a variable documented, and does a value fit its type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

COLLECTION = Path(__file__).resolve().parents[2] / "collection"


def role_options() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Variable name -> [(``role/entry_point``, option spec)], over every role and entry point."""
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in sorted(COLLECTION.glob("roles/*/meta/argument_specs.yml")):
        role = path.parent.parent.name
        for entry, spec in (yaml.safe_load(path.read_text())["argument_specs"] or {}).items():
            for name, option in (spec.get("options") or {}).items():
                out.setdefault(name, []).append((f"{role}/{entry}", option))
    return out


def type_problems(name: str, value: Any, options: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Why *value* does not fit *name*'s spec, per role (Ansible's own validator; types, choices, elements).
    A Jinja2 template is resolved only when the play runs: it is not checked here."""
    if isinstance(value, str) and "{{" in value:
        return []
    problems = []
    for where, option in options:
        spec = {key: val for key, val in option.items() if key not in ("description", "version_added", "required")}
        result = ArgumentSpecValidator({name: spec}).validate({name: value})
        problems += [f"{where}: {error}" for error in result.error_messages]
    return problems
