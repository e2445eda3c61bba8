"""Build-context lookup for COPY, APP, CNI and CSI sources.

A source is a path or a glob (``*``, ``?``, ``[...]``, hidden files included)
relative to the build context; a leading ``/`` means the context root. Every
match must stay inside the context, both lexically (``..``) and once symlinks
are resolved.
"""

from __future__ import annotations

import glob
import os
import posixpath
from collections.abc import Iterable
from pathlib import Path

from .limits import NAME_MAX, PATH_MAX
from .problem import InstructionError

_GLOB_CHARS = frozenset("*?[")


def resolve_sources(context: Path, specs: Iterable[str], keyword: str) -> tuple[Path, ...]:
    """Sorted, unique absolute paths inside *context* (already resolved) named by *specs*."""
    found: set[Path] = set()
    for spec in specs:
        found.update(_resolve(context, spec, keyword))
    return tuple(sorted(found))


def _resolve(context: Path, spec: str, keyword: str) -> list[Path]:
    relative = _context_relative(spec, keyword)
    if _GLOB_CHARS.isdisjoint(relative):
        return [_checked(context, relative, spec, keyword)]
    matches = sorted(glob.glob(relative, root_dir=context, include_hidden=True))
    if not matches:
        raise InstructionError(f"{keyword} source {spec} matches no files in the build context")
    return [_checked(context, match, f"{match} (matched by {spec})", keyword) for match in matches]


def is_valid_path(text: str) -> bool:
    """True if *text* can name a file: not empty, no NUL, encodable for the filesystem."""
    try:
        os.fsencode(text)
    except UnicodeError:
        return False
    return bool(text) and "\0" not in text


def check_path_length(path: str, what: str) -> None:
    """Refuse a path longer than PATH_MAX bytes or with a component longer than NAME_MAX bytes."""
    size = len(os.fsencode(path))
    if size > PATH_MAX:
        raise InstructionError(f"{what} is {size} bytes long; paths are limited to {PATH_MAX} bytes")
    if size > NAME_MAX:
        longest = max(path.split("/"), key=len)
        if len(os.fsencode(longest)) > NAME_MAX:
            shown = f"{longest[:40]}..."
            raise InstructionError(f"{what}: path component {shown} is longer than {NAME_MAX} bytes")


def _context_relative(spec: str, keyword: str) -> str:
    """*spec* as a normalised context-relative path; lexical escapes are refused."""
    if not is_valid_path(spec):
        raise InstructionError(f"{keyword} source {spec[:80]!r} is not a valid path")
    check_path_length(spec, f"{keyword} source")
    relative = posixpath.normpath(spec.lstrip("/") or ".")
    if relative == ".." or relative.startswith("../"):
        raise InstructionError(f"{keyword} source {spec} is outside the build context")
    return relative


def _checked(context: Path, relative: str, shown: str, keyword: str) -> Path:
    """``context/relative`` if it exists and, symlinks resolved, stays inside *context*."""
    path = Path(os.path.normpath(context / relative))
    try:
        real = path.resolve()
        exists = real.exists()
    except (OSError, RuntimeError) as exc:
        raise InstructionError(f"cannot read {keyword} source {shown}: {exc}") from None
    if not real.is_relative_to(context):
        raise InstructionError(f"{keyword} source {shown} is outside the build context")
    if not exists:
        raise InstructionError(f"{keyword} source {shown} does not exist in the build context")
    return path
