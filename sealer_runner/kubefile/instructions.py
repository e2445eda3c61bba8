"""One handler per Kubefile instruction, and the keyword -> handler table.

A handler reads one :class:`~.lexer.Instruction`, updates the
:class:`~.state.BuildState` and raises :class:`~.problem.InstructionError` when
the instruction is invalid. Ordering rules that span instructions (FROM first,
LAUNCH last) live in :mod:`.parser`.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping

from ..errors import InvalidReference
from ..image.reference import parse_reference
from .apps import UndetectedType, detect_app
from .lexer import Instruction, json_array, split_first_word
from .limits import NAME_MAX, describe_char, forbidden_char
from .plan import APPS_ROOT, LABEL_SUPPORTED_KUBE_VERSION, CopyStep, RunStep
from .problem import InstructionError
from .semver import validate_range
from .sources import check_path_length, is_valid_path, resolve_sources
from .state import AppDraft, BuildState
from .words import expand, split_words

Handler = Callable[[BuildState, Instruction], None]

_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PLATFORM = re.compile(r"[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_]+)?")
_COMMAND_LINE = re.compile(r"\s")
_LOCAL = "local://"
_REMOTE = ("http://", "https://")


# ---------------------------------------------------------------- helpers


def _shell_words(args: str, variables: Mapping[str, str]) -> list[str]:
    return [expand(word, variables) for word in split_words(args)]


def _list_args(instruction: Instruction, variables: Mapping[str, str]) -> list[str]:
    """JSON-form or shell-form arguments, expanded."""
    items = json_array(instruction.args)
    if items is None:
        return _shell_words(instruction.args, variables)
    return [expand(item, variables, quotes=False) for item in items]


def _render(keyword: str, words: list[str]) -> str:
    """Deterministic normalised text of an instruction (a build-cache key)."""
    return f"{keyword} {shlex.join(words)}"


def _key_values(words: list[str], variables: Mapping[str, str], keyword: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` words, expanded; every word needs an ``=`` and a non-empty key."""
    pairs = []
    for word in words:
        key, equals, value = word.partition("=")
        if not equals:
            raise InstructionError(f"{keyword} expects KEY=VALUE pairs, got {word}")
        pairs.append(_checked_key(expand(key, variables), expand(value, variables), keyword))
    return pairs


def _checked_key(key: str, value: str, keyword: str) -> tuple[str, str]:
    if not key:
        raise InstructionError(f"{keyword} keys cannot be empty")
    return key, value


def _env_or_label_pairs(instruction: Instruction, variables: Mapping[str, str]) -> list[tuple[str, str]]:
    """``K=V [K=V...]`` or the legacy ``K V...`` form of ENV and LABEL."""
    keyword = instruction.keyword
    words = split_words(instruction.args)
    if not words:
        raise InstructionError(f"{keyword} requires at least one KEY=VALUE pair")
    if "=" in words[0]:
        return _key_values(words, variables, keyword)
    key, value = split_first_word(instruction.args)
    if not value:
        raise InstructionError(f"{keyword} {key} has no value (use {keyword} KEY=VALUE)")
    return [_checked_key(expand(key, variables), expand(value, variables), keyword)]


def _json_commands(args: str, keyword: str, usage: str) -> tuple[str, ...]:
    commands = json_array(args)
    if commands is None:
        raise InstructionError(f"{keyword} requires a JSON array of commands: {usage}")
    if not commands or not all(command.strip() for command in commands):
        raise InstructionError(f"{keyword} requires at least one non-empty command: {usage}")
    return commands


def _add_cmds(state: BuildState, instruction: Instruction, commands: tuple[str, ...]) -> None:
    state.cmds.extend(commands)
    if state.cmd_line is None:
        state.cmd_line = instruction.line


def _declared_app(state: BuildState, name: str, keyword: str) -> AppDraft:
    app = state.apps.get(name)
    if app is None:
        raise InstructionError(f"{keyword}: app {name} is not defined (declare it with APP, CNI or CSI first)")
    return app


def _local_source(spec: str, keyword: str) -> str:
    if spec.startswith(_REMOTE):
        name = posixpath.basename(spec.split("#", 1)[0].split("?", 1)[0].rstrip("/")) or "FILE"
        raise InstructionError(
            f"{keyword} source {_shown(spec)}: remote sources are not downloaded at build time (sealer does); "
            f"vendor the file: download it into the build context (curl -fLo {name} {shlex.quote(spec)}) "
            f"and write local://{name}"
        )
    if not spec.startswith(_LOCAL) or spec == _LOCAL:
        raise InstructionError(f"{keyword} source {spec} must be a local://PATH in the build context")
    return spec[len(_LOCAL) :]


def _rootfs_dest(raw: str) -> tuple[str, bool]:
    """COPY destination -> (rootfs-relative path, names a directory)."""
    if not is_valid_path(raw):
        raise InstructionError(f"COPY destination {_shown(raw)} is not a valid path")
    check_path_length(raw, "COPY destination")
    relative = posixpath.normpath(raw.lstrip("/") or ".")
    if relative == ".." or relative.startswith("../"):
        raise InstructionError(f"COPY destination {raw} is outside the image rootfs")
    dest = "" if relative == "." else relative
    is_dir = not dest or raw.endswith("/") or posixpath.basename(raw) in (".", "..")
    return dest, is_dir


def _shown(text: str, limit: int = 80) -> str:
    """``repr`` of *text*, shortened past *limit* characters."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def _platforms(value: str, variables: Mapping[str, str]) -> tuple[str, ...]:
    """``--platform=os/arch[,os/arch...]`` (sealer also accepts ``[a,b]``)."""
    items = [item.strip() for item in expand(value, variables).strip("[]").split(",")]
    for item in items:
        if not _PLATFORM.fullmatch(item):
            raise InstructionError(f"invalid platform {item!r}: expected os/arch[/variant], e.g. linux/amd64")
    if len(set(items)) != len(items):
        raise InstructionError(f"duplicate platform in --platform={value}")
    return tuple(items)


# ---------------------------------------------------------------- handlers


def handle_from(state: BuildState, instruction: Instruction) -> None:
    """``FROM [--platform=os/arch[,os/arch]] image|scratch``."""
    if state.from_line is not None:
        raise InstructionError(f"only one FROM is allowed (first at line {state.from_line})")
    variables = state.variables()
    words = _shell_words(instruction.args, variables)
    if len(words) != 1:
        raise InstructionError("FROM requires exactly one image (or scratch); multi-stage builds are not supported")
    platform = next((flag.value for flag in instruction.flags if flag.name == "platform"), None)
    state.platforms = _platforms(platform, variables) if platform else ()
    state.base = _base_image(words[0], instruction.args)
    state.from_line = instruction.line


def _base_image(image: str, written: str) -> str | None:
    """The validated FROM image; None for ``scratch``."""
    if not image:
        raise InstructionError(f"FROM image {written} is empty after variable expansion")
    if image == "scratch":
        return None
    try:
        parse_reference(image)
    except InvalidReference as exc:
        raise InstructionError(str(exc)) from None
    return image


def handle_arg(state: BuildState, instruction: Instruction) -> None:
    """``ARG NAME[=default] [NAME[=default]...]``; build args override defaults."""
    words = split_words(instruction.args)
    if not words:
        raise InstructionError("ARG requires a name")
    variables = state.variables()
    for word in words:
        name, equals, default = word.partition("=")
        if not _ARG_NAME.fullmatch(name):
            raise InstructionError(f"invalid ARG name {name!r}")
        value = _arg_value(state, name, expand(default, variables) if equals else None)
        if value is not None:
            state.set_arg(name, value)


def _arg_value(state: BuildState, name: str, default: str | None) -> str | None:
    """Build arg, else default, else an earlier value (after FROM, the pre-FROM one)."""
    if name in state.build_args:
        value = state.build_args[name]
        bad = forbidden_char(value)
        if bad >= 0:
            raise InstructionError(f"build arg {name} holds control character {describe_char(value[bad])}")
        return value
    if default is not None:
        return default
    if name in state.arg_scope:
        return state.arg_scope[name]
    return state.meta_args.get(name)


def handle_env(state: BuildState, instruction: Instruction) -> None:
    """``ENV KEY=VALUE [KEY=VALUE...]`` or legacy ``ENV KEY VALUE``."""
    state.set_env(_env_or_label_pairs(instruction, state.variables()))


def handle_label(state: BuildState, instruction: Instruction) -> None:
    """``LABEL KEY=VALUE [KEY=VALUE...]`` or legacy ``LABEL KEY VALUE``."""
    state.labels.update(_env_or_label_pairs(instruction, state.variables()))


def handle_copy(state: BuildState, instruction: Instruction) -> None:
    """``COPY SRC... DEST [# comment]`` from the build context into the rootfs."""
    words = _copy_words(state, instruction)
    if len(words) < 2:
        raise InstructionError("COPY requires at least one source and a destination")
    sources = resolve_sources(state.context, words[:-1], "COPY")
    dest, dest_is_dir = _rootfs_dest(words[-1])
    step = CopyStep(instruction.line, _render("COPY", words), sources, dest, dest_is_dir or len(sources) > 1)
    state.steps.append(step)


def _copy_words(state: BuildState, instruction: Instruction) -> list[str]:
    """The expanded words of a COPY; in shell form a word starting with ``#`` after the destination
    starts a comment (sealer reads the first two words only): it and the rest are dropped, with a warning."""
    variables = state.variables()
    if json_array(instruction.args) is not None:
        return _list_args(instruction, variables)
    raw = split_words(instruction.args)
    comment = next((i for i, word in enumerate(raw) if i >= 2 and word.startswith("#")), None)
    if comment is not None:
        ignored = " ".join(raw[comment:])
        state.warnings.append((instruction.line, f"COPY: ignored the rest of the line after the destination: {_shown(ignored, 60)}"))
        raw = raw[:comment]
    return [expand(word, variables) for word in raw]


def handle_run(state: BuildState, instruction: Instruction) -> None:
    """``RUN command`` (shell form) or ``RUN ["argv0", ...]`` (JSON form)."""
    argv = json_array(instruction.args)
    if not instruction.args or argv == ():
        raise InstructionError("RUN requires a command")
    if argv is None:
        command, text = ("/bin/sh", "-c", instruction.args), f"RUN {instruction.args}"
    else:
        command, text = argv, f"RUN {json.dumps(list(argv))}"
    state.steps.append(RunStep(instruction.line, text, command, state.run_env()))


def handle_cmd(state: BuildState, instruction: Instruction) -> None:
    """``CMD command``: appends one launch command (JSON form is shell-quoted)."""
    argv = json_array(instruction.args)
    if argv and _COMMAND_LINE.search(argv[0].strip()):
        commands = _json_commands(instruction.args, "CMD", 'CMDS ["kubectl apply -f a.yaml", "kubectl apply -f b.yaml"]')
        state.warnings.append((instruction.line, (
            f"CMD: {argv[0]!r} is a whole command line, so each of the {len(commands)} element(s) is taken as one "
            "command, as sealer runs them; write CMDS [...] to say so"
        )))
        _add_cmds(state, instruction, commands)
        return
    command = instruction.args if argv is None else shlex.join(argv)
    if not command.strip():
        raise InstructionError("CMD requires a command")
    _add_cmds(state, instruction, (command,))


def handle_cmds(state: BuildState, instruction: Instruction) -> None:
    """``CMDS ["cmd", ...]``: appends several launch commands."""
    _add_cmds(state, instruction, _json_commands(instruction.args, "CMDS", 'CMDS ["kubectl apply -f app.yaml"]'))


def handle_app(state: BuildState, instruction: Instruction) -> None:
    """``APP|CNI|CSI NAME local://PATH...``: files copied to ``application/apps/NAME/``."""
    keyword = instruction.keyword
    words = _list_args(instruction, state.variables())
    if len(words) < 2:
        raise InstructionError(f"{keyword} requires a name and at least one local:// source")
    name = words[0]
    if not _APP_NAME.fullmatch(name):
        raise InstructionError(f"invalid app name {_shown(name)}: use letters, digits, '.', '_' and '-'")
    if len(name) > NAME_MAX:
        raise InstructionError(f"app name {_shown(name, 40)} is longer than {NAME_MAX} characters")
    if name in state.apps:
        raise InstructionError(f"app {name} is already defined at line {state.apps[name].line}")
    paths = [_local_source(spec, keyword) for spec in words[1:]]
    sources = resolve_sources(state.context, paths, keyword)
    undetected = None
    try:
        app_type, files = detect_app(name, sources, state.context)
    except UndetectedType as exc:  # fine if APPCMDS says how to launch it: decided at the end of the parse
        app_type, files, undetected = "", (), f"{exc.message}; or give its launch commands with APPCMDS {name} [...]"
    step = CopyStep(instruction.line, _render(keyword, words), sources, f"{APPS_ROOT}/{name}", True)
    state.steps.append(step)
    state.apps[name] = AppDraft(name, keyword, instruction.line, app_type, files, undetected=undetected)


def handle_appcmds(state: BuildState, instruction: Instruction) -> None:
    """``APPCMDS NAME ["cmd", ...]``: the app's launch commands (the last APPCMDS wins)."""
    raw_name, rest = split_first_word(instruction.args)
    usage = 'APPCMDS NAME ["cmd", ...]'
    if not raw_name:
        raise InstructionError(f"APPCMDS requires an app name and a JSON array of commands: {usage}")
    app = _declared_app(state, expand(raw_name, state.variables()), "APPCMDS")
    app.cmds = _json_commands(rest, "APPCMDS", usage)


def handle_appenv(state: BuildState, instruction: Instruction) -> None:
    """``APPENV NAME KEY=VALUE...``: environment of one app (accumulates)."""
    variables = state.variables()
    words = split_words(instruction.args)
    if len(words) < 2:
        raise InstructionError("APPENV requires an app name and at least one KEY=VALUE pair")
    app = _declared_app(state, expand(words[0], variables), "APPENV")
    app.env.update(_key_values(words[1:], variables, "APPENV"))


def handle_launch(state: BuildState, instruction: Instruction) -> None:
    """``LAUNCH ["app", ...]``: apps started by ``sealer run``; excludes CMD/CMDS."""
    names = _list_args(instruction, state.variables())
    if not names:
        raise InstructionError('LAUNCH requires at least one app name: LAUNCH ["app", ...]')
    if state.cmd_line is not None:
        raise InstructionError(f"LAUNCH cannot be combined with CMD/CMDS (line {state.cmd_line})")
    for name in names:
        if state.base_apps is None or name in state.base_apps:
            continue
        _declared_app(state, name, "LAUNCH")
    if len(set(names)) != len(names):
        raise InstructionError("LAUNCH lists an app more than once")
    state.launch_apps = tuple(names)
    state.launch_line = instruction.line


def handle_kubeversion(state: BuildState, instruction: Instruction) -> None:
    """``KUBEVERSION RANGE``: sets the supported-kube-version label."""
    value = validate_range(expand(instruction.args, state.variables()))
    state.labels[LABEL_SUPPORTED_KUBE_VERSION] = value


HANDLERS: Mapping[str, Handler] = {
    "FROM": handle_from,
    "ARG": handle_arg,
    "ENV": handle_env,
    "LABEL": handle_label,
    "COPY": handle_copy,
    "RUN": handle_run,
    "CMD": handle_cmd,
    "CMDS": handle_cmds,
    "APP": handle_app,
    "CNI": handle_app,
    "CSI": handle_app,
    "APPCMDS": handle_appcmds,
    "APPENV": handle_appenv,
    "LAUNCH": handle_launch,
    "KUBEVERSION": handle_kubeversion,
}
"""Keyword (upper case) -> handler."""

FLAGS: Mapping[str, frozenset[str]] = {"FROM": frozenset({"platform"})}
"""Keyword -> the ``--flags`` it accepts (every flag needs a value)."""
