"""Application type detection for APP, CNI and CSI.

The files of an app are laid out as COPY lays them out in
``application/apps/<name>/``: a file source lands under its own name, a
directory source contributes its contents. The type is decided from that layout:

* ``helm``: the only source is a directory with a ``Chart.yaml`` (launch file
  ``"."``, the app directory itself), or every file is a chart archive
  (``.tgz``/``.tar.gz`` holding ``<chart>/Chart.yaml``);
* ``kube``: every file is ``.yaml``/``.yml`` and each YAML document in it is a
  mapping with ``apiVersion`` and ``kind``;
* ``shell``: every file is a ``.sh`` script.

Anything else (a mix, or nothing recognisable) is :class:`UndetectedType`: an
error unless ``APPCMDS`` gives the app's launch commands.
"""

from __future__ import annotations

import os
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

import yaml

from .problem import InstructionError

_CHART_SUFFIXES = (".tgz", ".tar.gz")
_YAML_SUFFIXES = (".yaml", ".yml")


def detect_app(name: str, sources: Sequence[Path], context: Path) -> tuple[str, tuple[str, ...]]:
    """Return ``(type, launch files)`` for the app made of *sources* (inside *context*)."""
    if len(sources) == 1 and _is_chart_directory(sources[0]):
        return "helm", (".",)
    layout = app_layout(sources)
    if not layout:
        raise InstructionError(f"app {name} has no files")
    files = tuple(sorted(layout))
    if all(_is_chart_archive(layout[file], context) for file in files):
        return "helm", files
    if all(_is_kube_yaml(layout[file], context) for file in files):
        return "kube", files
    if all(file.lower().endswith(".sh") for file in files):
        return "shell", files
    raise UndetectedType(
        f"cannot detect the type of app {name}: expected a helm chart (a directory with "
        "Chart.yaml, or chart .tgz files), Kubernetes YAML files or .sh scripts, not a mix "
        f"(files: {', '.join(files[:5])}{', ...' if len(files) > 5 else ''})"
    )


class UndetectedType(InstructionError):
    """The app's files are no known type: an error unless APPCMDS says how to launch the app."""


def app_layout(sources: Sequence[Path]) -> dict[str, Path]:
    """Map each file's path relative to the app directory to its path in the context."""
    layout: dict[str, Path] = {}
    for source in sources:
        if source.is_dir():
            layout.update(_directory_files(source))
        else:
            layout[source.name] = source
    return layout


def _directory_files(root: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            path = Path(dirpath, filename)
            files[path.relative_to(root).as_posix()] = path
    return files


def _is_chart_directory(source: Path) -> bool:
    try:
        return (source / "Chart.yaml").is_file()
    except OSError:
        return False


def _regular_file_inside(path: Path, context: Path) -> Path | None:
    """The resolved *path* if it is a regular file inside *context*, else None."""
    try:
        real = path.resolve()
        return real if real.is_relative_to(context) and real.is_file() else None
    except (OSError, RuntimeError):
        return None


def _is_kube_yaml(path: Path, context: Path) -> bool:
    if not path.name.lower().endswith(_YAML_SUFFIXES):
        return False
    real = _regular_file_inside(path, context)
    if real is None:
        return False
    try:
        with real.open("rb") as stream:
            return _all_kube_objects(yaml.parse(stream, Loader=yaml.SafeLoader))
    except (OSError, yaml.YAMLError, ValueError):
        return False


def _all_kube_objects(events: Iterator[yaml.Event]) -> bool:
    """True if every non-empty document is a mapping with ``apiVersion`` and ``kind`` keys.

    Reads parser events, never builds the documents: aliases are not expanded (no "billion laughs")
    and the memory used does not grow with the file.
    """
    documents = 0
    depth = 0
    keys: set[str] = set()
    expect_key = False
    root: type[yaml.Event] | None = None
    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            depth, keys, root = 0, set(), None
        elif isinstance(event, yaml.DocumentEndEvent):
            if root is yaml.MappingStartEvent:
                if not {"apiVersion", "kind"} <= keys:
                    return False
                documents += 1
            elif root is not None and root is not _NULL:
                return False
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            if depth == 0:
                root = type(event)
            elif depth == 1 and root is yaml.MappingStartEvent:
                expect_key = not expect_key
            depth += 1
            if depth == 1:
                expect_key = True
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            if depth == 0:
                root = _NULL if isinstance(event, yaml.ScalarEvent) and _is_null(event) else yaml.ScalarEvent
            elif depth == 1 and root is yaml.MappingStartEvent:
                if expect_key and isinstance(event, yaml.ScalarEvent):
                    keys.add(event.value)
                expect_key = not expect_key
    return documents > 0


class _NULL(yaml.Event):
    """Marks an empty (null) document, which does not count."""


def _is_null(event: yaml.ScalarEvent) -> bool:
    return event.tag is None and event.implicit[0] and event.value in ("", "~", "null", "Null", "NULL")


def _is_chart_archive(path: Path, context: Path) -> bool:
    if not path.name.lower().endswith(_CHART_SUFFIXES):
        return False
    real = _regular_file_inside(path, context)
    if real is None:
        return False
    try:
        with tarfile.open(real, "r:gz") as archive:
            return any(_is_chart_yaml(member.name) for member in archive)
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        return False


def _is_chart_yaml(member: str) -> bool:
    parts = PurePosixPath(member).parts
    return len(parts) == 2 and parts[1] == "Chart.yaml"
