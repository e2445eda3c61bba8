"""The judging of ``sealer_runner check``: facts the ``sealer.cluster.check`` role gathered on each host,
turned into findings (check, host, ok / warn / fail, detail). Pure functions of recorded facts; what
reaches the hosts is in :mod:`.remote`.

The rules, and why (docs/run.md, "Checking a cluster"):

* Clock: each host's clock is read between two readings of the controller's. As the run's prepare phase,
  a host certainly more than ``clock_fail`` (5 s) off fails (the run would stop there), more than
  ``clock_warn`` (1 s) warns. Between hosts the same thresholds apply to the spread: etcd warns of
  members over 1 s apart, and certificates issued by one host are "not yet valid" on a host behind it.
* Ports: those kubeadm's preflight checks, by role, and the embedded registry's on its hosts. One in use
  fails, unless the process listening is one of the cluster's (kube-apiserver, etcd, kubelet, registry...:
  a re-run on an installed cluster).
* Kernel modules: overlay and br_netfilter are required (containerd's snapshotter, bridged traffic
  through iptables): absent fails; installed but not loaded is fine, the run loads them. The IPVS
  modules and nf_conntrack (kube-proxy's IPVS mode, lvscare) only warn. Inside a container modules
  belong to the machine, so nothing there fails.
* Swap on warns: the run turns it off (inside a container it cannot; kubelet then needs failSwapOn: false).
* Resources, as kubeadm's preflight: a master needs 2 CPUs and 1700 MiB (what a "2 GB" machine reports);
  a node under 1700 MiB warns.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal, Mapping, Sequence

Status = Literal["ok", "warn", "fail"]
CLUSTER = "(cluster)"  # the host column of a finding about the hosts together

#: kubeadm's preflight ports, by role, and the process that serves each once a cluster runs
#: (``/proc/PID/comm``, cut to 15 characters as the kernel does).
MASTER_PORTS = {6443: "kube-apiserver", 2379: "etcd", 2380: "etcd", 10250: "kubelet",
                10257: "kube-controller", 10259: "kube-scheduler"}
NODE_PORTS = {10250: "kubelet"}
REGISTRY_PROCESS = "registry"
#: Processes of an installed cluster: a port they hold is the cluster's own (a re-run), whichever it is.
CLUSTER_PROCESSES = frozenset({*MASTER_PORTS.values(), REGISTRY_PROCESS, "kube-proxy", "lvscare"})
REQUIRED_MODULES = ("overlay", "br_netfilter")
RECOMMENDED_MODULES = ("ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack")
MASTER_MIN_CPUS = 2
MIN_MEMORY_MIB = 1700
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class Finding:
    check: str
    host: str
    status: Status
    detail: str


@dataclass(frozen=True)
class CheckReport:
    phase: str  # pre | post
    findings: tuple[Finding, ...]

    @property
    def failed(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == "fail")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == "warn")

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {"phase": self.phase, "ok": self.ok, "failed": len(self.failed), "warnings": len(self.warnings),
                "checks": [asdict(f) for f in self.findings]}


@dataclass(frozen=True)
class ClusterHost:
    ip: str
    roles: tuple[str, ...]

    @property
    def master(self) -> bool:
        return "master" in self.roles


@dataclass(frozen=True)
class Rules:
    """What the judging knows of the cluster: its hosts (master0 first), runtime, image and registry."""

    hosts: tuple[ClusterHost, ...]
    runtime: str = "kubernetes"  # the image's cluster runtime; "none": no Kubernetes checks
    image_platforms: tuple[str, ...] = ()  # os/arch[/variant]
    registry_hosts: tuple[str, ...] = ()  # the embedded registry's hosts
    registry_port: int | None = None
    clock_warn: float = 1.0
    clock_fail: float = 5.0

    @property
    def kubernetes(self) -> bool:
        return self.runtime == "kubernetes"


@dataclass(frozen=True)
class PreFacts:
    """One host's answer to the pre checks (the role's ``sealer_check_facts``)."""

    hostname: str = ""
    clock: float | None = None  # the host's, between the controller's two readings
    controller_before: float = 0.0
    controller_after: float = 0.0
    os: str = ""
    distro: str = ""
    arch: str = ""  # OCI terms
    uname: str = ""  # uname -m
    cpus: int | None = None
    mem_kib: int | None = None
    swap_kib: int | None = None
    container: bool = False
    python3: bool = True
    modules: Mapping[str, str] = field(default_factory=dict)  # name -> loaded | builtin | available | absent
    ports: Mapping[int, str] = field(default_factory=dict)  # listening port -> process ("" unknown)
    missing: tuple[tuple[str, str], ...] = ()  # (command, Debian package)

    @classmethod
    def from_ansible(cls, data: Mapping[str, Any]) -> PreFacts:
        facts = {str(k): str(v).strip() for k, v in (data.get("facts") or {}).items()}
        return cls(
            hostname=facts.get("hostname", ""), clock=_float(facts.get("clock")),
            controller_before=float(data.get("controller_before") or 0), controller_after=float(data.get("controller_after") or 0),
            os=facts.get("os", "").lower(), distro=facts.get("distro", ""), arch=str(data.get("arch") or ""),
            uname=str(data.get("uname") or ""), cpus=_int(facts.get("cpus")), mem_kib=_int(facts.get("mem_kib")),
            swap_kib=_int(facts.get("swap_kib")), container=facts.get("container") == "yes",
            python3=facts.get("python3", "yes") == "yes",
            modules={k[len("module_"):]: v for k, v in facts.items() if k.startswith("module_")},
            ports={int(k[len("port_"):]): v for k, v in facts.items() if k.startswith("port_") and k[5:].isdigit()},
            missing=tuple((str(c), str(p)) for c, p in data.get("missing") or ()))

    @property
    def skew(self) -> tuple[float, float] | None:
        """The host clock minus the controller's: certainly within [low, high]."""
        if self.clock is None:
            return None
        return self.clock - self.controller_after, self.clock - self.controller_before


@dataclass(frozen=True)
class PostFacts:
    """One host's answer to the post checks: kubectl's on master0, the registry's everywhere."""

    kube: Mapping[str, Any] | None = None  # {rc, stdout, stderr}
    registry: Mapping[str, Any] | None = None  # {url, status, msg}

    @classmethod
    def from_ansible(cls, data: Mapping[str, Any]) -> PostFacts:
        return cls(kube=data.get("kube") or None, registry=data.get("registry") or None)


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _worst(statuses: Iterable[Status]) -> Status:
    found = set(statuses)
    return "fail" if "fail" in found else "warn" if "warn" in found else "ok"


# ---- pre ----

def judge_pre(rules: Rules, facts: Mapping[str, PreFacts], unreachable: Mapping[str, str]) -> CheckReport:
    """Every pre check: per host, then across hosts. A host that did not answer has one finding."""
    findings = list(reachability(rules, facts, unreachable))
    answered = {h.ip: facts[h.ip] for h in rules.hosts if h.ip in facts}
    for host in rules.hosts:
        if host.ip not in answered:
            continue
        f = answered[host.ip]
        findings += [commands(host.ip, f), platform(rules, host.ip, f), clock(rules, host.ip, f)]
        if rules.kubernetes:
            findings += [ports(rules, host, f), swap(host.ip, f), modules(host.ip, f), resources(host, f)]
        elif rules.registry_port and host.ip in rules.registry_hosts:
            findings.append(ports(rules, host, f))
    findings += [*hostnames(answered), *clock_spread(rules, answered), *same_arch(answered)]
    return CheckReport("pre", tuple(findings))


def reachability(rules: Rules, facts: Mapping[str, Any], unreachable: Mapping[str, str]) -> list[Finding]:
    out = []
    for host in rules.hosts:
        if host.ip in facts:
            out.append(Finding("reachable", host.ip, "ok", "answers over SSH"))
        else:
            out.append(Finding("reachable", host.ip, "fail", unreachable.get(host.ip) or "no answer"))
    return out


def commands(ip: str, f: PreFacts) -> Finding:
    missing = list(f.missing)
    if not f.python3 and all(cmd != "python3" for cmd, _ in missing):
        missing.append(("python3", "python3"))  # Ansible's modules need it (checked apart by the run)
    if not missing:
        return Finding("commands", ip, "ok", "every command the run needs is present")
    names = ", ".join(f"{cmd} (Debian package {pkg})" for cmd, pkg in missing)
    return Finding("commands", ip, "fail", f"missing: {names}")


def platform(rules: Rules, ip: str, f: PreFacts) -> Finding:
    shown = f"{f.os}/{f.arch}" + (f" ({f.distro})" if f.distro else "")
    if not rules.image_platforms:
        return Finding("platform", ip, "ok", shown)
    if any(p.split("/")[:2] == [f.os, f.arch] for p in rules.image_platforms):
        return Finding("platform", ip, "ok", shown)
    return Finding("platform", ip, "fail", f"{f.os}/{f.arch} (uname -m {f.uname}) is not a platform of the image "
                                           f"({', '.join(rules.image_platforms)})")


def same_arch(facts: Mapping[str, PreFacts]) -> list[Finding]:
    arches = {f.arch for f in facts.values()}
    if len(arches) <= 1:
        return []
    which = ", ".join(f"{ip} is {f.arch}" for ip, f in facts.items())
    return [Finding("platform", CLUSTER, "fail", f"hosts of different architectures in one cluster: {which}")]


def hostnames(facts: Mapping[str, PreFacts]) -> list[Finding]:
    """Kubernetes names each node by its host name: unique, and a lowercase DNS name."""
    seen: dict[str, list[str]] = {}
    for ip, f in facts.items():
        seen.setdefault(f.hostname, []).append(ip)
    out = []
    for ip, f in facts.items():
        others = [o for o in seen[f.hostname] if o != ip]
        if others:
            out.append(Finding("hostname", ip, "fail", f"{f.hostname!r} is also the name of {', '.join(others)}"))
        elif not _DNS_NAME.match(f.hostname) or len(f.hostname) > 253:
            out.append(Finding("hostname", ip, "fail", f"{f.hostname!r} is not a lowercase DNS name (a node name)"))
        else:
            out.append(Finding("hostname", ip, "ok", f.hostname))
    return out


def clock(rules: Rules, ip: str, f: PreFacts) -> Finding:
    skew = f.skew
    if skew is None:
        return Finding("clock", ip, "warn", "the host's clock could not be read (date +%s.%N)")
    low, high = skew
    mid, err = (low + high) / 2, (high - low) / 2
    text = f"{abs(mid):.1f} s (±{err:.1f} s) {'ahead of' if mid > 0 else 'behind'} the controller's"
    certain = low if low > 0 else -high if high < 0 else 0.0  # the least the clocks can be apart
    if certain > rules.clock_fail:
        return Finding("clock", ip, "fail", f"{text}: over {rules.clock_fail:g} s, the run would stop; synchronise it")
    if certain > rules.clock_warn:
        return Finding("clock", ip, "warn", f"{text}: over {rules.clock_warn:g} s")
    return Finding("clock", ip, "ok", text)


def clock_spread(rules: Rules, facts: Mapping[str, PreFacts]) -> list[Finding]:
    """The least the hosts' clocks can be apart: the greatest low bound minus the least high bound."""
    skews = {ip: f.skew for ip, f in facts.items() if f.skew is not None}
    if len(skews) < 2:
        return []
    ahead = max(skews, key=lambda ip: skews[ip][0])
    behind = min(skews, key=lambda ip: skews[ip][1])
    spread = skews[ahead][0] - skews[behind][1]
    if ahead == behind or spread <= rules.clock_warn:
        return [Finding("clock skew", CLUSTER, "ok", f"hosts within {rules.clock_warn:g} s of each other")]
    status: Status = "fail" if spread > rules.clock_fail else "warn"
    limit = rules.clock_fail if status == "fail" else rules.clock_warn
    return [Finding("clock skew", CLUSTER, status, f"{ahead} is at least {spread:.1f} s ahead of {behind} "
                                                   f"(over {limit:g} s)")]


def wanted_ports(rules: Rules, host: ClusterHost) -> dict[int, str]:
    """The ports this host must have free, each with the process that serves it in a running cluster."""
    out: dict[int, str] = {}
    if rules.kubernetes:
        out.update(MASTER_PORTS if host.master else NODE_PORTS)
    if rules.registry_port and host.ip in rules.registry_hosts:
        out[rules.registry_port] = REGISTRY_PROCESS
    return out


def ports(rules: Rules, host: ClusterHost, f: PreFacts) -> Finding:
    wanted = wanted_ports(rules, host)
    busy, ours = [], []
    for port in sorted(wanted):
        if port not in f.ports:
            continue
        if f.ports[port] in CLUSTER_PROCESSES:
            ours.append(f"{port} ({f.ports[port]})")
        else:
            busy.append(f"{port} in use by {f.ports[port] or 'an unknown process'}")
    if busy:
        return Finding("ports", host.ip, "fail", "; ".join(busy))
    free = [str(p) for p in sorted(wanted) if p not in f.ports]
    parts = ([f"free: {', '.join(free)}"] if free else []) + ([f"served by the cluster: {', '.join(ours)}"] if ours else [])
    return Finding("ports", host.ip, "ok", "; ".join(parts) or "none needed")


def swap(ip: str, f: PreFacts) -> Finding:
    if not f.swap_kib:
        return Finding("swap", ip, "ok" if f.swap_kib == 0 else "warn", "off" if f.swap_kib == 0 else "unknown")
    size = f"{f.swap_kib // 1024} MiB of swap on"
    if f.container:
        return Finding("swap", ip, "warn", f"{size}: the machine's (a container cannot turn it off); "
                                           "kubelet needs failSwapOn: false")
    return Finding("swap", ip, "warn", f"{size}: the run turns it off (swapoff -a, /etc/fstab)")


def modules(ip: str, f: PreFacts) -> Finding:
    notes: list[tuple[Status, str]] = []
    for name in (*REQUIRED_MODULES, *RECOMMENDED_MODULES):
        state = f.modules.get(name, "absent")
        required = name in REQUIRED_MODULES
        if state in ("loaded", "builtin") or (state == "available" and required and not f.container):
            continue
        if state == "available":  # not loaded, installed: the run loads the required ones, not these
            notes.append(("warn", f"{name} not loaded" + (" (a container: load it on the machine)" if f.container else "")))
        else:
            bad: Status = "fail" if required and not f.container else "warn"
            notes.append((bad, f"{name} absent" + (" (required)" if required else "")))
    if not notes:
        return Finding("kernel modules", ip, "ok", "present: " + ", ".join((*REQUIRED_MODULES, *RECOMMENDED_MODULES)))
    return Finding("kernel modules", ip, _worst(s for s, _ in notes), "; ".join(text for _, text in notes))


def resources(host: ClusterHost, f: PreFacts) -> Finding:
    mib = f.mem_kib // 1024 if f.mem_kib is not None else None
    shown = f"{f.cpus if f.cpus is not None else '?'} CPU, {mib if mib is not None else '?'} MiB"
    if f.cpus is None or mib is None:
        return Finding("resources", host.ip, "warn", f"{shown}: could not be read")
    problems = []
    if host.master and f.cpus < MASTER_MIN_CPUS:
        problems.append(f"a master needs {MASTER_MIN_CPUS} CPUs")
    if mib < MIN_MEMORY_MIB:
        problems.append(f"{'a master needs' if host.master else 'kubeadm asks for'} {MIN_MEMORY_MIB} MiB")
    if not problems:
        return Finding("resources", host.ip, "ok", shown)
    return Finding("resources", host.ip, "fail" if host.master else "warn", f"{shown}: {'; '.join(problems)}")


# ---- post ----

def judge_post(rules: Rules, facts: Mapping[str, PostFacts], unreachable: Mapping[str, str]) -> CheckReport:
    findings = list(reachability(rules, facts, unreachable))
    master0 = rules.hosts[0].ip if rules.hosts else ""
    kube = facts[master0].kube if master0 in facts else None
    if rules.kubernetes and kube is not None:
        findings += kubernetes(rules, master0, kube)
    for host in rules.hosts:
        answer = facts[host.ip].registry if host.ip in facts else None
        if answer is not None:
            findings.append(registry(host.ip, answer))
    return CheckReport("post", tuple(findings))


def kubernetes(rules: Rules, master0: str, kube: Mapping[str, Any]) -> list[Finding]:
    """Nodes Ready, every host a node, control-plane pods Running, from master0's two kubectl answers
    (``nodes``, ``pods``: each {rc, stdout, stderr})."""
    nodes, failed = _kubectl_items(master0, "nodes", kube.get("nodes") or {})
    if failed:
        return [failed]
    pods, failed = _kubectl_items(master0, "pods", kube.get("pods") or {})
    ips = {(n.get("metadata") or {}).get("name", ""): _internal_ip(n) for n in nodes}
    return [*node_findings(rules, nodes), *([failed] if failed else pod_findings(rules, pods, ips))]


def _kubectl_items(master0: str, what: str, answer: Mapping[str, Any]) -> tuple[list[Any], Finding | None]:
    """The items of one ``kubectl get WHAT -o json``, or the finding saying why there are none."""
    if int(answer.get("rc", 1)) != 0:
        said = str(answer.get("stderr") or answer.get("stdout") or "").strip().splitlines()
        return [], Finding("kubectl", master0, "fail",
                           f"get {what}: rc {answer.get('rc')}: {said[-1] if said else 'no output'}")
    try:
        items = json.loads(str(answer.get("stdout") or ""))["items"]
    except (ValueError, KeyError, TypeError) as exc:
        return [], Finding("kubectl", master0, "fail", f"get {what}: unreadable answer: {exc}")
    return [i for i in items if isinstance(i, dict)], None


def _internal_ip(node: Mapping[str, Any]) -> str:
    addresses = (node.get("status") or {}).get("addresses") or []
    return next((str(a.get("address")) for a in addresses if a.get("type") == "InternalIP"), "")


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def node_findings(rules: Rules, nodes: Sequence[Mapping[str, Any]]) -> list[Finding]:
    out, seen = [], set()
    for node in nodes:
        name, ip = (node.get("metadata") or {}).get("name", "?"), _internal_ip(node)
        seen.add(ip)
        ready = _condition(node, "Ready")
        version = ((node.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
        if ready.get("status") == "True":
            out.append(Finding("node ready", ip or name, "ok", f"{name} Ready {version}".rstrip()))
        else:
            why = ready.get("message") or ready.get("reason") or "no Ready condition"
            out.append(Finding("node ready", ip or name, "fail", f"{name} not Ready: {why}"))
    for host in rules.hosts:
        if host.ip not in seen:
            out.append(Finding("node ready", host.ip, "fail", "not a node of the cluster"))
    return out


def pod_findings(rules: Rules, pods: Sequence[Mapping[str, Any]], ips: Mapping[str, str]) -> list[Finding]:
    out = []
    control = [p for p in pods if ((p.get("metadata") or {}).get("labels") or {}).get("tier") == "control-plane"]
    found: set[tuple[str, str]] = set()
    for pod in control:
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        component = (meta.get("labels") or {}).get("component", meta.get("name", "?"))
        where = ips.get(spec.get("nodeName", ""), "") or spec.get("nodeName", "?")
        found.add((where, component))
        out.append(_pod_finding(pod, where))
    etcd = any(c == "etcd" for _, c in found)  # stacked etcd: then every master runs one
    for host in (h for h in rules.hosts if h.master):
        for component in (*CONTROL_PLANE, *(("etcd",) if etcd else ())):
            if (host.ip, component) not in found:
                out.append(Finding("control plane", host.ip, "fail", f"no {component} pod on this master"))
    return out


def _pod_finding(pod: Mapping[str, Any], where: str) -> Finding:
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    phase = status.get("phase", "Unknown")
    waiting = [c for c in status.get("containerStatuses") or [] if not c.get("ready")]
    if phase == "Running" and not waiting and _condition(pod, "Ready").get("status", "True") == "True":
        return Finding("control plane", where, "ok", f"{name} Running")
    reasons = [((c.get("state") or {}).get("waiting") or {}).get("reason") or "not ready" for c in waiting]
    return Finding("control plane", where, "fail", f"{name} {phase}" + (f": {', '.join(reasons)}" if reasons else ""))


def registry(ip: str, answer: Mapping[str, Any]) -> Finding:
    if answer.get("served") is False:
        return Finding("registry", ip, "ok", "none to reach: the image caches no container images")
    status = int(answer.get("status") or -1)
    url = str(answer.get("url") or "the registry")
    if status == 200:
        return Finding("registry", ip, "ok", f"GET {url}: 200")
    if status == 401:
        return Finding("registry", ip, "ok", f"GET {url}: 401 (answers; pulls need the cluster's credentials)")
    said = re.sub(r"^Status code was -?\d+ and not \[[^]]*\]: ", "", str(answer.get("msg") or "").strip())
    said = said or f"status {status}"
    return Finding("registry", ip, "fail", f"GET {url}: {said}")
