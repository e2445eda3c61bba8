"""docs/cli.md is every command's --help as the code prints it (sealer_runner/cli/reference.py)."""

from __future__ import annotations

import re
from pathlib import Path

from sealer_runner.cli.main import LAZY_COMMANDS
from sealer_runner.cli.reference import reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "cli.md"


def test_the_reference_is_what_the_commands_print():
    made = reference()
    assert DOC.read_text() == made, "docs/cli.md is stale: python -m sealer_runner.cli.reference > docs/cli.md"


def test_every_verb_and_subcommand_has_a_section():
    sections = set(re.findall(r"^#+ `sealer_runner ?([^`]*)`$", reference(), re.M))
    assert set(LAZY_COMMANDS) | {"version", "", "etcd backup", "etcd restore", "state pull", "infra apply"} <= sections
