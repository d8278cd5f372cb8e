"""A progress bar of rows done (streaming predict and training passes), on stderr."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


@contextmanager
def row_progress(label: str, total: Callable[[], int | None],
                 quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """Yield `advance(rows)`; the bar's total is asked again each time (it may become known
    only after the first chunk). `quiet` gives a callback that shows nothing."""
    if quiet:
        yield lambda rows: None
        return
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TextColumn("rows"), TimeElapsedColumn(),
                        console=Console(stderr=True), transient=True)
    task = progress.add_task(label, total=total())

    def advance(rows: int) -> None:
        progress.update(task, advance=rows, total=total())

    with progress:
        yield advance
