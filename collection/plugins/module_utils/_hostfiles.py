# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection: what host-preparation modules share.

Whether a refusal is fatal (``strict``: true, false, or auto = fatal unless the host is a container),
and writing small configuration files only when their content or mode changes (``ensure_files``, the
host_files module). Standard library only.
"""

from __future__ import annotations

import os
import tempfile

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


class StrictError(Exception):
    """A bad ``strict`` value."""


class HostFileError(Exception):
    """A file or directory that cannot be made as asked (bad mode, a directory in the way...)."""


# Options every host-preparation module takes: how strict it is, and how it tells a container.
STRICT_ARGS = dict(
    strict=dict(type="str", default="auto"),
    container_marker=dict(type="path", default="/run/systemd/container"),
)
# ... and those that persist what they set in a file of their own.
PERSIST_ARGS = dict(
    persist_file=dict(type="path"),
    header=dict(type="str", default="Written by sealer_runner."),
)


def executable(module, command):
    """*command*'s path (a path, or a name looked up in PATH and the sbin directories), or None."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    return module.get_bin_path(command)


def finish(module, fatal, result, problems, failure, warning):
    """End a host-preparation module: refusals fail it (``failure`` + the problems) when *fatal*, and
    are each a warning (``warning`` + the problem) otherwise."""
    if problems and fatal:
        module.fail_json(msg=failure + "; ".join(problems), **result)
    for problem in problems:
        module.warn("%s%s (reported, not fatal: strict=%s)" % (warning, problem, module.params["strict"]))
    module.exit_json(**result)


def in_container(marker):
    """systemd writes *marker* (``/run/systemd/container``) when it runs inside a container."""
    return os.path.exists(marker)


def fatal(strict, marker):
    """Whether refusals fail the task: *strict* true/false, or auto (not inside a container)."""
    value = str(strict).strip().lower()
    if value == "auto":
        return not in_container(marker)
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StrictError("strict must be auto, true or false, not %r" % (strict,))


def read(path):
    """A text file's content, or None when it does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def write_if_changed(path, content, check_mode=False, mode=None):
    """Make the file at *path* hold *content* (creating its directory), keeping its mode (else *mode*,
    else 0644); returns whether it changed. Compared as bytes: CRLF line ends and files that are not
    UTF-8 compare as they are."""
    data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
    if _read_bytes(path) == data:
        return False
    if check_mode:
        return True
    if mode is None:
        mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def _mode(value, path):
    """An octal string ("0644"), or an int as YAML gives an unquoted 0644 (already the mode's value)."""
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        try:
            mode = int(str(value), 8)
        except ValueError:
            raise HostFileError("%s: mode %r is not an octal number" % (path, value)) from None
    if not 0 <= mode <= 0o7777:
        raise HostFileError("%s: mode %r is out of range" % (path, value))
    return mode


def _set_mode(path, mode, check_mode):
    if os.stat(path).st_mode & 0o7777 == mode:
        return False
    if not check_mode:
        os.chmod(path, mode)
    return True


def under_root(root, path):
    """*path* (absolute) inside the directory *root*; *path* itself when *root* is empty. A path that would
    leave *root* (``..``) is refused."""
    if not root:
        return path
    if not os.path.isabs(path):
        raise HostFileError("%s: not an absolute path" % path)
    inside = os.path.normpath(os.path.join(root, path.lstrip("/")))
    if inside != os.path.normpath(root) and not inside.startswith(os.path.normpath(root) + os.sep):
        raise HostFileError("%s leaves the root %s" % (path, root))
    return inside


def ensure_files(directories, files, check_mode=False, root=""):
    """Make each of *directories* ({path, mode}) exist with its mode, then each of *files* ({path,
    content, mode, state}) hold its content with its mode, or be absent. With *root*, every path is taken
    inside that directory instead of ``/`` (rendering a host's files elsewhere). Returns the paths changed
    (as given, without *root*)."""
    changed = []
    for entry in directories:
        path, mode = under_root(root, entry["path"]), _mode(entry.get("mode") or "0755", entry["path"])
        if os.path.lexists(path) and not os.path.isdir(path):
            raise HostFileError("%s is in the way of a directory" % entry["path"])
        if not os.path.isdir(path):
            if not check_mode:
                os.makedirs(path, mode=mode, exist_ok=True)
                os.chmod(path, mode)
            changed.append(entry["path"])
        elif _set_mode(path, mode, check_mode):
            changed.append(entry["path"])
    for entry in files:
        path = under_root(root, entry["path"])
        if os.path.isdir(path) and not os.path.islink(path):
            raise HostFileError("%s is a directory, not a file" % entry["path"])
        if entry.get("state", "present") == "absent":
            if os.path.lexists(path):
                if not check_mode:
                    os.unlink(path)
                changed.append(entry["path"])
            continue
        mode = _mode(entry.get("mode") or "0644", entry["path"])
        if entry.get("content") is None:
            raise HostFileError("%s: content is required" % entry["path"])
        wrote = write_if_changed(path, entry["content"], check_mode=check_mode, mode=mode)
        if wrote or (os.path.exists(path) and _set_mode(path, mode, check_mode)):
            changed.append(entry["path"])
    return changed
