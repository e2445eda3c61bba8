"""Line-tracking YAML loading for Clusterfiles.

PyYAML's ``compose_all`` (with the safe resolver) turns the text into a node
graph that still knows where every node came from.  This module converts that
graph into three small immutable node types (:class:`YMap`, :class:`YSeq`,
:class:`YScalar`) carrying their 1-based line numbers, and refuses on the way
everything a Clusterfile has no business containing:

* tags other than the YAML core ones (``!!python/object``, ``!foo``, ``!!set``,
  ``!!binary``...), so no loader feature can ever build arbitrary objects;
* duplicate mapping keys (PyYAML silently keeps the last one);
* merge keys (``<<``), complex (non-scalar) keys;
* recursive aliases and alias "bombs" that expand to huge documents;
* nesting deeper than :data:`MAX_DEPTH`;
* text longer than :data:`MAX_BYTES`, and scalars holding characters YAML does not allow in the text
  itself (NUL, other control characters, lone surrogates) written as escapes (``"\\0"``).

Every problem is raised as :class:`~sealer_runner.errors.ClusterfileError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import json

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sealer_runner.errors import ClusterfileError

#: Deepest nesting accepted (a real Clusterfile needs well under 20 levels).
MAX_DEPTH = 64
#: Most nodes one document may expand to once aliases are followed.
MAX_NODES = 200_000
#: Largest Clusterfile, in UTF-8 bytes (a real one is a few KiB; Configs may embed files).
MAX_BYTES = 8 * 1024 * 1024

_CORE = "tag:yaml.org,2002:"
# Implicitly resolved "timestamp", "value" ("=") and "merge" ("<<" as a value)
# scalars are kept as the text the user wrote.
_STRING_LIKE = frozenset({"str", "timestamp", "value", "merge"})
_BOOLS = dict(SafeConstructor.bool_values)
_CONSTRUCTOR = SafeConstructor()
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE

ScalarValue = Union[str, int, float, bool, None]


@dataclass(frozen=True, slots=True)
class YScalar:
    """A scalar with its resolved value, its source text and its line.

    ``kind`` is one of ``"str"``, ``"int"``, ``"float"``, ``"bool"``,
    ``"null"``.  ``text`` is the scalar exactly as written (without quotes),
    which is what string fields use so that ``port: 0022`` or
    ``version: 1.10`` are never mangled by YAML 1.1 number rules.
    """

    value: ScalarValue
    text: str
    kind: str
    line: int
    style: str | None = None


@dataclass(frozen=True, slots=True)
class YSeq:
    """A sequence and the line it starts on."""

    items: tuple["YNode", ...]
    line: int


@dataclass(frozen=True, slots=True)
class YMap:
    """A mapping with string keys; ``key_lines`` holds each key's line."""

    entries: dict[str, "YNode"]
    key_lines: dict[str, int]
    line: int


YNode = Union[YMap, YSeq, YScalar]


def describe(node: YNode) -> str:
    """Name a node's type the way error messages do ("a mapping", "null"...)."""
    if isinstance(node, YMap):
        return "a mapping"
    if isinstance(node, YSeq):
        return "a list"
    if node.kind == "null":
        return "null"
    return {"str": "a string", "int": "a number", "float": "a number", "bool": "a boolean"}[node.kind]


def load_documents(text: str, filename: str) -> list[YNode]:
    """Parse multi-document YAML *text* into line-tracked nodes.

    Empty documents (``---`` with nothing after it, or an explicit ``null``)
    are dropped, as sealer does.  Raises :class:`ClusterfileError` for
    anything that is not YAML or uses a refused feature.
    """
    _check_size(text, filename)
    roots = _compose(text, filename)
    documents: list[YNode] = []
    for root in roots:
        node = _Converter(filename).convert(root)
        if isinstance(node, YScalar) and node.kind == "null":
            continue
        documents.append(node)
    return documents


def decode_utf8(data: bytes, filename: str) -> str:
    """*data* as UTF-8 text; a ClusterfileError names the line, column and byte offset of a bad byte."""
    if len(data) > MAX_BYTES:
        _too_large(data.count(b"\n", 0, MAX_BYTES) + 1, filename)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at column {column} (byte offset {exc.start})"
        raise ClusterfileError(message, file=filename, line=line) from None


def _check_size(text: str, filename: str) -> None:
    if len(text) * 4 <= MAX_BYTES:  # at most 4 bytes a character: no need to encode
        return
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_BYTES:
        _too_large(encoded.count(b"\n", 0, MAX_BYTES) + 1, filename)


def _too_large(line: int, filename: str) -> None:
    message = f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB (the limit is passed on this line)"
    raise ClusterfileError(message, file=filename, line=line)


def unprintable(text: str) -> str | None:
    """Why *text* cannot be used, or None: YAML refuses NUL, control characters and lone surrogates in
    the file, but its double-quoted escapes (``"\\0"``, ``"\\e"``) can still produce them."""
    bad = _NON_PRINTABLE.search(text)
    return f"character U+{ord(bad.group()):04X} is not allowed (NUL and control characters)" if bad else None


def to_plain(node: YNode, filename: str = "Clusterfile") -> object:
    """Convert a node tree into plain ``dict`` / ``list`` / scalar values (refusing unprintable strings)."""
    if isinstance(node, YMap):
        return {key: to_plain(value, filename) for key, value in node.entries.items()}
    if isinstance(node, YSeq):
        return [to_plain(item, filename) for item in node.items]
    if isinstance(node.value, str):
        problem = unprintable(node.value)
        if problem:
            raise ClusterfileError(problem, file=filename, line=node.line)
    return node.value


class _DepthLimitedLoader(yaml.SafeLoader):
    """SafeLoader used only to *compose* (never construct), with a depth cap.

    PyYAML composes recursively; without a cap a few thousand ``[`` exhaust
    the interpreter stack (slowly).  The cap fails fast, with a line.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(None, None, f"nesting is deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)  # type: ignore[no-any-return]
        finally:
            self.depth -= 1


def _compose(text: str, filename: str) -> list[Node]:
    try:
        return [root for root in yaml.compose_all(text, Loader=_DepthLimitedLoader) if root is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        raise ClusterfileError(f"not valid YAML: {problem}", file=filename, line=line) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, max(exc.position, 0)) + 1 if isinstance(exc.position, int) else None
        raise ClusterfileError(
            f"not valid YAML: unacceptable character {_char(exc.character)}: {exc.reason}",
            file=filename,
            line=line,
        ) from None
    except yaml.YAMLError as exc:
        raise ClusterfileError(f"not valid YAML: {exc}", file=filename) from None
    except RecursionError:
        raise ClusterfileError("not valid YAML: nesting is too deep", file=filename) from None


class _Converter:
    """Converts one composed document, memoising shared (aliased) nodes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.memo: dict[int, tuple[YNode, int, int]] = {}  # id -> (node, expanded size, height)
        self.active: set[int] = set()
        self.total = 0

    def error(self, node: Node, message: str) -> ClusterfileError:
        return ClusterfileError(message, file=self.filename, line=node.start_mark.line + 1)

    def charge(self, node: Node, amount: int) -> None:
        self.total += amount
        if self.total > MAX_NODES:
            raise self.error(node, f"document expands to more than {MAX_NODES} nodes (alias bomb?)")

    def convert(self, node: Node, depth: int = 0) -> YNode:
        key = id(node)
        if key in self.active:
            raise self.error(node, "recursive YAML alias: a node contains itself")
        if depth > MAX_DEPTH:
            raise self.error(node, f"nesting is deeper than {MAX_DEPTH} levels")
        cached = self.memo.get(key)
        if cached is not None:
            result, size, height = cached
            if depth + height > MAX_DEPTH:
                raise self.error(node, f"nesting is deeper than {MAX_DEPTH} levels")
            self.charge(node, size)
            return result
        before = self.total
        self.charge(node, 1)
        self.active.add(key)
        try:
            result = self._convert_fresh(node, depth)
        finally:
            self.active.discard(key)
        self.memo[key] = (result, self.total - before, self.height(node))
        return result

    def height(self, node: Node) -> int:
        """Levels below *node* once aliases are followed (its children are memoised)."""
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [value for _, value in node.value]
        else:
            return 0
        return 1 + max((self.memo[id(child)][2] for child in children), default=0)

    def _convert_fresh(self, node: Node, depth: int) -> YNode:
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            if node.tag != _CORE + "seq":
                raise self.error(node, f"unsupported YAML tag {_q(node.tag)} on a sequence")
            items = tuple(self.convert(child, depth + 1) for child in node.value)
            return YSeq(items, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            return self.mapping(node, depth)
        raise self.error(node, f"unsupported YAML node {type(node).__name__}")  # pragma: no cover

    def mapping(self, node: MappingNode, depth: int) -> YMap:
        if node.tag != _CORE + "map":
            raise self.error(node, f"unsupported YAML tag {_q(node.tag)} on a mapping")
        entries: dict[str, YNode] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = self.key(key_node)
            line = key_node.start_mark.line + 1
            if key in entries:
                raise ClusterfileError(
                    f"duplicate key {_q(key)} (first defined on line {key_lines[key]})",
                    file=self.filename,
                    line=line,
                )
            self.charge(key_node, 1)
            entries[key] = self.convert(value_node, depth + 1)
            key_lines[key] = line
        return YMap(entries, key_lines, node.start_mark.line + 1)

    def key(self, node: Node) -> str:
        if not isinstance(node, ScalarNode):
            raise self.error(node, "mapping keys must be plain scalars, not lists or mappings")
        if node.tag == _CORE + "merge":
            raise self.error(node, "YAML merge keys ('<<') are not supported; write the fields out")
        self.scalar(node)  # validates the tag
        key = str(node.value)
        problem = unprintable(key)
        if problem:
            raise self.error(node, f"mapping key: {problem}")
        return key

    def scalar(self, node: ScalarNode) -> YScalar:
        tag = node.tag
        short = tag[len(_CORE):] if tag.startswith(_CORE) else None
        line = node.start_mark.line + 1
        text = str(node.value)
        if short in _STRING_LIKE:
            return YScalar(text, text, "str", line, node.style)
        if short == "null":
            return YScalar(None, text, "null", line, node.style)
        if short == "bool":
            flag = _BOOLS.get(text.lower())
            if flag is None:
                raise self.error(node, f"invalid boolean {_q(text)}")
            return YScalar(flag, text, "bool", line, node.style)
        if short in ("int", "float"):
            return YScalar(self.number(node, short), text, short, line, node.style)
        raise self.error(node, f"unsupported YAML tag {_q(tag)}")

    def number(self, node: ScalarNode, short: str) -> int | float:
        build = _CONSTRUCTOR.construct_yaml_int if short == "int" else _CONSTRUCTOR.construct_yaml_float
        try:
            return build(node)
        except (ValueError, IndexError, ArithmeticError):
            raise self.error(node, f"invalid {short} {_q(str(node.value))}") from None


def _q(text: str, limit: int = 60) -> str:
    if len(text) > limit:
        text = text[:limit] + "..."
    return json.dumps(text, ensure_ascii=False)


def _char(character: object) -> str:
    if isinstance(character, int):
        return f"U+{character:04X}"
    return f"U+{ord(str(character)[:1] or chr(0)):04X}"
