"""KUBEVERSION semver ranges (Masterminds/semver syntax)."""

from __future__ import annotations

import pytest

from sealer_runner.kubefile.problem import InstructionError
from sealer_runner.kubefile.semver import validate_range


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
