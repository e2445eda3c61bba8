"""Helpers shared by the Kubefile unit tests."""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping

import pytest

from sealer_runner.errors import KubefileError
from sealer_runner.kubefile import BuildPlan, parse_kubefile

Parse = Callable[..., BuildPlan]
Fail = Callable[..., KubefileError]


@pytest.fixture
def context(tmp_path: pathlib.Path) -> pathlib.Path:
    """An empty build context directory."""
    root = tmp_path / "context"
    root.mkdir()
    return root


@pytest.fixture
def parse(context: pathlib.Path) -> Parse:
    """``parse(text, **build_args)`` against the ``context`` fixture."""

    def run(text: str, build_args: Mapping[str, str] = {}) -> BuildPlan:
        return parse_kubefile(text, context_dir=context, build_args=build_args)

    return run


@pytest.fixture
def fail(parse: Parse) -> Fail:
    """``fail(text)``: parse, expect a KubefileError and return it."""

    def run(text: str, build_args: Mapping[str, str] = {}) -> KubefileError:
        with pytest.raises(KubefileError) as info:
            parse(text, build_args)
        return info.value

    return run


@pytest.fixture
def files(context: pathlib.Path) -> Callable[[Mapping[str, str]], None]:
    """``files({"a/b.yaml": "text", ...})`` creates files in the build context."""

    def run(contents: Mapping[str, str]) -> None:
        for name, text in contents.items():
            path = context / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    return run
