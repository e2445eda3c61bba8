"""Find container image references in Kubernetes YAML and image-list files.

Every ``image:`` whose value is a string is a reference: that covers
containers, initContainers and ephemeralContainers of every workload kind
(Pods, Deployments, CronJob templates...) and ``image:`` fields of custom
resources alike. Values that are still templates (``{{ ... }}``, ``${...}``)
are skipped. Text that is not valid YAML (``*.tmpl`` before rendering) is
scanned line by line for ``image:`` instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from ..errors import InputError
from ..image.reference import parse_reference

_IMAGE_LINE = re.compile(r"""^\s*-?\s*["']?image["']?\s*:\s*["']?([^"'\s#]+)["']?\s*(?:#.*)?$""")
_TEMPLATED = re.compile(r"\{\{|\$\{|\$\(|<%")


@dataclass(frozen=True)
class ImageUse:
    """A reference to a container image, and where it was found (``file:line``)."""

    image: str
    where: str


def scan_yaml(text: str, filename: str) -> list[ImageUse]:
    """Image references in (multi-document) YAML *text*; lines are 1-based within *filename*."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):  # RecursionError: nested deeper than PyYAML's composer goes
        return scan_lines(text, filename)
    found: list[ImageUse] = []
    for node in nodes:
        if node is not None:
            _walk(node, filename, found)
    return found


def _walk(node: yaml.Node, filename: str, found: list[ImageUse]) -> None:
    stack = [node]
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.value == "image" and isinstance(value, yaml.ScalarNode):
                    _add(value.value, f"{filename}:{value.start_mark.line + 1}", found)
                else:
                    stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


def scan_lines(text: str, filename: str) -> list[ImageUse]:
    """``image: x`` lines of text that is not (yet) valid YAML."""
    found: list[ImageUse] = []
    for number, line in enumerate(text.splitlines(), 1):
        if match := _IMAGE_LINE.match(line):
            _add(match.group(1), f"{filename}:{number}", found)
    return found


def scan_image_list(text: str, filename: str) -> list[ImageUse]:
    """An image list: one reference per line; ``#`` comments and blank lines ignored."""
    found: list[ImageUse] = []
    for number, line in enumerate(text.splitlines(), 1):
        item = line.split("#", 1)[0].strip()
        if item:
            _add(item, f"{filename}:{number}", found, strict=True)
    return found


def _add(value: str, where: str, found: list[ImageUse], *, strict: bool = False) -> None:
    value = value.strip()
    if not value or _TEMPLATED.search(value):
        return
    try:
        parse_reference(value)
    except InputError as exc:
        if strict:
            raise InputError(f"{where}: {exc}") from None
        return
    found.append(ImageUse(value, where))
