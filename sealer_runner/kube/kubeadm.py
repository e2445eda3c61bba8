"""The kubeadm configuration each host gets, merged in sealer's precedence, lowest first:

1. built-in defaults (:data:`DEFAULTS`);
2. the image's ``etc/kubeadm.yml``;
3. the Clusterfile's kubeadm, kubelet and kube-proxy documents;
4. what the tool must force for the cluster to work (:func:`forced`): the control-plane endpoint
   name, each host's advertise address, the certificate SANs, the image repository (the cluster's
   registry), the kubelet's cgroup driver (systemd, as containerd is set up) and kube-proxy in IPVS
   mode with the VIP excluded.

Documents may come in any kubeadm API version the Kubernetes version reads; they are brought to one
internal shape (flag maps as maps, v1beta3 timeouts moved), merged, and written in the API version
the image's kubeadm writes (:attr:`KubeVersion.kubeadm_api`). Mappings merge key by key; a list
replaces the lower one, except ``certSANs``, which only grows.

Pure data in, data out: nothing here touches a host.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .fields import KUBELET_API, PROXY_API
from .version import KubeVersion

APISERVER_NAME = "apiserver.cluster.local"
APISERVER_PORT = 6443
DEFAULT_VIP = "10.103.97.2"
DEFAULT_VIP6 = "1248:4003:10bb:6a01:83b9:6360:c66d:2"
DEFAULT_POD_CIDR = "100.64.0.0/10"
DEFAULT_SVC_CIDR = "10.96.0.0/22"
DEFAULT_DNS_DOMAIN = "cluster.local"
KUBEADM_KINDS = ("InitConfiguration", "ClusterConfiguration", "JoinConfiguration")
ALL_KINDS = (*KUBEADM_KINDS, "KubeletConfiguration", "KubeProxyConfiguration")
_API_OF = {"KubeletConfiguration": KUBELET_API, "KubeProxyConfiguration": PROXY_API}
#: Flag maps (v1beta2/3) that v1beta4 writes as lists of {name, value}.
_ARG_PATHS = (("apiServer", "extraArgs"), ("controllerManager", "extraArgs"), ("scheduler", "extraArgs"),
              ("etcd", "local", "extraArgs"), ("nodeRegistration", "kubeletExtraArgs"))

#: Level 1: what a cluster gets when neither the image nor the Clusterfile says otherwise.
DEFAULTS: dict[str, dict[str, Any]] = {
    "InitConfiguration": {"localAPIEndpoint": {"bindPort": APISERVER_PORT},
                          "nodeRegistration": {"criSocket": "unix:///run/containerd/containerd.sock"}},
    "ClusterConfiguration": {
        "networking": {"podSubnet": DEFAULT_POD_CIDR, "serviceSubnet": DEFAULT_SVC_CIDR,
                       "dnsDomain": DEFAULT_DNS_DOMAIN},
        "apiServer": {"extraArgs": {"audit-log-maxage": "30", "audit-log-maxbackup": "10"}},
        "controllerManager": {"extraArgs": {"bind-address": "0.0.0.0"}},
        "scheduler": {"extraArgs": {"bind-address": "0.0.0.0"}},
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
    },
    "JoinConfiguration": {"nodeRegistration": {"criSocket": "unix:///run/containerd/containerd.sock"}},
    "KubeletConfiguration": {"cgroupDriver": "systemd", "failSwapOn": True,
                             "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True}}},
    "KubeProxyConfiguration": {"mode": "ipvs", "ipvs": {"strictARP": False}},
}


@dataclass(frozen=True)
class Source:
    """One level's documents (kind -> plain mapping, any API version the version reads), and where they
    come from for error messages."""

    name: str
    documents: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterShape:
    """What the forced values depend on."""

    version: KubeVersion
    masters: tuple[str, ...]
    registry: str  # host[:port] the cluster's images come from
    vip: str = DEFAULT_VIP
    cert_sans: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KubeadmConfig:
    """The merged documents (internal shape) and how to write them for each host."""

    version: KubeVersion
    documents: Mapping[str, Mapping[str, Any]]

    def for_init(self, advertise: str) -> list[dict[str, Any]]:
        """master0's ``kubeadm init --config`` file: Init + Cluster + Kubelet + KubeProxy documents."""
        init = copy.deepcopy(dict(self.documents["InitConfiguration"]))
        init.setdefault("localAPIEndpoint", {})["advertiseAddress"] = advertise
        kinds = {"InitConfiguration": init}
        return [self._emit(kind, kinds.get(kind) or self.documents[kind])
                for kind in ("InitConfiguration", "ClusterConfiguration", "KubeletConfiguration",
                             "KubeProxyConfiguration")]

    def for_join(self, advertise: str, *, control_plane: bool,
                 endpoint: str = f"{APISERVER_NAME}:{APISERVER_PORT}") -> list[dict[str, Any]]:
        """A joining host's ``kubeadm join --config`` file (token, CA hash and certificate key are
        filled on the host at join time, from master0: they exist only after init). *endpoint* is where
        discovery goes: sealer sends masters to master0 and nodes to the VIP."""
        join = copy.deepcopy(dict(self.documents["JoinConfiguration"]))
        bootstrap = join.setdefault("discovery", {}).setdefault("bootstrapToken", {})
        bootstrap["apiServerEndpoint"] = endpoint
        if control_plane:
            join.setdefault("controlPlane", {}).setdefault("localAPIEndpoint", {}).update(
                {"advertiseAddress": advertise, "bindPort": APISERVER_PORT})
        else:
            join.pop("controlPlane", None)
        return [self._emit("JoinConfiguration", join)]

    def _emit(self, kind: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        api = _API_OF.get(kind, self.version.kubeadm_api)
        out = copy.deepcopy(dict(doc))
        if api.endswith("/v1beta4"):
            for path in _ARG_PATHS:
                parent = _dig(out, path[:-1])
                if parent is not None and isinstance(parent.get(path[-1]), Mapping):
                    parent[path[-1]] = [{"name": k, "value": str(v)} for k, v in sorted(parent[path[-1]].items())]
        return {"apiVersion": api, "kind": kind, **out}


def merge(shape: ClusterShape, sources: Iterable[Source]) -> KubeadmConfig:
    """Defaults < each of *sources* in order < :func:`forced`."""
    merged: dict[str, dict[str, Any]] = copy.deepcopy(DEFAULTS)
    given: set[str] = set()  # networking keys some document set (the env fills only the others)
    for source in sources:
        for kind, doc in source.documents.items():
            if kind not in ALL_KINDS:
                continue
            if kind == "ClusterConfiguration" and isinstance(doc.get("networking"), Mapping):
                given.update(doc["networking"])
            internal = to_internal(source.name, kind, doc, shape.version)
            for moved_kind, moved in internal.items():
                _merge_into(merged.setdefault(moved_kind, {}), moved)
    for kind, doc in forced(shape, merged, given).items():
        _merge_into(merged[kind], doc)
    merged["ClusterConfiguration"]["apiServer"]["certSANs"] = _sans(shape, merged)
    return KubeadmConfig(shape.version, merged)


def forced(shape: ClusterShape, merged: Mapping[str, Mapping[str, Any]],
           given: Iterable[str] = ()) -> dict[str, dict[str, Any]]:
    """Level 4: what the cluster cannot work without. Pod/Service CIDR and DNS domain come from the env
    (``PodCIDR``, ``SvcCIDR``, ``DNSDomain``) only when no document set them (*given*)."""
    vip = shape.vip
    host_bits = 128 if ":" in vip else 32
    cluster: dict[str, Any] = {
        "kubernetesVersion": str(shape.version),
        "controlPlaneEndpoint": f"{APISERVER_NAME}:{APISERVER_PORT}",
        "imageRepository": shape.registry,
    }
    given = set(given)
    for key, env_name in (("podSubnet", "PodCIDR"), ("serviceSubnet", "SvcCIDR"), ("dnsDomain", "DNSDomain")):
        if env_name in shape.env and key not in given:
            cluster.setdefault("networking", {})[key] = shape.env[env_name]
    exclude = list(merged["KubeProxyConfiguration"].get("ipvs", {}).get("excludeCIDRs") or [])
    if f"{vip}/{host_bits}" not in exclude:
        exclude.append(f"{vip}/{host_bits}")
    return {
        "ClusterConfiguration": cluster,
        "KubeletConfiguration": {"cgroupDriver": "systemd"},
        "KubeProxyConfiguration": {"mode": "ipvs", "ipvs": {"excludeCIDRs": exclude}},
    }


def _sans(shape: ClusterShape, merged: Mapping[str, Mapping[str, Any]]) -> list[str]:
    given = merged["ClusterConfiguration"].get("apiServer", {}).get("certSANs") or []
    wanted = ["127.0.0.1", "localhost", APISERVER_NAME, shape.vip, *shape.masters, *shape.cert_sans, *given]
    return list(dict.fromkeys(str(name) for name in wanted))


def to_internal(source: str, kind: str, doc: Mapping[str, Any], version: KubeVersion) -> dict[str, dict[str, Any]]:
    """*doc* without apiVersion/kind, flags as maps; v1beta3 fields that v1beta4 moved are moved (the
    result may name another kind: ``timeoutForControlPlane`` goes to InitConfiguration.timeouts)."""
    api = str(doc.get("apiVersion", ""))
    if kind in KUBEADM_KINDS and api and not api.startswith("kubeadm.k8s.io/v1beta"):
        raise InputError(f"{source}: {kind} has apiVersion {api!r}; kubeadm documents are kubeadm.k8s.io/v1beta2, "
                         "v1beta3 or v1beta4")
    body = {k: copy.deepcopy(v) for k, v in doc.items() if k not in ("apiVersion", "kind")}
    out: dict[str, dict[str, Any]] = {kind: body}
    for path in _ARG_PATHS:
        parent = _dig(body, path[:-1])
        value = parent.get(path[-1]) if parent is not None else None
        if isinstance(value, list):
            parent[path[-1]] = {str(item.get("name")): str(item.get("value", "")) for item in value  # type: ignore[index]
                                if isinstance(item, Mapping)}
    if version.kubeadm_api.endswith("/v1beta4"):
        timeout = body.get("apiServer", {}).pop("timeoutForControlPlane", None) if kind == "ClusterConfiguration" \
            else None
        if timeout is not None:
            out["InitConfiguration"] = {"timeouts": {"controlPlaneComponentHealthCheck": timeout}}
        discovery = body.get("discovery") if kind == "JoinConfiguration" else None
        if isinstance(discovery, dict) and "timeout" in discovery:
            body.setdefault("timeouts", {})["discovery"] = discovery.pop("timeout")
    elif kind == "ClusterConfiguration":
        body.pop("useHyperKubeImage", None)
        if isinstance(body.get("dns"), dict):
            body["dns"].pop("type", None)
    return out


def _merge_into(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge_into(base[key], value)
        else:
            base[key] = copy.deepcopy(dict(value)) if isinstance(value, Mapping) else copy.deepcopy(value)


def _dig(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    for key in path:
        nxt = doc.get(key)
        if not isinstance(nxt, dict):
            return None
        doc = nxt
    return doc


def default_vip(master0: str) -> str:
    """sealer's default VIP, in master0's address family."""
    return DEFAULT_VIP6 if ipaddress.ip_address(master0).version == 6 else DEFAULT_VIP
