"""``run --dry-run``: what a run would do, decided on the controller, with no host touched (no SSH).

The plan is read from the collection's own playbook (``playbooks/run.yml``): its plays in order, each with
the hosts of this cluster it targets, its roles or tasks, and whether it is skipped (a role guarded by the
cluster runtime, phases ``--tags`` leaves out).

The files, under ``<out>/<host>/<absolute path>``:

* what the front end decides: the inventory and extra-vars ansible-runner would be given (in ``_controller/``;
  every secret stays vault-encrypted or absent) and each host's kubeadm configuration (the values kubeadm init
  issues on master0 - join token, CA hash, certificate key - as placeholders);
* what the roles write on the hosts (containerd's config.toml, unit and hosts.toml files, the registry's
  configuration, TLS files and unit, the kubelet's unit and drop-in, lvscare's care loop on nodes, the
  /etc/hosts blocks, the trust-store CA, the kernel drop-ins): rendered by the collection's
  ``sealer.cluster.render`` playbook, run by ansible-runner with the local connection only (no host is
  reached), from the same role variables, templates and module_utils the run uses. The registry password
  and the registry's private key are placeholders.

Not rendered: the image's rootfs (its files are the image's layers, listed by ``sealer_runner inspect``), the
Configs applied inside it, and what kubeadm itself writes (pki, kubeconfigs, static pods).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ..bundled import COLLECTION_DIR
from ..errors import InputError, SealerError
from ..util.fs import atomic_write_bytes
from .phase_tags import node_tags
from .runner import RunRequest, RunResult, dump_ansible_data
from .runner import run as run_playbook

RUN_PLAYBOOK = COLLECTION_DIR / "playbooks" / "run.yml"
ISSUED = "<issued by kubeadm init on master0 at run time>"
RENDER_PLAYBOOK = "render.yml"
REGISTRY_PASSWORD = "<the registry password: given to the run in memory, never written here>"
CONTROLLER_DIR = "_controller"
_RUNTIME_WHEN = re.compile(r"sealer_cluster_runtime\b[^=]*==\s*'([\w-]+)'")


@dataclass(frozen=True)
class PlanStep:
    """One play of the run, for this cluster."""

    phase: str
    hosts: tuple[str, ...]
    actions: tuple[str, ...]  # role names, or task names for a play of tasks
    skipped: str = ""  # why the run would not do it ("" if it would)


def run_plan(request: RunRequest, playbook: Path = RUN_PLAYBOOK) -> list[PlanStep]:
    """The run's plays in order, each with its hosts among the inventory's, for *request*."""
    plays = yaml.safe_load(playbook.read_text()) or []
    groups = _groups(request.inventory)
    only = request.extravars.get("sealer_only_hosts")
    groups["sealer_targets"] = groups.get("all", ()) if only is None else \
        tuple(h for h in groups.get("all", ()) if h in set(only))
    groups["sealer_members"] = tuple(h for h in groups.get("all", ()) if h not in groups["sealer_targets"])
    runtime = str(request.extravars.get("sealer_cluster_runtime", "none"))
    steps = []
    for play in plays:
        hosts = _pattern(str(play.get("hosts", "all")), groups)
        roles = [r if isinstance(r, dict) else {"role": r} for r in play.get("roles") or []]
        actions = tuple(str(r["role"]).rsplit(".", 1)[-1] for r in roles) or \
            tuple(str(t.get("name", "?")) for t in play.get("tasks") or [])
        play_tags = node_tags(play).union(*(node_tags(r) for r in roles))
        skipped = ""
        wanted = {m.group(1) for r in roles for m in [_RUNTIME_WHEN.search(str(r.get("when", "")))] if m}
        if wanted and runtime not in wanted:
            skipped = f"the cluster runtime is {runtime}"
        elif request.tags and play_tags and not play_tags & {*request.tags, "always"}:
            skipped = "left out by --tags"
        elif not hosts:
            skipped = "no host of this cluster is in its group"
        steps.append(PlanStep(str(play.get("name", "?")), hosts, actions, skipped))
    return steps


def write_files(request: RunRequest, out_dir: Path, render: bool = True) -> list[Path]:
    """Write every file of the run into *out_dir* (see the module's docstring) and return their paths, sorted.
    *out_dir* must be empty, absent, or an earlier dry run's (which is replaced: no stale file stays)."""
    _clear(out_dir)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = [
        _write(out_dir / CONTROLLER_DIR / "inventory.yml", dump_ansible_data(request.inventory)),
        _write(out_dir / CONTROLLER_DIR / "extravars.yml", dump_ansible_data(request.extravars)),
    ]
    if render:
        render_host_files(request, out_dir)
    ev = request.extravars
    config_file = "/etc/kubernetes/kubeadm.yaml"
    if ev.get("sealer_cluster_runtime") == "kubernetes" and ev.get("sealer_kube_init_config"):
        master0 = str(ev["sealer_master0"])
        written.append(_write(_host_path(out_dir, master0, config_file), _documents(ev["sealer_kube_init_config"])))
        for host, docs in (ev.get("sealer_kube_join_configs") or {}).items():
            written.append(_write(_host_path(out_dir, str(host), config_file), _documents(_with_placeholders(docs))))
    return sorted({*written, *(p for p in out_dir.rglob("*") if p.is_file())})


class RenderError(SealerError):
    """The render playbook failed: a role could not render a host's files."""


def render_host_files(request: RunRequest, out_dir: Path) -> None:
    """Run ``sealer.cluster.render`` for *request*'s hosts with the local connection, writing each host's files
    under ``out_dir/<host>/``. Raises :class:`RenderError` naming what failed."""
    extravars = dict(request.extravars, sealer_render_dir=str(out_dir.resolve()))
    if "sealer_registry_password" in extravars:
        extravars["sealer_registry_password"] = REGISTRY_PASSWORD
    with tempfile.TemporaryDirectory(prefix="sealer-render-") as private:
        render = replace(request, private_dir=Path(private), playbook=RENDER_PLAYBOOK, extravars=extravars,
                         ssh_password=None, ssh_key=None, vault_password=None, become_password=None, verbosity=0)
        result = run_playbook(render)
    if not result.ok:
        raise RenderError("rendering the hosts' files failed: " + _why(result))


def _clear(out_dir: Path) -> None:
    """Make *out_dir* empty: absent or empty is fine; an earlier dry run's is removed; anything else refused."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise InputError(f"--output-dir {out_dir}: not a directory")
    if any(out_dir.iterdir()):
        if not (out_dir / CONTROLLER_DIR / "extravars.yml").is_file():
            raise InputError(f"--output-dir {out_dir}: not empty, and not an earlier dry run's: give an empty "
                             "or new directory")
        shutil.rmtree(out_dir)


def _why(result: RunResult) -> str:
    return result.why("; ", "")


def render_plan(steps: Sequence[PlanStep]) -> list[str]:
    """The plan as lines for people: phase, then its hosts and what it does there."""
    lines = []
    for number, step in enumerate(steps, 1):
        state = f"skipped: {step.skipped}" if step.skipped else ", ".join(step.hosts)
        lines.append(f"{number:2}. {step.phase}")
        lines.append(f"      hosts: {state}")
        if not step.skipped:
            lines.append(f"      does:  {', '.join(step.actions)}")
    return lines


def _pattern(pattern: str, groups: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The hosts of a play's pattern: a group, or groups joined by ``:&`` (intersection), as the run's plays use."""
    first, *others = pattern.split(":&")
    hosts = groups.get(first.strip(), ())
    for other in others:
        keep = set(groups.get(other.strip(), ()))
        hosts = tuple(h for h in hosts if h in keep)
    return hosts


def _groups(inventory: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """Every group of the inventory (``all`` included) with its hosts, children resolved."""
    out: dict[str, list[str]] = {}

    def walk(name: str, group: Mapping[str, Any]) -> list[str]:
        hosts = list((group.get("hosts") or {}).keys())
        for child, sub in (group.get("children") or {}).items():
            hosts += walk(child, sub or {})
        out[name] = list(dict.fromkeys(out.get(name, []) + hosts))
        return hosts

    for name, group in inventory.items():
        walk(name, group or {})
    return {k: tuple(v) for k, v in out.items()}


def _with_placeholders(docs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for doc in docs:
        doc = yaml.safe_load(yaml.safe_dump(dict(doc)))  # a deep copy of plain data
        if doc.get("kind") == "JoinConfiguration":
            token = doc.setdefault("discovery", {}).setdefault("bootstrapToken", {})
            token["token"], token["caCertHashes"] = ISSUED, [ISSUED]
            if "controlPlane" in doc:
                doc["controlPlane"]["certificateKey"] = ISSUED
        out.append(doc)
    return out


def _documents(docs: Sequence[Mapping[str, Any]]) -> str:
    """As the role writes them (Ansible's to_nice_yaml: sorted keys, indent 2), documents joined by ---."""
    return "---\n".join(yaml.safe_dump(dict(d), indent=2, default_flow_style=False, sort_keys=True, allow_unicode=True)
                        for d in docs)


def _host_path(out_dir: Path, host: str, absolute: str) -> Path:
    return out_dir / host / absolute.lstrip("/")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode(), 0o600)
    return path
