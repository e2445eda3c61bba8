"""``login``, ``logout``, ``pull``, ``push``: sharing images through OCI registries."""

from __future__ import annotations

import sys
import threading
import time

import click

from ..errors import InputError
from ..image.digest import Digest
from ..image.reference import parse_reference
from ..image.types import Platform
from ..registry.auth import Credentials
from ..registry.transfer import TransferReporter, pull as pull_image, push as push_image
from ..util.secret import Secret
from .context import AppContext
from .format import human_size
from .progress import byte_progress


class ProgressReporter(TransferReporter):
    """Aggregated byte progress over all blobs of a transfer (thread-safe)."""

    def __init__(self, advance) -> None:
        self._advance = advance
        self._lock = threading.Lock()
        self.moved = 0
        self.skipped = 0
        self.transferred = 0

    def blob_progress(self, digest: Digest, n: int) -> None:
        with self._lock:
            self.moved += n
            self._advance(n)

    def blob_done(self, digest: Digest, skipped: bool) -> None:
        with self._lock:
            if skipped:
                self.skipped += 1
            else:
                self.transferred += 1


@click.command()
@click.argument("registry")
@click.option("-u", "--username", required=True, help="User name.")
@click.option("-p", "--password", help="Password (prefer --password-stdin: a flag shows up in `ps`).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_obj
def login(app: AppContext, registry: str, username: str, password: str | None, password_stdin: bool) -> None:
    """Log in to REGISTRY; credentials are checked, then kept (0600) in <root>/auth.json."""
    if password_stdin == (password is not None):
        raise InputError("give exactly one of --password and --password-stdin")
    secret = Secret(sys.stdin.readline().rstrip("\n") if password_stdin else password or "")
    credentials = Credentials(username, secret)
    name = parse_reference(f"{registry}/x").domain
    app.registries.login_client(name, credentials).ping()
    app.auth.put(name, credentials)
    click.echo(f"Login succeeded: {name}")


@click.command()
@click.argument("registry")
@click.pass_obj
def logout(app: AppContext, registry: str) -> None:
    """Forget the credentials kept for REGISTRY."""
    name = parse_reference(f"{registry}/x").domain
    if not app.auth.remove(name):
        raise InputError(f"not logged in to {name}")
    click.echo(f"Removed login credentials for {name}")


@click.command()
@click.argument("image")
@click.option("--platform", help="Pull only this platform (os/arch[/variant]); default: every platform.")
@click.pass_obj
def pull(app: AppContext, image: str, platform: str | None) -> None:
    """Pull IMAGE from its registry (through the configured mirrors) into the local store.

    Blobs already in the store are not fetched again; an interrupted pull resumes.
    """
    ref = parse_reference(image)
    started = time.monotonic()
    with byte_progress(app, f"pulling {ref.familiar()}", None) as advance:
        reporter = ProgressReporter(advance)
        desc = pull_image(app.store, ref, app.registries, platform=Platform.parse(platform) if platform else None,
                          reporter=reporter)
    app.info(f"Pulled {ref.familiar()}: {reporter.transferred} blob(s) fetched ({human_size(reporter.moved)}), "
             f"{reporter.skipped} already present, in {time.monotonic() - started:.1f}s")
    click.echo(str(desc.digest))


@click.command()
@click.argument("image")
@click.argument("destination", required=False)
@click.pass_obj
def push(app: AppContext, image: str, destination: str | None) -> None:
    """Push IMAGE (to DESTINATION, default: IMAGE's own name) to its registry.

    Blobs the registry already has are skipped; others are mounted from another
    repository of the same registry when possible, else uploaded.
    """
    tagged = app.store.lookup(image)
    dest = parse_reference(destination) if destination else tagged.reference
    started = time.monotonic()
    with byte_progress(app, f"pushing {dest.familiar()}", None) as advance:
        reporter = ProgressReporter(advance)
        digest = push_image(app.store, tagged, dest, app.registries, reporter)
    app.info(f"Pushed {dest.familiar()}: {reporter.transferred} blob(s) sent ({human_size(reporter.moved)}), "
             f"{reporter.skipped} already there, in {time.monotonic() - started:.1f}s")
    click.echo(str(digest))


COMMANDS = [login, logout, pull, push]
