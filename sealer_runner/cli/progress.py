"""Byte progress bars on stderr for long work (build layers, save, load); silent with -q."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from .context import AppContext


@contextmanager
def byte_progress(app: AppContext, description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Yield a callback taking byte counts; shows a transient bar unless quiet or not a terminal."""
    if app.quiet or not app.err.is_terminal:
        yield lambda n: None
        return
    columns = (TextColumn("  {task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=app.err, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)
