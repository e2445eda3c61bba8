"""The CLI reference (docs/cli.md), made from the commands' own ``--help``, so that it cannot drift from
them: ``python -m sealer_runner.cli.reference > docs/cli.md``; tests/unit/cli/test_cli_reference.py checks
the file is what this prints."""

from __future__ import annotations

import click

from .main import CONTEXT_SETTINGS, LAZY_COMMANDS, cli

WIDTH = 100
HEADER = """\
# sealer_runner command reference

Every command's `--help`, as the installed version prints it (made by `python -m sealer_runner.cli.reference`;
a test keeps this file equal to its output). Exit codes: 0 success, 1 the operation failed, 2 bad usage or
bad input, 3 `apply --plan` with changes pending, 130 interrupted (Ctrl-C).
"""


def _context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
    """The context the command gets when run (its own and its parents' context settings: -h, --help)."""
    settings = {**CONTEXT_SETTINGS, **(command.context_settings or {}), "max_content_width": WIDTH,
                "terminal_width": WIDTH}
    return click.Context(command, info_name=name, parent=parent, **settings)


def _walk(command: click.Command, path: list[str], parent: click.Context | None, out: list[str]) -> None:
    ctx = _context(command, path[-1], parent)
    level = "#" * min(len(path) + 1, 4)
    out.append(f"{level} `{' '.join(path)}`\n\n```\n{command.get_help(ctx).rstrip()}\n```\n")
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                _walk(sub, [*path, name], ctx, out)


def reference() -> str:
    for name in LAZY_COMMANDS:  # import every verb, so that the group lists them with their own help
        cli.get_command(click.Context(cli), name)
    out = [HEADER]
    _walk(cli, ["sealer_runner"], None, out)
    return "\n".join(out)


if __name__ == "__main__":  # pragma: no cover
    print(reference(), end="")
