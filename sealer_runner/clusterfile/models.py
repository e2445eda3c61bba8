"""Typed, immutable schema of a decoded Clusterfile.

Everything here is a frozen dataclass built by :mod:`.decoder`; nothing in
this module parses or validates.  Lists are tuples and mappings are read-only
:class:`types.MappingProxyType` views, so a decoded Clusterfile cannot be
changed by accident.  Credentials are wrapped in :class:`Secret`, whose
``repr``/``str`` never show the value.
"""

from __future__ import annotations

from ..util.secret import Secret  # noqa: F401  (re-exported: part of the models' API)

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from . import iprange

# --------------------------------------------------------------------------
# Constants shared with the decoder and the docs.

#: Built-in host roles (custom lowercase roles are allowed too).
ROLE_MASTER = "master"
ROLE_NODE = "node"
ROLE_REGISTRY = "registry"

PROVIDER_BAREMETAL = "BAREMETAL"
PROVIDER_ALI_CLOUD = "ALI_CLOUD"
PROVIDER_AWS = "AWS"
PROVIDER_CONTAINER = "CONTAINER"
PROVIDERS = (PROVIDER_BAREMETAL, PROVIDER_ALI_CLOUD, PROVIDER_AWS, PROVIDER_CONTAINER)
#: Providers that create virtual machines and accept machine specs.
CLOUD_PROVIDERS = (PROVIDER_ALI_CLOUD, PROVIDER_AWS)

DEFAULT_SSH_USER = "root"
DEFAULT_SSH_PORT = 22
DEFAULT_SSH_PK = "~/.ssh/id_rsa"
DEFAULT_REGISTRY_DOMAIN = "sea.hub"
DEFAULT_REGISTRY_PORT = 5000
DEFAULT_DATA_ROOT = "/var/lib/sealer/data"

CONTAINER_RUNTIMES = ("containerd", "docker")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

CONFIG_STRATEGIES = ("overwrite", "merge")
APP_FILE_STRATEGIES = ("overwrite", "merge", "render")
CONFIG_PROCESSORS = ("value", "toJson", "toBase64", "toSecret")

PLUGIN_TYPES = ("SHELL", "HOSTNAME", "LABEL", "TAINT")
#: Plugin phases run once on master0 (sealer's "cluster type" hooks).
CLUSTER_PHASES = (
    "pre-install",
    "post-install",
    "pre-uninstall",
    "post-uninstall",
    "pre-scaleup",
    "post-scaleup",
    "upgrade",
    "rollback",
)
#: Plugin phases run on every host in the plugin's scope ("host type" hooks).
HOST_PHASES = ("pre-init-host", "post-init-host", "pre-clean-host", "post-clean-host", "upgrade-host")
PLUGIN_PHASES = CLUSTER_PHASES + HOST_PHASES

EMPTY_MAP: Mapping[str, str] = MappingProxyType({})


def frozen_map(items: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    """Return a read-only copy of *items* (insertion order kept)."""
    return MappingProxyType(dict(items or {}))


def deep_freeze(value: Any) -> Any:
    """Turn nested dicts/lists into read-only mappings and tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: deep_freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(deep_freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """Inverse of :func:`deep_freeze`: plain dicts and lists again."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return [thaw(item) for item in value]
    return value


# --------------------------------------------------------------------------
# Secrets.


# --------------------------------------------------------------------------
# Cluster building blocks.


@dataclass(frozen=True)
class SSH:
    """Effective SSH credentials (defaults applied)."""

    user: str = DEFAULT_SSH_USER
    passwd: Secret | None = None
    pk: str | None = None
    pk_passwd: Secret | None = None
    port: int = DEFAULT_SSH_PORT


@dataclass(frozen=True)
class SSHOverride:
    """SSH fields set on one host group; ``None`` means "inherit"."""

    user: str | None = None
    passwd: Secret | None = None
    pk: str | None = None
    pk_passwd: Secret | None = None
    port: int | None = None

    def apply_to(self, base: SSH) -> SSH:
        """Return *base* with every field this override sets replaced."""
        return SSH(
            user=self.user if self.user is not None else base.user,
            passwd=self.passwd if self.passwd is not None else base.passwd,
            pk=self.pk if self.pk is not None else base.pk,
            pk_passwd=self.pk_passwd if self.pk_passwd is not None else base.pk_passwd,
            port=self.port if self.port is not None else base.port,
        )


@dataclass(frozen=True)
class Taint:
    """A node taint ``key[=value]:Effect``."""

    key: str
    value: str
    effect: str

    def __str__(self) -> str:
        value = f"={self.value}" if self.value else ""
        return f"{self.key}{value}:{self.effect}"


@dataclass(frozen=True)
class Machine:
    """Virtual machine shape for cloud providers (sizes in GiB)."""

    cpu: int | None = None
    memory: int | None = None
    system_disk: int | None = None
    data_disks: tuple[int, ...] = ()
    instance_type: str | None = None


@dataclass(frozen=True)
class HostGroup:
    """One ``spec.hosts[]`` entry as written, with its IPs expanded.

    ``count`` is the number of machines a cloud/container provider creates
    for the group (equal to ``len(ips)`` on bare metal).
    """

    ips: tuple[str, ...]
    roles: tuple[str, ...]
    count: int
    ssh: SSHOverride = SSHOverride()
    env: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    taints: tuple[Taint, ...] = ()
    machine: Machine | None = None
    line: int = field(default=0, compare=False)
    #: Line of ``labels`` (else of ``taints``) in the Clusterfile, for messages; 0 without either.
    meta_line: int = field(default=0, compare=False)
    #: Index in ``spec.hosts`` (``hosts[N]``), for messages.
    index: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Host:
    """One machine of the cluster, with everything inherited resolved.

    ``ssh`` is the cluster SSH config overridden by the host group's, and
    ``env`` the cluster env overridden key by key by the group's env.
    """

    ip: str
    roles: tuple[str, ...]
    ssh: SSH
    env: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    taints: tuple[Taint, ...] = ()
    line: int = field(default=0, compare=False)
    #: Where the controller reaches the host when that is not ``ip`` (a cloud machine's public IP; ``ip``
    #: stays its private address, the one the cluster uses).
    address: str | None = None

    def has_role(self, role: str) -> bool:
        """Whether this host carries *role*."""
        return role in self.roles


@dataclass(frozen=True)
class ContainerRuntime:
    """``spec.containerRuntime``; ``type`` None lets the image decide."""

    type: str | None = None


@dataclass(frozen=True)
class SubjectAltName:
    """Extra names for the local registry's TLS certificate."""

    dns_names: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()


@dataclass(frozen=True)
class LocalRegistry:
    """sealer's built-in registry (``spec.registry.localRegistry``)."""

    domain: str = DEFAULT_REGISTRY_DOMAIN
    port: int = DEFAULT_REGISTRY_PORT
    username: str | None = None
    password: Secret | None = None
    ha: bool = True
    insecure: bool = False
    cert: SubjectAltName = SubjectAltName()
    line: int = field(default=0, compare=False)  # of the ``localRegistry:`` key (0: defaulted)

    @property
    def host(self) -> str:
        """``domain:port``, as registry clients and containerd name it."""
        return f"{_bracketed(self.domain)}:{self.port}"


@dataclass(frozen=True)
class ExternalRegistry:
    """A registry run outside the cluster (``spec.registry.externalRegistry``)."""

    domain: str
    port: int | None = None
    username: str | None = None
    password: Secret | None = None
    line: int = field(default=0, compare=False)  # of the ``externalRegistry:`` key

    @property
    def host(self) -> str:
        """``domain[:port]``, as registry clients and containerd name it."""
        return f"{_bracketed(self.domain)}:{self.port}" if self.port else _bracketed(self.domain)


def _bracketed(domain: str) -> str:
    """An IPv6 address in brackets, so that a port can follow it."""
    return f"[{domain}]" if ":" in domain else domain


@dataclass(frozen=True)
class Registry:
    """``spec.registry``: a local registry unless only an external one is set."""

    local: LocalRegistry | None = LocalRegistry()
    external: ExternalRegistry | None = None


@dataclass(frozen=True)
class HostAlias:
    """An ``/etc/hosts`` entry injected on every host."""

    ip: str
    hostnames: tuple[str, ...]


@dataclass(frozen=True)
class CloudSpec:
    """``spec.cloud``: where a cloud provider creates the machines."""

    region: str | None = None
    zone: str | None = None
    vpc_id: str | None = None  # an existing VPC to use (never deleted)
    machine_image: str | None = None  # AMI / ECS image id; default a current Debian or Ubuntu LTS
    allow_from: tuple[str, ...] = ()  # CIDRs allowed to reach SSH and 6443 (the controller's)
    public_ip: str = "none"  # none | master0 | all


@dataclass(frozen=True)
class Cluster:
    """The ``Cluster`` document, normalised to the v2 model."""

    name: str
    api_version: str
    image: str
    hosts: tuple[Host, ...]
    host_groups: tuple[HostGroup, ...]
    ssh: SSH = SSH(pk=DEFAULT_SSH_PK)
    env: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    cmd: tuple[str, ...] = ()
    cmd_args: tuple[str, ...] = ()
    app_names: tuple[str, ...] = ()
    container_runtime: ContainerRuntime = ContainerRuntime()
    registry: Registry = Registry()
    host_aliases: tuple[HostAlias, ...] = ()
    data_root: str = DEFAULT_DATA_ROOT
    provider: str = PROVIDER_BAREMETAL
    cloud: CloudSpec | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    line: int = field(default=0, compare=False)

    def hosts_with_role(self, role: str) -> tuple[Host, ...]:
        """Hosts carrying *role*, in Clusterfile order."""
        return tuple(host for host in self.hosts if host.has_role(role))

    @property
    def masters(self) -> tuple[Host, ...]:
        """Hosts with the ``master`` role."""
        return self.hosts_with_role(ROLE_MASTER)

    @property
    def nodes(self) -> tuple[Host, ...]:
        """Hosts with the ``node`` role."""
        return self.hosts_with_role(ROLE_NODE)

    @property
    def master0(self) -> Host | None:
        """The first master; None only while a cloud cluster has no IPs yet."""
        masters = self.masters
        return masters[0] if masters else None

    @property
    def registry_hosts(self) -> tuple[Host, ...]:
        """Where the local registry runs.

        Hosts with the ``registry`` role if there are any; otherwise every
        master when ``localRegistry.ha`` is true, else master0 alone.  Empty
        when only an external registry is configured.
        """
        if self.registry.local is None:
            return ()
        explicit = self.hosts_with_role(ROLE_REGISTRY)
        if explicit:
            return explicit
        if self.registry.local.ha:
            return self.masters
        master0 = self.master0
        return (master0,) if master0 is not None else ()

    def host(self, ip: str) -> Host | None:
        """The host with address *ip* (any spelling of it), or None."""
        try:
            wanted = str(iprange.parse_ip(ip))
        except iprange.IPRangeError:
            return None
        return next((host for host in self.hosts if host.ip == wanted), None)


# --------------------------------------------------------------------------
# Other kinds.


@dataclass(frozen=True)
class Config:
    """A ``Config`` document: data written into the image rootfs at ``path``."""

    name: str
    api_version: str
    path: str
    data: str
    strategy: str = "overwrite"
    process: tuple[str, ...] = ()
    app_name: str | None = None
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class PluginTarget:
    """What a HOSTNAME / LABEL / TAINT plugin asks of one host: its ``IP ...`` data lines, parsed.

    ``untaints`` are taints to remove: an empty ``effect`` removes every taint with that key.
    """

    ip: str
    hostname: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    taints: tuple[Taint, ...] = ()
    untaints: tuple[Taint, ...] = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Plugin:
    """A ``Plugin`` document: a hook run at one or more phases.

    ``targets`` holds the parsed data of HOSTNAME / LABEL / TAINT plugins, one per host (empty for SHELL).
    """

    name: str
    api_version: str
    type: str
    actions: tuple[str, ...]
    data: str
    scope: tuple[str, ...] = ()
    line: int = field(default=0, compare=False)
    targets: tuple[PluginTarget, ...] = ()

    @property
    def action(self) -> str:
        """The phases joined back with ``|``, as sealer writes them."""
        return "|".join(self.actions)


@dataclass(frozen=True)
class AppFile:
    """One file an application config writes (``configs[].files[]``)."""

    path: str
    data: str
    strategy: str = "overwrite"


@dataclass(frozen=True)
class AppLaunch:
    """Launch customisation of one app."""

    cmds: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppConfig:
    """Per-app configuration (``spec.configs[]``)."""

    name: str
    env: Mapping[str, str] = field(default_factory=lambda: EMPTY_MAP)
    launch: AppLaunch | None = None
    files: tuple[AppFile, ...] = ()


@dataclass(frozen=True)
class Application:
    """The ``Application`` document: which apps to launch and how."""

    name: str
    api_version: str
    cmds: tuple[str, ...] = ()
    launch_apps: tuple[str, ...] = ()
    configs: tuple[AppConfig, ...] = ()
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class KubeadmDocument:
    """A kubeadm / kubelet / kube-proxy document, kept as plain data."""

    kind: str
    api_version: str
    data: Mapping[str, Any]
    line: int = field(default=0, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A mutable deep copy of the document, ready for ``yaml.safe_dump``."""
        return thaw(self.data)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class ClusterSpec:
    """Everything one Clusterfile declares.

    ``kubeadm`` maps a kind (``InitConfiguration``...) to its document;
    ``warnings`` holds ``FILE:LINE: message`` strings (deprecated
    apiVersions converted, fields dropped...).  Nothing is ever printed.
    """

    cluster: Cluster
    configs: tuple[Config, ...] = ()
    plugins: tuple[Plugin, ...] = ()
    applications: tuple[Application, ...] = ()
    kubeadm: Mapping[str, KubeadmDocument] = field(default_factory=lambda: EMPTY_MAP)
    warnings: tuple[str, ...] = ()
    filename: str = "Clusterfile"

    @property
    def application(self) -> Application | None:
        """The Application document, if any (sealer allows at most one)."""
        return self.applications[0] if self.applications else None
