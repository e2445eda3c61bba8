"""The CLI imports a verb's module only when that verb runs: `version` and `--help` start at once. The
table of verbs (LAZY_COMMANDS) must stay true to the modules: every command they define, its name, and
the one line `--help` shows."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click

import sealer_runner.cli
from sealer_runner.cli.main import LAZY_COMMANDS, cli, main


def test_the_table_names_every_command_of_every_module_with_its_help():
    defined = {}
    for info in pkgutil.iter_modules(sealer_runner.cli.__path__):
        module = importlib.import_module(f"sealer_runner.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            defined[command.name] = (info.name, command)
    assert set(defined) == set(LAZY_COMMANDS), "every verb is in LAZY_COMMANDS, and nothing else"
    for name, (module, attribute, short) in LAZY_COMMANDS.items():
        command = getattr(importlib.import_module(f"sealer_runner.cli.{module}"), attribute)
        assert isinstance(command, click.Command) and command is defined[name][1]
        assert short == command.get_short_help_str(limit=90), f"{name}: update LAZY_COMMANDS' help line"


def test_version_and_help_import_no_verb_module():
    code = ("import sys; from sealer_runner.cli.main import main; rc = main(['version']); "
            "rc |= main(['--help']); "
            "heavy = sorted(m for m in sys.modules if m.startswith(('sealer_runner.cli.', 'sealer_runner.registry', "
            "'sealer_runner.image.store', 'ansible_runner', 'cryptography', 'urllib3')) "
            "and m not in ('sealer_runner.cli.main', 'sealer_runner.cli.context')); print(rc, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "0 []", out


def test_help_lists_every_verb_and_a_verb_still_runs(capsys):
    assert main(["--help"]) == 0
    shown = capsys.readouterr().out
    for name, (_, _, short) in LAZY_COMMANDS.items():
        assert f"{name} " in shown and short[:40] in shown, name
    assert "version" in shown
    assert main(["images", "--help"]) == 0 and "List the images" in capsys.readouterr().out
    assert cli.get_command(click.Context(cli), "no-such-verb") is None
