"""``sealer_runner infra apply|plan|delete``: a Clusterfile's cloud machines, through the infra playbook."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from rich.markup import escape

from ..clusterfile import load_clusterfile, read_clusterfile
from ..errors import InputError
from ..run.infra import (
    InfraOutcome,
    build_infra_request,
    check_outcome,
    forget_record,
    run_infra,
    write_record,
)
from .context import AppContext

CLUSTERFILE = click.option("-f", "--clusterfile", required=True,
                           type=click.Path(dir_okay=False, exists=True, path_type=Path),
                           help="Clusterfile with provider AWS or ALI_CLOUD and host groups with counts.")


@click.group()
def infra() -> None:
    """Cloud machines for a Clusterfile (provider AWS or ALI_CLOUD).

    \b
    Examples:
      sealer_runner infra plan -f Clusterfile     what apply would create or release
      sealer_runner infra apply -f Clusterfile    create or reconcile the machines (scale by changing counts)
      sealer_runner infra delete -f Clusterfile   release everything tagged with the cluster's name
    Credentials and endpoints come from the environment: see docs/cloud.md.
    """


def _load(app: AppContext, clusterfile: Path):
    spec = load_clusterfile(read_clusterfile(clusterfile, str(clusterfile)), str(clusterfile))
    for warning in spec.warnings:
        app.err.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    return spec


def _run(app: AppContext, spec, *, state: str, plan: bool) -> InfraOutcome:
    request = build_infra_request(spec, app.root, state=state, plan=plan, verbosity=1 if app.debug else 0)
    outcome = InfraOutcome()
    result = run_infra(request, outcome)
    if not plan and state == "present" and outcome.failed:
        write_record(app.root, spec, outcome)  # what was made before the failure stays known
    check_outcome(result, outcome)
    return outcome


def _calls(app: AppContext, outcome: InfraOutcome, started: float) -> None:
    calls = outcome.api_calls
    if not calls:
        return
    detail = ", ".join(f"{k} {v}" for k, v in calls.items() if k not in ("total", "retries"))
    app.info(f"API calls: {calls.get('total', 0)} ({detail}); {calls.get('retries', 0)} retried; "
             f"{time.monotonic() - started:.1f}s")


@infra.command()
@CLUSTERFILE
@click.pass_obj
def apply(app: AppContext, clusterfile: Path) -> None:
    """Create the machines a Clusterfile asks for, or reconcile them (a re-run creates only what is missing)."""
    spec = _load(app, clusterfile)
    if spec.cluster.cloud is None or not spec.cluster.cloud.allow_from:
        app.warn("cloud.allowFrom is not set: SSH and 6443 are open to no address outside the cluster")
    started = time.monotonic()
    outcome = _run(app, spec, state="present", plan=False)
    path = write_record(app.root, spec, outcome)
    for line in outcome.plan:
        app.info(f"  {line}")
    app.out.print(f"{'ROLE':<10} {'INSTANCE':<24} {'PRIVATE IP':<16} PUBLIC IP", markup=False)
    for m in outcome.machines:
        app.out.print(f"{m['role']:<10} {m['instance_id']:<24} {m['private_ip']:<16} {m['public_ip'] or '-'}",
                      markup=False)
    _calls(app, outcome, started)
    app.info(f"Recorded in {path}")


@infra.command()
@CLUSTERFILE
@click.option("--delete", "deleting", is_flag=True, help="Plan the release instead.")
@click.pass_obj
def plan(app: AppContext, clusterfile: Path, deleting: bool) -> None:
    """Show what `infra apply` (or, with --delete, `infra delete`) would create or release; changes nothing."""
    spec = _load(app, clusterfile)
    started = time.monotonic()
    outcome = _run(app, spec, state="absent" if deleting else "present", plan=True)
    for line in outcome.plan or ["nothing to change"]:
        app.out.print(line, markup=False)
    _calls(app, outcome, started)


@infra.command()
@CLUSTERFILE
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def delete(app: AppContext, clusterfile: Path, force: bool) -> None:
    """Release every resource tagged with the cluster's name (and nothing else); asks first."""
    spec = _load(app, clusterfile)
    started = time.monotonic()
    if not force:
        if not sys.stdin.isatty():
            raise InputError("infra delete releases machines: confirm on a terminal, or pass --force")
        preview = _run(app, spec, state="absent", plan=True)
        if not preview.plan:
            app.info("Nothing tagged with this cluster's name.")
            forget_record(app.root, spec.cluster.name)
            return
        for line in preview.plan:
            app.out.print(f"  {line}", markup=False)
        if not click.confirm(f"Release these resources of cluster {spec.cluster.name}?", default=False):
            raise click.Abort()
    outcome = _run(app, spec, state="absent", plan=False)
    forget_record(app.root, spec.cluster.name)
    for line in outcome.plan or ["nothing was tagged with this cluster's name"]:
        app.info(f"  {line}")
    _calls(app, outcome, started)


COMMANDS = [infra]
