"""``sealer_runner etcd backup`` and ``etcd restore``: snapshots of a Kubernetes cluster's etcd (kubeadm's
stacked etcd on the masters), through collection/playbooks/etcd_backup.yml and etcd_restore.yml. The
controller keeps the last snapshots in <root>/clusters/<name>/etcd/ (``upgrade`` and ``delete`` of a master
put theirs there too)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import click

from ..errors import InputError, SealerError
from ..run.etcd import SNAPSHOT_PATTERN, fetch_dir, snapshots
from ..run.runner import run as run_playbook
from ..run.runner import stop_if_interrupted
from .context import AppContext
from .day2_cmds import _confirm, cluster_options, cluster_source
from .run_display import RunDisplay


@click.group()
def etcd() -> None:
    """Snapshots of a Kubernetes cluster's etcd: take one, or restore every master from one."""


def _kubernetes_source(app: AppContext, clusterfile: Path | None, name: str | None):
    source = cluster_source(app, clusterfile, name)
    if source.state.runtime != "kubernetes":
        raise InputError(f"cluster {source.state.name} runs no Kubernetes (runtime {source.state.runtime}): it has "
                         "no etcd to back up or restore")
    return source


def _run(app: AppContext, source, *, playbook: str, extravars: dict, verbose: int, what: str):
    """*playbook* on the masters; no image needed (a controller that took the cluster over may not hold it)."""
    from ..run.remote import imageless_request
    from .run_cmd import _key

    spec = source.spec()
    masters = list(spec.cluster.masters)
    base = {"sealer_cluster_name": spec.cluster.name, "sealer_cluster_runtime": source.state.runtime,
            "sealer_data_root": spec.cluster.data_root}
    request = imageless_request(spec, app.root, playbook=playbook, private="etcd-run",
                                extravars={**base, **extravars}, hosts=masters, ssh_key=_key(spec),
                                verbosity=max(verbose, 1 if app.debug else 0))
    with RunDisplay(app) as display:
        result = run_playbook(request, display)
    display.summary(result)
    stop_if_interrupted(result, f"run `{what}` again (a restore continues where it stopped)")
    if not result.ok:
        lines = result.why()
        raise SealerError(f"{what} failed ({result.status}, rc {result.rc}):\n{lines}\n"
                          f"artifacts for post-mortem: {result.artifacts}")
    return result


@etcd.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also copy the snapshot to FILE (0600).")
@click.option("--keep", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many snapshots the master and this controller keep (the oldest go first).")
@cluster_options
@click.option("-v", "--verbose", "verbose", count=True, help="Ansible's verbosity (-v ... -vvvv).")
@click.pass_obj
def backup(app: AppContext, output: Path | None, keep: int, clusterfile: Path | None, name: str | None,
           verbose: int) -> None:
    """Take a snapshot of the cluster's etcd.

    \b
    From the first master whose etcd member answers healthy (etcdctl with kubeadm's healthcheck client
    certificate), checked with `snapshot status`, kept on that master in
    <dataRoot>/<name>/etcd-snapshots/ and on this controller in <root>/clusters/<name>/etcd/ (the last
    --keep in each; 0600: a snapshot holds the cluster's Secrets). `upgrade` and `delete` of a master
    take one first, the same way.

    \b
    Examples:
      sealer_runner etcd backup
      sealer_runner etcd backup -o /backups/prod-$(date +%F).db --name prod
    """
    started = time.monotonic()
    source = _kubernetes_source(app, clusterfile, name)
    where = fetch_dir(app.root, source.state.name)
    before = set(snapshots(where))
    app.info(f"Taking a snapshot of cluster {source.state.name}'s etcd")
    _run(app, source, playbook="etcd_backup.yml", what="etcd backup", verbose=verbose,
         extravars={"sealer_etcd_fetch_dir": str(where), "sealer_etcd_keep": keep, "sealer_etcd_reason": "manual"})
    new = [path for path in snapshots(where) if path not in before]
    if not new:
        raise SealerError(f"etcd backup ran, but no snapshot reached {where} (expected {SNAPSHOT_PATTERN})")
    snapshot = new[-1]
    if output is not None:  # 0600 from the first byte: a snapshot holds the cluster's Secrets
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as dest, open(snapshot, "rb") as src:
            shutil.copyfileobj(src, dest)
        output.chmod(0o600)  # an existing file kept its mode through O_CREAT
    app.info(f"Done in {time.monotonic() - started:.1f}s: {snapshot} ({snapshot.stat().st_size} bytes)"
             f"{f', copied to {output}' if output else ''}")


@etcd.command()
@click.argument("snapshot", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@cluster_options
@click.option("--force", is_flag=True, help="Do not ask for confirmation (scripts, CI, AWX).")
@click.option("-v", "--verbose", "verbose", count=True, help="Ansible's verbosity (-v ... -vvvv).")
@click.pass_obj
def restore(app: AppContext, snapshot: Path, clusterfile: Path | None, name: str | None, force: bool,
            verbose: int) -> None:
    """Restore every master's etcd from SNAPSHOT (a file `etcd backup` made).

    \b
    Every master must be reachable and have etcdctl. The control plane stops (its static pod manifests
    are set aside), each member is restored from the snapshot with the cluster's --initial-cluster (its
    old member is kept in the data directory, as member.before-restore-<time>), etcd starts again and
    each member's health is waited for, then the apiservers until /healthz answers, then the
    controller-manager and the scheduler. Whatever changed in the cluster since the snapshot is lost.
    Run again after a failure, it continues where it stopped.
    Asks first on a terminal; --force does not ask.

    \b
    Example:
      sealer_runner etcd restore /var/lib/sealer_runner/clusters/prod/etcd/etcd-20261203T101500Z-manual.db --force
    """
    started = time.monotonic()
    source = _kubernetes_source(app, clusterfile, name)
    if snapshot.stat().st_size == 0:
        raise InputError(f"{snapshot} is empty: not an etcd snapshot")
    _confirm(app, force, f"Restore cluster {source.state.name}'s etcd from {snapshot}? The apiservers stop until "
                         "it is done, and every change since the snapshot is lost.")
    app.info(f"Restoring cluster {source.state.name}'s etcd from {snapshot} on every master")
    _run(app, source, playbook="etcd_restore.yml", what="etcd restore", verbose=verbose,
         extravars={"sealer_etcd_snapshot": str(snapshot.resolve())})
    app.info(f"Done in {time.monotonic() - started:.1f}s: every master's etcd is {snapshot.name}'s, healthy; the "
             "apiservers answer")


COMMANDS = [etcd]
