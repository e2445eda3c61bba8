"""Decode a multi-document Clusterfile into :class:`~.models.ClusterSpec`.

Documents are dispatched on ``kind`` (and checked against the apiVersions
each kind accepts).  Every field is read strictly: unknown keys, wrong types
and invalid values raise :class:`~sealer_runner.errors.ClusterfileError`
pointing at the offending YAML line.  The ``sealer.aliyun.com/v1alpha1``
Cluster (masters/nodes ipList) is converted to the v2 host-group model and
the conversion is reported in ``ClusterSpec.warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sealer_runner.errors import ClusterfileError
from sealer_runner.kube.strict import unknown_fields

from . import validate as v
from ._cluster import CLUSTER_API_VERSIONS, CLUSTER_V2_API_VERSIONS, ClusterIdentity, decode_cluster
from ._kinds import read_application, read_config, read_plugin
from ._read import Ctx, Fields, Item, as_nonempty_str, as_str, as_str_pairs, check, fields
from .models import (
    PROVIDER_BAREMETAL,
    Application,
    Cluster,
    ClusterSpec,
    Config,
    KubeadmDocument,
    Plugin,
    deep_freeze,
    frozen_map,
)
from .yamlpos import YMap, YNode, decode_utf8, describe, load_documents, to_plain

# --------------------------------------------------------------------------
# Kinds and apiVersions.

#: Config and Plugin kept sealer's v1 group; the v2 groups are accepted too.
SEALER_V1_API_VERSIONS = ("sealer.io/v1", "sealer.aliyun.com/v1alpha1") + CLUSTER_V2_API_VERSIONS
#: Older names of the Config and Plugin groups (sealer's tests, v0.2-v0.9 apps, the v1 Go group): same shape,
#: accepted with a warning.
LEGACY_V1_API_VERSIONS = ("sealer.com/v1alpha1", "zlink.aliyun.com/v1alpha1", "sealer.aliyun.com/v1")
APPLICATION_API_VERSIONS = CLUSTER_V2_API_VERSIONS
KUBEADM_API_VERSIONS = ("kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4")
KUBEADM_KINDS: dict[str, tuple[str, ...]] = {
    "InitConfiguration": KUBEADM_API_VERSIONS,
    "ClusterConfiguration": KUBEADM_API_VERSIONS,
    "JoinConfiguration": KUBEADM_API_VERSIONS,
    "KubeletConfiguration": ("kubelet.config.k8s.io/v1beta1",),
    "KubeProxyConfiguration": ("kubeproxy.config.k8s.io/v1alpha1",),
}
KINDS: dict[str, tuple[str, ...]] = {
    "Cluster": CLUSTER_API_VERSIONS,
    "Config": SEALER_V1_API_VERSIONS + LEGACY_V1_API_VERSIONS,
    "Plugin": SEALER_V1_API_VERSIONS + LEGACY_V1_API_VERSIONS,
    "Application": APPLICATION_API_VERSIONS,
    **KUBEADM_KINDS,
}

#: Kinds sealer once had that cannot be converted, and why.
REFUSED_KINDS = {
    "KubeadmConfig": (
        "sealer v0.7's KubeadmConfig cannot be converted: it inlined five kubeadm structs in one spec, so keys "
        "they share (nodeRegistration, apiServer...) are ambiguous; write them as separate InitConfiguration, "
        "ClusterConfiguration, JoinConfiguration, KubeletConfiguration and KubeProxyConfiguration documents"
    ),
}

_DOC_KEYS = ("apiVersion", "kind", "metadata", "spec", "status")
_METADATA_KEYS = ("name", "namespace", "labels", "annotations", "creationTimestamp")


def decode(text: str | bytes, filename: str = "Clusterfile") -> ClusterSpec:
    """Decode and validate a whole Clusterfile (see :func:`load_clusterfile`)."""
    collector = _Collector(Ctx(filename))
    for number, document in enumerate(load_documents(_utf8(text, filename), filename), 1):
        collector.add(number, document)
    return collector.finish()


def decode_plugins(
    text: str | bytes, filename: str, cluster: Cluster | None = None
) -> tuple[tuple[Plugin, ...], tuple[str, ...]]:
    """Decode a file of Plugin documents only (a cluster image's ``plugins/*.yaml``).

    Returns the plugins and the warnings; with *cluster*, IPs in plugin data that are not its hosts are
    warned about, as in a Clusterfile.
    """
    collector = _Collector(Ctx(filename))
    for number, document in enumerate(load_documents(_utf8(text, filename), filename), 1):
        collector.add(number, document, only="Plugin")
    if cluster is not None:
        collector.check_plugin_hosts(cluster)
    return tuple(collector.plugins), tuple(collector.warnings)


def _utf8(text: str | bytes, filename: str) -> str:
    return text if isinstance(text, str) else decode_utf8(text, filename)


# --------------------------------------------------------------------------
# Document dispatch.


@dataclass
class _Collector:
    """Accumulates decoded documents and cross-checks them at the end."""

    ctx: Ctx
    cluster: Cluster | None = None
    configs: list[Config] = field(default_factory=list)
    plugins: list[Plugin] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    kubeadm: dict[str, KubeadmDocument] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plugin_hosts: list[tuple[Plugin, Item]] = field(default_factory=list)

    def add(self, number: int, document: YNode, only: str | None = None) -> None:
        if not isinstance(document, YMap):
            message = f"document {number} must be a mapping with apiVersion and kind, got {describe(document)}"
            raise self.ctx.error(document.line, "", message)
        kind, api_version = _type_meta(self.ctx, document)
        if only is not None and kind != only:
            raise self.ctx.error(document.line, "kind", f"only {only} documents belong in this file, not {kind}")
        if kind in KUBEADM_KINDS:
            self.add_kubeadm(kind, api_version, document)
            return
        ctx = self.ctx if kind == "Cluster" else self.ctx.within(f"{kind}: ")
        top = fields(ctx, document, "", _DOC_KEYS)
        if api_version in LEGACY_V1_API_VERSIONS and kind in ("Config", "Plugin"):
            message = f"apiVersion {api_version} is an old name; the {kind} was read as sealer.io/v1"
            self.warnings.append(ctx.warning(top.line("apiVersion"), "", message))
        if kind == "Cluster":
            self.add_cluster(api_version, top)
        elif kind == "Config":
            self.add_config(api_version, top)
        elif kind == "Plugin":
            self.add_plugin(api_version, top)
        else:
            self.add_application(api_version, top)

    def add_cluster(self, api_version: str, top: Fields) -> None:
        ctx = self.ctx
        if self.cluster is not None:
            message = f"a second Cluster document (the first is on line {self.cluster.line})"
            raise ctx.error(top.node.line, "", message)
        meta = _metadata(top)
        name = check(ctx, meta.line, meta.path, v.dns_label, meta.name)
        identity = ClusterIdentity(
            name, api_version, top.node.line, top.line("apiVersion"), meta.labels, meta.annotations
        )
        self.cluster = decode_cluster(ctx, identity, top.require("spec"), self.warnings)

    def add_config(self, api_version: str, top: Fields) -> None:
        meta = _metadata(top)
        ctx = self.ctx.within(f"Config {v.q(meta.name)}: ")
        check(ctx, meta.line, "metadata.name", v.object_name, meta.name)
        for other in self.configs:
            if other.name == meta.name:
                raise ctx.error(meta.line, "", f"duplicate Config name (also on line {other.line})")
        config = read_config(ctx, top.require("spec"), meta.name, api_version, top.node.line, self.configs)
        self.configs.append(config)

    def add_plugin(self, api_version: str, top: Fields) -> None:
        meta = _metadata(top)
        ctx = self.ctx.within(f"Plugin {v.q(meta.name)}: ")
        check(ctx, meta.line, "metadata.name", v.object_name, meta.name)
        for other in self.plugins:
            if other.name == meta.name:
                raise ctx.error(meta.line, "", f"duplicate Plugin name (also on line {other.line})")
        spec = top.require("spec")
        plugin, targets = read_plugin(ctx, spec, meta.name, api_version, top.node.line, self.warnings)
        self.plugins.append(plugin)
        self.plugin_hosts.extend((plugin, target) for target in targets)

    def add_application(self, api_version: str, top: Fields) -> None:
        meta = _metadata(top)
        ctx = self.ctx.within(f"Application {v.q(meta.name)}: ")
        check(ctx, meta.line, "metadata.name", v.object_name, meta.name)
        if self.applications:
            first = self.applications[0]
            message = f"only one Application document is allowed (another is on line {first.line})"
            raise ctx.error(top.node.line, "", message)
        self.applications.append(read_application(ctx, top.require("spec"), meta.name, api_version, top.node.line))

    def add_kubeadm(self, kind: str, api_version: str, document: YMap) -> None:
        previous = self.kubeadm.get(kind)
        if previous is not None:
            message = f"a second {kind} document (the first is on line {previous.line})"
            raise self.ctx.error(document.line, "", message)
        for line, path, hint in unknown_fields(api_version, kind, document):  # kubeadm decodes strictly
            raise self.ctx.error(line, path, f"unknown field in {kind} {api_version}{hint}")
        self.kubeadm[kind] = KubeadmDocument(kind, api_version, deep_freeze(to_plain(document, self.ctx.filename)), document.line)

    def finish(self) -> ClusterSpec:
        if self.cluster is None:
            raise ClusterfileError("no Cluster document found (kind: Cluster)", file=self.ctx.filename, line=None)
        self.check_kubeadm_versions()
        self.check_plugin_hosts(self.cluster)
        return ClusterSpec(
            cluster=self.cluster,
            configs=tuple(self.configs),
            plugins=tuple(self.plugins),
            applications=tuple(self.applications),
            kubeadm=frozen_map(self.kubeadm),
            warnings=tuple(self.warnings),
            filename=self.ctx.filename,
        )

    def check_kubeadm_versions(self) -> None:
        kinds = ("InitConfiguration", "ClusterConfiguration", "JoinConfiguration")
        docs = [self.kubeadm[kind] for kind in kinds if kind in self.kubeadm]
        versions = {doc.api_version for doc in docs}
        if len(versions) > 1:
            listed = ", ".join(f"{doc.kind} {doc.api_version}" for doc in docs)
            last = max(doc.line for doc in docs)
            self.warnings.append(self.ctx.warning(last, "", f"kubeadm documents mix API versions ({listed})"))

    def check_plugin_hosts(self, cluster: Cluster) -> None:
        if cluster.provider != PROVIDER_BAREMETAL:
            return
        known = {host.ip for host in cluster.hosts}
        for plugin, target in self.plugin_hosts:
            if target.value not in known:
                ctx = self.ctx.within(f"Plugin {v.q(plugin.name)}: ")
                message = f"{target.value} is not a host of the cluster"
                self.warnings.append(ctx.warning(target.line, target.path, message))


def _type_meta(ctx: Ctx, document: YMap) -> tuple[str, str]:
    top = Fields(ctx, document, "")
    kind_node = top.require("kind")
    kind = as_str(ctx, kind_node, "kind")
    if kind in REFUSED_KINDS:
        raise ctx.error(kind_node.line, "kind", REFUSED_KINDS[kind])
    if kind not in KINDS:
        known = ", ".join(KINDS)
        message = f"unknown kind {v.q(kind)} (known kinds: {known}){v.did_you_mean(kind, KINDS)}"
        raise ctx.error(kind_node.line, "kind", message)
    version_node = top.get("apiVersion")
    if version_node is None:
        raise ctx.error(top.line("apiVersion"), "apiVersion", f"is required for kind {kind}")
    api_version = as_str(ctx, version_node, "apiVersion")
    accepted = KINDS[kind]
    if api_version not in accepted:
        raise ctx.error(
            version_node.line,
            "apiVersion",
            f"unknown apiVersion {v.q(api_version)} for kind {kind} (accepted: {', '.join(accepted)})"
            f"{v.did_you_mean(api_version, accepted)}",
        )
    return kind, api_version


@dataclass(frozen=True)
class _Meta:
    name: str
    line: int
    path: str
    labels: dict[str, str]
    annotations: dict[str, str]


def _metadata(top: Fields) -> _Meta:
    node = top.require("metadata")
    meta = fields(top.ctx, node, "metadata", _METADATA_KEYS)
    name_node = meta.require("name")
    name = as_nonempty_str(meta.ctx, name_node, "metadata.name")
    labels = {key: item.value for key, item in meta.read("labels", as_str_pairs, ())}
    annotations = {key: item.value for key, item in meta.read("annotations", as_str_pairs, ())}
    meta.read("namespace", as_str, "")
    return _Meta(name, name_node.line, "metadata.name", labels, annotations)


