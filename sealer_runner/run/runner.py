"""One facade over ``ansible_runner.run``: a playbook run is a result (status, rc, per-host stats,
failures), never an exception, and its event stream drives whatever display the caller wants.

Secrets reach ansible-runner in memory only: SSH passwords as ``passwords`` (answered at the
``--ask-pass`` prompt, and at ``--ask-become-pass`` for sudo) and the private key as ``ssh_key`` (ansible-runner hands it to ssh-agent
through a FIFO). Neither is written to the private data dir, the inventory or the artifacts.
Secrets for the hosts (registry passwords) are ``!vault`` values in the extra-vars, encrypted with a
one-time vault password that answers the ``--ask-vault-pass`` prompt the same way (see :mod:`.vault`).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from ..util.fs import atomic_write_bytes
from ..util.secret import Secret
from .vault import VaultedText

EventHandler = Callable[[dict[str, Any]], None]
SSH_PASSWORD_PROMPT = r"^SSH [pP]assword:\s*?$"
VAULT_PASSWORD_PROMPT = r"^Vault password:\s*?$"  # what ansible-playbook --ask-vault-pass asks
BECOME_PASSWORD_PROMPT = r"^BECOME password.*:\s*?$"  # --ask-become-pass ("[defaults to SSH password]")


@dataclass(frozen=True)
class HostStats:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Failure:
    host: str
    task: str
    role: str
    message: str
    unreachable: bool = False

    def __str__(self) -> str:
        where = f"{self.role}: " if self.role else ""
        kind = "unreachable" if self.unreachable else "failed"
        return f"{self.host} {kind} at {where}{self.task}: {self.message}"


@dataclass(frozen=True)
class RunResult:
    status: str  # successful | failed | timeout | canceled
    rc: int
    stats: dict[str, HostStats] = field(default_factory=dict)
    failures: tuple[Failure, ...] = ()
    artifacts: Path | None = None
    output_tail: str = ""  # the end of Ansible's output, for failures no event explains

    @property
    def ok(self) -> bool:
        return self.status == "successful" and self.rc == 0

    @property
    def changed(self) -> int:
        return sum(s.changed for s in self.stats.values())

    def why(self, separator: str = "\n", indent: str = "  ") -> str:
        """What went wrong, for an error message: each failure (one per line, indented), else the end of
        Ansible's output, else the status."""
        return separator.join(f"{indent}{f}" for f in self.failures) or self.output_tail or \
            f"{indent}status {self.status}"


@dataclass(frozen=True)
class RunRequest:
    private_dir: Path
    project_dir: Path
    playbook: str
    inventory: dict[str, Any]
    extravars: dict[str, Any]
    ansible_cfg: str
    collections_path: Path
    ssh_password: Secret | None = None
    ssh_key: Secret | None = None
    vault_password: Secret | None = None  # opens the extra-vars' !vault values
    become_password: Secret | None = None  # sudo's, for hosts reached as a non-root user
    tags: tuple[str, ...] = ()
    skip_tags: tuple[str, ...] = ()  # the phases --tags leaves out (see phase_tags), so their checks go too
    limit: str | None = None
    forks: int = 10
    verbosity: int = 0
    warnings: tuple[str, ...] = ()  # about the inputs (e.g. the image's plugin files), for the caller to show


def prepare(request: RunRequest) -> None:
    """Write the private data dir: inventory, extra-vars and ansible.cfg; never a secret."""
    (request.private_dir / "inventory").mkdir(parents=True, exist_ok=True)
    (request.private_dir / "env").mkdir(parents=True, exist_ok=True)
    private = request.private_dir
    atomic_write_bytes(private / "inventory" / "hosts.yml", dump_ansible_data(request.inventory).encode())
    atomic_write_bytes(private / "env" / "extravars", dump_ansible_data(request.extravars).encode())
    atomic_write_bytes(private / "ansible.cfg", request.ansible_cfg.encode())
    for stale in ("passwords", "ssh_key"):  # never left behind by anything
        (request.private_dir / "env" / stale).unlink(missing_ok=True)


def stop_if_interrupted(result: RunResult, what: str) -> None:
    """Raise Interrupted (exit 130) when Ctrl-C stopped *result*'s run; *what* says what that means."""
    if result.status == "canceled":
        from ..errors import Interrupted

        raise Interrupted(f"interrupted: ansible-playbook was stopped; {what}")


@contextmanager
def _interruptible():
    """While a playbook runs, SIGINT (Ctrl-C) does not unwind through ansible-runner, which would leave
    ansible-playbook running on its own: it asks the runner to cancel, which stops ansible-playbook and
    returns status ``canceled``. Only in the main thread (where signal handlers can be set)."""
    flag = [False]
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def on_sigint(signum, frame):  # noqa: ARG001
        flag[0] = True

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def run(request: RunRequest, on_event: EventHandler | None = None) -> RunResult:
    """Run the playbook; returns the result whatever happened on the hosts."""
    import ansible_runner  # imported here: it is heavy, and only runs need it

    prepare(request)
    failures: list[Failure] = []

    def handle(event: dict[str, Any]) -> bool:
        failure = failure_of(event)
        if failure is not None:
            failures.append(failure)
        if on_event is not None:
            on_event(event)
        return True

    cmdline = ["--ask-pass"] if request.ssh_password else []
    passwords = {SSH_PASSWORD_PROMPT: request.ssh_password.reveal()} if request.ssh_password else {}
    if request.become_password:
        cmdline.append("--ask-become-pass")
        passwords[BECOME_PASSWORD_PROMPT] = request.become_password.reveal()
    if request.vault_password:
        cmdline.append("--ask-vault-pass")
        passwords[VAULT_PASSWORD_PROMPT] = request.vault_password.reveal()
    if request.verbosity:
        cmdline.append("-" + "v" * request.verbosity)
    runner = ansible_runner.interface.init_runner(
        private_data_dir=str(request.private_dir),
        project_dir=str(request.project_dir),
        playbook=request.playbook,
        inventory=str(request.private_dir / "inventory" / "hosts.yml"),
        passwords=passwords,
        ssh_key=request.ssh_key.reveal() if request.ssh_key else None,
        cmdline=" ".join(cmdline) or None,
        tags=",".join(request.tags) or None,
        skip_tags=",".join(request.skip_tags) or None,
        limit=request.limit,
        forks=request.forks,
        envvars={
            "ANSIBLE_CONFIG": str(request.private_dir / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": str(request.collections_path),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_AGNOSTIC_BECOME_PROMPT": "True",  # "BECOME password:", the prompt answered above
            "PATH": _path_with_our_ansible(),
        },
        event_handler=handle,
        quiet=True,
        rotate_artifacts=20,
        suppress_env_files=True,  # keep passwords, key and env in memory: ansible-runner would dump them to env/
    )
    # ansible-runner writes the process environment to artifacts/<id>/command; Ansible needs none of the
    # operator's secrets from it (SSH and registry secrets reach it through the passwords above)
    drop_secret_env(runner.config.env)
    with _interruptible() as interrupted:
        runner.cancel_callback = lambda: interrupted[0]
        runner.run()
    artifacts = Path(runner.config.artifact_dir) if getattr(runner, "config", None) else None
    return RunResult(
        status=str(runner.status),
        rc=int(runner.rc if runner.rc is not None else 1),
        stats=_stats(runner.stats or {}),
        failures=tuple(failures),
        artifacts=artifacts,
        output_tail=_tail(artifacts / "stdout") if artifacts else "",
    )


#: Environment variables that carry secrets by their name (AWS_SECRET_ACCESS_KEY, REGISTRY_PASSWORD,
#: GITHUB_TOKEN, ACCESSKEYSECRET...); paths and sockets (…_FILE, …_PATH, …_SOCK, …_DIR) are not secrets.
_SECRET_ENV = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|PRIVATE|ACCESS_?KEY|API_?KEY|AUTH|SESSION", re.IGNORECASE)
_NOT_SECRET_ENV = re.compile(r"(_FILE|_PATH|_SOCK|_DIR|_SOCKET)$", re.IGNORECASE)


def drop_secret_env(env: dict[str, Any]) -> list[str]:
    """Remove from *env* (in place) the variables whose names say they hold a secret, so that neither
    ansible-runner's ``command`` artifact nor the playbook's processes get them; returns their names."""
    dropped = [name for name in env if _SECRET_ENV.search(name) and not _NOT_SECRET_ENV.search(name)]
    for name in dropped:
        del env[name]
    return dropped


def dump_ansible_data(data: Any) -> str:
    """YAML for Ansible's extra-vars and inventory in which every string is ``!unsafe``: data, never a
    template (see :class:`_ExtravarsDumper`)."""
    return yaml.dump(data, Dumper=_ExtravarsDumper, sort_keys=False, allow_unicode=True)


class _ExtravarsDumper(yaml.SafeDumper):
    """Safe YAML in which every string, key or value at any depth, is a ``!unsafe`` scalar, plus ``!vault``
    scalars for :class:`VaultedText` values.

    Everything the front end hands Ansible comes from the Clusterfile, the image or the hosts, or is
    derived from them (paths, ids, commands): Ansible must take it as data. A plain string in an
    extra-vars file or an inventory is trusted as a template by Ansible, so a Config holding
    ``{{ lookup('pipe', ...) }}`` would run on the controller when a task reads it, and Helm's
    ``{{ .Values.x }}`` would fail to parse. ``!unsafe`` strings stay untrusted through ``set_fact``,
    filters, ``combine`` and module arguments (verified with ansible-core 2.19, tests/unit/run/test_unsafe_dump.py).
    Dict keys are tagged too: 2.19 never templates keys, but older cores and any future change stay covered.
    No value the front end writes needs templating, so there is no exception (vaulted values are never
    templated either: 2.19 takes what a ``!vault`` scalar decrypts to as data).
    """

    def represent_str(self, data: str) -> yaml.ScalarNode:  # type: ignore[override]
        if self.resolve(yaml.ScalarNode, data, (True, False)) != _YAML_STR:
            # Ansible reads ``!unsafe 'true'`` as the boolean (its unsafe constructor re-resolves the text as
            # if it were plain, quoted or not), so a string that looks like a bool, a number, null or a date
            # stays a plain quoted string. Such a string holds no template: none of these forms has a "{".
            return self.represent_scalar(_YAML_STR, data, style="'")
        # multi-line text as a block, for people reading the file; PyYAML quotes it instead when a block
        # could not keep it byte for byte
        return self.represent_scalar("!unsafe", data, style="|" if "\n" in data else None)


_YAML_STR = "tag:yaml.org,2002:str"
_ExtravarsDumper.add_representer(str, _ExtravarsDumper.represent_str)
_ExtravarsDumper.add_representer(
    VaultedText, lambda dumper, value: dumper.represent_scalar("!vault", value.ciphertext, style="|"))


def _path_with_our_ansible() -> str:
    """PATH with this Python's bin directory (a venv's ansible-playbook) first."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "/usr/bin:/bin")])


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def failure_of(event: dict[str, Any]) -> Failure | None:
    """The failure an event reports (not one Ansible was told to ignore), else None."""
    kind = event.get("event")
    if kind not in ("runner_on_failed", "runner_on_unreachable"):
        return None
    data = event.get("event_data") or {}
    if kind == "runner_on_failed" and data.get("ignore_errors"):
        return None
    res = data.get("res") or {}
    return Failure(host=str(data.get("host", "?")), task=str(data.get("task", "")), role=str(data.get("role", "")),
                   message=_message(_explain(res)), unreachable=kind == "runner_on_unreachable")


def _explain(res: dict[str, Any]) -> str:
    """What went wrong: a loop's first failed item, a command's exit status and stderr, else the module's msg."""
    items = [r for r in res.get("results") or () if isinstance(r, dict) and r.get("failed")]
    if items:
        label = str(items[0].get("_ansible_item_label") or items[0].get("item") or "")
        label = label if len(label) <= 60 else label[:59] + "…"
        return f"[{label}] {_explain(items[0])}" if label else _explain(items[0])
    msg, stderr = str(res.get("msg") or ""), str(res.get("stderr") or "").strip()
    if stderr and res.get("rc") and (not msg or msg == "non-zero return code"):
        return f"rc {res['rc']}: {stderr}"  # a command's own words, not Ansible's "non-zero return code"
    return msg or stderr or str(res.get("reason") or "failed")


def _message(text: str) -> str:
    """The informative part of a module's message: no banner lines, known SSH trouble explained."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return ("its SSH host key changed since it was first seen (a reinstalled host, or an attack); if expected, "
                "remove its entry from the cluster's known_hosts and run again")
    lines = [ln.strip() for ln in text.splitlines() if any(c.isalnum() for c in ln)]
    return " ".join(lines[:2])[:500] or "failed"


def _stats(raw: dict[str, dict[str, int]]) -> dict[str, HostStats]:
    hosts = set().union(*(v.keys() for v in raw.values() if isinstance(v, dict))) if raw else set()
    get = lambda key, host: int((raw.get(key) or {}).get(host, 0))  # noqa: E731
    return {host: HostStats(ok=get("ok", host), changed=get("changed", host), failed=get("failures", host),
                            unreachable=get("dark", host), skipped=get("skipped", host)) for host in sorted(hosts)}


