"""KUBEVERSION semver ranges (Masterminds/semver syntax)."""

from __future__ import annotations

import pytest

from sealer_runner.kubefile.problem import InstructionError
from sealer_runner.kubefile.semver import admits, validate_range


@pytest.mark.parametrize(
    "text",
    [
        ">=1.22 <1.26",
        ">=1.22, <1.26",
        ">= 1.22, < 1.26",
        "1.22.x",
        "1.x",
        "*",
        "^1.24.0",
        "~1.24",
        "~>1.24.3",
        "=1.24.3",
        "!=1.24.1",
        "=>1.22 =<1.25",
        "v1.24.3",
        "1.22 - 1.24",
        "1.22 - 1.24 || 1.26.x",
        ">=1.25.0-0",
        "1.24.3-rc.1+build.5",
        "  >=1.22  ",
    ],
)
def test_valid_ranges(text: str) -> None:
    assert validate_range(text) == text.strip()


@pytest.mark.parametrize(
    "text",
    [
        "latest",
        "1.22 <",
        ">> 1.22",
        "1.22..3",
        "1.2.3.4",
        ">=1.22 ||",
        "|| 1.22",
        "1.22,,1.23",
        "1.22 -1.24",
        "1.22 - ",
        "> = 1.22",
        "1.22; rm -rf /",
        "x.y.z-",
    ],
)
def test_invalid_ranges(text: str) -> None:
    with pytest.raises(InstructionError, match="invalid KUBEVERSION semver range"):
        validate_range(text)


def test_empty_range() -> None:
    with pytest.raises(InstructionError, match="requires a semver range"):
        validate_range("   ")


# ------------------------------------------------------------------ evaluation (Masterminds/semver v3 rules)


@pytest.mark.parametrize(
    ("text", "admitted", "refused"),
    [
        (">=1.22 <1.26", ["1.22.0", "1.25.99"], ["1.21.9", "1.26.0"]),
        (">= 1.22, < 1.26", ["1.23.4"], ["1.26.1"]),
        ("1.22.x", ["1.22.0", "1.22.17"], ["1.23.0", "1.21.9"]),
        ("1.22", ["1.22.5"], ["1.23.0"]),  # a partial version is a wildcard
        ("=1.24.3", ["1.24.3"], ["1.24.4"]),
        ("!=1.25", ["1.24.9", "1.26.0"], ["1.25.3"]),
        (">1.25", ["1.26.0"], ["1.25.9"]),  # > a partial version: above every 1.25.x
        (">1.25.2", ["1.25.3"], ["1.25.2"]),
        ("<=1.25", ["1.25.99"], ["1.26.0"]),
        ("=<1.25.2", ["1.25.2"], ["1.25.3"]),
        ("~1.24", ["1.24.0", "1.24.9"], ["1.25.0", "1.23.9"]),
        ("~>1.24.3", ["1.24.3"], ["1.24.2", "1.25.0"]),
        ("^1.24.0", ["1.30.0"], ["1.23.9", "2.0.0"]),
        ("1.22 - 1.24", ["1.22.0", "1.24.17"], ["1.25.0"]),
        ("1.22 - 1.24 || 1.26.x", ["1.26.1"], ["1.25.0"]),
        (">=1.25.0-0", ["1.25.0"], ["1.24.9"]),
        ("v1.24.3", ["1.24.3"], ["1.24.2"]),
        ("*", ["1.2.3"], []),
        ("1.x", ["1.30.0"], ["2.0.0"]),
    ],
)
def test_admits(text, admitted, refused):
    def version(v):
        return tuple(int(n) for n in v.split("."))

    assert all(admits(text, version(v)) for v in admitted)
    assert not any(admits(text, version(v)) for v in refused)


def test_admits_refuses_an_invalid_range():
    with pytest.raises(InstructionError):
        admits(">>1.2", (1, 2, 0))
