"""The line-tracking YAML layer and IP range expansion."""

from __future__ import annotations

import pytest

from sealer_runner.clusterfile.iprange import IPRangeError, expand, parse_ip
from sealer_runner.clusterfile.yamlpos import MAX_NODES, YMap, YScalar, YSeq, load_documents, to_plain
from sealer_runner.errors import ClusterfileError


def docs(text: str) -> list:
    return load_documents(text, "F")


def error(text: str) -> str:
    with pytest.raises(ClusterfileError) as info:
        docs(text)
    return str(info.value)


def test_every_node_knows_its_line() -> None:
    (root,) = docs("a: 1\nb:\n  - x\n  - {c: true}\nd: |\n  text\n")
    assert isinstance(root, YMap)
    assert root.line == 1
    assert root.key_lines == {"a": 1, "b": 2, "d": 5}
    seq = root.entries["b"]
    assert isinstance(seq, YSeq) and seq.line == 3
    assert [item.line for item in seq.items] == [3, 4]
    assert root.entries["d"] == YScalar("text\n", "text\n", "str", 5, "|")


def test_scalars_keep_value_kind_and_text() -> None:
    (root,) = docs("a: 0022\nb: 1.10\nc: yes\nd: ~\ne: '5'\nf: 0x1F\ng: 2001-12-14\nh: =\n")
    assert isinstance(root, YMap)
    got = {key: (node.value, node.text, node.kind) for key, node in root.entries.items() if isinstance(node, YScalar)}
    assert got == {
        "a": (18, "0022", "int"),
        "b": (1.1, "1.10", "float"),
        "c": (True, "yes", "bool"),
        "d": (None, "~", "null"),
        "e": ("5", "5", "str"),
        "f": (31, "0x1F", "int"),
        "g": ("2001-12-14", "2001-12-14", "str"),
        "h": ("=", "=", "str"),
    }


def test_multi_document_and_empty_documents() -> None:
    nodes = docs("---\n---\na: 1\n---\n...\n---\n- b\n")
    assert [type(node) for node in nodes] == [YMap, YSeq]
    assert [node.line for node in nodes] == [3, 7]


def test_aliases_are_shared_and_to_plain() -> None:
    (root,) = docs("a: &x {b: [1, 2]}\nc: *x\n")
    assert isinstance(root, YMap)
    assert root.entries["a"] is root.entries["c"]
    assert to_plain(root) == {"a": {"b": [1, 2]}, "c": {"b": [1, 2]}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", 'F:3: duplicate key "a" (first defined on line 1)'),
        ("a: !!python/object:os.system x\n", 'F:1: unsupported YAML tag "tag:yaml.org,2002:python/object:os.system"'),
        ("a: !!python/object/apply:os.system [id]\n", 'F:1: unsupported YAML tag "tag:yaml.org,2002:python/object/apply:os.system" on a sequence'),
        ("a: !custom x\n", 'F:1: unsupported YAML tag "!custom"'),
        ("a: !!binary aGk=\n", 'F:1: unsupported YAML tag "tag:yaml.org,2002:binary"'),
        ("a: !!set {x}\n", 'F:1: unsupported YAML tag "tag:yaml.org,2002:set" on a mapping'),
        ("a: !!omap [{x: 1}]\n", 'F:1: unsupported YAML tag "tag:yaml.org,2002:omap" on a sequence'),
        ("a: &x {b: 1}\nc:\n  <<: *x\n", "F:3: YAML merge keys ('<<') are not supported; write the fields out"),
        ("? [a]\n: b\n", "F:1: mapping keys must be plain scalars, not lists or mappings"),
        ("a: &a [*a]\n", "F:1: recursive YAML alias: a node contains itself"),
        ("a: !!int ''\n", 'F:1: invalid int ""'),
        ("a: !!float x\n", 'F:1: invalid float "x"'),
        ("a: !!bool maybe\n", 'F:1: invalid boolean "maybe"'),
        ("a: [\n", "F:2: not valid YAML: expected the node content, but found '<stream end>'"),
        ("a: 1\n b: 2\n", "F:2: not valid YAML: mapping values are not allowed here"),
        ("a: *nope\n", "F:1: not valid YAML: found undefined alias 'nope'"),
        ("a: b\x00\n", "F:1: not valid YAML: unacceptable character U+0000: special characters are not allowed"),
        ("x: 1\ny: \x07\n", "F:2: not valid YAML: unacceptable character U+0007: special characters are not allowed"),
        ("a: " + "[" * 2000 + "]" * 2000 + "\n", "F:1: not valid YAML: nesting is deeper than 64 levels"),
        ("a:\n" + "".join(" " * i + "b:\n" for i in range(1, 80)), "F:64: not valid YAML: nesting is deeper than 64 levels"),
    ],
)
def test_refused_yaml(text: str, message: str) -> None:
    assert error(text) == message


def test_alias_bomb_is_refused() -> None:
    levels = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "x"] * 10) + "]\n" for i in range(7))
    assert error(levels) == f"F:5: document expands to more than {MAX_NODES} nodes (alias bomb?)"


def test_nesting_through_aliases_is_limited_too() -> None:
    deep = "[" * 40 + "x" + "]" * 40
    nested_alias = "[" * 40 + "*d" + "]" * 40
    assert error(f"a: &d {deep}\nb: {nested_alias}\n") == "F:1: nesting is deeper than 64 levels"
    chain = "".join(f"l{i}: &l{i} " + "[" * 30 + (f"*l{i - 1}" if i else "x") + "]" * 30 + "\n" for i in range(40))
    assert error(chain) == "F:2: nesting is deeper than 64 levels"


# --------------------------------------------------------------------------
# IP ranges


def test_parse_ip() -> None:
    assert str(parse_ip("192.168.0.1")) == "192.168.0.1"
    assert str(parse_ip("FD00:0::1")) == "fd00::1"
    for bad in ("", " 1.2.3.4", "1.2.3", "192.168.000.001", "1.2.3.4/32", "fe80::1%eth0"):
        with pytest.raises(IPRangeError):
            parse_ip(bad)


def test_expand() -> None:
    assert expand("10.0.0.1") == ["10.0.0.1"]
    assert expand("192.168.0.2-192.168.0.5") == ["192.168.0.2", "192.168.0.3", "192.168.0.4", "192.168.0.5"]
    assert expand("10.0.0.255-10.0.1.0") == ["10.0.0.255", "10.0.1.0"]
    assert expand("fd00::ff-fd00::100") == ["fd00::ff", "fd00::100"]
    assert expand("10.0.0.7-10.0.0.7") == ["10.0.0.7"]
    assert len(expand("10.0.0.0-10.0.3.255")) == 1024


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.5-10.0.0.1", 'range "10.0.0.5-10.0.0.1" is reversed: 10.0.0.1 comes before 10.0.0.5'),
        ("10.0.0.0-10.0.4.0", 'range "10.0.0.0-10.0.4.0" has 1025 addresses; at most 1024 are allowed'),
        ("10.0.0.1-fd00::1", 'range "10.0.0.1-fd00::1" mixes IPv4 and IPv6 addresses'),
        ("10.0.0.1-10.0.0.2-10.0.0.3", '"10.0.0.1-10.0.0.2-10.0.0.3" is not an IP address or a range \'first-last\''),
        ("10.0.0.1-", '"" is not an IP address'),
        ("1.2.3.4:22", '"1.2.3.4:22" is not an IP address (ports do not go in ips: write "1.2.3.4" and set ssh.port: 22)'),
        ("10.0.0.0/24", '"10.0.0.0/24" is not an IP address (CIDR blocks are not accepted; use a range \'first-last\')'),
        ("fe80::1%eth0", '"fe80::1%eth0": IPv6 zone indexes are not supported'),
    ],
)
def test_expand_errors(text: str, message: str) -> None:
    with pytest.raises(IPRangeError) as info:
        expand(text)
    assert str(info.value) == message
