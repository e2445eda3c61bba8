"""Cluster runtimes: what each one contributes to a run's extra-vars.

The image's ``cluster.alpha.sealer.io/cluster-runtime-type`` label picks the runtime (see
``run/cluster.py`` ``cluster_runtime``): ``kubernetes`` is kubeadm, ``none`` delivers the image and its
apps without a cluster. A runtime only decides and renders; everything that touches hosts is in the
collection (the ``kubernetes`` role for kubeadm). Day-2 verbs (remove, reset, upgrade) are part of the
interface so that k3s/k0s runtimes can follow; kubeadm implements them all.
"""

from __future__ import annotations

import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ..clusterfile.models import ClusterSpec
from ..clusterfile.yamlpos import YMap, decode_utf8, load_documents, to_plain
from ..errors import ClusterfileError, InputError, SealerError
from .checks import network_problems
from .kubeadm import (ALL_KINDS, APISERVER_NAME, APISERVER_PORT, DEFAULT_POD_CIDR, DEFAULT_SVC_CIDR, ClusterShape,
                      KubeadmConfig, Source, default_vip, merge)
from .strict import unknown_fields
from .version import KubeVersion

NONE = "none"
KUBERNETES = "kubernetes"
#: sealer's label for the Kubernetes version of a base image (basefs sets it).
VERSION_LABEL = "cluster.alpha.sealer.io/cluster-runtime-version"
#: The image's kubeadm defaults, in its rootfs.
IMAGE_KUBEADM = "etc/kubeadm.yml"


@dataclass(frozen=True)
class RuntimeInput:
    """What a runtime needs to know about a run: the Clusterfile, the image's labels and kubeadm file,
    the registry the hosts pull from (``host:port``) and the cluster's state dir on the controller."""

    spec: ClusterSpec
    labels: Mapping[str, str] = field(default_factory=dict)
    image_kubeadm: bytes | None = None
    registry: str = ""
    state_dir: Path = Path(".")
    added_sans: tuple[str, ...] = ()  # apiserver certificate names added by `sealer_runner cert` (kept in state)


@dataclass(frozen=True)
class RuntimePlan:
    """A runtime's part of a run: extra-vars for the playbook, and warnings for the user."""

    extravars: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


class RuntimeNotSupported(SealerError):
    """A runtime that cannot do what was asked (yet)."""


class ClusterRuntime(ABC):
    """One cluster runtime. Each method returns extra-vars for ``playbooks/run.yml``; the playbook's
    runtime role does the work on the hosts."""

    name: ClassVar[str]

    @abstractmethod
    def install(self, given: RuntimeInput) -> RuntimePlan:
        """Bring up the cluster on every host of the Clusterfile; hosts already in it are left alone."""

    def join(self, given: RuntimeInput, masters: Sequence[str], nodes: Sequence[str]) -> RuntimePlan:
        """Add hosts: the same run as install (a host already in the cluster is left alone)."""
        return self.install(given)

    def remove(self, given: RuntimeInput, hosts: Sequence[str]) -> RuntimePlan:
        raise RuntimeNotSupported(f"{self.name} runtime: removing hosts is not implemented yet")

    def reset(self, given: RuntimeInput) -> RuntimePlan:
        raise RuntimeNotSupported(f"{self.name} runtime: reset is not implemented yet")

    def upgrade(self, given: RuntimeInput, version: str) -> RuntimePlan:
        raise RuntimeNotSupported(f"{self.name} runtime: upgrade is not implemented yet")


class NoRuntime(ClusterRuntime):
    """No cluster: the image's files, registry and container runtime only."""

    name = NONE

    def install(self, given: RuntimeInput) -> RuntimePlan:
        return RuntimePlan()

    def remove(self, given: RuntimeInput, hosts: Sequence[str]) -> RuntimePlan:
        return RuntimePlan()

    def reset(self, given: RuntimeInput) -> RuntimePlan:
        return RuntimePlan()

    def upgrade(self, given: RuntimeInput, version: str) -> RuntimePlan:
        """A re-delivery of the new image (sealer.cluster.upgrade without its kubeadm plays)."""
        return RuntimePlan({"sealer_upgrade": True})


class KubeadmRuntime(ClusterRuntime):
    """Kubernetes by kubeadm, in sealer's sequence: init on master0, masters join one at a time through
    master0, nodes join in parallel through the VIP (IPVS by lvscare). Removing hosts and resetting the
    cluster need nothing more than the install's variables (the collection's reset role drains, deletes and
    resets); an upgrade checks the version step first."""

    name = KUBERNETES

    def remove(self, given: RuntimeInput, hosts: Sequence[str]) -> RuntimePlan:
        return self.install(given)

    def reset(self, given: RuntimeInput) -> RuntimePlan:
        return self.install(given)

    def upgrade(self, given: RuntimeInput, version: str) -> RuntimePlan:
        """To the image's version from *version* (the cluster's): one minor at a time, never down."""
        plan = self.install(given)
        problem = upgrade_problem(version, str(plan.extravars["sealer_kube_version"]))
        if problem:
            raise InputError(f"{given.spec.filename}: {problem}")
        return RuntimePlan({**plan.extravars, "sealer_upgrade": True}, plan.warnings)

    def install(self, given: RuntimeInput) -> RuntimePlan:
        spec = given.spec
        cluster = spec.cluster
        masters = tuple(h.ip for h in cluster.masters)
        nodes = tuple(h.ip for h in cluster.nodes if not h.has_role("master"))
        if not masters:
            raise InputError(f"{spec.filename}: a Kubernetes cluster needs a master")
        version = kube_version(given)
        vip = vip_of(cluster.env, masters[0])
        sans = tuple(dict.fromkeys([*cert_sans(cluster.env), *given.added_sans]))
        shape = ClusterShape(version, masters, given.registry, vip=vip, cert_sans=sans, env=dict(cluster.env))
        config = merge(shape, [image_source(given), clusterfile_source(spec)])
        warnings = self._check(spec, config, masters, nodes, vip)
        joins = {ip: config.for_join(ip, control_plane=True, endpoint=_join(masters[0]))
                 for ip in masters[1:]}
        joins.update({ip: config.for_join(ip, control_plane=False, endpoint=_join(vip)) for ip in nodes})
        return RuntimePlan({
            "sealer_kube_version": str(version),
            "sealer_kube_vip": vip,
            "sealer_kube_apiserver_name": APISERVER_NAME,
            "sealer_kube_apiserver_port": APISERVER_PORT,
            "sealer_kube_masters": list(masters),
            "sealer_kube_nodes": list(nodes),
            "sealer_kube_init_config": config.for_init(masters[0]),
            "sealer_kube_join_configs": joins,
            "sealer_kube_admin_conf": str(given.state_dir / "admin.conf"),
            # per master, what its apiserver certificate is made from (the cert playbook); master0's is its
            # init configuration
            "sealer_kube_cert_configs": {ip: config.for_init(ip) for ip in masters},
            "sealer_kube_added_sans": list(given.added_sans),
        }, warnings)

    @staticmethod
    def _check(spec: ClusterSpec, config: KubeadmConfig, masters: Sequence[str], nodes: Sequence[str],
               vip: str) -> tuple[str, ...]:
        networking = config.documents["ClusterConfiguration"].get("networking", {})
        problems = network_problems(str(networking.get("podSubnet", DEFAULT_POD_CIDR)),
                                    str(networking.get("serviceSubnet", DEFAULT_SVC_CIDR)),
                                    [*masters, *nodes], vip, len(masters))
        errors = [p.message for p in problems if p.severity == "error"]
        if errors:
            raise ClusterfileError("; ".join(errors), file=spec.filename, line=spec.cluster.line)
        return tuple(f"{spec.filename}:{spec.cluster.line}: {p.message}" for p in problems if p.severity != "error")


RUNTIMES: dict[str, type[ClusterRuntime]] = {NONE: NoRuntime, KUBERNETES: KubeadmRuntime}


def upgrade_problem(current: str | None, target: str) -> str | None:
    """Why a cluster at Kubernetes *current* cannot go to *target* (kubeadm's rule: the same minor or the next
    one, never down), or None."""
    if not current:
        return "the cluster's Kubernetes version is unknown (no state): run the image it runs first"
    return KubeVersion.parse(current).upgrade_step(KubeVersion.parse(target))


def runtime_for(name: str) -> ClusterRuntime:
    """The runtime the image's label names."""
    try:
        return RUNTIMES[name]()
    except KeyError:
        raise InputError(f"cluster runtime {name!r} is not supported (supported: {', '.join(sorted(RUNTIMES))})") \
            from None


def kube_version(given: RuntimeInput) -> KubeVersion:
    """The image's label, else its etc/kubeadm.yml's kubernetesVersion, else the Clusterfile's."""
    label = given.labels.get(VERSION_LABEL, "").strip()
    if label:
        return KubeVersion.parse(label)
    for docs in (image_source(given).documents, clusterfile_source(given.spec).documents):
        text = str(docs.get("ClusterConfiguration", {}).get("kubernetesVersion", "")).strip()
        if text:
            return KubeVersion.parse(text)
    raise InputError(f"image {given.spec.cluster.image}: its Kubernetes version is unknown: set the label "
                     f"{VERSION_LABEL} or kubernetesVersion in {IMAGE_KUBEADM}")


def vip_of(env: Mapping[str, str], master0: str) -> str:
    """sealer's VIP: env ``IPvsVIPv6`` (wins), then ``IPvsVIPv4``, else the default of master0's family."""
    for name in ("IPvsVIPv6", "IPvsVIPv4"):
        value = str(env.get(name, "")).strip()
        if value:
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                raise InputError(f"env {name}={value!r} is not an IP address") from None
    return default_vip(master0)


def cert_sans(env: Mapping[str, str]) -> tuple[str, ...]:
    """env ``CertSANs``: a comma list of extra names and addresses for the apiserver certificate."""
    return tuple(part.strip() for part in str(env.get("CertSANs", "")).split(",") if part.strip())


_DNS_NAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


def parse_alt_names(text: str, where: str = "--alt-names") -> tuple[str, ...]:
    """A comma list of names for the apiserver certificate: IP addresses (kept in canonical form) and DNS names
    (lower-case RFC 1123, a leading ``*.`` allowed, 253 characters at most). Anything else is an input error."""
    names: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            names.append(str(ipaddress.ip_address(part)))
            continue
        except ValueError:
            pass
        name = part.lower().rstrip(".")
        if len(name) > 253 or not _DNS_NAME.match(name):
            raise InputError(f"{where}: {part!r} is neither an IP address nor a DNS name")
        names.append(name)
    if not names:
        raise InputError(f"{where}: no name given")
    return tuple(dict.fromkeys(names))


def image_source(given: RuntimeInput) -> Source:
    """The image's etc/kubeadm.yml, checked strictly as kubeadm would (unknown field -> error naming it)."""
    if not given.image_kubeadm:
        return Source(f"image {given.spec.cluster.image}")
    filename = f"image {given.spec.cluster.image}: {IMAGE_KUBEADM}"
    documents: dict[str, Mapping[str, Any]] = {}
    for node in load_documents(decode_utf8(given.image_kubeadm, filename), filename):
        if not isinstance(node, YMap):
            continue
        plain = to_plain(node, filename)
        assert isinstance(plain, dict)
        kind, api = str(plain.get("kind", "")), str(plain.get("apiVersion", ""))
        if kind not in ALL_KINDS:
            continue
        for line, path, hint in unknown_fields(api, kind, node):
            raise ClusterfileError(f"{kind}: unknown field {path}{hint}", file=filename, line=line)
        documents[kind] = plain
    return Source(filename, documents)


def clusterfile_source(spec: ClusterSpec) -> Source:
    return Source(spec.filename, {kind: doc.to_dict() for kind, doc in spec.kubeadm.items()})


def _join(ip: str) -> str:
    return f"[{ip}]:{APISERVER_PORT}" if ":" in ip else f"{ip}:{APISERVER_PORT}"
