"""Validation of KUBEVERSION ranges.

The syntax is that of Masterminds/semver v3 constraints, which sealer documents
for ``app.alpha.sealer.io/supported-kube-version``:

* ``||`` separates alternatives; inside one, ``,`` or blanks separate constraints
  that must all hold;
* a constraint is an optional operator (``= != > < >= => <= =< ~ ~> ^``) and a
  version ``[v]MAJOR[.MINOR[.PATCH]][-PRERELEASE][+BUILD]`` where a number may be
  ``x``, ``X`` or ``*``; blanks may separate the operator from the version;
* ``A - B`` (blanks around ``-``) is the inclusive range ``>= A, <= B``.

Examples: ``>=1.22 <1.26``, ``1.22.x``, ``^1.24.0``, ``1.22 - 1.24 || 1.26.x``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .problem import InstructionError

_NUMBER = r"(?:\d+|[xX*])"
_IDENTIFIERS = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = rf"v?{_NUMBER}(?:\.{_NUMBER}){{0,2}}(?:-{_IDENTIFIERS})?(?:\+{_IDENTIFIERS})?"
_OPERATOR = r"!=|>=|=>|<=|=<|~>|>|<|=|~|\^"

_VERSION_RE = re.compile(_VERSION)
_OPERATOR_RE = re.compile(_OPERATOR)
_CONSTRAINT_RE = re.compile(rf"(?:{_OPERATOR})?{_VERSION}")


def validate_range(text: str) -> str:
    """Return *text* stripped if it is a valid semver range, else raise :class:`InstructionError`."""
    value = text.strip()
    if not value:
        raise InstructionError("KUBEVERSION requires a semver range, e.g. KUBEVERSION >=1.22 <1.26")
    for alternative in value.split("||"):
        for part in alternative.split(","):
            if not _valid_constraints(part.split()):
                raise InstructionError(f"invalid KUBEVERSION semver range: {value}")
    return value


def _valid_constraints(tokens: list[str]) -> bool:
    """True if *tokens* (one comma-separated part) are one or more valid constraints."""
    if not tokens:
        return False
    index = 0
    while index < len(tokens):
        consumed = _hyphen_range(tokens, index) or _constraint(tokens, index)
        if not consumed:
            return False
        index += consumed
    return True


def _hyphen_range(tokens: list[str], index: int) -> int:
    """3 if ``tokens[index:index+3]`` is ``VERSION - VERSION``, else 0."""
    window = tokens[index : index + 3]
    if len(window) == 3 and window[1] == "-":
        if _VERSION_RE.fullmatch(window[0]) and _VERSION_RE.fullmatch(window[2]):
            return 3
    return 0


def _constraint(tokens: list[str], index: int) -> int:
    """How many tokens the constraint at *index* uses (an operator may stand alone), or 0."""
    token = tokens[index]
    if _OPERATOR_RE.fullmatch(token) and index + 1 < len(tokens):
        return 2 if _VERSION_RE.fullmatch(tokens[index + 1]) else 0
    return 1 if _CONSTRAINT_RE.fullmatch(token) else 0


# ------------------------------------------------------------------ evaluation

Version = tuple[int, int, int]


def admits(text: str, version: Version) -> bool:
    """Whether the (valid) range *text* admits *version*, with Masterminds/semver v3's rules: a partial
    version is a wildcard for ``=``, ``>`` and ``<=`` (``>1.25`` is ``>=1.26.0``, ``<=1.25`` takes every
    1.25.x), ``~1.25`` is ``>=1.25.0 <1.26.0`` and ``^1.25`` is ``>=1.25.0 <2.0.0``."""
    return any(all(_holds(op, bound, version) for op, bound in alternative) for alternative in _compiled(text))


@lru_cache(maxsize=64)
def _compiled(text: str) -> tuple[tuple[tuple[str, str], ...], ...]:
    """The range's alternatives, each its (operator, version) constraints."""
    return tuple(tuple(_constraints([t for part in alternative.split(",") for t in part.split()]))
                 for alternative in validate_range(text).split("||"))


def _constraints(tokens: list[str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    index = 0
    while index < len(tokens):
        if _hyphen_range(tokens, index):
            out += [(">=", tokens[index]), ("<=", tokens[index + 2])]
            index += 3
            continue
        token = tokens[index]
        if _OPERATOR_RE.fullmatch(token):
            out.append((token, tokens[index + 1]))
            index += 2
            continue
        match = _OPERATOR_RE.match(token)
        op = match.group(0) if match and not _VERSION_RE.fullmatch(token) else ""
        out.append((op, token[len(op):]))
        index += 1
    return out


def _bound(text: str) -> tuple[list[int | None], int]:
    """The numbers of a constraint's version (None where a wildcard or missing) and how many were given."""
    core = text.lstrip("v").split("-", 1)[0].split("+", 1)[0]
    parts: list[int | None] = [None if p in ("x", "X", "*") else int(p) for p in core.split(".")]
    return parts + [None] * (3 - len(parts)), len(parts)


def _holds(op: str, text: str, version: Version) -> bool:
    (major, minor, patch), _ = _bound(text)
    if major is None:  # "*", "x": any version
        return op != "!="
    floor = (major, minor or 0, patch or 0)
    minor_dirty, patch_dirty = minor is None, minor is None or patch is None
    if op in ("", "="):
        return _equal(version, floor, minor_dirty, patch_dirty)
    if op == "!=":
        return not _equal(version, floor, minor_dirty, patch_dirty)
    if op == ">":
        if not patch_dirty:
            return version > floor
        if version[0] != major:
            return version[0] > major
        return False if minor_dirty else version[1] > floor[1]
    if op in (">=", "=>"):
        return version >= floor
    if op == "<":
        return version < floor
    if op in ("<=", "=<"):
        if not patch_dirty:
            return version <= floor
        if version[0] != major:
            return version[0] < major
        return True if minor_dirty else version[1] <= floor[1]
    if op in ("~", "~>"):
        return version >= floor and version[0] == major and (minor_dirty or version[1] == floor[1])
    # "^": no change left of the first non-zero number
    if version < floor:
        return False
    if major > 0 or minor_dirty:
        return version[0] == major
    if floor[1] > 0 or patch_dirty:
        return version[:2] == floor[:2]
    return version == floor


def _equal(version: Version, floor: Version, minor_dirty: bool, patch_dirty: bool) -> bool:
    if minor_dirty:
        return version[0] == floor[0]
    if patch_dirty:
        return version[:2] == floor[:2]
    return version == floor
