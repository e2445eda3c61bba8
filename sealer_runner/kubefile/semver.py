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
