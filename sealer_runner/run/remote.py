"""``check`` and ``exec`` on a cluster's hosts: the same inventory, SSH settings and in-memory secrets as
``run`` (:mod:`.inventory`, :mod:`.runner`), other playbooks, and their answers read from the event stream.

Each keeps its own private data dir in the cluster's state dir (``check/``, ``exec/``), so neither touches
the files of a run in progress. The judging of the checks is :mod:`.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..clusterfile.models import Cluster, ClusterSpec
from ..errors import InputError, SealerError
from ..image.store import Store
from ..registry.transfer import Registries
from ..util.secret import Secret
from .checks import CheckReport, ClusterHost, PostFacts, PreFacts, Rules, judge_post, judge_pre
from .cluster import PLAYBOOKS_DIR, ClusterState, ansible_cfg, build_request, collections_path
from .inventory import build_inventory, host_order
from .runner import EventHandler, RunRequest, RunResult, run, stop_if_interrupted
from .state import known_clusters

CHECK_FACTS = "sealer_check_facts"
EXEC_TASK = "The command"
PHASES = ("pre", "post")


def saved_clusterfile(root: Path) -> Path:
    """The applied Clusterfile (:mod:`.state`) of the one cluster applied from *root*; an input error when
    there is none or several (then ``-f`` must say which), or when that cluster's SSH used passwords (they
    are not kept: ``-f`` must give them)."""
    applied = [(c.name, c.state, c.clusterfile) for c in known_clusters(root) if c.state and c.clusterfile]
    if len(applied) != 1:
        which = (f"several clusters ({', '.join(name for name, _, _ in applied)})" if applied
                 else f"no cluster was applied from this controller (none in {root / 'clusters'})")
        raise InputError(f"give the cluster's Clusterfile with -f: {which}")
    name, state, path = applied[0]
    if state is None or path is None or state.ssh_password:
        raise InputError(f"cluster {name} was applied with SSH passwords, which are removed from its saved "
                         f"Clusterfile ({path}): give the Clusterfile with its passwords with -f")
    return path


# ---- check ----

def check_request(spec: ClusterSpec, store: Store, root: Path, *, phase: str, ssh_key: Secret | None,
                  registries: Registries | None = None, verbosity: int = 0) -> RunRequest:
    """The run's own request (inventory, secrets, extra-vars: what the host check needs to know which
    commands the run calls), for the check playbook, in the state dir's ``check/``."""
    if phase not in PHASES:
        raise InputError(f"check phase {phase!r}: expected one of {', '.join(PHASES)}")
    base = build_request(spec, store, root, ssh_key=ssh_key, registries=registries, verbosity=verbosity)
    return replace(base, private_dir=ClusterState(root, spec.cluster.name).dir / "check", playbook="check.yml",
                   extravars={**base.extravars, "sealer_check_phase": phase}, tags=(), skip_tags=(), limit=None)


def check_rules(cluster: Cluster, extravars: Mapping[str, Any]) -> Rules:
    """What the judging needs to know, from the cluster and the run's extra-vars."""
    registry = extravars.get("sealer_registry") or {}
    # the embedded registry runs only for an image that caches container images (those of some upstream)
    embedded = not registry.get("external") and registry.get("port") and extravars.get("sealer_upstream_registries")
    return Rules(hosts=tuple(ClusterHost(h.ip, tuple(h.roles)) for h in host_order(cluster)),
                 runtime=str(extravars.get("sealer_cluster_runtime") or "none"),
                 image_platforms=tuple(extravars.get("sealer_image_platforms") or ()),
                 registry_hosts=tuple(registry.get("hosts") or ()) if embedded else (),
                 registry_port=int(registry["port"]) if embedded else None)


def run_check(request: RunRequest, rules: Rules, on_event: EventHandler | None = None) -> CheckReport:
    """Run the check playbook and judge what each host answered. A host that did not answer is a failed
    finding; an error before any host could answer (a bad input) is a :class:`SealerError`."""
    result, facts = collect_facts(request, on_event)
    phase = str(request.extravars.get("sealer_check_phase"))
    missing = {f.host: f.message if f.unreachable else f"answered, but the check failed there: {f.message}"
               for f in result.failures}
    silent = [h.ip for h in rules.hosts if h.ip not in facts and h.ip not in missing]
    if silent:
        raise SealerError(f"check playbook failed before {', '.join(silent)} answered ({result.status}, rc {result.rc}):"
                          f"\n{result.output_tail}\nartifacts: {result.artifacts}")
    if phase == "pre":
        return judge_pre(rules, {h: PreFacts.from_ansible(f) for h, f in facts.items()}, missing)
    return judge_post(rules, {h: PostFacts.from_ansible(f) for h, f in facts.items()}, missing)


def collect_facts(request: RunRequest, on_event: EventHandler | None = None) -> tuple[RunResult, dict[str, Any]]:
    """Run the check playbook; each host's ``sealer_check_facts``, as its set_fact reported them."""
    facts: dict[str, Any] = {}

    def handle(event: dict[str, Any]) -> None:
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok":
            answer = ((data.get("res") or {}).get("ansible_facts") or {}).get(CHECK_FACTS)
            if isinstance(answer, dict):
                facts[str(data.get("host"))] = answer
        if on_event is not None:
            on_event(event)

    result = run(request, handle)
    stop_if_interrupted(result, "the checks only read the hosts: nothing was changed")
    return result, facts


def pre_check(spec: ClusterSpec, store: Store, root: Path, *, ssh_key: Secret | None,
              registries: Registries | None = None, on_event: EventHandler | None = None,
              hosts: Sequence[str] | None = None) -> CheckReport:
    """The pre checks of a cluster, as ``check --pre`` runs them: the report, whose ``ok`` says whether a
    run may go on (``run`` calls this first). *hosts* limits them to those (``join``: the new ones; the
    others run the cluster already, so its ports are in use there)."""
    request = check_request(spec, store, root, phase="pre", ssh_key=ssh_key, registries=registries)
    rules = check_rules(spec.cluster, request.extravars)
    if hosts is not None:
        request = replace(request, limit=",".join(hosts))
        rules = replace(rules, hosts=tuple(h for h in rules.hosts if h.ip in hosts),
                        registry_hosts=tuple(h for h in rules.registry_hosts if h in hosts))
    return run_check(request, rules, on_event)


# ---- exec ----

@dataclass(frozen=True)
class HostOutput:
    """What a command did on one host: its exit status, or why there is none (unreachable)."""

    host: str
    roles: tuple[str, ...]
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.rc == 0


def exec_request(spec: ClusterSpec, root: Path, *, command: str, role: str | None, ssh_key: Secret | None,
                 verbosity: int = 0) -> RunRequest:
    """The exec playbook on the hosts of *role* (all without one), with the run's inventory and secrets.
    Needs no image: nothing but the command reaches the hosts."""
    cluster = spec.cluster
    if not command.strip():
        raise InputError("exec: the command is empty")
    return imageless_request(spec, root, playbook="exec.yml", private="exec",
                             extravars={"sealer_exec_command": command}, hosts=selected_hosts(cluster, role),
                             ssh_key=ssh_key, verbosity=verbosity)


def imageless_request(spec: ClusterSpec, root: Path, *, playbook: str, private: str, extravars: dict[str, Any],
                      ssh_key: Secret | None, hosts: Sequence[Any] | None = None, verbosity: int = 0) -> RunRequest:
    """*playbook* on the cluster's hosts (*hosts*, else all) with the run's inventory and SSH secrets, and no
    image: nothing of the image is read, so it works from a controller that does not hold it (exec, etcd)."""
    cluster = spec.cluster
    chosen = list(hosts) if hosts is not None else host_order(cluster)
    state = ClusterState(root, cluster.name)
    password = ssh_password(spec)
    return RunRequest(
        private_dir=state.dir / private, project_dir=PLAYBOOKS_DIR, playbook=playbook,
        inventory=build_inventory(cluster), extravars=extravars,
        ansible_cfg=ansible_cfg(state, max(10, len(chosen))), collections_path=collections_path(root),
        ssh_password=password, ssh_key=ssh_key,
        become_password=password if any(h.ssh.user != "root" for h in cluster.hosts) else None,
        limit=",".join(h.ip for h in chosen), forks=max(10, len(chosen)), verbosity=verbosity)


def selected_hosts(cluster: Cluster, role: str | None) -> list:
    """The hosts carrying *role* (master, node or any role of the Clusterfile), master0 first."""
    hosts = host_order(cluster)
    if role is None:
        return hosts
    chosen = [h for h in hosts if h.has_role(role)]
    if not chosen:
        roles = sorted({r for h in hosts for r in h.roles})
        raise InputError(f"--role {role}: no host of cluster {cluster.name} has it (roles: {', '.join(roles)})")
    return chosen


def ssh_password(spec: ClusterSpec) -> Secret | None:
    """The hosts' one SSH password (as ``run``: several different ones are refused), else None."""
    cluster = spec.cluster
    if len({h.ssh.passwd.reveal() for h in cluster.hosts if h.ssh.passwd}) > 1:
        raise InputError(f"{spec.filename}: hosts with different SSH passwords are not supported; "
                         "use one password or key-based access")
    return next((h.ssh.passwd for h in cluster.hosts if h.ssh.passwd), None)


def run_exec(request: RunRequest, cluster: Cluster,
             on_output: Callable[[HostOutput], None] | None = None) -> list[HostOutput]:
    """Run the command; each selected host's output, in host order (master0 first)."""
    roles = {h.ip: tuple(h.roles) for h in cluster.hosts}
    outputs: dict[str, HostOutput] = {}

    def handle(event: dict[str, Any]) -> None:
        out = exec_output(event, roles)
        if out is not None:
            outputs[out.host] = out
            if on_output is not None:
                on_output(out)

    result = run(request, handle)
    stop_if_interrupted(result, "the command may have run on some hosts")
    selected = (request.limit or "").split(",")
    for ip in selected:
        if ip not in outputs:
            why = next((f.message for f in result.failures if f.host == ip), "") or result.output_tail or result.status
            outputs[ip] = HostOutput(ip, roles.get(ip, ()), None, error=why)
    return [outputs[ip] for ip in selected]


def exec_output(event: Mapping[str, Any], roles: Mapping[str, tuple[str, ...]]) -> HostOutput | None:
    """A host's output from the exec task's event (ok, failed or unreachable), else None."""
    data = event.get("event_data") or {}
    kind = event.get("event")
    if data.get("task") != EXEC_TASK or kind not in ("runner_on_ok", "runner_on_failed", "runner_on_unreachable"):
        return None
    host, res = str(data.get("host")), data.get("res") or {}
    if kind == "runner_on_unreachable" or res.get("rc") is None:
        return HostOutput(host, roles.get(host, ()), None, error=str(res.get("msg") or "unreachable").strip())
    return HostOutput(host, roles.get(host, ()), int(res["rc"]), _text(res.get("stdout")),
                      _ssh_noise(_text(res.get("stderr")), host))


def _text(value: Any) -> str:
    return str(value or "").replace("\r\n", "\n")


def _ssh_noise(stderr: str, host: str) -> str:
    """stderr without the lines ssh adds: a new host key accepted, a shared connection closed."""
    return "\n".join(ln for ln in stderr.splitlines()
                     if ln.strip() != f"Shared connection to {host} closed."
                     and not (ln.startswith("Warning: Permanently added ") and ln.endswith("to the list of known hosts.")))
