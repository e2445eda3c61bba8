"""``save`` and ``load``: image archives for air-gapped sites."""

from __future__ import annotations

import time
from pathlib import Path

import click

from ..image import archive
from .context import AppContext
from ..image.inspect import image_size
from .format import human_size
from .progress import byte_progress


@click.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Archive file to write (written atomically: a failed save leaves nothing behind).")
@click.option("--format", "fmt", type=click.Choice(archive.FORMATS), default="oci-archive", show_default=True,
              help="oci-archive: OCI layout + Docker manifest.json (read by skopeo, Docker>=25, sealer_runner); "
                   "docker-archive: manifest.json + blobs, one platform per image.")
@click.argument("images", metavar="IMAGE...", nargs=-1, required=True)
@click.pass_obj
def save(app: AppContext, output: Path, fmt: str, images: tuple[str, ...]) -> None:
    """Save images to a tar archive, with every layer they need."""
    tagged = [app.store.lookup(name) for name in images]
    started = time.monotonic()
    total = sum(image_size(app.store, image) for image in tagged)
    with byte_progress(app, "saving", total) as advance:
        size = archive.save(app.store, tagged, output, fmt, progress=advance)
    app.info(f"Saved {len(tagged)} image(s) to {output}: {human_size(size)} in {time.monotonic() - started:.1f}s")


@click.command()
@click.option("-i", "--input", "input_", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Archive written by save (or by docker save / skopeo copy oci-archive:).")
@click.pass_obj
def load(app: AppContext, input_: Path) -> None:
    """Load images from a tar archive, verifying every digest first.

    Nothing is stored unless the whole archive verifies: a damaged or
    tampered archive is refused and the store is left as it was.
    """
    started = time.monotonic()
    with byte_progress(app, "verifying", input_.stat().st_size if input_.is_file() else None) as advance:
        loaded = archive.load(app.store, input_, progress=advance)
    for image in loaded:
        click.echo(f"Loaded image: {image.reference.familiar()}")
    app.info(f"Loaded {len(loaded)} image(s) in {time.monotonic() - started:.1f}s")


COMMANDS = [save, load]
