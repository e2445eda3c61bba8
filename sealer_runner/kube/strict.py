"""kubeadm's strict decoding, done before any host is touched: every key of a Clusterfile's kubeadm,
kubelet or kube-proxy document must be one its API version knows, else an error naming the line."""

from __future__ import annotations

from collections.abc import Iterator
from difflib import get_close_matches

from ..clusterfile.yamlpos import YMap, YNode, YSeq
from .fields import Node, tree_for


def unknown_fields(api_version: str, kind: str, document: YMap) -> Iterator[tuple[int, str, str]]:
    """``(line, dotted path, hint)`` for every key of *document* that *kind* of *api_version* does not
    know; nothing when the pair itself is unknown (the decoder refuses those)."""
    tree = tree_for(api_version, kind)
    if tree is not None:
        yield from _walk(tree, document, "")


def _walk(tree: Node, node: YNode, path: str) -> Iterator[tuple[int, str, str]]:
    if tree is None:
        return
    if isinstance(tree, list):
        if isinstance(node, YSeq):
            for index, item in enumerate(node.items):
                yield from _walk(tree[0], item, f"{path}[{index}]")
        return
    if not isinstance(node, YMap):
        return
    for key, value in node.entries.items():
        where = f"{path}.{key}" if path else key
        if key not in tree:
            close = get_close_matches(key, list(tree), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            yield node.key_lines.get(key, node.line), where, hint
            continue
        yield from _walk(tree[key], value, where)
