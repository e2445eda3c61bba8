"""Strict, line-aware readers over :mod:`.yamlpos` nodes (internal)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sealer_runner.errors import ClusterfileError

from .validate import Invalid, did_you_mean, env_entry, object_name, one_of, q
from .yamlpos import YMap, YNode, YScalar, YSeq, describe, unprintable

T = TypeVar("T")
_DECIMAL = re.compile(r"-?[0-9]{1,18}")


@dataclass(frozen=True)
class Ctx:
    """Where errors go: the file name and a prefix such as ``Plugin "x": ``."""

    filename: str
    prefix: str = ""

    def error(self, line: int | None, path: str, message: str) -> ClusterfileError:
        """Build (not raise) a ClusterfileError ``path: message`` at *line*."""
        where = f"{path}: " if path else ""
        return ClusterfileError(f"{self.prefix}{where}{message}", file=self.filename, line=line)

    def warning(self, line: int | None, path: str, message: str) -> str:
        """Format a warning the way errors are rendered."""
        where = f"{self.filename}:{line}" if line is not None else self.filename
        field = f"{path}: " if path else ""
        return f"{where}: {self.prefix}{field}{message}"

    def within(self, prefix: str) -> "Ctx":
        """A context whose messages start with *prefix*."""
        return Ctx(self.filename, prefix)


def join(path: str, key: str) -> str:
    """``spec`` + ``ssh`` -> ``spec.ssh``; empty path -> ``ssh``."""
    return f"{path}.{key}" if path else key


def index(path: str, position: int) -> str:
    """``hosts`` + 1 -> ``hosts[1]``."""
    return f"{path}[{position}]"


class Fields:
    """The keys of one mapping, already checked against an allowed list."""

    def __init__(self, ctx: Ctx, node: YMap, path: str) -> None:
        self.ctx = ctx
        self.node = node
        self.path = path

    def get(self, key: str) -> YNode | None:
        """The value of *key*, or None when absent or null."""
        value = self.node.entries.get(key)
        if isinstance(value, YScalar) and value.kind == "null":
            return None
        return value

    def line(self, key: str) -> int:
        """Line of *key* if present, else of the mapping itself."""
        return self.node.key_lines.get(key, self.node.line)

    def at(self, key: str) -> str:
        """Path of *key* below this mapping."""
        return join(self.path, key)

    def require(self, key: str) -> YNode:
        """The value of *key*; missing or null is an error at the mapping."""
        value = self.get(key)
        if value is None:
            raise self.ctx.error(self.line(key), self.at(key), "is required")
        return value

    def read(self, key: str, reader: Callable[[Ctx, YNode, str], T], default: T) -> T:
        """Apply *reader* to *key* if set, else return *default*."""
        value = self.get(key)
        return default if value is None else reader(self.ctx, value, self.at(key))

    def checked(self, key: str, validator: Callable[[str], T], default: T) -> T:
        """The string at *key* passed through a :mod:`.validate` function."""
        value = self.get(key)
        return default if value is None else checked_str(self.ctx, value, self.at(key), validator)

    def choice(self, key: str, choices: Sequence[str], what: str, default: T) -> str | T:
        """The string at *key*, which must be one of *choices*."""
        return self.checked(key, lambda text: one_of(text, choices, what), default)


def fields(ctx: Ctx, node: YNode, path: str, allowed: Sequence[str], label: str = "") -> Fields:
    """Check *node* is a mapping whose keys are all in *allowed*.

    Errors name *path* (or *label* when the path is empty, e.g. ``spec``).
    """
    where = path or label
    if not isinstance(node, YMap):
        raise ctx.error(node.line, where, f"expected a mapping, got {describe(node)}")
    for key in node.entries:
        if key not in allowed:
            message = f"unknown field {q(key)}{did_you_mean(key, allowed)}"
            raise ctx.error(node.key_lines[key], where, message)
    return Fields(ctx, node, path)


def as_str(ctx: Ctx, node: YNode, path: str) -> str:
    """A scalar as the text the user wrote (``0022`` stays ``"0022"``); NUL and control characters are refused."""
    return _printable(ctx, node, path, _scalar_text(ctx, node, path))


def _scalar_text(ctx: Ctx, node: YNode, path: str) -> str:
    if not isinstance(node, YScalar) or node.kind == "null":
        raise ctx.error(node.line, path, f"expected a string, got {describe(node)}")
    return node.text


def _printable(ctx: Ctx, node: YNode, path: str, text: str) -> str:
    problem = unprintable(text)
    if problem:
        raise ctx.error(node.line, path, problem)
    return text


def as_nonempty_str(ctx: Ctx, node: YNode, path: str) -> str:
    """Like :func:`as_str` but the empty string is refused."""
    text = as_str(ctx, node, path)
    if not text.strip():
        raise ctx.error(node.line, path, "must not be empty")
    return text


def as_int(ctx: Ctx, node: YNode, path: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number written in decimal, as a number or as a string of digits (``0022`` is 22).

    YAML 1.1's other spellings of integers (``0x16``, ``0o26``, ``1:30``, ``2_2``) and floats are
    refused: a port or a count is never meant that way.
    """
    if isinstance(node, YScalar) and node.kind in ("int", "str") and _DECIMAL.fullmatch(node.text.strip()):
        value = int(node.text.strip(), 10)
    else:
        if isinstance(node, YScalar) and node.kind in ("int", "float"):
            got = f"{q(node.text)} (write it in decimal digits)"
        else:
            got = describe(node) if not isinstance(node, YScalar) or node.kind != "str" else q(node.text)
        raise ctx.error(node.line, path, f"expected a whole number, got {got}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ctx.error(node.line, path, f"{value} is out of range (must be {bounds})")
    return value


def as_bool(ctx: Ctx, node: YNode, path: str) -> bool:
    """``true`` or ``false`` (unquoted)."""
    if isinstance(node, YScalar) and node.kind == "bool":
        return bool(node.value)
    got = q(node.text) if isinstance(node, YScalar) and node.kind == "str" else describe(node)
    raise ctx.error(node.line, path, f"expected true or false, got {got}")


def as_seq(ctx: Ctx, node: YNode, path: str) -> tuple[YNode, ...]:
    """The items of a list (a lone scalar is refused with a hint)."""
    if isinstance(node, YSeq):
        return node.items
    hint = f" (write [{node.text}])" if isinstance(node, YScalar) and node.kind != "null" else ""
    raise ctx.error(node.line, path, f"expected a list, got {describe(node)}{hint}")


@dataclass(frozen=True)
class Item:
    """A string read from a list, with where it came from."""

    value: str
    line: int
    path: str


def as_str_items(ctx: Ctx, node: YNode, path: str) -> tuple[Item, ...]:
    """A list of strings, each with its line and path."""
    items = []
    for position, child in enumerate(as_seq(ctx, node, path)):
        child_path = index(path, position)
        items.append(Item(as_str(ctx, child, child_path), child.line, child_path))
    return tuple(items)


def as_str_list(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    """A list of strings."""
    return tuple(item.value for item in as_str_items(ctx, node, path))


def as_nonempty_str_list(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    """A list of non-empty strings."""
    items = as_str_items(ctx, node, path)
    for item in items:
        if not item.value.strip():
            raise ctx.error(item.line, item.path, "must not be empty")
    return tuple(item.value for item in items)


def as_str_pairs(ctx: Ctx, node: YNode, path: str) -> tuple[tuple[str, Item], ...]:
    """A mapping of strings to strings (null is ""), values with their line and path."""
    if not isinstance(node, YMap):
        raise ctx.error(node.line, path, f"expected a mapping, got {describe(node)}")
    pairs = []
    for key, value in node.entries.items():
        key_path = join(path, key)
        text = "" if isinstance(value, YScalar) and value.kind == "null" else as_str(ctx, value, key_path)
        pairs.append((key, Item(text, node.key_lines[key], key_path)))
    return tuple(pairs)


def checked_str(ctx: Ctx, node: YNode, path: str, validator: Callable[[str], T]) -> T:
    """Read a string from *node* and run a :mod:`.validate` function on it (its message comes first)."""
    text = _scalar_text(ctx, node, path)
    value = check(ctx, node.line, path, validator, text)
    _printable(ctx, node, path, text)
    return value


def checked_items(ctx: Ctx, node: YNode, path: str, validator: Callable[[str], T]) -> tuple[T, ...]:
    """A list of strings, each run through a :mod:`.validate` function."""
    return tuple(check(ctx, item.line, item.path, validator, item.value) for item in as_str_items(ctx, node, path))


def check(ctx: Ctx, line: int, path: str, validator: Callable[[str], T], value: str) -> T:
    """Run a :mod:`.validate` function, turning :class:`Invalid` into an error."""
    try:
        return validator(value)
    except Invalid as exc:
        raise ctx.error(line, path, str(exc)) from None


def read_env(ctx: Ctx, node: YNode, path: str) -> dict[str, str]:
    """A sealer env list ``[KEY=VALUE, ...]``; a key may appear once."""
    env: dict[str, str] = {}
    lines: dict[str, Item] = {}
    for item in as_str_items(ctx, node, path):
        key, value = check(ctx, item.line, item.path, env_entry, item.value)
        if key in env:
            first = lines[key]
            raise ctx.error(
                item.line,
                item.path,
                f"{key} is already set by {first.path} (line {first.line}); write one entry KEY=a;b for a list",
            )
        env[key] = value
        lines[key] = item
    return env


def read_names(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    """A list of distinct object names (apps)."""
    names: list[str] = []
    for item in as_str_items(ctx, node, path):
        name = check(ctx, item.line, item.path, object_name, item.value)
        if name in names:
            raise ctx.error(item.line, item.path, f"{q(name)} is listed twice")
        names.append(name)
    return tuple(names)
