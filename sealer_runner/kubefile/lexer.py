"""Kubefile text to logical instructions, following Docker's line rules.

* a UTF-8 byte-order mark is ignored, lines end with ``\\n`` (a ``\\r`` before it is dropped);
* blank lines and lines whose first non-blank character is ``#`` are skipped
  (parser directives such as ``# syntax=...`` or ``# escape=...`` are comments here);
* a trailing ``\\`` (optionally followed by blanks) continues the instruction on
  the next line; blank and comment lines inside a continuation are dropped;
* the keyword is case-insensitive; ``--name[=value]`` words right after it are flags
  (``--`` alone ends them).

Instructions longer than :data:`~.limits.MAX_INSTRUCTION_CHARS` and more than
:data:`~.limits.MAX_INSTRUCTIONS` of them are refused (:class:`~.problem.InstructionError` with the line).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from .limits import MAX_INSTRUCTION_CHARS, MAX_INSTRUCTIONS, MiB, describe_char, forbidden_char
from .problem import InstructionError

_BLANKS = " \t\r\f\v"
_WHITESPACE = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True)
class Flag:
    """A ``--name[=value]`` flag; ``value`` is None when there is no ``=``."""

    name: str
    value: str | None


@dataclass(frozen=True)
class Instruction:
    """One logical instruction of a Kubefile."""

    line: int
    """First physical line (1-based)."""
    keyword: str
    """Upper-cased keyword as written."""
    flags: tuple[Flag, ...]
    args: str
    """Everything after the keyword and flags, stripped; continuations joined."""


def lex(text: str) -> list[Instruction]:
    """Split Kubefile *text* into instructions; fails only past the limits (InstructionError with a line)."""
    lines = [line.removesuffix("\r") for line in text.removeprefix("\ufeff").split("\n")]
    instructions = []
    for number, logical in _logical_lines(lines):
        if len(instructions) == MAX_INSTRUCTIONS:
            raise InstructionError(f"more than {MAX_INSTRUCTIONS} instructions in one Kubefile", line=number)
        instructions.append(_instruction(number, logical))
    return instructions


def split_first_word(text: str) -> tuple[str, str]:
    """``"a  b c"`` -> ``("a", "b c")``, splitting on blanks only."""
    parts = _WHITESPACE.split(text.strip(_BLANKS), maxsplit=1)
    return parts[0], parts[1] if len(parts) > 1 else ""


def json_array(args: str) -> tuple[str, ...] | None:
    """The strings of a JSON-form argument list, or None when *args* is shell form.

    Like Docker, anything that is not exactly a JSON array of strings is shell form.
    """
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        for item in value:
            _check_json_string(item)
        return tuple(value)
    return None


def _check_json_string(item: str) -> None:
    """JSON escapes may not smuggle in what the text itself may not hold (NUL, lone surrogates...)."""
    bad = forbidden_char(item)
    if bad >= 0:
        raise InstructionError(f"control character {describe_char(item[bad])} in a JSON string")
    try:
        item.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InstructionError(f"lone surrogate U+{ord(item[exc.start]):04X} in a JSON string") from None


def _logical_lines(lines: list[str]) -> Iterator[tuple[int, str]]:
    index = 0
    while index < len(lines):
        start = index
        parts = [lines[index].lstrip()]
        size = len(parts[0])
        index += 1
        if _is_skipped(parts[0]):
            continue
        while _continues(parts[-1]):
            parts[-1] = parts[-1].rstrip(" \t")[:-1]
            while index < len(lines) and _is_skipped(lines[index].lstrip()):
                index += 1
            if index == len(lines):
                break
            parts.append(lines[index])
            size += len(lines[index])
            index += 1
            if size > MAX_INSTRUCTION_CHARS:
                break
        if size > MAX_INSTRUCTION_CHARS:
            message = f"instruction is longer than {MAX_INSTRUCTION_CHARS // MiB} MiB"
            raise InstructionError(message, line=start + 1)
        text = "".join(parts)
        if text.strip():
            yield start + 1, text


def _is_skipped(stripped: str) -> bool:
    return not stripped or stripped.startswith("#")


def _continues(text: str) -> bool:
    return text.rstrip(" \t").endswith("\\")


def _instruction(line: int, text: str) -> Instruction:
    keyword, rest = split_first_word(text.strip())
    flags: list[Flag] = []
    while rest.startswith("--"):
        word, rest = split_first_word(rest)
        if word == "--":
            break
        name, equals, value = word[2:].partition("=")
        flags.append(Flag(name, value if equals else None))
    return Instruction(line, keyword.upper(), tuple(flags), rest)
