# -*- coding: utf-8 -*-
# Copyright: sealer_runner developers. Apache-2.0.
"""Private to the sealer.cluster collection (controller side): run a command on a host with a local
file as its stdin, over the task's own SSH connection.

Ansible's connection API sends stdin as one in-memory ``bytes`` (``exec_command(in_data=...)``) and
copies files with ``put_file`` (sftp, then a separate read to verify). For a gigabyte of layers we want
neither: this builds the connection's exact ssh command line (same options, same ControlPath, so it
rides the ControlMaster the play already opened), hands ssh the open file as stdin, and lets the
remote command hash and unpack the bytes as they arrive.

It relies on the ``ansible.builtin.ssh`` plugin's command builder and password plumbing, which are not
public API: :func:`supported` says when to use it, and callers fall back to ``put_file`` otherwise.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shlex
import subprocess

SSH_PLUGINS = ("ssh", "ansible.builtin.ssh", "ansible.legacy.ssh")


class StreamError(Exception):
    """The streamed command could not be started or failed; ``stderr`` holds its words."""

    def __init__(self, message, rc=None, stderr=""):
        super().__init__(message)
        self.rc = rc
        self.stderr = stderr


def supported(connection, play_context):
    """True when the task's connection is OpenSSH without privilege escalation (the remote command's
    stdin must be ours alone, with no sudo password prompt on it)."""
    if getattr(play_context, "become", False):
        return False
    name = getattr(connection, "_load_name", None) or getattr(connection, "transport", "")
    return name in SSH_PLUGINS and all(hasattr(connection, a) for a in ("_build_command", "get_option"))


def run_with_file(connection, play_context, argv, path):
    """Run *argv* on the connection's host with the file at *path* on its stdin; return its stdout."""
    host = connection.get_option("host") or play_context.remote_addr
    connection.host = host
    remote = " ".join(shlex.quote(a) for a in argv)
    cmd = connection._build_command(connection.get_option("ssh_executable"), "ssh", host, remote)
    popen_kwargs = {}
    init_shm = getattr(connection, "_init_shm", None)
    if init_shm is not None:
        popen_kwargs = init_shm()  # the ssh_askpass password mechanism (ansible-core >= 2.19)
    pipe = getattr(connection, "sshpass_pipe", None)
    if pipe:
        popen_kwargs["pass_fds"] = pipe
    try:
        with open(path, "rb") as stdin:
            proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kwargs)
        if pipe:
            _send_password(connection, play_context, pipe, proc)
        out, err = proc.communicate()
    except OSError as exc:
        raise StreamError("cannot run ssh: %s" % exc) from exc
    finally:
        _clean_shm(connection)
        connection.sshpass_pipe = None
    if proc.returncode:
        text = err.decode("utf-8", "replace").strip()
        raise StreamError(text.splitlines()[-1] if text else "ssh exited with %d" % proc.returncode,
                          proc.returncode, text)
    return out.decode("utf-8", "replace")


def _send_password(connection, play_context, pipe, proc):
    os.close(pipe[0])
    password = connection.get_option("password") or play_context.password
    try:
        if password:
            os.write(pipe[1], password.encode() + b"\n")
    except OSError as exc:
        if exc.errno != errno.EPIPE or proc.poll() is None:
            raise
    finally:
        os.close(pipe[1])


def _clean_shm(connection):
    shm = getattr(connection, "shm", None)
    if shm is None:
        return
    shm.close()
    with contextlib.suppress(FileNotFoundError):
        shm.unlink()
    connection.shm = None
