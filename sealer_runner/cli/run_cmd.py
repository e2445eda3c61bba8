"""``sealer_runner run``: a cluster image onto hosts, through ansible-runner."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import click
import yaml
from rich.markup import escape

from ..clusterfile import load_clusterfile, load_yaml_documents, read_clusterfile
from ..errors import InputError, SealerError
from ..run.cluster import build_request
from ..run.external import push_for_cluster
from ..run.infra import with_machines
from ..run.runner import run as run_playbook
from ..run.state import applied_dir, masters_state, platforms_from_event, write_applied
from ..util.secret import Secret
from .context import AppContext
from .format import human_size
from .options import parse_key_values
from .progress import byte_progress
from .registry_cmds import ProgressReporter
from .run_display import RunDisplay


def _flags_cluster(image: str | None, masters: str | None, nodes: str | None, user: str | None,
                   passwd: str | None, pk: str | None, port: int | None, env: dict[str, str],
                   name: str | None, base: dict[str, Any] | None) -> dict[str, Any]:
    doc = base or {"apiVersion": "sealer.io/v2", "kind": "Cluster", "metadata": {"name": name or "default"},
                   "spec": {}}
    spec = doc.setdefault("spec", {})
    if name:
        doc.setdefault("metadata", {})["name"] = name
    if image:
        spec["image"] = image
    if masters or nodes:
        spec["hosts"] = [h for h in ({"ips": masters.split(","), "roles": ["master"]} if masters else None,
                                     {"ips": nodes.split(","), "roles": ["node"]} if nodes else None) if h]
    ssh = spec.setdefault("ssh", {})
    for key, value in (("user", user), ("passwd", passwd), ("pk", pk), ("port", port)):
        if value is not None:
            ssh[key] = value
    if env:
        spec["env"] = [*(spec.get("env") or []), *(f"{k}={v}" for k, v in env.items())]
    return doc


@click.command()
@click.argument("image", required=False)
@click.option("-f", "--clusterfile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Clusterfile describing the cluster; flags override it.")
@click.option("-m", "--masters", help="Master IPs: comma-separated, ranges allowed (10.0.0.2-10.0.0.4).")
@click.option("-n", "--nodes", help="Node IPs: comma-separated, ranges allowed.")
@click.option("-u", "--user", help="SSH user [default: root].")
@click.option("-p", "--passwd", help="SSH password (prefer keys: a flag shows up in `ps`).")
@click.option("--pk", help="SSH private key file [default: ~/.ssh/id_rsa].")
@click.option("--port", type=int, help="SSH port [default: 22].")
@click.option("-e", "--env", "env", multiple=True, metavar="KEY=VALUE", help="Cluster env; repeatable.")
@click.option("--name", help="Cluster name [default: from the Clusterfile, else 'default'].")
@click.option("--tags", help="Run only these phases (comma-separated Ansible tags), e.g. rootfs.")
@click.option("--skip-checks", is_flag=True,
              help="Do not run the pre checks (`sealer_runner check --pre`) before the run.")
@click.option("--limit", metavar="PATTERN",
              help="Only these hosts (Ansible's --limit: IPs, groups master/node/registry, globs, '!' to leave out).")
@click.option("--extra-vars", "extra_vars", multiple=True, metavar="KEY=VALUE|@FILE|JSON",
              help="Ansible extra-vars over the generated ones (the role variables documented in the collection); "
                   "repeatable. Not the cluster env: that is -e.")
@click.option("-v", "--verbose", "verbose", count=True, help="Ansible's verbosity (-v ... -vvvv), passed to the playbook.")
@click.option("--dry-run", is_flag=True,
              help="Touch no host: print the ordered plan (phase, hosts, roles) and render every file the run would "
                   "write on each host (containerd, registry, kubelet, lvscare, /etc/hosts, kernel drop-ins, "
                   "kubeadm config) into --output-dir/<host>/<path>, with the inventory and extra-vars.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where --dry-run writes: a new or empty directory, or an earlier dry run's (replaced) "
                   "[default: <root>/clusters/<name>/dry-run].")
@click.pass_obj
def run(app: AppContext, image: str | None, clusterfile: Path | None, masters: str | None, nodes: str | None,
        user: str | None, passwd: str | None, pk: str | None, port: int | None, env: tuple[str, ...],
        name: str | None, tags: str | None, skip_checks: bool, limit: str | None, extra_vars: tuple[str, ...],
        verbose: int, dry_run: bool, output_dir: Path | None) -> None:
    """Run a cluster image onto hosts: deliver it, and everything it needs, with no outside access.

    \b
    Examples:
      sealer_runner run my-cluster:v1 -m 10.0.0.2 -n 10.0.0.3,10.0.0.4 --pk ~/.ssh/id_ed25519
      sealer_runner run -f Clusterfile
    A re-run is safe: every phase is idempotent, and what is done is not done again.
    The pre checks of `sealer_runner check --pre` run first (ports, clocks, swap, modules, CPU and
    memory, commands each phase needs, architecture); a failed one stops the run before any host is
    changed (--skip-checks to go on anyway).
    """
    flags = any((image, masters, nodes, user, passwd, pk, port, env, name))
    filename = str(clusterfile) if clusterfile else "flags"
    if clusterfile and not flags:
        text = read_clusterfile(clusterfile, filename)
        spec = load_clusterfile(text, filename)
    else:
        docs = _documents(clusterfile) if clusterfile else []
        cluster_doc = next((d for d in docs if isinstance(d, dict) and d.get("kind") == "Cluster"), None)
        merged = _flags_cluster(image, masters, nodes, user, passwd, pk, port, parse_key_values(env, "-e"), name,
                                cluster_doc)
        others = [d for d in docs if d is not cluster_doc]
        text = yaml.safe_dump_all([merged, *others], sort_keys=False)
        spec = load_clusterfile(text, filename)
    for warning in spec.warnings:
        app.err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    tag_list = tuple(filter(None, (tags or "").split(",")))
    spec = with_machines(spec, app.root)  # provider AWS / ALI_CLOUD: the machines `infra apply` recorded
    request = build_request(spec, app.store, app.root, ssh_key=_key(spec), registries=app.registries, tags=tag_list,
                            verbosity=max(verbose, 1 if app.debug else 0))
    if limit:
        request = replace(request, limit=limit)
    request.extravars.update(parse_extra_vars(extra_vars))
    for warning in request.warnings:
        app.err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if dry_run:
        _dry_run(app, request, output_dir or app.root / "clusters" / spec.cluster.name / "dry-run")
        return
    started = time.monotonic()
    if not skip_checks:
        _pre_checks(app, spec)
    if spec.cluster.registry.external is not None and (not tag_list or "registry" in tag_list):
        _push_to_external(app, spec)
    app.info(f"Running {spec.cluster.image} on {len(spec.cluster.hosts)} host(s), cluster {spec.cluster.name}")
    apply_run(app, request, spec, text, started, tags=tag_list)


def apply_run(app: AppContext, request, spec, text: str, started: float, *, tags: tuple[str, ...] = (),
              verb: str = "run", platforms: dict[str, str] | None = None) -> None:
    """Run *request*'s playbook with the live display; on success keep the applied state (*text* is the
    Clusterfile as applied, *platforms* the platforms already known per host), else raise naming failures."""
    from ..run import progress

    platforms = dict(platforms or {})
    now = datetime.now(timezone.utc)
    request.extravars["sealer_state"] = masters_state(app.root, spec, text, request.extravars, now=now, tags=tags,
                                                      host_platforms=platforms)
    tracker = progress.PlayTracker()
    with RunDisplay(app) as display:
        def on_event(event: dict[str, Any]) -> None:
            platforms_from_event(event, platforms)
            tracker(event)
            display(event)

        result = run_playbook(request, on_event)
    display.summary(result)
    if not result.ok:
        unfinished(app, spec.cluster.name, verb, result, tracker, [h.ip for h in spec.cluster.hosts],
                   image=spec.cluster.image)
    write_applied(app.root, spec, text, request.extravars, host_platforms=platforms, tags=tags, now=now)
    progress.clear(app.root, spec.cluster.name)
    app.info(f"Done in {time.monotonic() - started:.1f}s: {result.changed} change(s). Artifacts: {result.artifacts}")
    app.info(f"Applied state: {applied_dir(app.root, spec.cluster.name)} (`sealer_runner clusters`)")


def unfinished(app: AppContext, cluster: str, verb: str, result, tracker, hosts: list[str], *, image: str = ""):
    """A verb that failed or was interrupted: its per-host progress recorded (run/progress.py), then the error
    (exit 130 when interrupted). The applied state is left as it was."""
    from ..errors import Interrupted
    from ..run import progress

    path = progress.record(app.root, cluster, verb, result, tracker, hosts, image=image)
    where = (f"per host, in {path} (`sealer_runner clusters` shows it); the applied state is unchanged; the same "
             f"command again continues (hosts already done are passed over)")
    lines = result.why()
    if result.status == "canceled":
        raise Interrupted(f"{verb} interrupted: ansible-playbook was stopped. What was done is recorded {where}\n"
                          f"artifacts: {result.artifacts}")
    raise SealerError(f"{verb} failed ({result.status}, rc {result.rc}):\n{lines}\nWhat was done is recorded "
                      f"{where}\nartifacts for post-mortem: {result.artifacts}")


def parse_extra_vars(values: Sequence[str]) -> dict[str, Any]:
    """``--extra-vars`` as ansible-playbook reads them: ``KEY=VALUE`` (a string), ``@FILE`` (YAML or JSON),
    or a JSON/YAML mapping; later ones win. The operator's own values: they override the generated ones, and
    reach Ansible as data like every generated value (``!unsafe``: a ``{{ }}`` in them is not templated)."""
    out: dict[str, Any] = {}
    for value in values:
        if value.startswith("@"):
            path = Path(value[1:])
            try:
                text = path.read_text()
            except OSError as exc:
                raise InputError(f"--extra-vars {value}: {exc.strerror}") from None
            data, where = _yaml_mapping(text, str(path)), str(path)
        elif value.lstrip().startswith("{"):
            data, where = _yaml_mapping(value, "--extra-vars"), "--extra-vars"
        else:
            key, eq, text = value.partition("=")
            if not eq or not key.strip():
                raise InputError(f"--extra-vars {value!r}: expected KEY=VALUE, @FILE or a JSON mapping")
            data, where = {key.strip(): text}, "--extra-vars"
        if not isinstance(data, dict):
            raise InputError(f"{where}: extra-vars must be a mapping, got {type(data).__name__}")
        out.update(data)
    return out


def _dry_run(app: AppContext, request, out_dir: Path) -> None:
    """Print the plan and render every file of the run; no SSH, no host touched."""
    from ..run.dryrun import render_plan, run_plan, write_files

    steps = run_plan(request)
    app.out.print("\n".join(render_plan(steps)), markup=False, highlight=False)
    started = time.monotonic()
    written = write_files(request, out_dir)
    app.info(f"Dry run: no host was touched. {len(written)} file(s) under {out_dir} "
             f"(rendered in {time.monotonic() - started:.1f}s):")
    for path in written:
        app.info(f"  {path.relative_to(out_dir)}")


def _yaml_mapping(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not YAML/JSON: {str(exc).splitlines()[0]}") from None


def _pre_checks(app: AppContext, spec, hosts: Sequence[str] | None = None) -> None:
    """`check --pre` before the run (on *hosts* only when given): warnings are shown, a failure stops the
    run before any change."""
    from ..run.remote import pre_check

    checked = time.monotonic()
    report = pre_check(spec, app.store, app.root, ssh_key=_key(spec), registries=app.registries, hosts=hosts)
    for finding in report.warnings:
        app.warn(f"{finding.host}: {finding.check}: {finding.detail}")
    if not report.ok:
        lines = "\n".join(f"  {f.host}: {f.check}: {f.detail}" for f in report.failed)
        raise SealerError(f"pre checks failed, no host was changed (see `sealer_runner check --pre`; "
                          f"--skip-checks to run anyway):\n{lines}")
    count = len(hosts) if hosts is not None else len(spec.cluster.hosts)
    app.info(f"Pre checks passed on {count} host(s) in {time.monotonic() - checked:.1f}s")


def _push_to_external(app: AppContext, spec) -> None:
    """The registry phase's front-end part: the cached images go to the external registry first."""
    host = spec.cluster.registry.external.host
    started = time.monotonic()
    with byte_progress(app, f"pushing cached images to {host}", None) as advance:
        reporter = ProgressReporter(advance)
        pushed = push_for_cluster(spec, app.store, app.registries, reporter)
    app.info(f"Pushed {len(pushed)} cached image(s) to {host}: {reporter.transferred} blob(s) sent "
             f"({human_size(reporter.moved)}), {reporter.skipped} already there, in {time.monotonic() - started:.1f}s")
    reduced = [p.source for p in pushed if p.reduced]
    if reduced:
        app.info(f"  {len(reduced)} of them hold only the cached platforms: pulls by the original index digest "
                 "will not resolve there")


def _documents(path: Path) -> list[Any]:
    """The Clusterfile's documents as plain data, read with the decoder's YAML rules and caps (no alias bombs)."""
    return load_yaml_documents(read_clusterfile(path), str(path))


def _key(spec) -> Secret | None:
    ssh = spec.cluster.ssh
    if ssh.passwd:
        return None
    if ssh.pk_passwd:
        raise InputError("passphrase-protected keys: add the key to your ssh-agent instead of giving pkPasswd")
    path = Path(ssh.pk or "~/.ssh/id_rsa").expanduser()
    try:
        return Secret(path.read_text())
    except OSError as exc:
        raise InputError(f"SSH key {path}: {exc.strerror}") from exc


COMMANDS = [run]
