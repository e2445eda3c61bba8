# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: a Config's final text, computed on the controller.

This is the part of a Config that needs YAML: sealer's processors (``process``) and ``strategy:
merge``. It runs on the controller, which always has PyYAML (Ansible needs it), so that the hosts need
nothing but Python. The rootfs_config action plugin calls :func:`resolve` with the image's version of
each file (read from the host), and hands the host plain overwrites.

sealer's semantics, in its order:

1. The processors run on the data, left to right. ``value`` makes the next ones work on each value of
   the data's mapping instead of the whole text; ``toJson`` turns YAML into JSON; ``toBase64`` encodes.
2. When the file does not exist, the data is written as it is.
3. ``toSecret``: the file is a Kubernetes Secret; each key of the data goes into its ``data``,
   base64-encoded.
4. ``merge``: the data, one YAML mapping, is deep-merged into every YAML document of the file: mappings
   merge key by key, and anything else (lists, scalars, null) from the Config replaces what the file
   has. Empty documents are dropped. Merging the same data again gives the same text.
"""

from __future__ import annotations

import base64
import copy
import json

import yaml


class ConfigDataError(Exception):
    """A Config's data does not fit its strategy or processors; the message names the Config."""


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors, multi-line strings as ``|`` blocks: readable files, stable on re-runs."""

    def ignore_aliases(self, data):
        return True


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(value, sort_keys=False):
    return yaml.dump(value, Dumper=_Dumper, default_flow_style=False, sort_keys=sort_keys, allow_unicode=True,
                     width=float("inf"))


def resolve(configs, bases):
    """*configs* (checked, in order) as plain overwrites; *bases* maps a path to the file's text or None.

    Configs landing on the same path apply in turn: each starts from what the one before wrote."""
    written = {}
    out = []
    for config in configs:
        name, path = config["name"], config["path"]
        data = process(name, config["data"], config.get("process") or [])
        base = written[path] if path in written else bases.get(path)
        if base is not None:
            if "toSecret" in (config.get("process") or []):
                data = to_secret(name, path, base, data)
            if config.get("strategy") == "merge":
                data = merge(name, path, base, data)
        written[path] = data
        out.append({"name": name, "path": path, "data": data, "strategy": "overwrite"})
    return out


def check(config):
    """Raise ConfigDataError if *config* (checked) cannot be resolved whatever the file holds: its
    processors must accept its data, and a merge needs one YAML mapping."""
    steps = config.get("process") or []
    data = process(config["name"], config["data"], steps)
    if "toSecret" in steps:
        _mapping(config["name"], data, "toSecret")
    if config.get("strategy") == "merge":
        _mapping(config["name"], data, "strategy merge")


def process(name, data, steps):
    """sealer's processors: value, toJson, toBase64 (toSecret needs the file: see to_secret)."""
    per_value = False
    for step in steps:
        if step == "value":
            per_value = True
        elif step == "toJson":
            if per_value:
                data = dump({k: _json(v) for k, v in _mapping(name, data, "value|toJson").items()}, sort_keys=True)
            else:
                data = _json(_load_one(name, data, "toJson"))
        elif step == "toBase64":
            if per_value:
                values = _mapping(name, data, "value|toBase64")
                data = dump({k: _b64(_scalar(name, k, v)) for k, v in values.items()}, sort_keys=True)
            else:
                data = _b64(data)
    return data


def to_secret(name, path, base, data):
    """Put each key of *data* into the Secret in *base*'s ``data``, base64-encoded."""
    secret = _load_one(name + " (the file " + path + ")", base, "toSecret")
    if not isinstance(secret, dict):
        raise ConfigDataError("Config %s: toSecret: %s is not a Kubernetes Secret (a YAML mapping)" % (name, path))
    values = _mapping(name, data, "toSecret")
    entries = secret.get("data")
    secret["data"] = dict(entries) if isinstance(entries, dict) else {}
    for key, value in values.items():
        secret["data"][str(key)] = _b64(_scalar(name, key, value))
    return dump(secret)


def merge(name, path, base, data):
    """Deep-merge the mapping *data* into every document of the YAML text *base*."""
    patch = _mapping(name, data, "strategy merge")
    try:
        documents = [doc for doc in yaml.safe_load_all(base) if doc is not None]
    except yaml.YAMLError as exc:
        raise ConfigDataError("Config %s: strategy merge: %s is not YAML: %s" % (name, path, _brief(exc))) from None
    if not documents:
        return dump(patch)
    merged = []
    for i, doc in enumerate(documents):
        if not isinstance(doc, dict):
            raise ConfigDataError("Config %s: strategy merge: document %d of %s is a %s, not a mapping"
                                  % (name, i + 1, path, type(doc).__name__))
        merged.append(dump(deep_merge(doc, patch)))
    return "---\n".join(merged)


def deep_merge(target, patch):
    """*target* with *patch* merged in: mappings recursively, everything else replaced by *patch*'s."""
    out = dict(target)
    for key, value in patch.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_one(name, text, what):
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ConfigDataError("Config %s: %s: data is not YAML: %s" % (name, what, _brief(exc))) from None
    if len(documents) != 1:
        raise ConfigDataError("Config %s: %s: data must be one YAML document, not %d" % (name, what, len(documents)))
    return documents[0]


def _mapping(name, text, what):
    value = _load_one(name, text, what)
    if not isinstance(value, dict):
        raise ConfigDataError("Config %s: %s: data must be a YAML mapping, not %s"
                              % (name, what, type(value).__name__))
    return value


def _scalar(name, key, value):
    if isinstance(value, (dict, list)):
        raise ConfigDataError("Config %s: the value of %s must be text, not a %s" % (name, key, type(value).__name__))
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _brief(exc):
    return " ".join(str(exc).split())
