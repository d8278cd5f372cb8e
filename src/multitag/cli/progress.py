"""Training progress on stderr: a rich progress bar with the latest losses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from multitag.cli.rendering import console as make_console
from multitag.training.callbacks import Callback


def progress_bar(console: Console, *columns: Any) -> Progress:
    """A transient bar on `console`, shown only on a terminal (piped or logged output gets
    whole lines, no bar and no blank line at its end)."""
    return Progress(*columns, console=console, transient=True, disable=not console.is_terminal)


class ProgressCallback(Callback):
    """Shows epochs done, training and validation loss; logs a line every ~10% of epochs."""

    def __init__(self, console: Console | None = None, label: str = "training") -> None:
        self.console = console or make_console(stderr=True)
        self.label = label
        self._progress: Progress | None = None
        self._task: Any = None
        self._every = 1
        self._networks = 1
        self._tasks: dict[int, Any] = {}

    def on_train_begin(self, trainer: Any, n_epochs: int) -> None:
        self._every = max(1, n_epochs // 10)
        self._progress = self._epoch_bar()
        self._progress.start()
        self._task = self._progress.add_task(self.label, total=n_epochs, losses="")

    def _epoch_bar(self) -> Progress:
        return progress_bar(self.console, TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[losses]}"),
                            TimeElapsedColumn())

    def on_epoch_end(self, trainer: Any, record: dict[str, float]) -> None:
        text = format_losses(record)
        self._progress.update(self._task, completed=record["epoch"], losses=text)
        if record["epoch"] == 1 or record["epoch"] % self._every == 0:
            self._progress.console.print(f"  epoch {record['epoch']:>4}  {text}",
                                         highlight=False)

    def on_train_end(self, trainer: Any, result: Any) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        stop = " (early stop)" if result.stopped_early else ""
        before = (f", {result.resumed_seconds:.2f} s of them before the resume"
                  if result.resumed_seconds else "")
        self.console.print(
            f"  trained {len(result.history)} epochs in {result.fit_seconds:.2f} s{before}"
            f"{stop}, best epoch {result.best_epoch}, {result.threads} thread(s)",
            highlight=False)


    def on_networks_begin(self, n_members: int, n_jobs: int) -> None:
        where = f"in {n_jobs} worker processes" if n_jobs > 1 else "one after another"
        self.console.print(f"  training {n_members} cross-fitted networks {where} ...",
                           highlight=False)
        self._networks = n_members
        if n_jobs > 1:  # one live bar per network, fed by the workers' events
            self._progress = self._epoch_bar()
            self._progress.start()
            self._tasks: dict[int, Any] = {}

    def on_network_begin(self, index: int, n_epochs: int) -> None:
        if self._progress is not None:
            self._tasks[index] = self._progress.add_task(
                f"network {index + 1}/{self._networks}", total=n_epochs, losses="")

    def on_network_epoch(self, index: int, record: dict[str, float]) -> None:
        if self._progress is not None and index in self._tasks:
            self._progress.update(self._tasks[index], completed=record["epoch"],
                                  losses=format_losses(record))

    def on_network_end(self, index: int, summary: dict[str, Any]) -> None:
        stop = " (early stop)" if summary["stopped_early"] else ""
        self.console.print(
            f"  network {index + 1}/{self._networks}: {summary['epochs']} epochs in "
            f"{summary['seconds']:.2f} s{stop}, best epoch {summary['best_epoch']}",
            highlight=False)
        if self._progress is not None and index in self._tasks:
            self._progress.remove_task(self._tasks.pop(index))

    def on_networks_end(self, results: list[Any], seconds: float) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        epochs = ", ".join(str(r.best_epoch) for r in results)
        self.console.print(f"  trained {len(results)} networks in {seconds:.1f} s (best epochs "
                           f"{epochs})", highlight=False)


def format_losses(record: dict[str, float]) -> str:
    text = f"train loss {record['train_loss']:.4f}"
    if "valid_loss" in record:
        text += f"  validation loss {record['valid_loss']:.4f}"
    if "valid_score" in record:
        text += f"  validation objective {record['valid_score']:.4f}"
    return text


class StepProgress:
    """A transient rich progress bar on stderr fed by compare's callback (nothing if quiet)."""

    def __init__(self, quiet: bool, total: int) -> None:
        self.quiet, self.total, self._bar, self._task = quiet, total, None, None

    def __enter__(self) -> Callable[[Any], None] | None:
        if self.quiet:
            return None
        self._bar = progress_bar(make_console(stderr=True), TextColumn("{task.description}"),
                                 BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self._bar.start()
        self._task = self._bar.add_task("starting", total=self.total)
        return self._update

    def _update(self, step: Any) -> None:
        if step.stage == "done":
            self._bar.update(self._task, advance=1)
            self._bar.console.print(f"  {step.model}: {step.detail}")
        else:
            self._bar.update(self._task, description=f"{step.stage} {step.model}")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
