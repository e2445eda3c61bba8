"""``run --dry-run``: what a run would do, decided on the controller, with no host touched (no SSH).

The plan is read from the collection's own playbook (``playbooks/run.yml``): its plays in order, each with
the hosts of this cluster it targets, its roles or tasks, and whether it is skipped (a role guarded by the
cluster runtime, phases ``--tags`` leaves out). The files are those the front end decides in full: the
inventory and extra-vars ansible-runner would be given (every secret stays vault-encrypted or absent), and
each host's kubeadm configuration (the values kubeadm init issues on master0, the join token, CA hash and
certificate key, shown as placeholders). Files the roles render on the hosts from these values (containerd,
registry and kubelet configuration, /etc/hosts entries) are listed by role in the plan, not rendered here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ..bundled import COLLECTION_DIR
from ..util.fs import atomic_write_bytes
from .phase_tags import node_tags
from .runner import RunRequest, dump_ansible_data

RUN_PLAYBOOK = COLLECTION_DIR / "playbooks" / "run.yml"
ISSUED = "<issued by kubeadm init on master0 at run time>"
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
    runtime = str(request.extravars.get("sealer_cluster_runtime", "none"))
    steps = []
    for play in plays:
        hosts = tuple(groups.get(str(play.get("hosts", "all")), ()))
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


def write_files(request: RunRequest, out_dir: Path) -> list[Path]:
    """Write what the front end decides into *out_dir*: ``_controller/{inventory,extravars}.yml`` and, per
    host, ``<host>/<absolute path>`` of each file whose content the front end decides. Returns the paths."""
    written = [
        _write(out_dir / "_controller" / "inventory.yml", dump_ansible_data(request.inventory)),
        _write(out_dir / "_controller" / "extravars.yml", dump_ansible_data(request.extravars)),
    ]
    ev = request.extravars
    config_file = "/etc/kubernetes/kubeadm.yaml"
    if ev.get("sealer_cluster_runtime") == "kubernetes" and ev.get("sealer_kube_init_config"):
        master0 = str(ev["sealer_master0"])
        written.append(_write(_host_path(out_dir, master0, config_file), _documents(ev["sealer_kube_init_config"])))
        for host, docs in (ev.get("sealer_kube_join_configs") or {}).items():
            written.append(_write(_host_path(out_dir, str(host), config_file), _documents(_with_placeholders(docs))))
    return written


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
