"""Another controller takes a cluster over: ``state pull`` copies the state every successful run keeps on the
masters (``<dataRoot>/<name>/state/``: the applied Clusterfile, state.json, the cluster's PKI, admin.conf)
into this controller's ``<root>/clusters/<name>/``, as the run that wrote it had left it there."""

from __future__ import annotations

import json
from pathlib import Path

from ..clusterfile.models import ClusterSpec
from ..errors import InputError, SealerError
from ..util.fs import atomic_write_bytes
from ..util.secret import Secret
from ..bundled import PLAYBOOKS_DIR
from .cluster import ClusterState, ansible_cfg, collections_path
from .inventory import build_inventory
from .remote import ssh_password
from .runner import RunRequest
from .state import ADMIN_CONF, APPLIED_CLUSTERFILE, PKI_DIR, STATE_FILE, AppliedState, applied_dir, read_applied

PULL_PLAYBOOK = "state_pull.yml"


def pull_request(spec: ClusterSpec, root: Path, host: str, dest: Path, *, cluster: str = "",
                 ssh_key: Secret | None, verbosity: int = 0) -> RunRequest:
    """sealer.cluster.state_pull on *host* (one of *spec*'s hosts: its SSH settings), into *dest*."""
    if host not in {h.ip for h in spec.cluster.hosts}:
        raise InputError(f"{host} is not a host of {spec.filename}")
    state = ClusterState(root, spec.cluster.name)
    password = ssh_password(spec)
    return RunRequest(
        private_dir=dest.parent / "runner", project_dir=PLAYBOOKS_DIR, playbook=PULL_PLAYBOOK,
        inventory=build_inventory(spec.cluster),
        extravars={"sealer_pull_dest": str(dest), "sealer_pull_cluster": cluster,
                   "sealer_data_root": spec.cluster.data_root},
        ansible_cfg=ansible_cfg(state, 1), collections_path=collections_path(root), ssh_password=password,
        ssh_key=ssh_key, become_password=password if any(h.ssh.user != "root" for h in spec.cluster.hosts) else None,
        limit=host, forks=1, verbosity=verbosity)


def install_pulled(root: Path, pulled: Path, *, name: str | None = None, force: bool = False) -> AppliedState:
    """Put the state copied into *pulled* in place for its cluster (each file atomically, mode 0600; the
    state.json last), after checking it. An existing, different state is replaced only with *force*."""
    state_file = pulled / STATE_FILE
    if not state_file.is_file() or not (pulled / APPLIED_CLUSTERFILE).is_file():
        raise SealerError(f"the host's state directory has no {STATE_FILE} and {APPLIED_CLUSTERFILE}")
    pulled_state = read_applied(state_file)
    if name and pulled_state.name != name:
        raise InputError(f"the host keeps cluster {pulled_state.name}, not {name}")
    target = applied_dir(root, pulled_state.name)
    here = target / STATE_FILE
    if here.is_file() and not force:
        local = read_applied(here)
        if json.dumps(local.to_json(), sort_keys=True) != json.dumps(pulled_state.to_json(), sort_keys=True):
            raise InputError(f"cluster {local.name} already has a state here (applied {local.applied_at} by "
                             f"{local.applied_by}; the host's: {pulled_state.applied_at} by "
                             f"{pulled_state.applied_by}): --force replaces it")
    cluster_dir = ClusterState(root, pulled_state.name).dir
    files = sorted(p for p in pulled.rglob("*") if p.is_file())
    for path in files:
        rel = path.relative_to(pulled)
        if rel.parts[0] == PKI_DIR and len(rel.parts) == 2:
            dest = cluster_dir / rel
        elif str(rel) == ADMIN_CONF:
            dest = cluster_dir / ADMIN_CONF
        elif str(rel) == APPLIED_CLUSTERFILE:
            dest = target / APPLIED_CLUSTERFILE
        else:
            continue  # state.json last; anything else is not ours
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write_bytes(dest, path.read_bytes(), mode=0o600)
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(here, state_file.read_bytes(), mode=0o644)
    return pulled_state
