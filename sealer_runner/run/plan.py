"""What ``apply`` would do: the desired cluster (a Clusterfile) against the applied state (the Clusterfile
and state.json the last successful verb kept). Hosts to join, hosts to leave, and why every host would be
run again (another image, other Configs, plugins, env, registry or host settings). Pure: no host, no SSH.

``with_probe`` adds what a look at the hosts found (``apply`` asks each host that stays whether it still
holds the delivered rootfs): a host that lost it makes every host run again. Finer drift (a file edited
by hand) is what ``run`` finds and undoes, task by task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from ..clusterfile.models import ClusterSpec
from ..errors import InputError
from .inventory import host_order
from .state import AppliedState, cluster_secrets, comparable_documents

JOIN, LEAVE, RERUN, KEEP = "join", "leave", "re-run", "no change"


@dataclass(frozen=True)
class HostPlan:
    ip: str
    roles: tuple[str, ...]
    action: str  # join | leave | re-run | no change
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    hosts: tuple[HostPlan, ...]
    rerun: tuple[str, ...] = ()  # why every host would run again ("" when not)
    notes: tuple[str, ...] = field(default=())

    @property
    def joining(self) -> tuple[HostPlan, ...]:
        return tuple(h for h in self.hosts if h.action == JOIN)

    @property
    def leaving(self) -> tuple[HostPlan, ...]:
        return tuple(h for h in self.hosts if h.action == LEAVE)

    @property
    def pending(self) -> bool:
        return any(h.action != KEEP for h in self.hosts)

    def to_json(self) -> dict[str, Any]:
        return {"cluster": self.name, "pending": self.pending, "rerun": list(self.rerun), "notes": list(self.notes),
                "hosts": [{"ip": h.ip, "roles": list(h.roles), "action": h.action, "reasons": list(h.reasons)}
                          for h in self.hosts]}

    def lines(self) -> list[str]:
        """For people: one line per host, then the reasons for a re-run."""
        width = max((len(h.ip) for h in self.hosts), default=0)
        out = [f"{h.ip:<{width}}  {','.join(h.roles):<12} {h.action}" for h in self.hosts]
        out += [f"  re-run because: {reason}" for reason in self.rerun]
        out += [f"  note: {note}" for note in self.notes]
        return out


def plan_cluster(desired: ClusterSpec, desired_text: str, applied: AppliedState, applied_text: str, *,
                 image_digest: str = "") -> ClusterPlan:
    """Compare *desired* (its Clusterfile text) with the *applied* state (its saved Clusterfile text).
    *image_digest* is the desired image's digest in the local store (``""`` when unknown)."""
    if desired.cluster.name != applied.name:
        raise InputError(f"{desired.filename} is cluster {desired.cluster.name}, the state is {applied.name}")
    now = {h.ip: tuple(h.roles) for h in host_order(desired.cluster)}
    before = {h.ip: tuple(h.roles) for h in applied.hosts}
    moved = [ip for ip in now if ip in before and _role(now[ip]) != _role(before[ip])]
    if moved:
        raise InputError(f"{desired.filename}: {', '.join(moved)} changed between master and node: delete the host "
                         "and join it again")
    rerun = list(_image_reasons(desired, applied, image_digest))
    rerun += _document_reasons(desired_text, applied_text, cluster_secrets(desired), set(now) & set(before))
    hosts = [HostPlan(ip, roles, JOIN if ip not in before else RERUN if rerun else KEEP)
             for ip, roles in now.items()]
    hosts += [HostPlan(ip, roles, LEAVE) for ip, roles in before.items() if ip not in now]
    notes = []
    master0 = desired.cluster.master0
    if applied.masters and master0 is not None and master0.ip != applied.masters[0]:
        raise InputError(f"{desired.filename}: master0 would change from {applied.masters[0]} to {master0.ip}: "
                         "the first master stays for the cluster's life (delete -a to start anew)")
    if applied.tags:
        notes.append(f"the last run was limited to --tags {','.join(applied.tags)}: `run` the whole cluster to be sure")
    return ClusterPlan(desired.cluster.name, tuple(hosts), tuple(rerun), tuple(notes))


#: The file a delivered host keeps (module_utils/_layers.py APPLIED): its absence means the host lost its files.
DELIVERED_MARK = "rootfs/.sealer-layers.json"


def probe_command(data_root: str, cluster: str) -> str:
    """The read-only shell test ``apply`` runs on each host that stays (exit 0: delivered)."""
    import shlex

    path = f"{data_root.rstrip('/')}/{cluster}/{DELIVERED_MARK}"
    return f"test -s {shlex.quote(path)}"


def with_probe(plan: ClusterPlan, outputs: Iterable[Any]) -> ClusterPlan:
    """*plan* with the hosts' answers to ``probe_command`` (remote.HostOutput: rc 0, another rc, or None
    when unreachable): a host without its delivered rootfs is a reason for every host to run again; one that
    could not be reached is a note."""
    lost, unreachable = [], []
    for out in outputs:
        if out.rc is None:
            unreachable.append(f"{out.host} ({(out.error or 'unreachable').splitlines()[0]})")
        elif out.rc != 0:
            lost.append(out.host)
    rerun = [*plan.rerun, *(f"{ip} lost its files (no {DELIVERED_MARK} in the cluster's data directory)"
                            for ip in lost)]
    notes = [*plan.notes, *(f"{what} could not be checked" for what in unreachable)]
    hosts = tuple(h if h.action != KEEP or not rerun else HostPlan(h.ip, h.roles, RERUN) for h in plan.hosts)
    return ClusterPlan(plan.name, hosts, tuple(rerun), tuple(notes))


def _role(roles: Sequence[str]) -> str:
    return "master" if "master" in roles else "node"


def _image_reasons(desired: ClusterSpec, applied: AppliedState, digest: str) -> Iterable[str]:
    if desired.cluster.image != applied.image:
        yield f"image {applied.image} -> {desired.cluster.image}"
    elif digest and applied.image_digest and digest != applied.image_digest:
        yield f"image {applied.image} is another build now ({applied.image_digest[:19]} -> {digest[:19]})"


def _document_reasons(desired_text: str, applied_text: str, secrets: set[str], common: set[str]) -> list[str]:
    """What differs between the two Clusterfiles besides their host lists, by document and field (host
    group settings only for the hosts in both: a joining host's group is the join's)."""
    new = comparable_documents(desired_text, secrets, common)
    old = comparable_documents(applied_text, secrets, common)
    reasons = []
    cluster_new, cluster_old = new.pop(("Cluster", ""), {}), old.pop(("Cluster", ""), {})
    for key in sorted(set(cluster_new) | set(cluster_old)):
        if cluster_new.get(key) != cluster_old.get(key):
            reasons.append(f"Cluster spec.{key} changed")
    for kind, name in sorted(set(new) | set(old)):
        label = f"{kind} {name}".strip()
        if (kind, name) not in old:
            reasons.append(f"{label} added")
        elif (kind, name) not in new:
            reasons.append(f"{label} removed")
        elif new[(kind, name)] != old[(kind, name)]:
            reasons.append(f"{label} changed")
    return reasons
