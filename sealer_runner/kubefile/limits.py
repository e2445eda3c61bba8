"""Input limits of the Kubefile parser.

A Kubefile comes from whoever wrote the image, not always from the operator. These caps keep a hostile
or broken one from costing more than a fraction of a second or a few tens of MiB; no real Kubefile
comes near them (they are documented in ``docs/kubefile.md``, "Limits").
"""

from __future__ import annotations

import re

MiB = 1024 * 1024

MAX_KUBEFILE_BYTES = 4 * MiB
"""The whole Kubefile, as UTF-8 bytes."""
MAX_INSTRUCTION_CHARS = 1 * MiB
"""One instruction, continuation lines joined."""
MAX_INSTRUCTIONS = 10_000
"""Instructions in one Kubefile."""
MAX_VARIABLES = 1_000
"""Distinct ARG and ENV names in one Kubefile."""
MAX_VALUE_CHARS = 1 * MiB
"""One word after variable expansion."""
MAX_EXPANDED_CHARS = 16 * MiB
"""Everything variable expansion produces in one parse, all instructions together."""
PATH_MAX = 4096
"""A COPY/APP source or destination path, in bytes (Linux's PATH_MAX)."""
NAME_MAX = 255
"""One component of such a path, in bytes (Linux's NAME_MAX)."""

_FORBIDDEN = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]|\r(?!\n|\Z)")
"""Control characters with no place in a Kubefile: NUL and the C0 controls but for tab, line feed,
the blanks ``\\v`` and ``\\f``, and a carriage return that ends a line; and DEL."""


def forbidden_char(text: str) -> int:
    """Index of the first forbidden control character in *text*, or -1."""
    match = _FORBIDDEN.search(text)
    return match.start() if match else -1


def describe_char(char: str) -> str:
    """``U+0000 (NUL)`` style name of a control character."""
    names = {"\0": "NUL", "\r": "carriage return without line feed", "\x1b": "ESC", "\x7f": "DEL"}
    name = names.get(char)
    return f"U+{ord(char):04X}" + (f" ({name})" if name else "")
