"""Day-2 verbs on a cluster this controller applied: ``join`` (alias ``scale-up``) and ``delete`` (alias
``scale-down``). Each picks its cluster with ``--name`` or ``-f``, else the only one the store knows; the
library parts are in sealer_runner/run/membership.py (which hosts) and collection/playbooks/*.yml."""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import click
import yaml

from ..clusterfile import load_clusterfile, load_yaml_documents, read_clusterfile
from ..clusterfile.models import ClusterSpec
from ..errors import InputError, SealerError
from ..run.cluster import ClusterState, build_request
from ..run import progress
from ..run.membership import check_delete, check_join, cluster_doc, parse_ips, with_hosts, without_hosts
from ..run.runner import run as run_playbook
from ..run.state import STATE_FILE, AppliedState, applied_dir, known_clusters, read_applied
from .context import AppContext
from .run_cmd import _key, _pre_checks, apply_run, unfinished
from .run_display import RunDisplay


@dataclass(frozen=True)
class Source:
    """The cluster a day-2 verb works on: its Clusterfile text (with secrets when given by -f), where it came
    from, and its applied state."""

    text: str
    where: str
    state: AppliedState

    def spec(self) -> ClusterSpec:
        return load_clusterfile(self.text, self.where)


def _request(app: AppContext, spec: ClusterSpec, verbose: int):
    """The run's request for *spec*, as every day-2 verb builds it (its SSH key, the registries, -v; the
    controller's directory for the etcd snapshots upgrade and delete take first)."""
    from ..run.etcd import fetch_dir

    request = build_request(spec, app.store, app.root, ssh_key=_key(spec), registries=app.registries,
                            verbosity=max(verbose, 1 if app.debug else 0))
    request.extravars["sealer_etcd_fetch_dir"] = str(fetch_dir(app.root, spec.cluster.name))
    return request


def cluster_source(app: AppContext, clusterfile: Path | None, name: str | None) -> Source:
    """``-f`` (whose cluster must have been applied from here, with the same name as ``--name``), else the
    applied Clusterfile of ``--name``, else of the only applied cluster."""
    if clusterfile is not None:
        text = read_clusterfile(clusterfile, str(clusterfile))
        spec = load_clusterfile(text, str(clusterfile))
        if name and name != spec.cluster.name:
            raise InputError(f"{clusterfile} is cluster {spec.cluster.name}, not {name}: nothing was changed")
        path = applied_dir(app.root, spec.cluster.name) / STATE_FILE
        if not path.is_file():
            raise InputError(f"cluster {spec.cluster.name} was never applied from this controller (no {path}): "
                             "`sealer_runner run` it first")
        return Source(text, str(clusterfile), read_applied(path))
    applied = [c for c in known_clusters(app.root) if c.state is not None and c.clusterfile is not None]
    if name:
        applied = [c for c in applied if c.name == name]
        if not applied:
            raise InputError(f"no applied cluster named {name} in {app.root / 'clusters'}")
    elif len(applied) != 1:
        names = ", ".join(c.name for c in applied) or f"none in {app.root / 'clusters'}"
        raise InputError(f"say which cluster with --name or -f (applied clusters: {names})")
    chosen = applied[0]
    assert chosen.state is not None and chosen.clusterfile is not None
    if chosen.state.ssh_password:
        raise InputError(f"cluster {chosen.name} uses SSH passwords, which its saved Clusterfile does not keep: "
                         "give the Clusterfile with -f")
    return Source(read_clusterfile(chosen.clusterfile, str(chosen.clusterfile)), str(chosen.clusterfile),
                  chosen.state)


CLUSTER_OPTIONS = [
    click.option("-f", "--clusterfile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 help="The cluster's Clusterfile [default: the applied one; SSH passwords need -f]."),
    click.option("--name", help="The cluster's name [default: the only cluster applied from here]."),
]


def cluster_options(command):
    for option in reversed(CLUSTER_OPTIONS):
        command = option(command)
    return command


@click.command()
@click.option("-m", "--masters", help="New master IPs: comma-separated, ranges allowed (10.0.0.5-10.0.0.6).")
@click.option("-n", "--nodes", help="New node IPs: comma-separated, ranges allowed.")
@cluster_options
@click.option("--skip-checks", is_flag=True, help="Do not run the pre checks on the new hosts first.")
@click.option("-v", "--verbose", "verbose", count=True, help="Ansible's verbosity (-v ... -vvvv).")
@click.pass_obj
def join(app: AppContext, masters: str | None, nodes: str | None, clusterfile: Path | None, name: str | None,
         skip_checks: bool, verbose: int) -> None:
    """Add hosts to a running cluster (alias: scale-up).

    \b
    Only the new hosts get the image, the Configs, the plugins, the container runtime and (Kubernetes)
    kubeadm join: masters one at a time through master0, nodes in parallel through the VIP. The hosts
    already in the cluster get only what changes for them: /etc/hosts lists the new hosts, nodes' lvscare
    gets a new master, master0 issues the join token. The applied state then lists the new hosts (the
    Clusterfile given with -f is not edited).

    \b
    Examples:
      sealer_runner join -n 10.0.0.7,10.0.0.8
      sealer_runner join -m 10.0.0.5 -f Clusterfile
    """
    started = time.monotonic()
    new_masters, new_nodes = parse_ips(masters, "-m"), parse_ips(nodes, "-n")
    source = cluster_source(app, clusterfile, name)
    check_join(source.spec(), new_masters, new_nodes)
    text = yaml.safe_dump_all(with_hosts(load_yaml_documents(source.text, source.where), new_masters, new_nodes,
                                         source.where), sort_keys=False)
    deliver_to(app, text, source, [*new_masters, *new_nodes], skip_checks=skip_checks, verbose=verbose,
               started=started)


def deliver_to(app: AppContext, text: str, source: Source, new: list[str], *, skip_checks: bool, verbose: int,
               started: float) -> None:
    """The cluster of Clusterfile *text* (which lists *new*): the delivery phases on the *new* hosts only, the
    membership changes on the others; the applied state becomes *text*."""
    spec = load_clusterfile(text, source.where)
    for warning in spec.warnings:
        app.warn(warning)
    if not skip_checks:
        _pre_checks(app, spec, hosts=new)
    request = _request(app, spec, verbose)
    request.extravars["sealer_only_hosts"] = list(new)
    for warning in request.warnings:
        app.warn(warning)
    app.info(f"Joining {', '.join(new)} to cluster {spec.cluster.name} ({len(spec.cluster.hosts) - len(new)} "
             "host(s) already in it get only the membership changes)")
    apply_run(app, request, spec, text, started, verb="join",
              platforms=source.state.platforms)


@click.command()
@click.option("-m", "--masters", help="Master IPs to remove: comma-separated, ranges allowed.")
@click.option("-n", "--nodes", help="Node IPs to remove: comma-separated, ranges allowed.")
@click.option("-a", "--all", "everything", is_flag=True, help="Remove the whole cluster from every host.")
@cluster_options
@click.option("--prune", is_flag=True,
              help="Also remove the image's rootfs and layers, and containerd's data, from the hosts.")
@click.option("--no-etcd-snapshot", "etcd_snapshot", flag_value=False, default=True,
              help="Kubernetes: do not take an etcd snapshot before a master leaves.")
@click.option("--force", is_flag=True, help="Do not ask for confirmation (scripts, CI, AWX).")
@click.option("-v", "--verbose", "verbose", count=True, help="Ansible's verbosity (-v ... -vvvv).")
@click.pass_obj
def delete(app: AppContext, masters: str | None, nodes: str | None, everything: bool, clusterfile: Path | None,
           name: str | None, prune: bool, etcd_snapshot: bool, force: bool, verbose: int) -> None:
    """Remove hosts from a cluster, or the whole cluster with -a (alias: scale-down).

    \b
    On each host that leaves: (Kubernetes) drained and deleted from the cluster by kubectl on master0,
    then `kubeadm reset`; then everything sealer_runner installed is removed: its systemd units
    (kubelet, lvscare, the registry, containerd when it installed it), their files, the binaries it
    copied from the image, its /etc/hosts entries, the cluster CA in the trust store, its sysctl and
    kernel-module drop-ins; with --prune also the rootfs, the layers and containerd's data. A host that
    cannot be reached is removed from Kubernetes and from the state, with a warning. The hosts that stay
    get the membership changes (/etc/hosts, lvscare's masters). master0 leaves only with -a.
    Before a master leaves, an etcd snapshot is taken on a master that stays (--no-etcd-snapshot
    skips it); with -a, the controller's snapshots are moved to <root>/etcd-archive/.
    Asks first on a terminal; --force does not ask.

    \b
    Examples:
      sealer_runner delete -n 10.0.0.8
      sealer_runner delete -a --prune --force
    """
    started = time.monotonic()
    source = cluster_source(app, clusterfile, name)
    current = source.spec()
    if everything:
        if masters or nodes:
            raise InputError("delete: -a removes every host; do not also give -m/-n")
        leaving = [h.ip for h in current.cluster.hosts]
    else:
        leaving = [*parse_ips(masters, "-m"), *parse_ips(nodes, "-n")]
        check_delete(current, leaving)
    _confirm(app, force, f"Remove {'the whole cluster' if everything else ', '.join(leaving)} "
                         f"({current.cluster.name}){' and prune the rootfs' if prune else ''}?")
    remaining = None if everything else yaml.safe_dump_all(
        without_hosts(load_yaml_documents(source.text, source.where), leaving, source.where), sort_keys=False)
    remove_hosts(app, source, leaving, remaining, prune=prune, verbose=verbose, started=started,
                 etcd_snapshot=etcd_snapshot)


def remove_hosts(app: AppContext, source: Source, leaving: list[str], remaining: str | None, *, prune: bool,
                 verbose: int, started: float, etcd_snapshot: bool = True) -> None:
    """*leaving* hosts of the cluster of *source* leave (sealer.cluster.delete); then the hosts of Clusterfile
    *remaining* get the membership changes and it becomes the applied state. *remaining* None: the whole
    cluster goes, and its state with it."""
    current = source.spec()
    cluster = current.cluster
    everything = remaining is None
    request = _request(app, current, verbose)
    state = ClusterState(app.root, cluster.name)
    request = replace(request, playbook="delete.yml", private_dir=state.dir / "delete", tags=(), skip_tags=(),
                      limit=None, extravars={**request.extravars, "sealer_delete_hosts": leaving,
                                             "sealer_delete_all": everything, "sealer_prune": prune,
                                             "sealer_etcd_auto_snapshot": etcd_snapshot})
    app.info(f"Removing {len(leaving)} host(s) from cluster {cluster.name}")
    tracker = progress.PlayTracker()
    with RunDisplay(app) as display:
        def on_event(event: dict) -> None:
            tracker(event)
            display(event)

        result = run_playbook(request, on_event)
    display.summary(result)
    unreachable = sorted(f.host for f in result.failures if f.unreachable and f.host in leaving)
    failed = [f for f in result.failures if not (f.unreachable and f.host in leaving)]
    if failed or result.status not in ("successful", "failed"):
        unfinished(app, cluster.name, "delete", replace(result, failures=tuple(failed)), tracker,
                   [h.ip for h in cluster.hosts], image=cluster.image)
    for host in unreachable:
        app.warn(f"{host} could not be reached: it was removed from the cluster's state"
                 f"{' and from Kubernetes' if source.state.runtime == 'kubernetes' else ''}, but its files stay")
    if remaining is None:
        from ..run.etcd import archive_snapshots

        kept = archive_snapshots(app.root, cluster.name)
        shutil.rmtree(state.dir, ignore_errors=True)
        app.info(f"Done in {time.monotonic() - started:.1f}s: cluster {cluster.name} removed from every host; "
                 "its state is gone from this controller"
                 + (f"; its etcd snapshots are kept in {kept}" if kept else ""))
        return
    spec = load_clusterfile(remaining, source.where)
    members = _request(app, spec, verbose)
    members.extravars["sealer_only_hosts"] = []  # no delivery: /etc/hosts and lvscare on the hosts that stay
    app.info(f"Updating the {len(spec.cluster.hosts)} host(s) that stay")
    apply_run(app, members, spec, remaining, started, verb="delete",
              platforms={ip: p for ip, p in source.state.platforms.items() if ip not in leaving})


@click.command()
@click.argument("image")
@cluster_options
@click.option("--max-unavailable", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many nodes (not masters: those go one at a time) are upgraded at once.")
@click.option("--no-etcd-snapshot", "etcd_snapshot", flag_value=False, default=True,
              help="Kubernetes: do not take an etcd snapshot before kubeadm touches master0.")
@click.option("--force", is_flag=True, help="Do not ask for confirmation (scripts, CI, AWX).")
@click.option("-v", "--verbose", "verbose", count=True, help="Ansible's verbosity (-v ... -vvvv).")
@click.pass_obj
def upgrade(app: AppContext, image: str, clusterfile: Path | None, name: str | None, max_unavailable: int,
            etcd_snapshot: bool, force: bool, verbose: int) -> None:
    """Upgrade a running cluster to IMAGE (in the local store).

    \b
    The new image is delivered as a run delivers it: only the layers the hosts lack travel. With
    Kubernetes, an etcd snapshot is taken (`etcd backup`; --no-etcd-snapshot skips it), then
    kubeadm's sequence follows: masters one at a time (master0 `kubeadm upgrade apply`,
    the others `kubeadm upgrade node`), then nodes --max-unavailable at a time; each host is drained,
    upgraded, its kubelet restarted on the new binary, Ready again and uncordoned. A host already at the
    version is passed over: an interrupted upgrade run again finishes the others. One minor version at
    a time, never down (refused before any host is touched). Then the new image's apps are launched.
    Asks first on a terminal; --force does not ask.

    \b
    Example:
      sealer_runner upgrade example.com/kubernetes:v1.31.0 --force
    """
    from ..kube.runtime import KUBERNETES, upgrade_problem

    started = time.monotonic()
    source = cluster_source(app, clusterfile, name)
    documents = load_yaml_documents(source.text, source.where)
    cluster_doc(documents, source.where).setdefault("spec", {})["image"] = image
    text = yaml.safe_dump_all(documents, sort_keys=False)
    spec = load_clusterfile(text, source.where)
    request = _request(app, spec, verbose)
    runtime = str(request.extravars.get("sealer_cluster_runtime"))
    if runtime != source.state.runtime:
        raise InputError(f"{image} runs {runtime}, cluster {spec.cluster.name} runs {source.state.runtime}: an "
                         "upgrade keeps the cluster runtime")
    target = str(request.extravars.get("sealer_kube_version") or "")
    if runtime == KUBERNETES:
        problem = upgrade_problem(source.state.kubernetes_version, target)
        if problem:
            raise InputError(f"upgrade to {image}: {problem}; nothing was changed")
    _confirm(app, force, f"Upgrade cluster {spec.cluster.name} from {source.state.image} to {image}"
                         f"{f' (Kubernetes {source.state.kubernetes_version} -> {target})' if target else ''}?")
    request = replace(request, playbook="upgrade.yml")
    request.extravars.update({"sealer_upgrade": True, "sealer_max_unavailable": max_unavailable,
                              "sealer_etcd_auto_snapshot": etcd_snapshot})
    app.info(f"Upgrading cluster {spec.cluster.name} to {image}")
    apply_run(app, request, spec, text, started, verb="upgrade",
              platforms=source.state.platforms)


@click.command("apply")
@click.option("-f", "--clusterfile", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The cluster as it should be.")
@click.option("--plan", "plan_only", is_flag=True,
              help="Print per host what would change and change nothing: exit 0 when nothing would, 3 when "
                   "changes are pending.")
@click.option("--json", "as_json", is_flag=True, help="With --plan: print the plan as JSON.")
@click.option("--no-probe", "probe", flag_value=False, default=True,
              help="Do not ask the hosts that stay whether they still hold the delivered rootfs (SSH, read-only).")
@click.option("--force", is_flag=True, help="Do not ask before hosts leave (scripts, CI, AWX).")
@click.option("--prune", is_flag=True, help="Hosts that leave also lose the rootfs, layers and containerd's data.")
@click.option("--skip-checks", is_flag=True, help="Do not run the pre checks on hosts that join.")
@click.option("--wait-ssh", type=click.FloatRange(min=0), default=300, show_default=True, metavar="SECONDS",
              help="Cloud machines: wait this long for their SSH port before running (0: do not wait).")
@click.option("-v", "--verbose", "verbose", count=True, help="Ansible's verbosity (-v ... -vvvv).")
@click.pass_context
def apply_cluster(ctx: click.Context, clusterfile: Path, plan_only: bool, as_json: bool, probe: bool, force: bool,
                  prune: bool, skip_checks: bool, wait_ssh: float, verbose: int) -> None:
    """Make a cluster what its Clusterfile says: compare it with the applied state and act.

    \b
    Hosts that are new join (only they get the delivery), hosts that are gone leave (asks first; --force),
    and when anything else changed (the image, Configs, plugins, env, registry, a host group's labels,
    taints or env) every host runs again, changing only what differs. A cluster never applied from here
    is run. With provider AWS or ALI_CLOUD its machines are created or reconciled first (`infra apply`).
    `--plan` changes nothing and exits 3 when changes are pending (0 when none): gate CI or AWX on it.

    \b
    Examples:
      sealer_runner apply -f Clusterfile --plan
      sealer_runner apply -f Clusterfile --plan --json | jq '.hosts[] | select(.action != "no change")'
      sealer_runner apply -f Clusterfile
    """

    from ..run.plan import plan_cluster
    from .run_cmd import run

    app: AppContext = ctx.obj
    started = time.monotonic()
    text = read_clusterfile(clusterfile, str(clusterfile))
    spec = load_clusterfile(text, str(clusterfile))
    if spec.cluster.provider and not plan_only:
        from ..clusterfile.models import CLOUD_PROVIDERS
        from ..run.infra import wait_for_ssh, with_machines
        from .infra_cmd import apply as infra_apply

        if spec.cluster.provider in CLOUD_PROVIDERS:
            ctx.invoke(infra_apply, clusterfile=clusterfile)
            if wait_ssh:
                app.info("Waiting for SSH on the machines")
                wait_for_ssh(with_machines(spec, app.root), wait_ssh)
    state_path = applied_dir(app.root, spec.cluster.name) / STATE_FILE
    if not state_path.is_file():
        if plan_only:
            _print_plan(app, {"cluster": spec.cluster.name, "pending": True, "never_applied": True,
                              "hosts": [{"ip": h.ip, "roles": list(h.roles), "action": "run", "reasons": []}
                                        for h in spec.cluster.hosts]} if as_json else None,
                        [f"cluster {spec.cluster.name} was never applied from here: every host would be run "
                         f"({len(spec.cluster.hosts)})"])
            raise click.exceptions.Exit(3)
        ctx.invoke(run, clusterfile=clusterfile, verbose=verbose, skip_checks=skip_checks)
        return
    source = Source(text, str(clusterfile), read_applied(state_path))
    applied_text = read_clusterfile(applied_dir(app.root, spec.cluster.name) / "Clusterfile", "applied Clusterfile")
    plan = plan_cluster(spec, text, source.state, applied_text, image_digest=_image_digest(app, spec))
    if probe:
        plan = _probe_hosts(app, spec, plan)
    unfinished = progress.read(app.root, spec.cluster.name)
    if unfinished:  # the hosts may not be what the applied state says: pending until the verb is run again
        app.warn(f"{progress.summary(unfinished)}: run `{unfinished.get('verb')}` again to finish it")
    if plan_only:
        data = {**plan.to_json(), "pending": plan.pending or bool(unfinished), "unfinished": unfinished} \
            if as_json else None
        _print_plan(app, data, plan.lines() or ["no host"])
        raise click.exceptions.Exit(3 if plan.pending or unfinished else 0)
    if not plan.pending and unfinished:
        app.info(f"The last {unfinished.get('verb')} did not finish: running every host again to finish it")
        ctx.invoke(run, clusterfile=clusterfile, verbose=verbose, skip_checks=skip_checks)
        return
    if not plan.pending:
        app.info(f"Nothing to change: cluster {spec.cluster.name} is as its Clusterfile says (hosts, image, "
                 "Configs, plugins). `sealer_runner run` checks every host for drift.")
        return
    for line in plan.lines():
        app.info(line)
    documents = load_yaml_documents(text, str(clusterfile))
    joining = [h.ip for h in plan.joining]
    leaving = [h.ip for h in plan.leaving]
    if leaving:
        _confirm(app, force, f"Remove {', '.join(leaving)} from cluster {spec.cluster.name}?")
        masters = [h.ip for h in plan.leaving if "master" in h.roles]
        nodes = [h.ip for h in plan.leaving if "master" not in h.roles]
        before = yaml.safe_dump_all(with_hosts(without_hosts(documents, joining), masters, nodes), sort_keys=False)
        after = yaml.safe_dump_all(without_hosts(documents, joining), sort_keys=False) if joining else text
        remove_hosts(app, Source(before, str(clusterfile), source.state), leaving, after, prune=prune,
                     verbose=verbose, started=started)
        source = Source(after, str(clusterfile), read_applied(state_path))
    if plan.rerun:
        app.info("Running every host again: " + "; ".join(plan.rerun))
        ctx.invoke(run, clusterfile=clusterfile, verbose=verbose, skip_checks=skip_checks)
    elif joining:
        deliver_to(app, text, source, joining, skip_checks=skip_checks, verbose=verbose, started=started)


def _probe_hosts(app: AppContext, spec: ClusterSpec, plan):
    """*plan* with what the hosts that stay say (run/plan.py with_probe): one read-only command each."""
    from ..run.plan import KEEP, RERUN, probe_command, with_probe
    from ..run.remote import exec_request, run_exec

    staying = [h.ip for h in plan.hosts if h.action in (KEEP, RERUN)]
    if not staying:
        return plan
    request = exec_request(spec, app.root, command=probe_command(spec.cluster.data_root, spec.cluster.name),
                           role=None, ssh_key=_key(spec))
    request = replace(request, limit=",".join(staying))
    return with_probe(plan, run_exec(request, spec.cluster))


def _print_plan(app: AppContext, data, lines: list[str]) -> None:
    import json

    if data is not None:
        click.echo(json.dumps(data, indent=2))
    else:
        for line in lines:
            app.out.print(line, markup=False, highlight=False)


def _image_digest(app: AppContext, spec: ClusterSpec) -> str:
    """The digest a run would record for the Clusterfile's image, from the local store ("" if not there)."""
    from ..run.cluster import host_manifest, image_vars

    try:
        image, chosen = host_manifest(app.store, spec.cluster.image)
        return str(image_vars(app.store, image, chosen).get("sealer_image_digest") or "")
    except SealerError:
        return ""


def _confirm(app: AppContext, force: bool, question: str) -> None:
    if force:
        return
    if not sys.stdin.isatty():
        raise InputError(f"{question} Confirm on a terminal, or pass --force: nothing was changed")
    if not click.confirm(question, default=False):
        raise click.Abort()


COMMANDS = [join, delete, upgrade, apply_cluster]
