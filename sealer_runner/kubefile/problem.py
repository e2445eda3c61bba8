"""The one internal error of the Kubefile helpers.

Helpers (word expansion, semver ranges, source lookup, app detection) do not
know which file or line they work for. They raise :class:`InstructionError`;
the parser turns it into a :class:`~sealer_runner.errors.KubefileError`
located at the instruction being processed.
"""

from __future__ import annotations


class InstructionError(Exception):
    """An instruction is invalid; ``line`` overrides the current instruction's line."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
