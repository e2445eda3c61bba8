"""``sealer_runner check`` and ``sealer_runner exec``: read-only checks of a cluster's hosts, and a command on
them, with the run's inventory and secrets (sealer_runner/run/remote.py)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ..clusterfile import load_clusterfile, read_clusterfile
from ..clusterfile.models import ClusterSpec
from ..errors import InputError, SealerError
from ..run.checks import CheckReport
from ..run.remote import HostOutput, check_request, check_rules, exec_request, run_check, run_exec, saved_clusterfile
from .context import AppContext
from .run_cmd import _key

STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def _spec(app: AppContext, clusterfile: Path | None) -> ClusterSpec:
    path = clusterfile or saved_clusterfile(app.root)
    spec = load_clusterfile(read_clusterfile(path, str(path)), str(path))
    for warning in spec.warnings:
        app.warn(warning)
    return spec


CLUSTERFILE_OPTION = click.option(
    "-f", "--clusterfile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The cluster's Clusterfile [default: the applied one (secrets removed) of the one cluster "
         "`sealer_runner clusters` lists; password-based SSH needs -f].")


@click.command()
@click.option("--pre", "phase", flag_value="pre", help="Before a run: can these hosts take the cluster?")
@click.option("--post", "phase", flag_value="post", help="After a run: is the cluster healthy?")
@CLUSTERFILE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_obj
def check(app: AppContext, phase: str | None, clusterfile: Path | None, as_json: bool) -> None:
    """Check a cluster's hosts, read-only: a table of findings (check, host, ok/warn/fail, detail).
    Exit status 1 when a check fails; warnings do not fail.

    \b
    --pre:  reachable over SSH; every command the run needs (named with its Debian
            package); OS/arch a platform of the image; host names unique DNS names;
            clocks (fail over 5 s off, warn over 1 s); kubeadm's ports free (6443,
            2379, 2380, 10250, 10257, 10259 on masters, 10250 on nodes) and the
            registry's on its hosts; swap (warn: the run turns it off); kernel
            modules (overlay, br_netfilter absent: fail; IPVS ones: warn);
            masters 2 CPUs and 1700 MiB.
    --post: every host a Ready node, control-plane pods Running (kubectl on
            master0 with /etc/kubernetes/admin.conf), the registry's /v2/
            answering over HTTPS from every host.

    \b
    Examples:
      sealer_runner check --pre -f Clusterfile
      sealer_runner check --post -f Clusterfile --json | jq '.checks[] | select(.status != "ok")'
    """
    if phase is None:
        raise InputError("check: say --pre (before a run) or --post (after it)")
    spec = _spec(app, clusterfile)
    request = check_request(spec, app.store, app.root, phase=phase, ssh_key=_key(spec), registries=app.registries,
                            verbosity=1 if app.debug else 0)
    app.info(f"Checking {len(spec.cluster.hosts)} host(s) of cluster {spec.cluster.name} ({phase})")
    report = run_check(request, check_rules(spec.cluster, request.extravars))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        _table(app, report)
    if not report.ok:
        raise SealerError(f"{len(report.failed)} check(s) failed")


def _table(app: AppContext, report: CheckReport) -> None:
    table = Table(box=None, pad_edge=False)
    for column in ("CHECK", "HOST", "STATUS", "DETAIL"):
        table.add_column(column, no_wrap=column != "DETAIL")
    for f in report.findings:
        table.add_row(escape(f.check), escape(f.host), f"[{STYLE[f.status]}]{f.status}[/]", escape(f.detail))
    app.out.print(table)
    app.info(f"{len(report.findings)} check(s): {len(report.failed)} failed, {len(report.warnings)} warning(s)")


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("--role", help="Only the hosts of this role: master, node, or any role the Clusterfile names.")
@CLUSTERFILE_OPTION
@click.argument("command", nargs=-1, required=True)
@click.pass_obj
def exec_(app: AppContext, role: str | None, clusterfile: Path | None, command: tuple[str, ...]) -> None:
    """Run a shell COMMAND on the cluster's hosts (as root: sudo for a non-root SSH user, as `run`),
    and print each host's output under a header with its exit status. Exit status 1 when the command
    failed, or could not run, on any host.

    COMMAND is one shell command line; its words are joined with spaces, and everything after its first
    word is its own (options too). Quote what the remote shell must see (pipes, globs, $VARS).

    \b
    Examples:
      sealer_runner exec -f Clusterfile uptime
      sealer_runner exec -f Clusterfile --role master systemctl is-active kubelet
      sealer_runner exec -f Clusterfile --role node 'df -h / | tail -n 1'
    """
    spec = _spec(app, clusterfile)
    request = exec_request(spec, app.root, command=" ".join(command), role=role, ssh_key=_key(spec),
                           verbosity=1 if app.debug else 0)
    outputs = run_exec(request, spec.cluster)
    for out in outputs:
        _show(app, out)
    failed = [o.host for o in outputs if not o.ok]
    if failed:
        raise SealerError(f"the command failed on {len(failed)} of {len(outputs)} host(s): {', '.join(failed)}")


def _show(app: AppContext, out: HostOutput) -> None:
    status = f"rc {out.rc}" if out.rc is not None else "did not run"
    style = "green" if out.ok else "red"
    app.out.print(f"[bold]==> {escape(out.host)}[/] ({escape(','.join(out.roles))}) [{style}]{status}[/]")
    if out.stdout:
        app.out.print(out.stdout.rstrip("\n"), markup=False)
    if out.stderr:
        app.out.print("stderr:", style="dim")
        app.out.print(out.stderr.rstrip("\n"), markup=False)
    if out.error:
        app.out.print(out.error, markup=False, style="red")


COMMANDS = [check, exec_]
