# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: Configs and ``*.tmpl`` files in a host's rootfs.

A rootfs holds the image's layers; this phase then makes some of its files differ from the image:

* each Config writes its data to ``<rootfs>/<path>`` (merges are resolved on the controller, which has
  a YAML library, before this code sees them: here every Config is an overwrite);
* then every ``*.tmpl`` file under the template directories is rendered with the env into the same
  path without ``.tmpl`` (sealer's order: a template sees the Configs, and wins over them).

The files this phase changed ("managed" files) are recorded in ``<rootfs>/.sealer-configs.json`` with
the sha256 of what was written, and the image's version of each is kept under
``<rootfs>/.sealer-configs/``. Each run starts again from the image's version, so the result depends
only on the image, the Configs and the env, never on earlier runs: a Config that is dropped or
changed leaves nothing behind, and a second run with the same inputs writes nothing. A managed file
whose content is no longer what was written (a new layer, or a hand edit) counts as the image's
version again. A rebuilt rootfs has no record, so everything is applied afresh.

Runs on the managed host with the Python standard library only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import posixpath
import shutil
import stat

from ._gotmpl import TemplateError, render

STATE = ".sealer-configs.json"
ORIGINALS = ".sealer-configs"
RESERVED = (STATE, ORIGINALS, ".sealer-layers.json")
STRATEGIES = ("overwrite", "merge")
PROCESSORS = ("value", "toJson", "toBase64", "toSecret")
TEMPLATE_SUFFIX = ".tmpl"
DEFAULT_TEMPLATE_DIRS = ("etc", "charts", "manifests")
NEW_FILE_MODE = 0o644


class ConfigError(Exception):
    """Bad input or a rootfs this phase cannot change safely; main() turns it into fail_json."""


# --------------------------------------------------------------------------
# Inputs.


def check_path(name, path, what="Config"):
    """*path* as a normalised path relative to the rootfs; it may not leave it nor touch our records."""
    label = "%s %s" % (what, name)
    if not isinstance(path, str) or not path.strip():
        raise ConfigError("%s: path must be a non-empty relative path" % label)
    if path.startswith("/"):
        raise ConfigError("%s: path %r must be relative to the rootfs, not absolute" % (label, path))
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ConfigError("%s: path %r holds a control character" % (label, path))
    norm = posixpath.normpath(path)
    if norm == "." or norm == ".." or norm.startswith("../"):
        raise ConfigError("%s: path %r leaves the rootfs ('..')" % (label, path))
    if norm.split("/")[0] in RESERVED:
        raise ConfigError("%s: path %r is sealer's own record in the rootfs" % (label, path))
    return norm


def check_configs(configs):
    """Validate the Configs a task was given; return them as dicts with normalised paths."""
    if not isinstance(configs, list):
        raise ConfigError("configs must be a list of {name, path, data, strategy}")
    return [check_config(config, i) for i, config in enumerate(configs)]


def check_config(config, index=0):
    """One Config (the *index*-th) as a dict with its path normalised, or ConfigError naming it."""
    if not isinstance(config, dict):
        raise ConfigError("configs[%d] must be a dict {name, path, data, strategy}" % index)
    name = config.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError("configs[%d]: name must be a non-empty string" % index)
    unknown = sorted(set(config) - {"name", "path", "data", "strategy", "process"})
    if unknown:
        raise ConfigError("Config %s: unknown key(s) %s" % (name, ", ".join(unknown)))
    path = check_path(name, config.get("path"))
    data = config.get("data")
    if not isinstance(data, str):
        raise ConfigError("Config %s: data must be a string (the file's text)" % name)
    strategy = config.get("strategy") or "overwrite"
    if strategy not in STRATEGIES:
        raise ConfigError("Config %s: unknown strategy %r (expected overwrite or merge)" % (name, strategy))
    process = config.get("process") or []
    if isinstance(process, str):
        process = [p.strip() for p in process.split("|") if p.strip()]
    if not isinstance(process, list):
        raise ConfigError("Config %s: process must be a list of %s" % (name, ", ".join(PROCESSORS)))
    bad = [p for p in process if p not in PROCESSORS]
    if bad:
        raise ConfigError("Config %s: unknown processor(s) %s (expected %s)"
                          % (name, ", ".join(map(str, bad)), ", ".join(PROCESSORS)))
    return {"name": name, "path": path, "data": data, "strategy": strategy, "process": list(process)}


def needs_base(config):
    """Whether resolving *config* needs the file it lands on: merges, and toSecret."""
    return config["strategy"] == "merge" or "toSecret" in config["process"]


def check_template_dirs(dirs):
    """Normalised template directories; ``.`` is the whole rootfs."""
    if not isinstance(dirs, list):
        raise ConfigError("template_dirs must be a list of directories relative to the rootfs")
    return ["." if d in (".", "", "./") else check_path(d, d, "template directory") for d in dirs]


# --------------------------------------------------------------------------
# The rootfs, and what earlier runs recorded in it.


class Rootfs(object):
    """One rootfs: safe paths into it, its files' current content, and the managed-files record."""

    def __init__(self, root):
        if not os.path.isdir(root):
            raise ConfigError("rootfs %s does not exist (deliver the image first: the rootfs phase)" % root)
        self.root = root
        self.real = os.path.realpath(root)
        self.state = self._load_state()

    def path(self, rel):
        """The host path of *rel*; its parent directories must resolve inside the rootfs."""
        full = os.path.join(self.root, rel)
        parent = os.path.realpath(os.path.dirname(full))
        if parent != self.real and not parent.startswith(self.real + os.sep):
            raise ConfigError("%s: a symlink among its directories leads out of the rootfs" % rel)
        return full

    def directory(self, rel):
        """The host path of directory *rel* if it exists and resolves inside the rootfs, else None."""
        full = os.path.normpath(os.path.join(self.root, rel))
        real = os.path.realpath(full)
        if not os.path.isdir(full) or (real != self.real and not real.startswith(self.real + os.sep)):
            return None
        return full

    def read(self, rel):
        """Current bytes of *rel*, or None when it does not exist."""
        full = self.path(rel)
        try:
            st = os.lstat(full)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise ConfigError("cannot read %s: %s" % (rel, exc)) from None
        if stat.S_ISLNK(st.st_mode):
            raise ConfigError("%s is a symlink in the rootfs; refusing to write through it" % rel)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError("%s is not a regular file in the rootfs" % rel)
        with open(full, "rb") as f:
            return f.read()

    def mode(self, rel, default=NEW_FILE_MODE):
        try:
            return stat.S_IMODE(os.lstat(self.path(rel)).st_mode)
        except OSError:
            return default

    def _load_state(self):
        try:
            with open(os.path.join(self.root, STATE)) as f:
                files = json.load(f).get("files", {})
        except (OSError, ValueError, AttributeError):
            return {}
        return files if isinstance(files, dict) else {}

    def original_path(self, rel):
        return os.path.join(self.root, ORIGINALS, rel)

    def base(self, rel):
        """The image's version of *rel* (bytes or None), and whether a record vouches for it.

        A managed file still holding what was written stands for its recorded original; any other file
        is the image's version as it is."""
        current = self.read(rel)
        record = self.state.get(rel)
        if record and current is not None and _sha256(current) == record.get("sha256"):
            if not record.get("original"):
                return None, True
            try:
                with open(self.original_path(rel), "rb") as f:
                    return f.read(), True
            except OSError:
                pass  # the record lost its original: treat the file as the image's
        return current, False


def bases(rootfs, configs):
    """``{path: text or None}``: the image's version of each file a merge or toSecret Config lands on."""
    root = Rootfs(rootfs)
    out = {}
    for config in configs:
        if needs_base(config) and config["path"] not in out:
            data = root.base(config["path"])[0]
            if data is None:
                out[config["path"]] = None
                continue
            try:
                out[config["path"]] = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ConfigError("Config %s: %s is not UTF-8 text; it cannot be merged"
                                  % (config["name"], config["path"])) from None
    return out


# --------------------------------------------------------------------------
# Planning: what every managed file must hold.


class Change(object):
    """One file to write (after is bytes) or remove (after is None)."""

    def __init__(self, rel, before, after, mode, reason):
        self.rel, self.before, self.after, self.mode, self.reason = rel, before, after, mode, reason

    def summary(self):
        if self.after is None:
            action = "removed"
        elif self.before is None:
            action = "created"
        else:
            action = "updated"
        return {"path": self.rel, "action": action, "by": self.reason}


def plan(rootfs, configs, env, template_dirs=DEFAULT_TEMPLATE_DIRS):
    """(changes, new record, originals to keep) that make *rootfs* hold the Configs and rendered templates.

    *configs* come from check_configs() with every merge already resolved to an overwrite."""
    root = Rootfs(rootfs)
    env = dict((str(k), _text(v)) for k, v in (env or {}).items())
    wanted = {}   # rel -> (bytes, mode or None, reason)
    for config in configs:
        if needs_base(config):
            raise ConfigError("Config %s: strategy merge and toSecret are resolved by the controller (the "
                              "sealer.cluster.rootfs_config action); this host got them unresolved" % config["name"])
        wanted[config["path"]] = (config["data"].encode("utf-8"), None, "Config " + config["name"])
    for tmpl in _templates(root, check_template_dirs(template_dirs), wanted):
        source = wanted[tmpl][0] if tmpl in wanted else root.base(tmpl)[0]
        if source is None:
            continue
        try:
            text = render(source.decode("utf-8"), env, tmpl)
        except UnicodeDecodeError:
            raise ConfigError("%s is not UTF-8 text; cannot render it" % tmpl) from None
        except TemplateError as exc:
            raise ConfigError("template %s" % exc) from None
        out = tmpl[: -len(TEMPLATE_SUFFIX)]
        wanted[out] = (text.encode("utf-8"), root.mode(tmpl), "template " + tmpl)

    changes, record, originals = [], {}, {}
    for rel in sorted(set(wanted) | set(root.state)):
        image, vouched = root.base(rel)
        current = root.read(rel)
        if rel in wanted:
            data, mode, reason = wanted[rel]
            record[rel] = {"sha256": _sha256(data), "original": image is not None}
            if not vouched:
                originals[rel] = image  # this file as the image has it: keep it to start from next time
        else:
            data, mode, reason = image, None, "restored (no Config or template writes it now)"
        if data != current:
            if current is not None:
                mode = root.mode(rel)  # an existing file keeps its mode
            elif mode is None:
                mode = _original_mode(root, rel, vouched)
            changes.append(Change(rel, current, data, mode, reason))
    return changes, record, originals


def _templates(root, dirs, wanted):
    """Relative paths of the ``*.tmpl`` files under *dirs*: on disk, and those Configs write."""
    found = set(rel for rel in wanted if rel.endswith(TEMPLATE_SUFFIX) and _under(rel, dirs))
    for top in dirs:
        full = root.directory(top)
        if full is None:
            continue
        for parent, subdirs, files in os.walk(full):
            if os.path.samefile(parent, root.root):
                subdirs[:] = [d for d in subdirs if d not in RESERVED]
            subdirs.sort()
            for name in sorted(files):
                if name.endswith(TEMPLATE_SUFFIX) and len(name) > len(TEMPLATE_SUFFIX):
                    path = os.path.join(parent, name)
                    if os.path.isfile(path) and not os.path.islink(path):
                        found.add(os.path.relpath(path, root.root).replace(os.sep, "/"))
    return sorted(found)


def _under(rel, dirs):
    return any(d == "." or rel.startswith(d + "/") for d in dirs)


def _original_mode(root, rel, vouched):
    if vouched:
        try:
            return stat.S_IMODE(os.stat(root.original_path(rel)).st_mode)
        except OSError:
            pass
    return NEW_FILE_MODE


# --------------------------------------------------------------------------
# Applying.


def apply(rootfs, changes, record, originals):
    """Write the plan: originals first, then the record, then the files (each atomically).

    In this order an interrupted run is repaired by the next one: a file not yet written still holds
    the image's version, which its stale sha256 in the record reveals."""
    root = Rootfs(rootfs)
    for rel, data in sorted(originals.items()):
        target = root.original_path(rel)
        if data is None:
            _remove(target)
        else:
            _write(target, data, root.mode(rel))
    for rel in set(root.state) - set(record):
        _remove(root.original_path(rel))
    if record != root.state:
        _write(os.path.join(root.root, STATE), json.dumps({"files": record}, indent=1, sort_keys=True).encode(), 0o600)
    for change in changes:
        target = root.path(change.rel)
        if change.after is None:
            _remove(target)
        else:
            _write(target, change.after, change.mode)


def _write(path, data, mode):
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, ".%s.sealer-tmp" % os.path.basename(path))
    owner = None
    try:
        st = os.lstat(path)
        owner = (st.st_uid, st.st_gid)
    except OSError:
        pass
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if owner is not None and hasattr(os, "chown"):
            try:
                os.chown(tmp, owner[0], owner[1])
            except OSError:
                pass  # not root: the file stays ours
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        raise ConfigError("cannot write %s: %s" % (path, exc)) from None


def _remove(path):
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise ConfigError("cannot remove %s: %s" % (path, exc)) from None


def diff(change, limit=65536):
    """An Ansible diff entry for *change*, when both sides are text of reasonable size."""
    sides = []
    for data in (change.before, change.after):
        if data is None:
            sides.append("")
            continue
        if len(data) > limit:
            return None
        try:
            sides.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return {"before_header": change.rel, "after_header": change.rel, "before": sides[0], "after": sides[1]}


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
