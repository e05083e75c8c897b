"""Progress bars for long work; silent when quiet or when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Bar:
    """A bar over a fraction of work done (0..1) with a free-text status."""

    def __init__(self, progress: Progress | None, description: str) -> None:
        self._progress = progress
        self.shown = progress is not None  # False when quiet or not on a terminal: log lines instead
        self._task = progress.add_task(description, total=1000, status="") if progress else None

    def update(self, fraction: float, status: str = "") -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=min(1000, 1000 * fraction), status=status)


@contextmanager
def progress_bar(description: str, *, quiet: bool) -> Iterator[Bar]:
    console = Console(stderr=True)
    if quiet or not sys.stderr.isatty():
        yield Bar(None, description)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield Bar(progress, description)
