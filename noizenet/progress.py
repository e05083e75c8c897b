"""Progress bars for long work; silent when quiet or when stderr is not a terminal.
A listener (the composer page's job status) hears every update either way."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


Listener = Callable[[str, float], None]  # (description, fraction done 0..1)


class Bar:
    """A bar over a fraction of work done (0..1) with a free-text status."""

    def __init__(self, progress: Progress | None, description: str, listener: Listener | None = None) -> None:
        self._progress = progress
        self._description = description
        self._listener = listener
        self.shown = progress is not None  # False when quiet or not on a terminal: log lines instead
        self._task = progress.add_task(description, total=1000, status="") if progress else None

    def update(self, fraction: float, status: str = "") -> None:
        if self._listener is not None:
            self._listener(self._description, min(1.0, fraction))
        if self._progress is not None:
            self._progress.update(self._task, completed=min(1000, 1000 * fraction), status=status)


@contextmanager
def progress_bar(description: str, *, quiet: bool, listener: Listener | None = None) -> Iterator[Bar]:
    console = Console(stderr=True)
    if quiet or not sys.stderr.isatty():
        yield Bar(None, description, listener)
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
        yield Bar(progress, description, listener)
