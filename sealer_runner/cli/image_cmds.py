"""``images``, ``inspect``, ``tag``, ``rmi``: the local store."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from ..errors import SealerError
from ..image.inspect import describe, image_size
from ..image.reference import parse_reference
from .context import AppContext
from .format import human_size, time_ago


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def images(app: AppContext, as_json: bool) -> None:
    """List the images in the local store."""
    rows = []
    for image in sorted(app.store.list_images(), key=lambda i: str(i.reference)):
        try:  # one damaged image must not hide the others: it is reported and skipped
            platforms = [str(pm.platform) for pm in app.store.platform_manifests(image.descriptor)]
            size = image_size(app.store, image)
        except SealerError as exc:
            app.warn(f"skipping {image.reference.familiar()}: {exc}")
            continue
        rows.append({
            "repository": image.reference.repository, "tag": image.reference.tag or "",
            "id": image.descriptor.digest.hex[:12], "digest": str(image.descriptor.digest),
            "platforms": platforms, "size": size, "created": image.tagged_at,
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("REPOSITORY", "TAG", "IMAGE ID", "PLATFORMS", "SIZE", "CREATED"):
        table.add_column(column, no_wrap=True)
    for r in rows:
        table.add_row(r["repository"], r["tag"], r["id"], ",".join(r["platforms"]), human_size(r["size"]),
                      time_ago(r["created"]))
    app.out.print(table)


@click.command()
@click.argument("image")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON (every field, for scripts).")
@click.pass_obj
def inspect(app: AppContext, image: str, as_json: bool) -> None:
    """Show an image: layers, labels, env, launch commands, apps, platforms."""
    info = describe(app.store, app.store.lookup(image))
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    out = app.out
    out.print(f"[bold]Name:[/bold]      {escape(info['name'])}")
    out.print(f"[bold]ID:[/bold]        {info['id']}")
    out.print(f"[bold]Size:[/bold]      {human_size(info['size'])}")
    for p in info["platforms"]:
        _print_platform(out, p)


def _print_platform(out, p: dict) -> None:
    ext = p["extension"] or {}
    out.print(f"\n[bold]Platform {p['platform']}[/bold]  manifest {p['manifest']}")
    out.print(f"  Type:      {ext.get('type', '-')}")
    layers = Table(box=None, pad_edge=False, title=None)
    for column in ("DIGEST", "SIZE", "CREATED BY"):
        layers.add_column(column)
    for layer in p["layers"]:
        layers.add_row(layer["digest"][7:19], human_size(layer["size"]), escape(layer["instruction"]))
    out.print("  Layers:")
    out.print(Padding(layers, (0, 0, 0, 4), expand=False))
    _print_map(out, "Labels", p["labels"])
    _print_map(out, "Env", dict(e.partition("=")[::2] for e in p["env"]))
    launch = ext.get("launch") or {}
    _print_list(out, "Launch cmds", launch.get("cmds") or [])
    _print_list(out, "Launch apps", launch.get("app_names") or [])
    apps = ext.get("applications") or []
    _print_list(out, "Apps", [_app_line(a) for a in apps])
    images_ = p["containerImages"]
    _print_list(out, "Container images", [f"{i.get('image')} {i.get('digest', '')}" for i in images_])


def _app_line(app: dict) -> str:
    line = f"{app['name']} ({app.get('type', '?')}): files {', '.join(app.get('files') or [])}"
    if app.get("env"):
        line += "; env " + " ".join(f"{k}={v}" for k, v in sorted(app["env"].items()))
    if app.get("cmds"):
        line += "; cmds " + " && ".join(app["cmds"])
    return line


def _print_map(out, title: str, data: dict) -> None:
    out.print(f"  {title}:" + ("" if data else " -"))
    for key in sorted(data):
        out.print(f"    {escape(key)}={escape(str(data[key]))}")


def _print_list(out, title: str, items: list) -> None:
    out.print(f"  {title}:" + ("" if items else " -"))
    for item in items:
        out.print(f"    {escape(str(item))}")


@click.command()
@click.argument("source")
@click.argument("target")
@click.pass_obj
def tag(app: AppContext, source: str, target: str) -> None:
    """Give the image SOURCE another name TARGET."""
    image = app.store.lookup(source)
    ref = parse_reference(target)
    app.store.tag(ref, image.descriptor)
    app.info(f"Tagged {ref.familiar()}")


@click.command()
@click.argument("images_", metavar="IMAGE...", nargs=-1, required=True)
@click.pass_obj
def rmi(app: AppContext, images_: tuple[str, ...]) -> None:
    """Remove images by name or ID; blobs no other image uses are deleted."""
    for name in images_:
        image = app.store.lookup(name)
        app.store.untag(image.reference)
        click.echo(f"Untagged: {image.reference.familiar()}")
    count, freed = app.store.collect_garbage()
    app.info(f"Deleted {count} blob(s), {human_size(freed)} freed")


COMMANDS = [images, inspect, tag, rmi]
