"""``sealer_runner clusters``: the clusters this controller knows, from their applied state
(sealer_runner/run/state.py)."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from ..run.state import KnownCluster, known_clusters
from .context import AppContext
from .format import time_ago

NEVER = "never applied"


def _row(cluster: KnownCluster, root) -> dict[str, Any]:
    from ..run import progress

    state = cluster.state
    unfinished = progress.read(root, cluster.name)
    if state is None:
        return {"name": cluster.name, "applied": False, "error": cluster.error or None, "unfinished": unfinished}
    return {"name": cluster.name, "applied": True, "unfinished": unfinished, "image": state.image, "image_digest": state.image_digest,
            "hosts": len(state.hosts), "masters": list(state.masters), "runtime": state.runtime,
            "kubernetes_version": state.kubernetes_version, "applied_at": state.applied_at,
            "applied_by": state.applied_by, "tags": list(state.tags),
            "clusterfile": str(cluster.clusterfile) if cluster.clusterfile else None}


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def clusters(app: AppContext, as_json: bool) -> None:
    """List the clusters this controller knows: image, hosts, runtime, last applied and by whom.

    \b
    A cluster's state is kept in <root>/clusters/<name>/applied/ after each successful `run`:
    its Clusterfile (secrets removed) and state.json. A cluster dir without it is "never applied".
    A verb that failed or was interrupted since is shown under the table, with what it did per
    host (<root>/clusters/<name>/progress.json; JSON: "unfinished").
    """
    from ..run import progress

    rows = [_row(c, app.root) for c in known_clusters(app.root)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        app.info(f"No clusters in {app.root / 'clusters'}")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "IMAGE", "HOSTS", "MASTERS", "RUNTIME", "APPLIED", "BY"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        if not r["applied"]:
            table.add_row(escape(r["name"]), f"({'unreadable state: ' + r['error'] if r['error'] else NEVER})",
                          "", "", "", "", "")
            continue
        runtime = r["runtime"] + (f" {r['kubernetes_version']}" if r["kubernetes_version"] else "")
        applied = time_ago(r["applied_at"]) + (f" (--tags {','.join(r['tags'])})" if r["tags"] else "")
        table.add_row(escape(r["name"]), escape(r["image"]), str(r["hosts"]), escape(",".join(r["masters"])),
                      escape(runtime), escape(applied), escape(r["applied_by"]))
    app.out.print(table)
    for r in rows:
        if r["unfinished"]:
            app.warn(f"{r['name']}: {progress.summary(r['unfinished'])} (the same command again continues)")


COMMANDS = [clusters]
