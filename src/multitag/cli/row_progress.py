"""A progress bar of rows done (streaming predict and training passes), on stderr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from multitag.cli.progress import progress_bar
from multitag.training.callbacks import Callback


class RowProgress:
    """`advance(rows)` moves the bar; its total is asked again each time (it may become known
    only after the first chunk). `quiet` shows nothing. Use with `with`, or call `close()`."""

    def __init__(self, label: str, total: Callable[[], int | None], quiet: bool = False) -> None:
        self.total = total
        self._progress: Progress | None = None
        if not quiet:
            self._progress = progress_bar(
                Console(stderr=True), TextColumn("[bold]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TextColumn("rows"), TimeElapsedColumn())
            self._task = self._progress.add_task(label, total=total())
            self._progress.start()

    def advance(self, rows: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=rows, total=self.total())

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> RowProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class PassProgress(Callback):
    """A training callback showing the first pass over a streamed file (rows read)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar: RowProgress | None = None

    def on_pass_chunk(self, rows: int) -> None:
        if self._bar is None:
            self._bar = RowProgress("first pass", lambda: None, self.quiet)
        self._bar.advance(rows)

    def on_pass_end(self) -> None:
        if self._bar is not None:
            self._bar.close()
