"""Fuzzing the Kubefile parser: any input gives a BuildPlan or a KubefileError, nothing else.

``corpus/kubefile/`` keeps small inputs worth replaying (some crashed earlier versions).
"""

from __future__ import annotations

import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealer_runner.errors import KubefileError
from sealer_runner.kubefile import BuildPlan, parse_kubefile

CORPUS = pathlib.Path(__file__).parent / "corpus" / "kubefile"

KEYWORDS = [
    "FROM", "ARG", "ENV", "LABEL", "COPY", "RUN", "CMD", "CMDS", "APP", "CNI", "CSI",
    "APPCMDS", "APPENV", "LAUNCH", "KUBEVERSION", "from", "Copy", "ADD", "MAINTAINER", "#",
]
PIECES = [
    " ", "  ", "\t", "\\", "\\\n", "\n", "\r\n", "#", "# c\n", "=", "\"", "'", "[", "]", "[\"a\"]",
    "[]", "{", "}", "$", "${", "${A}", "${A:-x}", "${A:+y}", "${A:?m}", "$A", "--platform=",
    "--platform=linux/amd64", "--x", "--", "local://", "local://app.yaml", "local://chart",
    "local://run.sh", "local://*", "local://../x", "https://h/x.yaml", "scratch", "nginx:1.25",
    "a.yaml", "*.sh", "..", "../", "/", ".", "dir/", "A=1", "B=\"x y\"", "web", "calico",
    ">=1.22", "<1.26", "1.22 - 1.24", "||", "^1.x", ",", "\x00", "\ufeff", "é", "\u2028", ",,",
]

WORD = st.one_of(st.sampled_from(PIECES), st.text(max_size=6))
INSTRUCTION = st.builds(
    lambda keyword, glue, words: keyword + glue + " ".join(words),
    st.sampled_from(KEYWORDS),
    st.sampled_from([" ", " ", "\t", "", "\\\n  "]),
    st.lists(WORD, max_size=6),
)
KUBEFILE = st.builds(
    lambda with_from, lines: ("FROM scratch\n" if with_from else "") + "\n".join(lines),
    st.booleans(),
    st.lists(INSTRUCTION, max_size=8),
)


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A small build context: one app of each type, a symlink loop, a link out of the context."""
    root = tmp_path_factory.mktemp("fuzz-context")
    (root / "app.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (root / "run.sh").write_text("echo hi\n")
    (root / "chart" / "templates").mkdir(parents=True)
    (root / "chart" / "Chart.yaml").write_text("apiVersion: v2\nname: c\nversion: 0.1.0\n")
    (root / "dir").mkdir()
    (root / "dir" / "file.txt").write_text("x")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "outside").symlink_to(root.parent)
    return root


def _parse(text: str, context: pathlib.Path) -> None:
    """Parse *text*: a BuildPlan or a located KubefileError are the only acceptable outcomes."""
    try:
        plan = parse_kubefile(text, context_dir=context, build_args={"A": "1"})
    except KubefileError as exc:
        assert exc.line is None or exc.line >= 1
        assert str(exc).startswith("Kubefile")
    else:
        assert isinstance(plan, BuildPlan)


@settings(max_examples=300, deadline=None)
@given(text=KUBEFILE)
def test_generated_kubefiles_parse_or_raise_kubefile_error(text: str, context: pathlib.Path) -> None:
    _parse(text, context)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_arbitrary_text_parses_or_raises_kubefile_error(text: str, context: pathlib.Path) -> None:
    _parse(text, context)


@pytest.mark.parametrize("path", sorted(CORPUS.iterdir()), ids=lambda p: p.name)
def test_corpus_replays(path: pathlib.Path, context: pathlib.Path) -> None:
    _parse(path.read_text(encoding="utf-8", errors="surrogateescape"), context)


def test_corpus_valid_example_parses(context: pathlib.Path) -> None:
    plan = parse_kubefile((CORPUS / "complete-valid.kubefile").read_text(), context_dir=context)
    assert plan.launch_apps == ("web", "calico")
