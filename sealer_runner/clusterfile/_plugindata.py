"""The ``IP value`` data lines of HOSTNAME, LABEL and TAINT plugins, parsed into one target per host.

sealer's formats, one host per line (``#`` comments and blank lines skipped)::

    HOSTNAME  192.168.0.2 master-0
    LABEL     192.168.0.2 ssd=true,example.com/zone=a
    TAINT     192.168.0.2 key1=value1:NoSchedule,key2:NoExecute-,key3-

A trailing ``-`` on a taint removes it (``key-`` removes every taint with that key). A host may appear
on several lines of one plugin; its entries are combined, and contradictions are errors on the line
that makes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import validate as v
from ._read import Ctx, Item, check
from .models import PluginTarget, Taint, frozen_map
from .yamlpos import YNode, YScalar

SHAPES = {"HOSTNAME": "hostname", "LABEL": "key=value[,key=value]", "TAINT": "key[=value]:Effect[-][,...]"}


@dataclass
class _Host:
    """One host's entries as they are collected, with the line of each."""

    ip: str
    line: int
    hostname: tuple[str, int] | None = None
    labels: dict[str, tuple[str, int]] = field(default_factory=dict)
    taints: dict[tuple[str, str], tuple[Taint, int]] = field(default_factory=dict)
    untaints: dict[tuple[str, str], tuple[Taint, int]] = field(default_factory=dict)

    def target(self) -> PluginTarget:
        return PluginTarget(
            self.ip,
            hostname=self.hostname[0] if self.hostname else "",
            labels=frozen_map({key: value for key, (value, _) in self.labels.items()}),
            taints=tuple(t for t, _ in self.taints.values()),
            untaints=tuple(t for t, _ in self.untaints.values()),
            line=self.line,
        )


def read_targets(ctx: Ctx, plugin_type: str, node: YNode, path: str) -> tuple[tuple[PluginTarget, ...], list[Item]]:
    """Parse *node* (the plugin's ``data``); return one target per host and each line's IP (for host checks)."""
    if plugin_type not in SHAPES:
        return (), []
    assert isinstance(node, YScalar)
    first_line = node.line + 1 if node.style in ("|", ">") else node.line
    hosts: dict[str, _Host] = {}
    named: dict[str, tuple[str, int]] = {}  # host name (lowercase) -> (ip, line)
    items: list[Item] = []
    for offset, raw in enumerate(node.text.splitlines()):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        line = first_line + offset if node.style == "|" else node.line
        where = f"{path} line {offset + 1}"
        parts = text.split(None, 1)
        if len(parts) != 2:
            raise ctx.error(line, where, f"{v.q(text)} is not 'IP {SHAPES[plugin_type]}'")
        ip = check(ctx, line, where, v.ip_address, parts[0])
        host = hosts.setdefault(ip, _Host(ip, line))
        try:
            if plugin_type == "HOSTNAME":
                _add_hostname(host, parts[1].strip(), line, named)
            elif plugin_type == "LABEL":
                _add_labels(host, parts[1].strip(), line)
            else:
                _add_taints(host, parts[1].strip(), line)
        except v.Invalid as exc:
            raise ctx.error(line, where, str(exc)) from None
        items.append(Item(ip, line, where))
    return tuple(host.target() for host in hosts.values()), items


def _add_hostname(host: _Host, text: str, line: int, named: dict[str, tuple[str, int]]) -> None:
    name = v.hostname(text)
    if host.hostname is not None and host.hostname[0] != name:
        raise v.Invalid(f"{host.ip} is already named {v.q(host.hostname[0])} on line {host.hostname[1]}")
    other = named.get(name.lower())
    if other is not None and other[0] != host.ip:
        raise v.Invalid(f"host name {v.q(name)} is already given to {other[0]} on line {other[1]}")
    host.hostname = (name, line)
    named[name.lower()] = (host.ip, line)


def _add_labels(host: _Host, text: str, line: int) -> None:
    for pair in text.split(","):
        key, sep, value = pair.strip().partition("=")
        if not sep:
            raise v.Invalid(f"{v.q(pair.strip())} is not key=value")
        v.label_key(key)
        v.label_value(value)
        previous = host.labels.get(key)
        if previous is not None and previous[0] != value:
            raise v.Invalid(f"label {v.q(key)} of {host.ip} is already {v.q(previous[0])} on line {previous[1]}")
        host.labels[key] = (value, line)


def _add_taints(host: _Host, text: str, line: int) -> None:
    for entry in (part.strip() for part in text.split(",")):
        if entry.endswith("-") and ":" not in entry and "=" not in entry:
            _record(host, Taint(v.label_key(entry[:-1]), "", ""), line, removal=True)
        elif entry.endswith("-"):
            taint = v.taint(entry[:-1])
            _record(host, Taint(taint.key, "", taint.effect), line, removal=True)
        else:
            _record(host, v.taint(entry), line, removal=False)


def _record(host: _Host, taint: Taint, line: int, *, removal: bool) -> None:
    """Keep *taint* (to add, or to remove) unless it contradicts an entry already kept for the host."""
    into, opposite = (host.untaints, host.taints) if removal else (host.taints, host.untaints)
    slot = (taint.key, taint.effect)
    clash = next((entry for (key, effect), entry in opposite.items()
                  if key == taint.key and (effect == taint.effect or "" in (effect, taint.effect))), None)
    if clash is not None:
        raise v.Invalid(f"taint {v.q(_show(taint, removal))} of {host.ip} contradicts "
                        f"{v.q(_show(clash[0], not removal))} on line {clash[1]}")
    previous = into.get(slot)
    if previous is not None and previous[0] != taint:
        raise v.Invalid(f"taint {v.q(_show(taint, removal))} of {host.ip} contradicts "
                        f"{v.q(_show(previous[0], removal))} on line {previous[1]}")
    into[slot] = (taint, line)


def _show(taint: Taint, removal: bool) -> str:
    """A taint as written in plugin data."""
    if not removal:
        return str(taint)
    return f"{taint.key}:{taint.effect}-" if taint.effect else f"{taint.key}-"
