"""The applied cluster: what the last successful ``run`` put on a cluster's hosts, kept on the controller in
``<root>/clusters/<name>/applied/``:

* ``Clusterfile``: the Clusterfile as applied (flags merged in), with its secrets removed: SSH ``passwd`` and
  ``pkPasswd`` and registry ``password`` keys are dropped, and any other string still holding one of those
  values has it replaced by ``<removed>``. Key-based SSH works from it as it is; password-based needs ``-f``.
* ``state.json``: the image (name and digest), the platform delivered, the hosts and their roles, the cluster
  runtime, the Kubernetes version (if any), when (UTC), by whom (``user@host`` of the controller) and with
  which sealer_runner version, and the phases run when ``--tags`` limited them.

Each file is written atomically, ``state.json`` last: a reader that finds it finds the Clusterfile of the
same run (``clusterfile_sha256`` ties them). The run's last play writes the same files, with the cluster's
PKI and admin.conf, on every master (:func:`masters_state`); ``state pull`` brings them back.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import socket
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .. import __version__
from ..clusterfile import load_yaml_documents
from ..clusterfile.iprange import expand
from ..clusterfile.models import ClusterSpec
from ..errors import SealerError
from ..util.fs import atomic_write_bytes
from .cluster import ClusterState
from .inventory import host_order

APPLIED_DIR = "applied"
APPLIED_CLUSTERFILE = "Clusterfile"
STATE_FILE = "state.json"
STATE_VERSION = 1
#: The keys of a Cluster document that hold secrets (under ``ssh`` and ``registry.*Registry``), dropped.
SECRET_KEYS = frozenset({"passwd", "pkPasswd", "password"})
REMOVED = "<removed>"
#: Facts the run's validate role sets per host: the platform of the image that host got.
HOST_PLATFORM_FACT = "sealer_host_platform"


def applied_dir(root: Path, name: str) -> Path:
    """``<root>/clusters/<name>/applied``."""
    return ClusterState(root, name).dir / APPLIED_DIR


# ---- secrets ----

def cluster_secrets(spec: ClusterSpec) -> set[str]:
    """Every secret value the cluster holds: SSH passwords and key passphrases, registry passwords."""
    cluster = spec.cluster
    found = [h.ssh.passwd for h in cluster.hosts] + [h.ssh.pk_passwd for h in cluster.hosts]
    found += [cluster.ssh.passwd, cluster.ssh.pk_passwd]
    found += [g.ssh.passwd for g in cluster.host_groups] + [g.ssh.pk_passwd for g in cluster.host_groups]
    registry = cluster.registry
    found += [registry.local.password if registry.local else None,
              registry.external.password if registry.external else None]
    return {s.reveal() for s in found if s is not None and s.reveal()}


def strip_secrets(text: str, secrets: Iterable[str], filename: str = "Clusterfile") -> list[Any]:
    """The documents of *text* as plain data, with every secret key of the Cluster document dropped and any
    string anywhere that still holds one of *secrets* rewritten with ``<removed>`` in its place."""
    values = sorted({s for s in secrets if s}, key=len, reverse=True)
    documents = load_yaml_documents(text, filename)
    return [_scrub(_drop_keys(doc) if isinstance(doc, dict) and doc.get("kind") == "Cluster" else doc, values)
            for doc in documents]


def _drop_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_keys(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [_drop_keys(v) for v in value]
    return value


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {_scrub(k, secrets): _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REMOVED)
    return value


def stripped_clusterfile(text: str, spec: ClusterSpec, header: str) -> str:
    """The Clusterfile to keep: *header* as comment lines, then the documents with their secrets removed."""
    documents = strip_secrets(text, cluster_secrets(spec), spec.filename)
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    return comment + yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True)


# ---- state.json ----

@dataclass(frozen=True)
class AppliedHost:
    ip: str
    roles: tuple[str, ...]
    platform: str = ""  # the image platform this host got ("" when the run did not say)


@dataclass(frozen=True)
class AppliedState:
    """What ``state.json`` holds."""

    name: str
    image: str
    image_digest: str
    platform: str
    hosts: tuple[AppliedHost, ...]
    runtime: str
    kubernetes_version: str | None
    applied_at: str  # ISO 8601, UTC
    applied_by: str  # user@hostname of the controller
    sealer_runner_version: str
    ssh_password: bool = False  # whether SSH used a password (not kept: check/exec then need -f)
    clusterfile_sha256: str = ""
    tags: tuple[str, ...] = ()  # the phases run (--tags), all when empty
    cert_sans: tuple[str, ...] = ()  # names `sealer_runner cert --alt-names` added to the apiserver certificate
    state_version: int = STATE_VERSION

    @property
    def masters(self) -> tuple[str, ...]:
        return tuple(h.ip for h in self.hosts if "master" in h.roles)

    @property
    def platforms(self) -> dict[str, str]:
        """The image platform each host got, for the hosts the state knows it of."""
        return {h.ip: h.platform for h in self.hosts if h.platform}

    def to_json(self) -> dict[str, Any]:
        """As JSON data (lists, not tuples)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_json(cls, data: Mapping[str, Any], where: str) -> AppliedState:
        try:
            hosts = tuple(AppliedHost(str(h["ip"]), tuple(h.get("roles") or ()), str(h.get("platform") or ""))
                          for h in data.get("hosts") or ())
            known = {f for f in cls.__dataclass_fields__ if f not in ("hosts", "tags", "cert_sans")}
            return cls(hosts=hosts, tags=tuple(data.get("tags") or ()), cert_sans=tuple(data.get("cert_sans") or ()),
                       **{k: v for k, v in data.items() if k in known})
        except (TypeError, KeyError, AttributeError) as exc:
            raise SealerError(f"{where}: not a cluster state file: {exc}") from None


def controller_identity() -> str:
    """``user@hostname`` of this controller."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def applied_state(spec: ClusterSpec, extravars: Mapping[str, Any], *, host_platforms: Mapping[str, str] | None = None,
                  now: datetime | None = None, by: str | None = None, clusterfile_sha256: str = "",
                  tags: Iterable[str] = ()) -> AppliedState:
    """The state of a cluster a run just applied, from its Clusterfile and the run's extra-vars."""
    cluster = spec.cluster
    platforms = dict(host_platforms or {})
    hosts = tuple(AppliedHost(h.ip, tuple(h.roles), platforms.get(h.ip, "")) for h in host_order(cluster))
    seen = sorted(set(platforms.values()))
    platform = seen[0] if len(seen) == 1 else ", ".join(seen) if seen else \
        str(extravars.get("sealer_delivered_platform") or "")
    kube = extravars.get("sealer_kube_version")
    return AppliedState(
        name=cluster.name, image=cluster.image, image_digest=str(extravars.get("sealer_image_digest") or ""),
        platform=platform, hosts=hosts, runtime=str(extravars.get("sealer_cluster_runtime") or "none"),
        kubernetes_version=str(kube) if kube else None,
        applied_at=(now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        applied_by=by or controller_identity(), sealer_runner_version=__version__,
        ssh_password=any(h.ssh.passwd for h in cluster.hosts), clusterfile_sha256=clusterfile_sha256,
        tags=tuple(tags), cert_sans=tuple(str(n) for n in extravars.get("sealer_kube_added_sans") or ()))


def write_applied(root: Path, spec: ClusterSpec, clusterfile_text: str, extravars: Mapping[str, Any], *,
                  host_platforms: Mapping[str, str] | None = None, now: datetime | None = None,
                  by: str | None = None, tags: Iterable[str] = ()) -> AppliedState:
    """Keep the cluster a run just applied in ``<root>/clusters/<name>/applied/``: the Clusterfile without its
    secrets (0600), then ``state.json``. Each file is replaced atomically; ``state.json`` is written last."""
    target = applied_dir(root, spec.cluster.name)
    text, state = applied_files(spec, clusterfile_text, extravars, host_platforms=host_platforms, now=now, by=by,
                                tags=tags)
    try:
        target.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target / APPLIED_CLUSTERFILE, text.encode(), mode=0o600)
        atomic_write_bytes(target / STATE_FILE, (json.dumps(state.to_json(), indent=2) + "\n").encode(), mode=0o644)
    except OSError as exc:
        raise SealerError(f"cannot keep the applied state of cluster {spec.cluster.name} in {target}: "
                          f"{exc.strerror or exc}") from exc
    return state


def applied_files(spec: ClusterSpec, clusterfile_text: str, extravars: Mapping[str, Any], *,
                  host_platforms: Mapping[str, str] | None = None, now: datetime | None = None,
                  by: str | None = None, tags: Iterable[str] = ()) -> tuple[str, AppliedState]:
    """The kept Clusterfile's text (secrets removed, under a header) and the state that goes with it."""
    now = now or datetime.now(timezone.utc)
    by = by or controller_identity()
    header = (f"The Clusterfile of cluster {spec.cluster.name} as applied by sealer_runner {__version__}\n"
              f"at {now.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ} by {by}.\n"
              "Secrets were removed (ssh passwd/pkPasswd, registry passwords): key-based SSH works with it as\n"
              "it is; with SSH passwords, give check/exec the full Clusterfile with -f.\n")
    text = stripped_clusterfile(clusterfile_text, spec, header)
    state = applied_state(spec, extravars, host_platforms=host_platforms, now=now, by=by,
                          clusterfile_sha256=hashlib.sha256(text.encode()).hexdigest(), tags=tags)
    return text, state


#: What the state directory on the masters holds besides Clusterfile and state.json (controller -> host).
PKI_DIR = "pki"
ADMIN_CONF = "admin.conf"


def masters_state(root: Path, spec: ClusterSpec, clusterfile_text: str, extravars: Mapping[str, Any], *,
                  now: datetime, tags: Iterable[str] = (),
                  host_platforms: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``sealer_state`` for the run's last play, which writes it on every master (``<dataRoot>/<name>/state``):
    the same Clusterfile and state.json the controller keeps (the play fills in each host's platform), and
    the controller files to copy there (the cluster's PKI, admin.conf)."""
    text, state = applied_files(spec, clusterfile_text, extravars, now=now, tags=tags, host_platforms=host_platforms)
    cluster_dir = ClusterState(root, spec.cluster.name).dir
    copies = [{"name": f"{PKI_DIR}/{p.name}", "source": str(p)}
              for p in sorted((cluster_dir / PKI_DIR).glob("*")) if p.is_file()]
    if extravars.get("sealer_cluster_runtime") == "kubernetes":
        copies.append({"name": ADMIN_CONF, "source": str(cluster_dir / ADMIN_CONF)})
    return {"clusterfile": text, "state": state.to_json(), "copies": copies,
            "digest": state_digest(text, state, [Path(c["source"]) for c in copies if c["name"] != ADMIN_CONF])}


#: state.json's keys that change with every run, not with the cluster (and the platform, which the masters'
#: copy takes from the hosts' facts).
VOLATILE_KEYS = ("applied_at", "applied_by", "sealer_runner_version", "clusterfile_sha256", "platform")


def state_digest(clusterfile_text: str, state: AppliedState, files: Iterable[Path]) -> str:
    """What the masters' copy of the state is of, as one sha256: the Clusterfile's documents as ``apply``
    compares them (not its formatting or host grouping), state.json without when/by whom, the PKI files. A
    run whose digest the masters already have rewrites nothing there, so a re-run with nothing to do still
    changes nothing."""
    documents = comparable_documents(clusterfile_text, set(), {h.ip for h in state.hosts})
    stable = {k: v for k, v in state.to_json().items() if k not in VOLATILE_KEYS}
    stable["hosts"] = [{"ip": h.ip, "roles": list(h.roles)} for h in state.hosts]  # platforms: the play's facts
    digest = hashlib.sha256(json.dumps([sorted(documents.items(), key=str), stable], sort_keys=True,
                                       default=str).encode())
    for path in sorted(files):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def added_cert_sans(root: Path, name: str) -> tuple[str, ...]:
    """The apiserver certificate names ``cert --alt-names`` added to cluster *name* (kept across runs)."""
    path = applied_dir(root, name) / STATE_FILE
    return read_applied(path).cert_sans if path.is_file() else ()


def record_cert_sans(root: Path, name: str, names: Iterable[str]) -> AppliedState:
    """Keep *names* as the apiserver certificate names ``cert`` added to cluster *name* (state.json, atomically)."""
    path = applied_dir(root, name) / STATE_FILE
    state = replace(read_applied(path), cert_sans=tuple(names))
    try:
        atomic_write_bytes(path, (json.dumps(state.to_json(), indent=2) + "\n").encode(), mode=0o644)
    except OSError as exc:
        raise SealerError(f"cannot update the state of cluster {name} in {path}: {exc.strerror or exc}") from exc
    return state


def read_applied(path: Path) -> AppliedState:
    """The ``state.json`` at *path*."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise SealerError(f"{path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise SealerError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SealerError(f"{path}: not a cluster state file")
    return AppliedState.from_json(data, str(path))


# ---- listing ----

@dataclass(frozen=True)
class KnownCluster:
    """A cluster dir under ``<root>/clusters``: its applied state, or None (never applied), or why it could
    not be read."""

    name: str
    state: AppliedState | None = None
    error: str = ""
    clusterfile: Path | None = field(default=None, compare=False)


def known_clusters(root: Path) -> list[KnownCluster]:
    """Every cluster dir under ``<root>/clusters``, by name."""
    base = root / "clusters"
    if not base.is_dir():
        return []
    found = []
    for path in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        state_file = path / APPLIED_DIR / STATE_FILE
        if not state_file.is_file():
            found.append(KnownCluster(path.name))
            continue
        clusterfile = path / APPLIED_DIR / APPLIED_CLUSTERFILE
        try:
            found.append(KnownCluster(path.name, read_applied(state_file),
                                      clusterfile=clusterfile if clusterfile.is_file() else None))
        except SealerError as exc:
            found.append(KnownCluster(path.name, error=str(exc)))
    return found


def platforms_from_event(event: Mapping[str, Any], into: dict[str, str]) -> None:
    """Record the platform a host got, from the run's event that set ``sealer_host_platform``."""
    if event.get("event") != "runner_on_ok":
        return
    data = event.get("event_data") or {}
    facts = (data.get("res") or {}).get("ansible_facts") or {}
    if isinstance(facts, dict) and facts.get(HOST_PLATFORM_FACT):
        into[str(data.get("host"))] = str(facts[HOST_PLATFORM_FACT])


# ---- comparing Clusterfiles ----

#: Keys of a Cluster's spec that only list hosts: compared host by host, not as settings.
HOST_KEYS = ("hosts", "masters", "nodes")


def comparable_documents(text: str, secrets: set[str], common: set[str]) -> dict[tuple[str, str], Any]:
    """(kind, name) -> the document's content to compare, secrets removed. The Cluster's: its spec without
    host lists, and each host group's settings (labels, taints, env, ssh...) keyed by its addresses in
    *common*: two Clusterfiles that group the same hosts differently compare equal."""
    out: dict[tuple[str, str], Any] = {}
    for doc in strip_secrets(text, secrets):
        if not isinstance(doc, Mapping):
            continue
        kind = str(doc.get("kind", ""))
        if kind == "Cluster":
            spec = dict(doc.get("spec") or {})
            compared = {k: v for k, v in spec.items() if k not in HOST_KEYS}
            compared.update(_group_settings(spec, common))
            out[("Cluster", "")] = compared
            continue
        name = str((doc.get("metadata") or {}).get("name", ""))
        out[(kind, name)] = {k: v for k, v in doc.items() if k != "metadata"}
    return out


def _group_settings(spec: Mapping[str, Any], common: set[str]) -> dict[str, Any]:
    """``hosts[IP]`` -> a v2 group's settings other than its addresses and roles (labels, taints, env, ssh),
    for each of its hosts in *common*."""
    settings = {}
    for group in spec.get("hosts") or []:
        if isinstance(group, Mapping):
            rest = {k: v for k, v in group.items() if k not in ("ips", "roles")}
            for entry in group.get("ips") or []:
                for ip in expand(str(entry)):
                    if ip in common:
                        settings[f"hosts[{ip}]"] = rest
    return settings
