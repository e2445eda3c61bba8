"""``sealer_runner state pull``: take a cluster over from another controller, with the state its masters keep
(sealer_runner/run/takeover.py; collection/playbooks/state_pull.yml)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from ..clusterfile import load_clusterfile, read_clusterfile
from ..errors import SealerError
from ..run.runner import run as run_playbook
from ..run.runner import stop_if_interrupted
from ..run.takeover import install_pulled, pull_request
from .context import AppContext
from .run_cmd import _key


@click.group()
def state() -> None:
    """The cluster's state: kept on this controller (<root>/clusters/<name>/) and on every master."""


@state.command()
@click.option("--from", "host", required=True, metavar="IP", help="A master of the cluster.")
@click.option("-f", "--clusterfile", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A Clusterfile listing the host, for its SSH settings (user, key or password, port).")
@click.option("--name", default="", help="The cluster, when the host keeps the state of several.")
@click.option("-u", "--user", default="root", show_default=True, help="SSH user (without -f).")
@click.option("--pk", default="~/.ssh/id_rsa", show_default=True, help="SSH private key (without -f).")
@click.option("--port", type=int, default=22, show_default=True, help="SSH port (without -f).")
@click.option("--force", is_flag=True, help="Replace a different state this controller has for the cluster.")
@click.pass_obj
def pull(app: AppContext, host: str, clusterfile: Path | None, name: str, user: str, pk: str, port: int,
         force: bool) -> None:
    """Take a cluster over: copy its state from one of its masters to this controller.

    \b
    Every successful run, join or delete keeps the cluster's state on each master, in
    <dataRoot>/<name>/state/: the Clusterfile as applied (secrets removed), state.json, the cluster's
    PKI (the registry's CA: later runs keep the same certificates) and admin.conf. This copies them into
    <root>/clusters/<name>/, after which `clusters`, `apply --plan`, `join`, `delete`, `check` and `run`
    work from here. SSH as with -f's Clusterfile, else as the flags say.

    \b
    Examples:
      sealer_runner state pull --from 10.0.0.2
      sealer_runner state pull --from 10.0.0.2 -f Clusterfile --name prod
    """
    if clusterfile is not None:
        spec = load_clusterfile(read_clusterfile(clusterfile, str(clusterfile)), str(clusterfile))
    else:
        text = (f"apiVersion: sealer.io/v2\nkind: Cluster\nmetadata: {{name: {name or 'state-pull'}}}\n"
                f"spec:\n  image: unknown\n  ssh: {{user: {user!r}, pk: {pk!r}, port: {port}}}\n"
                f"  hosts:\n    - {{ips: [{host!r}], roles: [master]}}\n")
        spec = load_clusterfile(text, "flags")
    with tempfile.TemporaryDirectory(prefix="sealer-state-pull-") as tmp:
        dest = Path(tmp) / "state"
        request = pull_request(spec, app.root, host, dest, cluster=name, ssh_key=_key(spec),
                               verbosity=1 if app.debug else 0)
        app.info(f"Copying the cluster state kept on {host}")
        result = run_playbook(request)
        stop_if_interrupted(result, "nothing was copied to this controller")
        if not result.ok:
            lines = result.why()
            raise SealerError(f"state pull from {host} failed:\n{lines}")
        pulled = install_pulled(app.root, dest, name=name or None, force=force)
    app.info(f"Cluster {pulled.name}: {len(pulled.hosts)} host(s), image {pulled.image}, applied "
             f"{pulled.applied_at} by {pulled.applied_by}; its state is now in {app.root / 'clusters' / pulled.name}")


COMMANDS = [state]
