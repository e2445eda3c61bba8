"""Cloud machines for a Clusterfile with ``provider: AWS`` or ``ALI_CLOUD``: the infra playbook's request,
its outcome read from the event stream, and the record kept in the cluster's state dir.

The playbook runs on the controller (localhost) through ansible-runner, like every other phase.
Credentials and endpoints stay in the environment (boto3's chain, ``AWS_ENDPOINT_URL``;
``ACCESSKEYID``/``ACCESSKEYSECRET``, ``ALIBABA_CLOUD_ENDPOINT_URL``); an instance password from the
Clusterfile goes vaulted. ``<state>/infra.json`` holds ids and addresses only, never a secret.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..clusterfile.models import (
    CLOUD_PROVIDERS,
    PROVIDER_ALI_CLOUD,
    PROVIDER_AWS,
    ClusterSpec,
    Host,
    frozen_map,
)
from ..errors import InputError, SealerError
from ..util.fs import atomic_write_bytes
from .cluster import PLAYBOOKS_DIR, ClusterState, collections_path
from ..util.secret import Secret
from .runner import EventHandler, RunRequest, RunResult
from .runner import run as run_playbook
from .vault import OneTimeVault

RECORD = "infra.json"
MODULES = ("sealer.cluster.aws_ec2_instances", "sealer.cluster.ali_ecs_instances", "aws_ec2_instances",
           "ali_ecs_instances")
#: Credentials taken from the environment: ansible-runner writes its whole environment to the artifacts
#: (``artifacts/<id>/command``), so these leave the environment for the run and reach the module vaulted.
CREDENTIAL_ENVS = {
    PROVIDER_AWS: {"access_key": ("AWS_ACCESS_KEY_ID",), "secret_key": ("AWS_SECRET_ACCESS_KEY",),
                   "session_token": ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")},
    PROVIDER_ALI_CLOUD: {"access_key": ("ACCESSKEYID", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
                         "secret_key": ("ACCESSKEYSECRET", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")},
}
PUBLIC_IP = {"none": ("none", "none"), "master0": ("first", "none"), "all": ("all", "all")}


class InfraError(SealerError):
    """The cloud refused or failed; the message is the cloud's, naming the resource."""


@dataclass
class InfraOutcome:
    """What the infra module reported: machines, plan, ids created/released, API calls."""

    result: dict[str, Any] = field(default_factory=dict)
    failed: bool = False

    def __call__(self, event: dict[str, Any]) -> None:
        data = event.get("event_data") or {}
        if data.get("task_action") not in MODULES:
            return
        if event.get("event") == "runner_on_ok":
            self.result = dict(data.get("res") or {})
        elif event.get("event") == "runner_on_failed":
            self.result, self.failed = dict(data.get("res") or {}), True

    @property
    def machines(self) -> list[dict[str, Any]]:
        return list(self.result.get("machines") or ())

    @property
    def plan(self) -> list[str]:
        return list(self.result.get("plan") or ())

    @property
    def api_calls(self) -> dict[str, int]:
        return dict(self.result.get("api_calls") or {})


def infra_vars(spec: ClusterSpec, state: str = "present") -> dict[str, Any]:
    """``sealer_infra`` for the playbook, from the Clusterfile (no secret)."""
    cluster = spec.cluster
    if cluster.provider not in CLOUD_PROVIDERS:
        raise InputError(f"{spec.filename}: provider is {cluster.provider}; infra needs provider AWS or ALI_CLOUD")
    cloud = cluster.cloud
    region = cloud.region if cloud else None
    if not region and cluster.provider == PROVIDER_AWS:
        raise InputError(f"{spec.filename}: set cloud.region for provider AWS")
    first, rest = PUBLIC_IP[cloud.public_ip if cloud else "none"]
    groups: list[dict[str, Any]] = []
    for n, (group, role) in enumerate(zip(cluster.host_groups, group_roles(spec), strict=True)):
        if group.ips:  # machines that exist already (listed by IP): not the cloud's to make
            continue
        machine = group.machine
        groups.append({"role": role, "count": group.count,
                       "cpu": machine.cpu if machine else None, "memory": machine.memory if machine else None,
                       "instance_type": machine.instance_type if machine else None,
                       "system_disk": machine.system_disk if machine else None,
                       "data_disks": list(machine.data_disks) if machine else [],
                       "public_ip": first if n == 0 else rest})
    return {"provider": cluster.provider, "cluster": cluster.name, "region": region or "",
            "zone": (cloud.zone if cloud else None) or "", "groups": groups,
            "image_id": (cloud.machine_image if cloud else None) or "", "vpc_id": (cloud.vpc_id if cloud else None) or "",
            "allow_from": list(cloud.allow_from) if cloud else [], "public_key": public_key(spec), "state": state}


def group_roles(spec: ClusterSpec) -> list[str]:
    """Each host group's ``sealer.io/role`` tag value: its roles joined by ``-`` (``-<n>`` added for a
    second group of the same roles)."""
    out: list[str] = []
    for n, group in enumerate(spec.cluster.host_groups):
        role = "-".join(group.roles)
        out.append(f"{role}-{n}" if role in out else role)
    return out


def with_machines(spec: ClusterSpec, root: Path) -> ClusterSpec:
    """A cloud Clusterfile with the machines `infra apply` recorded as its hosts: ``ip`` the private
    address (the cluster's), ``address`` the public one when there is one (where the controller
    connects). Groups that list ``ips`` keep them; a spec of another provider is returned as it is."""
    cluster = spec.cluster
    if cluster.provider not in CLOUD_PROVIDERS or all(g.ips for g in cluster.host_groups):
        return spec
    record = read_record(root, cluster.name)
    if record is None or not record.get("complete", True):
        raise InputError(f"{spec.filename}: cluster {cluster.name} has no machines yet: "
                         f"run `sealer_runner infra apply -f {spec.filename}` first")
    hosts: list[Host] = []
    groups = []
    for group, role in zip(cluster.host_groups, group_roles(spec), strict=True):
        if group.ips:
            kept = [h for h in cluster.hosts if h.ip in group.ips]
            hosts.extend(kept)
            groups.append(group)
            continue
        machines = sorted((m for m in record.get("machines") or () if m.get("role") == role),
                          key=lambda m: int(m.get("index", 0)))
        if len(machines) != group.count:
            raise InputError(f"{spec.filename}:{group.line}: {len(machines)} machine(s) recorded for role {role}, "
                             f"{group.count} asked for: run `sealer_runner infra apply -f {spec.filename}`")
        ssh = group.ssh.apply_to(cluster.ssh)
        env = {**cluster.env, **group.env}
        for m in machines:
            hosts.append(Host(ip=m["private_ip"], roles=group.roles, ssh=ssh, env=frozen_map(env), labels=group.labels,
                              taints=group.taints, line=group.line, address=m.get("public_ip") or None))
        groups.append(dataclasses.replace(group, ips=tuple(m["private_ip"] for m in machines)))
    return dataclasses.replace(spec, cluster=dataclasses.replace(cluster, hosts=tuple(hosts),
                                                                 host_groups=tuple(groups)))


def wait_for_ssh(spec: ClusterSpec, timeout: float, *, clock=time.monotonic, sleep=time.sleep) -> None:
    """Wait until every host's SSH port accepts connections (a cloud machine is "running" well before
    its sshd is up), polling all of them each round, 1 s doubling to 8 s apart; raise naming those
    still closed after *timeout* seconds."""
    import socket

    pending = {(h.address or h.ip, h.ssh.port) for h in spec.cluster.hosts}
    deadline, delay = clock() + timeout, 1.0
    while True:
        for address, port in sorted(pending):
            try:
                socket.create_connection((address, port), timeout=3).close()
                pending.discard((address, port))
            except OSError:
                pass
        if not pending:
            return
        if clock() >= deadline:
            closed = ", ".join(f"{a}:{p}" for a, p in sorted(pending))
            raise InfraError(f"SSH not reachable after {timeout:.0f}s on {closed} (is cloud.allowFrom this "
                             "controller's address, and does it reach these addresses?)")
        sleep(min(delay, max(0.0, deadline - clock())))
        delay = min(delay * 2, 8.0)


def public_key(spec: ClusterSpec) -> str:
    """The public half of the Clusterfile's SSH key (``<pk>.pub``), when there is one."""
    pk = spec.cluster.ssh.pk
    if not pk:
        return ""
    path = Path(pk).expanduser().with_name(Path(pk).name + ".pub")
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def build_infra_request(spec: ClusterSpec, root: Path, *, state: str = "present", plan: bool = False,
                        verbosity: int = 0) -> RunRequest:
    cluster = spec.cluster
    cs = ClusterState(root, cluster.name)
    extravars: dict[str, Any] = {"sealer_infra": infra_vars(spec, state), "sealer_infra_plan": plan}
    vault = OneTimeVault.new()
    password = cluster.ssh.passwd
    if password is not None and cluster.provider == PROVIDER_ALI_CLOUD and state == "present":
        extravars["sealer_infra_password"] = vault.encrypt(password)
    credentials = env_credentials(cluster.provider)
    if credentials:
        extravars["sealer_infra_credentials"] = {k: vault.encrypt(v) for k, v in credentials.items()}
    inventory = {"all": {"hosts": {"localhost": {"ansible_connection": "local",
                                                 "ansible_python_interpreter": sys.executable}}}}
    cfg = "\n".join(["[defaults]", "gathering = explicit", "retry_files_enabled = False",
                     "interpreter_python = auto_silent", ""])
    return RunRequest(private_dir=cs.dir / "infra", project_dir=PLAYBOOKS_DIR, playbook="infra.yml",
                      inventory=inventory, extravars=extravars, ansible_cfg=cfg,
                      collections_path=collections_path(root), vault_password=vault.password,
                      forks=1, verbosity=verbosity)


def env_credentials(provider: str) -> dict[str, Secret]:
    """The provider's credentials found in this process's environment (the first name set of each)."""
    found = {}
    for param, names in CREDENTIAL_ENVS.get(provider, {}).items():
        value = next((os.environ[n] for n in names if os.environ.get(n)), None)
        if value:
            found[param] = Secret(value)
    return found


@contextmanager
def _credentials_out_of_env() -> Iterator[None]:
    names = {n for params in CREDENTIAL_ENVS.values() for ns in params.values() for n in ns}
    saved = {n: os.environ.pop(n) for n in names if n in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def run_infra(request: RunRequest, outcome: InfraOutcome, on_event: EventHandler | None = None) -> RunResult:
    """Run the infra playbook with the cloud credentials out of the environment ansible-runner records
    (they reach the module vaulted, see :func:`build_infra_request`)."""
    def handle(event: dict[str, Any]) -> None:
        outcome(event)
        if on_event is not None:
            on_event(event)
    with _credentials_out_of_env():
        return run_playbook(request, handle)


def check_outcome(result: RunResult, outcome: InfraOutcome) -> None:
    """Raise with the cloud's message when the run failed."""
    if result.ok and not outcome.failed:
        return
    message = str(outcome.result.get("msg") or "") or "\n".join(str(f) for f in result.failures)
    message = message or result.output_tail or f"status {result.status}"
    created = outcome.result.get("created") or {}
    if any(created.values()):
        made = ", ".join(f"{k}: {' '.join(v)}" for k, v in sorted(created.items()) if v)
        message += f"\ncreated before the failure (tagged; `infra apply` resumes, `infra delete` releases): {made}"
    raise InfraError(f"infra failed: {message}\nartifacts for post-mortem: {result.artifacts}")


def read_record(root: Path, name: str) -> dict[str, Any] | None:
    path = ClusterState(root, name).dir / RECORD
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SealerError(f"{path}: unreadable infra record: {exc}") from None


def write_record(root: Path, spec: ClusterSpec, outcome: InfraOutcome) -> Path:
    """Record the machines and the network ids (no secret) in ``<state>/infra.json``."""
    cluster = spec.cluster
    path = ClusterState(root, cluster.name).dir / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"provider": cluster.provider, "cluster": cluster.name,
              "region": cluster.cloud.region if cluster.cloud else None, "updated": int(time.time()),
              "machines": outcome.machines, "network": outcome.result.get("network") or {},
              "api_calls": outcome.api_calls, "created": outcome.result.get("created") or {},
              "complete": not outcome.failed}
    atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return path


def forget_record(root: Path, name: str) -> None:
    (ClusterState(root, name).dir / RECORD).unlink(missing_ok=True)
