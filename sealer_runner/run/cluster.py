"""From a Clusterfile and a stored image to a ready ansible-runner request, in the cluster's state dir.

State lives in ``<root>/clusters/<name>/``: ``runner/`` (ansible-runner's private data dir and
artifacts), ``known_hosts`` (host keys, accepted on first sight), ``cp/`` (SSH control sockets),
``pki/`` (the cluster CA, the registry certificate and its htpasswd line).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..bundled import COLLECTION_DIR, PLAYBOOKS_DIR
from ..clusterfile.models import Cluster, ClusterSpec, PluginTarget
from ..errors import InputError, SealerError
from ..image.metadata import Application, ImageExtension, read_container_images, read_extension
from ..image.platform import host_platform
from ..image.reference import parse_reference
from ..image.rootfs import KUBEADM, KUBEADM_DEFAULTS, REGISTRY_DATA, RUN_CONTENT, read_rootfs
from ..image.store import PlatformManifest, Store, TaggedImage
from ..kube.runtime import RuntimeInput, runtime_for
from ..kubefile.plan import APPS_ROOT
from ..registry.auth import Credentials
from ..registry.config import RegistryConfig
from ..registry.transfer import Registries
from ..util.secret import Secret
from .host_meta import host_meta_plugins
from .htpasswd import htpasswd_line
from .image_plugins import SourcedPlugin, check_hostnames, clusterfile_plugins, image_plugins, merge_plugins
from .inventory import build_inventory, host_order
from .phase_tags import play_tags, skipped_phases
from .pki import ensure_registry_pki
from .registry_access import check_registry, registry_credentials
from .runner import RunRequest
from .vault import OneTimeVault

#: The image label naming the cluster runtime (sealer's), and the binary that implies Kubernetes without it.
RUNTIME_LABEL = "cluster.alpha.sealer.io/cluster-runtime-type"


@dataclass(frozen=True)
class ClusterState:
    root: Path
    name: str

    @property
    def dir(self) -> Path:
        return self.root / "clusters" / self.name

    @property
    def private_dir(self) -> Path:
        return self.dir / "runner"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"


def collections_path(root: Path) -> Path:
    """A collections path holding ``ansible_collections/sealer/cluster`` -> this checkout's collection."""
    if not (COLLECTION_DIR / "galaxy.yml").is_file():
        raise SealerError(f"the sealer.cluster collection is not at {COLLECTION_DIR}")
    base = root / "collections"
    link = base / "ansible_collections" / "sealer" / "cluster"
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink() or link.resolve() != COLLECTION_DIR:
        link.unlink(missing_ok=True)
        link.symlink_to(COLLECTION_DIR)
    return base


def control_dir(state: ClusterState) -> Path:
    """SSH control sockets: a short private path (a socket path must stay under 108 bytes)."""
    key = hashlib.sha256(str(state.dir).encode()).hexdigest()[:10]
    path = Path(tempfile.gettempdir()) / f"sr-cp-{os.getuid()}-{key}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.stat().st_uid != os.getuid() or path.stat().st_mode & 0o077:
        raise SealerError(f"{path}: SSH control directory not private to this user")
    return path


# OpenSSH's default ciphers with AES-GCM first: with AES-NI (x86 since 2010, ARMv8's crypto extensions) it
# costs a third less CPU than chacha20-poly1305 on both ends; measured here, a 1 GB tar | ssh took 3.6 s
# instead of 4.8 s. Layers reach master0 through this connection.
SSH_CIPHERS = ("aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,"
               "aes128-ctr,aes192-ctr,aes256-ctr")


def ansible_cfg(state: ClusterState, forks: int) -> str:
    """Tuned for speed: pipelining, ControlPersist, AES-GCM first, enough forks for every host, no fact
    gathering."""
    control = control_dir(state)
    return "\n".join([
        "[defaults]",
        f"forks = {forks}",
        "gathering = explicit",
        "host_key_checking = True",
        "interpreter_python = auto_silent",
        "timeout = 30",
        "retry_files_enabled = False",
        "",
        "[ssh_connection]",
        "pipelining = True",
        f"control_path_dir = {control}",
        "control_path = %(directory)s/%%C",
        "ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o ServerAliveInterval=15 "
        f"-o Ciphers={SSH_CIPHERS} "
        f"-o StrictHostKeyChecking=accept-new -o UserKnownHostsFile={state.known_hosts}",
        "",
    ])


def host_manifest(store: Store, image_name: str) -> tuple[TaggedImage, PlatformManifest]:
    """The image, and its manifest for the hosts' platform (that of this machine, for now)."""
    image = store.lookup(image_name)
    platforms = store.platform_manifests(image.descriptor)
    host = host_platform()
    return image, next((pm for pm in platforms if pm.platform.architecture == host.architecture), platforms[0])


def image_vars(store: Store, image: TaggedImage, chosen: PlatformManifest) -> dict[str, Any]:
    """The image's digest, its layers (each with its controller path), the upstream registries of its
    cached container images, its platforms, the one chosen by default (the controller's architecture, else
    the first) and the layers of every platform: the host check delivers to the hosts the platform of their
    architecture, and stops the run before any change when the image lacks it."""
    layers = _layer_vars(store, chosen)
    upstreams = sorted({parse_reference(str(r["image"])).domain for r in read_container_images(chosen.manifest)
                        if r.get("image")})
    every = store.platform_manifests(image.descriptor)
    # Each platform whose layers this store holds: the host check picks the one of the hosts' architecture.
    per_platform = [{"platform": str(pm.platform), "layers": _layer_vars(store, pm)} for pm in every
                    if all(store.has_blob(layer.digest) for layer in pm.manifest.layers)]
    return {"sealer_image_digest": str(image.descriptor.digest), "sealer_layers": layers,
            "sealer_upstream_registries": upstreams, "sealer_image_platforms": [str(pm.platform) for pm in every],
            "sealer_delivered_platform": str(chosen.platform), "sealer_platform_layers": per_platform}


def _layer_vars(store: Store, pm: PlatformManifest) -> list[dict[str, Any]]:
    return [{"digest": str(layer.digest), "size": layer.size, "source": store.blob_source(layer.digest)}
            for layer in pm.manifest.layers]


def launch_vars(spec: ClusterSpec, pm: PlatformManifest, digest: str) -> list[dict[str, Any]]:
    """What runs on master0 once the cluster is up, in sealer's precedence: the Cluster's ``cmd``, else the
    Application document's ``cmds``, else the image's CMD/CMDS; else the apps named by the Cluster's
    ``appNames``, else the Application's ``launchApps``, else the image's LAUNCH, each by the Application's
    ``configs[].launch.cmds``, else its APPCMDS, else its type's default command. Each step has an id that
    changes with the image."""
    cluster, application = spec.cluster, spec.application
    ext = read_extension(pm.manifest) or ImageExtension()
    env = {**ext.env, **cluster.env}
    steps: list[tuple[str, str, dict[str, str]]] = []
    cmds = list(cluster.cmd) or list(application.cmds if application else ()) or list(ext.launch_cmds)
    if cmds:  # cmd_args (KEY=VALUE) give the ${KEY} of these command lines, over every env (sealer v0.8)
        args = dict(arg.split("=", 1) for arg in cluster.cmd_args)
        steps = [("cmd", cmd, {**env, **args}) for cmd in cmds]
    else:
        apps = {a.name: a for a in ext.applications}
        configs = {c.name: c for c in (application.configs if application else ())}
        names = list(cluster.app_names) or list(application.launch_apps if application else ())
        for name in names or list(ext.launch_app_names):
            app = apps.get(name)
            if app is None:
                raise InputError(f"{spec.filename}: app {name} is not in image {cluster.image}")
            config = configs.get(name)
            command = app_command(app, config.launch.cmds if config and config.launch else ())
            steps.append((name, command, {**env, **app.env, **(config.env if config else {})}))
    return [{"name": name, "cmd": cmd, "env": step_env,
             "id": hashlib.sha256(f"{digest}\0{name}\0{cmd}".encode()).hexdigest()[:24]}
            for name, cmd, step_env in steps]


def plugin_vars(plugins: Sequence[SourcedPlugin]) -> list[dict[str, Any]]:
    """The plugins, each with an id that changes with its content (for run-once markers), where it comes
    from, and the parsed data of HOSTNAME / LABEL / TAINT plugins (``targets``, one per host)."""
    out = []
    for sourced in plugins:
        plugin = sourced.plugin
        ident = hashlib.sha256(f"{plugin.name}\0{plugin.type}\0{plugin.data}".encode()).hexdigest()[:24]
        out.append({"name": plugin.name, "type": plugin.type, "phases": list(plugin.actions),
                    "scope": list(plugin.scope), "data": plugin.data, "id": ident, "source": sourced.where,
                    "targets": [_target_vars(t) for t in plugin.targets]})
    return out


def config_vars(spec: ClusterSpec) -> list[dict[str, Any]]:
    """The Clusterfile's Configs in order, then the Application document's ``configs[].files``, each path
    relative to the rootfs (sealer puts an ``appName``'s, and an app's files, under
    ``application/apps/<app>/``). Checked by the decoder: the path stays in the image, and the data
    fits the strategy and processors."""
    out = []
    for config in spec.configs:
        path = posixpath.join(APPS_ROOT, config.app_name, config.path) if config.app_name else config.path
        out.append({"name": config.name, "path": posixpath.normpath(path), "data": config.data,
                    "strategy": config.strategy, "process": list(config.process)})
    # The Application document's configs[].files, after the Configs (sealer applies them when it launches
    # the apps): overwrite or merge (YAML) a file of the app's directory, as a Config with appName does.
    for app in spec.application.configs if spec.application else ():
        for number, app_file in enumerate(app.files):
            if app_file.strategy not in ("overwrite", "merge"):
                raise InputError(f"{spec.filename}:{spec.application.line}: Application configs[{app.name}].files"
                                 f"[{number}]: strategy {app_file.strategy!r} is not implemented (sealer has only "
                                 "overwrite and merge)")
            out.append({"name": f"{spec.application.name}/{app.name}/{number}",
                        "path": posixpath.normpath(posixpath.join(APPS_ROOT, app.name, app_file.path)),
                        "data": app_file.data, "strategy": app_file.strategy, "process": []})
    return out


def image_env(pm: PlatformManifest) -> dict[str, str]:
    """The image's ENV: the templates' defaults, under the cluster env."""
    ext = read_extension(pm.manifest) or ImageExtension()
    return dict(ext.env)


def _target_vars(target: PluginTarget) -> dict[str, Any]:
    return {"ip": target.ip, "hostname": target.hostname, "labels": dict(target.labels),
            "taints": [{"key": t.key, "value": t.value, "effect": t.effect} for t in target.taints],
            "untaints": [{"key": t.key, "effect": t.effect} for t in target.untaints]}


def image_labels(pm: PlatformManifest) -> dict[str, str]:
    """The image's labels: its OCI config's, overridden by sealer's extension annotation's."""
    config_labels = (pm.config.get("config") or {}).get("Labels") or {}
    ext = read_extension(pm.manifest) or ImageExtension()
    return {**{str(k): str(v) for k, v in config_labels.items()}, **ext.labels}


def cluster_runtime(labels: Mapping[str, str], has_kubeadm: bool) -> str:
    """What runs the cluster: the image's ``cluster-runtime-type`` label (kubernetes, k0s...); without
    one, ``kubernetes`` when the image ships ``bin/kubeadm``, else ``none`` (an image of apps only)."""
    declared = labels.get(RUNTIME_LABEL, "").strip()
    if declared:
        return declared
    return "kubernetes" if has_kubeadm else "none"


@dataclass(frozen=True)
class ImageContent:
    """What one read of the image's layers gives a run."""

    plugins: list[SourcedPlugin]
    runtime: str
    warnings: list[str]
    kubeadm_defaults: bytes | None  # the image's etc/kubeadm.yml
    caches_images: bool = True  # registry/ holds files: the embedded registry serves them


def image_content(store: Store, pm: PlatformManifest, spec: ClusterSpec) -> ImageContent:
    """One read of the image's layers: its plugins merged with the Clusterfile's, its cluster runtime,
    its kubeadm defaults and the warnings its plugin files raise."""
    cluster = spec.cluster
    files = read_rootfs(store, pm.manifest.layers, RUN_CONTENT)
    contents = {path: data for path, data in files.contents.items() if path != KUBEADM_DEFAULTS}
    shipped, warnings = image_plugins(contents, cluster.image, cluster)
    plugins = merge_plugins(clusterfile_plugins(spec), shipped)
    check_hostnames(plugins)
    return ImageContent(plugins, cluster_runtime(image_labels(pm), KUBEADM in files.present), warnings,
                        files.contents.get(KUBEADM_DEFAULTS), REGISTRY_DATA in files.present)


def app_command(app: Application, cmds: Sequence[str] = ()) -> str:
    """sealer's rule: ``cd <app dir> && CMDS`` (the Clusterfile's, else APPCMDS), else kubectl apply /
    helm install / bash by type."""
    root = f"application/apps/{app.name}"
    cmds = tuple(cmds) or app.cmds
    if cmds:
        return f"cd {root} && " + " && ".join(cmds)
    if app.type == "helm":
        return f"helm install {app.name} {root}"
    verb = "kubectl apply -f" if app.type == "kube" else "bash"
    return " && ".join(f"{verb} {root}/{f}" for f in app.launch_files)


def registry_vars(cluster: Cluster, state: ClusterState, *, credentials: Credentials | None = None,
                  config: RegistryConfig | None = None) -> dict[str, Any]:
    """``sealer_registry``: the registry the hosts pull cached images from. Never a password: only its
    user name and, for the embedded registry, its htpasswd (bcrypt) line.

    Embedded: where it runs, its name, its TLS files (made on first use). External: its name, and how
    the hosts trust it: the controller's ``ca_file`` and ``insecure`` settings for it (see
    :class:`RegistryConfig`); listed insecure, the hosts may also reach it over plain HTTP."""
    external, local = cluster.registry.external, cluster.registry.local
    if external is not None:
        config = config or RegistryConfig()
        out: dict[str, Any] = {"external": True, "domain": external.domain, "endpoint": external.host,
                               "skip_verify": not config.verify_tls(external.host)}
        if external.host in config.insecure:  # as Docker treats an insecure registry: HTTPS unverified, else HTTP
            out["plain_http"] = True
        if external.port:
            out["port"] = external.port
        if config.ca_file:
            out["ca_cert"] = str(Path(config.ca_file).resolve())
    elif local is not None:
        ips = [h.ip for h in cluster.registry_hosts]
        pki = ensure_registry_pki(state.dir / "pki", cluster.name, [local.domain, *local.cert.dns_names],
                                  [*ips, *local.cert.ips])
        out = {"domain": local.domain, "port": local.port, "endpoint": local.host, "hosts": ips,
               "ca_cert": str(pki.ca_cert), "cert": str(pki.cert), "key": str(pki.key)}
        if credentials is not None:
            out["htpasswd"] = htpasswd_line(credentials.username, credentials.password, state.dir / "pki" / "htpasswd")
    else:
        return {}
    if credentials is not None:
        out["username"] = credentials.username
    return out


def registry_endpoint(registry: Mapping[str, Any]) -> str:
    """``host:port`` the hosts pull the cluster's images from (kubeadm's imageRepository)."""
    if registry.get("endpoint"):
        return str(registry["endpoint"])
    return f"{registry.get('domain', '')}:{registry['port']}" if registry.get("port") else str(registry.get("domain", ""))


def build_request(spec: ClusterSpec, store: Store, root: Path, *, ssh_key: Secret | None,
                  registries: Registries | None = None, tags: tuple[str, ...] = (), verbosity: int = 0,
                  added_sans: tuple[str, ...] | None = None) -> RunRequest:
    """Everything a run needs. *registries* gives an external registry's trust settings and the
    credentials kept by ``sealer_runner login``; *added_sans* the apiserver certificate names ``cert`` added
    (default: those the cluster's applied state keeps)."""
    cluster = spec.cluster
    state = ClusterState(root, cluster.name)
    master0 = cluster.master0
    if master0 is None:
        raise InputError(f"{spec.filename}: cluster {cluster.name} has no master")
    check_registry(spec)
    passwords = {h.ssh.passwd.reveal() for h in cluster.hosts if h.ssh.passwd}
    if len(passwords) > 1:
        raise InputError(f"{spec.filename}: hosts with different SSH passwords are not supported; "
                         "use one password or key-based access")
    password = next((h.ssh.passwd for h in cluster.hosts if h.ssh.passwd), None)
    hosts = host_order(cluster)
    image, chosen = host_manifest(store, cluster.image)
    credentials = registry_credentials(spec, registries.auth if registries else None)
    content = image_content(store, chosen, spec)
    plugins, runtime, warnings = content.plugins, content.runtime, content.warnings
    host_meta = host_meta_plugins(cluster, spec.filename, runtime)
    registry = registry_vars(cluster, state, credentials=credentials, config=registries.config if registries else None)
    if added_sans is None:
        from .state import added_cert_sans  # state imports this module

        added_sans = added_cert_sans(root, cluster.name)
    runtime_plan = runtime_for(runtime).install(RuntimeInput(
        spec, image_labels(chosen), content.kubeadm_defaults, registry_endpoint(registry), state.dir,
        added_sans=tuple(added_sans)))
    warnings.extend(runtime_plan.warnings)
    local = cluster.registry.local
    if cluster.registry.external is None and local is not None and local.insecure:
        warnings.append(f"{spec.filename}:{local.line}: registry.localRegistry.insecure is ignored: the embedded "
                        "registry always serves TLS, with a certificate of the cluster's CA that every host trusts")
    extravars: dict[str, Any] = {
        "sealer_cluster_name": cluster.name,
        "sealer_image": cluster.image,
        **image_vars(store, image, chosen),
        "sealer_master0": master0.ip,
        "sealer_data_root": cluster.data_root,
        "sealer_env": dict(cluster.env),
        "sealer_image_env": image_env(chosen),
        "sealer_configs": config_vars(spec),
        "sealer_registry": registry,
        # the registry role looks at the host's rootfs itself; `run --dry-run` renders from this
        "sealer_image_caches_images": content.caches_images,
        "sealer_cluster_runtime": runtime,
        **runtime_plan.extravars,
        "sealer_plugins": plugin_vars(plugins) + host_meta,
        "sealer_launch": launch_vars(spec, chosen, str(image.descriptor.digest)),
        "sealer_host_aliases": [{"ip": a.ip, "hostnames": list(a.hostnames)} for a in cluster.host_aliases],
    }
    vault = None
    if credentials is not None:  # the hosts' containerd needs it in clear: sent vault-encrypted, key in memory
        vault = OneTimeVault.new()
        extravars["sealer_registry_password"] = vault.encrypt(credentials.password)
    return RunRequest(
        private_dir=state.private_dir,
        project_dir=PLAYBOOKS_DIR,
        playbook="run.yml",
        inventory=build_inventory(cluster),
        extravars=extravars,
        ansible_cfg=ansible_cfg(state, max(10, len(hosts))),
        collections_path=collections_path(root),
        ssh_password=password,
        ssh_key=ssh_key,
        # sealer's rule: a non-root user's SSH password is also its sudo password (with a key, sudo must not ask)
        become_password=password if any(h.ssh.user != "root" for h in hosts) else None,
        vault_password=vault.password if vault else None,
        tags=tags,
        skip_tags=skipped_phases(tags, play_tags(COLLECTION_DIR / "playbooks" / "run.yml")) if tags else (),
        forks=max(10, len(hosts)),
        verbosity=verbosity,
        warnings=tuple(warnings),
    )
