"""The ``Cluster`` kind: reading v2 and v1alpha1 specs, expanding host groups.

Both apiVersions are read into the same draft (:class:`_ClusterDraft`), then
:func:`_build_cluster` expands IP ranges, resolves inherited SSH and env
settings and runs the cross-field checks (duplicate IPs, a master, provider
rules).  Errors keep the paths the user wrote (``masters.ipList[0]`` for v1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from . import iprange
from . import validate as v
from ._read import (
    Ctx,
    Fields,
    Item,
    as_bool,
    as_int,
    as_nonempty_str_list,
    as_seq,
    as_str,
    as_str_items,
    as_str_pairs,
    check,
    checked_items,
    checked_str,
    fields,
    index,
    join,
    read_env,
    read_names,
)
from .models import (
    CLOUD_PROVIDERS,
    CONTAINER_RUNTIMES,
    DEFAULT_DATA_ROOT,
    DEFAULT_SSH_PK,
    PROVIDER_BAREMETAL,
    PROVIDERS,
    ROLE_MASTER,
    ROLE_REGISTRY,
    SSH,
    CloudSpec,
    Cluster,
    ContainerRuntime,
    ExternalRegistry,
    Host,
    HostAlias,
    HostGroup,
    LocalRegistry,
    Machine,
    Registry,
    Secret,
    SSHOverride,
    SubjectAltName,
    Taint,
    frozen_map,
)
from .yamlpos import YNode

_ARG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _read_cmd_args(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    """sealer's ``cmd_args``: ``KEY=VALUE`` entries, the values of the ``${KEY}`` the image's CMD lines use."""
    items = as_str_items(ctx, node, path)
    for item in items:
        key, eq, _ = item.value.partition("=")
        if not eq or not _ARG_NAME.fullmatch(key):
            raise ctx.error(item.line, item.path, f"{item.value!r} is not KEY=VALUE (cmd_args give the values of the "
                            "${KEY} variables in the image's CMD, as sealer's --cmd-args do)")
    return tuple(item.value for item in items)

CLUSTER_V2_API_VERSIONS = ("sealer.io/v2", "sealer.cloud/v2")
CLUSTER_V1_API_VERSIONS = ("sealer.aliyun.com/v1alpha1",)
#: Older names from sealer's history, accepted with a warning: the v2 shape (``hosts``) under v0.6-v0.9's
#: Go group, v0.7.0's typo and one test's name; the v1 shape (``masters``/``nodes``) under v0.2-v0.9's
#: apps and tests (``zlink``), their Go group and the first commit's.
CLUSTER_LEGACY_V2 = ("cluster.sealer.cool/v2", "saler.cool/v2", "sealer.aliyun.com/v2alpha1")
CLUSTER_LEGACY_V1 = ("zlink.aliyun.com/v1alpha1", "sealer.aliyun.com/v1", "seadent.aliyun.com/v1")
#: Names sealer v0.10+ decodes by kind alone (its docs show a v1-shaped ``sealer.io/v1`` Cluster, its tests
#: ``sealer.com/v1alpha1``): the spec's own fields say which shape it is.
CLUSTER_BY_SHAPE = ("sealer.io/v1", "sealer.com/v1alpha1")
CLUSTER_API_VERSIONS = (
    CLUSTER_V2_API_VERSIONS + CLUSTER_V1_API_VERSIONS + CLUSTER_LEGACY_V2 + CLUSTER_LEGACY_V1 + CLUSTER_BY_SHAPE
)
V1_SHAPE_KEYS = ("masters", "nodes")

#: Most hosts one Clusterfile may expand to.
MAX_HOSTS = 10_000
#: Most machines one cloud host group may ask for.
MAX_COUNT = 1_000

SPEC_V2_KEYS = (
    "image",
    "env",
    "cmd",
    "cmd_args",
    "appNames",
    "hosts",
    "ssh",
    "containerRuntime",
    "hostAliases",
    "registry",
    "dataRoot",
    "provider",
    "cloud",
)
MACHINE_KEYS = ("cpu", "memory", "systemDisk", "dataDisks", "instanceType")
HOST_KEYS = ("ips", "roles", "ssh", "env", "labels", "taints", "count") + MACHINE_KEYS
SSH_KEYS = ("encrypted", "user", "passwd", "pk", "pkPasswd", "port")
SPEC_V1_KEYS = ("image", "env", "provider", "ssh", "network", "certSANS", "masters", "nodes")
V1_HOSTS_KEYS = ("cpu", "memory", "count", "systemDisk", "dataDisks", "ipList")
V1_NETWORK_KEYS = ("interface", "cniName", "podCIDR", "svcCIDR", "withoutCNI")
V1_NETWORK_ENV = {"podCIDR": "PodCIDR", "svcCIDR": "SvcCIDR"}


@dataclass(frozen=True)
class ClusterIdentity:
    """What the decoder already knows about a Cluster document."""

    name: str
    api_version: str
    line: int
    api_line: int
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


def decode_cluster(ctx: Ctx, identity: ClusterIdentity, spec: YNode, warnings: list[str]) -> Cluster:
    """Read a Cluster ``spec`` (v2 or v1 shape, under any apiVersion sealer used) and build the v2 model."""
    api_version = identity.api_version
    if _v1_shaped(ctx, identity, spec):
        draft = _read_spec_v1(ctx, spec, api_version, identity.api_line, warnings)
    else:
        if api_version not in CLUSTER_V2_API_VERSIONS:
            message = (
                f"apiVersion {api_version} is an old name for a Cluster; it was read as sealer.io/v2 "
                "(its spec has the v2 shape); write apiVersion: sealer.io/v2"
            )
            warnings.append(ctx.warning(identity.api_line, "", message))
        draft = _read_spec_v2(ctx, spec)
    return _build_cluster(ctx, draft, identity, warnings)


def _v1_shaped(ctx: Ctx, identity: ClusterIdentity, spec: YNode) -> bool:
    """Whether to read *spec* as the v1 Cluster: by apiVersion, or by its fields where sealer looked at
    ``kind`` only. A spec with both shapes cannot be converted."""
    api_version = identity.api_version
    if api_version in CLUSTER_V1_API_VERSIONS + CLUSTER_LEGACY_V1:
        return True
    if api_version not in CLUSTER_BY_SHAPE:
        return False
    entries = getattr(spec, "entries", None) or {}
    v1_keys = [key for key in V1_SHAPE_KEYS if key in entries]
    if v1_keys and "hosts" in entries:
        message = (
            f"cannot be converted: apiVersion {api_version} names both Cluster shapes and this spec mixes them "
            f"(hosts is sealer.io/v2, {'/'.join(v1_keys)} is v1); keep one: hosts with apiVersion: sealer.io/v2"
        )
        raise ctx.error(identity.api_line, "spec", message)
    return bool(v1_keys)


@dataclass
class _GroupDraft:
    """A host group before IP expansion and inheritance."""

    path: str
    line: int
    roles: tuple[str, ...]
    ips_key: str = "ips"
    ips: tuple[Item, ...] = ()
    ssh: SSHOverride = SSHOverride()
    env: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    count: Item | None = None
    machine: Machine | None = None
    machine_at: tuple[str, int] | None = None
    meta_line: int = 0
    index: int = 0


@dataclass
class _ClusterDraft:
    """A Cluster spec as read, before expansion (shared by v1 and v2)."""

    line: int
    hosts_line: int
    image: str
    groups: list[_GroupDraft]
    provider: str = PROVIDER_BAREMETAL
    env: dict[str, str] = field(default_factory=dict)
    cmd: tuple[str, ...] = ()
    cmd_args: tuple[str, ...] = ()
    app_names: tuple[str, ...] = ()
    ssh: SSHOverride = SSHOverride()
    container_runtime: ContainerRuntime = ContainerRuntime()
    registry: Registry = Registry()
    host_aliases: tuple[HostAlias, ...] = ()
    data_root: str = DEFAULT_DATA_ROOT
    cloud: CloudSpec | None = None
    cloud_line: int = 0
    hosts_path: str = "hosts"


def _read_spec_v2(ctx: Ctx, node: YNode) -> _ClusterDraft:
    spec = fields(ctx, node, "", SPEC_V2_KEYS, label="spec")
    provider = spec.choice("provider", PROVIDERS, "provider", PROVIDER_BAREMETAL)
    groups = [
        _read_host_group(ctx, child, index("hosts", i), i) for i, child in enumerate(spec.read("hosts", as_seq, ()))
    ]
    return _ClusterDraft(
        line=spec.node.line,
        hosts_line=spec.line("hosts"),
        image=_read_image(spec),
        groups=groups,
        provider=provider,
        env=spec.read("env", read_env, {}),
        cmd=spec.read("cmd", as_nonempty_str_list, ()),
        cmd_args=spec.read("cmd_args", _read_cmd_args, ()),
        app_names=spec.read("appNames", read_names, ()),
        ssh=spec.read("ssh", _read_ssh, SSHOverride()),
        container_runtime=spec.read("containerRuntime", _read_container_runtime, ContainerRuntime()),
        registry=spec.read("registry", _read_registry, Registry()),
        host_aliases=spec.read("hostAliases", _read_host_aliases, ()),
        data_root=spec.read("dataRoot", _read_data_root, DEFAULT_DATA_ROOT),
        cloud=spec.read("cloud", _read_cloud, None),
        cloud_line=spec.line("cloud"),
    )


def _read_image(spec: Fields) -> str:
    spec.require("image")
    return spec.checked("image", lambda text: v.no_space(text, "image reference"), "")


def _read_host_group(ctx: Ctx, node: YNode, path: str, number: int) -> _GroupDraft:
    group = fields(ctx, node, path, HOST_KEYS)
    roles = _read_roles(ctx, group.require("roles"), group.at("roles"))
    ips = group.read("ips", as_str_items, ())
    count = None
    count_node = group.get("count")
    if count_node is not None:
        value = as_int(ctx, count_node, group.at("count"), 1, MAX_COUNT)
        count = Item(str(value), count_node.line, group.at("count"))
    machine, machine_at = _read_machine(group)
    return _GroupDraft(
        path=path,
        line=group.node.line,
        roles=roles,
        ips=ips,
        ssh=group.read("ssh", _read_ssh, SSHOverride()),
        env=group.read("env", read_env, {}),
        labels=group.read("labels", _read_labels, {}),
        taints=group.read("taints", _read_taints, ()),
        count=count,
        machine=machine,
        machine_at=machine_at,
        meta_line=next((group.line(key) for key in ("labels", "taints") if group.get(key) is not None), 0),
        index=number,
    )


def _read_roles(ctx: Ctx, node: YNode, path: str) -> tuple[str, ...]:
    items = as_str_items(ctx, node, path)
    if not items:
        raise ctx.error(node.line, path, "at least one role is required (e.g. [master] or [node])")
    roles: list[str] = []
    for item in items:
        role = check(ctx, item.line, item.path, v.role, item.value)
        if role in roles:
            raise ctx.error(item.line, item.path, f"role {v.q(role)} is listed twice")
        roles.append(role)
    return tuple(roles)


def _read_machine(group: Fields) -> tuple[Machine | None, tuple[str, int] | None]:
    present = [key for key in MACHINE_KEYS if group.get(key) is not None]
    if not present:
        return None, None
    ctx = group.ctx

    def size(key: str, high: int) -> int | None:
        node = group.get(key)
        return None if node is None else as_int(ctx, node, group.at(key), 1, high)

    disks_node = group.get("dataDisks")
    disks: tuple[int, ...] = ()
    if disks_node is not None:
        disks = tuple(
            as_int(ctx, child, index(group.at("dataDisks"), i), 1, 65536)
            for i, child in enumerate(as_seq(ctx, disks_node, group.at("dataDisks")))
        )
    machine = Machine(
        cpu=size("cpu", 1024),
        memory=size("memory", 65536),
        system_disk=size("systemDisk", 65536),
        data_disks=disks,
        instance_type=group.checked("instanceType", lambda text: v.no_space(text, "instance type"), None),
    )
    first = present[0]
    return machine, (group.at(first), group.line(first))


def _read_labels(ctx: Ctx, node: YNode, path: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for key, item in as_str_pairs(ctx, node, path):
        check(ctx, item.line, item.path, v.label_key, key)
        labels[key] = check(ctx, item.line, item.path, v.label_value, item.value)
    return labels


def _read_taints(ctx: Ctx, node: YNode, path: str) -> tuple[Taint, ...]:
    taints: list[Taint] = []
    for item in as_str_items(ctx, node, path):
        taint = check(ctx, item.line, item.path, v.taint, item.value)
        for other in taints:
            if (other.key, other.effect) == (taint.key, taint.effect):
                raise ctx.error(item.line, item.path, f"taint {taint.key}:{taint.effect} is listed twice")
        taints.append(taint)
    return tuple(taints)


def _read_ssh(ctx: Ctx, node: YNode, path: str) -> SSHOverride:
    ssh = fields(ctx, node, path, SSH_KEYS)
    encrypted = ssh.get("encrypted")
    if encrypted is not None and as_bool(ctx, encrypted, ssh.at("encrypted")):
        message = "encrypted credentials are not supported; give them in clear"
        raise ctx.error(encrypted.line, ssh.at("encrypted"), message)
    user = ssh.checked("user", lambda text: v.no_space(text, "user name"), None)
    port = None
    port_node = ssh.get("port")
    if port_node is not None:
        port = as_int(ctx, port_node, ssh.at("port"), 1, 65535)
    return SSHOverride(
        user=user,
        passwd=_secret(ssh.read("passwd", as_str, "")),
        pk=ssh.read("pk", as_str, "") or None,
        pk_passwd=_secret(ssh.read("pkPasswd", as_str, "")),
        port=port,
    )


def _secret(text: str) -> Secret | None:
    return Secret(text) if text else None


def _read_container_runtime(ctx: Ctx, node: YNode, path: str) -> ContainerRuntime:
    runtime = fields(ctx, node, path, ("type",))
    return ContainerRuntime(runtime.choice("type", CONTAINER_RUNTIMES, "container runtime", None))


def _read_registry(ctx: Ctx, node: YNode, path: str) -> Registry:
    registry = fields(ctx, node, path, ("localRegistry", "externalRegistry"))
    local_node = registry.node.entries.get("localRegistry")
    external = registry.read("externalRegistry", _read_external_registry, None)
    if external is not None:
        external = replace(external, line=registry.line("externalRegistry"))
    local: LocalRegistry | None = None
    if local_node is not None or external is None:
        local = registry.read("localRegistry", _read_local_registry, LocalRegistry())
        if local_node is not None:
            local = replace(local, line=registry.line("localRegistry"))
    return Registry(local=local, external=external)


def _read_registry_endpoint(registry: Fields) -> tuple[str | None, int | None, str | None, Secret | None]:
    domain = registry.checked("domain", v.host_or_ip, None)
    port_node = registry.get("port")
    port = None if port_node is None else as_int(registry.ctx, port_node, registry.at("port"), 1, 65535)
    username = registry.read("username", as_str, "") or None
    password = _secret(registry.read("password", as_str, ""))
    return domain, port, username, password


def _read_local_registry(ctx: Ctx, node: YNode, path: str) -> LocalRegistry:
    local = fields(ctx, node, path, ("domain", "port", "username", "password", "ha", "insecure", "cert"))
    domain, port, username, password = _read_registry_endpoint(local)
    defaults = LocalRegistry()
    return LocalRegistry(
        domain=domain or defaults.domain,
        port=port or defaults.port,
        username=username,
        password=password,
        ha=local.read("ha", as_bool, defaults.ha),
        insecure=local.read("insecure", as_bool, defaults.insecure),
        cert=local.read("cert", _read_cert, SubjectAltName()),
    )


def _read_external_registry(ctx: Ctx, node: YNode, path: str) -> ExternalRegistry:
    external = fields(ctx, node, path, ("domain", "port", "username", "password"))
    domain, port, username, password = _read_registry_endpoint(external)
    if domain is None:
        raise ctx.error(external.line("domain"), external.at("domain"), "is required for an external registry")
    return ExternalRegistry(domain=domain, port=port, username=username, password=password)


def _read_cert(ctx: Ctx, node: YNode, path: str) -> SubjectAltName:
    cert = fields(ctx, node, path, ("subjectAltName",))
    san_node = cert.get("subjectAltName")
    if san_node is None:
        return SubjectAltName()
    san = fields(ctx, san_node, cert.at("subjectAltName"), ("dnsNames", "ips"))
    dns_names = san.read("dnsNames", lambda c, n, p: checked_items(c, n, p, v.hostname), ())
    ips = san.read("ips", lambda c, n, p: checked_items(c, n, p, v.ip_address), ())
    return SubjectAltName(dns_names=dns_names, ips=ips)


def _read_host_aliases(ctx: Ctx, node: YNode, path: str) -> tuple[HostAlias, ...]:
    aliases = []
    for i, child in enumerate(as_seq(ctx, node, path)):
        alias = fields(ctx, child, index(path, i), ("ip", "hostnames"))
        alias.require("ip")
        ip = alias.checked("ip", v.ip_address, "")
        hostnames = checked_items(ctx, alias.require("hostnames"), alias.at("hostnames"), v.hostname)
        if not hostnames:
            raise ctx.error(alias.line("hostnames"), alias.at("hostnames"), "at least one host name is required")
        aliases.append(HostAlias(ip=ip, hostnames=hostnames))
    return tuple(aliases)


def _read_data_root(ctx: Ctx, node: YNode, path: str) -> str:
    return checked_str(ctx, node, path, v.host_directory)


CLOUD_KEYS = ("region", "zone", "vpcId", "image", "allowFrom", "publicIP")
PUBLIC_IP_CHOICES = ("none", "master0", "all")


def _read_cloud(ctx: Ctx, node: YNode, path: str) -> CloudSpec:
    cloud = fields(ctx, node, path, CLOUD_KEYS)
    return CloudSpec(
        region=cloud.checked("region", lambda text: v.no_space(text, "region"), None),
        zone=cloud.checked("zone", lambda text: v.no_space(text, "zone"), None),
        vpc_id=cloud.checked("vpcId", lambda text: v.no_space(text, "VPC id"), None),
        machine_image=cloud.checked("image", lambda text: v.no_space(text, "machine image id"), None),
        allow_from=cloud.read("allowFrom", lambda c, n, p: checked_items(c, n, p, v.cidr), ()),
        public_ip=cloud.choice("publicIP", PUBLIC_IP_CHOICES, "public IP choice", "none"),
    )


# --------------------------------------------------------------------------
# Cluster: the v1 shape (sealer.aliyun.com/v1alpha1 and its other names).


def _read_spec_v1(ctx: Ctx, node: YNode, api_version: str, api_line: int, warnings: list[str]) -> _ClusterDraft:
    spec = fields(ctx, node, "", SPEC_V1_KEYS, label="spec")
    warnings.append(
        ctx.warning(
            api_line,
            "",
            f"apiVersion {api_version} is deprecated; the Cluster was converted to sealer.io/v2 "
            "(masters/nodes became hosts, network and certSANS became env)",
        )
    )
    provider = spec.choice("provider", PROVIDERS, "provider", PROVIDER_BAREMETAL)
    env = spec.read("env", read_env, {})
    _convert_v1_network(spec, env, warnings)
    sans = spec.read("certSANS", as_str_items, ())
    if sans:
        if "CertSANS" in env:
            warnings.append(ctx.warning(spec.line("certSANS"), "certSANS", "ignored: env already sets CertSANS"))
        else:
            env["CertSANS"] = ";".join(item.value for item in sans)
    groups = []
    for key, role in (("masters", "master"), ("nodes", "node")):
        group_node = spec.get(key)
        if group_node is not None:
            group = _read_v1_hosts(ctx, group_node, key, role, provider, warnings)
            if group is not None:
                groups.append(group)
    return _ClusterDraft(
        line=spec.node.line,
        hosts_line=spec.line("masters"),
        image=_read_image(spec),
        groups=groups,
        provider=provider,
        env=env,
        ssh=spec.read("ssh", _read_ssh, SSHOverride()),
        hosts_path="masters",
    )


def _convert_v1_network(spec: Fields, env: dict[str, str], warnings: list[str]) -> None:
    ctx = spec.ctx
    node = spec.get("network")
    if node is None:
        return
    network = fields(ctx, node, "network", V1_NETWORK_KEYS)
    for key in V1_NETWORK_KEYS:
        value_node = network.get(key)
        if value_node is None:
            continue
        env_key = V1_NETWORK_ENV.get(key)
        if env_key is None:
            message = "has no sealer.io/v2 equivalent and was ignored"
            warnings.append(ctx.warning(network.line(key), network.at(key), message))
        elif env_key in env:
            message = f"ignored: env already sets {env_key}"
            warnings.append(ctx.warning(network.line(key), network.at(key), message))
        else:
            env[env_key] = as_str(ctx, value_node, network.at(key))


def _read_v1_hosts(
    ctx: Ctx, node: YNode, path: str, role: str, provider: str, warnings: list[str]
) -> _GroupDraft | None:
    hosts = fields(ctx, node, path, V1_HOSTS_KEYS)
    ips = hosts.read("ipList", as_str_items, ())
    count_node = hosts.get("count")
    count_value = 0 if count_node is None else as_int(ctx, count_node, hosts.at("count"), 0, MAX_COUNT)
    machine, machine_at = _read_machine(hosts)
    if provider == PROVIDER_BAREMETAL:
        for key in ("count",) + MACHINE_KEYS:
            if hosts.get(key) is not None:
                warnings.append(ctx.warning(hosts.line(key), hosts.at(key), "ignored for provider BAREMETAL"))
        count_node, machine, machine_at = None, None, None
    if not ips and not count_value:
        return None
    count = None
    if count_node is not None and count_value:
        count = Item(str(count_value), count_node.line, hosts.at("count"))
    return _GroupDraft(
        path=path,
        line=hosts.node.line,
        roles=(role,),
        ips_key="ipList",
        ips=ips,
        count=count,
        machine=machine,
        machine_at=machine_at,
    )


# --------------------------------------------------------------------------
# Cluster: expansion and cross-field validation.


def _build_cluster(ctx: Ctx, draft: _ClusterDraft, identity: ClusterIdentity, warnings: list[str]) -> Cluster:
    _check_provider_fields(ctx, draft)
    cluster_ssh = draft.ssh.apply_to(SSH())
    seen: dict[str, Item] = {}
    groups: list[HostGroup] = []
    hosts: list[Host] = []
    for group in draft.groups:
        addresses = _expand_group(ctx, group, seen)
        count = _group_count(ctx, draft.provider, group, len(addresses))
        env = {**draft.env, **group.env}
        ssh = _default_pk(group.ssh.apply_to(cluster_ssh))
        groups.append(
            HostGroup(
                ips=tuple(ip for ip, _ in addresses),
                roles=group.roles,
                count=count,
                ssh=group.ssh,
                env=frozen_map(group.env),
                labels=frozen_map(group.labels),
                taints=group.taints,
                machine=group.machine,
                line=group.line,
                meta_line=group.meta_line,
                index=group.index,
            )
        )
        for ip, ip_line in addresses:
            hosts.append(
                Host(ip, group.roles, ssh, frozen_map(env), frozen_map(group.labels), group.taints, line=ip_line)
            )
    _check_masters(ctx, draft, groups)
    if draft.registry.local is None and any(ROLE_REGISTRY in g.roles for g in groups):
        message = "the registry role has no effect without a localRegistry"
        warnings.append(ctx.warning(draft.hosts_line, draft.hosts_path, message))
    api_version = identity.api_version
    return Cluster(
        name=identity.name,
        api_version=api_version if api_version in CLUSTER_V2_API_VERSIONS else CLUSTER_V2_API_VERSIONS[0],
        image=draft.image,
        hosts=tuple(hosts),
        host_groups=tuple(groups),
        ssh=_default_pk(cluster_ssh),
        env=frozen_map(draft.env),
        cmd=draft.cmd,
        cmd_args=draft.cmd_args,
        app_names=draft.app_names,
        container_runtime=draft.container_runtime,
        registry=draft.registry,
        host_aliases=draft.host_aliases,
        data_root=draft.data_root,
        provider=draft.provider,
        cloud=draft.cloud,
        labels=frozen_map(identity.labels),
        annotations=frozen_map(identity.annotations),
        line=identity.line,
    )


def _default_pk(ssh: SSH) -> SSH:
    """Use ``~/.ssh/id_rsa`` when neither a password nor a key is given."""
    if ssh.passwd is None and ssh.pk is None:
        return SSH(user=ssh.user, passwd=None, pk=DEFAULT_SSH_PK, pk_passwd=ssh.pk_passwd, port=ssh.port)
    return ssh


def _check_provider_fields(ctx: Ctx, draft: _ClusterDraft) -> None:
    provider = draft.provider
    cloud_only = f"only valid with provider {' or '.join(CLOUD_PROVIDERS)} (provider is {provider})"
    if draft.cloud is not None and provider not in CLOUD_PROVIDERS:
        raise ctx.error(draft.cloud_line, "cloud", cloud_only)
    for group in draft.groups:
        if group.machine_at is not None and provider not in CLOUD_PROVIDERS:
            path, line = group.machine_at
            raise ctx.error(line, path, cloud_only)
        if group.count is not None and provider == PROVIDER_BAREMETAL:
            message = "only valid with a cloud or container provider; list ips instead"
            raise ctx.error(group.count.line, group.count.path, message)


def _expand_group(ctx: Ctx, group: _GroupDraft, seen: dict[str, Item]) -> list[tuple[str, int]]:
    addresses: list[tuple[str, int]] = []
    for item in group.ips:
        try:
            expanded = iprange.expand(item.value)
        except iprange.IPRangeError as exc:
            raise ctx.error(item.line, item.path, str(exc)) from None
        for ip in expanded:
            first = seen.get(ip)
            if first is not None:
                source = f" (from range {v.q(item.value)})" if item.value != ip and len(expanded) > 1 else ""
                raise ctx.error(
                    item.line, item.path, f"{ip}{source} is already listed at {first.path} (line {first.line})"
                )
            seen[ip] = item
            addresses.append((ip, item.line))
        if len(seen) > MAX_HOSTS:
            raise ctx.error(item.line, item.path, f"more than {MAX_HOSTS} hosts in one Clusterfile")
    return addresses


def _group_count(ctx: Ctx, provider: str, group: _GroupDraft, addresses: int) -> int:
    if provider == PROVIDER_BAREMETAL:
        if not addresses:
            message = f"at least one IP is required with provider {provider}"
            raise ctx.error(group.line, join(group.path, group.ips_key), message)
        return addresses
    if group.count is None:
        if not addresses:
            raise ctx.error(group.line, group.path, f"set count (or ips) for provider {provider}")
        return addresses
    count = int(group.count.value)
    if addresses and addresses != count:
        raise ctx.error(
            group.count.line, group.count.path, f"count is {count} but ips lists {addresses} addresses"
        )
    return count


def _check_masters(ctx: Ctx, draft: _ClusterDraft, groups: list[HostGroup]) -> None:
    if not groups:
        what = "host" if draft.provider == PROVIDER_BAREMETAL else "host group"
        message = f"at least one {what} is required with provider {draft.provider}"
        raise ctx.error(draft.hosts_line, draft.hosts_path, message)
    if not any(ROLE_MASTER in group.roles and group.count > 0 for group in groups):
        raise ctx.error(draft.hosts_line, draft.hosts_path, "no host has the master role")
