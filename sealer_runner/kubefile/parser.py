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
from .limits import MAX_KUBEFILE_BYTES, MiB, describe_char, forbidden_char
from .plan import BuildPlan
from .problem import InstructionError
from .state import BuildState

_BEFORE_FROM = frozenset({"ARG", "FROM"})


def read_kubefile(path: pathlib.Path, filename: str | None = None) -> str:
    """The text of the Kubefile at *path*: UTF-8, at most :data:`~.limits.MAX_KUBEFILE_BYTES`.

    Raises :class:`~sealer_runner.errors.KubefileError` naming the file (and the line and column
    of an undecodable byte); a larger file is refused before it is read whole.
    """
    shown = filename or str(path)
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_KUBEFILE_BYTES + 1)
    except OSError as exc:
        raise KubefileError(f"cannot read: {exc.strerror or exc}", file=shown) from None
    return decode_kubefile(data, shown)


def decode_kubefile(data: bytes, filename: str = "Kubefile") -> str:
    """*data* decoded as UTF-8; a KubefileError names the line and column of the first invalid byte."""
    _check_size(len(data), data, filename)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position(data, exc.start)
        message = f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at column {column} (byte offset {exc.start})"
        raise KubefileError(message, file=filename, line=line) from None


def parse_kubefile(
    text: str | bytes,
    *,
    filename: str = "Kubefile",
    context_dir: pathlib.Path,
    build_args: Mapping[str, str] = {},
    base_apps: Collection[str] | None = (),
    predefined: Mapping[str, str] = {},
) -> BuildPlan:
    """Parse Kubefile *text* (``str``, or ``bytes`` decoded as UTF-8) against the build context *context_dir*.

    *build_args* override ARG defaults (unused ones are ignored). LAUNCH may
    name the apps of the base image listed in *base_apps* (``None``: the base
    is not resolved yet, so names are not checked against it). *predefined*
    variables (the builder passes ``ARCH``, ``TARGETARCH``, ``TARGETOS``,
    ``TARGETPLATFORM``... of the platform being built) are seen by every
    instruction without an ``ARG``; an ARG or ENV of the same name wins. What
    is accepted but partly ignored is returned in ``BuildPlan.warnings``. Raises
    :class:`~sealer_runner.errors.KubefileError` (``FILE:LINE: message``) for
    any invalid input, and nothing else.
    """
    text = decode_kubefile(text, filename) if isinstance(text, bytes) else text
    _check_text(text, filename)
    state = BuildState(
        context=_resolved(context_dir, filename),
        build_args=dict(build_args),
        base_apps=None if base_apps is None else frozenset(base_apps),
        predefined=dict(predefined),
    )
    try:
        instructions = lex(text)
    except InstructionError as exc:
        raise KubefileError(_printable(exc.message), file=filename, line=exc.line) from None
    for instruction in instructions:
        try:
            _dispatch(state, instruction)
        except InstructionError as exc:
            message = _printable(exc.message)
            raise KubefileError(message, file=filename, line=exc.line or instruction.line) from None
    if state.from_line is None:
        raise KubefileError("missing FROM instruction", file=filename)
    try:
        state.check_apps()
    except InstructionError as exc:
        raise KubefileError(_printable(exc.message), file=filename, line=exc.line) from None
    return state.to_plan(filename)


def _resolved(context_dir: pathlib.Path, filename: str) -> pathlib.Path:
    try:
        return context_dir.resolve()
    except (OSError, RuntimeError) as exc:
        raise KubefileError(f"cannot resolve the build context {context_dir}: {exc}", file=filename) from None


def _check_size(size: int, text: str | bytes, filename: str) -> None:
    if size > MAX_KUBEFILE_BYTES:
        line = text.count("\n" if isinstance(text, str) else b"\n", 0, MAX_KUBEFILE_BYTES) + 1
        message = f"Kubefile is larger than {MAX_KUBEFILE_BYTES // MiB} MiB (the limit is passed on this line)"
        raise KubefileError(message, file=filename, line=line)


def _check_text(text: str, filename: str) -> None:
    """Refuse oversized text, control characters (NUL...) and lone surrogates, naming line and column."""
    if text.isascii():
        _check_size(len(text), text, filename)
    else:
        try:
            _check_size(len(text.encode("utf-8")), text, filename)
        except UnicodeEncodeError as exc:
            line, column = _position(text, exc.start)
            message = f"not UTF-8 text: undecodable character U+{ord(text[exc.start]):04X} at column {column}"
            raise KubefileError(message, file=filename, line=line) from None
    bad = forbidden_char(text)
    if bad >= 0:
        line, column = _position(text, bad)
        message = f"control character {describe_char(text[bad])} at column {column}: a Kubefile is text"
        raise KubefileError(message, file=filename, line=line)


def _position(text: str | bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of *offset*."""
    newline = "\n" if isinstance(text, str) else b"\n"
    return text.count(newline, 0, offset) + 1, offset - (text.rfind(newline, 0, offset) + 1) + 1


_MAX_MESSAGE = 400


def _printable(message: str) -> str:
    """Escape lone surrogates so the message can be printed; shorten one echoing a huge input."""
    if len(message) > _MAX_MESSAGE:
        message = f"{message[:_MAX_MESSAGE]}... ({len(message)} characters)"
    return message.encode("utf-8", "backslashreplace").decode("utf-8")


def _dispatch(state: BuildState, instruction: Instruction) -> None:
    handler = HANDLERS.get(instruction.keyword)
    if handler is None:
        keyword = instruction.keyword
        shown = keyword if len(keyword) <= 40 else f"{keyword[:40]}... ({len(keyword)} characters)"
        raise InstructionError(f"unknown instruction: {shown}")
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
