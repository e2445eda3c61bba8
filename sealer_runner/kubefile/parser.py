"""``parse_kubefile``: Kubefile text to a :class:`~.plan.BuildPlan`.

This module owns the rules that span instructions (FROM first and once, LAUNCH
last and once) and turns every :class:`~.problem.InstructionError` into a
:class:`~sealer_runner.errors.KubefileError` located at its instruction.
"""

from __future__ import annotations

import pathlib
from collections.abc import Collection, Mapping

from ..errors import KubefileError
from .instructions import FLAGS, HANDLERS
from .lexer import Instruction, lex
from .plan import BuildPlan
from .problem import InstructionError
from .state import BuildState

_BEFORE_FROM = frozenset({"ARG", "FROM"})


def parse_kubefile(
    text: str,
    *,
    filename: str = "Kubefile",
    context_dir: pathlib.Path,
    build_args: Mapping[str, str] = {},
    base_apps: Collection[str] | None = (),
) -> BuildPlan:
    """Parse Kubefile *text* against the build context *context_dir*.

    *build_args* override ARG defaults (unused ones are ignored). LAUNCH may
    name the apps of the base image listed in *base_apps* (``None``: the base
    is not resolved yet, so names are not checked against it). Raises
    :class:`~sealer_runner.errors.KubefileError` (``FILE:LINE: message``) for
    any invalid input, and nothing else.
    """
    state = BuildState(
        context=_resolved(context_dir, filename),
        build_args=dict(build_args),
        base_apps=None if base_apps is None else frozenset(base_apps),
    )
    for instruction in lex(text):
        try:
            _dispatch(state, instruction)
        except InstructionError as exc:
            message = _printable(exc.message)
            raise KubefileError(message, file=filename, line=exc.line or instruction.line) from None
    if state.from_line is None:
        raise KubefileError("missing FROM instruction", file=filename)
    return state.to_plan()


def _resolved(context_dir: pathlib.Path, filename: str) -> pathlib.Path:
    try:
        return context_dir.resolve()
    except (OSError, RuntimeError) as exc:
        raise KubefileError(f"cannot resolve the build context {context_dir}: {exc}", file=filename) from None


def _printable(message: str) -> str:
    """Escape lone surrogates (from undecodable input bytes) so the message can be printed."""
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def _dispatch(state: BuildState, instruction: Instruction) -> None:
    handler = HANDLERS.get(instruction.keyword)
    if handler is None:
        raise InstructionError(f"unknown instruction: {instruction.keyword}")
    _check_order(state, instruction)
    _check_flags(instruction)
    handler(state, instruction)


def _check_order(state: BuildState, instruction: Instruction) -> None:
    keyword = instruction.keyword
    if state.launch_line is not None:
        if keyword == "LAUNCH":
            raise InstructionError(f"only one LAUNCH is allowed (first at line {state.launch_line})")
        raise InstructionError("LAUNCH must be the last instruction", line=state.launch_line)
    if state.from_line is None and keyword not in _BEFORE_FROM:
        raise InstructionError(f"{keyword} before FROM: FROM must be the first instruction (only ARG may precede it)")


def _check_flags(instruction: Instruction) -> None:
    allowed = FLAGS.get(instruction.keyword, frozenset())
    seen: set[str] = set()
    for flag in instruction.flags:
        if flag.name not in allowed:
            raise InstructionError(f"unknown flag for {instruction.keyword}: --{flag.name}")
        if not flag.value:
            raise InstructionError(f"--{flag.name} requires a value (--{flag.name}=VALUE)")
        if flag.name in seen:
            raise InstructionError(f"--{flag.name} is given more than once")
        seen.add(flag.name)
