"""`multitag data info` and `multitag data split-report`: look at a dataset before training."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from multitag.cli.common import QUIET_OPTION
from multitag.cli.reader_options import (
    DATA_ARGUMENT,
    READER,
    with_reader_options,
)
from multitag.data.registry import ReaderOptions

if TYPE_CHECKING:  # pragma: no cover
    from multitag.data.summary import DataSummary, SplitReport

data_app = typer.Typer(help="Look at a dataset: summary and split balance.", no_args_is_help=True)
JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON instead of a table.")


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")


@data_app.command("info")
@with_reader_options
def info(
    path: Path = DATA_ARGUMENT,
    reader: ReaderOptions = READER,
    top: int = typer.Option(5, "--top", min=1, help="How many rarest / most frequent labels."),
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Samples, features (dense/sparse, density), labels, cardinality, label sets."""
    from multitag.data import load, summarize

    with _status(f"reading {path.name}", quiet or as_json):
        summary = summarize(load(path, reader), top=top)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    _render_summary(summary)


@data_app.command("split-report")
@with_reader_options
def split_report_command(
    path: Path = DATA_ARGUMENT,
    test: Path = typer.Option(
        None, "--test", help="The file's own test set (else a test part is split off PATH).",
        exists=True, dir_okay=False,
    ),
    test_size: float = typer.Option(0.2, "--test-size", min=0.0, max=0.9,
                                    help="Test share when no --test file is given."),
    valid_size: float = typer.Option(0.1, "--valid-size", min=0.0, max=0.9,
                                     help="Validation share of the training data (0: none)."),
    method: str = typer.Option("stratified", "--method", help="stratified or random."),
    folds: int = typer.Option(0, "--folds", min=0, help="Report k-fold parts instead (k >= 2)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    reader: ReaderOptions = READER,
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Per-label counts in each part of a split (train / validation / test, or k folds)."""
    from multitag.data.split_plan import SplitPlan, plan_split_report

    plan = SplitPlan(test_size=test_size, valid_size=valid_size, method=method,
                     folds=folds, seed=seed)
    with _status(f"reading and splitting {path.name}", quiet or as_json):
        report = plan_split_report(path, reader, plan, test_path=test)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    _render_split(report)


def _status(message: str, quiet: bool) -> AbstractContextManager[object]:
    """A spinner on stderr while a file is read (nothing when quiet)."""
    if quiet:
        return nullcontext()
    from rich.console import Console

    return Console(stderr=True).status(message)


def _render_summary(summary: DataSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    kind = "sparse" if summary.sparse else "dense"
    table = Table(title=f"{summary.name}", show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    rows = [
        ("samples", f"{summary.n_samples:,}"),
        ("features", summary.features_line),
        ("feature matrix", f"{kind}, density {summary.feature_density:.4f}"),
        ("labels", f"{summary.n_labels:,}"),
        ("label cardinality", f"{summary.label_cardinality:.3f} labels per row"),
        ("label density", f"{summary.label_density:.4f}"),
        ("distinct label sets", f"{summary.distinct_label_sets:,}"),
        ("rows without labels", f"{summary.rows_without_labels:,}"),
        ("labels never present", f"{summary.labels_never_present:,}"),
        ("rarest labels", _pairs(summary.rarest)),
        ("most frequent labels", _pairs(summary.most_frequent)),
        ("missing values", "yes (imputed by the preprocessor)" if summary.has_missing else "no"),
        ("raw text", "yes (TF-IDF in the preprocessor)" if summary.has_text else "no"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    console = Console()
    console.print(table)
    for notice in summary.notices:
        console.print(f"note: {notice}", highlight=False)


def _pairs(pairs: list[tuple[str, int]]) -> str:
    return ", ".join(f"{name} ({count:,})" for name, count in pairs)


def _render_split(report: SplitReport) -> None:
    from rich.console import Console
    from rich.table import Table

    sizes = ", ".join(f"{p} {n:,}" for p, n in zip(report.parts, report.sizes, strict=True))
    table = Table(title=f"Per-label counts ({report.method}): {sizes}", title_justify="left")
    table.add_column("label")
    for part in report.parts:
        table.add_column(part, justify="right")
    table.add_column("total", justify="right")
    for name, row in zip(report.label_names, report.counts, strict=True):
        style = "red" if row.sum() >= len(row) and (row == 0).any() else None
        table.add_row(name, *(f"{int(c):,}" for c in row), f"{int(row.sum()):,}", style=style)
    console = Console()
    console.print(table)
    missing = report.labels_missing_somewhere
    if missing:
        console.print(f"{len(missing)} label(s) with enough examples are absent from some part: "
                      f"{', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}",
                      highlight=False)
